//! `airlock instances`: the managed nodes, as `aws ssm describe-instance-information` lists them.

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InstancesArgs {
    /// A cluster: list its nodes (as `pcluster instances NAME`).
    cluster: Option<String>,
    #[command(subcommand)]
    command: Option<InstancesCommand>,
}

#[derive(clap::Subcommand)]
enum InstancesCommand {
    /// Forget a hybrid machine; its certificate stops working.
    Deregister {
        #[arg(long)]
        instance_id: String,
    },
    /// Add tags to a node (Key=K,Value=V …), e.g. for ssm:resourceTag/… conditions.
    Tag {
        #[arg(long)]
        instance_id: String,
        #[arg(long, num_args = 1.., required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a node.
    Untag {
        #[arg(long)]
        instance_id: String,
        #[arg(long, num_args = 1.., required = true)]
        tag_keys: Vec<String>,
    },
    /// List a node's tags.
    Tags {
        #[arg(long)]
        instance_id: String,
    },
}

pub fn run(g: &Global, a: InstancesArgs) -> anyhow::Result<i32> {
    if let Some(c) = &a.cluster {
        return crate::cmd::cluster::instances(g, c);
    }
    let client = ApiClient::from_global(g)?;
    let tag_call = |op: &str, body: serde_json::Value| -> anyhow::Result<i32> {
        let v = client.call("ssm", op, &body)?;
        let rows = v["TagList"]
            .as_array()
            .map(|l| l.iter().map(|t| vec![s(t, "Key"), s(t, "Value")]).collect())
            .unwrap_or_default();
        output::listing(g.json, &v, &["Key", "Value"], rows);
        Ok(0)
    };
    match a.command {
        Some(InstancesCommand::Deregister { instance_id }) => {
            client.call(
                "ssm",
                "DeregisterManagedInstance",
                &json!({"InstanceId": instance_id}),
            )?;
            return Ok(0);
        }
        Some(InstancesCommand::Tag { instance_id, tags }) => {
            let tags = crate::cmd::iam::parse_tags(&tags)?;
            return tag_call(
                "AddTagsToResource",
                json!({"ResourceType": "ManagedInstance", "ResourceId": instance_id, "Tags": tags}),
            );
        }
        Some(InstancesCommand::Untag {
            instance_id,
            tag_keys,
        }) => {
            return tag_call(
                "RemoveTagsFromResource",
                json!({"ResourceType": "ManagedInstance", "ResourceId": instance_id, "TagKeys": tag_keys}),
            );
        }
        Some(InstancesCommand::Tags { instance_id }) => {
            return tag_call(
                "ListTagsForResource",
                json!({"ResourceType": "ManagedInstance", "ResourceId": instance_id}),
            );
        }
        None => {}
    }
    let v = client.call("ssm", "DescribeInstanceInformation", &json!({}))?;
    let rows = v["InstanceInformationList"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|i| {
                    let mut status = s(i, "PingStatus");
                    let err = s(i, "RegistrationError");
                    if !err.is_empty() {
                        let short = err.split(" because").next().unwrap_or(&err);
                        let short = short
                            .split(" is not authorized")
                            .nth(1)
                            .map_or(short, |rest| rest.trim());
                        status = format!(
                            "{status}: not authorized{}",
                            short.split(" on resource").next().unwrap_or("")
                        );
                    }
                    vec![
                        s(i, "InstanceId"),
                        s(i, "ComputerName"),
                        s(i, "IPAddress"),
                        s(i, "PlatformName"),
                        s(i, "AgentVersion"),
                        s(i, "IamRole"),
                        s(i, "LastPingDateTime"),
                        status,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    output::listing(
        g.json,
        &v,
        &[
            "InstanceId",
            "ComputerName",
            "IPAddress",
            "Platform",
            "AgentVersion",
            "IamRole",
            "LastPing",
            "PingStatus",
        ],
        rows,
    );
    Ok(0)
}
