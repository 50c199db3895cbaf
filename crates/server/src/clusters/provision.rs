//! Creating and deleting a cluster stack, resource by resource, with
//! events, through the provider; rolling back a failed creation; and, at
//! server start, finishing what a crash interrupted and removing what no
//! stack owns.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use airlock_cluster::local::layout::node_paths;
use airlock_cluster::nodes::{NodeKind, groups};
use airlock_cluster::provider::Network;
use airlock_cluster::provider::NodeRole;
use airlock_cluster::slurm_conf::{self, SlurmSettings};
use airlock_config::model::{ClusterModel, ComputeType};
use airlock_proto::control::SlurmProgram;

use super::launch::{NodeRequest, compute_role, head_role, launch_node, terminate_node};
use super::store::{self, ClusterRow};
use super::{ClusterError, StackStatus};
use crate::db::checkout;
use crate::http::{AppState, Shared};
use crate::iam::store::{Iam, PrincipalKind};
use crate::instances::store::CLUSTER_TAG;

/// Seconds Slurm waits for a resumed node's slurmd (ResumeTimeout): 120,
/// or `AIRLOCK_RESUME_TIMEOUT_SECS` (at least 10), a server setting.
pub fn resume_timeout() -> u32 {
    std::env::var("AIRLOCK_RESUME_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(120, |v| v.max(10))
}

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

/// Where the server serves the cluster's machines on their gateway; `None`
/// when they dial a routed node endpoint instead.
fn gateway_addr(st: &AppState, net: &Network) -> Option<SocketAddr> {
    if !st.clusters.serves_gateways() {
        return None;
    }
    format!("{}:{}", net.server_address, st.clusters.agent_port)
        .parse()
        .ok()
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

/// The slurm.conf of a cluster on its network; a stopped fleet has its
/// partitions INACTIVE.
pub fn slurm_conf_for(
    m: &ClusterModel,
    name: &str,
    head_ip: &str,
    fleet_stopped: bool,
) -> Result<String, ClusterError> {
    let s = SlurmSettings {
        cluster_name: name.to_owned(),
        head_host: "head".into(),
        head_addr: head_ip.to_owned(),
        hook_dir: node_paths::BIN_DIR.into(),
        resume_timeout: resume_timeout(),
        state_dir: format!("{}/ctld", node_paths::SLURM_SPOOL),
        spool_dir: format!("{}/d", node_paths::SLURM_SPOOL),
        log_dir: node_paths::SLURM_LOG.into(),
        slurm_user: "root".into(),
        munge_socket: Some(node_paths::MUNGE_SOCKET.into()),
        fleet_stopped,
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

/// How long a machine has to boot, join and configure itself: 180 s, or
/// `AIRLOCK_NODE_CONFIG_TIMEOUT_SECS` (at least 5), a server setting (an
/// EC2 test against moto, where nothing boots, fails fast with it).
pub fn configure_timeout() -> Duration {
    let secs = std::env::var("AIRLOCK_NODE_CONFIG_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(180, |v| v.max(5));
    Duration::from_secs(secs)
}

/// Waits for a launched node to report itself configured (its steps are
/// stack events meanwhile); its failure is the resource's.
fn wait_configured(st: &AppState, cluster: &str, instance_id: &str) -> Result<(), ClusterError> {
    let provider = st.clusters.provider();
    st.clusters
        .setup
        .wait(instance_id, configure_timeout(), || {
            provider
                .describe(cluster)
                .iter()
                .any(|i| i.instance_id == instance_id && i.is_running())
        })
}

/// Asks slurmctld, through the head's agent, whether it answers.
fn wait_for_slurmctld(st: &AppState, cluster: &str) -> Result<(), ClusterError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = super::head::slurm(st, cluster, SlurmProgram::Scontrol, &["ping"]);
        match out {
            Ok(o) if o.contains("is UP") => return Ok(()),
            Err(ClusterError::HeadNodeUnavailable(c)) => {
                return Err(ClusterError::HeadNodeUnavailable(c));
            }
            last if Instant::now() > deadline => {
                let last = match last {
                    Ok(o) => o.trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                return Err(ClusterError::Internal(format!(
                    "slurmctld did not answer within 60 s (last: {last})"
                )));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Builds every resource in order; the stack ends CREATE_COMPLETE, or
/// CREATE_FAILED and (unless `--norollback`) rolled back.
pub fn create(st: Shared, name: String) {
    let result = (|| -> Result<(), ClusterError> {
        let c = store::require(&*checkout(&st.db)?, &name)?;
        let m = model_of(&c)?;
        let mgr = &st.clusters;
        let provider = mgr.provider();
        let mut made = None;
        step(&st, &name, "Network", || {
            // What the provider makes from the configuration (EC2: the
            // region and key pair checked, the launch templates).
            provider.prepare(&name, &m)?;
            let net = provider.create_network(&name, &c.vpc_id, &c.subnet_id)?;
            if let Some(endpoint) = gateway_addr(&st, &net) {
                st.listeners.add(endpoint).map_err(|e| {
                    ClusterError::Internal(format!(
                        "cannot serve the agent endpoint on {endpoint}: {e}"
                    ))
                })?;
            }
            let id = net.physical_id.clone();
            made = Some(net);
            Ok(Some(id))
        })?;
        let net = made.ok_or_else(|| ClusterError::Internal("no network".into()))?;
        // The local provider decides the head's address before launch; EC2
        // gives it at launch.
        let mut head_ip = net.head_address.clone();
        step(&st, &name, "SecurityGroup", || {
            Ok(Some(provider.create_security_group(&name)?))
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
            // The configuration must render before a machine is launched
            // (with a stand-in address where the provider has none yet).
            slurm_conf_for(&m, &name, head_ip.as_deref().unwrap_or("0.0.0.0"), false)?;
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
                &rec.private_ip,
            )?;
            head_ip.get_or_insert_with(|| rec.private_ip.clone());
            wait_configured(&st, &name, &rec.instance_id)
                .map_err(|e| ClusterError::Internal(format!("head node: {e}")))?;
            Ok(Some(rec.instance_id))
        })?;
        let head_ip = head_ip.unwrap_or_default();
        step(&st, &name, "SlurmController", || {
            wait_for_slurmctld(&st, &name)?;
            Ok(Some(format!("slurmctld@head ({head_ip})")))
        })?;
        let c = store::require(&*checkout(&st.db)?, &name)?;
        step(&st, &name, "ComputeFleet", || {
            let mut n = 0;
            let mut launched = Vec::new();
            for q in &m.queues {
                for cr in &q.compute_resources {
                    for g in groups(q, cr)
                        .into_iter()
                        .filter(|g| g.kind == NodeKind::Static)
                    {
                        for node_name in g.names() {
                            let rec = launch_node(
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
                            launched.push(rec.instance_id);
                            n += 1;
                        }
                    }
                }
            }
            for id in &launched {
                wait_configured(&st, &name, id)?;
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
/// The two statuses are written in one transaction, so no reader sees the
/// stack at rest in CREATE_FAILED while it is about to roll back.
fn fail_and_roll_back(st: &AppState, name: &str, reason: &str, norollback: bool) {
    let r = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| {
            crate::db::immediate(&conn, || {
                store::set_status(&conn, name, StackStatus::CreateFailed, Some(reason))?;
                if !norollback {
                    store::set_status(&conn, name, StackStatus::RollbackInProgress, None)?;
                }
                Ok::<_, ClusterError>(())
            })
        });
    if let Err(e) = r {
        tracing::warn!(cluster = %name, error = %e, "cannot record the stack's failure");
    }
    if !norollback {
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
    let provider = st.clusters.provider();
    let instances = provider.try_describe(name);
    let terminate = |role: NodeRole| -> Result<(), ClusterError> {
        // A provider that cannot list the machines fails the resource
        // (DELETE_FAILED): it never reads as "nothing left to delete".
        let instances = instances
            .as_ref()
            .map_err(|e| ClusterError::Internal(e.to_string()))?;
        for i in instances.iter().filter(|i| i.role == role) {
            terminate_node(st, name, &i.instance_id)?;
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
    let net = provider.network(name);
    gone(st, name, "SecurityGroup", || {
        Ok(provider.delete_security_group(name)?)
    });
    gone(st, name, "Network", || {
        if let Some(a) = net.as_ref().and_then(|n| gateway_addr(st, n)) {
            st.listeners.remove(a);
        }
        Ok(provider.delete_network(name)?)
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
    let provider = st.clusters.provider();
    let rows = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| store::list(&conn))
        .unwrap_or_default();
    for c in &rows {
        if let Err(e) = provider.restore(&c.cluster_name) {
            tracing::warn!(cluster = %c.cluster_name, error = %e, "cannot restore the cluster's network");
        }
        if let Some(net) = provider.network(&c.cluster_name)
            && let Some(a) = gateway_addr(st, &net)
            && let Err(e) = st.listeners.add(a)
        {
            tracing::warn!(cluster = %c.cluster_name, error = %e, "cannot re-open the agent endpoint");
        }
        if c.stack_status == StackStatus::DeleteInProgress {
            delete(st.clone(), c.cluster_name.clone());
        } else if c.stack_status.updating() {
            if let Err(e) = super::update::roll_back_interrupted(st, &c.cluster_name) {
                tracing::warn!(cluster = %c.cluster_name, error = %e, "cannot roll back an interrupted update");
            }
        } else if c.stack_status.in_progress() {
            let reason = "the server stopped while the stack was being created";
            fail_and_roll_back(st, &c.cluster_name, reason, c.norollback);
        }
    }
    for name in provider.clusters() {
        if rows.iter().any(|c| c.cluster_name == name) {
            continue;
        }
        tracing::warn!(cluster = %name, "removing a cluster no stack owns (left by a crash)");
        for i in provider.describe(&name) {
            let _ = provider.terminate(&name, &i.instance_id);
        }
        let _ = provider.delete_security_group(&name);
        let _ = provider.delete_network(&name);
    }
}
