//! Policy variables: every documented form, the escapes, defaults, version
//! 2008 behaviour, and what happens when a variable has no value.

mod common;
use airlock_policy::{EvalDecision, Request};
use common::{ALICE, NODE, effect, policy};

fn session(id: &str) -> String {
    format!("arn:aws:ssm:us-east-1:123456789012:session/{id}")
}

fn own_sessions(version: &str, resource: &str) -> airlock_policy::Policy {
    policy(&format!(
        r#"{{"Version":"{version}","Statement":{{"Effect":"Allow","Action":"ssm:TerminateSession","Resource":"{resource}"}}}}"#
    ))
}

#[test]
fn aws_username_is_substituted_in_resources() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/${aws:username}-*");
    let mine = Request::new(ALICE, "ssm:TerminateSession", session("alice-0c3b"))
        .with("aws:username", "alice");
    let theirs = Request::new(ALICE, "ssm:TerminateSession", session("bob-0c3b"))
        .with("aws:username", "alice");
    assert_eq!(effect(&p, &mine), EvalDecision::Allowed);
    assert_eq!(effect(&p, &theirs), EvalDecision::ImplicitDeny);
}

#[test]
fn aws_userid_is_substituted_in_resources() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/${aws:userid}-*");
    let r = |id: &str| {
        Request::new(ALICE, "ssm:TerminateSession", session(id)).with("aws:userid", "AIDAEXAMPLE1")
    };
    assert_eq!(effect(&p, &r("AIDAEXAMPLE1-0c3b")), EvalDecision::Allowed);
    assert_eq!(
        effect(&p, &r("AIDAEXAMPLE2-0c3b")),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn principal_tag_is_substituted_in_condition_values() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:StartSession","Resource":"*",
            "Condition":{"StringEquals":{"ssm:resourceTag/Team":"${aws:PrincipalTag/Team}"}}}}"#,
    );
    let r = |user_team: &str, node_team: &str| {
        Request::new(ALICE, "ssm:StartSession", NODE)
            .with("aws:PrincipalTag/Team", user_team)
            .with("ssm:resourceTag/Team", node_team)
    };
    assert_eq!(effect(&p, &r("hpc", "hpc")), EvalDecision::Allowed);
    assert_eq!(effect(&p, &r("hpc", "ops")), EvalDecision::ImplicitDeny);
}

#[test]
fn any_context_key_can_be_a_variable() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:StartSession",
            "Resource":"arn:aws:ec2:${aws:RequestedRegion}:*:instance/*"}}"#,
    );
    let r = |region: &str| {
        Request::new(ALICE, "ssm:StartSession", NODE).with("aws:RequestedRegion", region)
    };
    assert_eq!(effect(&p, &r("us-east-1")), EvalDecision::Allowed);
    assert_eq!(effect(&p, &r("eu-west-1")), EvalDecision::ImplicitDeny);
}

#[test]
fn variable_names_are_case_insensitive() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/${AWS:UserName}-*");
    let r = Request::new(ALICE, "ssm:TerminateSession", session("alice-1"))
        .with("aws:username", "alice");
    assert_eq!(effect(&p, &r), EvalDecision::Allowed);
}

#[test]
fn default_value_applies_when_key_is_missing() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:StartSession","Resource":"*",
            "Condition":{"StringEquals":{"ssm:resourceTag/Team":"${aws:PrincipalTag/Team, 'shared'}"}}}}"#,
    );
    let untagged_user =
        Request::new(ALICE, "ssm:StartSession", NODE).with("ssm:resourceTag/Team", "shared");
    assert_eq!(effect(&p, &untagged_user), EvalDecision::Allowed);
    let tagged_user = untagged_user.clone().with("aws:PrincipalTag/Team", "hpc");
    assert_eq!(effect(&p, &tagged_user), EvalDecision::ImplicitDeny);
}

#[test]
fn star_escape_is_a_literal_asterisk() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/a${*}b");
    let lit = Request::new(ALICE, "ssm:TerminateSession", session("a*b"));
    let other = Request::new(ALICE, "ssm:TerminateSession", session("axxb"));
    assert_eq!(effect(&p, &lit), EvalDecision::Allowed);
    assert_eq!(effect(&p, &other), EvalDecision::ImplicitDeny);
}

#[test]
fn question_mark_escape_is_a_literal_question_mark() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/a${?}b");
    let lit = Request::new(ALICE, "ssm:TerminateSession", session("a?b"));
    let other = Request::new(ALICE, "ssm:TerminateSession", session("axb"));
    assert_eq!(effect(&p, &lit), EvalDecision::Allowed);
    assert_eq!(effect(&p, &other), EvalDecision::ImplicitDeny);
}

#[test]
fn dollar_escape_is_a_literal_dollar() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{"StringEquals":{"app:Price":"${$}{aws:username}"}}}}"#,
    );
    let lit = Request::new(ALICE, "a:b", "*")
        .with("app:Price", "${aws:username}")
        .with("aws:username", "x");
    let substituted = Request::new(ALICE, "a:b", "*")
        .with("app:Price", "x")
        .with("aws:username", "x");
    assert_eq!(effect(&p, &lit), EvalDecision::Allowed);
    assert_eq!(effect(&p, &substituted), EvalDecision::ImplicitDeny);
}

#[test]
fn version_2008_does_not_substitute_variables() {
    let p = own_sessions("2008-10-17", "arn:aws:ssm:*:*:session/${aws:username}-*");
    let named = Request::new(ALICE, "ssm:TerminateSession", session("alice-1"))
        .with("aws:username", "alice");
    assert_eq!(effect(&p, &named), EvalDecision::ImplicitDeny);
    let literal = Request::new(ALICE, "ssm:TerminateSession", session("${aws:username}-1"));
    assert_eq!(effect(&p, &literal), EvalDecision::Allowed);
}

#[test]
fn missing_version_means_2008_and_no_substitution() {
    let p = policy(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ssm:*:*:session/${aws:username}-*"}}"#,
    );
    let named = Request::new(ALICE, "ssm:TerminateSession", session("alice-1"))
        .with("aws:username", "alice");
    assert_eq!(effect(&p, &named), EvalDecision::ImplicitDeny);
}

#[test]
fn unresolvable_variable_voids_an_allow() {
    let p = own_sessions("2012-10-17", "arn:aws:ssm:*:*:session/${aws:username}-*");
    // A role has no aws:username: nothing is allowed, not even "-*" sessions.
    let r = Request::new(ALICE, "ssm:TerminateSession", session("-1"));
    assert_eq!(effect(&p, &r), EvalDecision::ImplicitDeny);
}

#[test]
fn unresolvable_variable_voids_a_deny_statement_too() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*",
             "Condition":{"StringNotEquals":{"ssm:resourceTag/Owner":"${aws:username}"}}}]}"#,
    );
    let with_user = Request::new(ALICE, "ssm:StartSession", NODE)
        .with("ssm:resourceTag/Owner", "bob")
        .with("aws:username", "alice");
    assert_eq!(effect(&p, &with_user), EvalDecision::ExplicitDeny);
    let without_user =
        Request::new(ALICE, "ssm:StartSession", NODE).with("ssm:resourceTag/Owner", "bob");
    assert_eq!(effect(&p, &without_user), EvalDecision::Allowed);
}

#[test]
fn variables_are_not_substituted_in_actions_or_keys() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:*","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalTag/${aws:username}":"x"}}}}"#,
    );
    let r = Request::new(ALICE, "ssm:StartSession", NODE)
        .with("aws:username", "alice")
        .with("aws:PrincipalTag/alice", "x");
    assert_eq!(effect(&p, &r), EvalDecision::ImplicitDeny);
}
