//! The fleet manager, ParallelCluster's clustermgtd: a loop that compares
//! Slurm's node states with the provider's nodes and acts. It cleans up
//! nodes that died (setting them DOWN so Slurm requeues their jobs, then
//! powering them down), terminates orphans (running nodes Slurm considers
//! powered down, as after a ResumeTimeout), replaces missing static nodes,
//! and records each action as a stack event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_cluster::local::node::{self, NodeRecord, NodeRole};
use airlock_cluster::local::run_in_node;
use airlock_cluster::nodes::{NodeKind, groups, parse_node_name};
use airlock_cluster::slurm_state::{SlurmNode, parse_nodes};
use airlock_config::model::ComputeType;

use super::launch::{NodeRequest, launch_node, terminate_node};
use super::provision::{config_tags, model_of};
use super::store::{self, ClusterRow};
use super::with_db;
use crate::api_error::{ApiError, ErrorCode};
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
        let clusters = with_db(&st, store::list).unwrap_or_default();
        for c in clusters
            .iter()
            .filter(|c| c.stack_status == "CREATE_COMPLETE")
        {
            if let Err(e) = reconcile(&st, c) {
                tracing::warn!(cluster = %c.cluster_name, error = %e.message, "fleet manager");
            }
        }
    }
}

fn event(st: &AppState, cluster: &str, node: &str, status: &str, reason: &str) {
    tracing::info!(cluster, node, status, reason, "fleet manager");
    let _ = with_db(st, |conn| {
        store::event(
            conn,
            cluster,
            node,
            "AWS::EC2::Instance",
            status,
            Some(reason),
        )
    });
}

fn scontrol(head: i32, args: &[&str]) -> Result<String, ApiError> {
    run_in_node(head, "/usr/bin/scontrol", args, None)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// DOWN (Slurm requeues the node's jobs), then powered down so the node
/// can be resumed again: ParallelCluster's `set_nodes_down_and_power_save`.
pub fn down_and_power_save(head: i32, name: &str, reason: &str) -> Result<(), ApiError> {
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
fn set_down(head: i32, name: &str, reason: &str) -> Result<(), ApiError> {
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

fn age(rec: &NodeRecord) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now.saturating_sub(rec.launched_at)
}

/// One pass over one cluster.
pub fn reconcile(st: &AppState, c: &ClusterRow) -> Result<(), ApiError> {
    let name = &c.cluster_name;
    let Some(head) = st.clusters.head_pid(name) else {
        return Ok(());
    };
    let slurm = parse_nodes(&scontrol(head, &["show", "nodes", "-o"])?);
    if let Ok(text) = run_in_node(
        head,
        "/usr/bin/sinfo",
        &["-h", "-N", "-o", "%P|%a|%l|%N|%t"],
        None,
    ) {
        st.clusters.slurm.set(name, &text);
    }
    let find = |n: &str| -> Option<&SlurmNode> { slurm.iter().find(|s| s.name == n) };
    let layout = st.clusters.layout(name);
    let nodes: Vec<NodeRecord> = node::list(&layout)
        .into_iter()
        .filter(|n| n.role == NodeRole::Compute)
        .collect();
    for rec in &nodes {
        let s = find(&rec.name);
        if !node::is_running(rec) {
            let why = format!("instance {} terminated unexpectedly", rec.instance_id);
            event(st, name, &rec.name, "TERMINATED", &why);
            terminate_node(st, name, rec)?;
            if s.is_some_and(|s| !s.is_powered_down()) {
                let reason = format!("{REASON_PREFIX}{why}");
                if is_static(&rec.name) {
                    // Kept DOWN, not powered down: a powering-down node
                    // ignores the replacement's registration.
                    set_down(head, &rec.name, &reason)?;
                    event(
                        st,
                        name,
                        &rec.name,
                        "SLURM_DOWN",
                        "set DOWN so Slurm requeues its jobs; a replacement follows",
                    );
                } else {
                    down_and_power_save(head, &rec.name, &reason)?;
                    event(
                        st,
                        name,
                        &rec.name,
                        "SLURM_DOWN",
                        "set DOWN so Slurm requeues its jobs, then powered down",
                    );
                }
            }
            continue;
        }
        let dynamic = parse_node_name(&rec.name).is_some_and(|(_, k, ..)| k == NodeKind::Dynamic);
        if dynamic
            && s.is_some_and(|s| s.is_powered_down() && !s.is_powering_up())
            && age(rec) > ORPHAN_GRACE_SECS
        {
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
            terminate_node(st, name, rec)?;
        }
    }
    // Dynamic nodes Slurm still has DOWN with no instance: back to idle~
    // (`down~` needs `resume`; a plain DOWN needs `power_down_force`).
    for s in slurm.iter().filter(|s| s.state == "DOWN") {
        let dynamic = parse_node_name(&s.name).is_some_and(|(_, k, ..)| k == NodeKind::Dynamic);
        if !dynamic
            || nodes
                .iter()
                .any(|n| n.name == s.name && node::is_running(n))
        {
            continue;
        }
        let to = if s.has("POWERED_DOWN") {
            "resume"
        } else if s.has("POWERING_DOWN") {
            continue;
        } else {
            "power_down_force"
        };
        scontrol(
            head,
            &[
                "update",
                &format!("nodename={}", s.name),
                &format!("state={to}"),
            ],
        )?;
        event(
            st,
            name,
            &s.name,
            "SLURM_RESET",
            &format!(
                "DOWN without an instance ({}); back to powered down",
                s.reason
            ),
        );
    }
    // Static nodes are always on: replace the missing ones.
    let m = model_of(c)?;
    let tags = config_tags(&m);
    for q in &m.queues {
        for cr in &q.compute_resources {
            for g in groups(q, cr)
                .into_iter()
                .filter(|g| g.kind == NodeKind::Static)
            {
                for n in g.names() {
                    if nodes.iter().any(|r| r.name == n && node::is_running(r)) {
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
                        name,
                        &n,
                        "REPLACED",
                        &format!("static node relaunched as {}", rec.instance_id),
                    );
                }
            }
        }
    }
    // A replacement whose slurmd has registered (DOWN, no longer NOT_RESPONDING)
    // goes back into service: ReturnToService=1 leaves nodes we set DOWN alone.
    for s in slurm.iter().filter(|s| {
        s.state == "DOWN"
            && !s.has("NOT_RESPONDING")
            && s.reason.starts_with(REASON_PREFIX)
            && is_static(&s.name)
    }) {
        if nodes
            .iter()
            .any(|n| n.name == s.name && node::is_running(n))
        {
            scontrol(
                head,
                &["update", &format!("nodename={}", s.name), "state=resume"],
            )?;
            event(
                st,
                name,
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
) -> Result<String, ApiError> {
    let layout = st.clusters.layout(cluster);
    let rec = node::list(&layout)
        .into_iter()
        .find(|n| n.name == node_name && node::is_running(n))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInstanceIdNotFound,
                format!("{node_name} is not running in cluster {cluster}"),
            )
        })?;
    let spot = crate::instances::store::tags(conn, &rec.instance_id)?
        .iter()
        .any(|(k, v)| k == "airlock:instance-lifecycle" && v == "spot");
    if !spot {
        return Err(ApiError::validation(format!(
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
    let id = rec.instance_id.clone();
    std::thread::spawn(move || {
        std::thread::sleep(notice);
        node::kill(&rec);
    });
    Ok(id)
}
