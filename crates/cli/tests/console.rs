//! The web console in a real browser: a real server and two real agents on
//! loopback, and `tests/browser/console.test.mjs` driving Debian's chromium
//! through Playwright — sign in with a link, see the nodes, open a
//! terminal (hostname, resize, copy, a 5,000-line paste, terminate), leave
//! it for other pages and come back to the same live shell (Back, the nav,
//! a confirm before ending it; no session from Back, reload or a typed
//! address), one lit nav item per page, find the session in the history and
//! replay it (in view, first frame drawn), Terminate from the sessions page
//! (the server refuses bob another user's session, in the page and in a
//! hand-built request, and lets him end his own), read and save the Session
//! Manager preferences (refused for bob), read the audit log filtered by
//! user, target, action, decision and time (refused for bob), every page at
//! 1280x800 and 390x844, an expired session's clean signed-out page, and
//! the security checks (link reuse, expired cookie, a user restricted by
//! tag, cross-Origin WebSocket, CSRF, CSP). Screenshots go to
//! `<target>/test-artifacts/console/`.
//!
//! Needs node, npm (for `playwright-core`) and `/usr/bin/chromium`
//! (scripts/install-deps.sh); without them it fails, saying which is missing.

mod support;

use std::process::Command;

use support::browser::{artifacts, missing_tools, workspace};
use support::{Agent, Env, Server, instance, register_agent, wait_for};

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `airlock console` prints the link on stdout.
fn signin_link(env: &Env, args: &[&str]) -> String {
    let link = env.ok(args).trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/console/signin#", env.endpoint())),
        "unexpected sign-in link {link:?}"
    );
    link
}

#[test]
#[ignore = "needs Chromium and Node.js (scripts/install-deps.sh)"]
fn the_console_works_in_a_real_browser_and_keeps_its_security_promises() {
    let browser_dir = workspace().join("tests/browser");
    if let Some(why) = missing_tools(&browser_dir) {
        panic!("the browser test needs {why}");
    }

    let env = Env::new();
    // The 2-second session below tests expiry: lower the 900 s floor.
    let _server = Server::start_with(&env, &[("AIRLOCK_CONSOLE_MIN_SESSION_SECS", "1")]);
    let (dir_a, dir_b) = (
        env.tmp.path().join("agent-a"),
        env.tmp.path().join("agent-b"),
    );
    let node_a = register_agent(&env, "NodeRoleA", true, &dir_a);
    let node_b = register_agent(&env, "NodeRoleB", true, &dir_b);
    let _agents = (Agent::start(&env, &dir_a), Agent::start(&env, &dir_b));
    for id in [&node_a, &node_b] {
        wait_for(20, "the nodes to come online", || {
            (instance(&env, id)["PingStatus"] == "Online").then_some(())
        });
    }
    env.ok(&[
        "instances",
        "tag",
        "--instance-id",
        &node_a,
        "--tags",
        "Key=Team,Value=hpc",
    ]);

    // bob may describe and open only nodes tagged Team=hpc, and end only
    // his own sessions.
    env.ok(&["iam", "create-user", "--user-name", "bob"]);
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:DescribeInstanceInformation", "Resource": "*",
         "Condition": {"StringEquals": {"ssm:resourceTag/Team": "hpc"}}},
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "arn:aws:ssm:*:*:managed-instance/*",
         "Condition": {"StringEquals": {"ssm:resourceTag/Team": "hpc"}}},
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "arn:aws:ssm:*::document/SSM-SessionManagerRunShell"},
        {"Effect": "Allow", "Action": "ssm:TerminateSession", "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"},
        {"Effect": "Allow", "Action": ["ssm:DescribeSessions", "airlock:CreateConsoleSignInToken"], "Resource": "*"}
    ]});
    env.ok(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "bob",
        "--policy-name",
        "team-hpc",
        "--policy-document",
        &policy.to_string(),
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "bob",
        "--save-profile",
        "bob",
    ]);

    // Links are valid for 60 s: mint them just before the browser starts.
    let admin = signin_link(&env, &["console"]);
    let short = signin_link(&env, &["console", "--session-duration", "2"]);
    let bob = signin_link(&env, &["--profile", "bob", "console"]);
    let shots = artifacts();
    let out = Command::new("node")
        .arg("console.test.mjs")
        .current_dir(&browser_dir)
        .env("AIRLOCK_URL", env.endpoint())
        .env("AIRLOCK_CA", env.ca())
        .env("SIGNIN_ADMIN", &admin)
        .env("SIGNIN_SHORT", &short)
        .env("SIGNIN_BOB", &bob)
        .env("NODE_A", &node_a)
        .env("NODE_B", &node_b)
        .env("NODE_HOSTNAME", hostname())
        .env("ARTIFACTS", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "the browser test failed (screenshots in {})",
        shots.display()
    );
    for page in [
        "nodes",
        "terminal",
        "sessions",
        "sessions-active",
        "sessions-terminate-refused",
        "replay",
        "replay-opened",
        "clusters",
        "preferences",
        "audit",
        "audit-filtered",
        "audit-refused",
        "session-expired",
        "wide-nodes",
        "wide-sessions",
        "wide-audit",
        "wide-clusters",
        "wide-preferences",
        "wide-terminal",
        "narrow-nodes",
        "narrow-sessions",
        "narrow-audit",
        "narrow-clusters",
        "narrow-preferences",
        "narrow-terminal",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }

    // The console's decisions are in the audit log, as the CLI's are.
    let audit = |args: &[&str]| -> serde_json::Value {
        let mut a = vec!["--json", "audit"];
        a.extend_from_slice(args);
        serde_json::from_str(&env.ok(&a)).expect("audit json")
    };
    let events = |v: &serde_json::Value| v["Events"].as_array().cloned().unwrap_or_default();
    let logins = audit(&["--action", "signin:ConsoleLogin"]);
    assert!(
        events(&logins).iter().any(|e| e["Decision"] == "Deny"),
        "the reused link is audited as a denied sign-in: {logins}"
    );
    let refused = audit(&[
        "--principal",
        "bob",
        "--action",
        "ssm:StartSession",
        "--decision",
        "Deny",
    ]);
    assert!(
        events(&refused)
            .iter()
            .any(|e| e["Resource"].as_str().is_some_and(|r| r.ends_with(&node_b))),
        "bob's refused console session is audited: {refused}"
    );
    let terminates = audit(&["--principal", "bob", "--action", "ssm:TerminateSession"]);
    let on = |decision: &str, owner: &str| {
        events(&terminates).iter().any(|e| {
            e["Decision"] == decision
                && e["Resource"]
                    .as_str()
                    .is_some_and(|r| r.contains(&format!(":session/{owner}-")))
        })
    };
    assert!(
        on("Deny", "admin") && on("Allow", "bob"),
        "bob's refused Terminate of admin's session and his allowed one of his own are audited: {terminates}"
    );
}
