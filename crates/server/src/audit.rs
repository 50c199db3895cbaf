//! The audit log: every API decision, allowed or denied, appended with who,
//! what, on which resource, the deciding statement, source and request id.

use rusqlite::{Connection, params_from_iter};
use serde::Serialize;

use crate::api_error::ApiError;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AuditEvent {
    pub event_id: i64,
    pub event_time: String,
    pub request_id: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub decision: String,
    pub statement: Option<String>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

/// One decision to append. Never put a secret in any field.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub request_id: &'a str,
    pub principal: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub decision: &'a str,
    pub statement: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// Appends a decision. When the disk is full the record is kept in memory
/// (and logged in full) and written as soon as the database takes writes
/// again; the call goes on if it only reads or was refused, and fails
/// with the disk-full error otherwise (nothing is changed unaudited).
pub fn append(conn: &Connection, r: &Record<'_>) -> Result<(), ApiError> {
    pending::flush(conn);
    match insert(conn, None, r) {
        Ok(()) => {
            log(r);
            Ok(())
        }
        Err(e) if crate::api_error::is_disk_full(&e) => {
            pending::defer(conn, r);
            if r.decision != "Allow" || is_read_only(r.action) {
                Ok(())
            } else {
                Err(e.into())
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Actions that change nothing: `Describe*`, `List*`, `Get*`, `Lookup*`,
/// `Simulate*` and recording replay.
pub fn is_read_only(action: &str) -> bool {
    let verb = action.rsplit(':').next().unwrap_or(action);
    ["Describe", "List", "Get", "Lookup", "Simulate"]
        .iter()
        .any(|p| verb.starts_with(p))
        || verb == "ReplaySession"
}

fn insert(conn: &Connection, time: Option<&str>, r: &Record<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log(time, request_id, principal, action, resource, decision, statement, source_ip, detail)
         VALUES (COALESCE(?9, strftime('%Y-%m-%dT%H:%M:%fZ','now')), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(
        rusqlite::params![
            r.request_id,
            r.principal,
            r.action,
            r.resource,
            r.decision,
            r.statement,
            r.source_ip,
            r.detail,
            time
        ],
    )?;
    Ok(())
}

fn log(r: &Record<'_>) {
    tracing::info!(
        target: "audit",
        request_id = r.request_id,
        principal = r.principal,
        action = r.action,
        resource = r.resource,
        decision = r.decision,
        statement = r.statement,
        "decision"
    );
}

/// Audit records waiting for disk space, per database file.
pub mod pending {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use rusqlite::Connection;

    use super::Record;

    /// At most this many records wait; more are lost (and counted).
    pub const MAX: usize = 10_000;

    /// Records deferred since start, and records lost because too many waited.
    pub static DEFERRED: AtomicU64 = AtomicU64::new(0);
    pub static LOST: AtomicU64 = AtomicU64::new(0);
    static WAITING: AtomicUsize = AtomicUsize::new(0);
    static QUEUE: Mutex<VecDeque<Owned>> = Mutex::new(VecDeque::new());

    struct Owned {
        db: String,
        time: String,
        fields: [String; 5],
        optional: [Option<String>; 3],
    }

    /// Records waiting now.
    pub fn waiting() -> usize {
        WAITING.load(Ordering::Relaxed)
    }

    fn now() -> String {
        let t = time::OffsetDateTime::now_utc();
        let ms = t.millisecond();
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        format!("{}.{ms:03}Z", t.format(&fmt).unwrap_or_default())
    }

    pub(super) fn defer(conn: &Connection, r: &Record<'_>) {
        let n = DEFERRED.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            target: "audit",
            request_id = r.request_id,
            principal = r.principal,
            action = r.action,
            resource = r.resource,
            decision = r.decision,
            statement = r.statement,
            detail = r.detail,
            deferred = n,
            "cannot write this audit record: the state directory's disk is full; it is kept in memory and written when space returns"
        );
        let Ok(mut q) = QUEUE.lock() else { return };
        if q.len() >= MAX {
            let lost = LOST.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(target: "audit", lost, "audit record lost: {MAX} records already wait for disk space");
            return;
        }
        q.push_back(Owned {
            db: conn.path().unwrap_or_default().to_owned(),
            time: now(),
            fields: [r.request_id, r.principal, r.action, r.resource, r.decision]
                .map(str::to_owned),
            optional: [r.statement, r.source_ip, r.detail].map(|o| o.map(str::to_owned)),
        });
        WAITING.store(q.len(), Ordering::Relaxed);
    }

    /// Writes the records waiting for this database, oldest first, until
    /// one fails. Cheap when none wait.
    pub fn flush(conn: &Connection) {
        if waiting() == 0 {
            return;
        }
        let db = conn.path().unwrap_or_default().to_owned();
        let Ok(mut q) = QUEUE.lock() else { return };
        let mut written = 0;
        let mut i = 0;
        while i < q.len() {
            if q[i].db != db {
                i += 1;
                continue;
            }
            let o = &q[i];
            let r = Record {
                request_id: &o.fields[0],
                principal: &o.fields[1],
                action: &o.fields[2],
                resource: &o.fields[3],
                decision: &o.fields[4],
                statement: o.optional[0].as_deref(),
                source_ip: o.optional[1].as_deref(),
                detail: o.optional[2].as_deref(),
            };
            if super::insert(conn, Some(&o.time), &r).is_err() {
                break;
            }
            q.remove(i);
            written += 1;
        }
        WAITING.store(q.len(), Ordering::Relaxed);
        if written > 0 {
            tracing::warn!(target: "audit", written, waiting = q.len(), "audit records kept while the disk was full are written");
        }
    }
}

/// Filters for `airlock audit` and the console's audit page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Query {
    /// RFC 3339 time; events at or after it.
    pub start_time: Option<String>,
    /// RFC 3339 time; events at or before it.
    pub end_time: Option<String>,
    pub principal: Option<String>,
    /// Events whose resource contains this text (an instance or session
    /// id, or a whole ARN).
    pub resource: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub max_results: Option<u32>,
}

pub fn query(conn: &Connection, q: &Query) -> Result<Vec<AuditEvent>, ApiError> {
    let mut sql = String::from(
        "SELECT id, time, request_id, principal, action, resource, decision, statement, source_ip, detail FROM audit_log WHERE 1=1",
    );
    let mut args: Vec<String> = Vec::new();
    for (field, t, op) in [
        ("StartTime", &q.start_time, ">="),
        ("EndTime", &q.end_time, "<="),
    ] {
        let Some(t) = t else { continue };
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::validation(format!("{field} {t:?} is not an RFC 3339 time")))?;
        sql.push_str(&format!(" AND julianday(time) {op} julianday(?)"));
        args.push(t.clone());
    }
    if let Some(p) = &q.principal {
        sql.push_str(" AND (principal = ? OR principal LIKE '%/' || ?)");
        args.push(p.clone());
        args.push(p.clone());
    }
    if let Some(r) = q.resource.as_ref().filter(|r| !r.is_empty()) {
        sql.push_str(" AND instr(resource, ?) > 0");
        args.push(r.clone());
    }
    if let Some(a) = &q.action {
        sql.push_str(" AND lower(action) = lower(?)");
        args.push(a.clone());
    }
    if let Some(d) = &q.decision {
        sql.push_str(" AND decision = ?");
        args.push(d.clone());
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT {}",
        q.max_results.unwrap_or(1000).min(10_000)
    ));
    let mut st = conn.prepare(&sql)?;
    let mut rows: Vec<AuditEvent> = st
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(AuditEvent {
                event_id: r.get(0)?,
                event_time: r.get(1)?,
                request_id: r.get(2)?,
                principal: r.get(3)?,
                action: r.get(4)?,
                resource: r.get(5)?,
                decision: r.get(6)?,
                statement: r.get(7)?,
                source_ip: r.get(8)?,
                detail: r.get(9)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_writes_by_their_verb() {
        for a in [
            "ssm:DescribeSessions",
            "iam:ListUsers",
            "iam:GetUser",
            "cloudtrail:LookupEvents",
            "airlock:ReplaySession",
        ] {
            assert!(is_read_only(a), "{a}");
        }
        for a in ["iam:CreateUser", "ssm:StartSession", "ssm:TerminateSession"] {
            assert!(!is_read_only(a), "{a}");
        }
    }

    #[test]
    fn appended_decisions_are_found_by_principal_action_and_time() {
        let t0 = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        for (p, a, d) in [
            ("arn:aws:iam::1:user/alice", "ssm:StartSession", "Deny"),
            ("arn:aws:iam::1:user/bob", "iam:ListUsers", "Allow"),
        ] {
            append(
                &conn,
                &Record {
                    request_id: "r",
                    principal: p,
                    action: a,
                    resource: "*",
                    decision: d,
                    ..Record::default()
                },
            )
            .unwrap();
        }
        let q = Query {
            principal: Some("alice".into()),
            ..Query::default()
        };
        let got = query(&conn, &q).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].decision, "Deny");
        let q = Query {
            action: Some("IAM:listusers".into()),
            ..Query::default()
        };
        assert_eq!(
            query(&conn, &q).unwrap()[0].principal,
            "arn:aws:iam::1:user/bob"
        );
        let since = |t: time::OffsetDateTime| Query {
            start_time: Some(
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            ),
            ..Query::default()
        };
        assert_eq!(
            query(&conn, &since(t0)).unwrap().len(),
            2,
            "events within the second count"
        );
        assert!(
            query(&conn, &since(t0 + time::Duration::minutes(1)))
                .unwrap()
                .is_empty()
        );
        let bad = Query {
            start_time: Some("yesterday".into()),
            ..Query::default()
        };
        assert_eq!(
            query(&conn, &bad).unwrap_err().code.as_str(),
            "ValidationError"
        );
    }

    #[test]
    fn decisions_are_found_by_resource_text_and_before_an_end_time() {
        let tmp = tempfile::tempdir().unwrap();
        let (conn, _) = crate::db::open(&tmp.path().join("a.db")).unwrap();
        for r in [
            "arn:aws:ssm:us-east-1:1:managed-instance/mi-0aa",
            "arn:aws:ssm:us-east-1:1:session/admin-0bb",
        ] {
            append(
                &conn,
                &Record {
                    request_id: "r",
                    principal: "arn:aws:iam::1:user/bob",
                    action: "ssm:TerminateSession",
                    resource: r,
                    decision: "Deny",
                    ..Record::default()
                },
            )
            .unwrap();
        }
        let on = |r: &str| Query {
            resource: Some(r.into()),
            ..Query::default()
        };
        let got = query(&conn, &on("admin-0bb")).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].resource.ends_with("session/admin-0bb"));
        assert_eq!(query(&conn, &on("mi-")).unwrap().len(), 1);
        assert_eq!(query(&conn, &on("_")).unwrap().len(), 0, "no wildcards");
        assert_eq!(query(&conn, &on("")).unwrap().len(), 2, "empty: any");
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let now = time::OffsetDateTime::now_utc();
        let until = |t| Query {
            end_time: Some(fmt(t)),
            ..Query::default()
        };
        assert!(
            query(&conn, &until(now - time::Duration::minutes(1)))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            query(&conn, &until(now + time::Duration::minutes(1)))
                .unwrap()
                .len(),
            2
        );
        let bad = Query {
            end_time: Some("tomorrow".into()),
            ..Query::default()
        };
        let e = query(&conn, &bad).unwrap_err();
        assert_eq!(e.code.as_str(), "ValidationError");
        assert!(e.message.contains("EndTime"), "{}", e.message);
    }
}
