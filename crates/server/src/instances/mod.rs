//! Managed instances: hybrid activations, node registration, the agents'
//! control channels and their liveness (`PingStatus`); nodes that boot from
//! user data (`user_data`), fetch the agent (`binary`) and join with a
//! single-use token (`join`).

pub mod binary;
pub mod control;
pub mod error;
pub mod join;
pub mod store;
pub mod user_data;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

pub use airlock_proto::control::{AgentMessage, AuthorizeKey, Reply, ServerMessage, StartSession};

/// How often heartbeats are written to the database, in one transaction.
pub const PING_FLUSH: Duration = Duration::from_secs(5);

/// The agents connected now, one control channel per instance.
#[derive(Default)]
pub struct Hub {
    next: AtomicU64,
    online: Mutex<HashMap<String, (u64, mpsc::Sender<ServerMessage>)>>,
    /// Heartbeats not yet written: instance id → when (RFC 3339). One
    /// SQLite write per heartbeat per agent would cost more than the rest
    /// of the heartbeat together; [`flush_pings`] writes them in batches.
    pings: Mutex<HashMap<String, String>>,
    /// Requests waiting for their node's [`Reply`]: id → (instance, waiter).
    pending: Mutex<HashMap<u64, (String, std::sync::mpsc::Sender<Reply>)>>,
    /// Instances whose control channel this process saw end, and when,
    /// until they attach again: the sessions' reaper ends their sessions
    /// when they stay away past the resume window.
    offline: Mutex<HashMap<String, SystemTime>>,
}

/// Why a request to a node got no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("{0} is not connected")]
    NotConnected(String),
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
}

impl Hub {
    /// Registers a connection; a newer one for the same instance replaces it.
    pub fn attach(&self, instance_id: &str, tx: mpsc::Sender<ServerMessage>) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.online.lock() {
            m.insert(instance_id.to_owned(), (generation, tx));
        }
        if let Ok(mut m) = self.offline.lock() {
            m.remove(instance_id);
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
                self.went_offline(instance_id);
                true
            }
            _ => false,
        }
    }

    fn went_offline(&self, instance_id: &str) {
        if let Ok(mut m) = self.offline.lock() {
            m.insert(instance_id.to_owned(), SystemTime::now());
        }
    }

    /// When this process saw the instance's control channel end, while it
    /// has not come back (None when online, or never seen to go).
    pub fn offline_since(&self, instance_id: &str) -> Option<SystemTime> {
        self.offline
            .lock()
            .ok()
            .and_then(|m| m.get(instance_id).copied())
    }

    /// Closes an instance's control channel (its sender is dropped, so the
    /// channel's task ends and the connection closes); false if none was open.
    pub fn disconnect(&self, instance_id: &str) -> bool {
        let was = self
            .online
            .lock()
            .map(|mut m| m.remove(instance_id).is_some())
            .unwrap_or(false);
        if was {
            self.went_offline(instance_id);
        }
        was
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

    /// Sends the message `build` makes from a fresh request id and waits
    /// (blocking) for the node's [`Reply`] to it.
    pub fn request(
        &self,
        instance_id: &str,
        build: impl FnOnce(u64) -> ServerMessage,
        timeout: Duration,
    ) -> Result<Reply, RequestError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, (instance_id.to_owned(), tx));
        }
        let forget = || {
            if let Ok(mut p) = self.pending.lock() {
                p.remove(&id);
            }
        };
        if !self.send(instance_id, build(id)) {
            forget();
            return Err(RequestError::NotConnected(instance_id.to_owned()));
        }
        let answer = rx.recv_timeout(timeout);
        forget();
        answer.map_err(|_| RequestError::Timeout(instance_id.to_owned(), timeout))
    }

    /// Hands a node's reply to the request waiting for it; false (and
    /// nothing happens) unless that request went to this very node.
    pub fn deliver(&self, instance_id: &str, reply: Reply) -> bool {
        let waiter = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| match p.get(&reply.request_id) {
                Some((to, _)) if to == instance_id => p.remove(&reply.request_id),
                _ => None,
            });
        waiter.is_some_and(|(_, tx)| tx.send(reply).is_ok())
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

    /// Notes a heartbeat; [`flush_pings`] writes it later.
    pub fn record_ping(&self, instance_id: &str, at: String) {
        if let Ok(mut m) = self.pings.lock() {
            m.insert(instance_id.to_owned(), at);
        }
    }

    /// The last heartbeat not yet written to the database, if any.
    pub fn pending_ping(&self, instance_id: &str) -> Option<String> {
        self.pings
            .lock()
            .ok()
            .and_then(|m| m.get(instance_id).cloned())
    }

    /// Takes the heartbeats not yet written.
    pub fn take_pings(&self) -> HashMap<String, String> {
        self.pings
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

/// Writes the hub's heartbeats to the database every [`PING_FLUSH`].
pub async fn flush_pings(state: crate::http::Shared) {
    let mut tick = tokio::time::interval(PING_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let pings = state.hub.take_pings();
        if pings.is_empty() {
            continue;
        }
        let n = pings.len();
        if let Err(e) = crate::db::run(&state, move |c| Ok(store::record_pings(c, &pings)?)).await {
            tracing::warn!(error = %e.message, heartbeats = n, "cannot record heartbeats");
        }
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
    fn an_instance_is_offline_from_its_detach_until_it_attaches_again() {
        let hub = Hub::default();
        let (tx, _rx) = mpsc::channel(1);
        assert_eq!(hub.offline_since("mi-1"), None, "never seen");
        let g = hub.attach("mi-1", tx.clone());
        assert_eq!(hub.offline_since("mi-1"), None);
        let before = SystemTime::now();
        assert!(hub.detach("mi-1", g));
        assert!(hub.offline_since("mi-1").is_some_and(|t| t >= before));
        hub.attach("mi-1", tx);
        assert_eq!(hub.offline_since("mi-1"), None, "back online");
        assert!(hub.disconnect("mi-1"));
        assert!(hub.offline_since("mi-1").is_some());
    }

    #[test]
    fn a_reply_reaches_only_a_request_that_went_to_its_node() {
        let hub = std::sync::Arc::new(Hub::default());
        let (tx, mut rx) = mpsc::channel(4);
        hub.attach("i-1", tx);
        let h = hub.clone();
        let waiter = std::thread::spawn(move || {
            h.request(
                "i-1",
                |id| ServerMessage::TerminateSession {
                    session_id: id.to_string(),
                },
                Duration::from_secs(5),
            )
        });
        let id: u64 = loop {
            if let Ok(ServerMessage::TerminateSession { session_id }) = rx.try_recv() {
                break session_id.parse().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let reply = |exit_code| Reply {
            request_id: id,
            exit_code,
            output: String::new(),
            error: String::new(),
        };
        assert!(!hub.deliver("i-2", reply(9)), "another node cannot answer");
        assert!(hub.deliver("i-1", reply(0)));
        assert_eq!(waiter.join().unwrap().unwrap().exit_code, 0);
        assert!(!hub.deliver("i-1", reply(0)), "a request is answered once");
        let gone = hub.request("i-9", |_| ServerMessage::Pong, Duration::from_millis(10));
        assert_eq!(gone, Err(RequestError::NotConnected("i-9".into())));
    }

    #[test]
    fn heartbeats_wait_in_the_hub_until_taken() {
        let hub = Hub::default();
        hub.record_ping("mi-1", "2026-11-26T10:00:00Z".into());
        hub.record_ping("mi-1", "2026-11-26T10:00:10Z".into());
        assert_eq!(
            hub.pending_ping("mi-1").as_deref(),
            Some("2026-11-26T10:00:10Z")
        );
        let taken = hub.take_pings();
        assert_eq!(taken.len(), 1);
        assert_eq!(hub.pending_ping("mi-1"), None);
        assert!(hub.take_pings().is_empty());
    }
}
