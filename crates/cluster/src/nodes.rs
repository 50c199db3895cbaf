//! Slurm node names, as ParallelCluster 2.11 makes them:
//! `{queue}-{st|dy}-{instance type without punctuation}-{n}`, with
//! `min_count` static nodes and the rest dynamic, and hostlist ranges.

use airlock_config::model::{ComputeResource, Queue};

/// Static (always on) or dynamic (powered up on demand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Static,
    Dynamic,
}

impl NodeKind {
    pub fn tag(self) -> &'static str {
        match self {
            NodeKind::Static => "st",
            NodeKind::Dynamic => "dy",
        }
    }
}

/// `c5.large` → `c5large`.
pub fn instance_type_token(instance_type: &str) -> String {
    instance_type
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The prefix of a group of nodes, e.g. `spot1-dy-c5large`.
pub fn group_prefix(queue: &str, kind: NodeKind, instance_type: &str) -> String {
    format!(
        "{queue}-{}-{}",
        kind.tag(),
        instance_type_token(instance_type)
    )
}

/// A group of nodes of one kind in one compute resource: `prefix-[1-count]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub prefix: String,
    pub kind: NodeKind,
    pub count: u32,
    pub instance_type: String,
}

impl NodeGroup {
    /// The Slurm hostlist: `spot1-dy-c5large-[1-16]`, or `…-1` for one node.
    pub fn hostlist(&self) -> String {
        match self.count {
            1 => format!("{}-1", self.prefix),
            n => format!("{}-[1-{n}]", self.prefix),
        }
    }
    /// Every node name, in order.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.count).map(|i| format!("{}-{i}", self.prefix))
    }
}

/// The static and dynamic groups of one compute resource (empty ones left out).
pub fn groups(queue: &Queue, cr: &ComputeResource) -> Vec<NodeGroup> {
    let min = cr.min_count.value;
    let max = cr.max_count.value.max(min);
    let it = cr.instance_type.value.clone();
    [(NodeKind::Static, min), (NodeKind::Dynamic, max - min)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, count)| NodeGroup {
            prefix: group_prefix(&queue.name, kind, &it),
            kind,
            count,
            instance_type: it.clone(),
        })
        .collect()
}

/// Which group a node name belongs to, and its index (1-based).
pub fn parse_node_name(name: &str) -> Option<(String, NodeKind, String, u32)> {
    let (rest, n) = name.rsplit_once('-')?;
    let n: u32 = n.parse().ok().filter(|n| *n > 0)?;
    let (rest, it) = rest.rsplit_once('-')?;
    let (queue, kind) = rest.rsplit_once('-')?;
    let kind = match kind {
        "st" => NodeKind::Static,
        "dy" => NodeKind::Dynamic,
        _ => return None,
    };
    Some((queue.to_owned(), kind, it.to_owned(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_queue_names_its_nodes_like_parallelcluster() {
        assert_eq!(
            group_prefix("spot1", NodeKind::Dynamic, "c5.large"),
            "spot1-dy-c5large"
        );
        let g = NodeGroup {
            prefix: "spot1-dy-c5large".into(),
            kind: NodeKind::Dynamic,
            count: 16,
            instance_type: "c5.large".into(),
        };
        assert_eq!(g.hostlist(), "spot1-dy-c5large-[1-16]");
        assert_eq!(g.names().nth(15).as_deref(), Some("spot1-dy-c5large-16"));
        assert_eq!(
            parse_node_name("spot1-dy-c5large-1"),
            Some(("spot1".into(), NodeKind::Dynamic, "c5large".into(), 1))
        );
        assert_eq!(parse_node_name("head"), None);
        assert_eq!(parse_node_name("q-xx-c5large-1"), None);
        assert_eq!(parse_node_name("q-st-c5large-0"), None);
    }

    proptest::proptest! {
        /// Node names come from Slurm hooks on nodes, i.e. from the network.
        #[test]
        fn any_name_parses_or_is_refused_without_panicking(name in "\\PC{0,40}") {
            let _ = parse_node_name(&name);
        }

        #[test]
        fn generated_names_round_trip(
            queue in "[a-z][a-z0-9-]{0,12}",
            dynamic in proptest::bool::ANY,
            it in "[a-z0-9]{1,12}",
            n in 1u32..100_000,
        ) {
            let kind = if dynamic { NodeKind::Dynamic } else { NodeKind::Static };
            let tag = if dynamic { "dy" } else { "st" };
            let name = format!("{queue}-{tag}-{it}-{n}");
            proptest::prop_assert_eq!(parse_node_name(&name), Some((queue, kind, it, n)));
        }
    }
}
