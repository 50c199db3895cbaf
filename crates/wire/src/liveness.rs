//! Liveness: when to ping, and when to declare the peer dead.
//!
//! The driver owns the clock and passes `Instant`s in. A side pings after
//! [`PING_INTERVAL`] of silence and declares the peer dead after [`DEAD_AFTER`]
//! (three missed pings) without receiving anything.

use std::time::{Duration, Instant};

/// Silence after which a side sends `Ping`.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Pings that may go unanswered before the peer is dead.
pub const MAX_MISSED_PINGS: u32 = 3;
/// Silence after which the peer is dead: `PING_INTERVAL * MAX_MISSED_PINGS` (30 s).
pub const DEAD_AFTER: Duration = Duration::from_secs(30);

/// What the driver should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LivenessAction {
    /// Nothing until `until` (call `poll` again then, or when a frame arrives).
    Wait { until: Instant },
    /// Send `Ping { nonce }`.
    SendPing { nonce: u64 },
    /// Nothing arrived for [`DEAD_AFTER`]: drop the transport (and await a resume).
    Dead,
}

/// Tracks when the peer was last heard.
#[derive(Clone, Debug)]
pub struct Liveness {
    last_received: Instant,
    last_ping: Option<Instant>,
    nonce: u64,
}

impl Liveness {
    /// Starts tracking at `now`.
    pub fn new(now: Instant) -> Self {
        Liveness {
            last_received: now,
            last_ping: None,
            nonce: 0,
        }
    }

    /// When anything was last received.
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// Call whenever bytes arrive from the peer.
    pub fn on_receive(&mut self, now: Instant) {
        if now > self.last_received {
            self.last_received = now;
        }
    }

    /// Decides what to do at `now`.
    pub fn poll(&mut self, now: Instant) -> LivenessAction {
        let silent = now.saturating_duration_since(self.last_received);
        if silent >= DEAD_AFTER {
            return LivenessAction::Dead;
        }
        let last_activity = match self.last_ping {
            Some(p) if p > self.last_received => p,
            _ => self.last_received,
        };
        let ping_at = last_activity + PING_INTERVAL;
        if now >= ping_at {
            self.last_ping = Some(now);
            self.nonce = self.nonce.wrapping_add(1);
            return LivenessAction::SendPing { nonce: self.nonce };
        }
        LivenessAction::Wait {
            until: ping_at.min(self.last_received + DEAD_AFTER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_peer_is_pinged_three_times_then_dead_within_thirty_seconds() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        let mut pings = 0;
        let mut dead_at = None;
        for s in 0..=40 {
            match l.poll(t0 + Duration::from_secs(s)) {
                LivenessAction::SendPing { .. } => pings += 1,
                LivenessAction::Dead => {
                    dead_at = Some(s);
                    break;
                }
                LivenessAction::Wait { .. } => {}
            }
        }
        assert_eq!(dead_at, Some(30));
        assert_eq!(
            pings, 2,
            "pings at 10 s and 20 s; the third interval ends in death"
        );
    }

    #[test]
    fn traffic_postpones_pings() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_receive(t0 + Duration::from_secs(9));
        assert_eq!(
            l.poll(t0 + Duration::from_secs(12)),
            LivenessAction::Wait {
                until: t0 + Duration::from_secs(19)
            }
        );
    }
}
