//! Slurm's commands on a cluster's head node, carried out by the head's
//! agent on its control channel (`RunSlurmCommand`, answered by a `Reply`):
//! the server never enters a node.

use std::time::Duration;

use airlock_cluster::provider::NodeRole;
use airlock_proto::control::{ServerMessage, SlurmCommand, SlurmProgram};

use super::ClusterError;
use crate::http::AppState;

/// Longest a Slurm command on the head may take.
const SLURM_TIMEOUT: Duration = Duration::from_secs(30);

/// The cluster's running head node, as the provider describes it.
pub fn instance(st: &AppState, cluster: &str) -> Option<String> {
    st.clusters
        .provider()
        .describe(cluster)
        .into_iter()
        .find(|i| i.role == NodeRole::HeadNode && i.is_running())
        .map(|i| i.instance_id)
}

/// Runs `program args` on the cluster's head node; its standard output.
pub fn slurm(
    st: &AppState,
    cluster: &str,
    program: SlurmProgram,
    args: &[&str],
) -> Result<String, ClusterError> {
    let head =
        instance(st, cluster).ok_or_else(|| ClusterError::HeadNodeUnavailable(cluster.into()))?;
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let shown = format!("{} {}", program.name(), args.join(" "));
    let reply = st
        .hub
        .request(
            &head,
            |request_id| {
                ServerMessage::RunSlurmCommand(SlurmCommand {
                    request_id,
                    program,
                    args,
                })
            },
            SLURM_TIMEOUT,
        )
        .map_err(|e| ClusterError::Internal(format!("`{shown}` on the head node: {e}")))?;
    if reply.exit_code != 0 {
        return Err(ClusterError::Internal(format!(
            "`{shown}` on the head node failed (exit {}): {}",
            reply.exit_code,
            reply.error.trim()
        )));
    }
    Ok(reply.output)
}
