//! `ec2:*KeyPair*` and `ec2-instance-connect:SendSSHPublicKey`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, input, unknown_operation};
use crate::api_error::{ApiError, ErrorCode};
use crate::clusters::{key_pairs, store};
use crate::iam::tag_context::TagContext;
use crate::instances::store::{CLUSTER_TAG, resolve_target, tags};

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

pub fn call(ctx: &Ctx<'_>, service: &str, op: &str, body: &Value) -> Result<Value, ApiError> {
    match (service, op) {
        ("ec2", "ImportKeyPair") => {
            let i: KeyIn = input(body)?;
            ctx.authorize("ec2:ImportKeyPair", &key_arn(ctx, &i.key_name)?)?;
            let material = i
                .public_key_material
                .ok_or_else(|| ApiError::validation("PublicKeyMaterial is required"))?;
            Ok(
                serde_json::to_value(key_pairs::import(ctx.conn, &i.key_name, &material)?)
                    .unwrap_or_default(),
            )
        }
        ("ec2", "CreateKeyPair") => {
            let i: KeyIn = input(body)?;
            ctx.authorize("ec2:CreateKeyPair", &key_arn(ctx, &i.key_name)?)?;
            let (info, private) = key_pairs::create(ctx.conn, &i.key_name)?;
            let mut v = serde_json::to_value(info).unwrap_or_default();
            v["KeyMaterial"] = json!(private);
            Ok(v)
        }
        ("ec2", "DescribeKeyPairs") => {
            ctx.authorize("ec2:DescribeKeyPairs", "*")?;
            let names: Vec<String> =
                serde_json::from_value(body["KeyNames"].clone()).unwrap_or_default();
            Ok(json!({ "KeyPairs": key_pairs::describe(ctx.conn, &names)? }))
        }
        ("ec2", "DeleteKeyPair") => {
            let i: KeyIn = input(body)?;
            ctx.authorize("ec2:DeleteKeyPair", &key_arn(ctx, &i.key_name)?)?;
            key_pairs::delete(ctx.conn, &i.key_name)?;
            Ok(json!({ "Return": true }))
        }
        ("ec2-instance-connect", "SendSSHPublicKey") => send_key(ctx, body),
        _ => Err(unknown_operation(service, op)),
    }
}

/// Installs a key for the instance's user that sshd accepts for 60 s
/// (`expiry-time=` in authorized_keys), replacing expired pushed keys.
fn send_key(ctx: &Ctx<'_>, body: &Value) -> Result<Value, ApiError> {
    let i: PushIn = input(body)?;
    let id = resolve_target(ctx.conn, &i.instance_id)?;
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = crate::instances::control::instance_arn(&ctx.state.region, &account, &id);
    let t = tags(ctx.conn, &id.instance_id)?;
    let context = TagContext::resource(&t).with("ec2:osuser", &i.instance_os_user);
    crate::iam::authz::authorize_tagged(
        ctx,
        "ec2-instance-connect:SendSSHPublicKey",
        &arn,
        &context,
    )?;
    let cluster = t
        .iter()
        .find(|(k, _)| k == CLUSTER_TAG)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::validation(format!("{} is not a cluster node", id.instance_id)))?;
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
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(PUSHED_KEY_SECS);
    let stamp = expiry
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .map_err(|e| ApiError::internal(e.to_string()))?;
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
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))?;
    Ok(json!({ "RequestId": ctx.request_id, "Success": true }))
}
