//! Session documents, with the AWS names and parameters, and what each one
//! lets the client open on the node.

use std::collections::BTreeMap;

use crate::api_error::{ApiError, ErrorCode};

pub const RUN_SHELL: &str = "SSM-SessionManagerRunShell";
pub const INTERACTIVE_COMMAND: &str = "AWS-StartInteractiveCommand";
pub const NON_INTERACTIVE_COMMAND: &str = "AWS-StartNonInteractiveCommand";
pub const PORT_FORWARDING: &str = "AWS-StartPortForwardingSession";
pub const PORT_FORWARDING_REMOTE: &str = "AWS-StartPortForwardingSessionToRemoteHost";
pub const SSH: &str = "AWS-StartSSHSession";

pub const ALL: [&str; 6] = [
    RUN_SHELL,
    INTERACTIVE_COMMAND,
    NON_INTERACTIVE_COMMAND,
    PORT_FORWARDING,
    PORT_FORWARDING_REMOTE,
    SSH,
];

/// Parameters as AWS passes them: each a list of strings.
pub type Parameters = BTreeMap<String, Vec<String>>;

fn one<'a>(p: &'a Parameters, doc: &str, name: &str) -> Result<Option<&'a str>, ApiError> {
    match p.get(name).map(Vec::as_slice) {
        None | Some([]) => Ok(None),
        Some([v]) => Ok(Some(v.as_str())),
        Some(_) => Err(ApiError::validation(format!(
            "document {doc} takes one value for parameter {name}"
        ))),
    }
}

fn port(p: &Parameters, doc: &str, name: &str, default: Option<u16>) -> Result<u16, ApiError> {
    match one(p, doc, name)? {
        Some(v) => v.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::validation(format!(
                "parameter {name} of {doc} must be a port number, not {v:?}"
            ))
        }),
        None => default.ok_or_else(|| {
            ApiError::validation(format!("document {doc} requires the parameter {name}"))
        }),
    }
}

/// Checks a document's name and parameters; returns the parameters with
/// defaults filled in.
pub fn validate(doc: &str, p: &Parameters) -> Result<Parameters, ApiError> {
    if !ALL.contains(&doc) {
        return Err(ApiError::new(
            ErrorCode::InvalidDocument,
            format!(
                "Document {doc} does not exist. Session documents: {}",
                ALL.join(", ")
            ),
        ));
    }
    let allowed: &[&str] = match doc {
        RUN_SHELL => &[],
        INTERACTIVE_COMMAND | NON_INTERACTIVE_COMMAND => &["command"],
        PORT_FORWARDING => &["portNumber", "localPortNumber"],
        PORT_FORWARDING_REMOTE => &["host", "portNumber", "localPortNumber"],
        _ => &["portNumber"],
    };
    if let Some(k) = p.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            ErrorCode::InvalidDocumentContent,
            format!(
                "document {doc} has no parameter {k} (it takes: {})",
                allowed.join(", ")
            ),
        ));
    }
    let mut out = p.clone();
    match doc {
        INTERACTIVE_COMMAND | NON_INTERACTIVE_COMMAND
            if one(p, doc, "command")?.is_none_or(str::is_empty) =>
        {
            return Err(ApiError::validation(format!(
                "document {doc} requires the parameter command"
            )));
        }
        PORT_FORWARDING => {
            port(p, doc, "portNumber", None)?;
        }
        PORT_FORWARDING_REMOTE => {
            port(p, doc, "portNumber", None)?;
            if one(p, doc, "host")?.is_none_or(str::is_empty) {
                return Err(ApiError::validation(format!(
                    "document {doc} requires the parameter host"
                )));
            }
        }
        SSH => {
            let n = port(p, doc, "portNumber", Some(22))?;
            out.insert("portNumber".into(), vec![n.to_string()]);
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Parameters {
        kv.iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn documents_check_their_parameters() {
        assert!(validate(RUN_SHELL, &params(&[])).is_ok());
        assert!(validate(RUN_SHELL, &params(&[("command", "x")])).is_err());
        assert!(validate(INTERACTIVE_COMMAND, &params(&[])).is_err());
        assert!(validate(PORT_FORWARDING, &params(&[("portNumber", "80")])).is_ok());
        assert!(validate(PORT_FORWARDING, &params(&[("portNumber", "0")])).is_err());
        assert!(validate(PORT_FORWARDING_REMOTE, &params(&[("portNumber", "5432")])).is_err());
        let ssh = validate(SSH, &params(&[])).unwrap();
        assert_eq!(ssh["portNumber"], vec!["22".to_string()]);
        let err = validate("AWS-RunShellScript", &params(&[])).unwrap_err();
        assert_eq!(err.code.as_str(), "InvalidDocument");
    }
}
