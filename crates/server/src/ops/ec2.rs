//! `ec2:*KeyPair*`, `ec2:DescribeInstanceAttribute` (an instance's user
//! data), `airlock:CreateJoinToken` (an instance that boots from user data and
//! joins on its own) and `ec2-instance-connect:SendSSHPublicKey`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, Operation, Resource};
use crate::api_error::{ApiError, ErrorCode};
use crate::clusters::{key_pairs, store};
use crate::iam::store::Iam;
use crate::iam::tag_context::TagContext;
use crate::instances::join;
use crate::instances::store::{CLUSTER_TAG, InstanceIdentity, resolve_target, tags};
use crate::instances::{AuthorizeKey, RequestError, ServerMessage};
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
/// How long SendSSHPublicKey waits for the node to confirm the key.
const PUSHED_KEY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeIn {
    instance_id: String,
    attribute: String,
}

/// The one attribute `DescribeInstanceAttribute` answers.
const USER_DATA: &str = "userData";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JoinIn {
    /// The instance to join; a new `i-` id when absent.
    #[serde(default)]
    instance_id: Option<String>,
    /// The role the instance is launched as.
    iam_role: String,
    #[serde(default)]
    name: Option<String>,
    /// The server as the machine reaches it; by default the endpoint this
    /// server announced (`server.endpoint`).
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default = "join_ttl")]
    expires_in_seconds: i64,
    /// The instance id decided on (the one given, or the one made).
    #[serde(skip)]
    decided_on: std::cell::OnceCell<String>,
}

fn join_ttl() -> i64 {
    join::DEFAULT_TTL_SECS
}

fn instance_resource(ctx: &Ctx<'_>, id: &InstanceIdentity) -> Result<Resource, ApiError> {
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = crate::instances::control::instance_arn(&ctx.state.region, &account, id);
    let t = tags(ctx.conn, &id.instance_id)?;
    Ok(Resource::tagged(arn, TagContext::resource(&t)))
}

/// The instance whose attribute is read, with its tags.
fn attribute_target(ctx: &Ctx<'_>, i: &AttributeIn) -> Result<Vec<Resource>, ApiError> {
    if i.attribute != USER_DATA {
        return Err(ApiError::new(
            ErrorCode::InvalidArgsException,
            format!(
                "Attribute {} is not supported: the one supported attribute is {USER_DATA}",
                i.attribute
            ),
        ));
    }
    let id = join::instance(ctx.conn, &i.instance_id)?;
    Ok(vec![instance_resource(ctx, &id)?])
}

/// The user data as EC2 shows it: base64 under `UserData.Value`, or an
/// empty `UserData` when the instance has none.
fn describe_attribute(a: &Allowed<'_, '_>, i: AttributeIn) -> Result<Value, ApiError> {
    use base64::Engine;
    let user_data = match join::user_data(a.conn, &i.instance_id)? {
        Some(text) => json!({ "Value": base64::engine::general_purpose::STANDARD.encode(text) }),
        None => json!({}),
    };
    Ok(json!({ "InstanceId": i.instance_id, "UserData": user_data }))
}

/// The instance a token is minted for (an existing row with its tags, or a
/// new id), and the role handed to it (`iam:PassRole`).
fn join_target(ctx: &Ctx<'_>, i: &JoinIn) -> Result<Vec<Resource>, ApiError> {
    let role = Iam::new(ctx.conn)?.get_role(&i.iam_role)?;
    let id = i.instance_id.clone().unwrap_or_else(join::ec2_instance_id);
    let instance = match join::instance(ctx.conn, &id) {
        Ok(existing) => instance_resource(ctx, &existing)?,
        Err(join::JoinError::NoSuchInstance(_)) => new_instance(ctx, &id)?,
        Err(e) => return Err(e.into()),
    };
    let _ = i.decided_on.set(id);
    Ok(vec![
        instance,
        Resource::arn(role.arn).for_action("iam:PassRole"),
    ])
}

fn new_instance(ctx: &Ctx<'_>, id: &str) -> Result<Resource, ApiError> {
    let account = crate::iam::store::account_id(ctx.conn)?;
    let identity = InstanceIdentity {
        instance_id: id.to_owned(),
        role_name: String::new(),
        resource_type: "EC2Instance".into(),
    };
    Ok(Resource::arn(crate::instances::control::instance_arn(
        &ctx.state.region,
        &account,
        &identity,
    )))
}

/// Creates the instance row if needed, mints its token and records its
/// user data; answers the id, the token (shown once), when it expires and
/// the user data.
fn create_join_token(a: &Allowed<'_, '_>, i: JoinIn) -> Result<Value, ApiError> {
    let instance_id = i
        .decided_on
        .get()
        .cloned()
        .ok_or_else(|| ApiError::internal("CreateJoinToken ran without its decision"))?;
    let endpoint = match i.endpoint.clone() {
        Some(e) => e,
        None => {
            let file =
                airlock_proto::state_dir::StateDir::new(a.state.state_dir.clone()).endpoint_file();
            std::fs::read_to_string(&file)
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "Endpoint is required: this server has announced none ({} is missing)",
                        file.display()
                    ))
                })?
        }
    };
    let digest = crate::instances::binary::sha256(&a.state.clusters.exe).map_err(|e| {
        ApiError::internal_because(
            "the agent binary is not available on this server",
            std::io::Error::new(e.kind(), format!("{}: {e}", a.state.clusters.exe.display())),
        )
    })?;
    let p = join::prepare(
        a.conn,
        &join::Prepare {
            instance_id: &instance_id,
            role_name: &i.iam_role,
            name: i.name.as_deref(),
            tags: &Default::default(),
            ttl_secs: i.expires_in_seconds,
            endpoint: &endpoint,
            ca_pem: &a.state.pki.ca_cert_pem,
            binary_sha256: &digest,
        },
    )?;
    Ok(json!({
        "InstanceId": instance_id,
        "JoinToken": p.minted.token,
        "ExpirationDate": p.minted.expiration_date(),
        "UserData": p.user_data,
    }))
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
        "ec2",
        "DescribeInstanceAttribute",
        "ec2:DescribeInstanceAttribute",
        attribute_target,
        describe_attribute
    ),
    op!(
        "ec2",
        "CreateJoinToken",
        "airlock:CreateJoinToken",
        join_target,
        create_join_token
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

/// Asks the instance's agent to accept a key for the cluster user for 60 s
/// (`expiry-time=` in its authorized_keys; the node drops expired pushed
/// keys). The node must be connected.
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
    let expiry = expiry
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .map_err(|e| ApiError::internal_because("formatting the key's expiry", e))?;
    // The node writes the key (and holds the request to a login user and
    // one key line); the server never writes into a node's files. Success
    // is what the node answers, not that the message left.
    let (user, by) = (i.instance_os_user.clone(), ctx.caller.user_name.clone());
    let reply = ctx
        .state
        .hub
        .request(
            instance_id,
            |id| {
                ServerMessage::AuthorizeKey(AuthorizeKey {
                    os_user: user,
                    public_key: line,
                    expiry,
                    pushed_by: by,
                    request_id: Some(id),
                })
            },
            PUSHED_KEY_TIMEOUT,
        )
        .map_err(|e| match e {
            RequestError::NotConnected(_) => ApiError::new(
                ErrorCode::TargetNotConnected,
                format!("{instance_id} is not connected."),
            ),
            e @ RequestError::Timeout(..) => ApiError::new(
                ErrorCode::TargetNotConnected,
                format!("{e}; the key may not be in place"),
            ),
        })?;
    if reply.exit_code != 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidArgsException,
            format!(
                "{instance_id} refused the key: {}",
                airlock_proto::node_config::printable_step(&reply.error)
            ),
        ));
    }
    Ok(json!({ "RequestId": ctx.request_id, "Success": true }))
}
