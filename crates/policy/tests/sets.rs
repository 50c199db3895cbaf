//! `...IfExists`, `ForAnyValue:` and `ForAllValues:` with present, empty and
//! missing keys, as IAM defines them.

mod common;
use airlock_policy::{EvalDecision, Request};
use common::{ALICE, NODE, allow_if, effect, holds, policy};

fn with_tags(tags: &[&str]) -> Request {
    Request::new(ALICE, "iam:TagUser", NODE).with_values("aws:TagKeys", tags.iter().copied())
}

fn holds_for_tags(condition: &str, tags: Option<&[&str]>) -> bool {
    let r = match tags {
        Some(t) => with_tags(t),
        None => Request::new(ALICE, "iam:TagUser", NODE),
    };
    effect(&allow_if(condition), &r) == EvalDecision::Allowed
}

#[test]
fn if_exists_holds_when_key_is_missing() {
    assert!(holds(
        r#"{"StringEqualsIfExists":{"ec2:InstanceType":"t3.micro"}}"#,
        &[]
    ));
    assert!(holds(
        r#"{"BoolIfExists":{"ssm:SessionDocumentAccessCheck":"true"}}"#,
        &[]
    ));
}

#[test]
fn if_exists_evaluates_normally_when_key_is_present() {
    let c = r#"{"StringEqualsIfExists":{"ec2:InstanceType":["t3.micro","t3.small"]}}"#;
    assert!(holds(c, &[("ec2:InstanceType", "t3.small")]));
    assert!(!holds(c, &[("ec2:InstanceType", "p4d.24xlarge")]));
}

#[test]
fn negated_if_exists_fails_when_present_value_matches() {
    let c = r#"{"StringNotEqualsIfExists":{"aws:username":"mallory"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:username", "mallory")]));
}

#[test]
fn for_any_value_holds_if_one_request_value_matches() {
    let c = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","webserver"]}}"#;
    assert!(holds_for_tags(c, Some(&["owner", "webserver"])));
    assert!(!holds_for_tags(c, Some(&["owner", "project"])));
}

#[test]
fn for_any_value_fails_with_missing_or_empty_key() {
    let c = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment"]}}"#;
    assert!(!holds_for_tags(c, None));
    assert!(!holds_for_tags(c, Some(&[])));
}

#[test]
fn for_all_values_holds_if_every_request_value_matches() {
    let c = r#"{"ForAllValues:StringLike":{"aws:TagKeys":["key1*","key2*"]}}"#;
    assert!(holds_for_tags(c, Some(&["key1-a", "key2-b"])));
    assert!(!holds_for_tags(c, Some(&["key1-a", "other"])));
}

#[test]
fn for_all_values_holds_with_missing_or_empty_key() {
    let c = r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment"]}}"#;
    assert!(holds_for_tags(c, None));
    assert!(holds_for_tags(c, Some(&[])));
}

#[test]
fn for_all_values_with_null_false_guard_refuses_missing_key() {
    // The IAM guide's guard against the vacuous truth of ForAllValues.
    let c = r#"{"Null":{"aws:TagKeys":"false"},
               "ForAllValues:StringEquals":{"aws:TagKeys":["environment"]}}"#;
    assert!(!holds_for_tags(c, None));
    assert!(holds_for_tags(c, Some(&["environment"])));
}

#[test]
fn for_any_value_negated_holds_if_one_value_is_outside_the_set() {
    let c = r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#;
    assert!(holds_for_tags(c, Some(&["a", "z"])));
    assert!(!holds_for_tags(c, Some(&["a", "b"])));
    assert!(!holds_for_tags(c, None));
}

#[test]
fn for_all_values_negated_holds_if_no_value_is_in_the_set() {
    let c = r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#;
    assert!(holds_for_tags(c, Some(&["x", "y"])));
    assert!(!holds_for_tags(c, Some(&["x", "b"])));
    assert!(holds_for_tags(c, None));
    assert!(holds_for_tags(c, Some(&[])));
}

#[test]
fn single_valued_operator_on_many_values_needs_one_match() {
    let c = r#"{"StringEquals":{"aws:TagKeys":"b"}}"#;
    assert!(holds_for_tags(c, Some(&["a", "b"])));
    assert!(!holds_for_tags(c, Some(&["a", "c"])));
}

#[test]
fn single_valued_negated_operator_on_many_values_needs_all_to_differ() {
    let c = r#"{"StringNotEquals":{"aws:TagKeys":"b"}}"#;
    assert!(holds_for_tags(c, Some(&["a", "c"])));
    assert!(!holds_for_tags(c, Some(&["a", "b"])));
}

#[test]
fn deny_with_for_all_values_and_missing_key_still_denies() {
    // Why the guide warns about ForAllValues in Deny statements: a request
    // without tags matches vacuously.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"iam:Tag*","Resource":"*",
             "Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["key1*"]}}}]}"#,
    );
    let r = Request::new(ALICE, "iam:TagUser", NODE);
    assert_eq!(effect(&p, &r), EvalDecision::ExplicitDeny);
    assert_eq!(effect(&p, &with_tags(&["other"])), EvalDecision::Allowed);
}

#[test]
fn for_all_values_if_exists_holds_when_missing() {
    let c = r#"{"ForAllValues:StringEqualsIfExists":{"aws:TagKeys":["a"]}}"#;
    assert!(holds_for_tags(c, None));
    assert!(!holds_for_tags(c, Some(&["b"])));
}
