//! The fleet manager, ParallelCluster's clustermgtd: a loop that compares
//! Slurm's node states with the provider's nodes and acts. It cleans up
//! nodes that died (setting them DOWN so Slurm requeues their jobs, then
//! powering them down), terminates orphans (running nodes Slurm considers
//! powered down, as after a ResumeTimeout), replaces missing static nodes,
//! and records each action as a stack event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_cluster::nodes::{NodeKind, groups, parse_node_name};
use airlock_cluster::provider::Instance;
use airlock_cluster::provider::NodeRole;
use airlock_cluster::slurm_state::{SlurmNode, parse_nodes};
use airlock_config::model::ComputeType;

use super::launch::{NodeRequest, launch_node, terminate_node};
use super::provision::{config_tags, model_of};
use super::store::{self, ClusterRow};
use super::{ClusterError, StackStatus};
use crate::db::checkout;
use crate::http::{AppState, Shared};

/// How long a new node may run before Slurm must know it as powered up.
const ORPHAN_GRACE_SECS: u64 = 20;

fn interval() -> Duration {
    std::env::var("AIRLOCK_FLEET_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(3))
}

/// Runs forever (a thread of the server).
pub fn run(st: Shared) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    loop {
        std::thread::sleep(interval());
        let clusters = checkout(&st.db)
            .map_err(ClusterError::from)
            .and_then(|conn| store::list(&conn))
            .unwrap_or_default();
        for c in clusters
            .iter()
            .filter(|c| c.stack_status == StackStatus::CreateComplete)
        {
            if let Err(e) = reconcile(&st, c) {
                tracing::warn!(cluster = %c.cluster_name, error = %e, "fleet manager");
            }
        }
    }
}

/// Records the fleet manager's action on a node as a stack event.
fn event(st: &AppState, cluster: &str, node: &str, status: &str, reason: &str) {
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

/// The cluster's head node, where Slurm's commands run.
struct Head<'a> {
    local: &'a airlock_cluster::local::LocalProvider,
    cluster: &'a str,
}

fn scontrol(head: &Head<'_>, args: &[&str]) -> Result<String, ClusterError> {
    Ok(head
        .local
        .run_on_head(head.cluster, "/usr/bin/scontrol", args)?)
}

/// Sets a node's Slurm state (`scontrol update nodename=… state=…`).
fn set_state(head: &Head<'_>, name: &str, state: &str) -> Result<(), ClusterError> {
    scontrol(
        head,
        &[
            "update",
            &format!("nodename={name}"),
            &format!("state={state}"),
        ],
    )
    .map(drop)
}

/// DOWN (Slurm requeues the node's jobs), then powered down so the node
/// can be resumed again: ParallelCluster's `set_nodes_down_and_power_save`.
fn down_and_power_save(head: &Head<'_>, name: &str, reason: &str) -> Result<(), ClusterError> {
    let r = format!("reason={reason}");
    set_down(head, name, reason)?;
    scontrol(
        head,
        &[
            "update",
            &format!("nodename={name}"),
            "state=power_down_force",
            &r,
        ],
    )?;
    Ok(())
}

/// DOWN with a reason: Slurm requeues the node's jobs.
fn set_down(head: &Head<'_>, name: &str, reason: &str) -> Result<(), ClusterError> {
    let r = format!("reason={reason}");
    scontrol(
        head,
        &["update", &format!("nodename={name}"), "state=down", &r],
    )
    .map(drop)
}

/// Starts every DOWN reason the fleet manager sets.
const REASON_PREFIX: &str = "airlock: ";

fn is_static(name: &str) -> bool {
    parse_node_name(name).is_some_and(|(_, k, ..)| k == NodeKind::Static)
}

fn is_dynamic(name: &str) -> bool {
    parse_node_name(name).is_some_and(|(_, k, ..)| k == NodeKind::Dynamic)
}

fn age(rec: &Instance) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now.saturating_sub(rec.launched_at)
}

/// What one pass sees of a cluster: Slurm's view and the provider's.
struct Observed<'a> {
    /// The head node, to run Slurm's commands in.
    head: Head<'a>,
    /// Slurm's node states (`scontrol show nodes -o`).
    slurm: Vec<SlurmNode>,
    /// The cluster's compute nodes on the provider, running or dead.
    nodes: Vec<Instance>,
}

impl Observed<'_> {
    fn slurm_node(&self, name: &str) -> Option<&SlurmNode> {
        self.slurm.iter().find(|s| s.name == name)
    }
    /// Whether an instance of node `name` is running.
    fn is_running(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.name == name && n.is_running())
    }
}

/// One pass over one cluster, as ParallelCluster's clustermgtd does it.
/// Each action is recorded as a stack event.
pub fn reconcile(st: &AppState, c: &ClusterRow) -> Result<(), ClusterError> {
    let Some(seen) = observe(st, &c.cluster_name)? else {
        return Ok(());
    };
    clean_up_dead_nodes(st, c, &seen)?;
    terminate_orphans(st, c, &seen)?;
    reset_down_dynamic_nodes(st, c, &seen)?;
    replace_missing_static_nodes(st, c, &seen)?;
    resume_registered_replacements(st, c, &seen)?;
    Ok(())
}

/// Reads Slurm's node states in the head node and the provider's compute
/// nodes, and caches `sinfo` for the console. `None` while the head node
/// is not running.
fn observe<'a>(st: &'a AppState, cluster: &'a str) -> Result<Option<Observed<'a>>, ClusterError> {
    let local = &st.clusters.local;
    if local.head_pid(cluster).is_none() {
        return Ok(None);
    }
    let head = Head { local, cluster };
    let slurm = parse_nodes(&scontrol(&head, &["show", "nodes", "-o"])?);
    if let Ok(text) = local.run_on_head(
        cluster,
        "/usr/bin/sinfo",
        &["-h", "-N", "-o", "%P|%a|%l|%N|%t"],
    ) {
        st.clusters.slurm.set(cluster, &text);
    }
    let nodes = st
        .clusters
        .provider()
        .describe(cluster)
        .into_iter()
        .filter(|n| n.role == NodeRole::Compute)
        .collect();
    Ok(Some(Observed { head, slurm, nodes }))
}

/// Nodes whose instance died: forgets the instance and, if Slurm still has
/// the node up, sets it DOWN so Slurm requeues its jobs. A dynamic node is
/// then powered down (to be resumed on demand); a static one stays DOWN,
/// since a powering-down node would ignore its replacement's registration.
fn clean_up_dead_nodes(st: &AppState, c: &ClusterRow, seen: &Observed) -> Result<(), ClusterError> {
    let name = &c.cluster_name;
    for rec in seen.nodes.iter().filter(|r| !r.is_running()) {
        let why = format!("instance {} terminated unexpectedly", rec.instance_id);
        event(st, name, &rec.name, "TERMINATED", &why);
        terminate_node(st, name, &rec.instance_id)?;
        // Slurm has it powered down already (or does not know it).
        if seen
            .slurm_node(&rec.name)
            .is_none_or(|s| s.is_powered_down())
        {
            continue;
        }
        let reason = format!("{REASON_PREFIX}{why}");
        if is_static(&rec.name) {
            set_down(&seen.head, &rec.name, &reason)?;
            event(
                st,
                name,
                &rec.name,
                "SLURM_DOWN",
                "set DOWN so Slurm requeues its jobs; a replacement follows",
            );
        } else {
            down_and_power_save(&seen.head, &rec.name, &reason)?;
            event(
                st,
                name,
                &rec.name,
                "SLURM_DOWN",
                "set DOWN so Slurm requeues its jobs, then powered down",
            );
        }
    }
    Ok(())
}

/// Running dynamic nodes that Slurm has powered down (and is not powering
/// up) for longer than the grace period, as after a ResumeTimeout, are
/// orphans: terminated.
fn terminate_orphans(st: &AppState, c: &ClusterRow, seen: &Observed) -> Result<(), ClusterError> {
    let name = &c.cluster_name;
    for rec in seen.nodes.iter().filter(|r| r.is_running()) {
        let powered_down = seen
            .slurm_node(&rec.name)
            .is_some_and(|s| s.is_powered_down() && !s.is_powering_up());
        if is_dynamic(&rec.name) && powered_down && age(rec) > ORPHAN_GRACE_SECS {
            event(
                st,
                name,
                &rec.name,
                "TERMINATED",
                &format!(
                    "orphan {}: Slurm has the node powered down",
                    rec.instance_id
                ),
            );
            terminate_node(st, name, &rec.instance_id)?;
        }
    }
    Ok(())
}

/// Dynamic nodes Slurm still has DOWN with no instance go back to idle~:
/// `down~` needs `resume`, a plain DOWN `power_down_force`; one already
/// powering down is left to finish.
fn reset_down_dynamic_nodes(
    st: &AppState,
    c: &ClusterRow,
    seen: &Observed,
) -> Result<(), ClusterError> {
    for s in seen.slurm.iter().filter(|s| s.state == "DOWN") {
        if !is_dynamic(&s.name) || seen.is_running(&s.name) {
            continue;
        }
        let to = if s.has("POWERED_DOWN") {
            "resume"
        } else if s.has("POWERING_DOWN") {
            continue;
        } else {
            "power_down_force"
        };
        set_state(&seen.head, &s.name, to)?;
        event(
            st,
            &c.cluster_name,
            &s.name,
            "SLURM_RESET",
            &format!(
                "DOWN without an instance ({}); back to powered down",
                s.reason
            ),
        );
    }
    Ok(())
}

/// Static nodes are always on: launches every one that has no running
/// instance.
fn replace_missing_static_nodes(
    st: &AppState,
    c: &ClusterRow,
    seen: &Observed,
) -> Result<(), ClusterError> {
    let m = model_of(c)?;
    let tags = config_tags(&m);
    for q in &m.queues {
        for cr in &q.compute_resources {
            let static_groups = groups(q, cr)
                .into_iter()
                .filter(|g| g.kind == NodeKind::Static);
            for n in static_groups.flat_map(|g| g.names().collect::<Vec<_>>()) {
                if seen.is_running(&n) {
                    continue;
                }
                let rec = launch_node(
                    st,
                    c,
                    &NodeRequest {
                        name: &n,
                        role: NodeRole::Compute,
                        queue: Some(&q.name),
                        spot: q.compute_type.value == ComputeType::Spot,
                        config_tags: &tags,
                    },
                )?;
                event(
                    st,
                    &c.cluster_name,
                    &n,
                    "REPLACED",
                    &format!("static node relaunched as {}", rec.instance_id),
                );
            }
        }
    }
    Ok(())
}

/// A replacement whose slurmd has registered (still DOWN with our reason,
/// no longer NOT_RESPONDING) goes back into service: ReturnToService=1
/// leaves nodes we set DOWN alone.
fn resume_registered_replacements(
    st: &AppState,
    c: &ClusterRow,
    seen: &Observed,
) -> Result<(), ClusterError> {
    for s in seen.slurm.iter().filter(|s| {
        s.state == "DOWN"
            && !s.has("NOT_RESPONDING")
            && s.reason.starts_with(REASON_PREFIX)
            && is_static(&s.name)
    }) {
        if seen.is_running(&s.name) {
            set_state(&seen.head, &s.name, "resume")?;
            event(
                st,
                &c.cluster_name,
                &s.name,
                "SLURM_RESUMED",
                "the replacement registered; back in service",
            );
        }
    }
    Ok(())
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
