//! Agents: hybrid activation, the role check that the seed is about,
//! heartbeats and ConnectionLost, and refused identities.

mod support;

use support::{Agent, Env, Server, instance, register_agent, wait_for};

#[test]
fn agent_without_the_managed_policy_is_refused_until_it_is_attached() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "BareRole", false, &dir);
    let agent = Agent::start(&env, &dir);

    let row = wait_for(15, "the refusal to be recorded", || {
        let r = instance(&env, &id);
        r["RegistrationError"].as_str().is_some().then_some(r)
    });
    assert_ne!(row["PingStatus"], "Online");
    let err = row["RegistrationError"].as_str().unwrap();
    assert!(
        err.contains("is not authorized to perform: ssm:UpdateInstanceInformation"),
        "{err}"
    );
    assert!(err.contains("AmazonSSMManagedInstanceCore"), "{err}");
    wait_for(10, "the agent to log the refusal", || {
        agent
            .log()
            .contains("refused this agent's registration")
            .then_some(())
    });
    let status = env.ok(&["agent", "status", "--agent-dir", dir.to_str().unwrap()]);
    assert!(
        status.contains("Refused") && status.contains("ssm:UpdateInstanceInformation"),
        "{status}"
    );
    let audit = env.ok(&[
        "--json",
        "audit",
        "--action",
        "ssm:UpdateInstanceInformation",
        "--decision",
        "Deny",
    ]);
    assert!(
        audit.contains(&format!("assumed-role/BareRole/{id}")),
        "{audit}"
    );

    env.ok(&[
        "iam",
        "attach-role-policy",
        "--role-name",
        "BareRole",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    ]);
    let row = wait_for(30, "the agent to come online after its retry", || {
        let r = instance(&env, &id);
        (r["PingStatus"] == "Online").then_some(r)
    });
    assert!(row["RegistrationError"].is_null(), "{row}");
    assert_eq!(row["AgentVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(row["IPAddress"], "127.0.0.1");
}

#[test]
fn killing_the_agent_shows_connection_lost_and_restarting_it_shows_online() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let mut agent = Agent::start(&env, &dir);
    wait_for(15, "Online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    let first_ping = instance(&env, &id)["LastPingDateTime"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(10, "a later heartbeat", || {
        (instance(&env, &id)["LastPingDateTime"].as_str() != Some(&first_ping)).then_some(())
    });
    let status = env.ok(&["agent", "status", "--agent-dir", dir.to_str().unwrap()]);
    assert!(
        status.contains("Active: active (running)") && status.contains("Online"),
        "{status}"
    );

    agent.kill();
    wait_for(10, "ConnectionLost", || {
        (instance(&env, &id)["PingStatus"] == "ConnectionLost").then_some(())
    });
    let o = env.run(&["agent", "status", "--agent-dir", dir.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "inactive agent status exits 3 like systemctl"
    );

    let _again = Agent::start(&env, &dir);
    wait_for(15, "Online again", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
}

#[test]
fn server_restart_turns_nodes_connection_lost_then_agents_reconnect() {
    let env = Env::new();
    let s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = Agent::start(&env, &dir);
    wait_for(15, "Online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    s.stop();
    let _s2 = Server::start(&env);
    wait_for(30, "the agent to reconnect", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
}

#[test]
fn activation_codes_are_checked_and_limited() {
    let env = Env::new();
    let _s = Server::start(&env);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    env.ok(&[
        "iam",
        "create-role",
        "--role-name",
        "R",
        "--assume-role-policy-document",
        trust,
    ]);
    let act: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "activation", "create", "--role", "R"])).unwrap();
    let (code, aid) = (
        act["ActivationCode"].as_str().unwrap(),
        act["ActivationId"].as_str().unwrap(),
    );
    let reg = |dir: &str, code: &str| {
        env.run(&[
            "agent",
            "register",
            "--agent-dir",
            env.tmp.path().join(dir).to_str().unwrap(),
            "--activation-code",
            code,
            "--activation-id",
            aid,
            "--endpoint",
            &env.endpoint(),
        ])
    };
    let bad = reg("a0", "0000000000");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidActivation"));
    assert!(reg("a1", code).status.success());
    let over = reg("a2", code);
    assert!(
        !over.status.success(),
        "the registration limit (1) was exceeded"
    );
    let missing_role = env.run(&["activation", "create", "--role", "NoSuchRole"]);
    assert!(String::from_utf8_lossy(&missing_role.stderr).contains("NoSuchEntity"));
}

#[test]
fn deregistered_node_certificate_is_refused() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    deregister(&env, &id);
    let agent = Agent::start(&env, &dir);
    wait_for(15, "the agent to log the refusal", || {
        agent.log().contains("not registered").then_some(())
    });
    assert!(instance(&env, &id).is_null());
}

fn deregister(env: &Env, id: &str) {
    env.ok(&["instances", "deregister", "--instance-id", id]);
}

#[test]
fn a_frozen_agent_is_noticed_by_missed_heartbeats_and_recovers() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let agent = Agent::start(&env, &dir);
    wait_for(15, "Online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    agent.signal("STOP");
    let frozen = std::time::Instant::now();
    wait_for(15, "ConnectionLost without any FIN", || {
        (instance(&env, &id)["PingStatus"] == "ConnectionLost").then_some(())
    });
    assert!(
        frozen.elapsed() < std::time::Duration::from_secs(10),
        "three missed 1 s heartbeats took {:?}",
        frozen.elapsed()
    );
    agent.signal("CONT");
    wait_for(30, "Online again", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
}

#[test]
fn a_frozen_agent_is_noticed_even_while_the_server_keeps_writing_to_it() {
    let support::Node {
        env,
        agent,
        id,
        server: _server,
    } = support::node();
    agent.signal("STOP");
    // Each exec sends StartSession down the frozen agent's control channel;
    // those writes must not count as signs of life.
    let mut tries = Vec::new();
    let lost = (0..60).any(|_| {
        tries.push(
            env.cmd()
                .args(["exec", &id, "--", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn exec"),
        );
        // The pace of the attempts, which go on while the agent is frozen.
        std::thread::sleep(std::time::Duration::from_millis(250));
        instance(&env, &id)["PingStatus"] == "ConnectionLost"
    });
    for mut t in tries {
        let _ = t.kill();
        let _ = t.wait();
    }
    agent.signal("CONT");
    assert!(
        lost,
        "a frozen agent stayed Online while sessions were started"
    );
}

#[test]
fn agents_follow_a_server_that_restarts_again_and_again() {
    let env = Env::new();
    let mut s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = Agent::start(&env, &dir);
    wait_for(15, "Online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });
    // Three restarts a few seconds apart: the backoff must reset as soon as
    // a Hello is acknowledged, and stay short while the outage is short.
    let mut back = Vec::new();
    for _ in 0..3 {
        s.stop();
        // On purpose: a 3 s outage, what the agent's backoff must ride out.
        std::thread::sleep(std::time::Duration::from_secs(3));
        s = Server::start(&env);
        let up = std::time::Instant::now();
        wait_for(30, "the agent to reconnect", || {
            (instance(&env, &id)["PingStatus"] == "Online").then_some(())
        });
        back.push(up.elapsed());
    }
    assert!(
        back.iter().all(|d| *d < std::time::Duration::from_secs(6)),
        "agents came back {back:?} after the server did (the backoff is capped at 2 s for short outages)"
    );
}

#[test]
fn an_exec_waiting_on_a_frozen_agent_fails_once_the_node_is_known_lost() {
    let support::Node {
        env,
        agent,
        id,
        server: _server,
    } = support::node();
    agent.signal("STOP");
    let started = std::time::Instant::now();
    // Heartbeats every second: the node is lost after three missed ones,
    // well before the client's own 30 s wait for an answer.
    let o = env.run(&["exec", &id, "--", "true"]);
    let waited = started.elapsed();
    agent.signal("CONT");
    assert!(!o.status.success());
    assert!(
        waited < std::time::Duration::from_secs(15),
        "the exec waited {waited:?} on a node known lost: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "session", "list", "--history"])).unwrap();
    let s = &v["Sessions"][0];
    assert_eq!(s["Status"], "Failed", "{v}");
    assert!(
        s["StatusReason"]
            .as_str()
            .unwrap_or_default()
            .contains("lost its control channel"),
        "{v}"
    );
}
