//! Creating and deleting a cluster stack, resource by resource, with
//! events; rolling back a failed creation; and, at server start, finishing
//! what a crash interrupted and removing what no stack owns.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use airlock_cluster::local::etc::{self, EtcPlan};
use airlock_cluster::local::layout::{NetworkPlan, free_index, node_paths};
use airlock_cluster::local::node::{self, NodeRole};
use airlock_cluster::local::{net, run_in_node};
use airlock_cluster::nodes::{NodeKind, groups};
use airlock_cluster::slurm_conf::{self, SlurmSettings};
use airlock_config::model::{ClusterModel, ComputeType};

use super::launch::{NodeRequest, compute_role, head_role, launch_node, terminate_node};
use super::store::{self, ClusterRow};
use super::{ClusterError, StackStatus};
use crate::db::checkout;
use crate::http::{AppState, Shared};
use crate::iam::store::{Iam, PrincipalKind};
use crate::instances::store::CLUSTER_TAG;

/// Seconds Slurm waits for a resumed node's slurmd.
pub const RESUME_TIMEOUT: u32 = 120;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// What only the head node's role may do: launch and terminate its own
/// cluster's nodes (ParallelCluster's head node policy, narrowed by tag).
pub fn fleet_policy(cluster: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SlurmPowerSaving",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:TerminateInstances", "ec2:DescribeInstances"],
            "Resource": "*",
            "Condition": {"StringEquals": {format!("aws:ResourceTag/{CLUSTER_TAG}"): cluster}}
        }]
    })
    .to_string()
}

/// Parses the stored configuration again.
pub fn model_of(c: &ClusterRow) -> Result<ClusterModel, ClusterError> {
    let r = airlock_config::load(&c.config_text, &c.config_file, c.template.as_deref(), None);
    r.model
        .ok_or_else(|| ClusterError::Internal("the stored configuration no longer loads".into()))
}

pub fn config_tags(m: &ClusterModel) -> Vec<(String, String)> {
    m.tags
        .value
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn gateway_addr(net: &NetworkPlan, port: u16) -> Result<SocketAddr, ClusterError> {
    format!("{}:{port}", net.gateway())
        .parse()
        .map_err(|_| ClusterError::Internal("bad gateway address".into()))
}

/// A fault drill: `AIRLOCK_FAIL_RESOURCE=HeadNode` (a logical id) makes that
/// resource fail, to exercise rollback as an operator would.
fn injected_fault(logical: &str) -> Option<ClusterError> {
    (std::env::var("AIRLOCK_FAIL_RESOURCE").ok().as_deref() == Some(logical)).then(|| {
        ClusterError::Internal(format!(
            "{logical} failed: fault injected by AIRLOCK_FAIL_RESOURCE"
        ))
    })
}

/// A fault drill: `AIRLOCK_HANG_RESOURCE=ComputeFleet` leaves that resource
/// in progress for good, so the server can be killed mid-create.
fn injected_hang(logical: &str) {
    if std::env::var("AIRLOCK_HANG_RESOURCE").ok().as_deref() == Some(logical) {
        tracing::warn!(logical, "hanging: fault injected by AIRLOCK_HANG_RESOURCE");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

fn step(
    st: &AppState,
    name: &str,
    logical: &str,
    f: impl FnOnce() -> Result<Option<String>, ClusterError>,
) -> Result<(), ClusterError> {
    store::set_resource(
        &*checkout(&st.db)?,
        name,
        logical,
        None,
        StackStatus::CreateInProgress,
        None,
    )?;
    injected_hang(logical);
    let result = match injected_fault(logical) {
        Some(e) => Err(e),
        None => f(),
    };
    match result {
        Ok(physical) => store::set_resource(
            &*checkout(&st.db)?,
            name,
            logical,
            physical.as_deref(),
            StackStatus::CreateComplete,
            None,
        ),
        Err(e) => {
            let reason = e.to_string();
            let _ = checkout(&st.db).map(|c| {
                store::set_resource(
                    &c,
                    name,
                    logical,
                    None,
                    StackStatus::CreateFailed,
                    Some(&reason),
                )
            });
            Err(e)
        }
    }
}

/// The slurm.conf of a cluster on its network.
pub fn slurm_conf_for(
    m: &ClusterModel,
    name: &str,
    net: &NetworkPlan,
) -> Result<String, ClusterError> {
    let s = SlurmSettings {
        cluster_name: name.to_owned(),
        head_host: "head".into(),
        head_addr: net.host(2),
        hook_dir: node_paths::BIN_DIR.into(),
        resume_timeout: RESUME_TIMEOUT,
        state_dir: format!("{}/ctld", node_paths::SLURM_SPOOL),
        spool_dir: format!("{}/d", node_paths::SLURM_SPOOL),
        log_dir: node_paths::SLURM_LOG.into(),
        slurm_user: "root".into(),
        munge_socket: Some(node_paths::MUNGE_SOCKET.into()),
    };
    slurm_conf::render(m, &s).map_err(|e| ClusterError::Invalid(e.to_string()))
}

fn create_role(
    st: &AppState,
    role: &str,
    cluster: &str,
    policies: &[String],
    inline: Option<String>,
) -> Result<Option<String>, ClusterError> {
    let conn = checkout(&st.db)?;
    let iam = Iam::new(&conn)?;
    let r = iam.create_role(
        role,
        TRUST,
        &format!("Role of cluster {cluster}'s nodes"),
        &[],
    )?;
    for arn in policies {
        iam.attach_policy(PrincipalKind::Role, role, arn)?;
    }
    if let Some(doc) = inline {
        iam.put_inline_policy(
            PrincipalKind::Role,
            role,
            "airlock-slurm-power-saving",
            &doc,
        )?;
    }
    Ok(Some(r.arn))
}

fn wait_for_slurmctld(pid: i32) -> Result<(), ClusterError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run_in_node(pid, "/usr/bin/scontrol", &["ping"], None).unwrap_or_default();
        if out.contains("is UP") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ClusterError::Internal(format!(
                "slurmctld did not answer within 60 s (last: {})",
                out.trim()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn authorized_keys(st: &AppState, c: &ClusterRow) -> Result<Vec<String>, ClusterError> {
    match &c.key_name {
        Some(k) => super::key_pairs::public_key(&*checkout(&st.db)?, k).map(|k| vec![k]),
        None => Ok(Vec::new()),
    }
}

/// Builds every resource in order; the stack ends CREATE_COMPLETE, or
/// CREATE_FAILED and (unless `--norollback`) rolled back.
pub fn create(st: Shared, name: String) {
    let result = (|| -> Result<(), ClusterError> {
        let c = store::require(&*checkout(&st.db)?, &name)?;
        let m = model_of(&c)?;
        let mgr = &st.clusters;
        let layout = mgr.layout(&name);
        let mut plan = None;
        step(&st, &name, "Network", || {
            let addrs = airlock_cluster::local::run_cmd("ip", &["-4", "-o", "addr"])?;
            let idx = free_index(&mgr.root, &addrs).ok_or(ClusterError::NoFreeSubnet)?;
            let p = NetworkPlan::new(idx, &c.vpc_id, &c.subnet_id);
            std::fs::create_dir_all(&layout.dir).map_err(ClusterError::fault)?;
            std::fs::write(
                layout.network_file(),
                serde_json::to_string_pretty(&p).unwrap_or_default(),
            )
            .map_err(ClusterError::fault)?;
            store::set_net_index(&*checkout(&st.db)?, &name, idx)?;
            net::create_bridge(&p)?;
            st.listeners
                .add(gateway_addr(&p, mgr.agent_port)?)
                .map_err(|e| {
                    ClusterError::Internal(format!(
                        "cannot serve the agent endpoint on {}: {e}",
                        p.gateway()
                    ))
                })?;
            let id = format!("{} ({} on {})", c.subnet_id, p.cidr(), p.bridge);
            plan = Some(p);
            Ok(Some(id))
        })?;
        let p = plan.ok_or_else(|| ClusterError::Internal("no network".into()))?;
        step(&st, &name, "SecurityGroup", || {
            net::load_host_table(&p, mgr.agent_port)?;
            Ok(Some(format!(
                "sg-{}",
                &crate::iam::ids::random_hex(9)[..17]
            )))
        })?;
        let policies: Vec<String> = m
            .additional_iam_policies
            .iter()
            .map(|p| p.value.clone())
            .collect();
        step(&st, &name, "HeadNodeRole", || {
            create_role(
                &st,
                &head_role(&name),
                &name,
                &policies,
                Some(fleet_policy(&name)),
            )
        })?;
        step(&st, &name, "ComputeRole", || {
            create_role(&st, &compute_role(&name), &name, &policies, None)
        })?;
        let tags = config_tags(&m);
        let c = store::require(&*checkout(&st.db)?, &name)?;
        step(&st, &name, "HeadNode", || {
            let conf = slurm_conf_for(&m, &name, &p)?;
            let keys = authorized_keys(&st, &c)?;
            etc::prepare(
                &layout,
                &p,
                &EtcPlan {
                    cluster_user: &m.cluster_user.value,
                    authorized_keys: &keys,
                    slurm_conf: &conf,
                    head_ip: &p.host(2),
                },
            )?;
            let rec = launch_node(
                &st,
                &c,
                &NodeRequest {
                    name: "head",
                    role: NodeRole::HeadNode,
                    queue: None,
                    spot: false,
                    config_tags: &tags,
                },
            )?;
            store::set_head(
                &*checkout(&st.db)?,
                &name,
                &rec.instance_id,
                &rec.ip,
                p.index,
            )?;
            Ok(Some(rec.instance_id))
        })?;
        step(&st, &name, "SlurmController", || {
            let pid = mgr
                .head_pid(&name)
                .ok_or_else(|| ClusterError::Internal("the head node stopped".into()))?;
            wait_for_slurmctld(pid)?;
            Ok(Some(format!("slurmctld@head ({})", p.host(2))))
        })?;
        let c = store::require(&*checkout(&st.db)?, &name)?;
        step(&st, &name, "ComputeFleet", || {
            let mut n = 0;
            for q in &m.queues {
                for cr in &q.compute_resources {
                    for g in groups(q, cr)
                        .into_iter()
                        .filter(|g| g.kind == NodeKind::Static)
                    {
                        for node_name in g.names() {
                            launch_node(
                                &st,
                                &c,
                                &NodeRequest {
                                    name: &node_name,
                                    role: NodeRole::Compute,
                                    queue: Some(&q.name),
                                    spot: q.compute_type.value == ComputeType::Spot,
                                    config_tags: &tags,
                                },
                            )?;
                            n += 1;
                        }
                    }
                }
            }
            Ok(Some(format!(
                "{n} static nodes running; dynamic nodes on demand"
            )))
        })?;
        store::set_status(
            &*checkout(&st.db)?,
            &name,
            StackStatus::CreateComplete,
            None,
        )
    })();
    if let Err(e) = result {
        let cause = std::error::Error::source(&e).map(|c| c.to_string());
        tracing::warn!(cluster = %name, error = %e, cause, "cluster creation failed");
        let norollback = checkout(&st.db)
            .map_err(ClusterError::from)
            .and_then(|conn| store::require(&conn, &name))
            .map(|c| c.norollback)
            .unwrap_or(false);
        fail_and_roll_back(&st, &name, &e.to_string(), norollback);
    }
}

/// CREATE_FAILED with `reason`, then unless `norollback`, ROLLBACK_IN_PROGRESS,
/// the teardown, and ROLLBACK_COMPLETE.
fn fail_and_roll_back(st: &AppState, name: &str, reason: &str, norollback: bool) {
    record_status(st, name, StackStatus::CreateFailed, Some(reason));
    if !norollback {
        record_status(st, name, StackStatus::RollbackInProgress, None);
        teardown(st, name);
        record_status(st, name, StackStatus::RollbackComplete, None);
    }
}

/// Records the stack's status on a path that goes on regardless (failure,
/// rollback, deletion); a failure to record is logged.
fn record_status(st: &AppState, name: &str, status: StackStatus, reason: Option<&str>) {
    let r = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| store::set_status(&conn, name, status, reason));
    if let Err(e) = r {
        tracing::warn!(cluster = %name, %status, error = %e, "cannot record the stack's status");
    }
}

fn gone(st: &AppState, name: &str, logical: &str, f: impl FnOnce() -> Result<(), ClusterError>) {
    let status = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| store::resources(&conn, name))
        .ok()
        .and_then(|rs| rs.into_iter().find(|r| r.logical_resource_id == logical))
        .map(|r| r.resource_status);
    if status.is_some_and(StackStatus::nothing_to_delete) {
        return;
    }
    let _ = checkout(&st.db)
        .map(|c| store::set_resource(&c, name, logical, None, StackStatus::DeleteInProgress, None));
    let (s, reason) = match f() {
        Ok(()) => (StackStatus::DeleteComplete, None),
        Err(e) => (StackStatus::DeleteFailed, Some(e.to_string())),
    };
    let _ = checkout(&st.db)
        .map(|c| store::set_resource(&c, name, logical, None, s, reason.as_deref()));
}

/// Removes everything the stack made, in reverse order. Best effort: what
/// is already gone is skipped.
pub fn teardown(st: &AppState, name: &str) {
    let mgr = &st.clusters;
    let layout = mgr.layout(name);
    let nodes = node::list(&layout);
    let terminate = |role: NodeRole| -> Result<(), ClusterError> {
        for n in nodes.iter().filter(|n| n.role == role) {
            terminate_node(st, name, n)?;
        }
        Ok(())
    };
    gone(st, name, "ComputeFleet", || terminate(NodeRole::Compute));
    gone(st, name, "SlurmController", || Ok(()));
    gone(st, name, "HeadNode", || terminate(NodeRole::HeadNode));
    for (logical, role) in [
        ("ComputeRole", compute_role(name)),
        ("HeadNodeRole", head_role(name)),
    ] {
        gone(st, name, logical, || {
            Ok(Iam::new(&*checkout(&st.db)?)?.delete_role(&role)?)
        });
    }
    let plan = layout.read_network();
    gone(st, name, "SecurityGroup", || {
        if let Some(p) = &plan {
            net::delete_host_table(p);
        }
        Ok(())
    });
    gone(st, name, "Network", || {
        if let Some(p) = &plan {
            if let Ok(a) = gateway_addr(p, mgr.agent_port) {
                st.listeners.remove(a);
            }
            net::delete_bridge(p)?;
        }
        Ok(node::remove_tree(&layout.dir)?)
    });
    // Instances a crash may have left registered.
    let _ = checkout(&st.db).map(|conn| {
        conn.execute(
            "DELETE FROM instances WHERE json_extract(tags, '$.\"parallelcluster:cluster-name\"') = ?1",
            rusqlite::params![name],
        )
    });
}

/// `airlock delete`: tears the stack down, then forgets it.
pub fn delete(st: Shared, name: String) {
    teardown(&st, &name);
    record_status(&st, &name, StackStatus::DeleteComplete, None);
    let _ = checkout(&st.db).map(|conn| store::remove(&conn, &name));
}

/// At start: re-open the endpoints of live clusters, finish interrupted
/// deletions, fail and roll back interrupted creations, and remove
/// directories, bridges and nodes no stack owns.
pub fn reconcile(st: &Shared) {
    let rows = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| store::list(&conn))
        .unwrap_or_default();
    for c in &rows {
        let layout = st.clusters.layout(&c.cluster_name);
        if let Some(p) = layout.read_network()
            && layout.dir.exists()
        {
            let _ = net::create_bridge(&p);
            let _ = net::load_host_table(&p, st.clusters.agent_port);
            if let Ok(a) = gateway_addr(&p, st.clusters.agent_port)
                && let Err(e) = st.listeners.add(a)
            {
                tracing::warn!(cluster = %c.cluster_name, error = %e, "cannot re-open the agent endpoint");
            }
        }
        if c.stack_status == StackStatus::DeleteInProgress {
            delete(st.clone(), c.cluster_name.clone());
        } else if c.stack_status.in_progress() {
            let reason = "the server stopped while the stack was being created";
            fail_and_roll_back(st, &c.cluster_name, reason, c.norollback);
        }
    }
    for layout in super::on_disk(&st.clusters) {
        if rows.iter().any(|c| c.cluster_name == layout.name) {
            continue;
        }
        tracing::warn!(cluster = %layout.name, "removing a cluster no stack owns (left by a crash)");
        for n in node::list(&layout) {
            let _ = node::terminate(&layout, &n);
        }
        if let Some(p) = layout.read_network() {
            net::delete_host_table(&p);
            let _ = net::delete_bridge(&p);
        }
        let _ = node::remove_tree(&layout.dir);
    }
}
