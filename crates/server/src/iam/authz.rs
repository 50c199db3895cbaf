//! Authorisation: gathers a principal's policies, builds the request context
//! (`aws:username`, `aws:PrincipalTag/…`, `aws:SourceIp`, …), asks the policy
//! engine, audits the decision and words a refusal as AWS does.

use airlock_policy::{Decision, Policy, Request, evaluate, refusal_message};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{Iam, PrincipalKind, Tag};
use super::tag_context::TagContext;
use crate::api_error::{ApiError, ErrorCode};
use crate::audit;
use crate::ops::{Allowed, Ctx};

/// Rejects a malformed policy document with IAM's error.
pub fn check_document(doc: &str) -> Result<Policy, ApiError> {
    Policy::parse(doc).map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.to_string()))
}

/// Rejects a malformed trust (resource-based) policy with IAM's error.
pub fn check_trust_document(doc: &str) -> Result<Policy, ApiError> {
    Policy::parse_resource_policy(doc)
        .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.to_string()))
}

/// A principal's policies, named by ARN (attached) or name (inline).
pub fn policies_of(
    iam: &Iam<'_>,
    kind: PrincipalKind,
    name: &str,
) -> Result<Vec<(String, Policy)>, ApiError> {
    let mut out = Vec::new();
    for arn in iam.attached_policies(kind, name)? {
        // A built-in one is parsed once per process (ReadOnlyAccess is 100 KB).
        if let Some(p) = airlock_policy::catalog::get(&arn) {
            out.push((arn, p.clone()));
            continue;
        }
        if let Some(doc) = iam.managed_policy_document(&arn)? {
            match Policy::parse(&doc) {
                Ok(p) => out.push((arn, p)),
                Err(e) => {
                    tracing::warn!(policy = %arn, error = %e, "stored policy no longer parses; ignored")
                }
            }
        }
    }
    for (pname, doc) in iam.inline_policies(kind, name)? {
        match Policy::parse(&doc) {
            Ok(p) => out.push((pname, p)),
            Err(e) => {
                tracing::warn!(policy = %pname, error = %e, "stored policy no longer parses; ignored")
            }
        }
    }
    Ok(out)
}

/// The global condition keys AWS sets for a user's request.
pub fn user_request(
    arn: &str,
    user_name: &str,
    user_id: &str,
    tags: &[Tag],
    source_ip: Option<&str>,
    action: &str,
    resource: &str,
) -> Request {
    let now = time::OffsetDateTime::now_utc();
    let mut r = Request::new(arn, action, resource)
        .with("aws:username", user_name)
        .with("aws:userid", user_id)
        .with("aws:PrincipalArn", arn)
        .with("aws:PrincipalType", "User")
        .with("aws:SecureTransport", "true")
        .with("aws:EpochTime", now.unix_timestamp().to_string())
        .with("aws:CurrentTime", super::store::now_iso());
    if let Some(ip) = source_ip {
        r = r.with("aws:SourceIp", ip);
    }
    for t in tags {
        r = r.with(format!("aws:PrincipalTag/{}", t.key), t.value.clone());
    }
    r
}

fn decide(policies: &[(String, Policy)], req: &Request) -> Decision {
    evaluate(policies.iter().map(|(n, p)| (n.as_str(), p)), req)
}

/// Decides one API call for the caller, audits it, and refuses with AWS's words.
pub fn authorize(
    ctx: &Ctx<'_>,
    action: &str,
    resource: &str,
    extra: &[(&str, &str)],
) -> Result<(), ApiError> {
    let tc = extra
        .iter()
        .fold(TagContext::default(), |tc, (k, v)| tc.with(k, v));
    authorize_tagged(ctx, action, resource, &tc)
}

/// [`authorize`] on a tagged resource: `tags` carries the resource's
/// tags and the request's (see [`TagContext`]).
pub fn authorize_tagged(
    ctx: &Ctx<'_>,
    action: &str,
    resource: &str,
    tags: &TagContext,
) -> Result<(), ApiError> {
    let iam = Iam::new(ctx.conn)?;
    let c = ctx.caller;
    let policies = policies_of(&iam, PrincipalKind::User, &c.user_name)?;
    let req = tags.apply(user_request(
        &c.arn,
        &c.user_name,
        &c.user_id,
        &c.tags,
        c.source_ip.as_deref(),
        action,
        resource,
    ));
    decide_and_audit(
        ctx.conn,
        ctx.request_id,
        &policies,
        &req,
        c.source_ip.as_deref(),
    )
}

/// Decides a node's request under its role (`assumed-role/ROLE/INSTANCE`).
/// A node calling under its role, as an instance profile would.
pub struct NodeCaller<'a> {
    pub role_name: &'a str,
    pub instance_id: &'a str,
    pub source_ip: Option<&'a str>,
}

pub fn authorize_role(
    conn: &rusqlite::Connection,
    request_id: &str,
    node: &NodeCaller<'_>,
    action: &str,
    resource: &str,
    extra: &[(&str, &str)],
) -> Result<(), ApiError> {
    authorize_role_actions(conn, request_id, node, &[action], resource, extra)
}

/// [`authorize_role`] for several actions on one resource, with the role
/// and its policies loaded once; each decision is audited, and the first
/// refusal is returned.
pub fn authorize_role_actions(
    conn: &rusqlite::Connection,
    request_id: &str,
    node: &NodeCaller<'_>,
    actions: &[&str],
    resource: &str,
    extra: &[(&str, &str)],
) -> Result<(), ApiError> {
    let (role_name, instance_id, source_ip) = (node.role_name, node.instance_id, node.source_ip);
    let iam = Iam::new(conn)?;
    let role = iam.get_role(role_name)?;
    let arn = format!(
        "arn:aws:sts::{}:assumed-role/{role_name}/{instance_id}",
        iam.account
    );
    let policies = policies_of(&iam, PrincipalKind::Role, role_name)?;
    for action in actions {
        let mut req = user_request(
            &arn,
            role_name,
            &format!("{}:{instance_id}", role.role_id),
            &role.tags,
            source_ip,
            action,
            resource,
        )
        .with("aws:PrincipalType", "AssumedRole");
        for (k, v) in extra {
            req = req.with(*k, *v);
        }
        req.context.remove("aws:username");
        decide_and_audit(conn, request_id, &policies, &req, source_ip)?;
    }
    Ok(())
}

fn decide_and_audit(
    conn: &rusqlite::Connection,
    request_id: &str,
    policies: &[(String, Policy)],
    req: &Request,
    source_ip: Option<&str>,
) -> Result<(), ApiError> {
    let decision = decide(policies, req);
    let statement = decision
        .matched
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    audit::append(
        conn,
        &audit::Record {
            request_id,
            principal: &req.principal,
            action: &req.action,
            resource: &req.resource,
            decision: if decision.is_allowed() {
                "Allow"
            } else {
                "Deny"
            },
            statement: (!statement.is_empty()).then_some(statement.as_str()),
            source_ip,
            detail: Some(decision.effect.as_str()),
        },
    )?;
    match refusal_message(req, &decision) {
        None => Ok(()),
        Some(msg) => Err(ApiError::access_denied(msg)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContextEntry {
    context_key_name: String,
    #[serde(default)]
    context_key_values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SimulateIn {
    pub policy_source_arn: String,
    action_names: Vec<String>,
    #[serde(default)]
    resource_arns: Vec<String>,
    #[serde(default)]
    context_entries: Vec<ContextEntry>,
}

/// `iam:SimulatePrincipalPolicy`: decides each action × resource for a user
/// or role and names the deciding statements.
/// The caller was allowed `iam:SimulatePrincipalPolicy` on the source ARN.
pub fn simulate(ctx: &Allowed<'_, '_>, i: SimulateIn) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    let bad_arn = || {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "PolicySourceArn {} is not a user or role ARN of this account",
                i.policy_source_arn
            ),
        )
    };
    let rest = i
        .policy_source_arn
        .strip_prefix(&format!("arn:aws:iam::{}:", iam.account))
        .ok_or_else(bad_arn)?;
    let (kind, name) = if let Some(n) = rest.strip_prefix("user/") {
        (PrincipalKind::User, n.rsplit('/').next().unwrap_or(n))
    } else if let Some(n) = rest.strip_prefix("role/") {
        (PrincipalKind::Role, n.rsplit('/').next().unwrap_or(n))
    } else {
        return Err(bad_arn());
    };
    let (user_id, tags) = match kind {
        PrincipalKind::User => {
            let u = iam.get_user(name)?;
            (u.user_id, u.tags)
        }
        PrincipalKind::Role => {
            let r = iam.get_role(name)?;
            (r.role_id, r.tags)
        }
    };
    let policies = policies_of(&iam, kind, name)?;
    let resources = if i.resource_arns.is_empty() {
        vec!["*".to_owned()]
    } else {
        i.resource_arns.clone()
    };
    let mut results = Vec::new();
    for action in &i.action_names {
        for resource in &resources {
            let mut req = user_request(
                &i.policy_source_arn,
                name,
                &user_id,
                &tags,
                None,
                action,
                resource,
            );
            if kind == PrincipalKind::Role {
                req = req.with("aws:PrincipalType", "AssumedRole");
            }
            for e in &i.context_entries {
                req.context.remove(&e.context_key_name);
                req = req.with_values(e.context_key_name.clone(), e.context_key_values.clone());
            }
            let d = decide(&policies, &req);
            let missing = airlock_policy::missing_context_keys(
                policies.iter().map(|(n, p)| (n.as_str(), p)),
                &req,
            );
            results.push(json!({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": d.effect.as_str(),
                "MatchedStatements": d.matched.iter().map(|m| json!({
                    "SourcePolicyId": m.policy,
                    "Sid": m.sid,
                    "StatementIndex": m.index,
                })).collect::<Vec<_>>(),
                "MissingContextValues": missing,
            }));
        }
    }
    Ok(json!({ "EvaluationResults": results }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decisions(conn: &rusqlite::Connection) -> Vec<(String, String)> {
        let mut st = conn
            .prepare("SELECT action, decision FROM audit_log ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn several_actions_are_each_decided_and_audited_and_the_first_refusal_returned() {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        let iam = Iam::new(&conn).unwrap();
        iam.create_role("NodeRole", "{}", "", &[]).unwrap();
        iam.put_inline_policy(
            PrincipalKind::Role,
            "NodeRole",
            "one",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:UpdateInstanceInformation","Resource":"*"}]}"#,
        )
        .unwrap();
        let node = NodeCaller {
            role_name: "NodeRole",
            instance_id: "mi-0123456789abcdef0",
            source_ip: Some("10.0.0.9"),
        };
        let actions = [
            "ssm:UpdateInstanceInformation",
            "ssmmessages:CreateControlChannel",
        ];
        let e = authorize_role_actions(&conn, "r1", &node, &actions, "*", &[]).unwrap_err();
        assert!(
            e.message.contains("ssmmessages:CreateControlChannel"),
            "{}",
            e.message
        );
        let want = |d2: &str| {
            vec![
                (
                    "ssm:UpdateInstanceInformation".to_owned(),
                    "Allow".to_owned(),
                ),
                ("ssmmessages:CreateControlChannel".to_owned(), d2.to_owned()),
            ]
        };
        assert_eq!(decisions(&conn), want("Deny"));
        iam.attach_policy(
            PrincipalKind::Role,
            "NodeRole",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        )
        .unwrap();
        authorize_role_actions(&conn, "r2", &node, &actions, "*", &[]).unwrap();
        assert_eq!(decisions(&conn)[2..], want("Allow"));
    }
}
