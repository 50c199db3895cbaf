//! The API the power-saving hooks call from the head node with its node
//! certificate: `POST /v1/node/RunInstances` and `TerminateInstances`.
//! Each is decided under the caller's role, like an instance profile:
//! only a head node role allows it, and only for its own cluster.

use std::net::SocketAddr;

use airlock_cluster::nodes::{groups, parse_node_name};
use airlock_cluster::provider::NodeRole;
use airlock_config::model::ComputeType;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::launch::{NodeRequest, launch_node, terminate_node};
use super::provision::{config_tags, model_of};
use super::{ClusterError, store};
use crate::api_error::ApiError;
use crate::db::checkout;
use crate::http::Shared;
use crate::http::tls::PeerCert;
use crate::iam::{authz, ids};
use crate::instances::store::{CLUSTER_TAG, identity_by_cert};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NodesIn {
    cluster_name: String,
    nodes: Vec<String>,
    /// Which of Slurm's hooks asks (`resume_fail` for ResumeFailProgram),
    /// for the stack event.
    #[serde(default)]
    program: Option<String>,
}

pub async fn call(
    State(state): State<Shared>,
    Extension(PeerCert(fp)): Extension<PeerCert>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(operation): Path<String>,
    body: Bytes,
) -> Response {
    let Some(fp) = fp else {
        return ApiError::unauthenticated("this API needs a node certificate").into_response();
    };
    let r = crate::http::blocking(move || Ok(handle(&state, &fp, peer, &operation, &body)?)).await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn handle(
    st: &Shared,
    fp: &str,
    peer: SocketAddr,
    operation: &str,
    body: &[u8],
) -> Result<Value, ClusterError> {
    let action = match operation {
        "RunInstances" => "ec2:RunInstances",
        "TerminateInstances" => "ec2:TerminateInstances",
        _ => return Err(crate::ops::unknown_operation("node", operation).into()),
    };
    let input: NodesIn = serde_json::from_slice(body)
        .map_err(|e| ClusterError::Invalid(format!("invalid request: {e}")))?;
    let ip = peer.ip().to_string();
    let c = {
        let conn = &*checkout(&st.db)?;
        let me = identity_by_cert(conn, fp)?
            .ok_or_else(|| ApiError::unauthenticated("this node certificate is not registered"))?;
        let account = crate::iam::store::account_id(conn)?;
        let arn = format!("arn:aws:ec2:{}:{account}:instance/*", st.region);
        let tag_key = format!("aws:ResourceTag/{CLUSTER_TAG}");
        let node = authz::NodeCaller {
            role_name: &me.role_name,
            instance_id: &me.instance_id,
            source_ip: Some(&ip),
        };
        authz::authorize_role(
            conn,
            &ids::random_hex(16),
            &node,
            action,
            &arn,
            &[(&tag_key, &input.cluster_name)],
        )?;
        store::require(conn, &input.cluster_name)?
    };
    let m = model_of(&c)?;
    let running = st.clusters.provider().describe(&c.cluster_name);
    let mut instances = Vec::new();
    let mut errors = Vec::new();
    for name in &input.nodes {
        let queue = parse_node_name(name).and_then(|(q, ..)| m.queues.iter().find(|x| x.name == q));
        let known = queue.is_some_and(|q| {
            q.compute_resources
                .iter()
                .any(|cr| groups(q, cr).iter().any(|g| g.names().any(|n| &n == name)))
        });
        if !known {
            errors.push(json!({"Name": name, "Code": "InvalidParameterValue", "Message": format!("{name} is not a node of cluster {}", c.cluster_name)}));
            continue;
        }
        let existing: Vec<_> = running
            .iter()
            .filter(|r| &r.name == name && r.role == NodeRole::Compute)
            .collect();
        if action == "ec2:TerminateInstances" {
            for r in existing {
                match terminate_node(st, &c.cluster_name, &r.instance_id) {
                    Ok(()) => {
                        let _ = checkout(&st.db).map(|conn| {
                            store::event(
                                &conn,
                                &c.cluster_name,
                                name,
                                "AWS::EC2::Instance",
                                "TERMINATED",
                                Some(&terminated_because(
                                    &r.instance_id,
                                    input.program.as_deref(),
                                    now_secs().saturating_sub(r.launched_at),
                                )),
                            )
                        });
                        instances.push(json!({"Name": name, "InstanceId": r.instance_id}));
                    }
                    Err(e) => errors.push(node_error(name, e)),
                }
            }
            continue;
        }
        // A resume of a node that is still running replaces it.
        for r in existing {
            let _ = terminate_node(st, &c.cluster_name, &r.instance_id);
        }
        let q = queue.ok_or_else(|| ClusterError::Internal("lost the queue".into()))?;
        let tags = config_tags(&m);
        match launch_node(
            st,
            &c,
            &NodeRequest {
                name,
                role: NodeRole::Compute,
                queue: Some(&q.name),
                spot: q.compute_type.value == ComputeType::Spot,
                config_tags: &tags,
            },
        ) {
            Ok(r) => {
                let _ = checkout(&st.db).map(|conn| {
                    store::event(
                        &conn,
                        &c.cluster_name,
                        name,
                        "AWS::EC2::Instance",
                        "LAUNCHED",
                        Some(&format!(
                            "{} at {} for ResumeProgram",
                            r.instance_id, r.private_ip
                        )),
                    )
                });
                instances.push(
                    json!({"Name": name, "InstanceId": r.instance_id, "PrivateIpAddress": r.private_ip}),
                );
            }
            Err(e) => errors.push(node_error(name, e)),
        }
    }
    Ok(json!({"Instances": instances, "Errors": errors}))
}

/// The event of a node terminated by one of Slurm's hooks. A node Slurm
/// gave up on is an orphan, counted as one: the hook says it is
/// ResumeFailProgram, and the server's own record agrees (the instance ran
/// for about ResumeTimeout; a resume starts the launch within seconds).
fn terminated_because(instance_id: &str, program: Option<&str>, age_secs: u64) -> String {
    let timed_out = age_secs + 10 >= u64::from(super::provision::resume_timeout());
    match program {
        Some("resume_fail") if timed_out => format!(
            "orphan {instance_id}: terminated by ResumeFailProgram (its slurmd did not register within ResumeTimeout)"
        ),
        Some("resume_fail") => format!("{instance_id} terminated by ResumeFailProgram"),
        _ => format!("{instance_id} terminated by SuspendProgram"),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One node's failure in the answer's `Errors`, as EC2 reports a partial
/// failure; a server fault is logged with its cause.
fn node_error(name: &str, e: ClusterError) -> Value {
    let e = ApiError::from(e);
    if let Some(cause) = &e.cause {
        tracing::warn!(node = name, error = %e.message, cause = %cause, "a node request failed");
    }
    json!({"Name": name, "Code": e.code, "Message": e.message})
}

#[cfg(test)]
mod tests {
    use super::terminated_because;

    #[test]
    fn an_orphan_is_what_the_hook_says_and_the_servers_record_bears_out() {
        // ResumeTimeout is 120 s without AIRLOCK_RESUME_TIMEOUT_SECS.
        let e = terminated_because("i-1", Some("resume_fail"), 115);
        assert!(
            e.starts_with("orphan i-1: terminated by ResumeFailProgram"),
            "{e}"
        );
        // An instance a minute old cannot have timed out: not counted.
        let e = terminated_because("i-1", Some("resume_fail"), 60);
        assert_eq!(e, "i-1 terminated by ResumeFailProgram");
        let e = terminated_because("i-1", Some("suspend"), 600);
        assert_eq!(e, "i-1 terminated by SuspendProgram");
    }
}
