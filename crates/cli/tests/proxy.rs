//! Agent and client through an HTTPS proxy (CONNECT): only outbound HTTPS
//! to the server is needed, as the seed's corporate-proxy tip says.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{Agent, Env, Server, instance, register_agent, wait_for};

/// A minimal CONNECT proxy; counts the tunnels it opened.
fn connect_proxy() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let count = c2.clone();
            std::thread::spawn(move || {
                let mut s = s;
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = text
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                else {
                    let _ = s.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                };
                let Ok(up) = TcpStream::connect(target) else {
                    let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut a, mut b2) = (s.try_clone().unwrap(), up.try_clone().unwrap());
                let (mut c, mut d) = (s, up);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut d);
                    let _ = d.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut b2, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, count)
}

#[test]
fn agent_and_client_work_through_an_https_proxy() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let (port, tunnels) = connect_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    let _agent = Agent::start_with(&env, &dir, &[("HTTPS_PROXY", &proxy)]);
    wait_for(15, "the node to come online through the proxy", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    let agent_tunnels = tunnels.load(Ordering::SeqCst);
    assert!(agent_tunnels >= 1, "the agent did not use the proxy");
    let o = env
        .cmd()
        .env("HTTPS_PROXY", &proxy)
        .args(["exec", &id, "--", "echo", "proxied"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "proxied\n");
    assert!(
        tunnels.load(Ordering::SeqCst) >= agent_tunnels + 3,
        "the client API, the client stream and the agent's session stream all go through the proxy"
    );
    let bypass = env
        .cmd()
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .args(["exec", &id, "--", "echo", "direct"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bypass.stdout),
        "direct\n",
        "{}",
        String::from_utf8_lossy(&bypass.stderr)
    );
}
