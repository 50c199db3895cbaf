//! A node that boots from its user data, as an EC2 instance does: the
//! script fetches the agent binary from the server (CA and sha256 pinned),
//! registers with a single-use join token, and starts the agent. Run here
//! without root: the "machine" is a temporary prefix and agent directory.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use support::{Env, Server, instance, wait_for};

/// A role cluster nodes (EC2 instances) run as, with the managed policy.
fn node_role(env: &Env, role: &str) {
    support::create_node_role(env, role, "ec2.amazonaws.com", true);
}

/// `sh SCRIPT` as a machine whose root is `machine`: `AIRLOCK_PREFIX` and
/// the agent directory under it, sessions as this user.
fn boot(machine: &Path, script: &Path) -> Command {
    std::fs::create_dir_all(machine).unwrap();
    let mut c = Command::new("sh");
    c.arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", machine)
        .env("AIRLOCK_PREFIX", machine.join("usr"))
        .env("AIRLOCK_AGENT_DIR", machine.join("agent"))
        .env("AIRLOCK_AGENT_SESSIONS_AS_SELF", "true")
        .current_dir(machine);
    c
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_machine_boots_from_its_user_data_joins_once_and_serves_sessions() {
    let env = Env::new();
    let _s = Server::start(&env);
    node_role(&env, "NodeRole");
    let made: serde_json::Value = serde_json::from_str(&env.ok(&[
        "--json",
        "ec2",
        "create-join-token",
        "--iam-role",
        "NodeRole",
        "--endpoint",
        &env.endpoint(),
    ]))
    .expect("json");
    let id = made["InstanceId"].as_str().expect("InstanceId").to_owned();
    let token = made["JoinToken"].as_str().expect("JoinToken");
    let user_data = made["UserData"].as_str().expect("UserData").to_owned();
    assert!(id.starts_with("i-"), "{id}");
    assert!(user_data.starts_with("#!/bin/sh\n"), "{user_data}");
    assert!(user_data.contains(token));
    // Created, not yet joined.
    assert_eq!(instance(&env, &id)["PingStatus"], "Inactive");

    // What the AWS CLI shows: the script, base64; no key in it.
    let attr: serde_json::Value = serde_json::from_str(&env.ok(&[
        "ec2",
        "describe-instance-attribute",
        "--instance-id",
        &id,
        "--attribute",
        "userData",
    ]))
    .expect("json");
    assert_eq!(attr["InstanceId"], id.as_str());
    let shown = support::base64_decode(attr["UserData"]["Value"].as_str().expect("UserData.Value"));
    assert_eq!(shown, user_data);
    assert_eq!(shown.matches("BEGIN").count(), 1, "{shown}");
    assert!(shown.contains("-----BEGIN CERTIFICATE-----"), "{shown}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
    let o = env.run(&[
        "ec2",
        "describe-instance-attribute",
        "--instance-id",
        &id,
        "--attribute",
        "kernel",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the one supported attribute is userData"),
        "{}",
        text(&o)
    );

    let script = env.tmp.path().join("user-data.sh");
    std::fs::write(&script, &user_data).unwrap();

    // A tampered hash: the script stops before it runs anything it fetched.
    let tampered_script = env.tmp.path().join("tampered.sh");
    let pinned = user_data
        .lines()
        .find_map(|l| l.strip_prefix("binary_sha256='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("the pinned hash");
    std::fs::write(&tampered_script, user_data.replace(pinned, &"0".repeat(64))).unwrap();
    let tampered = env.tmp.path().join("tampered");
    let o = boot(&tampered, &tampered_script).output().expect("sh");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to run it"),
        "{}",
        text(&o)
    );
    assert!(!tampered.join("usr/bin/airlock").exists());
    assert!(!tampered.join("agent").exists(), "nothing registered");
    assert_eq!(instance(&env, &id)["PingStatus"], "Inactive");

    // The real boot: fetch, check, install, register, run.
    let machine = env.tmp.path().join("machine");
    let log = std::fs::File::create(env.tmp.path().join("machine.log")).unwrap();
    let node = Running(
        boot(&machine, &script)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sh"),
    );
    let row = wait_for(60, "the booted machine to come online", || {
        let r = instance(&env, &id);
        (r["PingStatus"] == "Online").then_some(r)
    });
    assert_eq!(row["IamRole"], "NodeRole");
    assert!(row["RegistrationError"].is_null(), "{row}");
    assert!(machine.join("usr/bin/airlock").exists());
    let listed = env.ok(&["instances"]);
    assert!(listed.contains(&id), "{listed}");

    let o = env.run(&["exec", &id, "--", "echo", "hi"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "hi",
        "{}",
        text(&o)
    );

    // The same user data again: the token is spent.
    let again = env.tmp.path().join("again");
    let o = boot(&again, &script).output().expect("sh");
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("The join token is not valid for this instance"),
        "{}",
        text(&o)
    );
    assert!(!again.join("agent/identity.json").exists());
    // The first machine is still the instance.
    assert_eq!(instance(&env, &id)["PingStatus"], "Online");

    let audit = env.ok(&["--json", "audit", "--action", "ssm:RegisterManagedInstance"]);
    let v: serde_json::Value = serde_json::from_str(&audit).expect("json");
    let records = v
        .as_array()
        .or_else(|| {
            v.as_object()
                .and_then(|o| o.values().find_map(|x| x.as_array()))
        })
        .cloned()
        .unwrap_or_default();
    let by_decision = |d: &str| {
        records
            .iter()
            .filter(|r| r.to_string().contains(&format!("join/{id}")) && r.to_string().contains(d))
            .count()
    };
    assert_eq!(by_decision("\"Allow\""), 1, "{audit}");
    assert_eq!(by_decision("\"Deny\""), 1, "{audit}");
    assert!(audit.contains("the join token was used at"), "{audit}");
    drop(node);
}

#[test]
fn a_join_token_is_for_its_own_instance_only() {
    let env = Env::new();
    let _s = Server::start(&env);
    node_role(&env, "NodeRole");
    let mint = |id: &str| -> serde_json::Value {
        serde_json::from_str(&env.ok(&[
            "ec2",
            "create-join-token",
            "--iam-role",
            "NodeRole",
            "--instance-id",
            id,
            "--endpoint",
            &env.endpoint(),
        ]))
        .expect("json")
    };
    let a = mint("i-0aaaaaaaaaaaaaaaa");
    mint("i-0bbbbbbbbbbbbbbbb");
    // A's token, presented as B: refused, with the same words as any refusal.
    let dir = env.tmp.path().join("agent");
    let o = env.run(&[
        "agent",
        "register",
        "--agent-dir",
        dir.to_str().unwrap(),
        "--endpoint",
        &env.endpoint(),
        "--ca-bundle",
        env.ca().to_str().unwrap(),
        "--instance-id",
        "i-0bbbbbbbbbbbbbbbb",
        "--join-token",
        a["JoinToken"].as_str().unwrap(),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("The join token is not valid for this instance"),
        "{}",
        text(&o)
    );
    let audit = env.ok(&[
        "--json",
        "audit",
        "--action",
        "ssm:RegisterManagedInstance",
        "--decision",
        "Deny",
    ]);
    assert!(audit.contains("join/i-0bbbbbbbbbbbbbbbb"), "{audit}");
    assert!(
        audit.contains("the join token is for instance i-0aaaaaaaaaaaaaaaa"),
        "{audit}"
    );
    // The activation flags and the join flags do not mix.
    let o = env.run(&[
        "agent",
        "register",
        "--endpoint",
        &env.endpoint(),
        "--activation-id",
        "x",
        "--activation-code",
        "y",
        "--join-token",
        "t",
        "--instance-id",
        "i-1",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        text(&o)
    );
}
