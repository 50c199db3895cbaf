//! Action/NotAction, Resource/NotResource, Principal, wildcards, and the
//! Deny > Allow > implicit deny logic with its explanation.

mod common;
use airlock_policy::{
    EvalDecision, Policy, Request, StatementRef, evaluate, missing_context_keys, refusal_message,
};
use common::{ALICE, NODE, decide, effect, policy};

fn allow(action: &str, resource: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":{action},"Resource":{resource}}}}}"#
    ))
}

fn req(action: &str, resource: &str) -> Request {
    Request::new(ALICE, action, resource)
}

#[test]
fn action_matching_ignores_case() {
    let p = allow(r#""SSM:startsession""#, r#""*""#);
    assert_eq!(
        effect(&p, &req("ssm:StartSession", NODE)),
        EvalDecision::Allowed
    );
    assert_eq!(
        effect(&p, &req("SSM:STARTSESSION", NODE)),
        EvalDecision::Allowed
    );
}

#[test]
fn action_wildcards_cover_names_and_service_prefix() {
    let p = allow(
        r#"["ssm:Describe*","ssmmessages:Open?ataChannel","ec2*:Get*"]"#,
        r#""*""#,
    );
    for ok in [
        "ssm:DescribeSessions",
        "ssmmessages:OpenDataChannel",
        "ec2messages:GetMessages",
        "ec2:GetConsoleOutput",
    ] {
        assert_eq!(effect(&p, &req(ok, "*")), EvalDecision::Allowed, "{ok}");
    }
    for no in [
        "ssm:StartSession",
        "ssmmessages:OpenControlChannel",
        "iam:GetUser",
    ] {
        assert_eq!(
            effect(&p, &req(no, "*")),
            EvalDecision::ImplicitDeny,
            "{no}"
        );
    }
}

#[test]
fn not_action_applies_to_every_other_action() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":["iam:*","airlock:Delete*"],"Resource":"*"}}"#,
    );
    assert_eq!(
        effect(&p, &req("ssm:StartSession", NODE)),
        EvalDecision::Allowed
    );
    assert_eq!(
        effect(&p, &req("iam:CreateUser", "*")),
        EvalDecision::ImplicitDeny
    );
    assert_eq!(
        effect(&p, &req("airlock:DeleteCluster", "*")),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn deny_with_not_action_denies_everything_else() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","NotAction":"ssm:*","Resource":"*"}]}"#,
    );
    assert_eq!(
        effect(&p, &req("ssm:StartSession", NODE)),
        EvalDecision::Allowed
    );
    assert_eq!(
        effect(&p, &req("iam:CreateUser", "*")),
        EvalDecision::ExplicitDeny
    );
}

#[test]
fn not_resource_applies_to_every_other_resource() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:StartSession",
            "NotResource":"arn:aws:ec2:*:*:instance/i-secret*"}}"#,
    );
    assert_eq!(
        effect(&p, &req("ssm:StartSession", NODE)),
        EvalDecision::Allowed
    );
    let secret = "arn:aws:ec2:us-east-1:123456789012:instance/i-secret01";
    assert_eq!(
        effect(&p, &req("ssm:StartSession", secret)),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn resource_matching_is_case_sensitive() {
    let p = allow(
        r#""ssm:StartSession""#,
        r#""arn:aws:ec2:us-east-1:123456789012:instance/i-0ABC""#,
    );
    let upper = "arn:aws:ec2:us-east-1:123456789012:instance/i-0ABC";
    let lower = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc";
    assert_eq!(
        effect(&p, &req("ssm:StartSession", upper)),
        EvalDecision::Allowed
    );
    assert_eq!(
        effect(&p, &req("ssm:StartSession", lower)),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn resource_wildcards_match_within_a_segment() {
    let p = allow(
        r#""*""#,
        r#""arn:aws:ec2:us-*-1:123456789012:instance/i-0???""#,
    );
    let ok = "arn:aws:ec2:us-west-1:123456789012:instance/i-0abc";
    assert_eq!(
        effect(&p, &req("ec2:DescribeInstances", ok)),
        EvalDecision::Allowed
    );
    let too_long = "arn:aws:ec2:us-west-1:123456789012:instance/i-0abcd";
    assert_eq!(
        effect(&p, &req("ec2:DescribeInstances", too_long)),
        EvalDecision::ImplicitDeny
    );
    let other_region = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc";
    assert_eq!(
        effect(&p, &req("ec2:DescribeInstances", other_region)),
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn resource_wildcards_span_colons_and_slashes() {
    let p = allow(r#""*""#, r#"["arn:aws:ec2:*","arn:aws:ssm:*/alice-*"]"#);
    assert_eq!(effect(&p, &req("x:y", NODE)), EvalDecision::Allowed);
    let session = "arn:aws:ssm:us-east-1:123456789012:session/alice-0c3b";
    assert_eq!(effect(&p, &req("x:y", session)), EvalDecision::Allowed);
    let other = "arn:aws:ssm:us-east-1:123456789012:session/bob-0c3b";
    assert_eq!(effect(&p, &req("x:y", other)), EvalDecision::ImplicitDeny);
}

#[test]
fn explicit_deny_in_any_policy_beats_allow_in_another() {
    let a = allow(r#""ssm:*""#, r#""*""#);
    let d = policy(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"NoProd","Effect":"Deny","Action":"ssm:StartSession","Resource":"*"}}"#,
    );
    let r = req("ssm:StartSession", NODE);
    let decision = decide(&[("allow-all", &a), ("deny", &d)], &r);
    assert_eq!(decision.effect, EvalDecision::ExplicitDeny);
    assert_eq!(
        decision.matched,
        vec![StatementRef {
            policy: "deny".into(),
            sid: Some("NoProd".into()),
            index: 0
        }]
    );
}

#[test]
fn allowed_decision_names_every_allowing_statement() {
    let a = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iam:*","Resource":"*"},
            {"Sid":"Sessions","Effect":"Allow","Action":"ssm:*","Resource":"*"},
            {"Sid":"Start","Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*"}]}"#,
    );
    let b = allow(r#""*""#, r#""*""#);
    let d = decide(&[("a", &a), ("b", &b)], &req("ssm:StartSession", NODE));
    assert!(d.is_allowed());
    let names: Vec<String> = d.matched.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        vec![
            "a Statement[1] (Sid \"Sessions\")",
            "a Statement[2] (Sid \"Start\")",
            "b Statement[0]"
        ]
    );
}

#[test]
fn no_matching_statement_is_an_implicit_deny_with_nothing_matched() {
    let p = allow(r#""iam:GetUser""#, r#""*""#);
    let d = evaluate([("p", &p)], &req("ssm:StartSession", NODE));
    assert_eq!(d.effect, EvalDecision::ImplicitDeny);
    assert!(d.matched.is_empty());
    let none: [(&str, &Policy); 0] = [];
    assert_eq!(
        evaluate(none, &req("ssm:StartSession", NODE)).effect,
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn refusal_message_uses_aws_wording_for_implicit_deny() {
    let r = Request::new(
        "arn:aws:iam::123456789012:user/alice",
        "ssm:StartSession",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123",
    );
    let none: [(&str, &Policy); 0] = [];
    let d = evaluate(none, &r);
    assert_eq!(
        refusal_message(&r, &d).as_deref(),
        Some(
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ssm:StartSession \
             on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-0123 because no identity-based \
             policy allows the ssm:StartSession action"
        )
    );
}

#[test]
fn refusal_message_uses_aws_wording_for_explicit_deny() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
    );
    let r = Request::new(
        "arn:aws:iam::123456789012:user/alice",
        "ssm:StartSession",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123",
    );
    let d = evaluate([("p", &p)], &r);
    assert_eq!(
        refusal_message(&r, &d).as_deref(),
        Some(
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: ssm:StartSession \
             on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-0123 with an explicit deny in an \
             identity-based policy"
        )
    );
}

#[test]
fn refusal_message_is_none_when_allowed() {
    let p = allow(r#""*""#, r#""*""#);
    let r = req("ssm:StartSession", NODE);
    assert_eq!(refusal_message(&r, &evaluate([("p", &p)], &r)), None);
}

#[test]
fn missing_context_keys_lists_what_targeting_statements_read() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*",
             "Condition":{"StringLike":{"ssm:resourceTag/Team":"${aws:PrincipalTag/Team}"},
                          "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
            {"Effect":"Allow","Action":"iam:*","Resource":"*",
             "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#,
    );
    let r = req("ssm:StartSession", NODE).with("aws:sourceip", "10.1.1.1");
    assert_eq!(
        missing_context_keys([("p", &p)], &r),
        vec![
            "aws:PrincipalTag/Team".to_string(),
            "ssm:resourceTag/Team".to_string()
        ]
    );
}

fn trust(text: &str) -> Policy {
    match Policy::parse_resource_policy(text) {
        Ok(p) => p,
        Err(e) => panic!("trust policy should parse: {e}"),
    }
}

#[test]
fn trust_policy_admits_the_named_service_only() {
    let p = trust(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#,
    );
    let node = Request::new(
        "ec2.amazonaws.com",
        "sts:AssumeRole",
        "arn:aws:iam::123456789012:role/head",
    );
    assert_eq!(effect(&p, &node), EvalDecision::Allowed);
    let user = Request::new(
        ALICE,
        "sts:AssumeRole",
        "arn:aws:iam::123456789012:role/head",
    );
    assert_eq!(effect(&p, &user), EvalDecision::ImplicitDeny);
}

#[test]
fn trust_policy_account_principal_admits_that_accounts_principals() {
    let p = trust(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},"Action":"sts:AssumeRole"}}"#,
    );
    assert_eq!(
        effect(&p, &Request::new(ALICE, "sts:AssumeRole", "*")),
        EvalDecision::Allowed
    );
    let stranger = Request::new("arn:aws:iam::999999999999:user/eve", "sts:AssumeRole", "*");
    assert_eq!(effect(&p, &stranger), EvalDecision::ImplicitDeny);
}

#[test]
fn not_principal_deny_spares_only_the_named_principal() {
    let p = trust(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"*"}]}"#,
    );
    assert_eq!(
        effect(&p, &Request::new(ALICE, "s3:GetObject", "*")),
        EvalDecision::Allowed
    );
    let bob = Request::new("arn:aws:iam::123456789012:user/bob", "s3:GetObject", "*");
    assert_eq!(effect(&p, &bob), EvalDecision::ExplicitDeny);
}
