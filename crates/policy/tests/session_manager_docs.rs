//! The sample policies of the AWS Session Manager guide ("Sample IAM
//! policies for Session Manager" and "Additional sample IAM policies"),
//! pasted as written, behave as the guide says they do.

mod common;
use airlock_policy::{EvalDecision, Policy, Request, arn, catalog, evaluate};
use common::policy;

const ACCT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn user(name: &str) -> String {
    arn::user(ACCT, name)
}

fn instance(id: &str) -> String {
    arn::instance(REGION, ACCT, id)
}

fn session(id: &str) -> String {
    arn::session(REGION, ACCT, id)
}

fn as_user(name: &str, action: &str, resource: &str) -> Request {
    Request::new(user(name), action, resource).with("aws:username", name)
}

fn decide(p: &Policy, r: &Request) -> EvalDecision {
    evaluate([("doc", p)], r).effect
}

/// Example: restrict access to specific managed nodes.
const SPECIFIC_NODES: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ssm:StartSession"],
            "Resource": [
                "arn:aws:ec2:us-east-1:111122223333:instance/i-1234567890EXAMPLE",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-abcdefghijEXAMPLE",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-0e9d8c7b6aEXAMPLE",
                "arn:aws:ssm:us-east-1:111122223333:document/SSM-SessionManagerRunShell"
            ]
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
            "Resource": ["arn:aws:ssm:*:*:session/${aws:username}-*"]
        }
    ]
}"#;

#[test]
fn specific_nodes_policy_allows_only_the_listed_nodes() {
    let p = policy(SPECIFIC_NODES);
    let start = |id: &str| decide(&p, &as_user("alice", "ssm:StartSession", &instance(id)));
    assert_eq!(start("i-1234567890EXAMPLE"), EvalDecision::Allowed);
    assert_eq!(start("i-0e9d8c7b6aEXAMPLE"), EvalDecision::Allowed);
    assert_eq!(start("i-99999999999EXAMPLE"), EvalDecision::ImplicitDeny);
    let doc = arn::document(REGION, ACCT, "SSM-SessionManagerRunShell");
    assert_eq!(
        decide(&p, &as_user("alice", "ssm:StartSession", &doc)),
        EvalDecision::Allowed
    );
}

/// Example: restrict access based on tags.
const TAGGED_NODES: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ssm:StartSession"],
            "Resource": ["arn:aws:ec2:*:*:instance/*"],
            "Condition": {
                "StringLike": {
                    "ssm:resourceTag/Finance": ["WebServers"]
                }
            }
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:StartSession"],
            "Resource": ["arn:aws:ssm:*:*:document/SSM-SessionManagerRunShell"]
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
            "Resource": ["arn:aws:ssm:*:*:session/${aws:username}-*"]
        }
    ]
}"#;

#[test]
fn tag_policy_allows_nodes_tagged_finance_webservers() {
    let p = policy(TAGGED_NODES);
    let r = as_user(
        "alice",
        "ssm:StartSession",
        &instance("i-02573cafcfEXAMPLE"),
    )
    .with("ssm:resourceTag/Finance", "WebServers");
    assert_eq!(decide(&p, &r), EvalDecision::Allowed);
}

#[test]
fn tag_policy_refuses_untagged_and_differently_tagged_nodes() {
    let p = policy(TAGGED_NODES);
    let untagged = as_user(
        "alice",
        "ssm:StartSession",
        &instance("i-02573cafcfEXAMPLE"),
    );
    assert_eq!(decide(&p, &untagged), EvalDecision::ImplicitDeny);
    let other = untagged
        .clone()
        .with("ssm:resourceTag/Finance", "Databases");
    assert_eq!(decide(&p, &other), EvalDecision::ImplicitDeny);
    // Tag values are case-sensitive under StringLike.
    let case = untagged.with("ssm:resourceTag/Finance", "webservers");
    assert_eq!(decide(&p, &case), EvalDecision::ImplicitDeny);
}

#[test]
fn tag_policy_tag_key_lookup_is_case_insensitive() {
    let p = policy(TAGGED_NODES);
    let r = as_user("alice", "ssm:StartSession", &instance("i-1"))
        .with("SSM:ResourceTag/finance", "WebServers");
    assert_eq!(decide(&p, &r), EvalDecision::Allowed);
}

#[test]
fn users_terminate_and_resume_only_their_own_sessions() {
    let p = policy(TAGGED_NODES);
    for action in ["ssm:TerminateSession", "ssm:ResumeSession"] {
        let own = as_user("alice", action, &session("alice-0c3bbbcb3143aab9b"));
        assert_eq!(decide(&p, &own), EvalDecision::Allowed, "{action}");
        let other = as_user("alice", action, &session("bob-0c3bbbcb3143aab9b"));
        assert_eq!(decide(&p, &other), EvalDecision::ImplicitDeny, "{action}");
        // A prefix of the name is not the name: alice cannot end "alicex-" sessions.
        let longer = as_user("alice", action, &session("alicex-0c3bbbcb3143aab9b"));
        assert_eq!(decide(&p, &longer), EvalDecision::ImplicitDeny, "{action}");
    }
}

/// The guide's end-user quick-start policy (Session Manager and Fleet Manager).
const END_USER: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ssm:StartSession"],
            "Resource": [
                "arn:aws:ec2:us-east-1:111122223333:instance/i-02573cafcfEXAMPLE",
                "arn:aws:ssm:us-east-1:111122223333:document/SSM-SessionManagerRunShell"
            ]
        },
        {
            "Effect": "Allow",
            "Action": ["ssmmessages:OpenDataChannel"],
            "Resource": ["arn:aws:ssm:*:*:session/${aws:userid}-*"]
        },
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeSessions",
                "ssm:GetConnectionStatus",
                "ssm:DescribeInstanceProperties",
                "ec2:DescribeInstances"
            ],
            "Resource": "*"
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:GetDocument"],
            "Resource": ["arn:aws:ssm:us-east-1:111122223333:document/SSM-SessionManagerRunShell"],
            "Condition": {
                "BoolIfExists": {
                    "ssm:SessionDocumentAccessCheck": "true"
                }
            }
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
            "Resource": ["arn:aws:ssm:*:*:session/${aws:userid}-*"]
        }
    ]
}"#;

#[test]
fn end_user_policy_scopes_sessions_by_user_id() {
    let p = policy(END_USER);
    let r = |action: &str, sid: &str| {
        Request::new(user("alice"), action, session(sid))
            .with("aws:userid", "AIDACKCEVSQ6C2EXAMPLE")
    };
    assert_eq!(
        decide(&p, &r("ssm:TerminateSession", "AIDACKCEVSQ6C2EXAMPLE-0a1b")),
        EvalDecision::Allowed
    );
    assert_eq!(
        decide(
            &p,
            &r("ssmmessages:OpenDataChannel", "AIDACKCEVSQ6C2EXAMPLE-0a1b")
        ),
        EvalDecision::Allowed
    );
    assert_eq!(
        decide(&p, &r("ssm:TerminateSession", "AIDAOTHER-0a1b")),
        EvalDecision::ImplicitDeny
    );
    let list = Request::new(user("alice"), "ssm:DescribeSessions", "*");
    assert_eq!(decide(&p, &list), EvalDecision::Allowed);
}

#[test]
fn end_user_policy_document_check_is_bool_if_exists() {
    let p = policy(END_USER);
    let doc = arn::document(REGION, ACCT, "SSM-SessionManagerRunShell");
    let get = Request::new(user("alice"), "ssm:GetDocument", &doc);
    assert_eq!(
        decide(&p, &get),
        EvalDecision::Allowed,
        "key absent: IfExists holds"
    );
    let checked = get.clone().with("ssm:SessionDocumentAccessCheck", "true");
    assert_eq!(decide(&p, &checked), EvalDecision::Allowed);
    let unchecked = get.with("ssm:SessionDocumentAccessCheck", "false");
    assert_eq!(decide(&p, &unchecked), EvalDecision::ImplicitDeny);
}

/// Restricting session documents: only AWS-StartSSHSession may be used.
const SSH_ONLY: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": [
                "arn:aws:ec2:*:*:instance/*",
                "arn:aws:ssm:*:*:document/AWS-StartSSHSession"
            ],
            "Condition": {
                "BoolIfExists": {
                    "ssm:SessionDocumentAccessCheck": "true"
                }
            }
        }
    ]
}"#;

#[test]
fn document_restriction_allows_the_named_document_only() {
    let p = policy(SSH_ONLY);
    let start = |resource: &str| {
        Request::new(user("alice"), "ssm:StartSession", resource)
            .with("ssm:SessionDocumentAccessCheck", "true")
    };
    let ssh = arn::aws_document(REGION, "AWS-StartSSHSession");
    let port_forward = arn::aws_document(REGION, "AWS-StartPortForwardingSession");
    let shell = arn::document(REGION, ACCT, "SSM-SessionManagerRunShell");
    assert_eq!(decide(&p, &start(&instance("i-1"))), EvalDecision::Allowed);
    assert_eq!(decide(&p, &start(&ssh)), EvalDecision::Allowed);
    assert_eq!(
        decide(&p, &start(&port_forward)),
        EvalDecision::ImplicitDeny
    );
    assert_eq!(decide(&p, &start(&shell)), EvalDecision::ImplicitDeny);
}

/// A widely used variant: read-only plus sessions, with production denied by tag.
const DENY_PROD: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ssm:DescribeSessions", "ssm:GetConnectionStatus", "ssm:DescribeInstanceProperties", "ec2:DescribeInstances", "ssm:StartSession"],
            "Resource": "*"
        },
        {
            "Sid": "SameUserTerminate",
            "Effect": "Allow",
            "Action": "ssm:TerminateSession",
            "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"
        },
        {
            "Sid": "DenySMtoProd",
            "Effect": "Deny",
            "Action": "ssm:StartSession",
            "Resource": ["arn:aws:ec2:*:*:instance/*"],
            "Condition": {"StringLike": {"ssm:resourceTag/Environment": "Prod"}}
        }
    ]
}"#;

#[test]
fn deny_by_tag_blocks_production_nodes_and_names_the_statement() {
    let p = policy(DENY_PROD);
    let prod = as_user("alice", "ssm:StartSession", &instance("i-1"))
        .with("ssm:resourceTag/Environment", "Prod");
    let d = evaluate(
        [("arn:aws:iam::111122223333:policy/SessionUsers", &p)],
        &prod,
    );
    assert_eq!(d.effect, EvalDecision::ExplicitDeny);
    assert_eq!(
        d.to_string(),
        "explicitDeny by arn:aws:iam::111122223333:policy/SessionUsers Statement[2] (Sid \"DenySMtoProd\")"
    );
    let dev = as_user("alice", "ssm:StartSession", &instance("i-1"))
        .with("ssm:resourceTag/Environment", "Dev");
    assert_eq!(decide(&p, &dev), EvalDecision::Allowed);
}

#[test]
fn builtin_session_user_policy_behaves_like_the_guide() {
    let Some(p) = catalog::get(catalog::AIRLOCK_SESSION_USER) else {
        panic!("session user policy is built in");
    };
    let start = as_user("alice", "ssm:StartSession", &instance("i-1"));
    assert_eq!(decide(p, &start), EvalDecision::Allowed);
    let own = as_user("alice", "ssm:TerminateSession", &session("alice-0c3b"));
    assert_eq!(decide(p, &own), EvalDecision::Allowed);
    let other = as_user("alice", "ssm:TerminateSession", &session("bob-0c3b"));
    assert_eq!(decide(p, &other), EvalDecision::ImplicitDeny);
    let custom_doc = arn::document(REGION, ACCT, "Custom-RootShell");
    assert_eq!(
        decide(p, &as_user("alice", "ssm:StartSession", &custom_doc)),
        EvalDecision::ImplicitDeny
    );
    let admin = as_user("alice", "iam:CreateUser", "*");
    assert_eq!(decide(p, &admin), EvalDecision::ImplicitDeny);
    // `iam get-user`: oneself only.
    let me = as_user("alice", "iam:GetUser", &user("alice"));
    assert_eq!(decide(p, &me), EvalDecision::Allowed);
    let bob = as_user("alice", "iam:GetUser", &user("bob"));
    assert_eq!(decide(p, &bob), EvalDecision::ImplicitDeny);
}
