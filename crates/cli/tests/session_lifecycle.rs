//! A session's state follows its streams (issue 15): a session whose
//! client exits, whose streams are gone past the resume window (also across
//! a server restart, from the clocks stored in the database) ends as
//! Terminated; one that never pairs ends as Failed with its reason; each
//! end is audited. And a full state disk: reads keep working, writes fail
//! saying so, and the server recovers by itself.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::forge;
use support::{Agent, Env, Server, instance, register_agent, wait_for};

/// A TCP echo server on loopback; returns its port.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut r) = s.try_clone() else { return };
                let mut w = s;
                let _ = std::io::copy(&mut r, &mut w);
                let _ = w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// A node: a server started with `vars` (its log in the temporary
/// directory), one registered agent, online.
fn node(vars: &[(&str, &str)]) -> (Env, Server, Agent, String) {
    let env = Env::new();
    let server = start_server(&env, vars);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let agent = Agent::start(&env, &dir);
    wait_for(20, "the node to come online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    (env, server, agent, id)
}

/// `airlock server run`, logging at info level to `server.log`.
fn start_server(env: &Env, vars: &[(&str, &str)]) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.tmp.path().join("server.log"))
        .expect("server log");
    let child = env
        .cmd()
        .envs(vars.iter().copied())
        .args(["--log-level", "info", "server", "run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn server");
    let s = Server::adopt(child);
    support::wait_healthy(env);
    s
}

/// The server's log, for a failure's message.
fn server_log(env: &Env) -> String {
    support::read(&env.tmp.path().join("server.log"))
}

/// One session as DescribeSessions shows it.
fn session(env: &Env, id: &str) -> Value {
    let (st, v) = forge::call(
        env,
        "default",
        "ssm",
        "DescribeSessions",
        &json!({ "SessionId": id }),
    );
    assert_eq!(st, 200, "DescribeSessions: {v}");
    v["Sessions"][0].clone()
}

fn active_sessions(env: &Env) -> Vec<Value> {
    let (st, v) = forge::call(
        env,
        "default",
        "ssm",
        "DescribeSessions",
        &json!({ "State": "Active" }),
    );
    assert_eq!(st, 200, "DescribeSessions: {v}");
    v["Sessions"].as_array().cloned().unwrap_or_default()
}

/// Waits for the session to end; returns its record.
fn ended(env: &Env, id: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = session(env, id);
        if s["EndDate"].is_string() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "session {id} did not end within {secs} s: {s}\nserver log:\n{}",
            server_log(env)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The audit log's `ssm:TerminateSession` details for a session.
fn end_audit(env: &Env, id: &str) -> Vec<String> {
    let v: Value =
        serde_json::from_str(&env.ok(&["--json", "audit", "--action", "ssm:TerminateSession"]))
            .expect("audit json");
    v["Events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["Resource"] == id)
        .filter_map(|e| e["Detail"].as_str().map(str::to_owned))
        .collect()
}

/// `airlock proxy NODE PORT` to the echo server, checked to carry bytes;
/// returns the process and its session id.
fn proxy(env: &Env, node: &str, port: u16) -> (Child, String) {
    let mut p = env
        .cmd()
        .args(["proxy", node, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn airlock proxy");
    let mut stdin = p.stdin.take().expect("stdin");
    stdin.write_all(b"ping\n").expect("write");
    let mut got = [0u8; 5];
    p.stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut got)
        .expect("echo through the proxy");
    assert_eq!(&got, b"ping\n");
    p.stdin = Some(stdin);
    let id = wait_for(10, "the proxy's session to be Connected", || {
        active_sessions(env)
            .into_iter()
            .find(|s| s["Status"] == "Connected")
            .and_then(|s| s["SessionId"].as_str().map(str::to_owned))
    });
    (p, id)
}

#[test]
fn a_session_through_airlock_proxy_ends_when_the_client_exits() {
    let (env, _server, _agent, node) = node(&[]);
    let echo = echo_server();

    // ssh closes the ProxyCommand's stdin when it is done.
    let (mut p, id) = proxy(&env, &node, echo);
    drop(p.stdin.take());
    wait_for(10, "airlock proxy to exit after its stdin closed", || {
        p.try_wait().ok().flatten()
    });
    let s = ended(&env, &id, 30);
    assert_eq!(s["Status"], "Terminated", "{s}");

    // A client killed outright cannot say goodbye: its stream just closes.
    let (mut p, id) = proxy(&env, &node, echo);
    let _ = p.kill();
    let _ = p.wait();
    let s = ended(&env, &id, 30);
    assert_eq!(s["Status"], "Terminated", "{s}");
    let why = "the client closed its stream and did not resume";
    assert_eq!(s["StatusReason"], why, "{s}");
    let audit = end_audit(&env, &id);
    assert!(
        audit.iter().any(|d| *d == format!("Terminated: {why}")),
        "{audit:?}"
    );
    assert!(active_sessions(&env).is_empty());
}

/// Why a session ends whose node's agent disconnected and did not return.
const AGENT_GONE: &str = "the node's agent disconnected (its control channel was lost) and stayed away past the resume window";

#[test]
fn a_session_whose_agent_is_gone_past_the_resume_window_ends() {
    let (env, _server, mut agent, node) = node(&[("AIRLOCK_RESUME_WINDOW_SECS", "4")]);
    let (mut p, id) = proxy(&env, &node, echo_server());
    let killed = Instant::now();
    agent.kill();
    kill_worker(&id);
    // The client redials and waits for an agent that never comes back.
    let s = ended(&env, &id, 30);
    assert_eq!(s["Status"], "Failed", "{s}");
    assert_eq!(s["StatusReason"], AGENT_GONE, "{s}");
    assert!(
        killed.elapsed() >= Duration::from_secs(4),
        "ended before the resume window"
    );
    let audit = end_audit(&env, &id);
    assert!(
        audit.iter().any(|d| *d == format!("Failed: {AGENT_GONE}")),
        "{audit:?}"
    );
    let _ = p.kill();
    let _ = p.wait();
}

/// Kills a session's worker on drop (it outlives a killed agent), and
/// the command it ran, found by its exact command line.
struct WorkerGuard(String, Option<&'static str>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        kill_worker(&self.0);
        if let Some(command) = self.1 {
            kill_where(|args| args.join(" ") == command);
        }
    }
}

#[test]
fn sessions_whose_worker_outlives_a_killed_agent_end_as_failed_and_leave_the_active_list() {
    let (env, _server, mut agent, node) = node(&[("AIRLOCK_RESUME_WINDOW_SECS", "3")]);
    let echo = echo_server();
    let (mut p, id) = proxy(&env, &node, echo);
    let _worker = WorkerGuard(id.clone(), None);
    // A second kind of session: a command that would run for an hour.
    let mut exec = env
        .cmd()
        .args(["exec", &node, "--", "sleep", "3599"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exec");
    let exec_id = wait_for(10, "the exec's session to be Connected", || {
        active_sessions(&env)
            .into_iter()
            .find(|s| s["SessionId"] != id.as_str() && s["Status"] == "Connected")
            .and_then(|s| s["SessionId"].as_str().map(str::to_owned))
    });
    let _exec_worker = WorkerGuard(exec_id.clone(), Some("sleep 3599"));

    // Only the agent dies: its session workers (processes of their own)
    // keep relaying, but nobody on the node answers for the sessions.
    let killed = Instant::now();
    agent.kill();
    wait_for(10, "the node to show ConnectionLost", || {
        (instance(&env, &node)["PingStatus"] == "ConnectionLost").then_some(())
    });
    for sid in [&id, &exec_id] {
        let s = ended(&env, sid, 30);
        assert_eq!(s["Status"], "Failed", "{s}");
        assert_eq!(s["StatusReason"], AGENT_GONE, "{s}");
        assert!(
            end_audit(&env, sid)
                .iter()
                .any(|d| *d == format!("Failed: {AGENT_GONE}")),
            "{sid}: {:?}",
            end_audit(&env, sid)
        );
    }
    assert!(
        killed.elapsed() >= Duration::from_secs(3),
        "ended before the resume window"
    );
    assert!(
        active_sessions(&env).is_empty(),
        "{:?}",
        active_sessions(&env)
    );
    let listed: Value =
        serde_json::from_str(&env.ok(&["ssm", "describe-sessions", "--state", "Active"]))
            .expect("describe-sessions json");
    assert_eq!(listed["Sessions"], json!([]), "{listed}");
    // Their clients are told: both exit.
    for c in [&mut p, &mut exec] {
        let exited = wait_for(20, "the session's client to exit", || {
            c.try_wait().ok().flatten()
        });
        assert!(
            !exited.success(),
            "a client of a failed session exits non-zero"
        );
    }
}

/// SIGKILLs the agent's session worker for `session` (a process of its
/// own, which outlives the agent), found by its exact command line.
fn kill_worker(session: &str) {
    kill_where(|args| {
        args.iter().any(|a| a == "session-worker") && args.iter().any(|a| a == session)
    });
}

/// SIGKILLs every process whose arguments `matches`.
fn kill_where(matches: impl Fn(&[String]) -> bool) {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if matches(&args) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn a_session_on_a_node_that_is_deleted_ends() {
    let (env, _server, _agent, node) = node(&[]);
    let (mut p, id) = proxy(&env, &node, echo_server());
    // As `airlock delete` forgets a cluster's instances (the session's
    // streams may linger: the node's processes are killed separately).
    let conn = state_db(&env).expect("state database");
    conn.execute("DELETE FROM instances WHERE instance_id = ?1", [&node])
        .expect("delete the instance");
    let s = ended(&env, &id, 20);
    assert_eq!(s["Status"], "Terminated", "{s}");
    assert_eq!(
        s["StatusReason"], "the session's node was deregistered or deleted",
        "{s}"
    );
    let _ = p.kill();
    let _ = p.wait();
}

/// The server's state database, opened beside the running server.
fn state_db(env: &Env) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(env.state_dir().join("airlock.db"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The session's stored clock, read from the state database.
fn streams_seen_at(env: &Env, id: &str) -> Option<String> {
    let conn = state_db(env).ok()?;
    conn.query_row(
        "SELECT streams_seen_at FROM sessions WHERE session_id = ?1",
        [id],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
}

#[test]
fn sessions_left_connected_by_a_crash_end_by_their_stored_clocks_after_a_restart() {
    let window = 24;
    let w = window.to_string();
    let vars = [("AIRLOCK_RESUME_WINDOW_SECS", w.as_str())];
    let (env, server, mut agent, node) = node(&vars);
    let (mut p, id) = proxy(&env, &node, echo_server());
    wait_for(15, "the session's clocks to be stored", || {
        streams_seen_at(&env, &id)
    });
    // Everything dies at once: nobody is left to resume the session.
    server.crash();
    agent.kill();
    kill_worker(&id);
    let _ = p.kill();
    let _ = p.wait();
    let down = Instant::now();
    // On purpose: down for half the resume window, which counts on.
    std::thread::sleep(Duration::from_secs(12));
    let _server = start_server(&env, &vars);
    let restarted = Instant::now();
    assert_eq!(session(&env, &id)["Status"], "Connected");
    let s = ended(&env, &id, 40);
    let after = restarted.elapsed();
    assert_eq!(s["Status"], "Terminated", "{s}");
    assert_eq!(
        s["StatusReason"], "the session's streams were gone past the resume window",
        "{s}"
    );
    // Counted from when the streams were last seen (at most 5 s before the
    // crash), not from the restart.
    assert!(
        after < Duration::from_secs(window - 4),
        "ended {after:?} after the restart ({:?} after the crash): the window restarted with the server",
        down.elapsed()
    );
}

#[test]
fn a_session_that_never_pairs_fails_with_its_reason() {
    let (env, _server, agent, node) = node(&[("AIRLOCK_PAIRING_TIMEOUT_SECS", "3")]);

    // The agent joins; the client never dials.
    let (st, v) = forge::call(
        &env,
        "default",
        "ssm",
        "StartSession",
        &json!({ "Target": node }),
    );
    assert_eq!(st, 200, "{v}");
    let lonely = v["SessionId"].as_str().expect("SessionId").to_owned();
    let s = ended(&env, &lonely, 30);
    assert_eq!(s["Status"], "Failed", "{s}");
    assert_eq!(
        s["StatusReason"], "the client never joined the session within 3 s",
        "{s}"
    );
    assert!(
        end_audit(&env, &lonely)
            .iter()
            .any(|d| d == "Failed: the client never joined the session within 3 s")
    );

    // The client dials; the agent is stopped and never joins.
    agent.signal("STOP");
    let mut exec = env
        .cmd()
        .args(["exec", &node, "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exec");
    let id = wait_for(10, "the exec's session", || {
        active_sessions(&env)
            .into_iter()
            .find(|s| s["SessionId"] != lonely.as_str())
            .and_then(|s| s["SessionId"].as_str().map(str::to_owned))
    });
    let s = ended(&env, &id, 30);
    agent.signal("CONT");
    let _ = exec.kill();
    let _ = exec.wait();
    assert_eq!(s["Status"], "Failed", "{s}");
    // Whichever the server sees first: the pairing timeout, or the stopped
    // agent's missed heartbeats (1 s apart here).
    let why = s["StatusReason"].as_str().unwrap_or_default();
    assert!(
        why == "the node's agent never joined the session within 3 s"
            || why == "the node's agent lost its control channel before the session started",
        "{s}"
    );
    assert!(
        end_audit(&env, &id)
            .iter()
            .any(|d| d.starts_with("Failed: the node's agent"))
    );
}

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "cannot mount a tmpfs on {}", dir.display());
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem holding `file` until it is full.
fn fill(file: &std::path::Path) {
    let mut f = std::fs::File::create(file).expect("create filler");
    let block = vec![0u8; 64 * 1024];
    let mut small = [0u8; 512];
    small.fill(1);
    while f.write_all(&block).is_ok() {}
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[test]
#[ignore = "needs root"]
fn a_full_state_disk_keeps_reads_working_refuses_writes_clearly_and_recovers() {
    support::require_root("mounting a tmpfs as the state directory");
    let _root = support::root_lock();
    let env = Env::new();
    let state = env.state_dir();
    let _disk = Tmpfs::mount(&state, "4m");
    let _server = start_server(&env, &[]);
    env.ok(&["iam", "create-user", "--user-name", "before"]);
    let filler = state.join("filler");
    fill(&filler);

    // Writes fail, saying why and where.
    let mut refused = None;
    for i in 0..200 {
        let o = env.run(&["iam", "create-user", "--user-name", &format!("u{i}")]);
        if !o.status.success() {
            refused = Some(String::from_utf8_lossy(&o.stderr).into_owned());
            break;
        }
    }
    let refused = refused.expect("a write failed on the full disk");
    let want = format!("the state directory's disk is full ({})", state.display());
    assert!(
        refused.contains(&want) && refused.contains("InsufficientStorageException"),
        "{refused}\nserver log:\n{}",
        server_log(&env)
    );
    assert!(refused.contains("free space"), "a hint: {refused}");

    // Reads answer.
    let users = env.run(&["--json", "iam", "list-users"]);
    assert!(
        users.status.success() && String::from_utf8_lossy(&users.stdout).contains("before"),
        "{}",
        String::from_utf8_lossy(&users.stderr)
    );
    let (st, v) = forge::call(&env, "default", "ssm", "DescribeSessions", &json!({}));
    assert_eq!(st, 200, "{v}");
    let (st, v) = forge::call(&env, "default", "airlock", "DescribeServer", &json!({}));
    assert_eq!(st, 200, "{v}");
    assert!(
        v["DiskFull"]["AuditRecordsDeferred"].as_u64() >= Some(1),
        "the reads' audit records wait in memory: {v}"
    );

    let status = env.ok(&["server", "status"]);
    assert!(
        status.contains("Disk full:") && status.contains("writes refused"),
        "{status}"
    );

    // Space returns: writes work again, with no restart, and the audit
    // records of the reads made meanwhile are written.
    std::fs::remove_file(&filler).expect("remove filler");
    wait_for(15, "writes to work again", || {
        env.run(&["iam", "create-user", "--user-name", "after"])
            .status
            .success()
            .then_some(())
    });
    let audit: Value =
        serde_json::from_str(&env.ok(&["--json", "audit", "--action", "airlock:DescribeServer"]))
            .expect("audit json");
    assert!(
        !audit["Events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty(),
        "the read made while the disk was full is audited: {audit}"
    );
}

#[test]
fn an_idle_session_ends_although_heartbeats_keep_flowing() {
    let (env, _server, _agent, id) = node(&[]);
    // The wire protocol pings every 10 s; an idle timeout of 12 s only
    // fires if those pings do not count as activity.
    env.ok(&["session", "preferences", "--idle-session-timeout", "12s"]);
    let s = forge::Forged::start(
        &env,
        "default",
        &id,
        "AWS-StartNonInteractiveCommand",
        json!({"command": ["sleep 300"]}),
    );
    let kind = airlock_wire::ChannelKind::Exec {
        command: "sleep 300".into(),
        stdin: false,
    };
    let sid = s.session_id.clone();
    std::thread::spawn(move || {
        let _ = s.open(kind, None, None);
    });
    let started = Instant::now();
    let rec = ended(&env, &sid, 40);
    assert_eq!(rec["Status"], "Terminated", "{rec}");
    assert!(
        rec["StatusReason"]
            .as_str()
            .unwrap_or_default()
            .contains("idle"),
        "{rec}"
    );
    assert!(started.elapsed() >= Duration::from_secs(10), "{rec}");
}

#[test]
fn the_recording_of_a_session_cut_short_says_so() {
    let (env, _server, mut agent, node) = node(&[("AIRLOCK_RESUME_WINDOW_SECS", "4")]);
    let command = "echo recorded-line; sleep 300";
    let s = forge::Forged::start(
        &env,
        "default",
        &node,
        "AWS-StartInteractiveCommand",
        json!({"command": [command]}),
    );
    let id = s.session_id.clone();
    let shell = airlock_wire::ChannelKind::Shell {
        term: "xterm".into(),
        cols: 80,
        rows: 24,
        env: vec![],
        command: Some(command.into()),
    };
    std::thread::spawn(move || {
        let _ = s.open(shell, None, None);
    });
    let cast = env
        .state_dir()
        .join("recordings")
        .join(format!("{id}.cast"));
    wait_for(20, "the output in the recording", || {
        std::fs::read_to_string(&cast)
            .ok()
            .filter(|c| c.contains("recorded-line"))
    });
    agent.kill();
    kill_worker(&id);
    let rec = ended(&env, &id, 30);
    assert_eq!(rec["RecordingStatus"], "Truncated", "{rec}");
    assert!(
        rec["RecordingStatusReason"]
            .as_str()
            .unwrap_or_default()
            .contains("ended abnormally"),
        "{rec}"
    );
    let text = std::fs::read_to_string(&cast).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last[1], "m", "{last}");
    assert!(
        last[2]
            .as_str()
            .unwrap_or_default()
            .contains("past the resume window"),
        "{last}"
    );
}
