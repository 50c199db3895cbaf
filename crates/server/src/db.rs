//! The server's SQLite database and the one way to it: opening it (WAL),
//! recognising a corrupt or newer file, versioned migrations, the pool;
//! `checkout` (a pooled connection, in blocking code), `run` (a step off the
//! async threads), `immediate` and `write_tx` (write transactions).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::api_error::ApiError;

mod text_enum;

/// The pool the request handlers draw connections from.
pub type Pool = r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>;
/// A connection borrowed from the [`Pool`].
pub type PooledConn = r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>;

/// How long a connection waits for another's write lock before failing.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Connections in the pool: enough for the blocking threads that do work.
pub const POOL_SIZE: u32 = 16;

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[
    include_str!("db/0001_init.sql"),
    include_str!("db/0002_instances.sql"),
    include_str!("db/0003_sessions.sql"),
    include_str!("db/0004_clusters.sql"),
    include_str!("db/0005_console.sql"),
    include_str!("db/0006_iam_names_nocase.sql"),
    include_str!("db/0007_recording.sql"),
    include_str!("db/0008_session_activity.sql"),
    include_str!("db/0009_join_tokens.sql"),
    include_str!("db/0010_cluster_secrets.sql"),
    include_str!("db/0011_compute_fleet.sql"),
    include_str!("db/0012_nonce_expiry_index.sql"),
];

/// Errors opening the database. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "the state database {path} is corrupt or not an airlock database ({reason}); move it aside and restart to begin afresh, or restore a backup"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the state database {path} was written by a newer airlock (schema {found}, this build knows {known}); upgrade airlock or use another --state-dir"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot open a pool of connections to the state database {path}: {reason}")]
    Pool { path: PathBuf, reason: String },
}

/// The highest schema version this build knows.
pub fn schema_version() -> usize {
    MIGRATIONS.len()
}

/// Opens (creating if needed) and migrates the database. Returns the
/// connection and whether the database was created by this call.
pub fn open(path: &Path) -> Result<(Connection, bool), DbError> {
    let created = !path.exists();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| DbError::Open {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |e: rusqlite::Error| DbError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    let integrity: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(corrupt)?;
    if integrity != "ok" {
        return Err(DbError::Corrupt {
            path: path.to_owned(),
            reason: integrity,
        });
    }
    if version < 0 || version as usize > MIGRATIONS.len() {
        return Err(DbError::Newer {
            path: path.to_owned(),
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    if !created && version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(corrupt)?;
        if tables > 0 {
            return Err(DbError::Corrupt {
                path: path.to_owned(),
                reason: "it holds tables but no airlock schema version".into(),
            });
        }
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    migrate(&conn, version as usize)?;
    Ok((conn, created || version == 0))
}

/// A pool over a database that [`open`] has already migrated. Each
/// connection gets the same pragmas and a busy timeout, so writers queue on
/// SQLite's own lock instead of a process-wide mutex.
pub fn pool(path: &Path) -> Result<Pool, DbError> {
    if let Some(dir) = path.parent() {
        crate::api_error::note_state_dir(dir);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let manager = r2d2_sqlite::SqliteConnectionManager::file(path)
        .with_flags(flags)
        .with_init(|c| {
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.busy_timeout(BUSY_TIMEOUT)
        });
    r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(2))
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(manager)
        .map_err(|e| DbError::Pool {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Runs `f` atomically against every other connection, for read-modify-
/// write steps: in a new `BEGIN IMMEDIATE` transaction (committed on
/// success, rolled back on an error or a panic), or in the caller's own.
pub fn immediate<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if !conn.is_autocommit() {
        return f();
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let out = f()?;
    tx.commit()?;
    Ok(out)
}

/// Runs a blocking database step off the async threads, on a connection
/// of its own. A panic in `f` becomes a logged 500 and harms no other step.
pub async fn run<T: Send + 'static>(
    state: &crate::http::Shared,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    crate::http::blocking(move || {
        let conn = crate::db::checkout(&st.db)?;
        f(&conn)
    })
    .await
}

/// Runs `f` in one write transaction (`BEGIN IMMEDIATE`): atomic against
/// every other connection, rolled back by a panic, committed on error too
/// (refusals write audit records). Only for steps that hand nothing to
/// another task before they return: what they write is seen after commit.
pub fn write_tx<T>(
    conn: &mut rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx);
    tx.commit()?;
    out
}

/// Takes a connection from the pool. One that a panicking request left
/// inside a transaction is rolled back first, so it cannot hold the write
/// lock for everyone else.
pub fn checkout(pool: &Pool) -> Result<PooledConn, ApiError> {
    let conn = pool.get().map_err(|e| {
        tracing::error!(error = %e, "no database connection available");
        ApiError::new(
            airlock_proto::ErrorCode::ServiceUnavailable,
            "the server is too busy to reach its database; retry shortly",
        )
    })?;
    if !conn.is_autocommit() {
        tracing::warn!("rolling back a transaction left open on a pooled connection");
        conn.execute_batch("ROLLBACK")?;
    }
    Ok(conn)
}

fn migrate(conn: &Connection, from: usize) -> Result<(), DbError> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_keeps_schema_and_reports_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.db");
        let (_, created) = open(&p).unwrap();
        assert!(created);
        let (conn, created) = open(&p).unwrap();
        assert!(!created);
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, schema_version());
    }

    #[test]
    fn immediate_holds_the_write_lock_and_undoes_errors_and_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.db");
        drop(open(&p).unwrap());
        let pool = pool(&p).unwrap();
        let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
        b.busy_timeout(std::time::Duration::from_millis(20))
            .unwrap();
        let add = |c: &Connection, k: &str| {
            c.execute(
                "INSERT INTO request_nonces(nonce, expires_at) VALUES (?1, 0)",
                [k],
            )
        };
        immediate(&a, || {
            assert!(add(&b, "other").is_err(), "another writer got in");
            add(&a, "kept")?;
            Ok::<_, rusqlite::Error>(())
        })
        .unwrap();
        let e = immediate(&a, || -> Result<(), ApiError> {
            add(&a, "error")?;
            Err(ApiError::validation("no"))
        });
        assert!(e.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            immediate(&a, || -> Result<(), ApiError> {
                add(&a, "panic")?;
                panic!("injected")
            })
        }));
        assert!(panicked.is_err());
        assert!(a.is_autocommit());
        add(&b, "after").unwrap();
        let mut st = a
            .prepare("SELECT nonce FROM request_nonces ORDER BY nonce")
            .unwrap();
        let left: Vec<String> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, ["after", "kept"]);
    }

    #[test]
    fn garbage_file_is_reported_corrupt_with_advice() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.db");
        std::fs::write(&p, vec![0x5a; 8192]).unwrap();
        let err = open(&p).unwrap_err();
        assert!(matches!(err, DbError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.db");
        let (conn, _) = open(&p).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let err = open(&p).unwrap_err();
        assert!(matches!(err, DbError::Newer { found: 999, .. }), "{err}");
        assert!(err.to_string().contains("upgrade airlock"), "{err}");
    }
}
