//! Every listing, as a user reads it in an 80-column terminal (issue 21):
//! the real CLI runs inside `tmux new-session -x 80 -y 50`, and what the
//! pane shows is captured with wrapped lines joined (`capture-pane -J`), so
//! a row the terminal had to wrap counts as the long line it was. No line
//! may exceed 80 columns, and each listing shows its key fields.
//!
//! Root: `status` needs a cluster (the local provider), made from the
//! seed's configuration.

mod clusters;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use clusters::Lab;
use support::{Agent, Env, register_agent, wait_for};

/// A tmux server of its own (`tmux -L NAME`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is not installed (scripts/install-deps.sh installs it)"
        );
        Tmux {
            socket: format!("airlock-test-{}", std::process::id()),
        }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Runs `airlock ARGS` in a fresh 80×50 window and returns what the
    /// pane shows, wrapped lines joined.
    fn show(&self, env: &Env, args: &[&str]) -> String {
        let words: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "env -u COLUMNS -u LINES AIRLOCK_CONFIG_DIR={} {} {}; echo \"[exit $?]\"; exec sleep 600",
            shell_quote(&env.config_dir().display().to_string()),
            support::airlock_bin(),
            words.join(" ")
        );
        let name = format!("w{}", args.join("-").replace(['.', ':'], "_"));
        // A tmux server starting up can exit before the client attaches
        // ("server exited unexpectedly", seen once under load): try again.
        let new_session = || {
            self.tmux()
                .args([
                    "new-session",
                    "-d",
                    "-x",
                    "80",
                    "-y",
                    "50",
                    "-s",
                    &name,
                    "sh",
                    "-c",
                    &script,
                ])
                .env_remove("TMUX")
                .output()
                .expect("tmux new-session")
        };
        let mut o = new_session();
        for _ in 0..3 {
            if o.status.success()
                || !String::from_utf8_lossy(&o.stderr).contains("server exited unexpectedly")
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            o = new_session();
        }
        assert!(
            o.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let capture = || {
            let o = self
                .tmux()
                .args(["capture-pane", "-p", "-J", "-S", "-", "-t", &name])
                .output()
                .expect("tmux capture-pane");
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let shown = loop {
            let text = capture();
            if text.contains("[exit ") {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "airlock {args:?} did not finish in tmux:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = self.tmux().args(["kill-session", "-t", &name]).output();
        let shown = shown.trim_end().to_owned();
        eprintln!("$ airlock {} (tmux, 80 columns)\n{shown}\n", args.join(" "));
        assert!(
            shown.ends_with("[exit 0]"),
            "airlock {args:?} failed:\n{shown}"
        );
        for line in shown.lines() {
            let cols = line.trim_end().chars().count();
            assert!(
                cols <= 80,
                "airlock {args:?}: a line of {cols} columns (wrapped by the terminal):\n{line}\n\n{shown}"
            );
        }
        shown
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// One word for `sh -c`, single-quoted.
fn shell_quote(w: &str) -> String {
    format!("'{}'", w.replace('\'', "'\\''"))
}

/// Asserts that `shown` has each of `fields`.
fn has(what: &str, shown: &str, fields: &[&str]) {
    for f in fields {
        assert!(shown.contains(f), "{what}: no {f:?} in\n{shown}");
    }
}

#[test]
#[ignore = "needs root"]
fn every_listing_is_readable_in_an_80_column_tmux_pane() {
    clusters::require();
    let _lock = support::root_lock();
    let tmux = Tmux::new();
    let lab = Lab::start();
    let env = &lab.env;

    // A cluster, a managed node with a finished session, a user with a
    // long name, an activation, a key pair, audit events.
    lab.import_key("sandbox-key-useast1");
    let ini = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ssm.ini"
    ))
    .expect("examples/ssm.ini");
    let config = lab.write("ssm.ini", &ini);
    env.ok(&[
        "create",
        "ssm-cluster",
        "-c",
        config.to_str().expect("utf8"),
    ]);
    let dir = env.tmp.path().join("agent");
    let node = register_agent(env, "NodeRole", true, &dir);
    let _agent = Agent::start(env, &dir);
    wait_for(20, "the node to come online", || {
        (support::instance(env, &node)["PingStatus"] == "Online").then_some(())
    });
    env.ok(&["exec", &node, "--", "true"]);
    env.ok(&[
        "iam",
        "create-user",
        "--user-name",
        "a-user-with-a-rather-long-name-for-a-narrow-terminal",
    ]);
    env.ok(&["activation", "create", "--role", "NodeRole"]);

    let status = tmux.show(env, &["status", "ssm-cluster"]);
    has(
        "status",
        &status,
        &[
            "CREATE_COMPLETE",
            "HeadNode",
            "MasterPrivateIP",
            "ClusterUser",
        ],
    );
    has(
        "list",
        &tmux.show(env, &["list"]),
        &["ssm-cluster", "CREATE_COMPLETE"],
    );
    let instances = tmux.show(env, &["instances"]);
    has("instances", &instances, &[&node[..10], "Online"]);
    has(
        "instances of the cluster",
        &tmux.show(env, &["instances", "ssm-cluster"]),
        &["Online"],
    );
    let sid_prefix = "admin-";
    has(
        "session list --history",
        &tmux.show(env, &["session", "list", "--history"]),
        &[sid_prefix, &node[..10], "Terminated"],
    );
    has(
        "describe-sessions",
        &tmux.show(
            env,
            &[
                "ssm",
                "describe-sessions",
                "--state",
                "History",
                "--output",
                "table",
            ],
        ),
        &[sid_prefix, "Terminated"],
    );
    has(
        "audit",
        &tmux.show(env, &["audit", "--max-items", "30"]),
        &["ssm:StartSession", "Allow"],
    );
    has(
        "iam list-users",
        &tmux.show(env, &["iam", "list-users"]),
        &["admin", "a-user-with-a-rather"],
    );
    has(
        "activation list",
        &tmux.show(env, &["activation", "list"]),
        &["NodeRole"],
    );
    has(
        "describe-activations",
        &tmux.show(env, &["ssm", "describe-activations", "--output", "table"]),
        &["NodeRole"],
    );
    has(
        "describe-instance-information",
        &tmux.show(
            env,
            &["ssm", "describe-instance-information", "--output", "table"],
        ),
        &["Online"],
    );
    has(
        "describe-key-pairs",
        &tmux.show(env, &["ec2", "describe-key-pairs"]),
        &["sandbox-key-useast1"],
    );
    has(
        "list-policies",
        &tmux.show(env, &["iam", "list-policies"]),
        // Hundreds of AWS managed policies: the pane's history keeps the last.
        &["PolicyName", "arn:aws:iam::aws:policy/"],
    );
}
