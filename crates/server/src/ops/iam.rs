//! `iam:*` operations, with the AWS API's names and shapes.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, input, unknown_operation};
use crate::api_error::ApiError;
use crate::auth::signature::encode_private_key;
use crate::iam::authz;
use crate::iam::store::{Iam, PrincipalKind, Tag};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserIn {
    user_name: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIn {
    user_name: String,
    access_key_id: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InlineIn {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
    policy_name: String,
    #[serde(default)]
    policy_document: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttachIn {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrincipalIn {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleIn {
    role_name: String,
    assume_role_policy_document: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyIn {
    policy_name: String,
    policy_document: String,
}

fn principal(
    user: Option<String>,
    role: Option<String>,
) -> Result<(PrincipalKind, String), ApiError> {
    match (user, role) {
        (Some(u), None) => Ok((PrincipalKind::User, u)),
        (None, Some(r)) => Ok((PrincipalKind::Role, r)),
        _ => Err(ApiError::validation(
            "give exactly one of UserName or RoleName",
        )),
    }
}

pub fn call(ctx: &Ctx<'_>, op: &str, body: &Value) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    let action = format!("iam:{op}");
    let user_arn = |n: &str| iam.user_arn(n, "/");
    let role_arn = |n: &str| iam.role_arn(n, "/");
    let target_arn = |k: PrincipalKind, n: &str| match k {
        PrincipalKind::User => user_arn(n),
        PrincipalKind::Role => role_arn(n),
    };
    match op {
        "CreateUser" => {
            let i: UserIn = input(body)?;
            ctx.authorize(&action, &user_arn(&i.user_name))?;
            Ok(json!({ "User": iam.create_user(&i.user_name, &i.tags)? }))
        }
        "GetUser" => {
            let i: PrincipalIn = input(body)?;
            let name = i.user_name.unwrap_or_else(|| ctx.caller.user_name.clone());
            ctx.authorize(&action, &user_arn(&name))?;
            Ok(json!({ "User": iam.get_user(&name)? }))
        }
        "ListUsers" => {
            ctx.authorize(&action, &user_arn("*"))?;
            Ok(json!({ "Users": iam.list_users()? }))
        }
        "DeleteUser" => {
            let i: UserIn = input(body)?;
            ctx.authorize(&action, &user_arn(&i.user_name))?;
            iam.delete_user(&i.user_name)?;
            Ok(json!({}))
        }
        "TagUser" => {
            let i: UserIn = input(body)?;
            ctx.authorize(&action, &user_arn(&i.user_name))?;
            iam.tag_user(&i.user_name, &i.tags)?;
            Ok(json!({}))
        }
        "CreateAccessKey" => {
            let i: PrincipalIn = input(body)?;
            let name = i.user_name.unwrap_or_else(|| ctx.caller.user_name.clone());
            ctx.authorize(&action, &user_arn(&name))?;
            let (meta, key) = iam.create_access_key(&name)?;
            let mut v =
                serde_json::to_value(meta).map_err(|e| ApiError::internal(e.to_string()))?;
            v["PrivateKey"] = Value::String(encode_private_key(&key));
            Ok(json!({ "AccessKey": v }))
        }
        "ListAccessKeys" => {
            let i: PrincipalIn = input(body)?;
            let name = i.user_name.unwrap_or_else(|| ctx.caller.user_name.clone());
            ctx.authorize(&action, &user_arn(&name))?;
            Ok(json!({ "AccessKeyMetadata": iam.list_access_keys(&name)? }))
        }
        "UpdateAccessKey" => {
            let i: KeyIn = input(body)?;
            ctx.authorize(&action, &user_arn(&i.user_name))?;
            let active = match i.status.as_deref() {
                Some("Active") => true,
                Some("Inactive") => false,
                _ => return Err(ApiError::validation("Status must be Active or Inactive")),
            };
            iam.update_access_key(&i.user_name, &i.access_key_id, active)?;
            Ok(json!({}))
        }
        "DeleteAccessKey" => {
            let i: KeyIn = input(body)?;
            ctx.authorize(&action, &user_arn(&i.user_name))?;
            iam.delete_access_key(&i.user_name, &i.access_key_id)?;
            Ok(json!({}))
        }
        "PutUserPolicy" | "PutRolePolicy" => {
            let i: InlineIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            let doc = i
                .policy_document
                .ok_or_else(|| ApiError::validation("PolicyDocument is required"))?;
            authz::check_document(&doc)?;
            iam.put_inline_policy(kind, &name, &i.policy_name, &doc)?;
            Ok(json!({}))
        }
        "GetUserPolicy" | "GetRolePolicy" => {
            let i: InlineIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            let doc = iam
                .inline_policies(kind, &name)?
                .into_iter()
                .find(|(n, _)| *n == i.policy_name)
                .map(|(_, d)| d)
                .ok_or_else(|| {
                    ApiError::no_such_entity(format!(
                        "The policy with name {} cannot be found.",
                        i.policy_name
                    ))
                })?;
            Ok(json!({ "PolicyName": i.policy_name, "PolicyDocument": doc }))
        }
        "DeleteUserPolicy" | "DeleteRolePolicy" => {
            let i: InlineIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            iam.delete_inline_policy(kind, &name, &i.policy_name)?;
            Ok(json!({}))
        }
        "ListUserPolicies" | "ListRolePolicies" => {
            let i: PrincipalIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            let names: Vec<String> = iam
                .inline_policies(kind, &name)?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            Ok(json!({ "PolicyNames": names }))
        }
        "AttachUserPolicy" | "AttachRolePolicy" | "DetachUserPolicy" | "DetachRolePolicy" => {
            let i: AttachIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            if op.starts_with("Attach") {
                iam.attach_policy(kind, &name, &i.policy_arn)?;
            } else {
                iam.detach_policy(kind, &name, &i.policy_arn)?;
            }
            Ok(json!({}))
        }
        "ListAttachedUserPolicies" | "ListAttachedRolePolicies" => {
            let i: PrincipalIn = input(body)?;
            let (kind, name) = principal(i.user_name, i.role_name)?;
            ctx.authorize(&action, &target_arn(kind, &name))?;
            let list: Vec<Value> = iam
                .attached_policies(kind, &name)?
                .into_iter()
                .map(|arn| {
                    let pname = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
                    json!({ "PolicyName": pname, "PolicyArn": arn })
                })
                .collect();
            Ok(json!({ "AttachedPolicies": list }))
        }
        "CreateRole" => {
            let i: RoleIn = input(body)?;
            ctx.authorize(&action, &role_arn(&i.role_name))?;
            authz::check_trust_document(&i.assume_role_policy_document)?;
            Ok(
                json!({ "Role": iam.create_role(&i.role_name, &i.assume_role_policy_document, &i.description, &i.tags)? }),
            )
        }
        "GetRole" | "DeleteRole" => {
            let i: PrincipalIn = input(body)?;
            let name = i
                .role_name
                .ok_or_else(|| ApiError::validation("RoleName is required"))?;
            ctx.authorize(&action, &role_arn(&name))?;
            if op == "DeleteRole" {
                iam.delete_role(&name)?;
                return Ok(json!({}));
            }
            Ok(json!({ "Role": iam.get_role(&name)? }))
        }
        "ListRoles" => {
            ctx.authorize(&action, &role_arn("*"))?;
            Ok(json!({ "Roles": iam.list_roles()? }))
        }
        "CreatePolicy" => {
            let i: PolicyIn = input(body)?;
            let arn = format!("arn:aws:iam::{}:policy/{}", iam.account, i.policy_name);
            ctx.authorize(&action, &arn)?;
            authz::check_document(&i.policy_document)?;
            let arn = iam.create_policy(&i.policy_name, &i.policy_document)?;
            Ok(json!({ "Policy": { "PolicyName": i.policy_name, "Arn": arn } }))
        }
        "ListPolicies" => {
            ctx.authorize(&action, "*")?;
            let mut list: Vec<Value> = authz::builtin_policy_arns()
                .into_iter()
                .map(|arn| json!({ "PolicyName": arn.rsplit('/').next().unwrap_or(&arn), "Arn": arn, "Scope": "AWS" }))
                .collect();
            for (name, arn) in iam.list_customer_policies()? {
                list.push(json!({ "PolicyName": name, "Arn": arn, "Scope": "Local" }));
            }
            Ok(json!({ "Policies": list }))
        }
        "GetPolicyVersion" | "GetPolicy" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct In {
                policy_arn: String,
            }
            let i: In = input(body)?;
            ctx.authorize(&action, &i.policy_arn)?;
            let doc = iam.managed_policy_document(&i.policy_arn)?.ok_or_else(|| {
                ApiError::no_such_entity(format!("Policy {} was not found.", i.policy_arn))
            })?;
            Ok(json!({ "Policy": { "Arn": i.policy_arn, "Document": doc } }))
        }
        "SimulatePrincipalPolicy" => authz::simulate(ctx, &iam, body),
        _ => Err(unknown_operation("iam", op)),
    }
}
