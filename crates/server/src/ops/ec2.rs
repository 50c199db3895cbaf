//! `ec2:*KeyPair*` and `ec2-instance-connect:SendSSHPublicKey`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, Operation, Resource};
use crate::api_error::{ApiError, ErrorCode};
use crate::clusters::{key_pairs, store};
use crate::iam::tag_context::TagContext;
use crate::instances::store::{CLUSTER_TAG, resolve_target, tags};
use crate::op;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIn {
    key_name: String,
    #[serde(default)]
    public_key_material: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PushIn {
    instance_id: String,
    #[serde(rename = "InstanceOSUser")]
    instance_os_user: String,
    #[serde(rename = "SSHPublicKey")]
    ssh_public_key: String,
    /// The instance the decision was made on, and its tags.
    #[serde(skip)]
    decided_on: std::cell::OnceCell<(String, Vec<(String, String)>)>,
}

/// How long a pushed key is accepted (EC2 Instance Connect's 60 s).
pub const PUSHED_KEY_SECS: i64 = 60;

fn key_arn(ctx: &Ctx<'_>, name: &str) -> Result<String, ApiError> {
    let account = crate::iam::store::account_id(ctx.conn)?;
    Ok(format!(
        "arn:aws:ec2:{}:{account}:key-pair/{name}",
        ctx.state.region
    ))
}

fn key_pair(ctx: &Ctx<'_>, i: &KeyIn) -> Result<Vec<Resource>, ApiError> {
    Ok(vec![Resource::arn(key_arn(ctx, &i.key_name)?)])
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeIn {
    #[serde(default)]
    key_names: Vec<String>,
}

pub const OPERATIONS: &[Operation] = &[
    op!(
        "ec2",
        "ImportKeyPair",
        "ec2:ImportKeyPair",
        key_pair,
        |a, i| {
            let material = i
                .public_key_material
                .ok_or_else(|| ApiError::validation("PublicKeyMaterial is required"))?;
            to_value(key_pairs::import(a.conn, &i.key_name, &material)?)
        }
    ),
    op!(
        "ec2",
        "CreateKeyPair",
        "ec2:CreateKeyPair",
        key_pair,
        |a, i| {
            let (info, private) = key_pairs::create(a.conn, &i.key_name)?;
            let mut v = to_value(info)?;
            v["KeyMaterial"] = json!(private);
            Ok(v)
        }
    ),
    op!(
        "ec2",
        "DescribeKeyPairs",
        "ec2:DescribeKeyPairs",
        |_, _: &DescribeIn| Ok(vec![Resource::any()]),
        |a, i| Ok(json!({ "KeyPairs": key_pairs::describe(a.conn, &i.key_names)? }))
    ),
    op!(
        "ec2",
        "DeleteKeyPair",
        "ec2:DeleteKeyPair",
        key_pair,
        |a, i| {
            key_pairs::delete(a.conn, &i.key_name)?;
            Ok(json!({ "Return": true }))
        }
    ),
    op!(
        "ec2-instance-connect",
        "SendSSHPublicKey",
        "ec2-instance-connect:SendSSHPublicKey",
        push_target,
        send_key
    ),
];

fn to_value(v: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal_because("encoding the answer", e))
}

/// The instance a key is pushed to, with its tags and the OS user as
/// condition keys.
fn push_target(ctx: &Ctx<'_>, i: &PushIn) -> Result<Vec<Resource>, ApiError> {
    let id = resolve_target(ctx.conn, &i.instance_id)?;
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = crate::instances::control::instance_arn(&ctx.state.region, &account, &id);
    let t = tags(ctx.conn, &id.instance_id)?;
    let context = TagContext::resource(&t).with("ec2:osuser", &i.instance_os_user);
    let _ = i.decided_on.set((id.instance_id, t));
    Ok(vec![Resource::tagged(arn, context)])
}

/// Installs a key for the instance's user that sshd accepts for 60 s
/// (`expiry-time=` in authorized_keys), replacing expired pushed keys.
fn send_key(ctx: &Allowed<'_, '_>, i: PushIn) -> Result<Value, ApiError> {
    let (instance_id, t) = i
        .decided_on
        .get()
        .ok_or_else(|| ApiError::internal("SendSSHPublicKey ran without its decision"))?;
    let cluster = t
        .iter()
        .find(|(k, _)| k == CLUSTER_TAG)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::validation(format!("{instance_id} is not a cluster node")))?;
    let c = store::require(ctx.conn, &cluster)?;
    if i.instance_os_user != c.cluster_user {
        return Err(ApiError::validation(format!(
            "InstanceOSUser must be the cluster user {}",
            c.cluster_user
        )));
    }
    let key = ssh_key::PublicKey::from_openssh(i.ssh_public_key.trim()).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidArgsException,
            format!("SSHPublicKey is not an OpenSSH public key: {e}"),
        )
    })?;
    let line = key
        .to_openssh()
        .map_err(|e| ApiError::internal_because("encoding the public key", e))?;
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(PUSHED_KEY_SECS);
    let stamp = expiry
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .map_err(|e| ApiError::internal_because("formatting the key's expiry", e))?;
    let path = ctx
        .state
        .clusters
        .layout(&cluster)
        .home()
        .join(&c.cluster_user)
        .join(".ssh/authorized_keys");
    let now = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .unwrap_or_default();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut kept: Vec<String> = old
        .lines()
        .filter(
            |l| match l.strip_prefix("expiry-time=\"").and_then(|r| r.get(..14)) {
                Some(ts) => ts > now.as_str(),
                None => true,
            },
        )
        .map(str::to_owned)
        .collect();
    kept.push(format!(
        "expiry-time=\"{stamp}Z\" {line} pushed-by-{}",
        ctx.caller.user_name
    ));
    std::fs::write(&path, kept.join("\n") + "\n")
        .map_err(|e| ApiError::internal_because(format!("cannot write {}", path.display()), e))?;
    Ok(json!({ "RequestId": ctx.request_id, "Success": true }))
}
