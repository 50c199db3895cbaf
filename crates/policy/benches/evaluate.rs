//! Evaluates one Session Manager request against 10 policies of 10
//! statements each: a realistic mix of actions, wildcard and variable
//! resources, and conditions. Reports time per decision.

use airlock_policy::{Policy, Request, evaluate};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

/// Statement `i` of policy `p`: cycles through ten realistic shapes.
fn statement(p: usize, i: usize) -> String {
    let sid = format!("P{p}S{i}");
    match i {
        0 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*:*:instance/*",
               "Condition":{{"StringLike":{{"ssm:resourceTag/Environment":["Dev*","Test{p}"]}}}}}}"#
        ),
        1 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":["ssm:TerminateSession","ssm:ResumeSession"],
               "Resource":"arn:aws:ssm:*:*:session/${{aws:username}}-*"}}"#
        ),
        2 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":["ssm:Describe*","ssm:GetConnectionStatus","ec2:DescribeInstances"],"Resource":"*"}}"#
        ),
        3 => format!(
            r#"{{"Sid":"{sid}","Effect":"Deny","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*:*:instance/*",
               "Condition":{{"StringEquals":{{"ssm:resourceTag/Environment":"Prod{p}"}}}}}}"#
        ),
        4 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":"ssm:StartSession","Resource":"*",
               "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{p}.0.0/16","192.168.0.0/16"]}},
                            "DateLessThan":{{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}}}"#
        ),
        5 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*:*:instance/*",
               "Condition":{{"StringEquals":{{"ssm:resourceTag/Team":"${{aws:PrincipalTag/Team}}"}}}}}}"#
        ),
        6 => format!(
            r#"{{"Sid":"{sid}","Effect":"Deny","NotAction":["ssm:*","ssmmessages:*","ec2:Describe*"],"Resource":"*",
               "Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}"#
        ),
        7 => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":"airlock:*","Resource":"arn:aws:airlock:us-east-1:123456789012:cluster/team{p}-*",
               "Condition":{{"ForAnyValue:StringEquals":{{"aws:PrincipalTag/Groups":["admins","hpc{p}"]}}}}}}"#
        ),
        8 => format!(
            r#"{{"Sid":"{sid}","Effect":"Deny","Action":"*","Resource":"*",
               "Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}"#
        ),
        _ => format!(
            r#"{{"Sid":"{sid}","Effect":"Allow","Action":["ssm:GetDocument","ssm:StartSession"],"Resource":"arn:aws:ssm:*:*:document/SSM-SessionManagerRunShell",
               "Condition":{{"BoolIfExists":{{"ssm:SessionDocumentAccessCheck":"true"}}}}}}"#
        ),
    }
}

fn policies() -> Vec<(String, Policy)> {
    (0..10)
        .map(|p| {
            let statements: Vec<String> = (0..10).map(|i| statement(p, i)).collect();
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
                statements.join(",")
            );
            match Policy::parse(&text) {
                Ok(policy) => (format!("arn:aws:iam::123456789012:policy/team{p}"), policy),
                Err(e) => panic!("benchmark policy {p} should parse: {e}"),
            }
        })
        .collect()
}

fn request() -> Request {
    Request::new(
        "arn:aws:iam::123456789012:user/alice",
        "ssm:StartSession",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
    )
    .with("aws:username", "alice")
    .with("aws:userid", "AIDAEXAMPLEALICE")
    .with("aws:PrincipalTag/Team", "hpc")
    .with_values("aws:PrincipalTag/Groups", ["users", "hpc3"])
    .with("ssm:resourceTag/Environment", "Development")
    .with("ssm:resourceTag/Team", "hpc")
    .with("aws:SourceIp", "10.3.7.9")
    .with("aws:CurrentTime", "2026-03-01T12:00:00Z")
    .with("aws:SecureTransport", "true")
}

fn bench(c: &mut Criterion) {
    let policies = policies();
    let request = request();
    let decision = evaluate(policies.iter().map(|(n, p)| (n.as_str(), p)), &request);
    assert!(
        decision.is_allowed(),
        "the benchmark request should be allowed: {decision}"
    );
    c.bench_function("evaluate 10 policies x 10 statements", |b| {
        b.iter(|| {
            evaluate(
                black_box(&policies).iter().map(|(n, p)| (n.as_str(), p)),
                black_box(&request),
            )
        })
    });
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        (0..10)
            .map(|i| statement(0, i))
            .collect::<Vec<_>>()
            .join(",")
    );
    c.bench_function("parse one 10-statement policy", |b| {
        b.iter(|| Policy::parse(black_box(&text)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
