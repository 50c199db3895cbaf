//! Managed instances: hybrid activations, node registration, the agents'
//! control channels and their liveness (`PingStatus`).

pub mod control;
pub mod store;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// A message from the server down an agent's control channel.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
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
    StartSession {
        #[serde(rename = "SessionId")]
        session_id: String,
        #[serde(rename = "Token")]
        token: String,
        #[serde(rename = "DocumentName")]
        document_name: String,
        #[serde(rename = "Parameters")]
        parameters: serde_json::Value,
        #[serde(rename = "RunAs")]
        run_as: Option<String>,
        /// Commands run at the start of shell sessions.
        #[serde(rename = "ShellProfile")]
        shell_profile: Option<String>,
    },
    /// End a session's worker.
    TerminateSession {
        #[serde(rename = "SessionId")]
        session_id: String,
    },
}

/// A message from an agent up its control channel.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(tag = "Type")]
pub enum AgentMessage {
    Hello {
        #[serde(flatten)]
        facts: store::NodeFacts,
    },
    Ping,
}

/// The agents connected now, one control channel per instance.
#[derive(Default)]
pub struct Hub {
    next: AtomicU64,
    online: Mutex<HashMap<String, (u64, mpsc::Sender<ServerMessage>)>>,
}

impl Hub {
    /// Registers a connection; a newer one for the same instance replaces it.
    pub fn attach(&self, instance_id: &str, tx: mpsc::Sender<ServerMessage>) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.online.lock() {
            m.insert(instance_id.to_owned(), (generation, tx));
        }
        generation
    }

    /// Forgets a connection if it is still the current one; returns whether it was.
    pub fn detach(&self, instance_id: &str, generation: u64) -> bool {
        let Ok(mut m) = self.online.lock() else {
            return false;
        };
        match m.get(instance_id) {
            Some((g, _)) if *g == generation => {
                m.remove(instance_id);
                true
            }
            _ => false,
        }
    }

    /// Queues a message for an instance's agent; false if it is not connected.
    pub fn send(&self, instance_id: &str, m: ServerMessage) -> bool {
        let tx = self
            .online
            .lock()
            .ok()
            .and_then(|m| m.get(instance_id).map(|(_, tx)| tx.clone()));
        tx.is_some_and(|tx| tx.try_send(m).is_ok())
    }

    pub fn is_online(&self, instance_id: &str) -> bool {
        self.online
            .lock()
            .map(|m| m.contains_key(instance_id))
            .unwrap_or(false)
    }

    pub fn count(&self) -> usize {
        self.online.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_connection_cannot_detach_its_replacement() {
        let hub = Hub::default();
        let (tx, _rx) = mpsc::channel(1);
        let old = hub.attach("mi-1", tx.clone());
        let new = hub.attach("mi-1", tx);
        assert!(!hub.detach("mi-1", old));
        assert!(hub.is_online("mi-1"));
        assert!(hub.detach("mi-1", new));
        assert!(!hub.is_online("mi-1"));
    }

    #[test]
    fn control_messages_have_their_wire_names() {
        let m = ServerMessage::Registered {
            instance_id: "mi-1".into(),
            ping_interval_secs: 10,
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Type":"Registered","InstanceId":"mi-1","PingIntervalSecs":10}"#
        );
        let a: AgentMessage =
            serde_json::from_str(r#"{"Type":"Hello","ComputerName":"n1","AgentVersion":"0.1.0"}"#)
                .unwrap();
        assert!(matches!(a, AgentMessage::Hello { facts } if facts.computer_name == "n1"));
        assert!(serde_json::from_str::<AgentMessage>(r#"{"Type":"Nope"}"#).is_err());
    }
}
