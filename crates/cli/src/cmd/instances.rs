//! `airlock instances`: the managed nodes, as `aws ssm describe-instance-information`
//! lists them; its subcommands (deregister, tags) are described in [`super::spec`]'s way.

use clap::ArgMatches;
use serde_json::Value;

use super::spec::{Kind, Op, Param, Print, Service, col, col_as, col_fn, op, table, tags};
use crate::Global;
use crate::output::s;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InstancesArgs {
    /// A cluster: list its nodes (as `pcluster instances NAME`).
    cluster: Option<String>,
    #[command(subcommand)]
    command: Option<InstancesCommand>,
}

pub struct Instances;

impl Service for Instances {
    const SERVICE: &'static str = "ssm";
    const COMMAND: &'static str = "instances";
    const OPS: &'static [&'static [Op]] = &[MANAGED_INSTANCES, TAGS];
}

type InstancesCommand = super::spec::Call<Instances>;

const INSTANCE_ID: Param =
    Param::new("instance-id", "InstanceId", Kind::Str).help("The node's id (mi-… or i-…)");
/// The node, for the tag operations.
const RESOURCE_ID: Param =
    Param::new("instance-id", "ResourceId", Kind::Str).help("The node's id (mi-… or i-…)");
const MANAGED_INSTANCE: &[(&str, &str)] = &[("ResourceType", "ManagedInstance")];
const TAG_LIST: Print = table("TagList", &[col("Key"), col("Value")]);

const MANAGED_INSTANCES: &[Op] = &[op("deregister", "DeregisterManagedInstance")
    .about("Forget a hybrid machine; its certificate stops working")
    .params(&[INSTANCE_ID])
    .example("--instance-id mi-0123456789abcdef0")];

const TAGS: &[Op] = &[
    op("tag", "AddTagsToResource")
        .about("Add tags to a node (Key=K,Value=V …), e.g. for ssm:resourceTag/… conditions")
        .params(&[
            RESOURCE_ID,
            Param::new("tags", "Tags", tags(true)).help("Tags as Key=K,Value=V (repeatable)"),
        ])
        .fixed(MANAGED_INSTANCE)
        .prints(TAG_LIST)
        .example("--instance-id mi-0123456789abcdef0 --tags Key=team,Value=hpc"),
    op("untag", "RemoveTagsFromResource")
        .about("Remove tags from a node")
        .params(&[
            RESOURCE_ID,
            Param::new("tag-keys", "TagKeys", Kind::List { required: true })
                .help("The keys of the tags to remove"),
        ])
        .fixed(MANAGED_INSTANCE)
        .prints(TAG_LIST)
        .example("--instance-id mi-0123456789abcdef0 --tag-keys team"),
    op("tags", "ListTagsForResource")
        .about("List a node's tags")
        .params(&[RESOURCE_ID])
        .fixed(MANAGED_INSTANCE)
        .prints(TAG_LIST)
        .example("--instance-id mi-0123456789abcdef0"),
];

/// `airlock instances` with no subcommand.
const DESCRIBE: Op = op(
    "describe-instance-information",
    "DescribeInstanceInformation",
)
.prints(table(
    "InstanceInformationList",
    &[
        col("InstanceId"),
        col("ComputerName"),
        col("IPAddress"),
        col_as("Platform", "PlatformName"),
        col("AgentVersion"),
        col("IamRole"),
        col_as("LastPing", "LastPingDateTime"),
        col_fn("PingStatus", ping_status),
    ],
));

pub fn run(g: &Global, a: InstancesArgs) -> anyhow::Result<i32> {
    if let Some(c) = &a.cluster {
        return crate::cmd::cluster::instances(g, c);
    }
    match a.command {
        Some(c) => c.run(g),
        None => super::spec::run(g, Instances::SERVICE, &DESCRIBE, &ArgMatches::default()),
    }
}

/// The ping status, and why a node's agent is refused in a few words, with
/// what to do when the server says it (`; attach … to role …`).
fn ping_status(i: &Value) -> String {
    let status = s(i, "PingStatus");
    let err = s(i, "RegistrationError");
    if err.is_empty() {
        return status;
    }
    let (reason, hint) = match err.split_once("; ") {
        Some((reason, hint)) => (reason, format!("; {hint}")),
        None => (err.as_str(), String::new()),
    };
    let short = reason.split(" because").next().unwrap_or(reason);
    let short = short
        .split(" is not authorized")
        .nth(1)
        .map_or(short, |rest| rest.trim());
    format!(
        "{status}: not authorized {}{hint}",
        short.split(" on resource").next().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::spec::tests::{body_of, examples_parse};
    use super::*;

    #[test]
    fn every_operation_parses_its_example() {
        examples_parse::<Instances>();
    }

    /// The bodies the hand-written commands sent before the descriptions.
    #[test]
    fn bodies_are_what_they_were() {
        assert_eq!(
            body_of::<Instances>("deregister --instance-id mi-1").unwrap(),
            json!({"InstanceId": "mi-1"})
        );
        assert_eq!(
            body_of::<Instances>("tag --instance-id mi-1 --tags Key=a,Value=b Key=c").unwrap(),
            json!({"ResourceType": "ManagedInstance", "ResourceId": "mi-1", "Tags": [{"Key": "a", "Value": "b"}, {"Key": "c", "Value": ""}]})
        );
        assert_eq!(
            body_of::<Instances>("untag --instance-id mi-1 --tag-keys a c").unwrap(),
            json!({"ResourceType": "ManagedInstance", "ResourceId": "mi-1", "TagKeys": ["a", "c"]})
        );
        assert_eq!(
            body_of::<Instances>("tags --instance-id mi-1").unwrap(),
            json!({"ResourceType": "ManagedInstance", "ResourceId": "mi-1"})
        );
        assert_eq!(
            body_of::<Instances>("tag --instance-id mi-1 --tags Value=b")
                .unwrap_err()
                .to_string(),
            r#"bad tag "Value=b": expected Key=NAME,Value=VALUE"#
        );
        assert_eq!(
            super::super::spec::body(&DESCRIBE, &ArgMatches::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn ping_status_says_why_a_node_is_refused() {
        assert_eq!(ping_status(&json!({"PingStatus": "Online"})), "Online");
        let refused = ping_status(
            &json!({"PingStatus": "ConnectionLost", "RegistrationError": "User: arn:x is not authorized to perform: ssm:UpdateInstanceInformation on resource: arn:y because no identity-based policy allows"}),
        );
        assert_eq!(
            refused,
            "ConnectionLost: not authorized to perform: ssm:UpdateInstanceInformation",
        );
        assert!(
            refused.starts_with("ConnectionLost: not authorized")
                && refused.ends_with("perform: ssm:UpdateInstanceInformation"),
            "{refused}"
        );
        let with_hint = ping_status(
            &json!({"PingStatus": "Inactive", "RegistrationError": "User: arn:x is not authorized to perform: ssm:UpdateInstanceInformation on resource: arn:y because no identity-based policy allows the ssm:UpdateInstanceInformation action; attach arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore to role BareRole"}),
        );
        assert_eq!(
            with_hint,
            "Inactive: not authorized to perform: ssm:UpdateInstanceInformation; attach arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore to role BareRole",
        );
    }
}
