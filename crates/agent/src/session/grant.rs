//! What a session's document allows the client to open on this node. The
//! server authorised the document; the agent holds the client to it.

use airlock_wire::ChannelKind;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `SSM-SessionManagerRunShell`: a login shell.
    Shell,
    /// `AWS-StartInteractiveCommand`: this command on a PTY.
    InteractiveCommand(String),
    /// `AWS-StartNonInteractiveCommand`: this command without a PTY.
    Command(String),
    /// Port forwarding and SSH: TCP to this host and port.
    Tcp { host: String, port: u16 },
}

fn param<'a>(p: &'a Value, name: &str) -> Option<&'a str> {
    p.get(name)?.get(0)?.as_str()
}

impl Grant {
    /// The grant for a document and its (validated) parameters.
    pub fn for_document(doc: &str, p: &Value) -> Result<Grant, String> {
        let port = || {
            param(p, "portNumber")
                .and_then(|v| v.parse::<u16>().ok())
                .ok_or_else(|| format!("{doc} needs a portNumber"))
        };
        match doc {
            "SSM-SessionManagerRunShell" => Ok(Grant::Shell),
            "AWS-StartInteractiveCommand" => param(p, "command")
                .map(|c| Grant::InteractiveCommand(c.to_owned()))
                .ok_or_else(|| format!("{doc} needs a command")),
            "AWS-StartNonInteractiveCommand" => param(p, "command")
                .map(|c| Grant::Command(c.to_owned()))
                .ok_or_else(|| format!("{doc} needs a command")),
            "AWS-StartPortForwardingSession" | "AWS-StartSSHSession" => Ok(Grant::Tcp {
                host: "localhost".into(),
                port: port()?,
            }),
            "AWS-StartPortForwardingSessionToRemoteHost" => Ok(Grant::Tcp {
                host: param(p, "host")
                    .ok_or_else(|| format!("{doc} needs a host"))?
                    .to_owned(),
                port: port()?,
            }),
            other => Err(format!("unknown session document {other}")),
        }
    }

    /// Whether a channel of this kind is within the grant.
    pub fn allows(&self, kind: &ChannelKind) -> bool {
        let local = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "::1");
        match (self, kind) {
            (Grant::Shell, ChannelKind::Shell { command: None, .. }) => true,
            (
                Grant::InteractiveCommand(c),
                ChannelKind::Shell {
                    command: Some(k), ..
                },
            ) => c == k,
            (Grant::Command(c), ChannelKind::Exec { command, .. }) => c == command,
            (Grant::Tcp { host, port }, ChannelKind::TcpForward { host: h, port: p }) => {
                port == p && (host == h || (local(host) && local(h)))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ssh_document_allows_only_its_port_and_no_shell() {
        let g = Grant::for_document("AWS-StartSSHSession", &json!({"portNumber": ["22"]})).unwrap();
        assert!(g.allows(&ChannelKind::TcpForward {
            host: "127.0.0.1".into(),
            port: 22
        }));
        assert!(!g.allows(&ChannelKind::TcpForward {
            host: "127.0.0.1".into(),
            port: 5432
        }));
        assert!(!g.allows(&ChannelKind::TcpForward {
            host: "10.0.0.9".into(),
            port: 22
        }));
        let shell = ChannelKind::Shell {
            term: "x".into(),
            cols: 1,
            rows: 1,
            env: vec![],
            command: None,
        };
        assert!(!g.allows(&shell));
        assert!(Grant::Shell.allows(&shell));
    }

    #[test]
    fn command_documents_allow_exactly_their_command() {
        let g = Grant::for_document(
            "AWS-StartNonInteractiveCommand",
            &json!({"command": ["hostname"]}),
        )
        .unwrap();
        assert!(g.allows(&ChannelKind::Exec {
            command: "hostname".into(),
            stdin: true
        }));
        assert!(!g.allows(&ChannelKind::Exec {
            command: "rm -rf /".into(),
            stdin: true
        }));
    }
}
