//! `airlock update` (UpdateCluster): what a new configuration changes,
//! checked against the cluster's compute fleet (`airlock_cluster::
//! change_set`), and applying it: the stored configuration is replaced,
//! the roles' policies follow `additional_iam_policies`, the head node
//! gets its new `slurm.conf` (the agent restarts slurmctld when nodes were
//! added or removed, else reconfigures) and then every compute node. A
//! failure restores the previous configuration (UPDATE_ROLLBACK_COMPLETE).

use std::collections::BTreeSet;
use std::time::Duration;

use airlock_cluster::change_set::{self, Checked, Dialect, Fleet};
use airlock_cluster::provider::NodeRole;
use airlock_cluster::slurm_state::parse_nodes;
use airlock_config::model::ClusterModel;
use airlock_proto::control::SlurmProgram;

use super::launch::{compute_role, head_role};
use super::node_config::{push_to, push_to_cluster_except};
use super::store::{self, ClusterRow, StoredConfig};
use super::{ClusterError, ComputeFleetStatus, StackStatus, head};
use crate::db::checkout;
use crate::http::{AppState, Shared};
use crate::iam::error::IamError;
use crate::iam::store::{Iam, PrincipalKind};

/// How long the head node has to apply a new configuration.
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The compute nodes that are up: a running instance, not powered down,
/// or allocated to a job.
pub fn fleet_view(st: &AppState, c: &ClusterRow) -> Result<Fleet, ClusterError> {
    let cluster = c.cluster_name.as_str();
    let mut up: BTreeSet<String> = st
        .clusters
        .provider()
        .try_describe(cluster)?
        .into_iter()
        .filter(|i| i.role == NodeRole::Compute && i.is_running())
        .map(|i| i.name)
        .collect();
    let text = head::slurm(
        st,
        cluster,
        SlurmProgram::Scontrol,
        &["show", "nodes", "-o"],
    )?;
    for n in parse_nodes(&text) {
        let busy = matches!(n.state.as_str(), "ALLOCATED" | "MIXED" | "COMPLETING");
        if busy || !n.is_powered_down() || n.is_powering_up() {
            up.insert(n.name);
        }
    }
    Ok(Fleet {
        cluster_name: cluster.to_owned(),
        stopped: c.compute_fleet_status == ComputeFleetStatus::Stopped,
        up_nodes: up,
    })
}

/// The change set of `new` against the cluster's configuration.
pub fn change_set(
    st: &AppState,
    c: &ClusterRow,
    old: &ClusterModel,
    new: &ClusterModel,
    new_file: &str,
) -> Result<Vec<Checked>, ClusterError> {
    let (was, is) = (Dialect::of(&c.config_file), Dialect::of(new_file));
    if was != is {
        return Err(ClusterError::Invalid(format!(
            "cluster {} was created from a {} configuration; update it with one of the same version (airlock config convert makes a v3 file from a v2 one, for a new cluster)",
            c.cluster_name,
            if was == Dialect::V2 {
                "v2 INI"
            } else {
                "v3 YAML"
            }
        )));
    }
    let changes = change_set::diff(old, new, is);
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(change_set::check(changes, &fleet_view(st, c)?))
}

/// Applies an update that `store::begin_update` started; the stack ends
/// UPDATE_COMPLETE, or UPDATE_ROLLBACK_COMPLETE with the reason.
pub fn apply(st: Shared, name: String, old: ClusterModel, new: ClusterModel) {
    let result = roles(&st, &name, &old, &new).and_then(|()| reconfigure(&st, &name));
    let outcome = checkout(&st.db)
        .map_err(ClusterError::from)
        .and_then(|conn| match &result {
            Ok(()) => {
                store::end_update(&conn, &name, None)?;
                store::set_status(&conn, &name, StackStatus::UpdateComplete, None)
            }
            Err(e) => {
                let reason = e.to_string();
                store::set_status(
                    &conn,
                    &name,
                    StackStatus::UpdateRollbackInProgress,
                    Some(&reason),
                )?;
                let previous = store::previous_config(&conn, &name)?;
                store::end_update(&conn, &name, previous.as_ref())?;
                drop(conn);
                let back = roles(&st, &name, &new, &old).and_then(|()| reconfigure(&st, &name));
                let conn = checkout(&st.db)?;
                let why = match back {
                    Ok(()) => reason,
                    Err(b) => format!("{reason}; restoring the previous configuration: {b}"),
                };
                store::set_status(
                    &conn,
                    &name,
                    StackStatus::UpdateRollbackComplete,
                    Some(&why),
                )
            }
        });
    if let Err(e) = outcome {
        tracing::error!(cluster = %name, error = %e, "the update could not be recorded");
    }
}

/// After a crash during an update: the previous configuration comes back.
pub fn roll_back_interrupted(st: &AppState, name: &str) -> Result<(), ClusterError> {
    let conn = checkout(&st.db)?;
    let previous = store::previous_config(&conn, name)?;
    store::end_update(&conn, name, previous.as_ref())?;
    store::set_status(
        &conn,
        name,
        StackStatus::UpdateRollbackComplete,
        Some(
            "the server stopped while the stack was being updated; the previous configuration was restored",
        ),
    )
}

/// The roles' attached policies follow `additional_iam_policies`.
fn roles(
    st: &AppState,
    cluster: &str,
    old: &ClusterModel,
    new: &ClusterModel,
) -> Result<(), ClusterError> {
    let set = |m: &ClusterModel| -> BTreeSet<String> {
        m.additional_iam_policies
            .iter()
            .map(|p| p.value.clone())
            .collect()
    };
    let (was, is) = (set(old), set(new));
    if was == is {
        return Ok(());
    }
    let conn = checkout(&st.db)?;
    let iam = Iam::new(&conn)?;
    for role in [head_role(cluster), compute_role(cluster)] {
        for arn in is.difference(&was) {
            iam.attach_policy(PrincipalKind::Role, &role, arn)?;
        }
        for arn in was.difference(&is) {
            match iam.detach_policy(PrincipalKind::Role, &role, arn) {
                // Already detached by hand: the goal holds.
                Ok(()) | Err(IamError::NotAttached { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Sends the head node its configuration and waits until it applied it,
/// then sends every other node theirs.
pub fn reconfigure(st: &AppState, cluster: &str) -> Result<(), ClusterError> {
    let head = head::instance(st, cluster)
        .ok_or_else(|| ClusterError::HeadNodeUnavailable(cluster.to_owned()))?;
    st.clusters
        .setup
        .reapply(&head, "applying the new configuration");
    let event = |status: &str, what: &str| {
        checkout(&st.db)
            .map_err(ClusterError::from)
            .and_then(|conn| {
                store::event(
                    &conn,
                    cluster,
                    "HeadNode",
                    "AWS::EC2::Instance",
                    status,
                    Some(&format!("{head}: {what}")),
                )
            })
    };
    event("UPDATE_IN_PROGRESS", "applying the new configuration")?;
    if !push_to(st, &head) {
        return Err(ClusterError::HeadNodeUnavailable(cluster.to_owned()));
    }
    st.clusters
        .setup
        .wait(&head, APPLY_TIMEOUT, || st.hub.is_online(&head))?;
    event("UPDATE_COMPLETE", "the new configuration is applied")?;
    push_to_cluster_except(st, cluster, Some(&head));
    Ok(())
}

/// The stored configuration an update request carries.
pub fn stored(text: &str, file: &str, template: Option<&str>) -> StoredConfig {
    StoredConfig {
        text: text.to_owned(),
        file: file.to_owned(),
        template: template.map(str::to_owned),
    }
}
