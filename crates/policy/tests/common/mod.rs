//! Helpers shared by the integration tests.
#![allow(dead_code)]

use airlock_policy::{Decision, EvalDecision, Policy, Request, evaluate};

pub const ACCOUNT: &str = "123456789012";
pub const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
pub const NODE: &str = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0";

/// Parses a policy the test expects to be valid.
pub fn policy(text: &str) -> Policy {
    match Policy::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("policy should parse: {e}\n{text}"),
    }
}

/// Decides `request` against named policies.
pub fn decide(policies: &[(&str, &Policy)], request: &Request) -> Decision {
    evaluate(policies.iter().copied(), request)
}

/// Effect of `request` against a single policy.
pub fn effect(p: &Policy, request: &Request) -> EvalDecision {
    evaluate([("p", p)], request).effect
}

/// An `Allow * on *` policy guarded by one condition block (JSON text).
pub fn allow_if(condition: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}}}"#
    ))
}

/// A request with the given single-valued context entries.
pub fn request_with(entries: &[(&str, &str)]) -> Request {
    let mut r = Request::new(ALICE, "ssm:StartSession", NODE);
    for (k, v) in entries {
        r.context.insert(*k, *v);
    }
    r
}

/// Whether `Allow if condition` allows a request with these context entries.
pub fn holds(condition: &str, entries: &[(&str, &str)]) -> bool {
    effect(&allow_if(condition), &request_with(entries)) == EvalDecision::Allowed
}
