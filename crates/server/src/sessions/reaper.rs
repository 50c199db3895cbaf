//! Ends sessions that were idle longer than `idleSessionTimeout` or ran
//! longer than `maxSessionDuration`, as Session Manager does.

use std::time::Duration;

use crate::http::{Shared, db};
use crate::instances::ServerMessage;

use super::{preferences, store};

/// Checks every active session once a second.
pub async fn run(state: Shared) {
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let found = db(&state, |c| {
            Ok((preferences::load(c)?, store::list(c, true)?))
        })
        .await;
        let Ok((prefs, sessions)) = found else {
            continue;
        };
        let idle_limit = Duration::from_secs(prefs.idle_timeout_secs());
        let max = prefs.max_duration_secs().map(Duration::from_secs);
        for s in sessions {
            let age = time::OffsetDateTime::parse(
                &s.start_date,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
            .map(|t| (time::OffsetDateTime::now_utc() - t).unsigned_abs())
            .unwrap_or_default();
            // After a restart activity is unknown: count from the restart.
            let idle = state
                .broker
                .last_activity(&s.session_id)
                .map(|t| t.elapsed())
                .unwrap_or_else(|| age.min(started.elapsed()));
            let reason = if max.is_some_and(|m| age > m) {
                "maximum session duration reached"
            } else if idle > idle_limit {
                "idle session timeout"
            } else {
                continue;
            };
            let id = s.session_id.clone();
            let ended = db(&state, move |c| store::end(c, &id, "Terminated"))
                .await
                .unwrap_or(false);
            if ended {
                tracing::info!(session = %s.session_id, %reason, "session ended");
                let (id, r) = (s.session_id.clone(), reason.to_owned());
                let _ = db(&state, move |c| {
                    crate::audit::append(
                        c,
                        &crate::audit::Record {
                            request_id: "reaper",
                            principal: "airlock",
                            action: "ssm:TerminateSession",
                            resource: &id,
                            decision: "Allow",
                            detail: Some(&r),
                            ..Default::default()
                        },
                    )
                })
                .await;
                state.broker.terminate(&s.session_id);
                state.hub.send(
                    &s.target,
                    ServerMessage::TerminateSession {
                        session_id: s.session_id.clone(),
                    },
                );
            }
        }
    }
}
