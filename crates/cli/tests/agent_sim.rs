//! The agent simulator of the agent-scale benchmark against a real server:
//! its agents register, come Online in the API, heartbeat, and (with
//! `reconnect`) all come back after the server restarts.

mod support;

use std::time::Duration;

use support::{Env, Server, wait_for};

#[test]
fn twenty_simulated_agents_show_online_heartbeat_and_come_back_after_a_restart() {
    let env = Env::new();
    let server = Server::start(&env);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    env.ok(&[
        "iam",
        "create-role",
        "--role-name",
        "SimRole",
        "--assume-role-policy-document",
        trust,
    ]);
    env.ok(&[
        "iam",
        "attach-role-policy",
        "--role-name",
        "SimRole",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    ]);
    let act: serde_json::Value = serde_json::from_str(&env.ok(&[
        "--json",
        "activation",
        "create",
        "--role",
        "SimRole",
        "--registration-limit",
        "20",
    ]))
    .expect("json");
    let ready = env.tmp.path().join("ready");
    let back = env.tmp.path().join("back");
    let opts = airlock_agent_sim::Options {
        endpoint: env.endpoint(),
        ca_pem: std::fs::read(env.ca()).expect("ca"),
        activations: vec![airlock_agent_sim::Activation {
            id: act["ActivationId"].as_str().expect("id").to_owned(),
            code: act["ActivationCode"].as_str().expect("code").to_owned(),
        }],
        agents: 20,
        concurrency: 8,
        interval: None,
        hold: None,
        ready_file: Some(ready.clone()),
        reconnect: true,
        reconnect_file: Some(back.clone()),
        own_addresses: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(airlock_agent_sim::run(opts, async {
                let _ = stopped.await;
            }))
    });
    wait_for(60, "the simulator to connect its agents", || {
        ready.exists().then_some(())
    });
    wait_for(20, "20 instances Online", || {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["--json", "instances"])).expect("json");
        let list = v["InstanceInformationList"].as_array()?;
        let online = list.iter().filter(|i| i["PingStatus"] == "Online").count();
        (list.len() == 20 && online == 20).then_some(())
    });
    // On purpose (the report counts heartbeats): the server's interval is
    // 1 s here, so every agent beats a few times.
    std::thread::sleep(Duration::from_secs(3));
    // The server goes away and comes back: every agent dials again.
    server.stop();
    assert!(!back.exists(), "no outage ended before the restart");
    std::thread::sleep(Duration::from_secs(1));
    let _server = Server::start(&env);
    let line = wait_for(30, "the simulator to see all 20 agents back", || {
        std::fs::read_to_string(&back)
            .ok()
            .filter(|s| !s.is_empty())
    });
    let outage: serde_json::Value = serde_json::from_str(line.trim()).expect("json line");
    assert_eq!(outage["peak_down"], 20, "{line}");
    assert_eq!(outage["reconnected"], 20, "{line}");
    std::thread::sleep(Duration::from_secs(2));
    let _ = stop.send(());
    let report = sim.join().expect("sim thread").expect("sim report");
    assert_eq!(report.registered, 20, "{report:?}");
    assert_eq!(report.connected, 20, "{report:?}");
    assert_eq!(report.failures, 0, "{report:?}");
    assert_eq!(report.interval_secs, 1.0, "{report:?}");
    assert!(report.heartbeat_ms.count >= 20, "{report:?}");
    assert_eq!(report.unanswered, 0, "{report:?}");
    assert_eq!(report.outages.len(), 1, "{report:?}");
}
