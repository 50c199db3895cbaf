//! `ssm:*` operations on managed instances and hybrid activations.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, input, unknown_operation};
use crate::api_error::{ApiError, ErrorCode};
use crate::iam::authz;
use crate::iam::store::Iam;
use crate::iam::tag_context::{self, TagContext};
use crate::instances::store;
use crate::sessions::store as sessions;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateActivationIn {
    iam_role: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    default_instance_name: Option<String>,
    #[serde(default = "one")]
    registration_limit: i64,
    /// Seconds until it expires; default 24 h (AWS's default).
    #[serde(default = "day")]
    expires_in_seconds: i64,
}

fn one() -> i64 {
    1
}
fn day() -> i64 {
    86_400
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdIn {
    #[serde(default)]
    activation_id: Option<String>,
    #[serde(default)]
    instance_id: Option<String>,
}

pub fn call(ctx: &Ctx<'_>, op: &str, body: &Value) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    let action = format!("ssm:{op}");
    let activation_arn = |id: &str| {
        format!(
            "arn:aws:ssm:{}:{}:activation/{id}",
            ctx.state.region, iam.account
        )
    };
    match op {
        "CreateActivation" => {
            let i: CreateActivationIn = input(body)?;
            ctx.authorize(&action, &activation_arn("*"))?;
            let role = iam.get_role(&i.iam_role)?;
            ctx.authorize("iam:PassRole", &role.arn)?;
            let (a, code) = store::create_activation(
                ctx.conn,
                &i.iam_role,
                &i.description,
                i.default_instance_name.as_deref(),
                i.registration_limit,
                i.expires_in_seconds,
            )?;
            Ok(json!({ "ActivationId": a.activation_id, "ActivationCode": code }))
        }
        "DescribeActivations" => {
            ctx.authorize(&action, &activation_arn("*"))?;
            Ok(json!({ "ActivationList": store::list_activations(ctx.conn)? }))
        }
        "DeleteActivation" => {
            let i: IdIn = input(body)?;
            let id = i
                .activation_id
                .ok_or_else(|| ApiError::validation("ActivationId is required"))?;
            ctx.authorize(&action, &activation_arn(&id))?;
            store::delete_activation(ctx.conn, &id)?;
            Ok(json!({}))
        }
        "DescribeInstanceInformation" => {
            ctx.authorize(&action, "*")?;
            let mut list = store::describe_instances(ctx.conn)?;
            for i in &mut list {
                if let Some(at) = ctx.state.hub.pending_ping(&i.instance_id) {
                    i.last_ping_date_time = Some(at);
                }
            }
            Ok(json!({ "InstanceInformationList": list }))
        }
        "DeregisterManagedInstance" => {
            let i: IdIn = input(body)?;
            let id = i
                .instance_id
                .ok_or_else(|| ApiError::validation("InstanceId is required"))?;
            ctx.authorize(
                &action,
                &format!(
                    "arn:aws:ssm:{}:{}:managed-instance/{id}",
                    ctx.state.region, iam.account
                ),
            )?;
            store::deregister(ctx.conn, &id)?;
            disconnect(ctx, &id)?;
            Ok(json!({}))
        }
        "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct TagIn {
                resource_type: String,
                resource_id: String,
                #[serde(default)]
                tags: Vec<crate::iam::store::Tag>,
                #[serde(default)]
                tag_keys: Vec<String>,
            }
            let i: TagIn = input(body)?;
            if i.resource_type != "ManagedInstance" {
                return Err(ApiError::validation("ResourceType must be ManagedInstance"));
            }
            let target = store::resolve_target(ctx.conn, &i.resource_id)?;
            let arn =
                crate::instances::control::instance_arn(&ctx.state.region, &iam.account, &target);
            let add: Vec<(String, String)> = i.tags.into_iter().map(|t| (t.key, t.value)).collect();
            let existing = store::tags(ctx.conn, &target.instance_id)?;
            let context = TagContext::resource(&existing);
            let context = match op {
                "AddTagsToResource" => {
                    tag_context::check_write(&existing, &add)?;
                    context.request_tags(&add)
                }
                "RemoveTagsFromResource" => {
                    i.tag_keys
                        .iter()
                        .try_for_each(|k| tag_context::check_key(k))?;
                    context.tag_keys(i.tag_keys.iter().cloned())
                }
                _ => context,
            };
            authz::authorize_tagged(ctx, &action, &arn, &context)?;
            let (add, remove): (&[(String, String)], &[String]) = match op {
                "AddTagsToResource" => (&add, &[]),
                "RemoveTagsFromResource" => (&[], &i.tag_keys),
                _ => (&[], &[]),
            };
            if !add.is_empty() || !remove.is_empty() {
                // The write must meet the tags the decision was made on.
                crate::db::immediate(ctx.conn, || {
                    if store::tags(ctx.conn, &target.instance_id)? != existing {
                        return Err(ApiError::new(
                            ErrorCode::TooManyUpdates,
                            "The instance's tags changed while this request was decided; retry it.",
                        ));
                    }
                    store::set_tags(ctx.conn, &target.instance_id, add, remove)
                })?;
            }
            let list: Vec<Value> = store::tags(ctx.conn, &target.instance_id)?
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({ "TagList": list }))
        }
        _ => Err(unknown_operation("ssm", op)),
    }
}

/// Ends a deregistered instance's sessions and closes its control channel:
/// its certificate no longer names an instance, so neither comes back.
fn disconnect(ctx: &Ctx<'_>, instance_id: &str) -> Result<(), ApiError> {
    let why = crate::sessions::lifecycle::deregistered();
    for s in sessions::list(ctx.conn, true)?
        .into_iter()
        .filter(|s| s.target == instance_id)
    {
        if crate::sessions::lifecycle::record_end(ctx.conn, &s.session_id, &why)? {
            ctx.state.broker.terminate(&s.session_id);
        }
    }
    if ctx.state.hub.disconnect(instance_id) {
        tracing::info!(instance = %instance_id, "control channel closed: the instance was deregistered");
    }
    Ok(())
}
