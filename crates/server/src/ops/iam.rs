//! `iam:*` operations, with the AWS API's names and shapes: one table row
//! per operation (`ops::Operation`), each naming the user, role or policy
//! it acts on.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, NoInput, Operation, Resource};
use crate::api_error::ApiError;
use crate::auth::signature::encode_private_key;
use crate::iam::authz;
use crate::iam::store::{Iam, PrincipalKind, Tag};
use crate::op;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPoliciesIn {
    #[serde(default)]
    scope: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyArnIn {
    policy_arn: String,
}

fn store<'c>(ctx: &Ctx<'c>) -> Result<Iam<'c>, ApiError> {
    Ok(Iam::new(ctx.conn)?)
}

fn user(ctx: &Ctx<'_>, name: &str) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(store(ctx)?.user_arn(name, "/"))])
}

fn role(ctx: &Ctx<'_>, name: &str) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(store(ctx)?.role_arn(name, "/"))])
}

/// The user named, or the caller (as the AWS CLI's default).
fn user_or_caller(ctx: &Ctx<'_>, i: &PrincipalIn) -> String {
    i.user_name
        .clone()
        .unwrap_or_else(|| ctx.caller.user_name.clone())
}

fn role_name(i: &PrincipalIn) -> Result<&str, ApiError> {
    i.role_name
        .as_deref()
        .ok_or_else(|| ApiError::validation("RoleName is required"))
}

/// The user or role of an inline or attached policy request.
fn principal_resource(
    ctx: &Ctx<'_>,
    user: &Option<String>,
    role: &Option<String>,
) -> Result<Vec<Resource>, ApiError> {
    let iam = store(ctx)?;
    Ok(vec![Resource::arn(
        match principal(user.clone(), role.clone())? {
            (PrincipalKind::User, n) => iam.user_arn(&n, "/"),
            (PrincipalKind::Role, n) => iam.role_arn(&n, "/"),
        },
    )])
}

fn done() -> Result<Value, ApiError> {
    Ok(json!({}))
}

fn inline_get(a: &Allowed<'_, '_>, i: InlineIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    let doc = store(a)?
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

fn inline_put(a: &Allowed<'_, '_>, i: InlineIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    let doc = i
        .policy_document
        .ok_or_else(|| ApiError::validation("PolicyDocument is required"))?;
    authz::check_document(&doc)?;
    store(a)?.put_inline_policy(kind, &name, &i.policy_name, &doc)?;
    done()
}

fn inline_delete(a: &Allowed<'_, '_>, i: InlineIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    store(a)?.delete_inline_policy(kind, &name, &i.policy_name)?;
    done()
}

fn inline_list(a: &Allowed<'_, '_>, i: PrincipalIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    let names: Vec<String> = store(a)?
        .inline_policies(kind, &name)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(json!({ "PolicyNames": names }))
}

fn attach(a: &Allowed<'_, '_>, i: AttachIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    store(a)?.attach_policy(kind, &name, &i.policy_arn)?;
    done()
}

fn detach(a: &Allowed<'_, '_>, i: AttachIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    store(a)?.detach_policy(kind, &name, &i.policy_arn)?;
    done()
}

fn attached_list(a: &Allowed<'_, '_>, i: PrincipalIn) -> Result<Value, ApiError> {
    let (kind, name) = principal(i.user_name, i.role_name)?;
    let list: Vec<Value> = store(a)?
        .attached_policies(kind, &name)?
        .into_iter()
        .map(|arn| {
            let pname = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
            json!({ "PolicyName": pname, "PolicyArn": arn })
        })
        .collect();
    Ok(json!({ "AttachedPolicies": list }))
}

fn inline_resource(ctx: &Ctx<'_>, i: &InlineIn) -> Result<Vec<Resource>, ApiError> {
    principal_resource(ctx, &i.user_name, &i.role_name)
}

fn attach_resource(ctx: &Ctx<'_>, i: &AttachIn) -> Result<Vec<Resource>, ApiError> {
    principal_resource(ctx, &i.user_name, &i.role_name)
}

fn principal_in_resource(ctx: &Ctx<'_>, i: &PrincipalIn) -> Result<Vec<Resource>, ApiError> {
    principal_resource(ctx, &i.user_name, &i.role_name)
}

fn managed_policy(a: &Allowed<'_, '_>, i: PolicyArnIn) -> Result<Value, ApiError> {
    let doc = store(a)?
        .managed_policy_document(&i.policy_arn)?
        .ok_or_else(|| {
            ApiError::no_such_entity(format!("Policy {} was not found.", i.policy_arn))
        })?;
    Ok(json!({ "Policy": { "Arn": i.policy_arn, "Document": doc } }))
}

fn policy_arn_resource(_: &Ctx<'_>, i: &PolicyArnIn) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(i.policy_arn.clone())])
}

pub const OPERATIONS: &[Operation] = &[
    // Users.
    op!(
        "iam",
        "CreateUser",
        "iam:CreateUser",
        |ctx, i: &UserIn| user(ctx, &i.user_name),
        |a, i| Ok(json!({ "User": store(a)?.create_user(&i.user_name, &i.tags)? }))
    ),
    op!(
        "iam",
        "GetUser",
        "iam:GetUser",
        |ctx, i: &PrincipalIn| user(ctx, &user_or_caller(ctx, i)),
        |a, i| Ok(json!({ "User": store(a)?.get_user(&user_or_caller(a, &i))? }))
    ),
    op!(
        "iam",
        "ListUsers",
        "iam:ListUsers",
        |ctx, _: &NoInput| user(ctx, "*"),
        |a, _| Ok(json!({ "Users": store(a)?.list_users()? }))
    ),
    op!(
        "iam",
        "DeleteUser",
        "iam:DeleteUser",
        |ctx, i: &UserIn| user(ctx, &i.user_name),
        |a, i| {
            store(a)?.delete_user(&i.user_name)?;
            done()
        }
    ),
    op!(
        "iam",
        "TagUser",
        "iam:TagUser",
        |ctx, i: &UserIn| user(ctx, &i.user_name),
        |a, i| {
            store(a)?.tag_user(&i.user_name, &i.tags)?;
            done()
        }
    ),
    // Access keys.
    op!(
        "iam",
        "CreateAccessKey",
        "iam:CreateAccessKey",
        |ctx, i: &PrincipalIn| user(ctx, &user_or_caller(ctx, i)),
        |a, i| {
            let (meta, key) = store(a)?.create_access_key(&user_or_caller(a, &i))?;
            let mut v = serde_json::to_value(meta)
                .map_err(|e| ApiError::internal_because("encoding the access key", e))?;
            v["PrivateKey"] = Value::String(encode_private_key(&key));
            Ok(json!({ "AccessKey": v }))
        }
    ),
    op!(
        "iam",
        "ListAccessKeys",
        "iam:ListAccessKeys",
        |ctx, i: &PrincipalIn| user(ctx, &user_or_caller(ctx, i)),
        |a, i| Ok(
            json!({ "AccessKeyMetadata": store(a)?.list_access_keys(&user_or_caller(a, &i))? })
        )
    ),
    op!(
        "iam",
        "UpdateAccessKey",
        "iam:UpdateAccessKey",
        |ctx, i: &KeyIn| user(ctx, &i.user_name),
        |a, i| {
            let active = match i.status.as_deref() {
                Some("Active") => true,
                Some("Inactive") => false,
                _ => return Err(ApiError::validation("Status must be Active or Inactive")),
            };
            store(a)?.update_access_key(&i.user_name, &i.access_key_id, active)?;
            done()
        }
    ),
    op!(
        "iam",
        "DeleteAccessKey",
        "iam:DeleteAccessKey",
        |ctx, i: &KeyIn| user(ctx, &i.user_name),
        |a, i| {
            store(a)?.delete_access_key(&i.user_name, &i.access_key_id)?;
            done()
        }
    ),
    // Inline policies of users and roles.
    op!(
        "iam",
        "PutUserPolicy",
        "iam:PutUserPolicy",
        inline_resource,
        inline_put
    ),
    op!(
        "iam",
        "PutRolePolicy",
        "iam:PutRolePolicy",
        inline_resource,
        inline_put
    ),
    op!(
        "iam",
        "GetUserPolicy",
        "iam:GetUserPolicy",
        inline_resource,
        inline_get
    ),
    op!(
        "iam",
        "GetRolePolicy",
        "iam:GetRolePolicy",
        inline_resource,
        inline_get
    ),
    op!(
        "iam",
        "DeleteUserPolicy",
        "iam:DeleteUserPolicy",
        inline_resource,
        inline_delete
    ),
    op!(
        "iam",
        "DeleteRolePolicy",
        "iam:DeleteRolePolicy",
        inline_resource,
        inline_delete
    ),
    op!(
        "iam",
        "ListUserPolicies",
        "iam:ListUserPolicies",
        principal_in_resource,
        inline_list
    ),
    op!(
        "iam",
        "ListRolePolicies",
        "iam:ListRolePolicies",
        principal_in_resource,
        inline_list
    ),
    // Managed policies attached to users and roles.
    op!(
        "iam",
        "AttachUserPolicy",
        "iam:AttachUserPolicy",
        attach_resource,
        attach
    ),
    op!(
        "iam",
        "AttachRolePolicy",
        "iam:AttachRolePolicy",
        attach_resource,
        attach
    ),
    op!(
        "iam",
        "DetachUserPolicy",
        "iam:DetachUserPolicy",
        attach_resource,
        detach
    ),
    op!(
        "iam",
        "DetachRolePolicy",
        "iam:DetachRolePolicy",
        attach_resource,
        detach
    ),
    op!(
        "iam",
        "ListAttachedUserPolicies",
        "iam:ListAttachedUserPolicies",
        principal_in_resource,
        attached_list
    ),
    op!(
        "iam",
        "ListAttachedRolePolicies",
        "iam:ListAttachedRolePolicies",
        principal_in_resource,
        attached_list
    ),
    // Roles.
    op!(
        "iam",
        "CreateRole",
        "iam:CreateRole",
        |ctx, i: &RoleIn| role(ctx, &i.role_name),
        |a, i| {
            authz::check_trust_document(&i.assume_role_policy_document)?;
            let r = store(a)?.create_role(
                &i.role_name,
                &i.assume_role_policy_document,
                &i.description,
                &i.tags,
            )?;
            Ok(json!({ "Role": r }))
        }
    ),
    op!(
        "iam",
        "GetRole",
        "iam:GetRole",
        |ctx, i: &PrincipalIn| role(ctx, role_name(i)?),
        |a, i| Ok(json!({ "Role": store(a)?.get_role(role_name(&i)?)? }))
    ),
    op!(
        "iam",
        "DeleteRole",
        "iam:DeleteRole",
        |ctx, i: &PrincipalIn| role(ctx, role_name(i)?),
        |a, i| {
            store(a)?.delete_role(role_name(&i)?)?;
            done()
        }
    ),
    op!(
        "iam",
        "ListRoles",
        "iam:ListRoles",
        |ctx, _: &NoInput| role(ctx, "*"),
        |a, _| Ok(json!({ "Roles": store(a)?.list_roles()? }))
    ),
    // Customer managed policies.
    op!(
        "iam",
        "CreatePolicy",
        "iam:CreatePolicy",
        |ctx, i: &PolicyIn| Ok(vec![Resource::arn(format!(
            "arn:aws:iam::{}:policy/{}",
            store(ctx)?.account,
            i.policy_name
        ))]),
        |a, i| {
            authz::check_document(&i.policy_document)?;
            let arn = store(a)?.create_policy(&i.policy_name, &i.policy_document)?;
            Ok(json!({ "Policy": { "PolicyName": i.policy_name, "Arn": arn } }))
        }
    ),
    op!(
        "iam",
        "ListPolicies",
        "iam:ListPolicies",
        |_, _: &ListPoliciesIn| Ok(vec![Resource::any()]),
        |a, i| {
            // IAM's Scope: All (the default), AWS or Local.
            let (aws, local) = match i.scope.as_deref().unwrap_or("All") {
                "All" => (true, true),
                "AWS" => (true, false),
                "Local" => (false, true),
                other => {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
                    )));
                }
            };
            let mut list: Vec<Value> = Vec::new();
            if aws {
                list.extend(airlock_policy::catalog::all().iter().map(|p| {
                    json!({ "PolicyName": p.name, "Arn": p.arn, "DefaultVersionId": p.default_version, "Scope": "AWS" })
                }));
            }
            if local {
                for (name, arn) in store(a)?.list_customer_policies()? {
                    list.push(json!({ "PolicyName": name, "Arn": arn, "Scope": "Local" }));
                }
            }
            Ok(json!({ "Policies": list }))
        }
    ),
    op!(
        "iam",
        "GetPolicy",
        "iam:GetPolicy",
        policy_arn_resource,
        managed_policy
    ),
    op!(
        "iam",
        "GetPolicyVersion",
        "iam:GetPolicyVersion",
        policy_arn_resource,
        managed_policy
    ),
    // What-if.
    op!(
        "iam",
        "SimulatePrincipalPolicy",
        "iam:SimulatePrincipalPolicy",
        |_, i: &authz::SimulateIn| Ok(vec![Resource::arn(i.policy_source_arn.clone())]),
        |a, i| authz::simulate(a, i)
    ),
];
