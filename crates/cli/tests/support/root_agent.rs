//! A root agent (as on every cluster node) in a private mount namespace with
//! its own copy of /etc and an empty /home, so the host's users are never
//! touched. Needs root and unshare (util-linux).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{Env, airlock_bin, instance, wait_for};

/// The namespaced root agent; killed on drop.
pub struct RootAgent(Child);

impl Drop for RootAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RootAgent {
    /// Starts the agent registered in `dir` as instance `id`, after
    /// `setup` (shell, run inside the namespace: e.g. `useradd …`); waits
    /// until it is online.
    pub fn start(env: &Env, dir: &Path, id: &str, setup: &str) -> Self {
        let etc = env.tmp.path().join("etc");
        let st = Command::new("cp")
            .arg("-a")
            .arg("/etc")
            .arg(&etc)
            .status()
            .expect("cp /etc");
        assert!(st.success(), "copying /etc");
        let script = format!(
            "set -e; mount --bind {etc} /etc; mount -t tmpfs tmpfs /home; rm -f /etc/sudoers.d/ssm-agent-users; \
             {setup}; exec {bin} --log-level info agent run --agent-dir {dir}",
            etc = etc.display(),
            bin = airlock_bin(),
            dir = dir.display()
        );
        let log = std::fs::File::create(env.tmp.path().join("ns-agent.log")).expect("log");
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env_remove("AIRLOCK_AGENT_SESSIONS_AS_SELF")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn unshare");
        let agent = RootAgent(child);
        wait_for(20, "the namespaced agent to come online", || {
            (instance(env, id)["PingStatus"] == "Online").then_some(())
        });
        agent
    }
}
