//! `airlock ssm <verb>`, the `aws ssm` aliases, through a real server and
//! agent on loopback (no root): the AWS CLI's option names, its JSON
//! shapes, and its error sentences.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Env, Server, create_node_role, echo_server, node, wait_for};

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The object's keys, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn activations_and_refusals_read_as_aws_ssm_prints_them() {
    let env = Env::new();
    let _server = Server::start(&env);
    create_node_role(&env, "NodeRole", "ssm.amazonaws.com", true);

    let tomorrow = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    let created = json_of(&env.ok(&[
        "ssm",
        "create-activation",
        "--iam-role",
        "NodeRole",
        "--default-instance-name",
        "web",
        "--registration-limit",
        "3",
        "--expiration-date",
        &tomorrow.to_string(),
    ]));
    assert_eq!(keys(&created), ["ActivationCode", "ActivationId"]);
    let id = created["ActivationId"].as_str().unwrap();

    let listed = json_of(&env.ok(&["ssm", "describe-activations"]));
    let one = listed["ActivationList"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["ActivationId"] == id))
        .unwrap_or_else(|| panic!("{id} not in {listed}"));
    assert_eq!(one["IamRole"], "NodeRole");
    assert_eq!(one["DefaultInstanceName"], "web");
    assert_eq!(one["RegistrationLimit"], 3);
    assert_eq!(one["RegistrationsCount"], 0);
    assert_eq!(one["Expired"], false);
    assert!(one["ExpirationDate"].is_string(), "{one}");
    assert!(
        one.get("ActivationCode").is_none(),
        "the code is shown once"
    );
    let ids = env.ok(&[
        "ssm",
        "describe-activations",
        "--query",
        "ActivationList[].ActivationId",
        "--output",
        "text",
    ]);
    assert_eq!(ids.trim(), id, "--query and --output apply");

    // The role must exist: the server's refusal, in the AWS CLI's sentence.
    let o = env.run(&["ssm", "create-activation", "--iam-role", "NoSuchRole"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "An error occurred (NoSuchEntity) when calling the CreateActivation operation:"
        ),
        "{}",
        stderr(&o)
    );
    let o = env.run(&[
        "ssm",
        "create-activation",
        "--iam-role",
        "NodeRole",
        "--expiration-date",
        "tomorrow",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--expiration-date"), "{}", stderr(&o));

    // A target that names no node.
    let o = env.run(&["ssm", "start-session", "--target", "mi-0123456789abcdef0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "An error occurred (InvalidTarget) when calling the StartSession operation: Target mi-0123456789abcdef0 is not a managed instance (see `airlock instances`)."
    );
    let status = json_of(&env.ok(&[
        "ssm",
        "get-connection-status",
        "--target",
        "mi-0123456789abcdef0",
    ]));
    assert_eq!(
        status,
        json!({"Target": "mi-0123456789abcdef0", "Status": "notconnected"})
    );
    let o = env.run(&[
        "ssm",
        "start-session",
        "--target",
        "mi-0123456789abcdef0",
        "--document-name",
        "AWS-StartPortForwardingSession",
        "--parameters",
        r#"{"portNumber": [80]}"#,
    ]);
    assert_eq!(o.status.code(), Some(2), "bad input: {}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "error: --parameters: portNumber must be a list of strings"
    );
    let o = env.run(&["ssm", "describe-sessions", "--state", "Closed"]);
    assert_eq!(o.status.code(), Some(2), "clap refuses it: {}", stderr(&o));
}

/// Reads `child`'s stderr until it has said `what`; returns what it said.
fn stderr_until(child: &mut Child, what: &str) -> String {
    let err = child.stderr.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(what) {
        let k = err.read(&mut buf).unwrap();
        assert!(
            k > 0,
            "exited before {what:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..k]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// The session of `sessions` (describe-sessions' answer) on `target`
/// running `document`, if there is one.
fn session_on(sessions: &Value, target: &str, document: &str) -> Option<Value> {
    sessions["Sessions"].as_array().and_then(|l| {
        l.iter()
            .find(|s| s["Target"] == target && s["DocumentName"] == document)
            .cloned()
    })
}

#[test]
fn aws_ssm_verbs_run_sessions_and_manage_a_registered_node() {
    let n = node();
    let env = &n.env;
    let id = n.id.as_str();

    let info = json_of(&env.ok(&["ssm", "describe-instance-information"]));
    let row = info["InstanceInformationList"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["InstanceId"] == id))
        .unwrap_or_else(|| panic!("{id} not in {info}"))
        .clone();
    assert_eq!(row["PingStatus"], "Online");
    assert_eq!(row["ResourceType"], "ManagedInstance");
    assert_eq!(row["IamRole"], "NodeRole");
    for k in [
        "LastPingDateTime",
        "AgentVersion",
        "PlatformType",
        "ComputerName",
        "IPAddress",
        "RegistrationDate",
        "ActivationId",
    ] {
        assert!(row[k].is_string(), "{k} in {row}");
    }
    assert!(
        row.get("RegistrationError").is_none(),
        "no airlock-only fields: {row}"
    );

    assert_eq!(
        json_of(&env.ok(&["ssm", "get-connection-status", "--target", id])),
        json!({"Target": id, "Status": "connected"})
    );

    // A command document: the command's output and exit status.
    let o = env.run(&[
        "ssm",
        "start-session",
        "--target",
        id,
        "--document-name",
        "AWS-StartNonInteractiveCommand",
        "--parameters",
        r#"{"command": ["echo ssm-$((6*7)); exit 3"]}"#,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ssm-42\n");
    let o = env.run(&[
        "ssm",
        "start-session",
        "--target",
        id,
        "--document-name",
        "AWS-StartNonInteractiveCommand",
        "--parameters",
        "command=echo shorthand",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "shorthand\n");

    // Port forwarding with JSON parameters.
    let echo = echo_server();
    let mut pf = env
        .cmd()
        .args([
            "ssm",
            "start-session",
            "--target",
            id,
            "--document-name",
            "AWS-StartPortForwardingSession",
            "--parameters",
            &format!(r#"{{"portNumber":["{echo}"],"localPortNumber":["0"]}}"#),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = stderr_until(&mut pf, "Waiting for connections...");
    let local: u16 = said
        .split("Port ")
        .nth(1)
        .and_then(|r| r.split_once(" opened for sessionId "))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("no \"Port N opened for sessionId …\" in {said:?}"));
    let mut s = TcpStream::connect(("127.0.0.1", local)).unwrap();
    s.write_all(b"through ssm").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(back, "through ssm");
    let _ = pf.kill();
    let _ = pf.wait();

    // An active session, listed, terminated by its id, then in the history.
    let mut long = env
        .cmd()
        .args([
            "ssm",
            "start-session",
            "--target",
            id,
            "--document-name",
            "AWS-StartNonInteractiveCommand",
            "--parameters",
            "command=sleep 60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let active = wait_for(20, "the session to be listed as active", || {
        let v = json_of(&env.ok(&["ssm", "describe-sessions", "--state", "Active"]));
        session_on(&v, id, "AWS-StartNonInteractiveCommand").filter(|s| s["Status"] == "Connected")
    });
    let sid = active["SessionId"].as_str().unwrap().to_owned();
    assert!(
        active["Owner"]
            .as_str()
            .is_some_and(|o| o.starts_with("arn:")),
        "the Owner is an ARN, as in AWS: {active}"
    );
    assert!(active.get("EndDate").is_none(), "{active}");
    assert_eq!(
        json_of(&env.ok(&["ssm", "terminate-session", "--session-id", &sid])),
        json!({"SessionId": sid})
    );
    wait_for(20, "the terminated session's client to exit", || {
        long.try_wait().ok().flatten()
    });
    let history = json_of(&env.ok(&["ssm", "describe-sessions", "--state", "History"]));
    let ended = history["Sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["SessionId"] == sid.as_str()))
        .unwrap_or_else(|| panic!("{sid} not in {history}"));
    assert_eq!(ended["Status"], "Terminated");
    assert!(ended["EndDate"].is_string(), "{ended}");
    for k in ["RunAs", "Recording", "Parameters", "OwnerArn"] {
        assert!(ended.get(k).is_none(), "no {k}: {ended}");
    }

    // Tags, as the native `instances tags` lists them.
    let o = env.run(&[
        "ssm",
        "add-tags-to-resource",
        "--resource-type",
        "ManagedInstance",
        "--resource-id",
        id,
        "--tags",
        "Key=team,Value=hpc",
        "Key=env,Value=test",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "prints nothing, as AWS does");
    let tags = json_of(&env.ok(&["--json", "instances", "tags", "--instance-id", id]));
    let list = tags["TagList"].as_array().unwrap();
    assert!(
        list.contains(&json!({"Key": "team", "Value": "hpc"})),
        "{tags}"
    );
    assert!(
        list.contains(&json!({"Key": "env", "Value": "test"})),
        "{tags}"
    );
    let o = env.run(&[
        "ssm",
        "add-tags-to-resource",
        "--resource-type",
        "Document",
        "--resource-id",
        id,
        "--tags",
        "Key=a,Value=b",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ResourceType must be ManagedInstance"),
        "{}",
        stderr(&o)
    );

    // Deregistered: gone from the list, and not connected.
    let o = env.run(&["ssm", "deregister-managed-instance", "--instance-id", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "prints nothing, as AWS does");
    let info = json_of(&env.ok(&["ssm", "describe-instance-information"]));
    assert!(
        !info["InstanceInformationList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["InstanceId"] == id),
        "{info}"
    );
    assert_eq!(
        json_of(&env.ok(&["ssm", "get-connection-status", "--target", id]))["Status"],
        "notconnected"
    );
    let o = env.run(&["ssm", "deregister-managed-instance", "--instance-id", id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "An error occurred (InvalidInstanceId) when calling the DeregisterManagedInstance operation:"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn get_connection_status_is_its_own_operation_allowed_by_its_own_action() {
    let n = node();
    let env = &n.env;
    let id = n.id.as_str();
    // Allowed: the session user's managed policy lists ssm:GetConnectionStatus.
    support::session_user(env, "alice", &[]);
    // Allowed to list nodes, not to ask for a connection status.
    env.ok(&["iam", "create-user", "--user-name", "bob"]);
    env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "bob",
        "--policy-name",
        "list-only",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:DescribeInstanceInformation","Resource":"*"}]}"#,
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "bob",
        "--save-profile",
        "bob",
    ]);

    let asked = |profile: &str, target: &str| {
        env.run(&[
            "--profile",
            profile,
            "ssm",
            "get-connection-status",
            "--target",
            target,
        ])
    };
    let o = asked("alice", id);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json_of(&String::from_utf8_lossy(&o.stdout)),
        json!({"Target": id, "Status": "connected"})
    );
    let o = asked("bob", id);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "An error occurred (AccessDeniedException) when calling the GetConnectionStatus operation: User: arn:aws:iam::"
        ) && err.contains(":user/bob is not authorized to perform: ssm:GetConnectionStatus on resource: arn:aws:ssm:")
            && err.contains(&format!(":managed-instance/{id}")),
        "{err}"
    );
    // bob may still list the node: the check is GetConnectionStatus's own.
    let o = env.run(&["--profile", "bob", "ssm", "describe-instance-information"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Each decision is audited under its own action.
    let audit = json_of(&env.ok(&["--json", "audit", "--action", "ssm:GetConnectionStatus"]));
    let events = audit["Events"].as_array().cloned().unwrap_or_default();
    let decided = |who: &str, decision: &str| {
        events.iter().any(|e| {
            e["Principal"].as_str().is_some_and(|p| p.ends_with(who))
                && e["Decision"] == decision
                && e["Resource"].as_str().is_some_and(|r| r.ends_with(id))
        })
    };
    assert!(decided(":user/alice", "Allow"), "{audit}");
    assert!(decided(":user/bob", "Deny"), "{audit}");

    // A node whose agent is gone is notconnected; an unknown one too.
    let mut agent = n.agent;
    agent.kill();
    wait_for(15, "the node to be notconnected", || {
        let o = asked("alice", id);
        (json_of(&String::from_utf8_lossy(&o.stdout))["Status"] == "notconnected").then_some(())
    });
    let o = asked("alice", "mi-0123456789abcdef0");
    assert_eq!(
        json_of(&String::from_utf8_lossy(&o.stdout)),
        json!({"Target": "mi-0123456789abcdef0", "Status": "notconnected"})
    );
}
