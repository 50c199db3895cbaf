//! `airlock server start | status | stop | run`: state, restart, bad input.

mod support;

use support::{DaemonGuard, Env, Server, read};

#[test]
fn start_status_stop_and_restart_keep_the_ca_and_identities() {
    let env = Env::new();
    let _guard = DaemonGuard(&env);
    let out = env.ok(&["server", "start"]);
    assert!(out.contains("airlock server started"), "{out}");
    // Learn the port it picked: the restart below asks for it again.
    support::wait_healthy(&env);
    assert!(
        out.contains(&format!("endpoint {}", env.endpoint())),
        "{out}"
    );
    let status = env.ok(&["server", "status"]);
    assert!(status.contains("Status:          running"), "{status}");
    assert!(
        status.contains(&env.state_dir().display().to_string()),
        "{status}"
    );
    assert!(status.contains("Users 1"), "{status}");
    let ca_before = read(&env.state_dir().join("pki/ca.pem"));
    let creds_before = read(&env.config_dir().join("credentials"));
    assert!(
        creds_before.contains("airlock_access_key_id = AKIA"),
        "{creds_before}"
    );
    assert_eq!(
        read(&env.ca()),
        ca_before,
        "~/.airlock/ca.pem is the server's CA"
    );

    env.ok(&["iam", "create-user", "--user-name", "alice"]);
    assert!(env.ok(&["server", "stop"]).contains("stopped"));
    let o = env.run(&["server", "status"]);
    assert_eq!(o.status.code(), Some(1));

    env.ok(&["server", "start"]);
    assert_eq!(
        read(&env.state_dir().join("pki/ca.pem")),
        ca_before,
        "CA kept"
    );
    assert_eq!(
        read(&env.config_dir().join("credentials")),
        creds_before,
        "admin kept"
    );
    let users = env.ok(&["--json", "iam", "list-users"]);
    assert!(
        users.contains("\"alice\"") && users.contains("\"admin\""),
        "{users}"
    );
    env.ok(&["server", "stop"]);
}

#[test]
fn status_of_a_stopped_server_says_how_to_start_it() {
    let env = Env::new();
    let o = env.run(&["server", "status"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: the airlock server is not running"),
        "{err}"
    );
    assert!(err.contains("airlock server start"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn port_in_use_is_a_one_line_error() {
    let env = Env::new();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let o = env
        .cmd()
        .args(["server", "run", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(line.contains(&format!("{addr} is already in use")), "{err}");
    let o = env
        .cmd()
        .args(["server", "start", "--listen", &addr])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("is already in use"), "{err}");
}

#[test]
fn corrupt_state_database_is_reported_with_advice() {
    let env = Env::new();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(env.state_dir().join("airlock.db"), vec![0x42; 4096]).unwrap();
    let o = env.run(&["server", "run"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("is corrupt") && err.contains("move it aside"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn database_from_a_newer_airlock_is_refused() {
    let env = Env::new();
    let server = Server::start(&env);
    server.stop();
    let db = env.state_dir().join("airlock.db");
    let conn = rusqlite_free_set_version(&db, 999);
    assert!(conn, "could not set version");
    let o = env.run(&["server", "run"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("written by a newer airlock") && err.contains("upgrade airlock"),
        "{err}"
    );
}

/// Sets `PRAGMA user_version` with the sqlite3 shell if present, else by
/// patching the header bytes (offset 60, big-endian), which is what it is.
fn rusqlite_free_set_version(db: &std::path::Path, v: u32) -> bool {
    let _ = std::fs::remove_file(db.with_extension("db-wal"));
    let _ = std::fs::remove_file(db.with_extension("db-shm"));
    let Ok(mut bytes) = std::fs::read(db) else {
        return false;
    };
    if bytes.len() < 100 {
        return false;
    }
    bytes[60..64].copy_from_slice(&v.to_be_bytes());
    std::fs::write(db, bytes).is_ok()
}

#[test]
fn unwritable_state_directory_is_reported_with_advice() {
    let env = Env::new();
    let file = env.tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = env
        .cmd()
        .args(["server", "run", "--state-dir"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("cannot use state directory") && err.contains("--state-dir"),
        "{err}"
    );
}

#[test]
fn completions_are_printed_for_bash() {
    let env = Env::new();
    let out = env.ok(&["completions", "bash"]);
    assert!(out.contains("_airlock()"), "{}", &out[..out.len().min(200)]);
}
