//! Launching one node: an `i-` instance id, its row with ParallelCluster's
//! tags, a single-use join token and the user data that carries it, then
//! the provider's launch. The machine makes its own key and joins.

use airlock_cluster::provider::{Instance, LaunchSpec, NodeRole};
use rusqlite::params;

use super::ClusterError;
use super::store::ClusterRow;
use crate::http::AppState;
use crate::iam::ids;
use crate::instances::store::{CLUSTER_TAG, NODE_TYPE_TAG};

pub fn head_role(cluster: &str) -> String {
    format!("airlock-{cluster}-HeadNodeRole")
}
pub fn compute_role(cluster: &str) -> String {
    format!("airlock-{cluster}-ComputeRole")
}

/// How long a new machine has to join with its token.
const JOIN_TTL_SECS: i64 = 600;

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
    // The machine joins by itself: its row waits for the certificate its
    // agent will ask for with the single-use token in its user data.
    let binary_sha256 = crate::instances::binary::sha256(&st.clusters.exe)
        .map_err(|e| ClusterError::Internal(format!("cannot read the node binary: {e}")))?;
    let prepared = crate::instances::join::prepare(
        &*crate::db::checkout(&st.db)?,
        &crate::instances::join::Prepare {
            instance_id: &id,
            role_name: &role_name,
            name: Some(r.name),
            tags: &tags,
            ttl_secs: JOIN_TTL_SECS,
            endpoint: &st.clusters.node_url(),
            ca_pem: &st.pki.ca_cert_pem,
            binary_sha256: &binary_sha256,
        },
    )
    .map_err(|e| ClusterError::Api(e.into()))?;
    let launched = st.clusters.provider().launch(&LaunchSpec {
        cluster: &c.cluster_name,
        instance_id: &id,
        name: r.name,
        role: r.role,
        user_data: &prepared.user_data,
    });
    match launched {
        Ok(instance) => {
            crate::db::checkout(&st.db)?.execute(
                "UPDATE instances SET ip_address = ?2 WHERE instance_id = ?1",
                params![id, instance.private_ip],
            )?;
            hosts_changed(st, &c.cluster_name);
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
    st.clusters.setup.forget(instance_id);
    hosts_changed(st, cluster);
    Ok(result?)
}

/// The cluster's nodes come and go: its running nodes are sent their
/// configuration again, in the background, for their `/etc/hosts`.
fn hosts_changed(st: &AppState, cluster: &str) {
    if let Some(shared) = st.shared() {
        let cluster = cluster.to_owned();
        std::thread::spawn(move || super::node_config::push_to_cluster(&shared, &cluster));
    }
}
