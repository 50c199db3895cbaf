//! What the EC2 provider calls things: ParallelCluster's tags, the names of
//! a cluster's security group and launch templates, and the tag that maps
//! an EC2 instance to the id airlock gave it.

use crate::nodes::parse_node_name;
use crate::provider::NodeRole;

pub const CLUSTER_TAG: &str = "parallelcluster:cluster-name";
pub const NODE_TYPE_TAG: &str = "parallelcluster:node-type";
pub const QUEUE_TAG: &str = "parallelcluster:queue-name";
pub const COMPUTE_RESOURCE_TAG: &str = "parallelcluster:compute-resource-name";
/// The cluster a resource was made for by airlock. ParallelCluster's own
/// resources carry only [`CLUSTER_TAG`]: what airlock lists and deletes is
/// found by this tag, so a ParallelCluster cluster (of any name) beside
/// airlock's is never taken for one of airlock's.
pub const AIRLOCK_CLUSTER_TAG: &str = "airlock:cluster-name";
/// The id airlock gave the instance (its certificate names it); EC2 gives
/// its own.
pub const AIRLOCK_ID_TAG: &str = "airlock:instance-id";
/// The Slurm node name.
pub const NODE_NAME_TAG: &str = "airlock:node-name";

/// The cluster's one security group.
pub fn security_group(cluster: &str) -> String {
    format!("{cluster}-airlock-nodes")
}

/// The placement group made for a queue whose `placement_group` is
/// `DYNAMIC`.
pub fn placement_group(cluster: &str, queue: &str) -> String {
    format!("{cluster}-{queue}")
}

/// The launch template of the head node.
pub fn head_template(cluster: &str) -> String {
    format!("{cluster}-HeadNode")
}

/// The launch template of one compute resource (`queue`, and the
/// instance-type token of its node names, as in `q-dy-c5large-1`).
pub fn compute_template(cluster: &str, queue: &str, resource: &str) -> String {
    format!("{cluster}-{queue}-{resource}")
}

/// The template a node launches from, with its queue and compute resource
/// (none for the head node); `None` for a compute node name that is not a
/// Slurm node name of ours.
pub fn template_for(
    cluster: &str,
    role: NodeRole,
    name: &str,
) -> Option<(String, Option<(String, String)>)> {
    match role {
        NodeRole::HeadNode => Some((head_template(cluster), None)),
        NodeRole::Compute => {
            let (queue, _, resource, _) = parse_node_name(name)?;
            Some((
                compute_template(cluster, &queue, &resource),
                Some((queue, resource)),
            ))
        }
    }
}

/// ParallelCluster's tags of a node, plus airlock's id and node name.
pub fn instance_tags(
    cluster: &str,
    role: NodeRole,
    name: &str,
    airlock_id: &str,
    placement: Option<&(String, String)>,
) -> Vec<(String, String)> {
    let node_type = match role {
        NodeRole::HeadNode => "HeadNode",
        NodeRole::Compute => "Compute",
    };
    let mut tags = vec![
        ("Name".to_owned(), node_type.to_owned()),
        (CLUSTER_TAG.to_owned(), cluster.to_owned()),
        (NODE_TYPE_TAG.to_owned(), node_type.to_owned()),
        (AIRLOCK_ID_TAG.to_owned(), airlock_id.to_owned()),
        (NODE_NAME_TAG.to_owned(), name.to_owned()),
    ];
    if let Some((queue, resource)) = placement {
        tags.push((QUEUE_TAG.to_owned(), queue.clone()));
        tags.push((COMPUTE_RESOURCE_TAG.to_owned(), resource.clone()));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_map_to_their_templates_and_tags() {
        assert_eq!(
            template_for("c", NodeRole::HeadNode, "head"),
            Some(("c-HeadNode".into(), None))
        );
        let (t, p) = template_for("c", NodeRole::Compute, "q1-dy-c5large-3").unwrap();
        assert_eq!(t, "c-q1-c5large");
        assert_eq!(p, Some(("q1".into(), "c5large".into())));
        assert_eq!(template_for("c", NodeRole::Compute, "head"), None);
        let tags = instance_tags("c", NodeRole::Compute, "q1-dy-c5large-3", "i-1", p.as_ref());
        for (k, v) in [
            ("Name", "Compute"),
            (CLUSTER_TAG, "c"),
            (NODE_TYPE_TAG, "Compute"),
            (QUEUE_TAG, "q1"),
            (COMPUTE_RESOURCE_TAG, "c5large"),
            (AIRLOCK_ID_TAG, "i-1"),
        ] {
            assert!(tags.contains(&(k.into(), v.into())), "{k}: {tags:?}");
        }
    }
}
