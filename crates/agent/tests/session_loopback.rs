//! The session core end to end in one process: client and agent drivers
//! over an in-memory pipe, with the real handshake and real processes.

use airlock_agent::session;
use airlock_agent::session::grant::Grant;
use airlock_transport::{handshake, mux};
use airlock_wire::{
    ChannelEvent, ChannelKind, CloseStatus, Config, Connection, ResumeToken, Side, Stream,
};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

/// A client and agent joined in memory; the agent holds the client to
/// `document`, as the server granted it.
async fn pair(document: Grant) -> mux::Mux {
    let (mut a, mut b) = tokio::io::duplex(1 << 20);
    let agent = tokio::spawn(async move {
        let (n, _) = handshake::accept(&mut b, |_| (false, ResumeToken::from_bytes([7; 32])))
            .await
            .unwrap();
        let conn = Connection::new(Config::new(Side::Acceptor), n.peer_max_payload);
        let (_mux, incoming, _task) = mux::start(b, conn);
        session::serve(
            incoming,
            session::RunAs {
                default_user: None,
                as_self: true,
                shell_profile: None,
            },
            session::SessionGrant {
                session_id: "s-test".into(),
                document,
                run_as: None,
            },
        )
        .await;
    });
    let (n, ack) = handshake::dial(&mut a, None).await.unwrap();
    assert!(!ack.resumed);
    let conn = Connection::new(Config::new(Side::Dialer), n.peer_max_payload);
    let (m, _incoming, _task) = mux::start(a, conn);
    std::mem::forget(agent);
    m
}

async fn collect(ch: &mut mux::Channel) -> (Vec<u8>, Vec<u8>, CloseStatus) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match ch.recv().await {
            Some(ChannelEvent::Data { stream, data }) => {
                ch.consumed(data.len());
                if stream == Stream::Main {
                    out.extend_from_slice(&data)
                } else {
                    err.extend_from_slice(&data)
                }
            }
            Some(ChannelEvent::Closed(st)) => return (out, err, st),
            Some(ChannelEvent::Error { reason, .. }) => panic!("channel error: {reason}"),
            None => panic!("connection ended before Close"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn exec_keeps_stdout_and_stderr_apart_and_returns_the_exit_code() {
    let m = pair(Grant::Command("echo out; echo err >&2; exit 3".into())).await;
    let mut ch = m
        .open(
            ChannelKind::Exec {
                command: "echo out; echo err >&2; exit 3".into(),
                stdin: false,
            },
            None,
            None,
        )
        .await
        .unwrap();
    let (out, err, st) = collect(&mut ch).await;
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\n");
    assert_eq!(st, CloseStatus::Exited(3));
}

#[tokio::test]
async fn exec_streams_stdin_through_to_the_command() {
    let m = pair(Grant::Command("wc -c".into())).await;
    let mut ch = m
        .open(
            ChannelKind::Exec {
                command: "wc -c".into(),
                stdin: true,
            },
            None,
            None,
        )
        .await
        .unwrap();
    let big = Bytes::from(vec![b'x'; 5 * 1024 * 1024 + 7]);
    ch.send(Stream::Main, big).await.unwrap();
    ch.eof();
    let (out, _, st) = collect(&mut ch).await;
    assert_eq!(
        String::from_utf8_lossy(&out).trim(),
        (5 * 1024 * 1024 + 7).to_string()
    );
    assert_eq!(st, CloseStatus::Exited(0));
}

#[tokio::test]
async fn shell_runs_on_a_pty_with_the_requested_size() {
    let m = pair(Grant::InteractiveCommand("stty size; tty".into())).await;
    let mut ch = m
        .open(
            ChannelKind::Shell {
                term: "xterm".into(),
                cols: 91,
                rows: 27,
                env: vec![],
                command: Some("stty size; tty".into()),
            },
            None,
            None,
        )
        .await
        .unwrap();
    let (out, _, st) = collect(&mut ch).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("27 91"), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert_eq!(st, CloseStatus::Exited(0));
}

#[tokio::test]
async fn fifty_concurrent_forwards_are_byte_exact() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    let m = pair(Grant::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            let mut ch = m
                .open(
                    ChannelKind::TcpForward {
                        host: "127.0.0.1".into(),
                        port,
                    },
                    None,
                    None,
                )
                .await
                .unwrap();
            let payload: Vec<u8> = (0..(200_000 + i as usize * 1000))
                .map(|j| (j as u32 ^ i) as u8)
                .collect();
            let sender = ch.sender();
            let p2 = payload.clone();
            let w = tokio::spawn(async move {
                for c in p2.chunks(30_000) {
                    sender
                        .send(Stream::Main, Bytes::copy_from_slice(c))
                        .await
                        .unwrap();
                }
                sender.eof();
            });
            let (out, _, _) = collect(&mut ch).await;
            w.await.unwrap();
            assert_eq!(out.len(), payload.len());
            assert!(out == payload, "stream {i} corrupted");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn forward_to_a_closed_port_is_refused_with_the_reason() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let m = pair(Grant::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .await;
    let err = m
        .open(
            ChannelKind::TcpForward {
                host: "127.0.0.1".into(),
                port,
            },
            None,
            None,
        )
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

/// Opens `kind` with the given `session` and `run_as` fields, as a
/// hand-written client would, and returns the refusal.
async fn refused(
    m: &mux::Mux,
    kind: ChannelKind,
    session: Option<&str>,
    run_as: Option<&str>,
) -> String {
    match m
        .open(kind, session.map(str::to_owned), run_as.map(str::to_owned))
        .await
    {
        Ok(_) => panic!("the agent opened a channel outside the grant"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn forged_open_frames_outside_the_grant_are_refused() {
    let exec = |c: &str| ChannelKind::Exec {
        command: c.into(),
        stdin: false,
    };
    let m = pair(Grant::Command("id -un".into())).await;
    let e = refused(&m, exec("id -un"), None, Some("root")).await;
    assert!(e.contains("run-as user is decided by the server"), "{e}");
    let e = refused(&m, exec("id -un"), Some("someone-else-1a2b"), None).await;
    assert!(e.contains("another session"), "{e}");
    let e = refused(&m, exec("cat /etc/shadow"), None, None).await;
    assert!(e.contains("does not allow"), "{e}");
    let shell = ChannelKind::Shell {
        term: "xterm".into(),
        cols: 80,
        rows: 24,
        env: vec![],
        command: None,
    };
    let e = refused(&m, shell, None, None).await;
    assert!(e.contains("does not allow"), "{e}");
    // The granted channel, with the fields left empty or repeated, works.
    let mut ch = m
        .open(exec("id -un"), Some("s-test".into()), None)
        .await
        .unwrap();
    let (_, _, st) = collect(&mut ch).await;
    assert_eq!(st, CloseStatus::Exited(0));

    let m = pair(Grant::Tcp {
        host: "localhost".into(),
        port: 22,
    })
    .await;
    for (host, port) in [
        ("127.0.0.1", 5432),
        ("10.0.0.9", 22),
        ("169.254.169.254", 80),
    ] {
        let fwd = ChannelKind::TcpForward {
            host: host.into(),
            port,
        };
        let e = refused(&m, fwd, None, None).await;
        assert!(e.contains("does not allow"), "{host}:{port}: {e}");
    }
}
