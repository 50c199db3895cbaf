//! A stream cut short must say so: `port-forward` and `proxy` reset their
//! local connections (never a clean end of stream) and exit non-zero with
//! the reason when their session is lost mid-transfer.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStderr, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Node, forge, wait_for};

/// A TCP server that sends zeros to each client until it goes away.
fn endless_source() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let chunk = vec![0u8; 64 * 1024];
                while s.write_all(&chunk).is_ok() {}
            });
        }
    });
    port
}

/// A node whose session workers log at info too (into the agent's log).
fn node() -> Node {
    support::node_with(&[("AIRLOCK_LOG", "info")])
}

/// Reads `child`'s stderr until it contains `marker`; returns what was read.
fn read_until(err: &mut ChildStderr, marker: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let k = err.read(&mut buf).unwrap();
        assert!(k > 0, "exited early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..k]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn word_after<'a>(text: &'a str, before: &str) -> &'a str {
    text.split(before)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .trim_end_matches('.')
}

fn terminate(n: &Node, sid: &str) {
    let (st, v) = forge::call(
        &n.env,
        "default",
        "ssm",
        "TerminateSession",
        &json!({"SessionId": sid}),
    );
    assert_eq!(st, 200, "{v}");
}

/// `airlock port-forward` to `remote_port` on the node, on a local port
/// it picks; returns the process, its stderr, the session id and the port.
fn port_forward(n: &Node, remote_port: u16) -> (Child, ChildStderr, String, u16) {
    let mut pf = n
        .env
        .cmd()
        .args([
            "port-forward",
            &n.id,
            "--remote-port",
            &remote_port.to_string(),
            "--local-port",
            "0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = pf.stderr.take().unwrap();
    let text = read_until(&mut err, "Waiting for connections...");
    let sid = word_after(&text, "SessionId: ").to_owned();
    let port = word_after(&text, "Port ").parse().unwrap();
    (pf, err, sid, port)
}

/// Waits for `child` to exit (up to `secs`); returns its status and stderr.
fn exit_of(
    mut child: Child,
    mut err: ChildStderr,
    secs: u64,
) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            return (st, rest);
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("still running {secs} s after its session ended");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_port_forward_whose_session_ends_resets_its_connections_and_exits_non_zero() {
    let n = node();
    let source = endless_source();
    let (pf, err, sid, port) = port_forward(&n, source);

    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 1 << 20 {
        got += c.read(&mut buf).unwrap();
    }
    terminate(&n, &sid);
    let end = loop {
        match c.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    let e = end.expect_err("a cut-short stream ended with a clean end of stream");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    let (st, rest) = exit_of(pf, err, 15);
    assert!(
        !st.success(),
        "port-forward exited 0 after its session was lost"
    );
    assert!(
        rest.contains("ended before the port forward was stopped"),
        "{rest}"
    );
    assert!(rest.contains("connection reset"), "{rest}");
}

#[test]
fn a_proxy_whose_session_ends_exits_non_zero_with_the_reason() {
    let n = node();
    let source = endless_source();
    let mut px = n
        .env
        .cmd()
        .args(["proxy", &n.id, &source.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = px.stdout.take().unwrap();
    let err = px.stderr.take().unwrap();
    let _stdin = px.stdin.take();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 1 << 20 {
        got += out.read(&mut buf).unwrap();
    }
    let (st, v) = forge::call(&n.env, "default", "ssm", "DescribeSessions", &json!({}));
    assert_eq!(st, 200, "{v}");
    let sid = v["Sessions"][0]["SessionId"].as_str().unwrap().to_owned();
    terminate(&n, &sid);
    std::thread::spawn(move || while matches!(out.read(&mut buf), Ok(k) if k > 0) {});
    let (st, rest) = exit_of(px, err, 15);
    assert!(!st.success(), "proxy exited 0 after its session was lost");
    assert!(rest.contains("was lost before the stream ended"), "{rest}");
}

type Ends = std::sync::mpsc::Receiver<std::io::Result<usize>>;

/// A TCP server that reads each client to its end; sends how it ended
/// (`Ok(bytes)` for a clean end of stream) on the returned channel, and
/// counts the bytes read so far.
fn sink() -> (u16, Ends, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (tx, seen) = (tx.clone(), seen2.clone());
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0usize;
                let end = loop {
                    match s.read(&mut buf) {
                        Ok(0) => break Ok(got),
                        Ok(k) => {
                            got += k;
                            seen.fetch_add(k, Ordering::SeqCst);
                        }
                        Err(e) => break Err(e),
                    }
                };
                let _ = tx.send(end);
            });
        }
    });
    (port, rx, seen)
}

#[test]
fn an_upload_cut_short_reaches_the_node_side_as_a_reset_not_an_end_of_stream() {
    let n = node();
    let (port_on_node, ends, seen) = sink();
    let (pf, err, sid, port) = port_forward(&n, port_on_node);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..16 {
        c.write_all(&chunk).unwrap();
    }
    // Cut the upload once part of it has reached the node side.
    wait_for(15, "the upload to reach the node side", || {
        (seen.load(Ordering::SeqCst) > 0).then_some(())
    });
    terminate(&n, &sid);
    let end = ends
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| {
            panic!(
                "the node side never saw its connection end; agent log:\n{}",
                n.agent.log()
            )
        });
    let e = end.expect_err("the node side read a cut upload as a complete one");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    drop(c);
    let _ = exit_of(pf, err, 15);
}
