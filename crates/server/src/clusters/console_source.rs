//! What the web console shows of clusters: each stack's status and the
//! fleet manager's last view of Slurm (never a live `sinfo` under the
//! database lock).

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::api_error::ApiError;
use crate::console::clusters::{Cluster, ClusterSource, Partition, Slurm, SlurmNode};
use crate::http::AppState;

/// The last `sinfo` per cluster, kept by the fleet manager.
#[derive(Default)]
pub struct SlurmCache(Mutex<HashMap<String, Vec<Partition>>>);

impl SlurmCache {
    pub fn set(&self, cluster: &str, sinfo_nodes: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(cluster.to_owned(), parse(sinfo_nodes));
        }
    }
    fn get(&self, cluster: &str) -> Option<Vec<Partition>> {
        self.0.lock().ok().and_then(|m| m.get(cluster).cloned())
    }
}

/// Parses `sinfo -h -N -o '%P|%a|%l|%N|%t'` into partitions.
pub fn parse(text: &str) -> Vec<Partition> {
    let mut parts: Vec<Partition> = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split('|').collect();
        let [p, avail, limit, node, state] = f[..] else {
            continue;
        };
        let (name, default) = match p.strip_suffix('*') {
            Some(n) => (n, true),
            None => (p, false),
        };
        let idx = match parts.iter().position(|x| x.name == name) {
            Some(i) => i,
            None => {
                parts.push(Partition {
                    name: name.to_owned(),
                    default,
                    avail: avail.to_owned(),
                    timelimit: limit.to_owned(),
                    nodes: Vec::new(),
                });
                parts.len() - 1
            }
        };
        parts[idx].nodes.push(SlurmNode {
            name: node.to_owned(),
            state: state.to_owned(),
        });
    }
    parts
}

/// The stacks in the database, with the cached Slurm view.
pub struct Stacks;

impl ClusterSource for Stacks {
    fn clusters(&self, state: &AppState, conn: &Connection) -> Result<Vec<Cluster>, ApiError> {
        let account = crate::iam::store::account_id(conn)?;
        Ok(super::store::list(conn)?
            .into_iter()
            .map(|c| Cluster {
                arn: format!(
                    "arn:aws:airlock:{}:{account}:cluster/{}",
                    state.region, c.cluster_name
                ),
                slurm: match state.clusters.slurm.get(&c.cluster_name) {
                    Some(p) => Slurm::Partitions(p),
                    None => {
                        Slurm::Unavailable(format!("no Slurm state yet (stack {})", c.stack_status))
                    }
                },
                name: c.cluster_name,
                stack_name: c.stack_name,
                stack_status: c.stack_status.to_string(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinfo_lines_group_into_partitions() {
        let p = parse(
            "q*|up|infinite|q-dy-c5large-1|mix#\nq*|up|infinite|q-dy-c5large-2|idle~\nr|up|1:00:00|r-st-t3micro-1|idle\n",
        );
        assert_eq!(p.len(), 2);
        assert!(p[0].default && !p[1].default);
        assert_eq!(p[0].nodes[0].state, "mix#");
        assert_eq!(p[1].timelimit, "1:00:00");
    }
}
