//! `airlock activation create | list | delete`: hybrid activations, so a
//! machine outside any cluster can run the agent.

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Subcommand)]
pub enum ActivationCommand {
    /// Create an activation; prints the code (shown once) and the id.
    Create {
        /// The role the registered machines get.
        #[arg(long)]
        role: String,
        #[arg(long, default_value_t = 1)]
        registration_limit: i64,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        default_instance_name: Option<String>,
        /// Validity in hours (at most 720: an activation lasts at most 30 days, as in AWS).
        #[arg(long, default_value_t = 24)]
        expires_in_hours: i64,
    },
    List,
    Delete {
        #[arg(long)]
        activation_id: String,
    },
}

pub fn run(g: &Global, c: ActivationCommand) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    match c {
        ActivationCommand::Create {
            role,
            registration_limit,
            description,
            default_instance_name,
            expires_in_hours,
        } => {
            let v = client.call(
                "ssm",
                "CreateActivation",
                &json!({
                    "IamRole": role,
                    "RegistrationLimit": registration_limit,
                    "Description": description,
                    "DefaultInstanceName": default_instance_name,
                    "ExpiresInSeconds": expires_in_hours.saturating_mul(3600),
                }),
            )?;
            if g.json {
                output::value(&v);
            } else {
                println!("ActivationCode: {}", s(&v, "ActivationCode"));
                println!("ActivationId:   {}", s(&v, "ActivationId"));
            }
        }
        ActivationCommand::List => {
            let v = client.call("ssm", "DescribeActivations", &json!({}))?;
            let rows = v["ActivationList"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|a| {
                            vec![
                                s(a, "ActivationId"),
                                s(a, "IamRole"),
                                format!(
                                    "{}/{}",
                                    s(a, "RegistrationsCount"),
                                    s(a, "RegistrationLimit")
                                ),
                                s(a, "ExpirationDate"),
                                s(a, "Expired"),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            output::listing(
                g.json,
                &v,
                &[
                    "ActivationId",
                    "IamRole",
                    "Registrations",
                    "Expires",
                    "Expired",
                ],
                rows,
            );
        }
        ActivationCommand::Delete { activation_id } => {
            client.call(
                "ssm",
                "DeleteActivation",
                &json!({"ActivationId": activation_id}),
            )?;
        }
    }
    Ok(0)
}
