//! The control channel between an agent and the server: one JSON object per
//! line, tagged by `Type`, over `GET /v1/agent/control` upgraded to
//! `airlock-control/1`.
//!
//! Version skew is decided here, once for both sides:
//! - a field a side does not know is ignored (a newer peer may add one);
//! - a message type a side does not know decodes to [`Decoded::Unknown`],
//!   which the receiver logs and skips;
//! - a known message with a required field missing or of the wrong type is
//!   an error: nothing acts on half a message.

use serde::{Deserialize, Serialize};

use crate::node_config::{NodeConfig, StepStatus};

/// The path an agent upgrades to its control channel.
pub const CONTROL_PATH: &str = "/v1/agent/control";
/// The `Upgrade` protocol of the control channel.
pub const CONTROL_PROTOCOL: &str = "airlock-control/1";
/// The `Upgrade` protocol of a session stream (`GET /v1/session/{id}/stream`).
pub const STREAM_PROTOCOL: &str = "airlock-session/1";
/// Longest control line either side accepts (a node configuration or a
/// Slurm command's output can be tens of KiB).
pub const MAX_LINE: usize = 1024 * 1024;

/// A message from the server down an agent's control channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "Type")]
pub enum ServerMessage {
    Registered {
        #[serde(rename = "InstanceId")]
        instance_id: String,
        #[serde(rename = "PingIntervalSecs")]
        ping_interval_secs: u64,
    },
    Refused {
        #[serde(rename = "Reason")]
        reason: String,
    },
    Pong,
    /// Open a session worker that dials the session's stream with `Token`.
    StartSession(StartSession),
    /// End a session's worker.
    TerminateSession {
        #[serde(rename = "SessionId")]
        session_id: String,
    },
    /// Accept a pushed public key for a login until it expires
    /// (`ec2-instance-connect:SendSSHPublicKey`).
    AuthorizeKey(AuthorizeKey),
    /// The answer to `GetNodeConfiguration`: what this node is in its
    /// cluster, or nothing for a machine that is no cluster's node.
    NodeConfiguration {
        #[serde(rename = "Configuration")]
        configuration: Option<Box<NodeConfig>>,
    },
    /// Run one of Slurm's commands on the head node; the agent answers with
    /// a [`Reply`] of the same `RequestId`.
    RunSlurmCommand(SlurmCommand),
}

/// One of Slurm's client commands, as the server asks the head node's
/// agent to run it (the fleet manager's `scontrol show nodes`, `sinfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SlurmCommand {
    pub request_id: u64,
    pub program: SlurmProgram,
    #[serde(default)]
    pub args: Vec<String>,
}

/// The only programs `RunSlurmCommand` may name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SlurmProgram {
    Scontrol,
    Sinfo,
    Squeue,
}

impl SlurmProgram {
    pub fn name(self) -> &'static str {
        match self {
            SlurmProgram::Scontrol => "scontrol",
            SlurmProgram::Sinfo => "sinfo",
            SlurmProgram::Squeue => "squeue",
        }
    }
}

/// The agent's answer to a request that carried a `RequestId`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Reply {
    pub request_id: u64,
    /// 0 when the request was carried out.
    pub exit_code: i32,
    #[serde(default)]
    pub output: String,
    /// Why it was not, in the node's words.
    #[serde(default)]
    pub error: String,
}

/// A key the node's sshd accepts for `os_user` until `expiry`, as EC2
/// Instance Connect pushes one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AuthorizeKey {
    pub os_user: String,
    /// One OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// UTC, `YYYYMMDDHHMMSS` (sshd's `expiry-time` form).
    pub expiry: String,
    /// The IAM user who pushed it, for the line's comment.
    pub pushed_by: String,
    /// Set when the server waits for the node's [`Reply`].
    #[serde(default)]
    pub request_id: Option<u64>,
}

/// What the server decided for one session: the node holds the client to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StartSession {
    pub session_id: String,
    pub token: String,
    pub document_name: String,
    #[serde(default)]
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub run_as: Option<String>,
    /// Commands run at the start of shell sessions.
    #[serde(default)]
    pub shell_profile: Option<String>,
    /// The user (ARN) the server authorised the session for.
    pub principal: String,
    /// Unix seconds after which the agent ends the session
    /// (`maxSessionDuration`), if any.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A message from an agent up its control channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "Type")]
pub enum AgentMessage {
    Hello {
        #[serde(flatten)]
        facts: NodeFacts,
    },
    Ping,
    /// Asks for this node's configuration (answered by `NodeConfiguration`).
    GetNodeConfiguration,
    /// A step of applying the node configuration.
    NodeConfigurationStep {
        #[serde(rename = "Step")]
        step: String,
        #[serde(rename = "Status")]
        status: StepStatus,
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
    },
    /// The answer to a request that carried a `RequestId`.
    Reply(Reply),
}

/// What the node says about itself when its control channel opens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeFacts {
    pub computer_name: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub platform_type: String,
    pub platform_name: String,
    pub agent_version: String,
}

/// A control line, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<M> {
    Known(M),
    /// A message type this side does not know (a newer peer's), by name.
    Unknown(String),
}

/// Why a control line could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("the control message is not a JSON object with a string Type")]
    NotAMessage,
    #[error("malformed {kind} control message: {reason}")]
    Malformed { kind: String, reason: String },
}

/// The message types each side knows, for [`decode`].
pub trait Message: for<'de> Deserialize<'de> + Serialize {
    const TYPES: &'static [&'static str];
}

impl Message for ServerMessage {
    const TYPES: &'static [&'static str] = &[
        "Registered",
        "Refused",
        "Pong",
        "StartSession",
        "TerminateSession",
        "AuthorizeKey",
        "NodeConfiguration",
        "RunSlurmCommand",
    ];
}

impl Message for AgentMessage {
    const TYPES: &'static [&'static str] = &[
        "Hello",
        "Ping",
        "GetNodeConfiguration",
        "NodeConfigurationStep",
        "Reply",
    ];
}

/// Decodes one control line.
pub fn decode<M: Message>(line: &str) -> Result<Decoded<M>, ControlError> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| ControlError::NotAMessage)?;
    let kind = v
        .get("Type")
        .and_then(serde_json::Value::as_str)
        .ok_or(ControlError::NotAMessage)?;
    if !M::TYPES.contains(&kind) {
        return Ok(Decoded::Unknown(printable(kind)));
    }
    let kind = kind.to_owned();
    serde_json::from_value(v)
        .map(Decoded::Known)
        .map_err(|e| ControlError::Malformed {
            kind,
            reason: e.to_string(),
        })
}

/// Encodes one control line (without its newline).
pub fn encode<M: Message>(m: &M) -> String {
    // A message of strings, numbers and JSON values always serialises.
    serde_json::to_string(m).unwrap_or_default()
}

/// At most 64 printable characters of an untrusted name, for logs.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Longest platform name, type or agent version a node may report.
const MAX_FACT_CHARS: usize = 128;

/// Whether `s` has the shape of an instance id (`i-`/`mi-` and hex).
pub fn looks_like_instance_id(s: &str) -> bool {
    let hex = s.strip_prefix("mi-").or_else(|| s.strip_prefix("i-"));
    hex.is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
}

impl NodeFacts {
    /// Checks what a node says of itself before it is stored or shown: a
    /// hostname that is not an instance id, an IP address, and short
    /// printable strings. A node is untrusted; these reach admins' terminals.
    pub fn check(&self) -> Result<(), String> {
        let host = &self.computer_name;
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if host.len() > 253 || (!host.is_empty() && !host.split('.').all(label_ok)) {
            return Err(format!(
                "ComputerName {:?} is not a hostname (letters, digits, - and _ in dot-separated labels, at most 253 characters)",
                host.chars().take(64).collect::<String>()
            ));
        }
        if looks_like_instance_id(host) {
            return Err(format!(
                "ComputerName {host} has the form of an instance id; a node cannot name itself after an instance"
            ));
        }
        if !self.ip_address.is_empty() && self.ip_address.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "IPAddress {:?} is not an IP address",
                self.ip_address.chars().take(64).collect::<String>()
            ));
        }
        for (name, v) in [
            ("PlatformType", &self.platform_type),
            ("PlatformName", &self.platform_name),
            ("AgentVersion", &self.agent_version),
        ] {
            if v.chars().count() > MAX_FACT_CHARS || v.chars().any(char::is_control) {
                return Err(format!(
                    "{name} must be at most {MAX_FACT_CHARS} printable characters"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> StartSession {
        StartSession {
            session_id: "alice-0123".into(),
            token: "t".into(),
            document_name: "SSM-SessionManagerRunShell".into(),
            parameters: serde_json::json!({}),
            run_as: Some("alice".into()),
            shell_profile: None,
            principal: "arn:aws:iam::000000000000:user/alice".into(),
            expires_at: Some(1_800_000_000),
        }
    }

    #[test]
    fn messages_have_their_wire_names() {
        let m = ServerMessage::Registered {
            instance_id: "mi-1".into(),
            ping_interval_secs: 10,
        };
        assert_eq!(
            encode(&m),
            r#"{"Type":"Registered","InstanceId":"mi-1","PingIntervalSecs":10}"#
        );
        let line = encode(&ServerMessage::StartSession(start()));
        assert!(line.starts_with(r#"{"Type":"StartSession","SessionId":"alice-0123""#));
        assert!(line.contains(r#""RunAs":"alice""#) && line.contains(r#""ExpiresAt":1800000000"#));
        assert_eq!(encode(&AgentMessage::Ping), r#"{"Type":"Ping"}"#);
    }

    #[test]
    fn every_message_decodes_to_itself() {
        for m in [
            ServerMessage::Pong,
            ServerMessage::Refused { reason: "r".into() },
            ServerMessage::StartSession(start()),
            ServerMessage::TerminateSession {
                session_id: "s".into(),
            },
            ServerMessage::AuthorizeKey(AuthorizeKey {
                os_user: "ubuntu".into(),
                public_key: "ssh-ed25519 AAAA k".into(),
                expiry: "20261207120000".into(),
                pushed_by: "alice".into(),
                request_id: Some(7),
            }),
            ServerMessage::NodeConfiguration {
                configuration: None,
            },
            ServerMessage::RunSlurmCommand(SlurmCommand {
                request_id: 1,
                program: SlurmProgram::Scontrol,
                args: vec!["ping".into()],
            }),
        ] {
            assert_eq!(decode(&encode(&m)), Ok(Decoded::Known(m)));
        }
        let hello = AgentMessage::Hello {
            facts: NodeFacts {
                computer_name: "n1".into(),
                agent_version: "0.1.0".into(),
                ..Default::default()
            },
        };
        assert_eq!(decode(&encode(&hello)), Ok(Decoded::Known(hello)));
        for m in [
            AgentMessage::GetNodeConfiguration,
            AgentMessage::NodeConfigurationStep {
                step: "starting slurmctld".into(),
                status: StepStatus::InProgress,
                reason: None,
            },
            AgentMessage::Reply(Reply {
                request_id: 3,
                exit_code: 1,
                output: String::new(),
                error: "no".into(),
            }),
        ] {
            assert_eq!(decode(&encode(&m)), Ok(Decoded::Known(m)));
        }
    }

    #[test]
    fn a_slurm_command_names_only_slurms_programs() {
        let e = decode::<ServerMessage>(
            r#"{"Type":"RunSlurmCommand","RequestId":1,"Program":"/bin/sh","Args":["-c","id"]}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ControlError::Malformed { .. }), "{e}");
    }

    #[test]
    fn unknown_fields_are_ignored_and_unknown_types_are_named() {
        let m: Decoded<ServerMessage> = decode(r#"{"Type":"Pong","AddedLater":{"x":1}}"#).unwrap();
        assert_eq!(m, Decoded::Known(ServerMessage::Pong));
        let m: Decoded<ServerMessage> = decode(r#"{"Type":"Reboot\u001b[2J","Now":true}"#).unwrap();
        assert_eq!(m, Decoded::Unknown("Reboot[2J".into()));
        let a: Decoded<AgentMessage> =
            decode(r#"{"Type":"Hello","ComputerName":"n1","Extra":"x"}"#).unwrap();
        assert!(
            matches!(a, Decoded::Known(AgentMessage::Hello { facts }) if facts.computer_name == "n1")
        );
    }

    #[test]
    fn a_known_message_missing_what_it_needs_is_an_error_not_a_default() {
        // An agent must never start a worker for a session without an id,
        // a token or the principal the server authorised.
        for line in [
            r#"{"Type":"StartSession","Token":"t","DocumentName":"d","Principal":"p"}"#,
            r#"{"Type":"StartSession","SessionId":"s","DocumentName":"d","Principal":"p"}"#,
            r#"{"Type":"StartSession","SessionId":"s","Token":"t","DocumentName":"d"}"#,
            r#"{"Type":"StartSession","SessionId":7,"Token":"t","DocumentName":"d","Principal":"p"}"#,
            r#"{"Type":"TerminateSession"}"#,
            r#"{"Type":"Registered","InstanceId":"mi-1"}"#,
        ] {
            let e = decode::<ServerMessage>(line).unwrap_err();
            assert!(matches!(e, ControlError::Malformed { .. }), "{line}: {e}");
        }
        for line in [
            "",
            "[]",
            "null",
            r#"{"Type":1}"#,
            r#"{"type":"Pong"}"#,
            "{\"Type\":\"Pong\"",
        ] {
            assert_eq!(
                decode::<ServerMessage>(line),
                Err(ControlError::NotAMessage),
                "{line}"
            );
        }
    }

    #[test]
    fn node_facts_are_checked() {
        let ok = NodeFacts {
            computer_name: "compute-st-t2micro-1".into(),
            ip_address: "10.0.0.5".into(),
            ..Default::default()
        };
        assert_eq!(ok.check(), Ok(()));
        for bad in [
            NodeFacts {
                computer_name: "mi-0123abcd".into(),
                ..ok.clone()
            },
            NodeFacts {
                computer_name: "a\u{1b}]0;x".into(),
                ..ok.clone()
            },
            NodeFacts {
                ip_address: "10.0.0.300".into(),
                ..ok.clone()
            },
            NodeFacts {
                agent_version: "1\n2".into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
