//! Sessions: documents, records, and the broker that pairs a client's and
//! an agent's data streams for a session and relays bytes between them
//! (recording shell output on the way).

pub mod clocks;
pub mod documents;
pub mod lifecycle;
pub mod preferences;
pub mod reaper;
pub mod recording;
pub mod recording_position;
pub mod recording_relay;
pub mod replay;
pub mod store;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

/// What one side of a session stream may be: an upgraded HTTP connection
/// (the CLI, the agent) or an in-process pipe (the web console's bridge).
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

pub type Io = Box<dyn Transport>;

/// One side of a session's data stream waiting for the other; `u64` tells
/// a redial from the stream it replaced.
struct Slot {
    client: Option<(u64, Io)>,
    agent: Option<(u64, Io)>,
}

/// What [`Broker::arrive`] did with a side.
pub enum Arrival {
    /// Both sides are here: (client, agent).
    Paired(Io, Io),
    /// Parked, with this generation, until the other side comes.
    Parked(u64),
}

/// Pairs data streams by session id; tracks live relays so they can be ended.
#[derive(Default)]
pub struct Broker {
    slots: Mutex<HashMap<String, Slot>>,
    relays: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    recorders: Mutex<HashMap<String, Arc<Mutex<recording::Recorder>>>>,
    pub clocks: clocks::Clocks,
    next_gen: std::sync::atomic::AtomicU64,
    /// Single-use recording download tokens, by their SHA-256.
    replays: Mutex<HashMap<String, replay::Grant>>,
}

impl Broker {
    /// Parks one side, or pairs it with the other one already here.
    /// A side that reconnects replaces its older stream.
    pub fn arrive(&self, session: &str, is_client: bool, io: Io) -> Option<Arrival> {
        let generation = self
            .next_gen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut slots = self.slots.lock().ok()?;
        let slot = slots.entry(session.to_owned()).or_insert(Slot {
            client: None,
            agent: None,
        });
        if is_client {
            slot.client = Some((generation, io));
        } else {
            slot.agent = Some((generation, io));
        }
        if slot.client.is_some() && slot.agent.is_some() {
            let s = slots.remove(session)?;
            return Some(Arrival::Paired(s.client?.1, s.agent?.1));
        }
        Some(Arrival::Parked(generation))
    }

    /// Notes that bytes moved in a session.
    pub fn touch(&self, session: &str) {
        self.clocks.touch(session);
    }

    /// Drops a parked side still waiting after its deadline, if it is the
    /// same stream (`generation`) and not a later redial; true if it did.
    pub fn expire(&self, session: &str, is_client: bool, generation: u64) -> bool {
        let Ok(mut slots) = self.slots.lock() else {
            return false;
        };
        let Some(slot) = slots.get_mut(session) else {
            return false;
        };
        let side = if is_client {
            &mut slot.client
        } else {
            &mut slot.agent
        };
        if side.as_ref().is_none_or(|(g, _)| *g != generation) {
            return false;
        }
        *side = None;
        if slot.client.is_none() && slot.agent.is_none() {
            slots.remove(session);
        }
        true
    }

    /// Which sides are parked waiting: (client, agent).
    pub fn parked(&self, session: &str) -> (bool, bool) {
        self.slots
            .lock()
            .ok()
            .and_then(|s| {
                s.get(session)
                    .map(|s| (s.client.is_some(), s.agent.is_some()))
            })
            .unwrap_or((false, false))
    }

    /// Whether a relay runs for the session now.
    pub fn is_relaying(&self, session: &str) -> bool {
        self.relays
            .lock()
            .map(|r| r.contains_key(session))
            .unwrap_or(false)
    }

    /// The sessions whose relays run now.
    pub fn relaying(&self) -> Vec<String> {
        self.relays
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Records a running relay, ending an older one for the same session.
    pub fn relay_started(&self, session: &str, h: tokio::task::AbortHandle) {
        self.clocks.relaying(session);
        if let Ok(mut r) = self.relays.lock()
            && let Some(old) = r.insert(session.to_owned(), h)
        {
            old.abort();
        }
    }

    /// A relay ended; if it was the session's current one, the session's
    /// resume window starts (`client_closed`: the client sent end of stream).
    pub fn relay_ended(&self, session: &str, h: &tokio::task::AbortHandle, client_closed: bool) {
        if let Ok(mut r) = self.relays.lock()
            && r.get(session).is_some_and(|x| x.id() == h.id())
        {
            r.remove(session);
            self.clocks.relay_ended(session, client_closed);
        }
    }

    /// The session's recorder: the one kept from an earlier relay (told a
    /// new transport starts), or a new one from `create`. True if new.
    pub fn recorder(
        &self,
        session: &str,
        create: impl FnOnce() -> std::io::Result<recording::Recorder>,
    ) -> std::io::Result<(Arc<Mutex<recording::Recorder>>, bool)> {
        let mut m = self
            .recorders
            .lock()
            .map_err(|_| std::io::Error::other("recorder table poisoned"))?;
        if let Some(r) = m.get(session) {
            if let Ok(mut g) = r.lock() {
                g.reconnected();
            }
            return Ok((r.clone(), false));
        }
        let r = Arc::new(Mutex::new(create()?));
        m.insert(session.to_owned(), r.clone());
        Ok((r, true))
    }

    /// A single-use token to download `session`'s recording at `path`,
    /// valid for [`replay::TOKEN_TTL`].
    pub fn replay_token(&self, session: &str, path: std::path::PathBuf) -> Option<String> {
        let token = crate::iam::ids::random_hex(32);
        let mut m = self.replays.lock().ok()?;
        m.retain(|_, g| g.expires > Instant::now());
        m.insert(
            store::sha256_hex(&token),
            replay::Grant {
                session: session.to_owned(),
                path,
                expires: Instant::now() + replay::TOKEN_TTL,
            },
        );
        Some(token)
    }

    /// The recording a token grants, once, if it is for `session` and fresh.
    pub fn redeem_replay(&self, session: &str, token: &str) -> Option<std::path::PathBuf> {
        let g = self
            .replays
            .lock()
            .ok()?
            .remove(&store::sha256_hex(token))?;
        (g.session == session && g.expires > Instant::now()).then_some(g.path)
    }

    /// Drops everything of a session: parked streams, the relay, the recorder.
    /// Ends the live recording of a session cut short with a marker naming
    /// `why`; None when this process holds no recording of it.
    pub fn cut_recording(&self, session: &str, why: &str) -> Option<()> {
        let m = self.recorders.lock().ok()?;
        let mut r = m.get(session)?.lock().ok()?;
        r.cut_short(why).map(drop)
    }

    pub fn terminate(&self, session: &str) {
        self.clocks.forget(session);
        if let Ok(mut m) = self.recorders.lock()
            && let Some(r) = m.remove(session)
            && let Ok(g) = r.lock()
        {
            // Sync off this thread: it may be an async one.
            let (file, dirty) = g.syncer();
            if dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
                std::thread::spawn(move || file.sync_data());
            }
        }
        if let Ok(mut s) = self.slots.lock() {
            s.remove(session);
        }
        if let Ok(mut r) = self.relays.lock()
            && let Some(h) = r.remove(session)
        {
            h.abort();
        }
    }
}
