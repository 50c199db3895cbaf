//! The server decides, the node enforces: attacks from a hand-built client
//! against a root agent (as on every cluster node) and against the API.

mod support;

use airlock_wire::{ChannelKind, CloseStatus};
use serde_json::json;
use support::forge::{self, Forged};
use support::root_agent::RootAgent;
use support::{Env, Server, register_agent, session_user};

fn exec(command: &str) -> ChannelKind {
    ChannelKind::Exec {
        command: command.into(),
        stdin: false,
    }
}

#[test]
#[ignore = "needs root"]
fn a_forged_open_cannot_choose_its_run_as_user_channel_or_forward() {
    support::require_root("a root agent runs sessions as other users");
    let _root = support::root_lock();
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = RootAgent::start(&env, &dir, &id, "useradd -m -s /bin/sh alice");
    session_user(&env, "alice", &["Key=SSMSessionRunAs,Value=alice"]);
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
    assert_eq!(
        (String::from_utf8_lossy(&out).as_ref(), st),
        ("alice\n", CloseStatus::Exited(0))
    );

    // A forward outside the document's host and port.
    let s = Forged::start(
        &env,
        "alice",
        &id,
        "AWS-StartPortForwardingSession",
        json!({"portNumber": ["22"]}),
    );
    for (host, port) in [
        ("127.0.0.1", 6817),
        ("10.255.0.1", 22),
        ("169.254.169.254", 80),
    ] {
        let fwd = ChannelKind::TcpForward {
            host: host.into(),
            port,
        };
        let e = s.open(fwd, None, None).unwrap_err();
        assert!(e.contains("does not allow"), "{host}:{port}: {e}");
    }
}

fn tags_body(id: &str, tags: &[(&str, &str)]) -> serde_json::Value {
    let list: Vec<_> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    json!({"ResourceType": "ManagedInstance", "ResourceId": id, "Tags": list})
}

#[test]
fn tag_writes_are_held_to_tag_conditions_limits_and_reserved_keys() {
    let env = Env::new();
    let _s = Server::start(&env);
    let a = register_agent(&env, "RoleA", true, &env.tmp.path().join("a"));
    let b = register_agent(&env, "RoleB", true, &env.tmp.path().join("b"));
    session_user(&env, "tagger", &[]);
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Team"]}}},
        {"Effect": "Deny", "Action": "ssm:*", "Resource": "*",
         "Condition": {"StringEquals": {"ssm:resourceTag/Env": "prod"}}}]});
    let (st, v) = forge::call(
        &env,
        "default",
        "iam",
        "PutUserPolicy",
        &json!({"UserName": "tagger", "PolicyName": "team-only", "PolicyDocument": policy.to_string()}),
    );
    assert_eq!(st, 200, "{v}");
    let add = |who: &str, id: &str, tags: &[(&str, &str)]| {
        forge::call(&env, who, "ssm", "AddTagsToResource", &tags_body(id, tags))
    };

    assert_eq!(add("tagger", &a, &[("Team", "hpc")]).0, 200);
    // aws:TagKeys: only Team may be written, and only Team removed.
    let (st, v) = add("tagger", &a, &[("Team", "hpc"), ("Env", "dev")]);
    assert_eq!(
        (st, v["__type"].as_str()),
        (403, Some("AccessDeniedException")),
        "{v}"
    );
    let (st, v) = forge::call(
        &env,
        "tagger",
        "ssm",
        "RemoveTagsFromResource",
        &json!({"ResourceType": "ManagedInstance", "ResourceId": a, "TagKeys": ["Env"]}),
    );
    assert_eq!(st, 403, "{v}");
    // ssm:resourceTag: the node's current tags are in the context.
    assert_eq!(add("default", &b, &[("Env", "prod")]).0, 200);
    let (st, v) = add("tagger", &b, &[("Team", "hpc")]);
    assert_eq!(
        st, 403,
        "a Deny on ssm:resourceTag/Env=prod must match: {v}"
    );

    // Reserved keys: nobody captures CLUSTER/head by tagging a node.
    for key in [
        "parallelcluster:cluster-name",
        "parallelcluster:node-type",
        "airlock:x",
        "aws:x",
    ] {
        let (st, v) = add("default", &a, &[(key, "X")]);
        assert_eq!(
            (st, v["__type"].as_str()),
            (400, Some("InvalidTag")),
            "{key}: {v}"
        );
    }
    let o = env.run(&["exec", "X/head", "--", "true"]);
    assert!(!o.status.success());
    // AWS's limits: 50 tags, 128-character keys, 256-character values.
    let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (st, v) = add("default", &a, &many);
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("TooManyTagsError")),
        "{v}"
    );
    let long = "k".repeat(129);
    assert_eq!(add("default", &a, &[(&long, "v")]).0, 400);
    let long = "v".repeat(257);
    assert_eq!(add("default", &a, &[("k", &long)]).0, 400);
}

/// Opens node `dir`'s control channel with a hand-written Hello.
fn hello_as(dir: &std::path::Path, hello: serde_json::Value) -> Result<(), String> {
    use airlock_agent::{control, identity::AgentDir};
    let dir = AgentDir(dir.to_owned());
    let cfg = std::sync::Arc::new(dir.tls_config().unwrap());
    let endpoint = dir.load_identity().unwrap().endpoint;
    let hello: airlock_proto::control::AgentMessage = serde_json::from_value(hello).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        match control::open(cfg, &endpoint, move |_| hello).await {
            Ok(control::Handshake::Registered { .. }) => Ok(()),
            Ok(control::Handshake::Refused(reason)) => Err(reason),
            Err(e) => Err(format!("{e:#}")),
        }
    })
}

fn facts(host: &str, ip: &str) -> serde_json::Value {
    json!({"Type": "Hello", "ComputerName": host, "IPAddress": ip, "PlatformType": "Linux",
           "PlatformName": "Debian", "AgentVersion": "0.1.0"})
}

#[test]
fn a_node_cannot_take_another_nodes_identity_or_reach_admin_terminals() {
    let env = Env::new();
    let _s = Server::start(&env);
    let (da, db) = (env.tmp.path().join("a"), env.tmp.path().join("b"));
    let a = register_agent(&env, "RoleA", true, &da);
    let b = register_agent(&env, "RoleB", true, &db);
    hello_as(&db, facts("db1", "10.9.0.2")).unwrap();

    // A names itself after B's instance id: refused, and B's id still means B.
    let e = hello_as(&da, facts(&b, "10.9.0.1")).unwrap_err();
    assert!(e.contains("form of an instance id"), "{e}");
    // Escape sequences never reach a terminal.
    let e = hello_as(&da, facts("x\u{1b}]0;owned\u{7}", "10.9.0.1")).unwrap_err();
    assert!(e.contains("not a hostname"), "{e}");
    let mut f = facts("a1", "10.9.0.1");
    f["PlatformName"] = json!("Debian\u{1b}[2J");
    assert!(hello_as(&da, f).unwrap_err().contains("printable"));
    let e = hello_as(&da, facts("a1", "not-an-ip")).unwrap_err();
    assert!(e.contains("not an IP address"), "{e}");

    // A claims B's hostname and IP: those names become ambiguous, never A's.
    hello_as(&da, facts("db1", "10.9.0.2")).unwrap();
    for name in ["db1", "10.9.0.2"] {
        let o = env.run(&["exec", name, "--", "true"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("names 2 instances"), "{name}: {err}");
        assert!(err.contains(&a) && err.contains(&b), "{err}");
    }
    let (st, v) = forge::call(
        &env,
        "default",
        "ssm",
        "ListTagsForResource",
        &json!({"ResourceType": "ManagedInstance", "ResourceId": b}),
    );
    assert_eq!(st, 200, "an instance id always means that instance: {v}");
    let table = env.ok(&["instances"]);
    assert!(!table.contains('\u{1b}'), "{table}");
}

#[test]
fn deregistering_a_node_closes_its_control_channel_and_ends_its_sessions() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let agent = support::Agent::start(&env, &dir);
    support::wait_for(20, "the agent to come online", || {
        (support::instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    let s = Forged::start(
        &env,
        "default",
        &id,
        "AWS-StartNonInteractiveCommand",
        json!({"command": ["sleep 600"]}),
    );
    let session_id = s.session_id.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(s.open(exec("sleep 600"), None, None));
    });
    // Deregistered while the command runs (the agent runs it as this user).
    support::wait_for(20, "`sleep 600` to run in the session", || {
        support::runs("sleep 600").then_some(())
    });
    let (st, v) = forge::call(
        &env,
        "default",
        "ssm",
        "DeregisterManagedInstance",
        &json!({"InstanceId": id}),
    );
    assert_eq!(st, 200, "{v}");
    // The running command's stream ends within a second or so; it never
    // finishes with an exit code.
    let ended = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the session went on after its node was deregistered");
    assert!(ended.is_err(), "{ended:?}");
    let (_, v) = forge::call(
        &env,
        "default",
        "ssm",
        "DescribeSessions",
        &json!({"SessionId": session_id}),
    );
    assert_eq!(v["Sessions"][0]["Status"], "Terminated", "{v}");
    assert_eq!(
        v["Sessions"][0]["StatusReason"], "its instance was deregistered",
        "{v}"
    );
    let audit = env.ok(&["--json", "audit", "--action", "ssm:TerminateSession"]);
    assert!(
        audit.contains("its instance was deregistered"),
        "the end is audited: {audit}"
    );
    support::wait_for(5, "the agent to see its control channel closed", || {
        agent.log().contains("control channel lost").then_some(())
    });
}

#[test]
fn describe_sessions_shows_others_neither_parameters_nor_server_paths() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = support::Agent::start(&env, &dir);
    support::wait_for(20, "the agent to come online", || {
        (support::instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    session_user(&env, "alice", &[]);
    session_user(&env, "bob", &[]);
    let secret = "mysql -pS3cret-password db";
    let s = Forged::start(
        &env,
        "alice",
        &id,
        "AWS-StartInteractiveCommand",
        json!({"command": [secret]}),
    );
    let describe = |who: &str| {
        let (st, v) = forge::call(&env, who, "ssm", "DescribeSessions", &json!({}));
        assert_eq!(st, 200, "{v}");
        let list = v["Sessions"].as_array().cloned().unwrap_or_default();
        list.into_iter()
            .find(|x| x["SessionId"] == s.session_id.as_str())
            .expect("the session is listed")
    };
    let seen_by_bob = describe("bob");
    assert!(!seen_by_bob.to_string().contains("S3cret"), "{seen_by_bob}");
    assert!(seen_by_bob.get("Parameters").is_none(), "{seen_by_bob}");
    let seen_by_alice = describe("alice");
    assert_eq!(seen_by_alice["Parameters"]["command"][0], secret);
    for seen in [&seen_by_bob, &seen_by_alice] {
        assert!(seen["Recording"].is_boolean(), "no server paths: {seen}");
        assert!(!seen.to_string().contains(".cast"), "{seen}");
    }
}

/// Opens node `dir`'s control channel, sends `lines` (hand-written JSON),
/// then a Ping, and returns every line the server sent until its Pong.
fn converse(dir: &std::path::Path, lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    use airlock_agent::{control, identity::AgentDir};
    use futures_util::{SinkExt, StreamExt};
    let dir = AgentDir(dir.to_owned());
    let cfg = std::sync::Arc::new(dir.tls_config().unwrap());
    let endpoint = dir.load_identity().unwrap().endpoint;
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let hello = serde_json::from_value(facts("n1", "10.9.0.7")).unwrap();
        let Ok(control::Handshake::Registered { mut io, .. }) =
            control::open(cfg, &endpoint, move |_| hello).await
        else {
            panic!("not registered");
        };
        for l in lines {
            io.send(l).await.unwrap();
        }
        io.send(control::ping()).await.unwrap();
        let mut got = Vec::new();
        loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(10), io.next())
                .await
                .expect("an answer within 10 s")
                .expect("the channel stays open")
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["Type"] == "Pong" {
                return got;
            }
            got.push(v);
        }
    })
}

#[test]
fn a_node_gets_only_its_own_configuration_and_cannot_answer_for_another() {
    let env = Env::new();
    let _s = Server::start(&env);
    let d = env.tmp.path().join("n");
    register_agent(&env, "RoleN", true, &d);
    // A machine no cluster launched asks to be configured: it is told it is
    // no cluster's node, and no cluster's secrets come with the answer.
    let got = converse(&d, &[json!({"Type": "GetNodeConfiguration"})]);
    assert_eq!(
        got,
        [json!({"Type": "NodeConfiguration", "Configuration": null})]
    );
    // Replies to requests it was never sent, steps for a stack it is not in,
    // and escape sequences: dropped, the channel still serves it, and no
    // stack shows anything of it.
    let got = converse(
        &d,
        &[
            json!({"Type": "Reply", "RequestId": 1, "ExitCode": 0, "Output": "forged"}),
            json!({"Type": "Reply", "RequestId": u64::MAX, "ExitCode": 0}),
            json!({"Type": "NodeConfigurationStep", "Step": "node configured\u{1b}[2J",
                   "Status": "Complete"}),
            json!({"Type": "NodeConfigurationStep", "Step": "x", "Status": "Failed",
                   "Reason": "y"}),
        ],
    );
    assert!(got.is_empty(), "{got:?}");
    assert!(!env.ok(&["list"]).contains('\u{1b}'));
    // A node may not ask the server to run anything: RunSlurmCommand goes
    // only down, and the agent runs only Slurm's own client programs.
    let bad = airlock_proto::control::decode::<airlock_proto::control::ServerMessage>(
        r#"{"Type":"RunSlurmCommand","RequestId":1,"Program":"sh","Args":["-c","id"]}"#,
    );
    assert!(bad.is_err(), "{bad:?}");
}
