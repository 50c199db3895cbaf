//! What a cluster node is told to become, and how far it got: the
//! [`NodeConfig`] the server sends down a node's control channel when its
//! agent asks (who it is, `/etc/hosts`, the cluster user, the munge key and
//! `slurm.conf`, shared storage, daemons), the cluster's secrets that go in
//! it, and the node's reported steps, kept as stack events and as the
//! state the stack engine waits on.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use airlock_cluster::provider::Network;
use airlock_proto::node_config::{
    ClusterUser, Daemon, NodeConfig, NodeType, SharedStorage, StepStatus, printable_step,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::ClusterError;
use super::provision::{model_of, slurm_conf_for};
use super::store;
use crate::db::checkout;
use crate::http::AppState;
use crate::instances::store::{CLUSTER_TAG, NODE_TYPE_TAG};

/// The step a node reports, `Complete`, when its whole configuration is applied.
pub use airlock_proto::node_config::NODE_CONFIGURED;

/// Uid and gid of the cluster user, as on an EC2 image.
pub const CLUSTER_UID: u32 = 1000;

/// How far a node's configuration got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    InProgress(String),
    /// A configured node applying a new configuration (an update).
    Reapplying(String),
    Done,
    Failed(String),
}

/// The nodes' configuration states, for the stack engine to wait on.
#[derive(Default)]
pub struct SetupStates {
    states: Mutex<HashMap<String, Setup>>,
    changed: Condvar,
}

impl SetupStates {
    pub fn get(&self, instance_id: &str) -> Option<Setup> {
        self.states
            .lock()
            .ok()
            .and_then(|m| m.get(instance_id).cloned())
    }

    fn set(&self, instance_id: &str, s: Setup) {
        if let Ok(mut m) = self.states.lock() {
            m.insert(instance_id.to_owned(), s);
        }
        self.changed.notify_all();
    }

    /// Marks a configured node as applying a new configuration, so that
    /// [`SetupStates::wait`] waits for its next outcome.
    pub fn reapply(&self, instance_id: &str, what: &str) {
        self.set(instance_id, Setup::Reapplying(what.to_owned()));
    }

    pub fn forget(&self, instance_id: &str) {
        if let Ok(mut m) = self.states.lock() {
            m.remove(instance_id);
        }
    }

    /// Waits until the node is configured, or says why not: it failed, or
    /// `alive` says it is gone, or `timeout` passed.
    pub fn wait(
        &self,
        instance_id: &str,
        timeout: Duration,
        alive: impl Fn() -> bool,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let Ok(mut m) = self.states.lock() else {
            return Err(ClusterError::Internal(
                "the setup states are poisoned".into(),
            ));
        };
        loop {
            match m.get(instance_id) {
                Some(Setup::Done) => return Ok(()),
                Some(Setup::Failed(why)) => {
                    return Err(ClusterError::Internal(format!(
                        "{instance_id} failed to configure itself: {why}"
                    )));
                }
                _ => {}
            }
            if !alive() {
                return Err(ClusterError::Internal(format!(
                    "{instance_id} stopped before it configured itself"
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                let last = match m.get(instance_id) {
                    Some(Setup::InProgress(s) | Setup::Reapplying(s)) => format!("it was {s}"),
                    _ => "it never asked for its configuration".into(),
                };
                return Err(ClusterError::Internal(format!(
                    "{instance_id} did not configure itself within {timeout:?} ({last})"
                )));
            }
            let wait = (deadline - now).min(Duration::from_millis(500));
            m = match self.changed.wait_timeout(m, wait) {
                Ok((g, _)) => g,
                Err(_) => {
                    return Err(ClusterError::Internal(
                        "the setup states are poisoned".into(),
                    ));
                }
            };
        }
    }
}

/// A cluster node as its instance row describes it.
struct NodeRow {
    cluster: String,
    name: String,
    node_type: NodeType,
}

fn node_row(conn: &Connection, instance_id: &str) -> Result<Option<NodeRow>, ClusterError> {
    let row: Option<(Option<String>, String)> = conn
        .query_row(
            "SELECT name, tags FROM instances WHERE instance_id = ?1",
            params![instance_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((name, tags)) = row else {
        return Ok(None);
    };
    let tags: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&tags).unwrap_or_default();
    let tag = |k: &str| tags.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(cluster), Some(node_type), Some(name)) = (tag(CLUSTER_TAG), tag(NODE_TYPE_TAG), name)
    else {
        return Ok(None);
    };
    let node_type = match node_type.as_str() {
        "HeadNode" => NodeType::HeadNode,
        _ => NodeType::Compute,
    };
    Ok(Some(NodeRow {
        cluster,
        name,
        node_type,
    }))
}

/// The cluster's munge key (base64) and ssh host key, made on first use.
fn secrets(conn: &Connection, cluster: &str) -> Result<(String, String), ClusterError> {
    let get = || -> Result<Option<(String, String)>, ClusterError> {
        Ok(conn
            .query_row(
                "SELECT munge_key, ssh_host_key FROM cluster_secrets WHERE cluster = ?1",
                params![cluster],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    };
    if let Some(s) = get()? {
        return Ok(s);
    }
    use base64::Engine;
    use rand::RngCore;
    let mut key = vec![0u8; 1024];
    rand::thread_rng().fill_bytes(&mut key);
    let munge = base64::engine::general_purpose::STANDARD.encode(&key);
    let host = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
        .and_then(|k| k.to_openssh(ssh_key::LineEnding::LF).map(|t| t.to_string()))
        .map_err(|e| ClusterError::Internal(format!("making the cluster's host key: {e}")))?;
    conn.execute(
        "INSERT OR IGNORE INTO cluster_secrets(cluster, munge_key, ssh_host_key) VALUES (?1, ?2, ?3)",
        params![cluster, munge, host],
    )?;
    get()?.ok_or_else(|| ClusterError::Internal("the cluster's secrets vanished".into()))
}

/// `/etc/hosts` entries: the server, then every running node.
fn hosts(st: &AppState, cluster: &str, net: &Network) -> Vec<(String, String)> {
    let mut v = vec![(net.server_address.clone(), "airlock-server".to_owned())];
    if let Some(h) = &net.head_address {
        v.push((h.clone(), "head".to_owned()));
    }
    for i in st.clusters.provider().describe(cluster) {
        if i.is_running() && !v.iter().any(|(_, n)| *n == i.name) {
            v.push((i.private_ip, i.name));
        }
    }
    v
}

/// The configuration of `instance_id`, or `None` if it is no cluster's node.
pub fn build(st: &AppState, instance_id: &str) -> Result<Option<NodeConfig>, ClusterError> {
    let conn = checkout(&st.db)?;
    let Some(node) = node_row(&conn, instance_id)? else {
        return Ok(None);
    };
    let c = store::require(&conn, &node.cluster)?;
    let model = model_of(&c)?;
    let provider = st.clusters.provider();
    let net = provider.network(&node.cluster).ok_or_else(|| {
        ClusterError::Internal(format!("cluster {} has no network", c.cluster_name))
    })?;
    let head_ip = net
        .head_address
        .clone()
        .or_else(|| c.master_private_ip.clone())
        .ok_or_else(|| ClusterError::Internal("the head node's address is not known".into()))?;
    let keys = match &c.key_name {
        Some(k) => vec![super::key_pairs::public_key(&conn, k)?],
        None => Vec::new(),
    };
    let (munge_key, ssh_host_key) = secrets(&conn, &node.cluster)?;
    let daemons = match node.node_type {
        NodeType::HeadNode => vec![Daemon::Munged, Daemon::Slurmctld, Daemon::Sshd],
        NodeType::Compute => vec![Daemon::Munged, Daemon::Slurmd, Daemon::Sshd],
    };
    Ok(Some(NodeConfig {
        slurm_conf: slurm_conf_for(
            &model,
            &node.cluster,
            &head_ip,
            c.compute_fleet_status.partitions_inactive(),
        )?,
        hosts: hosts(st, &node.cluster, &net),
        storage: SharedStorage {
            dirs: vec!["/home".into(), "/shared".into()],
            source: provider.shared_storage(&net),
            export_to: net.cidr.clone(),
        },
        cluster_name: node.cluster,
        node_type: node.node_type,
        hostname: node.name,
        users: vec![ClusterUser {
            name: c.cluster_user.clone(),
            uid: CLUSTER_UID,
            gid: CLUSTER_UID,
            sudo: true,
            authorized_keys: keys,
        }],
        munge_key,
        ssh_host_key,
        daemons,
    }))
}

/// Records a step a node reported: its setup state, and a stack event
/// (every step of the head node while it is first configured; a compute
/// node's completion and any failure).
pub fn record_step(
    st: &AppState,
    instance_id: &str,
    step: &str,
    status: StepStatus,
    reason: Option<&str>,
) -> Result<(), ClusterError> {
    let step = printable_step(step);
    let reason = reason.map(printable_step);
    let before = st.clusters.setup.get(instance_id);
    let reapplying = matches!(before, Some(Setup::Reapplying(_)));
    let first_time = before != Some(Setup::Done) && !reapplying;
    let done = status == StepStatus::Complete && step == NODE_CONFIGURED;
    match status {
        StepStatus::Failed => st.clusters.setup.set(
            instance_id,
            Setup::Failed(format!(
                "{step}: {}",
                reason.as_deref().unwrap_or("no reason given")
            )),
        ),
        _ if done => st.clusters.setup.set(instance_id, Setup::Done),
        _ if first_time => st
            .clusters
            .setup
            .set(instance_id, Setup::InProgress(step.clone())),
        _ => {}
    }
    let conn = checkout(&st.db)?;
    let Some(node) = node_row(&conn, instance_id)? else {
        return Ok(());
    };
    let head = node.node_type == NodeType::HeadNode;
    // One event a step, as CloudFormation shows one per resource change:
    // its start (head node), its failure, and the end of the whole.
    let shown = match status {
        StepStatus::Failed => true,
        StepStatus::InProgress => first_time && head,
        StepStatus::Complete => first_time && done,
    };
    if !shown {
        return Ok(());
    }
    let logical = if head { "HeadNode" } else { node.name.as_str() };
    let stack_status = match status {
        StepStatus::InProgress => "CREATE_IN_PROGRESS",
        // The stack engine completes the HeadNode resource itself.
        StepStatus::Complete if head => "CREATE_IN_PROGRESS",
        StepStatus::Complete => "CREATE_COMPLETE",
        StepStatus::Failed if reapplying => "UPDATE_FAILED",
        StepStatus::Failed => "CREATE_FAILED",
    };
    let text = match (&reason, status) {
        (Some(r), StepStatus::Failed) => format!("{step} failed: {r}"),
        _ => step.clone(),
    };
    store::event(
        &conn,
        &node.cluster,
        logical,
        "AWS::EC2::Instance",
        stack_status,
        Some(&format!("{instance_id}: {text}")),
    )
}

/// Sends every online node of `cluster` its configuration again (its
/// `/etc/hosts` follows the nodes launched and terminated); each applies
/// only what changed. `except` is left out (one already sent).
pub fn push_to_cluster(st: &AppState, cluster: &str) {
    push_to_cluster_except(st, cluster, None)
}

pub fn push_to_cluster_except(st: &AppState, cluster: &str, except: Option<&str>) {
    for i in st.clusters.provider().describe(cluster) {
        if i.is_running() && Some(i.instance_id.as_str()) != except {
            push_to(st, &i.instance_id);
        }
    }
}

/// Sends one node its configuration; false if it is offline or no node.
pub fn push_to(st: &AppState, instance_id: &str) -> bool {
    if !st.hub.is_online(instance_id) {
        return false;
    }
    match build(st, instance_id) {
        Ok(Some(cfg)) => {
            st.hub.send(
                instance_id,
                airlock_proto::control::ServerMessage::NodeConfiguration {
                    configuration: Some(Box::new(cfg)),
                },
            );
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(instance = %instance_id, error = %e, "cannot build a node's configuration");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_ends_with_the_nodes_outcome() {
        let s = std::sync::Arc::new(SetupStates::default());
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s2.set("i-1", Setup::InProgress("starting munged".into()));
            s2.set("i-1", Setup::Done);
        });
        assert!(s.wait("i-1", Duration::from_secs(5), || true).is_ok());
        t.join().unwrap();
        s.set("i-2", Setup::Failed("starting slurmctld: no".into()));
        let e = s.wait("i-2", Duration::from_secs(5), || true).unwrap_err();
        assert!(e.to_string().contains("starting slurmctld: no"), "{e}");
        let e = s
            .wait("i-3", Duration::from_millis(30), || true)
            .unwrap_err();
        assert!(e.to_string().contains("never asked"), "{e}");
        let e = s.wait("i-3", Duration::from_secs(5), || false).unwrap_err();
        assert!(e.to_string().contains("stopped"), "{e}");
    }
}
