//! The fleet manager, ParallelCluster's clustermgtd: a loop that compares
//! Slurm's node states with the provider's nodes and acts. It cleans up
//! nodes that died (setting them DOWN so Slurm requeues their jobs, then
//! powering them down), terminates orphans (running nodes Slurm considers
//! powered down, as after a ResumeTimeout), replaces missing static nodes,
//! and records each action as a stack event. What to do is decided by
//! `fleet_plan::plan` from what a pass observed; this module observes and
//! carries the actions out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_cluster::provider::NodeRole;
use airlock_cluster::slurm_state::parse_nodes;
use airlock_proto::control::SlurmProgram;

use super::fleet_plan::{self, Action, Event, ORPHAN_GRACE_SECS, Observation};
use super::launch::{NodeRequest, launch_node, terminate_node};
use super::node_config::push_to_cluster;
use super::provision::{config_tags, model_of};
use super::store::{self, ClusterRow};
use super::{ClusterError, ComputeFleetStatus};
use crate::db::checkout;
use crate::http::{AppState, Shared};

fn interval() -> Duration {
    std::env::var("AIRLOCK_FLEET_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(3))
}

/// Runs forever (a thread of the server).
pub fn run(st: Shared) {
    if st.clusters.provider().check().is_err() {
        return;
    }
    loop {
        std::thread::sleep(interval());
        let clusters = checkout(&st.db)
            .map_err(ClusterError::from)
            .and_then(|conn| store::list(&conn))
            .unwrap_or_default();
        for c in clusters.iter().filter(|c| c.stack_status.settled()) {
            if let Err(e) = reconcile(&st, c) {
                tracing::warn!(cluster = %c.cluster_name, error = %e, "fleet manager");
            }
        }
    }
}

/// Records the fleet manager's action on a node as a stack event.
fn event(st: &AppState, cluster: &str, node: &str, e: &Event) {
    let (status, reason) = (e.status, e.reason.as_str());
    tracing::info!(cluster, node, status, reason, "fleet manager");
    let _ = checkout(&st.db).map(|conn| {
        store::event(
            &conn,
            cluster,
            node,
            "AWS::EC2::Instance",
            status,
            Some(reason),
        )
    });
}

/// The cluster whose head node runs Slurm's commands (through its agent).
struct Head<'a> {
    st: &'a AppState,
    cluster: &'a str,
}

fn scontrol(head: &Head<'_>, args: &[&str]) -> Result<String, ClusterError> {
    super::head::slurm(head.st, head.cluster, SlurmProgram::Scontrol, args)
}

/// Whether the head's agent is connected: without it there is nothing to
/// observe (the pass waits; it does not act on a blind view).
fn head_online(st: &AppState, cluster: &str) -> bool {
    super::head::instance(st, cluster).is_some_and(|h| st.hub.is_online(&h))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One pass over one cluster, as ParallelCluster's clustermgtd does it:
/// observes, plans (`fleet_plan::plan`), and applies the actions in order,
/// each recorded as a stack event. The first failure ends the pass.
pub fn reconcile(st: &AppState, c: &ClusterRow) -> Result<(), ClusterError> {
    let cluster = c.cluster_name.as_str();
    if super::head::instance(st, cluster).is_none() || !head_online(st, cluster) {
        return Ok(());
    }
    let head = Head { st, cluster };
    let model = model_of(c);
    let fleet = start_or_stop(st, c, &head, model.as_ref().ok())?;
    let mut seen = observe(st, &head, model.as_ref().ok())?;
    seen.fleet_running = fleet == ComputeFleetStatus::Running;
    let tags = model.as_ref().map(config_tags).unwrap_or_default();
    for action in fleet_plan::plan(&seen) {
        apply(st, c, &head, &tags, &action)?;
    }
    if fleet == ComputeFleetStatus::Stopping && fleet_plan::fleet_is_stopped(&seen) {
        let conn = checkout(&st.db)?;
        store::set_fleet_status(
            &conn,
            cluster,
            ComputeFleetStatus::Stopped,
            "every compute node is powered down",
        )?;
    }
    // A configuration that no longer loads stopped the plan before the
    // static nodes' steps; the pass fails with why.
    model.map(drop)
}

/// `airlock stop|start` (pcluster's `update-compute-fleet`): a requested
/// stop sets every partition INACTIVE (at once, and in `slurm.conf` for
/// restarts); the fleet is then STOPPING until every node is powered
/// down. A requested start sets the partitions UP and the fleet RUNNING
/// (static nodes are then launched as replacements). Returns the status
/// the pass works with.
fn start_or_stop(
    st: &AppState,
    c: &ClusterRow,
    head: &Head<'_>,
    model: Option<&airlock_config::model::ClusterModel>,
) -> Result<ComputeFleetStatus, ClusterError> {
    let (state, next, why) = match c.compute_fleet_status {
        ComputeFleetStatus::StopRequested => (
            "INACTIVE",
            ComputeFleetStatus::Stopping,
            "partitions INACTIVE; powering down every compute node",
        ),
        ComputeFleetStatus::StartRequested | ComputeFleetStatus::Starting => {
            ("UP", ComputeFleetStatus::Running, "partitions UP")
        }
        other => return Ok(other),
    };
    let model = model
        .ok_or_else(|| ClusterError::Internal("the stored configuration no longer loads".into()))?;
    for q in &model.queues {
        let p = format!("partitionname={}", q.name);
        scontrol(head, &["update", &p, &format!("state={state}")])?;
    }
    store::set_fleet_status(&*checkout(&st.db)?, &c.cluster_name, next, why)?;
    // slurm.conf says the same, should slurmctld restart.
    push_to_cluster(st, &c.cluster_name);
    Ok(next)
}

/// Reads Slurm's node states in the head node and the provider's compute
/// nodes, and caches `sinfo` for the console.
fn observe(
    st: &AppState,
    head: &Head<'_>,
    model: Option<&airlock_config::model::ClusterModel>,
) -> Result<Observation, ClusterError> {
    let cluster = head.cluster;
    let slurm = parse_nodes(&scontrol(head, &["show", "nodes", "-o"])?);
    if let Ok(text) = super::head::slurm(
        head.st,
        cluster,
        SlurmProgram::Sinfo,
        &["-h", "-N", "-o", "%P|%a|%l|%N|%t"],
    ) {
        st.clusters.slurm.set(cluster, &text);
    }
    let instances = st
        .clusters
        .provider()
        .try_describe(cluster)?
        .iter()
        .filter(|n| n.role == NodeRole::Compute)
        .map(Into::into)
        .collect();
    Ok(Observation {
        slurm,
        instances,
        static_nodes: model.map(fleet_plan::static_nodes),
        now: now(),
        orphan_grace_secs: ORPHAN_GRACE_SECS,
        fleet_running: true,
    })
}

/// Carries out one planned action through the provider, the head node's
/// `scontrol`, and `launch_node`/`terminate_node`, with its stack event.
fn apply(
    st: &AppState,
    c: &ClusterRow,
    head: &Head<'_>,
    config_tags: &[(String, String)],
    action: &Action,
) -> Result<(), ClusterError> {
    let cluster = c.cluster_name.as_str();
    match action {
        Action::Forget {
            instance_id,
            name,
            event: e,
        }
        | Action::TerminateInstance {
            instance_id,
            name,
            event: e,
        } => {
            event(st, cluster, name, e);
            terminate_node(st, cluster, instance_id)
        }
        Action::SetSlurmState {
            node,
            state,
            reason,
            event: e,
        } => {
            let nodename = format!("nodename={node}");
            let state = format!("state={}", state.as_str());
            let reason = reason.as_ref().map(|r| format!("reason={r}"));
            let mut args = vec!["update", &nodename, &state];
            args.extend(reason.as_deref());
            scontrol(head, &args)?;
            if let Some(e) = e {
                event(st, cluster, node, e);
            }
            Ok(())
        }
        Action::LaunchStaticNode { name, queue, spot } => {
            let rec = launch_node(
                st,
                c,
                &NodeRequest {
                    name,
                    role: NodeRole::Compute,
                    queue: Some(queue),
                    spot: *spot,
                    config_tags,
                },
            )?;
            event(st, cluster, name, &fleet_plan::replaced(&rec.instance_id));
            Ok(())
        }
    }
}

/// `airlock debug interrupt-spot`: a reclaim notice, then after `notice`
/// the node dies; the fleet manager does the rest. Runs inside a request,
/// so it uses the request's connection.
pub fn interrupt_spot(
    st: &AppState,
    conn: &rusqlite::Connection,
    cluster: &str,
    node_name: &str,
    notice: Duration,
) -> Result<String, ClusterError> {
    let rec = st
        .clusters
        .provider()
        .describe(cluster)
        .into_iter()
        .find(|n| n.name == node_name && n.is_running())
        .ok_or_else(|| ClusterError::NodeNotRunning {
            cluster: cluster.to_owned(),
            node: node_name.to_owned(),
        })?;
    let spot = crate::instances::store::tags(conn, &rec.instance_id)?
        .iter()
        .any(|(k, v)| k == "airlock:instance-lifecycle" && v == "spot");
    if !spot {
        return Err(ClusterError::Invalid(format!(
            "{node_name} is an on-demand node; only spot nodes can be interrupted"
        )));
    }
    let why = format!(
        "{} will be reclaimed in {} s",
        rec.instance_id,
        notice.as_secs()
    );
    store::event(
        conn,
        cluster,
        node_name,
        "AWS::EC2::Instance",
        "SPOT_INTERRUPTION_NOTICE",
        Some(&why),
    )?;
    let shared = st
        .shared()
        .ok_or_else(|| ClusterError::Internal("the server is not running".into()))?;
    let (id, cluster) = (rec.instance_id.clone(), cluster.to_owned());
    std::thread::spawn(move || {
        std::thread::sleep(notice);
        if let Err(e) = shared
            .clusters
            .provider()
            .interrupt(&cluster, &rec.instance_id)
        {
            tracing::warn!(instance = %rec.instance_id, error = %e, "the spot reclaim failed");
        }
    });
    Ok(id)
}
