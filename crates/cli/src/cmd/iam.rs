//! `airlock iam …`: the AWS CLI's IAM commands against the airlock server.

use anyhow::{Context, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Args)]
pub struct User {
    #[arg(long)]
    user_name: String,
}

#[derive(clap::Args)]
pub struct Role {
    #[arg(long)]
    role_name: String,
}

#[derive(clap::Args)]
pub struct OptUser {
    /// Defaults to the caller.
    #[arg(long)]
    user_name: Option<String>,
}

#[derive(clap::Args)]
pub struct Inline {
    #[arg(long)]
    policy_name: String,
    /// JSON text, or file://PATH.
    #[arg(long)]
    policy_document: String,
}

#[derive(Subcommand)]
pub enum IamCommand {
    CreateUser {
        #[command(flatten)]
        user: User,
        /// Tags as Key=K,Value=V (repeatable).
        #[arg(long, num_args = 1..)]
        tags: Vec<String>,
    },
    GetUser(OptUser),
    ListUsers,
    DeleteUser(User),
    TagUser {
        #[command(flatten)]
        user: User,
        #[arg(long, num_args = 1.., required = true)]
        tags: Vec<String>,
    },
    /// Creates a key pair; the private key is shown once.
    CreateAccessKey {
        #[command(flatten)]
        user: OptUser,
        /// Also save the new key as this profile in ~/.airlock (endpoint and CA of the current profile).
        #[arg(long)]
        save_profile: Option<String>,
    },
    ListAccessKeys(OptUser),
    UpdateAccessKey {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        access_key_id: String,
        #[arg(long, value_parser = ["Active", "Inactive"])]
        status: String,
    },
    DeleteAccessKey {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        access_key_id: String,
    },
    PutUserPolicy {
        #[command(flatten)]
        user: User,
        #[command(flatten)]
        policy: Inline,
    },
    GetUserPolicy {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        policy_name: String,
    },
    DeleteUserPolicy {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        policy_name: String,
    },
    ListUserPolicies(User),
    AttachUserPolicy {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        policy_arn: String,
    },
    DetachUserPolicy {
        #[command(flatten)]
        user: User,
        #[arg(long)]
        policy_arn: String,
    },
    ListAttachedUserPolicies(User),
    CreateRole {
        #[command(flatten)]
        role: Role,
        /// The trust policy: JSON text, or file://PATH.
        #[arg(long)]
        assume_role_policy_document: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    GetRole(Role),
    ListRoles,
    DeleteRole(Role),
    PutRolePolicy {
        #[command(flatten)]
        role: Role,
        #[command(flatten)]
        policy: Inline,
    },
    ListRolePolicies(Role),
    AttachRolePolicy {
        #[command(flatten)]
        role: Role,
        #[arg(long)]
        policy_arn: String,
    },
    DetachRolePolicy {
        #[command(flatten)]
        role: Role,
        #[arg(long)]
        policy_arn: String,
    },
    ListAttachedRolePolicies(Role),
    CreatePolicy {
        #[command(flatten)]
        policy: Inline,
    },
    ListPolicies,
    GetPolicy {
        #[arg(long)]
        policy_arn: String,
    },
    /// May a user or role do these actions on these resources? Names the deciding statements.
    SimulatePrincipalPolicy {
        #[arg(long)]
        policy_source_arn: String,
        #[arg(long, num_args = 1.., required = true)]
        action_names: Vec<String>,
        #[arg(long, num_args = 1..)]
        resource_arns: Vec<String>,
        /// ContextKeyName=K,ContextKeyValues=V1[,V2…],ContextKeyType=string (repeatable).
        #[arg(long, num_args = 1..)]
        context_entries: Vec<String>,
    },
}

/// Reads `file://PATH` or takes the text as it is.
fn document(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(arg.to_owned()),
    }
}

/// Parses the AWS CLI shorthand `Key=k,Value=v`.
pub fn parse_tags(list: &[String]) -> anyhow::Result<Value> {
    tags(list)
}

fn tags(list: &[String]) -> anyhow::Result<Value> {
    list.iter()
        .map(|t| {
            let mut key = None;
            let mut value = None;
            for part in t.split(',') {
                match part.split_once('=') {
                    Some(("Key", k)) => key = Some(k.to_owned()),
                    Some(("Value", v)) => value = Some(v.to_owned()),
                    _ => {}
                }
            }
            match (key, value) {
                (Some(k), v) => Ok(json!({"Key": k, "Value": v.unwrap_or_default()})),
                _ => Err(anyhow!("bad tag {t:?}: expected Key=NAME,Value=VALUE")),
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Value::Array)
}

/// Parses `ContextKeyName=K,ContextKeyValues=V1,V2,ContextKeyType=string`.
fn context_entry(e: &str) -> anyhow::Result<Value> {
    let mut name = None;
    let mut values = Vec::new();
    let mut ty = "string".to_owned();
    let mut in_values = false;
    for part in e.split(',') {
        match part.split_once('=') {
            Some(("ContextKeyName", n)) => {
                name = Some(n.to_owned());
                in_values = false;
            }
            Some(("ContextKeyValues", v)) => {
                values.push(v.to_owned());
                in_values = true;
            }
            Some(("ContextKeyType", t)) => {
                ty = t.to_owned();
                in_values = false;
            }
            _ if in_values => values.push(part.to_owned()),
            _ => {
                return Err(anyhow!(
                    "bad context entry {e:?}: expected ContextKeyName=K,ContextKeyValues=V,ContextKeyType=T"
                ));
            }
        }
    }
    let name = name.ok_or_else(|| anyhow!("context entry {e:?} has no ContextKeyName"))?;
    Ok(json!({"ContextKeyName": name, "ContextKeyValues": values, "ContextKeyType": ty}))
}

pub fn run(g: &Global, c: IamCommand) -> anyhow::Result<i32> {
    use IamCommand::*;
    let client = ApiClient::from_global(g)?;
    let call = |op: &str, body: Value| client.call("iam", op, &body);
    match c {
        CreateUser { user, tags: t } => {
            let v = call(
                "CreateUser",
                json!({"UserName": user.user_name, "Tags": tags(&t)?}),
            )?;
            output::value(&v);
        }
        GetUser(u) => output::value(&call("GetUser", json!({"UserName": u.user_name}))?),
        ListUsers => {
            let v = call("ListUsers", json!({}))?;
            let rows = rows(&v["Users"], |u| {
                vec![
                    s(u, "UserName"),
                    s(u, "UserId"),
                    s(u, "Arn"),
                    s(u, "CreateDate"),
                ]
            });
            output::listing(
                g.json,
                &v,
                &["UserName", "UserId", "Arn", "CreateDate"],
                rows,
            );
        }
        DeleteUser(u) => drop(call("DeleteUser", json!({"UserName": u.user_name}))?),
        TagUser { user, tags: t } => drop(call(
            "TagUser",
            json!({"UserName": user.user_name, "Tags": tags(&t)?}),
        )?),
        CreateAccessKey { user, save_profile } => {
            let v = call("CreateAccessKey", json!({"UserName": user.user_name}))?;
            if let Some(name) = save_profile {
                save_profile_for(g, &name, &v["AccessKey"])?;
                eprintln!("saved as profile '{name}'");
            }
            output::value(&v);
        }
        ListAccessKeys(u) => {
            let v = call("ListAccessKeys", json!({"UserName": u.user_name}))?;
            let rows = rows(&v["AccessKeyMetadata"], |k| {
                vec![
                    s(k, "UserName"),
                    s(k, "AccessKeyId"),
                    s(k, "Status"),
                    s(k, "CreateDate"),
                ]
            });
            output::listing(
                g.json,
                &v,
                &["UserName", "AccessKeyId", "Status", "CreateDate"],
                rows,
            );
        }
        UpdateAccessKey {
            user,
            access_key_id,
            status,
        } => drop(call(
            "UpdateAccessKey",
            json!({"UserName": user.user_name, "AccessKeyId": access_key_id, "Status": status}),
        )?),
        DeleteAccessKey {
            user,
            access_key_id,
        } => drop(call(
            "DeleteAccessKey",
            json!({"UserName": user.user_name, "AccessKeyId": access_key_id}),
        )?),
        PutUserPolicy { user, policy } => drop(call(
            "PutUserPolicy",
            json!({"UserName": user.user_name, "PolicyName": policy.policy_name, "PolicyDocument": document(&policy.policy_document)?}),
        )?),
        GetUserPolicy { user, policy_name } => output::value(&call(
            "GetUserPolicy",
            json!({"UserName": user.user_name, "PolicyName": policy_name}),
        )?),
        DeleteUserPolicy { user, policy_name } => drop(call(
            "DeleteUserPolicy",
            json!({"UserName": user.user_name, "PolicyName": policy_name}),
        )?),
        ListUserPolicies(u) => names(
            g,
            call("ListUserPolicies", json!({"UserName": u.user_name}))?,
        ),
        AttachUserPolicy { user, policy_arn } => drop(call(
            "AttachUserPolicy",
            json!({"UserName": user.user_name, "PolicyArn": policy_arn}),
        )?),
        DetachUserPolicy { user, policy_arn } => drop(call(
            "DetachUserPolicy",
            json!({"UserName": user.user_name, "PolicyArn": policy_arn}),
        )?),
        ListAttachedUserPolicies(u) => attached(
            g,
            call("ListAttachedUserPolicies", json!({"UserName": u.user_name}))?,
        ),
        CreateRole {
            role,
            assume_role_policy_document,
            description,
        } => output::value(&call(
            "CreateRole",
            json!({"RoleName": role.role_name, "AssumeRolePolicyDocument": document(&assume_role_policy_document)?, "Description": description}),
        )?),
        GetRole(r) => output::value(&call("GetRole", json!({"RoleName": r.role_name}))?),
        ListRoles => {
            let v = call("ListRoles", json!({}))?;
            let rows = rows(&v["Roles"], |r| {
                vec![
                    s(r, "RoleName"),
                    s(r, "RoleId"),
                    s(r, "Arn"),
                    s(r, "Description"),
                ]
            });
            output::listing(
                g.json,
                &v,
                &["RoleName", "RoleId", "Arn", "Description"],
                rows,
            );
        }
        DeleteRole(r) => drop(call("DeleteRole", json!({"RoleName": r.role_name}))?),
        PutRolePolicy { role, policy } => drop(call(
            "PutRolePolicy",
            json!({"RoleName": role.role_name, "PolicyName": policy.policy_name, "PolicyDocument": document(&policy.policy_document)?}),
        )?),
        ListRolePolicies(r) => names(
            g,
            call("ListRolePolicies", json!({"RoleName": r.role_name}))?,
        ),
        AttachRolePolicy { role, policy_arn } => drop(call(
            "AttachRolePolicy",
            json!({"RoleName": role.role_name, "PolicyArn": policy_arn}),
        )?),
        DetachRolePolicy { role, policy_arn } => drop(call(
            "DetachRolePolicy",
            json!({"RoleName": role.role_name, "PolicyArn": policy_arn}),
        )?),
        ListAttachedRolePolicies(r) => attached(
            g,
            call("ListAttachedRolePolicies", json!({"RoleName": r.role_name}))?,
        ),
        CreatePolicy { policy } => output::value(&call(
            "CreatePolicy",
            json!({"PolicyName": policy.policy_name, "PolicyDocument": document(&policy.policy_document)?}),
        )?),
        ListPolicies => {
            let v = call("ListPolicies", json!({}))?;
            let rows = rows(&v["Policies"], |p| {
                vec![s(p, "PolicyName"), s(p, "Arn"), s(p, "Scope")]
            });
            output::listing(g.json, &v, &["PolicyName", "Arn", "Scope"], rows);
        }
        GetPolicy { policy_arn } => {
            output::value(&call("GetPolicy", json!({"PolicyArn": policy_arn}))?)
        }
        SimulatePrincipalPolicy {
            policy_source_arn,
            action_names,
            resource_arns,
            context_entries,
        } => {
            let ctx = context_entries
                .iter()
                .map(|e| context_entry(e))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let v = call(
                "SimulatePrincipalPolicy",
                json!({"PolicySourceArn": policy_source_arn, "ActionNames": action_names, "ResourceArns": resource_arns, "ContextEntries": ctx}),
            )?;
            let rows = rows(&v["EvaluationResults"], |r| {
                let matched: Vec<String> = r["MatchedStatements"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .map(|st| {
                                let sid = st["Sid"]
                                    .as_str()
                                    .map(|x| format!(" ({x})"))
                                    .unwrap_or_default();
                                format!(
                                    "{} Statement[{}]{sid}",
                                    s(st, "SourcePolicyId"),
                                    s(st, "StatementIndex")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                vec![
                    s(r, "EvalActionName"),
                    s(r, "EvalResourceName"),
                    s(r, "EvalDecision"),
                    matched.join("\n"),
                ]
            });
            output::listing(
                g.json,
                &v,
                &["Action", "Resource", "Decision", "MatchedStatements"],
                rows,
            );
        }
    }
    Ok(0)
}

fn rows(list: &Value, f: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array()
        .map(|a| a.iter().map(f).collect())
        .unwrap_or_default()
}

fn names(g: &Global, v: Value) {
    let rows = rows(&v["PolicyNames"], |n| {
        vec![n.as_str().unwrap_or_default().to_owned()]
    });
    output::listing(g.json, &v, &["PolicyName"], rows);
}

fn attached(g: &Global, v: Value) {
    let rows = rows(&v["AttachedPolicies"], |p| {
        vec![s(p, "PolicyName"), s(p, "PolicyArn")]
    });
    output::listing(g.json, &v, &["PolicyName", "PolicyArn"], rows);
}

fn save_profile_for(g: &Global, name: &str, key: &Value) -> anyhow::Result<()> {
    use airlock_proto::profile::{ClientFiles, Profile};
    let files = ClientFiles::locate()?;
    let current = files.load(&g.profile)?;
    files.save(&Profile {
        name: name.to_owned(),
        endpoint: g.endpoint.clone().or(current.endpoint),
        ca_bundle: current.ca_bundle,
        access_key_id: Some(s(key, "AccessKeyId")),
        private_key: Some(s(key, "PrivateKey")),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_tags_and_context_entries_parse_like_the_aws_cli() {
        assert_eq!(
            tags(&["Key=SSMSessionRunAs,Value=alice".into()]).unwrap(),
            json!([{"Key": "SSMSessionRunAs", "Value": "alice"}])
        );
        assert!(tags(&["Value=x".into()]).is_err());
        assert_eq!(
            context_entry(
                "ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,10.0.0.2,ContextKeyType=ip"
            )
            .unwrap(),
            json!({"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"], "ContextKeyType": "ip"})
        );
    }
}
