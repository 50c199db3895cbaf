//! The server decides, the node enforces: attacks from a hand-built client
//! against a root agent (as on every cluster node) and against the API.

mod support;

use airlock_wire::{ChannelKind, CloseStatus};
use serde_json::json;
use support::forge::Forged;
use support::root_agent::RootAgent;
use support::{Env, Server, register_agent};

fn exec(command: &str) -> ChannelKind {
    ChannelKind::Exec {
        command: command.into(),
        stdin: false,
    }
}

/// A user with the session policy, a saved profile, and optional tags.
fn user(env: &Env, name: &str, tags: &[&str]) {
    let mut args = vec!["iam", "create-user", "--user-name", name];
    if !tags.is_empty() {
        args.push("--tags");
        args.extend_from_slice(tags);
    }
    env.ok(&args);
    env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        name,
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockSessionUser",
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        name,
        "--save-profile",
        name,
    ]);
}

#[test]
#[ignore = "needs root"]
fn a_forged_open_cannot_choose_its_run_as_user_channel_or_forward() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = RootAgent::start(&env, &dir, &id, "useradd -m -s /bin/sh alice");
    user(&env, "alice", &["Key=SSMSessionRunAs,Value=alice"]);
    env.ok(&["session", "preferences", "--run-as-enabled", "true"]);

    let cmd = json!({"command": ["id -un"]});
    let s = Forged::start(
        &env,
        "alice",
        &id,
        "AWS-StartNonInteractiveCommand",
        cmd.clone(),
    );
    assert_eq!(s.answer["RunAs"], "alice");
    // The server chose alice; the client asks for root.
    let e = s.open(exec("id -un"), None, Some("root")).unwrap_err();
    assert!(e.contains("run-as user is decided by the server"), "{e}");
    // A channel kind the document does not allow.
    let shell = ChannelKind::Shell {
        term: "xterm".into(),
        cols: 80,
        rows: 24,
        env: vec![],
        command: Some("id -un".into()),
    };
    let e = s.open(shell, None, None).unwrap_err();
    assert!(e.contains("does not allow"), "{e}");
    let e = s.open(exec("id -un; id -u"), None, None).unwrap_err();
    assert!(e.contains("does not allow"), "{e}");
    // The granted channel, with the client's fields empty, runs as alice.
    let (out, st) = s.open(exec("id -un"), None, None).unwrap();
    assert_eq!((String::from_utf8_lossy(&out).as_ref(), st), ("alice\n", CloseStatus::Exited(0)));

    // A forward outside the document's host and port.
    let s = Forged::start(
        &env,
        "alice",
        &id,
        "AWS-StartPortForwardingSession",
        json!({"portNumber": ["22"]}),
    );
    for (host, port) in [("127.0.0.1", 6817), ("10.255.0.1", 22), ("169.254.169.254", 80)] {
        let fwd = ChannelKind::TcpForward {
            host: host.into(),
            port,
        };
        let e = s.open(fwd, None, None).unwrap_err();
        assert!(e.contains("does not allow"), "{host}:{port}: {e}");
    }
}
