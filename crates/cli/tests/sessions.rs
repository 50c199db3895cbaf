//! Sessions through a real server and agent on loopback: exec, a shell on a
//! real PTY, port forwarding, OpenSSH through `airlock proxy` (and through
//! the `airlock ssh-config` block), `airlock agent status` with a session
//! running, recordings, and refusals.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Env, Node, Server, Terminal, echo_server, node, register_agent, wait_for};

#[test]
fn exec_returns_the_exit_code_and_keeps_stderr_apart() {
    let n = node();
    let o = n.env.run(&[
        "exec",
        &n.id,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let o = n
        .env
        .run(&["exec", &n.id, "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        o.status.code(),
        Some(128 + 15),
        "killed by a signal gives 128+n"
    );
}

/// A command that leaves a background process holding its output ends
/// once that output is quiet for 2 s after the exit (as `ssh host cmd`
/// with a daemon), with all its output (exec), and a PTY's session ends.
#[test]
fn a_background_process_holding_the_output_does_not_keep_the_session_open() {
    let n = node();
    let script = "echo first; (sleep 1; echo late; sleep 60) & echo done; exit 4";
    let started = std::time::Instant::now();
    let o = n.env.run(&["exec", &n.id, "--", "sh", "-c", script]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "first\ndone\nlate\n");
    let o = n.env.run(&[
        "session",
        "start",
        "--target",
        &n.id,
        "--document-name",
        "AWS-StartInteractiveCommand",
        "--parameters",
        &format!("command={script}"),
    ]);
    assert_eq!(o.status.code(), Some(4));
    // On a PTY the shell's exit hangs up its process group (as `ssh -t`).
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("done"), "{text:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the sessions waited for the background process: {:?}",
        started.elapsed()
    );
}

#[test]
fn exec_streams_stdin_to_the_command() {
    let n = node();
    let mut child = n
        .env
        .cmd()
        .args(["exec", &n.id, "--", "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..64 {
            stdin.write_all(&[b'z'; 16384]).unwrap();
        }
    });
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
}

#[test]
fn shell_on_a_pty_resizes_forwards_ctrl_c_takes_a_paste_and_returns_the_exit_code() {
    let n = node();
    let mut t = Terminal::open(&n.env, &n.id);
    t.expect("Starting session with SessionId: admin-");
    t.send("echo MARK-$((6*7)); hostname; stty size\r");
    t.expect("MARK-42");
    let host = nix_hostname();
    t.expect(&format!("\n{host}\r"));
    t.expect("30 100");

    t.pty.resize(pty_process::Size::new(40, 120)).unwrap();
    let _ = nix_kill_winch(&t.child);
    // Asks again until the node's terminal has the new size.
    wait_for(20, "the node's terminal to be resized to 40 120", || {
        t.send("stty size\r");
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while std::time::Instant::now() < deadline {
            if t.text().contains("40 120") {
                return Some(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    });

    t.send("sleep 100; echo SLEPT\r");
    // Ctrl-C once `sleep 100` runs (the agent runs sessions as this user,
    // on this host), not while the line is still being read.
    wait_for(20, "`sleep 100` to run in the session", || {
        support::runs("sleep 100").then_some(())
    });
    t.send("\x03");
    t.send("echo AFTER-INT-$((1+1))\r");
    t.expect("AFTER-INT-2");
    assert!(
        !t.text().contains("\nSLEPT\r\n"),
        "Ctrl-C did not stop sleep"
    );

    t.send("stty -echo; echo READY-$((3+4)); cat > paste.txt\r");
    // Echo is off once READY-7 shows; cat reads what is typed after it.
    t.expect("READY-7");
    let mut paste = String::new();
    for i in 0..10_000 {
        paste.push_str(&format!("line {i} of the paste\r"));
    }
    t.send(&paste);
    t.send("\x04");
    t.send("stty echo; wc -l < paste.txt; rm paste.txt\r");
    t.expect("10000");

    t.send("exit 3\r");
    let status = wait_for(20, "the client to exit", || {
        t.child.try_wait().ok().flatten()
    });
    assert_eq!(status.code(), Some(3));
    t.expect("Exiting session with sessionId: admin-");

    let text = t.text();
    let sid = text
        .split("SessionId: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let shown: serde_json::Value =
        serde_json::from_str(&n.env.ok(&["session", "show", &sid])).unwrap();
    assert_eq!(shown["DocumentName"], "SSM-SessionManagerRunShell");
    assert_eq!(shown["Status"], "Terminated");
    assert_eq!(
        shown["Recording"], true,
        "recorded, the server's path not shown"
    );
    let cast = n.env.ok(&["session", "replay", &sid]);
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 100);
    assert!(
        cast.contains("MARK-42"),
        "the recording has the shell's output"
    );
    assert!(
        cast.contains("\"r\",\"120x40\""),
        "the recording has the resize"
    );
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

fn nix_kill_winch(child: &std::process::Child) -> std::io::Result<()> {
    Command::new("kill")
        .args(["-WINCH", &child.id().to_string()])
        .status()
        .map(drop)
}

#[test]
fn port_forward_carries_fifty_concurrent_connections_byte_exact() {
    let n = node();
    let echo = echo_server();
    let mut pf = n
        .env
        .cmd()
        .args([
            "port-forward",
            &n.id,
            "--remote-port",
            &echo.to_string(),
            "--local-port",
            "0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = pf.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("Waiting for connections...") {
        let k = err.read(&mut buf).unwrap();
        assert!(
            k > 0,
            "port-forward exited: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..k]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    // `--local-port 0`: the port it bound is the one it reports.
    let local: u16 = text
        .split("Port ")
        .nth(1)
        .and_then(|r| r.split_once(" opened for sessionId admin-"))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("no \"Port N opened for sessionId admin-...\" in {text:?}"));
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = err.read_to_end(&mut sink);
    });
    let handles: Vec<_> = (0..50u32)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", local)).unwrap();
                let data: Vec<u8> = (0..(100_000 + i as usize * 997))
                    .map(|j| (j as u32).wrapping_mul(31).wrapping_add(i) as u8)
                    .collect();
                let mut w = s.try_clone().unwrap();
                let d2 = data.clone();
                let t = std::thread::spawn(move || {
                    w.write_all(&d2).unwrap();
                    w.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                t.join().unwrap();
                assert!(
                    back == data,
                    "connection {i} was not byte-exact ({} of {} bytes)",
                    back.len(),
                    data.len()
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let _ = pf.kill();
    let _ = pf.wait();
}

/// A throwaway sshd on a loopback port: this test's listener, bound first,
/// hands each connection to `sshd -i` (inetd mode), so no port is guessed.
/// Its sshd processes are killed on drop.
struct Sshd {
    port: u16,
    key: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    children: std::sync::Arc<std::sync::Mutex<Vec<std::process::Child>>>,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for mut c in self.children.lock().unwrap().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sshd(dir: &std::path::Path) -> Option<Sshd> {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let sftp = [
        "/usr/lib/openssh/sftp-server",
        "/usr/libexec/openssh/sftp-server",
        "/usr/libexec/sftp-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())?;
    std::fs::create_dir_all(dir).ok()?;
    for k in ["host_key", "user_key"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(k))
            .status()
            .ok()?;
        assert!(st.success());
    }
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).ok()?;
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let cfg = format!(
        "HostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nSubsystem sftp {sftp}\nAllowUsers {user}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), cfg).ok()?;
    let _ = std::fs::create_dir_all("/run/sshd");
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let port = listener.local_addr().ok()?.port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let children = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop2, children2, config) = (stop.clone(), children.clone(), dir.join("sshd_config"));
    std::thread::spawn(move || {
        for s in listener.incoming() {
            if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let Ok(s) = s else { continue };
            let Ok(out) = s.try_clone() else { continue };
            let child = Command::new(sshd)
                .args(["-i", "-e", "-f"])
                .arg(&config)
                .stdin(std::os::fd::OwnedFd::from(s))
                .stdout(std::os::fd::OwnedFd::from(out))
                .stderr(Stdio::null())
                .spawn();
            if let Ok(c) = child {
                children2.lock().unwrap().push(c);
            }
        }
    });
    Some(Sshd {
        port,
        key: dir.join("user_key"),
        stop,
        children,
    })
}

fn sha256(p: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = f.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    hex(&h.finalize())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
#[ignore = "needs the OpenSSH server and rsync (scripts/install-deps.sh)"]
fn ssh_scp_and_rsync_work_through_airlock_proxy() {
    let n = node();
    let d = sshd(&n.env.tmp.path().join("sshd"))
        .expect("the OpenSSH server (sshd, sftp-server) is not installed");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let proxy = format!(
        "ProxyCommand=env AIRLOCK_CONFIG_DIR={} {} proxy %h %p",
        n.env.config_dir().display(),
        support::airlock_bin()
    );
    let port = d.port.to_string();
    let key = d.key.display().to_string();
    let base = |prog: &str, port_flag: &str| {
        let mut c = Command::new(prog);
        c.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(["-o", &proxy, "-i", &key, port_flag, &port]);
        c
    };
    let out = base("ssh", "-p")
        .arg(format!("{user}@{}", n.id))
        .arg("echo via-$((40+2))")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-42\n");

    let src = n.env.tmp.path().join("big.bin");
    let mut f = std::fs::File::create(&src).unwrap();
    let mut block = vec![0u8; 1 << 20];
    for i in 0..200u32 {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (j as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(i)
                .rotate_left(i % 31) as u8;
        }
        f.write_all(&block).unwrap();
    }
    drop(f);
    let dst = n.env.tmp.path().join("big.copy");
    let st = base("scp", "-P")
        .arg("-q")
        .arg(&src)
        .arg(format!("{user}@{}:{}", n.id, dst.display()))
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha256(&src), sha256(&dst), "scp changed the file");

    let rdst = n.env.tmp.path().join("big.rsync");
    let ssh_cmd = format!(
        "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o '{proxy}' -i {key} -p {port}"
    );
    let rsync = Command::new("rsync")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    assert!(rsync.is_ok(), "rsync is not installed");
    let st = Command::new("rsync")
        .args(["-a", "-e", &ssh_cmd])
        .arg(&src)
        .arg(format!("{user}@{}:{}", n.id, rdst.display()))
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha256(&src), sha256(&rdst), "rsync changed the file");
}

/// Registers one more agent of `env`'s server as the head node of
/// `cluster` (named `head` and tagged as the server tags a cluster's head
/// node) and starts it; returns it, online, with its instance id.
fn head_node(env: &Env, cluster: &str) -> (support::Agent, String) {
    let dir = env.tmp.path().join(format!("agent-{cluster}"));
    let create = [
        "ssm",
        "create-activation",
        "--iam-role",
        "NodeRole",
        "--default-instance-name",
        "head",
    ];
    let id = support::register_with(env, &create, &dir);
    // As the server tags a cluster's head node (users may not write
    // parallelcluster: tags): in its database, beside the running server.
    let db = rusqlite::Connection::open(env.state_dir().join("airlock.db")).expect("state db");
    db.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    let tags = format!(
        r#"{{"parallelcluster:cluster-name":"{cluster}","parallelcluster:node-type":"HeadNode"}}"#
    );
    db.execute(
        "UPDATE instances SET tags = ?1 WHERE instance_id = ?2",
        [&tags, &id],
    )
    .expect("tag the head node");
    let agent = support::Agent::start(env, &dir);
    wait_for(15, "the head node to come online", || {
        (support::instance(env, &id)["PingStatus"] == "Online").then_some(())
    });
    (agent, id)
}

/// How many AWS-StartSSHSession sessions (ssh, scp, rsync) ran on `target`.
fn ssh_sessions_on(env: &Env, target: &str) -> usize {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["ssm", "describe-sessions", "--state", "History"]))
            .expect("describe-sessions json");
    v["Sessions"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|s| s["Target"] == target && s["DocumentName"] == "AWS-StartSSHSession")
                .count()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "needs the OpenSSH server and rsync (scripts/install-deps.sh)"]
fn scp_and_rsync_reach_a_clusters_head_through_the_ssh_config_block_and_a_bare_head_names_the_candidates()
 {
    let env = Env::new();
    let _server = Server::start(&env);
    support::create_node_role(&env, "NodeRole", "ssm.amazonaws.com", true);
    let (_lab_agent, lab) = head_node(&env, "lab");
    let (_other_agent, other) = head_node(&env, "other");

    // `head` names both clusters' head nodes: refused, naming each.
    let o = env.run(&["exec", "head", "--", "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Target head names 2 instances: lab/head ({lab}), other/head ({other})"
        )) || err.contains(&format!(
            "Target head names 2 instances: other/head ({other}), lab/head ({lab})"
        )),
        "{err}"
    );
    assert!(err.contains("CLUSTER/head"), "{err}");

    // ssh, scp and rsync through the block `airlock ssh-config` prints.
    let d = sshd(&env.tmp.path().join("sshd"))
        .expect("the OpenSSH server (sshd, sftp-server) is not installed");
    let config = env.tmp.path().join("ssh_config");
    std::fs::write(&config, env.ok(&["ssh-config"])).unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let port = d.port.to_string();
    let opts = [
        "-F".to_owned(),
        config.display().to_string(),
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        "UserKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-i".into(),
        d.key.display().to_string(),
    ];
    let tool = |prog: &str| {
        let mut c = Command::new(prog);
        c.env("AIRLOCK_CONFIG_DIR", env.config_dir())
            .env_remove("AIRLOCK_PROFILE")
            .env_remove("AIRLOCK_ENDPOINT");
        c
    };
    let out = tool("ssh")
        .args(&opts)
        .args(["-p", &port, &format!("{user}@lab/head"), "echo via-lab"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-lab\n");

    let src = env.tmp.path().join("payload.txt");
    std::fs::write(&src, "through the airlock\n").unwrap();
    let dst = env.tmp.path().join("payload.scp");
    let out = tool("scp")
        .args(&opts)
        .args(["-q", "-P", &port])
        .arg(&src)
        .arg(format!("{user}@head.lab:{}", dst.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scp to head.lab: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap(),
        "through the airlock\n"
    );

    let rdst = env.tmp.path().join("payload.rsync");
    let ssh_cmd = format!(
        "ssh {} -p {port}",
        opts.iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = tool("rsync")
        .args(["-a", "-e", &ssh_cmd])
        .arg(&src)
        .arg(format!("{user}@head.other:{}", rdst.display()))
        .output()
        .expect("rsync is not installed");
    assert!(
        out.status.success(),
        "rsync to head.other: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&rdst).unwrap(),
        "through the airlock\n"
    );

    // Each went to the cluster it named.
    wait_for(10, "the ssh sessions to be in the history", || {
        (ssh_sessions_on(&env, &lab) >= 2 && ssh_sessions_on(&env, &other) >= 1).then_some(())
    });
}

#[test]
fn user_without_start_session_is_refused_and_audited() {
    let n = node();
    n.env.ok(&["iam", "create-user", "--user-name", "bob"]);
    n.env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        "bob",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockReadOnlyAccess",
    ]);
    n.env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "bob",
        "--save-profile",
        "bob",
    ]);
    let o = n
        .env
        .run(&["--profile", "bob", "exec", &n.id, "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("(AccessDeniedException) when calling the StartSession operation")
            && err.contains(
                ":user/bob is not authorized to perform: ssm:StartSession on resource: arn:aws:ssm:"
            ),
        "{err}"
    );
    let audit = n.env.ok(&[
        "--json",
        "audit",
        "--principal",
        "bob",
        "--action",
        "ssm:StartSession",
        "--decision",
        "Deny",
    ]);
    assert!(audit.contains(&n.id), "{audit}");
}

#[test]
fn a_policy_limited_to_ssh_cannot_open_a_shell_or_run_commands() {
    let n = node();
    n.env.ok(&["iam", "create-user", "--user-name", "carol"]);
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ssm:StartSession",
        "Resource": ["arn:aws:ssm:*:*:managed-instance/*", "arn:aws:ssm:*::document/AWS-StartSSHSession"]
    }, {"Effect": "Allow", "Action": "ssm:TerminateSession", "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"}]});
    n.env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "ssh-only",
        "--policy-document",
        &doc.to_string(),
    ]);
    n.env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "carol",
        "--save-profile",
        "carol",
    ]);
    let o = n
        .env
        .run(&["--profile", "carol", "exec", &n.id, "--", "id"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("document/AWS-StartNonInteractiveCommand"),
        "{err}"
    );
    let echo = echo_server();
    let mut p = n
        .env
        .cmd()
        .args(["--profile", "carol", "proxy", &n.id, &echo.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(b"ping\n").unwrap();
    let out = p.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ping\n",
        "the SSH document forwards its port"
    );
}

#[test]
fn exec_on_an_offline_node_says_it_is_not_connected() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let o = env.run(&["exec", &id, "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!(
        "(TargetNotConnected) when calling the StartSession operation: {id} is not connected."
    )));
}

#[test]
fn a_500_mib_transfer_survives_a_server_restart_byte_exact() {
    use sha2::{Digest, Sha256};
    let n = node();
    let src = n.env.tmp.path().join("src.bin");
    let mut f = std::fs::File::create(&src).unwrap();
    let mut block = vec![0u8; 1 << 20];
    let mut want = Sha256::new();
    for i in 0..500u32 {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (j as u32 ^ i.wrapping_mul(2654435761)).wrapping_mul(7) as u8;
        }
        want.update(&block);
        f.write_all(&block).unwrap();
    }
    drop(f);
    let mut child = n
        .env
        .cmd()
        .args(["exec", &n.id, "--", "cat", src.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut got = Sha256::new();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    while total < 64 << 20 {
        let k = out.read(&mut buf).unwrap();
        assert!(k > 0, "the transfer ended early");
        got.update(&buf[..k]);
        total += k;
    }
    let Node {
        env,
        server,
        agent: _agent,
        id: _,
    } = n;
    server.stop();
    // On purpose: the server stays down a moment, an outage to ride out.
    std::thread::sleep(Duration::from_millis(500));
    let _server = Server::start(&env);
    loop {
        let k = out.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        got.update(&buf[..k]);
        total += k;
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "exec failed after the restart");
    assert_eq!(total, 500 << 20, "bytes lost or duplicated");
    assert_eq!(
        hex(&got.finalize()),
        hex(&want.finalize()),
        "the stream changed"
    );
}

#[test]
fn an_idle_session_ends_at_its_timeout_and_the_end_is_audited() {
    let n = node();
    let prefs = n
        .env
        .ok(&["session", "preferences", "--idle-session-timeout", "3s"]);
    assert!(prefs.contains("\"idleSessionTimeout\": \"3s\""), "{prefs}");
    let started = std::time::Instant::now();
    let o = n.env.run(&["exec", "-n", &n.id, "--", "sleep", "30"]);
    let took = started.elapsed();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the session ended"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        took < Duration::from_secs(20),
        "the idle session lasted {took:?}"
    );
    let audit = n
        .env
        .ok(&["--json", "audit", "--action", "ssm:TerminateSession"]);
    assert!(audit.contains("idle session timeout"), "{audit}");
    let bad = n
        .env
        .run(&["session", "preferences", "--idle-session-timeout", "90"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("idleSessionTimeout must be minutes (1-60)")
    );
}

#[test]
fn the_shell_profile_runs_at_the_start_of_shell_sessions() {
    let n = node();
    n.env.ok(&[
        "session",
        "preferences",
        "--shell-profile",
        "export GREETING=from-profile",
    ]);
    let mut t = Terminal::open(&n.env, &n.id);
    t.expect("Starting session with SessionId");
    t.send("echo G=$GREETING\r");
    t.expect("G=from-profile");
    let status = n.env.ok(&[
        "agent",
        "status",
        "--agent-dir",
        n.agent.dir.to_str().unwrap(),
    ]);
    assert!(
        status.contains("Active: active (running)") && status.contains("agent session-worker"),
        "one worker per open session: {status}"
    );
    t.send("exit\r");
    let status = wait_for(20, "the client to exit", || {
        t.child.try_wait().ok().flatten()
    });
    assert_eq!(status.code(), Some(0));
}

#[test]
fn targets_resolve_by_hostname_and_never_by_user_written_cluster_tags() {
    let n = node();
    let host = n.env.ok(&["exec", &n.id, "--", "hostname"]);
    let by_name = n
        .env
        .ok(&["exec", host.trim(), "--", "echo", "by-hostname"]);
    assert_eq!(by_name, "by-hostname\n");
    let o = n.env.run(&["exec", "ssm-cluster/head", "--", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("Cluster ssm-cluster has no head node registered")
    );
    // The tags CLUSTER/head rests on are the cluster service's to write:
    // a node tagged by a user never becomes a cluster's head.
    let o = n.env.run(&[
        "instances",
        "tag",
        "--instance-id",
        &n.id,
        "--tags",
        "Key=parallelcluster:cluster-name,Value=ssm-cluster",
        "Key=parallelcluster:node-type,Value=HeadNode",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("reserved for the service"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = n.env.run(&["exec", "ssm-cluster/head", "--", "true"]);
    assert!(!o.status.success());
}

#[test]
fn access_limited_by_resource_tag_follows_the_node_tags() {
    let n = node();
    n.env.ok(&["iam", "create-user", "--user-name", "dana"]);
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "arn:aws:ssm:*:*:managed-instance/*",
         "Condition": {"StringLike": {"ssm:resourceTag/Team": ["hpc"]}}},
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "arn:aws:ssm:*::document/*"},
        {"Effect": "Allow", "Action": "ssm:TerminateSession", "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"}
    ]});
    n.env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "dana",
        "--policy-name",
        "team",
        "--policy-document",
        &doc.to_string(),
    ]);
    n.env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "dana",
        "--save-profile",
        "dana",
    ]);
    let o = n
        .env
        .run(&["--profile", "dana", "exec", &n.id, "--", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("AccessDeniedException"),
        "untagged node must be refused"
    );
    n.env.ok(&[
        "instances",
        "tag",
        "--instance-id",
        &n.id,
        "--tags",
        "Key=Team,Value=hpc",
    ]);
    assert_eq!(
        n.env
            .ok(&["--profile", "dana", "exec", &n.id, "--", "echo", "tagged"]),
        "tagged\n"
    );
    n.env.ok(&[
        "instances",
        "untag",
        "--instance-id",
        &n.id,
        "--tag-keys",
        "Team",
    ]);
    let o = n
        .env
        .run(&["--profile", "dana", "exec", &n.id, "--", "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("AccessDeniedException"));
}

#[test]
fn a_session_ends_at_its_maximum_duration_even_when_busy() {
    let n = node();
    n.env
        .ok(&["session", "preferences", "--max-session-duration", "3s"]);
    let started = std::time::Instant::now();
    let o = n.env.run(&[
        "exec",
        "-n",
        &n.id,
        "--",
        "sh",
        "-c",
        "while true; do echo busy; sleep 0.2; done",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ran {:?}",
        started.elapsed()
    );
    let audit = n
        .env
        .ok(&["--json", "audit", "--action", "ssm:TerminateSession"]);
    assert!(
        audit.contains("maximum session duration reached"),
        "{audit}"
    );
}

/// `airlock ssh-config`'s block, pasted into an ssh config, sends cluster
/// targets through `airlock proxy` as typed: `CLUSTER/head` (its case
/// kept), a node name and `head` reach the server, which answers for them.
#[test]
fn ssh_config_sends_cluster_names_through_the_proxy_as_typed() {
    let env = Env::new();
    let _s = support::Server::start(&env);
    let block = env.ok(&["ssh-config"]);
    let cfg = env.tmp.path().join("ssh_config");
    std::fs::write(&cfg, &block).expect("write the ssh config");
    let ssh = |target: &str| {
        let mut c = Command::new("ssh");
        for (k, v) in env.cmd().get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let o = c
            .arg("-F")
            .arg(&cfg)
            .args(["-o", "BatchMode=yes", "-o", "UserKnownHostsFile=/dev/null"])
            .arg(format!("ubuntu@{target}"))
            .arg("true")
            .output()
            .expect("the OpenSSH client (ssh)");
        assert!(!o.status.success(), "{target}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // The server's answer names each target: ssh reached `airlock proxy`
    // with it, case kept.
    for (target, answer) in [
        (
            "MyCluster/head",
            "Cluster MyCluster has no head node registered",
        ),
        (
            "MyCluster/spot1-dy-c5large-1",
            "Cluster MyCluster has no node spot1-dy-c5large-1",
        ),
        ("spot1-dy-c5large-1", "spot1-dy-c5large-1"),
        ("head", "head"),
    ] {
        let err = ssh(target);
        assert!(
            err.contains("StartSession") && err.contains(answer),
            "{target}: {block}\n{err}"
        );
    }
}

/// `airlock agent status` shows each session worker as the executable it
/// is, the command the session runs below its worker, and closes the tree
/// with `└─`, as `systemctl status` does.
#[test]
fn agent_status_shows_workers_by_their_executable_with_their_commands_below() {
    let n = node();
    // Unique to this run (a command outlives the test's session only so long).
    let secs = (30 + std::process::id() % 60).to_string();
    let sleep = format!("sleep {secs}");
    let mut exec = n
        .env
        .cmd()
        .args(["exec", &n.id, "--", "sleep", &secs])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("airlock exec");
    let dir = n.env.tmp.path().join("agent");
    let dir = dir.to_str().expect("UTF-8 path");
    // (`airlock exec … sleep N` itself is no sign: the agent's status is.)
    let status = wait_for(15, "the session's command to run", || {
        let status = n.env.ok(&["agent", "status", "--agent-dir", dir]);
        status
            .lines()
            .any(|l| l.ends_with(&format!(" {sleep}")))
            .then_some(status)
    });
    let _ = exec.kill();
    let _ = exec.wait();
    eprintln!("$ airlock agent status\n{status}");
    let lines: Vec<&str> = status.lines().collect();
    let worker = lines
        .iter()
        .position(|l| l.contains(" agent session-worker "))
        .unwrap_or_else(|| panic!("no session worker:\n{status}"));
    assert!(!status.contains("/proc/self/exe"), "{status}");
    let exe = std::fs::canonicalize(support::airlock_bin()).expect("the airlock binary");
    assert!(
        lines[worker].contains(&format!("{} agent session-worker", exe.display())),
        "{status}"
    );
    // The command, somewhere below its worker and indented deeper.
    let depth = |l: &str| l.find(['├', '└']).unwrap_or(0);
    let below = lines[worker + 1..]
        .iter()
        .take_while(|l| depth(l) > depth(lines[worker]))
        .any(|l| l.contains(&sleep));
    assert!(below, "{status}");
    // Each level ends with └─.
    assert!(
        lines
            .iter()
            .rev()
            .find(|l| l.contains('─'))
            .is_some_and(|l| l.contains("└─")),
        "{status}"
    );
}
