//! Launching one node: an `i-` instance id, a client certificate bound to
//! it (the key is made here and written only into the node), its row with
//! ParallelCluster's tags, then the provider's namespaces.

use airlock_cluster::local::node::{self, AgentIdentity, Launch, NodeRecord, NodeRole};
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

/// Launches a node of `c`; on failure nothing of it is left.
pub fn launch_node(
    st: &AppState,
    c: &ClusterRow,
    r: &NodeRequest<'_>,
) -> Result<NodeRecord, ClusterError> {
    let net_index = c
        .net_index
        .ok_or_else(|| ClusterError::Internal("the cluster has no network".into()))?;
    let layout = st.clusters.layout(&c.cluster_name);
    let net = layout
        .read_network()
        .filter(|n| n.index == net_index)
        .ok_or_else(|| ClusterError::Internal("the cluster's network.json is missing".into()))?;
    let lock = st.clusters.lock(&c.cluster_name);
    let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
    let host_n = match r.role {
        NodeRole::HeadNode => 2,
        NodeRole::Compute => {
            let used: Vec<u8> = node::list(&layout).iter().map(|n| n.host_n).collect();
            (3..=254u8)
                .find(|n| !used.contains(n))
                .ok_or(ClusterError::NoFreeAddress)?
        }
    };
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
    let launched = node::launch(&Launch {
        layout: &layout,
        net: &net,
        instance_id: &id,
        name: r.name,
        role: r.role,
        host_n,
        agent_port: st.clusters.agent_port,
        exe: &st.clusters.exe,
        identity: AgentIdentity {
            identity_json: &identity_json,
            key_pem: &key.serialize_pem(),
            cert_pem: &cert,
            ca_pem: &st.pki.ca_cert_pem,
        },
    });
    match launched {
        Ok(rec) => {
            refresh_hosts(&layout, &net);
            crate::db::checkout(&st.db)?.execute(
                "UPDATE instances SET ip_address = ?2 WHERE instance_id = ?1",
                params![id, rec.ip],
            )?;
            Ok(rec)
        }
        Err(e) => {
            let _ = node::remove_tree(&layout.node(&id));
            let _ = crate::db::checkout(&st.db)
                .and_then(|conn| Ok(crate::instances::store::deregister(&conn, &id)?));
            Err(e.into())
        }
    }
}

/// Terminates a node and forgets its identity (its certificate stops working).
pub fn terminate_node(st: &AppState, cluster: &str, rec: &NodeRecord) -> Result<(), ClusterError> {
    let layout = st.clusters.layout(cluster);
    let lock = st.clusters.lock(cluster);
    let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
    let result = node::terminate(&layout, rec);
    if let Some(net) = layout.read_network() {
        refresh_hosts(&layout, &net);
    }
    let _ = crate::db::checkout(&st.db).and_then(|conn| {
        Ok(crate::instances::store::deregister(
            &conn,
            &rec.instance_id,
        )?)
    });
    Ok(result?)
}

/// Rewrites the cluster's /etc/hosts from the nodes now recorded.
fn refresh_hosts(
    layout: &airlock_cluster::local::ClusterLayout,
    net: &airlock_cluster::local::NetworkPlan,
) {
    let nodes = node::list(layout);
    let pairs: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.ip.as_str()))
        .collect();
    if let Err(e) = airlock_cluster::local::etc::write_hosts(layout, net, &pairs) {
        tracing::warn!(error = %e, "cannot update the cluster's /etc/hosts");
    }
}
