//! `airlock instances`: the managed nodes, as `aws ssm describe-instance-information` lists them.

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InstancesArgs {
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
}

pub fn run(g: &Global, a: InstancesArgs) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    if let Some(InstancesCommand::Deregister { instance_id }) = a.command {
        client.call(
            "ssm",
            "DeregisterManagedInstance",
            &json!({"InstanceId": instance_id}),
        )?;
        return Ok(0);
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
