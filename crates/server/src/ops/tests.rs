//! The operations table on the in-process server: no operation does
//! anything for a caller no policy allows, an explicit Deny on one resource
//! binds, and a resource handed over (`iam:PassRole`) is decided too.

use serde_json::{Value, json};

use crate::testing::Harness;

/// One body with every field any operation reads, so each request gets as
/// far as its policy decision.
fn everything() -> Value {
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    json!({
        "UserName": "mallory-made", "RoleName": "AdminRole", "PolicyName": "p",
        "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "PolicyDocument": policy, "AssumeRolePolicyDocument": policy,
        "AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "Inactive",
        "PolicySourceArn": "arn:aws:iam::000000000000:user/admin", "ActionNames": ["iam:ListUsers"],
        "ClusterName": "c1", "ClusterConfiguration": "", "ConfigFile": "c.ini",
        "NodeName": "compute-dy-t2micro-1", "KeyName": "k1",
        "PublicKeyMaterial": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHvJ0aGmE6OYsCyuQk+JuQ2JK0S9fJ3+3w0n6m6Xz8Qa k",
        "Name": "SSM-SessionManagerRunShell", "Content": "{}",
        "SessionId": "admin-0123456789abcdef0", "ActivationId": "x",
        "InstanceId": "mi-0123456789abcdef0", "IamRole": "AdminRole", "Target": "mi-0123456789abcdef0",
        "ResourceType": "ManagedInstance", "ResourceId": "mi-0123456789abcdef0",
        "Tags": [{"Key": "Env", "Value": "prod"}], "TagKeys": ["Env"],
        "InstanceOSUser": "ec2-user", "SSHPublicKey": "ssh-ed25519 AAAA",
    })
}

/// A role nodes assume, made by the admin.
async fn create_role(h: &Harness, name: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = json!({"RoleName": name, "AssumeRolePolicyDocument": trust});
    let (st, v) = h.call(&h.admin, "iam", "CreateRole", &body).await;
    assert_eq!(st, 200, "{v}");
}

fn count(h: &Harness, sql: &str) -> i64 {
    h.with_db(|c| c.query_row(sql, [], |r| r.get(0)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operation_does_anything_for_a_caller_without_policies() {
    let h = Harness::new();
    // Things for the operations to find, made by the admin.
    create_role(&h, "AdminRole").await;
    let mallory = h.user("mallory", None);
    let before = (
        count(&h, "SELECT count(*) FROM users"),
        count(&h, "SELECT count(*) FROM roles"),
        count(&h, "SELECT count(*) FROM access_keys"),
    );
    let mut denied = 0;
    for op in super::table() {
        let (st, v) = h.call(&mallory, op.service, op.name, &everything()).await;
        assert!(
            !(200..300).contains(&st),
            "{}:{} answered {st} to a caller no policy allows: {v}",
            op.service,
            op.name
        );
        if v["__type"] == "AccessDeniedException" {
            denied += 1;
        }
    }
    // Most fail at the decision; the rest name something that does not
    // exist (a session, an instance) before there is anything to decide.
    assert!(
        denied >= 30,
        "only {denied} operations reached the policy decision"
    );
    let after = (
        count(&h, "SELECT count(*) FROM users"),
        count(&h, "SELECT count(*) FROM roles"),
        count(&h, "SELECT count(*) FROM access_keys"),
    );
    assert_eq!(before, after, "a refused caller changed the IAM store");
    let allowed = count(
        &h,
        "SELECT count(*) FROM audit_log WHERE principal LIKE '%:user/mallory' AND decision = 'Allow'",
    );
    assert_eq!(allowed, 0, "the audit log shows an Allow for mallory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_on_one_resource_binds_and_others_stay_allowed() {
    let h = Harness::new();
    let ops = h.user(
        "ops",
        Some(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iam:*","Resource":"*"},
                {"Effect":"Deny","Action":"iam:CreateUser","Resource":"arn:aws:iam::*:user/bob"}]}"#,
        ),
    );
    let (st, v) = h
        .call(&ops, "iam", "CreateUser", &json!({"UserName": "bob"}))
        .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    assert_eq!(
        count(&h, "SELECT count(*) FROM users WHERE user_name = 'bob'"),
        0
    );
    let (st, v) = h
        .call(&ops, "iam", "CreateUser", &json!({"UserName": "carol"}))
        .await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_activation_needs_pass_role_on_its_role() {
    let h = Harness::new();
    create_role(&h, "NodeRole").await;
    let body = json!({"IamRole": "NodeRole"});
    let without = h.user(
        "without",
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:CreateActivation","Resource":"*"}]}"#),
    );
    let (st, v) = h.call(&without, "ssm", "CreateActivation", &body).await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap_or("").contains("iam:PassRole"),
        "{v}"
    );
    assert_eq!(count(&h, "SELECT count(*) FROM activations"), 0);
    let with = h.user(
        "with",
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:CreateActivation","iam:PassRole"],"Resource":"*"}]}"#),
    );
    let (st, v) = h.call(&with, "ssm", "CreateActivation", &body).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(count(&h, "SELECT count(*) FROM activations"), 1);
}
