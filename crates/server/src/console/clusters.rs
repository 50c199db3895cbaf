//! The clusters page: each cluster's stack status and its Slurm node states
//! in `sinfo`'s own columns (PARTITION AVAIL TIMELIMIT NODES STATE
//! NODELIST, sorted `#P,-t`, node lists in Slurm's hostlist form).
//!
//! Where clusters come from is a [`ClusterSource`]; the server wires in the
//! cluster stacks and the fleet manager's cached Slurm view
//! (`clusters::console_source::Stacks`).

use rusqlite::Connection;
use serde::Serialize;

use crate::api_error::ApiError;
use crate::http::AppState;

/// One cluster as the page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cluster {
    pub name: String,
    /// The resource `airlock:DescribeCluster` is decided on.
    pub arn: String,
    /// `airlock-NAME`.
    pub stack_name: String,
    /// `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, …
    pub stack_status: String,
    pub slurm: Slurm,
}

/// A cluster's Slurm state, or why it is not known.
#[derive(Debug, Clone, Serialize)]
pub enum Slurm {
    Partitions(Vec<Partition>),
    Unavailable(String),
}

/// A partition as `slurmctld` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Partition {
    pub name: String,
    pub default: bool,
    /// `up`, `down`, `drain`, `inact`.
    pub avail: String,
    /// `infinite` or Slurm's `D-HH:MM:SS` form.
    pub timelimit: String,
    pub nodes: Vec<SlurmNode>,
}

/// A node and its state with Slurm's suffix (`idle~`, `alloc#`, `down*`, `mix`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SlurmNode {
    pub name: String,
    pub state: String,
}

/// Where the console learns about clusters. The server wires the real one
/// (stacks and the fleet manager's view of Slurm) with
/// `console::router_with`.
pub trait ClusterSource: Send + Sync {
    /// Every cluster, with its stack status and Slurm node states.
    fn clusters(&self, state: &AppState, conn: &Connection) -> Result<Vec<Cluster>, ApiError>;
}

/// One line of `sinfo`'s default output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SinfoRow {
    pub partition: String,
    pub avail: String,
    pub timelimit: String,
    pub nodes: usize,
    pub state: String,
    pub nodelist: String,
}

/// Groups nodes as `sinfo` does: by partition (in configured order), then
/// by state (descending).
pub fn sinfo_rows(partitions: &[Partition]) -> Vec<SinfoRow> {
    let mut rows = Vec::new();
    for p in partitions {
        let mut states: Vec<&str> = p.nodes.iter().map(|n| n.state.as_str()).collect();
        states.sort_unstable();
        states.dedup();
        states.reverse();
        for s in states {
            let names: Vec<&str> = p
                .nodes
                .iter()
                .filter(|n| n.state == s)
                .map(|n| n.name.as_str())
                .collect();
            rows.push(SinfoRow {
                partition: if p.default {
                    format!("{}*", p.name)
                } else {
                    p.name.clone()
                },
                avail: p.avail.clone(),
                timelimit: p.timelimit.clone(),
                nodes: names.len(),
                state: s.to_owned(),
                nodelist: hostlist(&names),
            });
        }
        if p.nodes.is_empty() {
            rows.push(SinfoRow {
                partition: if p.default {
                    format!("{}*", p.name)
                } else {
                    p.name.clone()
                },
                avail: p.avail.clone(),
                timelimit: p.timelimit.clone(),
                nodes: 0,
                state: "n/a".into(),
                nodelist: String::new(),
            });
        }
    }
    rows
}

/// The rows as `sinfo` prints them (`%#P %.5a %.10l %.6D %.6t %N`).
pub fn sinfo_text(rows: &[SinfoRow]) -> String {
    let pw = rows
        .iter()
        .map(|r| r.partition.len())
        .max()
        .unwrap_or(0)
        .max("PARTITION".len());
    let mut out = format!(
        "{:<pw$} {:>5} {:>10} {:>6} {:>6} NODELIST\n",
        "PARTITION", "AVAIL", "TIMELIMIT", "NODES", "STATE"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<pw$} {:>5} {:>10} {:>6} {:>6} {}\n",
            r.partition, r.avail, r.timelimit, r.nodes, r.state, r.nodelist
        ));
    }
    out
}

/// Compresses host names as Slurm's hostlist does: `q-dy-c5-[1-3,5],head`.
/// Zero-padded numbers (`n01`) group only with numbers of their width.
pub fn hostlist(names: &[&str]) -> String {
    // (prefix, padded width or 0, number); a name without a numeric suffix
    // is its own prefix.
    let mut parsed: Vec<(String, usize, Option<u64>)> = names
        .iter()
        .map(|n| {
            let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let (pre, num) = n.split_at(n.len() - digits);
            let pad = if num.len() > 1 && num.starts_with('0') {
                num.len()
            } else {
                0
            };
            match num.parse::<u64>() {
                Ok(v) => (pre.to_owned(), pad, Some(v)),
                Err(_) => ((*n).to_owned(), 0, None),
            }
        })
        .collect();
    // An unpadded number of a padded group's width belongs to it (n01, n10).
    let padded: Vec<(String, usize)> = parsed
        .iter()
        .filter(|p| p.1 > 0)
        .map(|p| (p.0.clone(), p.1))
        .collect();
    for p in &mut parsed {
        if let (0, Some(n)) = (p.1, p.2) {
            let w = n.to_string().len();
            if padded.iter().any(|(pre, pw)| *pre == p.0 && *pw == w) {
                p.1 = w;
            }
        }
    }
    parsed.sort();
    parsed.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < parsed.len() {
        let (pre, pad) = (parsed[i].0.clone(), parsed[i].1);
        let mut nums = Vec::new();
        let mut j = i;
        while j < parsed.len() && parsed[j].0 == pre && parsed[j].1 == pad {
            match parsed[j].2 {
                Some(n) => nums.push(n),
                None => break,
            }
            j += 1;
        }
        if nums.is_empty() {
            out.push(pre);
            i += 1;
            continue;
        }
        let fmt = |n: u64| format!("{n:0pad$}");
        if nums.len() == 1 {
            out.push(format!("{pre}{}", fmt(nums[0])));
        } else {
            let mut ranges = Vec::new();
            let mut k = 0;
            while k < nums.len() {
                let start = nums[k];
                let mut end = start;
                while k + 1 < nums.len() && nums[k + 1] == end + 1 {
                    k += 1;
                    end = nums[k];
                }
                ranges.push(if start == end {
                    fmt(start)
                } else {
                    format!("{}-{}", fmt(start), fmt(end))
                });
                k += 1;
            }
            out.push(format!("{pre}[{}]", ranges.join(",")));
        }
        i = j;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, state: &str) -> SlurmNode {
        SlurmNode {
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn hostlists_compress_as_slurm_does() {
        assert_eq!(
            hostlist(&[
                "q-dy-c5large-3",
                "q-dy-c5large-1",
                "q-dy-c5large-2",
                "q-dy-c5large-5"
            ]),
            "q-dy-c5large-[1-3,5]"
        );
        assert_eq!(hostlist(&["q-st-c5large-1"]), "q-st-c5large-1");
        assert_eq!(hostlist(&["head", "n01", "n02", "n10"]), "head,n[01-02,10]");
        assert_eq!(hostlist(&[]), "");
    }

    #[test]
    fn sinfo_groups_by_partition_then_state_descending() {
        let parts = vec![
            Partition {
                name: "queue1".into(),
                default: true,
                avail: "up".into(),
                timelimit: "infinite".into(),
                nodes: vec![
                    node("queue1-st-c5large-1", "idle"),
                    node("queue1-dy-c5large-1", "idle~"),
                    node("queue1-dy-c5large-2", "idle~"),
                    node("queue1-dy-c5large-3", "alloc#"),
                ],
            },
            Partition {
                name: "gpu".into(),
                default: false,
                avail: "up".into(),
                timelimit: "infinite".into(),
                nodes: vec![node("gpu-dy-g4dn-1", "down*")],
            },
        ];
        let text = sinfo_text(&sinfo_rows(&parts));
        assert_eq!(
            text,
            "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\n\
             queue1*      up   infinite      2  idle~ queue1-dy-c5large-[1-2]\n\
             queue1*      up   infinite      1   idle queue1-st-c5large-1\n\
             queue1*      up   infinite      1 alloc# queue1-dy-c5large-3\n\
             gpu          up   infinite      1  down* gpu-dy-g4dn-1\n"
        );
    }
}
