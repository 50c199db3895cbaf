//! Registering a machine: `POST /v1/agent/register` redeems a credential and
//! a CSR made on the machine for an instance id and its node certificate.
//! The private key never leaves the machine.
//!
//! The credential is one of two, told apart by the fields present:
//!
//! - a hybrid activation: `{"ActivationId", "ActivationCode", "Csr"}`, which
//!   makes a new `mi-` instance;
//! - a join token: `{"InstanceId", "JoinToken", "Csr"}`, which gives its
//!   certificate to an instance the server created beforehand (a node
//!   booting from its user data).
//!
//! A request with fields of both, or half of one, is refused with a message
//! that says which fields go together.

use serde::{Deserialize, Serialize};

/// The path of the registration call (unsigned: the activation code or the
/// join token is the credential).
pub const REGISTER_PATH: &str = "/v1/agent/register";

/// What a machine proves it may register with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A hybrid activation (`airlock activation create`).
    Activation {
        activation_id: String,
        activation_code: String,
    },
    /// A single-use join token minted for one instance id.
    Join {
        instance_id: String,
        join_token: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RegisterFields", into = "RegisterFields")]
pub struct RegisterRequest {
    pub credential: Credential,
    /// PEM of a PKCS#10 request for the node's key.
    pub csr: String,
}

/// The request as it travels: every field optional, checked by
/// `TryFrom` into a [`RegisterRequest`].
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    join_token: Option<String>,
    #[serde(default)]
    csr: Option<String>,
}

/// Why a registration request's fields do not make one credential.
pub const CREDENTIAL_SHAPE: &str = "a registration carries either ActivationId and ActivationCode, or InstanceId and JoinToken (never fields of both), with Csr";

impl TryFrom<RegisterFields> for RegisterRequest {
    type Error = String;
    fn try_from(f: RegisterFields) -> Result<Self, String> {
        let csr = f
            .csr
            .ok_or_else(|| format!("missing field `Csr`: {CREDENTIAL_SHAPE}"))?;
        let credential = match (
            f.activation_id,
            f.activation_code,
            f.instance_id,
            f.join_token,
        ) {
            (Some(activation_id), Some(activation_code), None, None) => Credential::Activation {
                activation_id,
                activation_code,
            },
            (None, None, Some(instance_id), Some(join_token)) => Credential::Join {
                instance_id,
                join_token,
            },
            (a, c, i, t) => {
                let present: Vec<&str> = [
                    ("ActivationId", a.is_some()),
                    ("ActivationCode", c.is_some()),
                    ("InstanceId", i.is_some()),
                    ("JoinToken", t.is_some()),
                ]
                .iter()
                .filter(|(_, p)| *p)
                .map(|(n, _)| *n)
                .collect();
                let got = if present.is_empty() {
                    "none of them".to_owned()
                } else {
                    present.join(", ")
                };
                return Err(format!("{CREDENTIAL_SHAPE}; this one has {got}"));
            }
        };
        Ok(RegisterRequest { credential, csr })
    }
}

impl From<RegisterRequest> for RegisterFields {
    fn from(r: RegisterRequest) -> Self {
        let mut f = RegisterFields {
            csr: Some(r.csr),
            ..Default::default()
        };
        match r.credential {
            Credential::Activation {
                activation_id,
                activation_code,
            } => {
                f.activation_id = Some(activation_id);
                f.activation_code = Some(activation_code);
            }
            Credential::Join {
                instance_id,
                join_token,
            } => {
                f.instance_id = Some(instance_id);
                f.join_token = Some(join_token);
            }
        }
        f
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterResponse {
    pub instance_id: String,
    /// PEM of the node certificate.
    pub certificate: String,
    /// PEM of the CA that signed it (and the server's certificate).
    pub ca_certificate: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_missing_its_certificate_does_not_decode() {
        let ok = r#"{"InstanceId":"mi-1","Certificate":"c","CaCertificate":"a","New":1}"#;
        assert_eq!(
            serde_json::from_str::<RegisterResponse>(ok)
                .unwrap()
                .instance_id,
            "mi-1"
        );
        assert!(serde_json::from_str::<RegisterResponse>(r#"{"InstanceId":"mi-1"}"#).is_err());
    }

    #[test]
    fn an_activation_request_keeps_its_shape() {
        let r = RegisterRequest {
            credential: Credential::Activation {
                activation_id: "a".into(),
                activation_code: "c".into(),
            },
            csr: "pem".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ActivationId": "a", "ActivationCode": "c", "Csr": "pem"})
        );
        assert_eq!(serde_json::from_value::<RegisterRequest>(v).unwrap(), r);
    }

    #[test]
    fn a_join_request_names_its_instance_and_token() {
        let text = r#"{"InstanceId":"i-0abc","JoinToken":"t0k","Csr":"pem"}"#;
        let r: RegisterRequest = serde_json::from_str(text).unwrap();
        assert_eq!(
            r.credential,
            Credential::Join {
                instance_id: "i-0abc".into(),
                join_token: "t0k".into()
            }
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }

    #[test]
    fn mixed_half_and_missing_credentials_are_refused_by_name() {
        for (text, names) in [
            (
                r#"{"ActivationId":"a","ActivationCode":"c","InstanceId":"i","JoinToken":"t","Csr":"p"}"#,
                "ActivationId, ActivationCode, InstanceId, JoinToken",
            ),
            (
                r#"{"ActivationId":"a","JoinToken":"t","Csr":"p"}"#,
                "ActivationId, JoinToken",
            ),
            (r#"{"InstanceId":"i","Csr":"p"}"#, "this one has InstanceId"),
            (r#"{"Csr":"p"}"#, "none of them"),
        ] {
            let e = serde_json::from_str::<RegisterRequest>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(CREDENTIAL_SHAPE), "{e}");
            assert!(e.contains(names), "{text}: {e}");
        }
        let e = serde_json::from_str::<RegisterRequest>(r#"{"InstanceId":"i","JoinToken":"t"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `Csr`"), "{e}");
    }
}
