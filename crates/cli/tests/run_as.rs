//! Who sessions run as, with a root agent: `ssm-user` (created with a
//! sudoers entry, as the incumbent does), or the user's SSMSessionRunAs tag
//! when run-as is on. Needs root: the agent runs in a private mount
//! namespace with its own copy of /etc and an empty /home, so the host's
//! users are never touched.

mod support;

use support::root_agent::RootAgent;
use support::{Env, Server, register_agent, session_user};

#[test]
#[ignore = "needs root"]
fn root_agent_runs_sessions_as_ssm_user_or_the_run_as_tag() {
    support::require_root("the agent creates ssm-user and runs sessions as other users");
    let _root = support::root_lock();
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let _agent = RootAgent::start(&env, &dir, &id, "useradd -m -s /bin/sh alice");

    let who = env.ok(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "id -un; sudo -n cat /etc/sudoers.d/ssm-agent-users; stat -c 'mode %a' /etc/sudoers.d/ssm-agent-users; echo $HOME",
    ]);
    assert!(who.contains("mode 440\n"), "sudo expects 0440: {who}");
    assert!(who.starts_with("ssm-user\n"), "{who}");
    assert!(who.contains("ssm-user ALL=(ALL) NOPASSWD:ALL"), "{who}");
    assert!(who.trim_end().ends_with("/home/ssm-user"), "{who}");
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        !host_passwd.contains("ssm-user:") && !host_passwd.contains("\nalice:"),
        "the host's users changed"
    );

    session_user(&env, "alice", &["Key=SSMSessionRunAs,Value=alice"]);
    let as_default = env.ok(&["--profile", "alice", "exec", &id, "--", "id", "-un"]);
    assert_eq!(as_default, "ssm-user\n", "run-as is off by default");
    env.ok(&["session", "preferences", "--run-as-enabled", "true"]);
    let as_alice = env.ok(&["--profile", "alice", "exec", &id, "--", "id", "-un"]);
    assert_eq!(as_alice, "alice\n");
    let o = env.run(&["exec", &id, "--", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("has no SSMSessionRunAs tag and no runAsDefaultUser"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    env.ok(&[
        "session",
        "preferences",
        "--run-as-default-user",
        "nobody-here",
    ]);
    let o = env.run(&["exec", &id, "--", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the run-as user nobody-here does not exist"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
