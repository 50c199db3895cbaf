//! `airlock ec2 …-key-pair(s)`: key pairs in the AWS CLI's shape.

use anyhow::{Context, anyhow};
use serde_json::json;

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

#[derive(clap::Subcommand)]
pub enum Ec2Command {
    /// Import an OpenSSH public key: --public-key-material file://KEY.pub
    ImportKeyPair {
        #[arg(long)]
        key_name: String,
        #[arg(long)]
        public_key_material: String,
    },
    /// Create a key pair; prints the private key once (KeyMaterial).
    CreateKeyPair {
        #[arg(long)]
        key_name: String,
        /// Print only the private key (as `--query KeyMaterial --output text`).
        #[arg(long)]
        key_material_only: bool,
    },
    DescribeKeyPairs {
        #[arg(long, num_args = 1..)]
        key_names: Vec<String>,
    },
    DeleteKeyPair {
        #[arg(long)]
        key_name: String,
    },
}

/// `file://PATH` reads the file, as the AWS CLI does; else the value itself.
fn material(v: &str) -> anyhow::Result<String> {
    match v.strip_prefix("file://") {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {p}")),
        None if v.trim().is_empty() => Err(anyhow!("--public-key-material is empty")),
        None => Ok(v.to_owned()),
    }
}

pub fn run(g: &Global, cmd: Ec2Command) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    match cmd {
        Ec2Command::ImportKeyPair {
            key_name,
            public_key_material,
        } => {
            let v = c.call(
                "ec2",
                "ImportKeyPair",
                &json!({"KeyName": key_name, "PublicKeyMaterial": material(&public_key_material)?}),
            )?;
            output::value(&v);
        }
        Ec2Command::CreateKeyPair {
            key_name,
            key_material_only,
        } => {
            let v = c.call("ec2", "CreateKeyPair", &json!({"KeyName": key_name}))?;
            if key_material_only {
                print!("{}", s(&v, "KeyMaterial"));
            } else {
                output::value(&v);
            }
        }
        Ec2Command::DescribeKeyPairs { key_names } => {
            let v = c.call("ec2", "DescribeKeyPairs", &json!({"KeyNames": key_names}))?;
            let rows = v["KeyPairs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    vec![
                        s(k, "KeyName"),
                        s(k, "KeyPairId"),
                        s(k, "KeyType"),
                        s(k, "KeyFingerprint"),
                    ]
                })
                .collect();
            output::listing(
                g.json,
                &v,
                &["KeyName", "KeyPairId", "Type", "Fingerprint"],
                rows,
            );
        }
        Ec2Command::DeleteKeyPair { key_name } => {
            c.call("ec2", "DeleteKeyPair", &json!({"KeyName": key_name}))?;
        }
    }
    Ok(0)
}
