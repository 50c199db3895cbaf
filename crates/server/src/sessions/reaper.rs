//! Ends sessions by the rules in [`super::lifecycle`] (idle, maximum
//! duration, streams gone past the resume window, never paired, node
//! gone, its agent gone past the resume window), checking every active session once a second; and writes the
//! sessions' clocks every [`clocks::FLUSH`], so a restart resumes them.

use std::time::{Duration, SystemTime};

use crate::http::Shared;

use super::lifecycle::{self, Facts, Limits};
use super::{clocks, preferences, store};

/// Checks every active session once a second.
pub async fn run(state: Shared) {
    let restart = SystemTime::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_flush = std::time::Instant::now();
    loop {
        tick.tick().await;
        if last_flush.elapsed() >= clocks::FLUSH {
            last_flush = std::time::Instant::now();
            flush(&state).await;
        }
        let found = crate::db::run(&state, |c| {
            // Audit records kept while the disk was full, if space returned.
            crate::audit::pending::flush(c);
            let prefs = preferences::load(c)?;
            let mut out = Vec::new();
            for s in store::list(c, true)? {
                let exists = store::target_exists(c, &s.target)?;
                out.push((s, exists));
            }
            Ok((prefs, out))
        })
        .await;
        let Ok((prefs, sessions)) = found else {
            continue;
        };
        let limits = Limits {
            idle: Duration::from_secs(prefs.idle_timeout_secs()),
            max: prefs.max_duration_secs().map(Duration::from_secs),
            resume_window: lifecycle::resume_window(),
            pairing: lifecycle::pairing_timeout(),
        };
        let now = SystemTime::now();
        for (s, target_exists) in sessions {
            let f = facts(&state, &s, now, restart, target_exists);
            if let Some(why) = lifecycle::decide(&f, &limits) {
                lifecycle::end(&state, &s.session_id, &s.target, why).await;
            }
        }
    }
}

fn facts(
    state: &Shared,
    s: &store::Session,
    now: SystemTime,
    restart: SystemTime,
    target_exists: bool,
) -> Facts {
    let b = &state.broker;
    let stored = s.last_activity_at.as_deref().and_then(clocks::parse);
    let last_activity = match (b.clocks.last_activity(&s.session_id), stored) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Facts {
        now,
        restart,
        started: clocks::parse(&s.start_date).unwrap_or(restart),
        ever_paired: s.status != store::SessionStatus::Connecting,
        relaying: b.is_relaying(&s.session_id),
        parked: b.parked(&s.session_id),
        last_activity,
        gone: b.clocks.gone(&s.session_id),
        seen: s.streams_seen_at.as_deref().and_then(clocks::parse),
        target_exists,
        agent_gone: state.hub.offline_since(&s.target),
    }
}

/// Writes the clocks not yet written, in one transaction.
async fn flush(state: &Shared) {
    let writes = state.broker.clocks.take_writes(&state.broker.relaying());
    if writes.is_empty() {
        return;
    }
    let n = writes.len();
    if let Err(e) = crate::db::run(state, move |c| Ok(store::record_clocks(c, &writes)?)).await {
        tracing::warn!(error = %e.message, sessions = n, "cannot record the sessions' clocks");
    }
}
