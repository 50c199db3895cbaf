//! Property tests of the evaluation logic over generated policies and
//! requests, and of the parser over arbitrary input.

use airlock_policy::{Decision, EvalDecision, Policy, Request, evaluate};
use proptest::prelude::*;
use serde_json::{Value, json};

const ACTIONS: &[&str] = &[
    "ssm:StartSession",
    "ssm:TerminateSession",
    "ssm:DescribeSessions",
    "iam:CreateUser",
    "ec2:RunInstances",
    "airlock:CreateCluster",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "ssm:*",
    "ssm:Describe*",
    "*:Create*",
    "IAM:*",
    "ssm:?tartSession",
    "ssm:StartSession",
    "ec2:RunInstances",
];
const RESOURCES: &[&str] = &[
    "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
    "arn:aws:ec2:us-east-1:123456789012:instance/i-22",
    "arn:aws:ssm:us-east-1:123456789012:session/alice-1",
    "arn:aws:ssm:us-east-1:123456789012:session/bob-1",
    "*",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:ec2:*",
    "arn:aws:ssm:*:*:session/${aws:username}-*",
    "arn:aws:ec2:*:*:instance/i-?",
    "arn:aws:ssm:us-east-1:123456789012:session/bob-1",
];

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!({"StringEquals": {"aws:username": "alice"}}))),
        Just(Some(
            json!({"StringNotEquals": {"ssm:resourceTag/Env": ["prod"]}})
        )),
        Just(Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))),
        Just(Some(
            json!({"ForAllValues:StringLike": {"aws:TagKeys": ["a*"]}})
        )),
        Just(Some(
            json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["b1"]}})
        )),
        Just(Some(
            json!({"BoolIfExists": {"aws:SecureTransport": "true"}})
        )),
        Just(Some(json!({"NumericLessThan": {"app:n": 5}}))),
        Just(Some(json!({"Null": {"aws:username": "false"}}))),
    ]
}

fn statement(effect: Option<&'static str>) -> impl Strategy<Value = Value> {
    let effect = match effect {
        Some(e) => Just(e).boxed(),
        None => prop_oneof![Just("Allow"), Just("Deny")].boxed(),
    };
    (
        effect,
        any::<bool>(),
        proptest::sample::subsequence(ACTION_PATTERNS, 1..=3),
        any::<bool>(),
        proptest::sample::subsequence(RESOURCE_PATTERNS, 1..=2),
        condition(),
    )
        .prop_map(
            |(effect, not_action, actions, not_resource, resources, cond)| {
                let mut s = json!({ "Effect": effect });
                s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
                s[if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                }] = json!(resources);
                if let Some(c) = cond {
                    s["Condition"] = c;
                }
                s
            },
        )
}

fn document(statements: &[Value]) -> Policy {
    let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    match Policy::parse(&text) {
        Ok(p) => p,
        Err(e) => panic!("generated policy should parse: {e}\n{text}"),
    }
}

/// 1–3 policies of 1–4 statements each, every statement with a unique Sid.
fn policy_set() -> impl Strategy<Value = Vec<Vec<Value>>> {
    proptest::collection::vec(proptest::collection::vec(statement(None), 1..=4), 1..=3).prop_map(
        |mut policies| {
            let mut n = 0;
            for p in &mut policies {
                for s in p.iter_mut() {
                    s["Sid"] = json!(format!("S{n}"));
                    n += 1;
                }
            }
            policies
        },
    )
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::sample::select(ACTIONS),
        proptest::sample::select(RESOURCES),
        proptest::option::of(prop_oneof![Just("alice"), Just("bob")]),
        proptest::option::of(prop_oneof![Just("prod"), Just("dev")]),
        proptest::option::of(prop_oneof![Just("10.1.1.1"), Just("192.168.1.1")]),
        proptest::option::of(proptest::sample::subsequence(
            &["a1", "b1", "c1"][..],
            0..=3,
        )),
        proptest::option::of(prop_oneof![Just("true"), Just("false")]),
        proptest::option::of(prop_oneof![Just("3"), Just("7"), Just("x")]),
    )
        .prop_map(|(action, resource, user, env, ip, tags, tls, n)| {
            let mut r = Request::new("arn:aws:iam::123456789012:user/alice", action, resource);
            let c = &mut r.context;
            if let Some(v) = user {
                c.insert("aws:username", v);
            }
            if let Some(v) = env {
                c.insert("ssm:resourceTag/Env", v);
            }
            if let Some(v) = ip {
                c.insert("aws:SourceIp", v);
            }
            if let Some(v) = tags {
                c.insert_values("aws:TagKeys", v);
            }
            if let Some(v) = tls {
                c.insert("aws:SecureTransport", v);
            }
            if let Some(v) = n {
                c.insert("app:n", v);
            }
            r
        })
}

fn decide(policies: &[(String, Policy)], r: &Request) -> Decision {
    evaluate(policies.iter().map(|(n, p)| (n.as_str(), p)), r)
}

fn named(policies: &[Vec<Value>]) -> Vec<(String, Policy)> {
    policies
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("p{i}"), document(s)))
        .collect()
}

/// The deciding statements as (policy, Sid), order-independent.
fn deciders(d: &Decision) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = d
        .matched
        .iter()
        .map(|m| (m.policy.clone(), m.sid.clone()))
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn adding_a_deny_never_grants_access(
        policies in policy_set(),
        deny in statement(Some("Deny")),
        into_existing in any::<bool>(),
        r in request(),
    ) {
        let before = decide(&named(&policies), &r);
        let mut more = policies.clone();
        if into_existing {
            more[0].push(deny);
        } else {
            more.push(vec![deny]);
        }
        let after = decide(&named(&more), &r);
        prop_assert!(!after.is_allowed() || before.is_allowed());
        if before.effect == EvalDecision::ExplicitDeny {
            prop_assert_eq!(after.effect, EvalDecision::ExplicitDeny);
        }
    }

    #[test]
    fn statement_order_never_changes_a_decision(
        (policies, shuffled) in policy_set().prop_flat_map(|p| {
            let shuffled: Vec<_> = p.iter().map(|s| Just(s.clone()).prop_shuffle()).collect();
            (Just(p), shuffled)
        }),
        r in request(),
    ) {
        let original = named(&policies);
        let mut reordered = named(&shuffled);
        reordered.reverse();
        let a = decide(&original, &r);
        let b = decide(&reordered, &r);
        prop_assert_eq!(a.effect, b.effect);
        prop_assert_eq!(deciders(&a), deciders(&b));
    }

    #[test]
    fn allow_star_plus_a_deny_denies_exactly_what_the_deny_matches(
        deny in statement(Some("Deny")),
        r in request(),
    ) {
        let allow_all = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
        let combined = [("both".to_string(), document(&[allow_all, deny.clone()]))];
        let deny_alone = [("deny".to_string(), document(&[deny]))];
        let deny_matches = decide(&deny_alone, &r).effect == EvalDecision::ExplicitDeny;
        let expected = if deny_matches { EvalDecision::ExplicitDeny } else { EvalDecision::Allowed };
        prop_assert_eq!(decide(&combined, &r).effect, expected);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text);
        let _ = Policy::parse_resource_policy(&text);
    }

    #[test]
    fn parser_and_evaluator_never_panic_on_policy_shaped_json(
        doc in policy_shaped_json(),
        r in request(),
    ) {
        let text = doc.to_string();
        let parsed = [Policy::parse(&text), Policy::parse_resource_policy(&text)];
        for p in parsed.into_iter().flatten() {
            let d = evaluate([("p", &p)], &r);
            let _ = airlock_policy::refusal_message(&r, &d);
            let _ = airlock_policy::missing_context_keys([("p", &p)], &r);
        }
    }
}

/// JSON built from the policy vocabulary, so generation reaches deep into
/// the parser rather than failing at the first key.
fn policy_shaped_json() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "Version",
        "Statement",
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
        "AWS",
        "Service",
        "StringLike",
        "ForAllValues:StringEquals",
        "NumericLessThanIfExists",
        "DateGreaterThan",
        "IpAddress",
        "Null",
        "ArnLike",
        "BinaryEquals",
        "aws:username",
        "aws:TagKeys",
        "aws:SourceIp",
    ];
    const STRINGS: &[&str] = &[
        "2012-10-17",
        "2008-10-17",
        "Allow",
        "Deny",
        "*",
        "ssm:*",
        "arn:aws:ec2:*",
        "${aws:username}",
        "${aws:x, 'd'}",
        "${*}",
        "${",
        "10.0.0.0/8",
        "::/0",
        "2020-01-01T00:00:00Z",
        "true",
        "5",
        "",
        "arn:aws:iam::123456789012:root",
        "QQ==",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        proptest::sample::select(STRINGS).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..5).prop_map(
                |kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()) }
            ),
        ]
    })
}
