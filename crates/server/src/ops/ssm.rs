//! `ssm:*` operations on managed instances and hybrid activations.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, NoInput, Operation, Resource};
use crate::api_error::{ApiError, ErrorCode};
use crate::iam::store::Iam;
use crate::iam::tag_context::{self, TagContext};
use crate::instances::store;
use crate::op;
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

fn activation_arn(ctx: &Ctx<'_>, id: &str) -> Result<String, ApiError> {
    let account = crate::iam::store::account_id(ctx.conn)?;
    Ok(format!(
        "arn:aws:ssm:{}:{account}:activation/{id}",
        ctx.state.region
    ))
}

fn activations(ctx: &Ctx<'_>, _: &NoInput) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(activation_arn(ctx, "*")?)])
}

fn activation_id(i: &IdIn) -> Result<&str, ApiError> {
    i.activation_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("ActivationId is required"))
}

fn instance_id(i: &IdIn) -> Result<&str, ApiError> {
    i.instance_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("InstanceId is required"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetIn {
    target: String,
    /// The instance the decision was made on (None: the target names none).
    #[serde(skip)]
    decided_on: std::cell::OnceCell<Option<store::InstanceIdentity>>,
}

/// GetConnectionStatus acts on the target instance, with its tags; a
/// target that names no instance is decided on `*` (and is `notconnected`,
/// as AWS answers for an unknown node), so a caller learns nothing of
/// nodes its policy does not cover.
fn connection_target(ctx: &Ctx<'_>, i: &TargetIn) -> Result<Vec<Resource>, ApiError> {
    let target = match store::resolve_target(ctx.conn, &i.target) {
        Ok(t) => t,
        Err(crate::instances::error::InstanceError::UnknownTarget(_)) => {
            let _ = i.decided_on.set(None);
            return Ok(vec![Resource::any()]);
        }
        Err(e) => return Err(e.into()),
    };
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = crate::instances::control::instance_arn(&ctx.state.region, &account, &target);
    let tags = TagContext::resource(&store::tags(ctx.conn, &target.instance_id)?);
    let _ = i.decided_on.set(Some(target));
    Ok(vec![Resource::tagged(arn, tags)])
}

/// `{"Target": …, "Status": "connected"|"notconnected"}`: connected while
/// the node's agent holds its control channel.
fn connection_status(a: &Allowed<'_, '_>, i: TargetIn) -> Result<Value, ApiError> {
    let decided = i
        .decided_on
        .get()
        .ok_or_else(|| ApiError::internal("GetConnectionStatus ran without its decision"))?;
    let online = decided
        .as_ref()
        .is_some_and(|t| a.state.hub.is_online(&t.instance_id));
    Ok(json!({
        "Target": i.target,
        "Status": if online { "connected" } else { "notconnected" },
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn {
    resource_type: String,
    resource_id: String,
    #[serde(default)]
    tags: Vec<crate::iam::store::Tag>,
    #[serde(default)]
    tag_keys: Vec<String>,
    /// The instance and its tags as the decision saw them.
    #[serde(skip)]
    decided_on: std::cell::OnceCell<(String, Vec<(String, String)>)>,
}

impl TagIn {
    fn add(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum TagWrite {
    Add,
    Remove,
    List,
}

/// The instance a tag request names, with its tags and the request's as
/// condition keys; checks the write against AWS's tag rules first.
fn tagged_instance(ctx: &Ctx<'_>, i: &TagIn, write: TagWrite) -> Result<Vec<Resource>, ApiError> {
    if i.resource_type != "ManagedInstance" {
        return Err(ApiError::validation("ResourceType must be ManagedInstance"));
    }
    let target = store::resolve_target(ctx.conn, &i.resource_id)?;
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = crate::instances::control::instance_arn(&ctx.state.region, &account, &target);
    let existing = store::tags(ctx.conn, &target.instance_id)?;
    let context = TagContext::resource(&existing);
    let context = match write {
        TagWrite::Add => {
            let add = i.add();
            tag_context::check_write(&existing, &add)?;
            context.request_tags(&add)
        }
        TagWrite::Remove => {
            i.tag_keys
                .iter()
                .try_for_each(|k| tag_context::check_key(k))?;
            context.tag_keys(i.tag_keys.iter().cloned())
        }
        TagWrite::List => context,
    };
    let _ = i.decided_on.set((target.instance_id, existing));
    Ok(vec![Resource::tagged(arn, context)])
}

/// Writes the tags (only if they are still those the decision saw) and
/// lists them.
fn write_tags(ctx: &Allowed<'_, '_>, i: TagIn, write: TagWrite) -> Result<Value, ApiError> {
    let (instance, existing) = i
        .decided_on
        .get()
        .ok_or_else(|| ApiError::internal("a tag request ran without its decision"))?;
    let add = i.add();
    let (add, remove): (&[(String, String)], &[String]) = match write {
        TagWrite::Add => (&add, &[]),
        TagWrite::Remove => (&[], &i.tag_keys),
        TagWrite::List => (&[], &[]),
    };
    if !add.is_empty() || !remove.is_empty() {
        crate::db::immediate(ctx.conn, || {
            if store::tags(ctx.conn, instance)? != *existing {
                return Err(ApiError::new(
                    ErrorCode::TooManyUpdates,
                    "The instance's tags changed while this request was decided; retry it.",
                ));
            }
            Ok(store::set_tags(ctx.conn, instance, add, remove)?)
        })?;
    }
    let list: Vec<Value> = store::tags(ctx.conn, instance)?
        .into_iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({ "TagList": list }))
}

pub const OPERATIONS: &[Operation] = &[
    // Hybrid activations; creating one hands its role to the nodes.
    op!(
        "ssm",
        "CreateActivation",
        "ssm:CreateActivation",
        |ctx, i: &CreateActivationIn| {
            let role = Iam::new(ctx.conn)?.get_role(&i.iam_role)?;
            Ok(vec![
                Resource::arn(activation_arn(ctx, "*")?),
                Resource::arn(role.arn).for_action("iam:PassRole"),
            ])
        },
        |a, i| {
            let (act, code) = store::create_activation(
                a.conn,
                &i.iam_role,
                &i.description,
                i.default_instance_name.as_deref(),
                i.registration_limit,
                i.expires_in_seconds,
            )?;
            Ok(json!({ "ActivationId": act.activation_id, "ActivationCode": code }))
        }
    ),
    op!(
        "ssm",
        "DescribeActivations",
        "ssm:DescribeActivations",
        activations,
        |a, _| Ok(json!({ "ActivationList": store::list_activations(a.conn)? }))
    ),
    op!(
        "ssm",
        "DeleteActivation",
        "ssm:DeleteActivation",
        |ctx, i: &IdIn| Ok(vec![Resource::arn(activation_arn(ctx, activation_id(i)?)?)]),
        |a, i| {
            store::delete_activation(a.conn, activation_id(&i)?)?;
            Ok(json!({}))
        }
    ),
    // Managed instances.
    op!(
        "ssm",
        "DescribeInstanceInformation",
        "ssm:DescribeInstanceInformation",
        |_, _: &NoInput| Ok(vec![Resource::any()]),
        |a, _| {
            let mut list = store::describe_instances(a.conn)?;
            for i in &mut list {
                if let Some(at) = a.state.hub.pending_ping(&i.instance_id) {
                    i.last_ping_date_time = Some(at);
                }
            }
            Ok(json!({ "InstanceInformationList": list }))
        }
    ),
    op!(
        "ssm",
        "GetConnectionStatus",
        "ssm:GetConnectionStatus",
        connection_target,
        connection_status
    ),
    op!(
        "ssm",
        "DeregisterManagedInstance",
        "ssm:DeregisterManagedInstance",
        |ctx, i: &IdIn| {
            let account = crate::iam::store::account_id(ctx.conn)?;
            Ok(vec![Resource::arn(format!(
                "arn:aws:ssm:{}:{account}:managed-instance/{}",
                ctx.state.region,
                instance_id(i)?
            ))])
        },
        |a, i| {
            let id = instance_id(&i)?;
            store::deregister(a.conn, id)?;
            disconnect(a, id)?;
            Ok(json!({}))
        }
    ),
    // Tags on managed instances.
    op!(
        "ssm",
        "AddTagsToResource",
        "ssm:AddTagsToResource",
        |ctx, i: &TagIn| tagged_instance(ctx, i, TagWrite::Add),
        |a, i| write_tags(a, i, TagWrite::Add)
    ),
    op!(
        "ssm",
        "RemoveTagsFromResource",
        "ssm:RemoveTagsFromResource",
        |ctx, i: &TagIn| tagged_instance(ctx, i, TagWrite::Remove),
        |a, i| write_tags(a, i, TagWrite::Remove)
    ),
    op!(
        "ssm",
        "ListTagsForResource",
        "ssm:ListTagsForResource",
        |ctx, i: &TagIn| tagged_instance(ctx, i, TagWrite::List),
        |a, i| write_tags(a, i, TagWrite::List)
    ),
];

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
