//! Registering a machine: `POST /v1/agent/register` redeems a hybrid
//! activation (id and code) and a CSR made on the machine for an instance
//! id and its node certificate. The private key never leaves the machine.

use serde::{Deserialize, Serialize};

/// The path of the registration call (unsigned: the activation code is the
/// credential).
pub const REGISTER_PATH: &str = "/v1/agent/register";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterRequest {
    pub activation_id: String,
    pub activation_code: String,
    /// PEM of a PKCS#10 request for the node's key.
    pub csr: String,
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
}
