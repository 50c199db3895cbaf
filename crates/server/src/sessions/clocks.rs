//! The reaper's clocks for each session, in memory between batched writes:
//! when bytes last moved, and when (and how) its relay last ended. The
//! reaper writes them every [`FLUSH`] so a restart resumes them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::store::ClockWrite;

/// How often the clocks are written to the database, in one transaction.
pub const FLUSH: Duration = Duration::from_secs(5);

/// How a session's relay last ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    pub at: SystemTime,
    /// The client ended its stream with a clean end of stream (FIN).
    pub client_closed: bool,
}

#[derive(Default)]
struct Clock {
    activity: Option<SystemTime>,
    dirty: bool,
    gone: Option<Gone>,
}

#[derive(Default)]
pub struct Clocks {
    m: Mutex<HashMap<String, Clock>>,
}

impl Clocks {
    /// Notes that bytes moved.
    pub fn touch(&self, session: &str) {
        if let Ok(mut m) = self.m.lock() {
            let c = match m.get_mut(session) {
                Some(c) => c,
                None => m.entry(session.to_owned()).or_default(),
            };
            c.activity = Some(SystemTime::now());
            c.dirty = true;
        }
    }

    pub fn last_activity(&self, session: &str) -> Option<SystemTime> {
        self.m.lock().ok()?.get(session)?.activity
    }

    /// A relay started: the session's streams are here.
    pub fn relaying(&self, session: &str) {
        if let Ok(mut m) = self.m.lock() {
            m.entry(session.to_owned()).or_default().gone = None;
        }
    }

    /// The relay ended: the resume window starts now.
    pub fn relay_ended(&self, session: &str, client_closed: bool) {
        if let Ok(mut m) = self.m.lock() {
            m.entry(session.to_owned()).or_default().gone = Some(Gone {
                at: SystemTime::now(),
                client_closed,
            });
        }
    }

    pub fn gone(&self, session: &str) -> Option<Gone> {
        self.m.lock().ok()?.get(session)?.gone
    }

    pub fn forget(&self, session: &str) {
        if let Ok(mut m) = self.m.lock() {
            m.remove(session);
        }
    }

    /// What to write now: activity not yet written, and "seen now" for
    /// every session in `relaying`.
    pub fn take_writes(&self, relaying: &[String]) -> Vec<ClockWrite> {
        let now = iso(SystemTime::now());
        let mut out: HashMap<String, ClockWrite> = HashMap::new();
        if let Ok(mut m) = self.m.lock() {
            for (id, c) in m.iter_mut().filter(|(_, c)| c.dirty) {
                c.dirty = false;
                out.insert(
                    id.clone(),
                    ClockWrite {
                        session_id: id.clone(),
                        last_activity_at: c.activity.map(iso),
                        streams_seen_at: None,
                    },
                );
            }
        }
        for id in relaying {
            out.entry(id.clone())
                .or_insert_with(|| ClockWrite {
                    session_id: id.clone(),
                    last_activity_at: None,
                    streams_seen_at: None,
                })
                .streams_seen_at = Some(now.clone());
        }
        out.into_values().collect()
    }
}

/// RFC 3339 in whole seconds, as the database stores times.
pub fn iso(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses a stored RFC 3339 time.
pub fn parse(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_carry_new_activity_once_and_seen_for_relaying_sessions() {
        let c = Clocks::default();
        c.touch("s-1");
        let w = c.take_writes(&["s-2".to_owned()]);
        assert_eq!(w.len(), 2);
        let one = w.iter().find(|w| w.session_id == "s-1").unwrap();
        assert!(one.last_activity_at.is_some() && one.streams_seen_at.is_none());
        let two = w.iter().find(|w| w.session_id == "s-2").unwrap();
        assert!(two.last_activity_at.is_none() && two.streams_seen_at.is_some());
        assert!(c.take_writes(&[]).is_empty(), "activity is written once");
    }

    #[test]
    fn times_round_trip_through_the_stored_form() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse(&iso(t)), Some(t));
    }
}
