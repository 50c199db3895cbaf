//! `airlock ec2 …-key-pair(s)`: key pairs in the AWS CLI's shape;
//! `describe-instance-attribute` (an instance's user data) and
//! `create-join-token` (an instance that boots from user data); one
//! description per operation (see [`super::spec`]).

use serde_json::Value;

use super::spec::{Ctx, Kind, Op, Param, Print, Service, col, col_as, op, table};
use crate::Global;
use crate::output::{self, s};

pub struct Ec2;

impl Service for Ec2 {
    const SERVICE: &'static str = "ec2";
    const COMMAND: &'static str = "ec2";
    const OPS: &'static [&'static [Op]] = &[KEY_PAIRS, INSTANCES];
}

/// A parsed `airlock ec2 …` command.
pub type Ec2Command = super::spec::Call<Ec2>;

pub fn run(g: &Global, c: Ec2Command) -> anyhow::Result<i32> {
    c.run(g)
}

const KEY_NAME: Param = Param::new("key-name", "KeyName", Kind::Str)
    .help("The key pair's name (a cluster's key_name refers to it)");

const KEY_PAIRS: &[Op] = &[
    op("import-key-pair", "ImportKeyPair")
        .about("Import an OpenSSH public key: --public-key-material file://KEY.pub")
        .params(&[
            KEY_NAME,
            Param::new(
                "public-key-material",
                "PublicKeyMaterial",
                Kind::Document { non_empty: true },
            )
            .help("The OpenSSH public key: file://PATH (e.g. file://~/.ssh/id_ed25519.pub) or its text"),
        ])
        .prints(Print::Value)
        .example("--key-name sandbox-key --public-key-material file://id_ed25519.pub"),
    op("create-key-pair", "CreateKeyPair")
        .about("Create a key pair; prints the private key once (KeyMaterial)")
        .params(&[
            KEY_NAME,
            Param::new("key-material-only", "", Kind::Bool)
                .help("Print only the private key (as `--query KeyMaterial --output text`)"),
        ])
        .prints(Print::Hook(key_material))
        .example("--key-name sandbox-key --key-material-only"),
    op("describe-key-pairs", "DescribeKeyPairs")
        .about("List key pairs: name, id, type and fingerprint")
        .params(&[Param::new(
            "key-names",
            "KeyNames",
            Kind::List { required: false },
        )
        .help("Only these key pairs [default: all]")])
        .prints(table(
            "KeyPairs",
            &[
                col("KeyName"),
                col("KeyPairId"),
                col_as("Type", "KeyType"),
                col_as("Fingerprint", "KeyFingerprint"),
            ],
        ))
        .example("--key-names sandbox-key other-key"),
    op("delete-key-pair", "DeleteKeyPair")
        .about("Delete a key pair")
        .params(&[KEY_NAME])
        .example("--key-name sandbox-key"),
];

const INSTANCES: &[Op] = &[
    op("describe-instance-attribute", "DescribeInstanceAttribute")
        .about("Show an instance's attribute (userData, base64 as the AWS CLI prints it)")
        .params(&[
            Param::new("instance-id", "InstanceId", Kind::Str).help("The instance"),
            Param::new("attribute", "Attribute", Kind::Str).help("userData"),
        ])
        .prints(Print::Value)
        .example("--instance-id i-0123456789abcdef0 --attribute userData"),
    op("create-join-token", "CreateJoinToken")
        .about(
            "Mint a single-use join token for an instance launched as a role, and its user data (for providers)",
        )
        .params(&[
            Param::new("instance-id", "InstanceId", Kind::OptStr)
                .help("The instance [default: a new i- id]"),
            Param::new("iam-role", "IamRole", Kind::Str).help("The role the instance gets"),
            Param::new("name", "Name", Kind::OptStr).help("The instance's Name tag"),
            Param::new("endpoint", "Endpoint", Kind::OptStr)
                .help("The server as the machine reaches it [default: this server's endpoint]"),
            Param::new(
                "expires-in-seconds",
                "ExpiresInSeconds",
                Kind::Int {
                    default: "600",
                    times: 1,
                },
            )
            .help("How long the token may be used"),
        ])
        .prints(Print::Value)
        .example("--iam-role NodeRole --instance-id i-0123456789abcdef0"),
];

/// `create-key-pair --key-material-only` prints the private key alone.
fn key_material(ctx: &Ctx, v: &Value) -> anyhow::Result<()> {
    if ctx.flag("key-material-only") {
        print!("{}", s(v, "KeyMaterial"));
    } else {
        output::value(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::spec::tests::{body_of, examples_parse, parse};
    use super::*;

    #[test]
    fn every_operation_parses_its_example() {
        examples_parse::<Ec2>();
        assert_eq!(Ec2::ops().count(), 6);
    }

    /// The bodies the hand-written commands sent before the descriptions.
    #[test]
    fn bodies_are_what_the_aws_cli_shape_sends() {
        let cases = [
            (
                "import-key-pair --key-name k --public-key-material ssh-ed25519-inline",
                json!({"KeyName": "k", "PublicKeyMaterial": "ssh-ed25519-inline"}),
            ),
            (
                "create-key-pair --key-name k --key-material-only",
                json!({"KeyName": "k"}),
            ),
            ("describe-key-pairs", json!({"KeyNames": []})),
            (
                "describe-key-pairs --key-names a b",
                json!({"KeyNames": ["a", "b"]}),
            ),
            ("delete-key-pair --key-name k", json!({"KeyName": "k"})),
            (
                "describe-instance-attribute --instance-id i-1 --attribute userData",
                json!({"InstanceId": "i-1", "Attribute": "userData"}),
            ),
            (
                "create-join-token --iam-role R",
                json!({"InstanceId": null, "IamRole": "R", "Name": null, "Endpoint": null, "ExpiresInSeconds": 600}),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(body_of::<Ec2>(line).unwrap(), want, "{line}");
        }
        let c = parse::<Ec2>("create-key-pair --key-name k --key-material-only").unwrap();
        assert!(c.args.get_flag("key-material-only"));
    }
}
