//! Launching one node: an `i-` instance id, a client certificate bound to
//! it (the key is made here and handed only to the machine), its row with
//! ParallelCluster's tags, then the provider's launch.

use airlock_cluster::provider::{AgentIdentity, Instance, LaunchSpec, NodeRole};
use rusqlite::params;

use super::ClusterError;
use super::store::ClusterRow;
use crate::http::AppState;
use crate::iam::ids;
use crate::iam::store::now_iso;
use crate::instances::store::{CLUSTER_TAG, NODE_TYPE_TAG};

pub fn head_role(cluster: &str) -> String {
    format!("airlock-{cluster}-HeadNodeRole")
}
pub fn compute_role(cluster: &str) -> String {
    format!("airlock-{cluster}-ComputeRole")
}

/// EC2's instance id form: `i-` and 17 hex digits.
pub fn instance_id() -> String {
    format!("i-{}", &ids::random_hex(9)[..17])
}

/// What a node is launched as.
pub struct NodeRequest<'a> {
    pub name: &'a str,
    pub role: NodeRole,
    pub queue: Option<&'a str>,
    pub spot: bool,
    pub config_tags: &'a [(String, String)],
}

/// Launches a node of `c` through the provider; on failure nothing of it
/// is left (its record and identity are forgotten).
pub fn launch_node(
    st: &AppState,
    c: &ClusterRow,
    r: &NodeRequest<'_>,
) -> Result<Instance, ClusterError> {
    let id = instance_id();
    let key = rcgen::KeyPair::generate().map_err(ClusterError::fault)?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(ClusterError::fault)?;
    let (cert, fp) = st
        .pki
        .issue_node_cert(&id, &csr)
        .map_err(ClusterError::fault)?;
    let (role_name, node_type) = match r.role {
        NodeRole::HeadNode => (head_role(&c.cluster_name), "HeadNode"),
        NodeRole::Compute => (compute_role(&c.cluster_name), "Compute"),
    };
    let mut tags: serde_json::Map<String, serde_json::Value> = r
        .config_tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    tags.insert("Name".into(), node_type.into());
    tags.insert(CLUSTER_TAG.into(), c.cluster_name.clone().into());
    tags.insert(NODE_TYPE_TAG.into(), node_type.into());
    if let Some(q) = r.queue {
        tags.insert("parallelcluster:queue-name".into(), q.into());
    }
    tags.insert(
        "airlock:instance-lifecycle".into(),
        if r.spot { "spot" } else { "on-demand" }.into(),
    );
    crate::db::checkout(&st.db)?.execute(
        "INSERT INTO instances(instance_id, resource_type, role_name, cert_sha256, name, registered_at, tags) VALUES (?1, 'EC2Instance', ?2, ?3, ?4, ?5, ?6)",
        params![id, role_name, fp, r.name, now_iso(), serde_json::Value::Object(tags).to_string()],
    )?;
    let identity_json = serde_json::json!({
        "InstanceId": id,
        "Endpoint": format!("https://airlock-server:{}", st.clusters.agent_port),
    })
    .to_string();
    let launched = st.clusters.provider().launch(&LaunchSpec {
        cluster: &c.cluster_name,
        instance_id: &id,
        name: r.name,
        role: r.role,
        identity: AgentIdentity {
            identity_json: &identity_json,
            key_pem: &key.serialize_pem(),
            cert_pem: &cert,
            ca_pem: &st.pki.ca_cert_pem,
        },
    });
    match launched {
        Ok(instance) => {
            crate::db::checkout(&st.db)?.execute(
                "UPDATE instances SET ip_address = ?2 WHERE instance_id = ?1",
                params![id, instance.private_ip],
            )?;
            Ok(instance)
        }
        Err(e) => {
            forget(st, &id);
            Err(e.into())
        }
    }
}

/// Forgets an instance's record: its certificate stops working.
fn forget(st: &AppState, instance_id: &str) {
    let r = crate::db::checkout(&st.db)
        .and_then(|conn| Ok(crate::instances::store::deregister(&conn, instance_id)?));
    if let Err(e) = r {
        tracing::warn!(instance = %instance_id, error = %e.message, "cannot forget the instance");
    }
}

/// Terminates a node and forgets its identity.
pub fn terminate_node(st: &AppState, cluster: &str, instance_id: &str) -> Result<(), ClusterError> {
    let result = st.clusters.provider().terminate(cluster, instance_id);
    forget(st, instance_id);
    Ok(result?)
}
