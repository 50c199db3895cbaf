//! Who sessions run as, with a root agent: `ssm-user` (created with a
//! sudoers entry, as the incumbent does), or the user's SSMSessionRunAs tag
//! when run-as is on. Needs root: the agent runs in a private mount
//! namespace with its own copy of /etc and an empty /home, so the host's
//! users are never touched.

mod support;

use std::process::{Command, Stdio};

use support::{Env, Server, instance, register_agent, wait_for};

struct NsAgent(std::process::Child);

impl Drop for NsAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root_with_unshare() -> bool {
    if !nix_is_root() {
        eprintln!("skipped: needs root (a private mount namespace for the agent's users)");
        return false;
    }
    if Command::new("unshare")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: unshare (util-linux) is not installed");
        return false;
    }
    true
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
fn root_agent_runs_sessions_as_ssm_user_or_the_run_as_tag() {
    if !root_with_unshare() {
        return;
    }
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = env.tmp.path().join("agent");
    let id = register_agent(&env, "NodeRole", true, &dir);
    let etc = env.tmp.path().join("etc");
    let st = Command::new("cp")
        .arg("-a")
        .arg("/etc")
        .arg(&etc)
        .status()
        .unwrap();
    assert!(st.success());
    let script = format!(
        "set -e; mount --bind {etc} /etc; mount -t tmpfs tmpfs /home; rm -f /etc/sudoers.d/ssm-agent-users; \
         useradd -m -s /bin/sh alice; exec {bin} --log-level info agent run --agent-dir {dir}",
        etc = etc.display(),
        bin = support::airlock_bin(),
        dir = dir.display()
    );
    let log = std::fs::File::create(env.tmp.path().join("ns-agent.log")).unwrap();
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_remove("AIRLOCK_AGENT_SESSIONS_AS_SELF")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _agent = NsAgent(child);
    wait_for(20, "the namespaced agent to come online", || {
        (instance(&env, &id)["PingStatus"] == "Online").then_some(())
    });

    let who = env.ok(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "id -un; cat /etc/sudoers.d/ssm-agent-users; echo $HOME",
    ]);
    assert!(who.starts_with("ssm-user\n"), "{who}");
    assert!(who.contains("ssm-user ALL=(ALL) NOPASSWD:ALL"), "{who}");
    assert!(who.trim_end().ends_with("/home/ssm-user"), "{who}");
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        !host_passwd.contains("ssm-user:") && !host_passwd.contains("\nalice:"),
        "the host's users changed"
    );

    env.ok(&[
        "iam",
        "create-user",
        "--user-name",
        "alice",
        "--tags",
        "Key=SSMSessionRunAs,Value=alice",
    ]);
    env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        "alice",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockSessionUser",
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "alice",
        "--save-profile",
        "alice",
    ]);
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
