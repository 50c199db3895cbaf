//! `airlock activation create | list | delete`: hybrid activations, so a
//! machine outside any cluster can run the agent. One description per
//! operation (see [`super::spec`]).

use serde_json::Value;

use super::spec::{Ctx, Kind, Op, Param, Print, Service, col, col_as, col_fn, op, table};
use crate::Global;
use crate::output::{self, s};

pub struct Activation;

impl Service for Activation {
    const SERVICE: &'static str = "ssm";
    const COMMAND: &'static str = "activation";
    const OPS: &'static [&'static [Op]] = &[ACTIVATIONS];
}

/// A parsed `airlock activation …` command.
pub type ActivationCommand = super::spec::Call<Activation>;

pub fn run(g: &Global, c: ActivationCommand) -> anyhow::Result<i32> {
    c.run(g)
}

const ACTIVATIONS: &[Op] = &[
    op("create", "CreateActivation")
        .about("Create an activation; prints the code (shown once) and the id")
        .params(&[
            Param::new("role", "IamRole", Kind::Str).help("The role the registered machines get"),
            Param::new(
                "registration-limit",
                "RegistrationLimit",
                Kind::Int {
                    default: "1",
                    times: 1,
                },
            )
            .help("How many machines may register with it"),
            Param::new("description", "Description", Kind::Default(""))
                .help("What the activation is for"),
            Param::new("default-instance-name", "DefaultInstanceName", Kind::OptStr)
                .help("The Name tag the registered machines get"),
            Param::new(
                "expires-in-hours",
                "ExpiresInSeconds",
                Kind::Int {
                    default: "24",
                    times: 3600,
                },
            )
            .help(
                "Validity in hours (at most 720: an activation lasts at most 30 days, as in AWS)",
            ),
        ])
        .prints(Print::Hook(code_and_id))
        .example("--role AirlockNodeRole --registration-limit 10 --expires-in-hours 48"),
    op("list", "DescribeActivations")
        .about("List activations: role, registrations used of the limit, expiry")
        .prints(table(
            "ActivationList",
            &[
                col("ActivationId"),
                col("IamRole"),
                col_fn("Registrations", |a| {
                    format!(
                        "{}/{}",
                        s(a, "RegistrationsCount"),
                        s(a, "RegistrationLimit")
                    )
                }),
                col_as("Expires", "ExpirationDate"),
                col("Expired"),
            ],
        )),
    op("delete", "DeleteActivation")
        .about("Delete an activation; machines already registered with it stay registered")
        .params(&[Param::new("activation-id", "ActivationId", Kind::Str)
            .help("The activation's id (ActivationId)")])
        .example("--activation-id 4f8a7c3e-0000-4000-8000-000000000000"),
];

/// The code and the id, one a line (the whole result with `--output
/// json|text` or `--query`).
fn code_and_id(ctx: &Ctx, v: &Value) -> anyhow::Result<()> {
    if output::wants_data(ctx.g) {
        output::value(v);
    } else {
        println!("ActivationCode: {}", s(v, "ActivationCode"));
        println!("ActivationId:   {}", s(v, "ActivationId"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::spec::tests::{body_of, examples_parse};
    use super::*;

    #[test]
    fn every_operation_parses_its_example() {
        examples_parse::<Activation>();
    }

    /// The bodies the hand-written commands sent before the descriptions.
    #[test]
    fn bodies_are_what_they_were() {
        assert_eq!(
            body_of::<Activation>("create --role R").unwrap(),
            json!({"IamRole": "R", "RegistrationLimit": 1, "Description": "", "DefaultInstanceName": null, "ExpiresInSeconds": 86400})
        );
        assert_eq!(
            body_of::<Activation>("create --role R --registration-limit 5 --description d --default-instance-name web --expires-in-hours 48").unwrap(),
            json!({"IamRole": "R", "RegistrationLimit": 5, "Description": "d", "DefaultInstanceName": "web", "ExpiresInSeconds": 172800})
        );
        assert_eq!(body_of::<Activation>("list").unwrap(), json!({}));
        assert!(body_of::<Activation>("create --role R --registration-limit x").is_err());
    }
}
