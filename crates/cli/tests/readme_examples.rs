//! The README's examples, run as written (issue 21): every command line of
//! its shell blocks is either run here (and must succeed) or skipped with
//! the reason, so a README that drifts from the CLI fails CI, and so does a
//! command the README gains without this test knowing it.
//!
//! How a line runs: through `bash -c`, with `airlock` on PATH, from a
//! working directory holding `examples/` (the repository's), as root, in a
//! throwaway HOME, state directory and agent directory. What the reader
//! fills in, the test fills in, and says so at the call: `[optional]`
//! parts are left out, and the placeholders (`ACCOUNT`, `mi-0123…`, `NODE`,
//! `ID`, `C`, `I`, `https://server:7443`) become the real values. The files
//! the README assumes exist are made first: `policy.json` (a policy
//! document) and `ca.pem` (the server's CA, as a machine gets it).
//!
//! One server (`airlock server start`, as written) serves every block; the
//! README's one cluster is created, used and deleted.

mod clusters;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Env, wait_for};

/// The README's shell blocks, one entry per command: continuation lines
/// joined, comments dropped, `;`-separated commands apart.
fn readme_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_block = !in_block && t == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        let code = strip_comment(line);
        if let Some(head) = code.trim_end().strip_suffix('\\') {
            pending.push_str(head.trim());
            pending.push(' ');
            continue;
        }
        pending.push_str(code.trim());
        let whole = std::mem::take(&mut pending);
        out.extend(
            split_outside_quotes(&whole, ';')
                .into_iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
        );
    }
    out
}

/// The line without its `# comment` (a `#` after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, ch) in line.char_indices() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = ch;
    }
    line
}

/// `s` cut at each `sep` outside quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote = None;
    for ch in s.chars() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c == sep => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(p) = parts.last_mut() {
            p.push(ch);
        }
    }
    parts
}

/// The command without its `[optional]` parts (outside quotes).
fn without_optional_parts(cmd: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut depth = 0;
    for ch in cmd.chars() {
        match (quote, ch) {
            (None, '\'' | '"') if depth == 0 => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '[') => {
                depth += 1;
                continue;
            }
            (None, ']') if depth > 0 => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            out.push(ch);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with each whole-word `from` replaced by `to`.
fn fill(text: &str, subs: &[(&str, &str)]) -> String {
    let mut s = text.to_owned();
    for (from, to) in subs {
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find(from) {
            let before = rest[..i].chars().last();
            let after = rest[i + from.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-');
            out.push_str(&rest[..i]);
            out.push_str(if word(before) || word(after) {
                from
            } else {
                to
            });
            rest = &rest[i + from.len()..];
        }
        out.push_str(rest);
        s = out;
    }
    s
}

#[test]
fn the_readmes_commands_are_found_split_and_filled_as_a_reader_would() {
    let text = "intro `airlock x`\n```sh\nairlock a --x 'y # z'   # comment\n\
                airlock b \\\n    --c d; airlock e [--f] ID\n    # only a comment\n```\n\
                ```text\nnot run\n```\n";
    assert_eq!(
        readme_commands(text),
        [
            "airlock a --x 'y # z'",
            "airlock b --c d",
            "airlock e [--f] ID"
        ]
    );
    assert_eq!(
        without_optional_parts("airlock e [--f] ID '[kept]'"),
        "airlock e ID '[kept]'"
    );
    assert_eq!(
        fill("show ID; IDs; --id I; x-I", &[("ID", "s-1"), ("I", "i-9")]),
        "show s-1; IDs; --id i-9; x-I"
    );
}

/// The README's commands, run or skipped one by one.
struct Readme {
    commands: Vec<String>,
    done: Vec<bool>,
    work: PathBuf,
    env: Env,
    /// Long-running commands (`agent run`, port forwards), killed on drop.
    background: Vec<Child>,
    log: Vec<String>,
}

impl Readme {
    fn load(env: Env) -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let text = std::fs::read_to_string(path).expect("README.md");
        let commands = readme_commands(&text);
        let work = env.tmp.path().join("work");
        std::fs::create_dir_all(work.join("home")).expect("work dir");
        std::os::unix::fs::symlink(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"),
            work.join("examples"),
        )
        .expect("examples link");
        Readme {
            done: vec![false; commands.len()],
            commands,
            work,
            env,
            background: Vec::new(),
            log: Vec::new(),
        }
    }

    fn home(&self) -> PathBuf {
        self.work.join("home")
    }

    /// Marks the README's command `line` handled; panics if the README no
    /// longer has it.
    fn take(&mut self, line: &str) {
        let i = self
            .commands
            .iter()
            .position(|c| c == line)
            .unwrap_or_else(|| {
                panic!(
                    "the README no longer has the command\n    {line}\n\
                     Its commands now:\n    {}\n(update this test with the README)",
                    self.commands.join("\n    ")
                )
            });
        self.done[i] = true;
    }

    /// A shell running `cmd` as a reader would: `airlock` on PATH, in the
    /// working directory, with this test's directories.
    fn shell(&self, cmd: &str) -> Command {
        let bin = Path::new(support::airlock_bin())
            .parent()
            .expect("bin dir")
            .to_owned();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // The environment of the support's commands, for a shell.
        let template = self.env.cmd();
        let mut c = Command::new("bash");
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.args(["-c", cmd])
            .current_dir(&self.work)
            .env("PATH", path)
            .env("HOME", self.home())
            .env("AIRLOCK_CONFIG_DIR", self.env.config_dir())
            .env("AIRLOCK_AGENT_DIR", self.work.join("agent"))
            .env("AIRLOCK_AGENT_SESSIONS_AS_SELF", "true")
            .env_remove("COLUMNS");
        c
    }

    /// Runs the README's `line` (with `subs` filled in and its optional
    /// parts left out), `stdin` on its standard input; it must succeed
    /// within `secs`. Returns its stdout.
    fn run_in(&mut self, line: &str, subs: &[(&str, &str)], stdin: &str, secs: u64) -> String {
        self.take(line);
        let cmd = fill(&without_optional_parts(line), subs);
        let n = self.log.len();
        let (out, err) = (
            self.work.join(format!("{n}.out")),
            self.work.join(format!("{n}.err")),
        );
        let started = Instant::now();
        let mut child = self
            .shell(&cmd)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn bash");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        let deadline = started + Duration::from_secs(secs);
        let status = loop {
            if let Ok(Some(st)) = child.try_wait() {
                break Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (o, e) = (support::read(&out), support::read(&err));
        self.log.push(format!(
            "$ {cmd}   ({:.1} s)\n{o}{e}",
            started.elapsed().as_secs_f64()
        ));
        match status {
            Some(st) if st.success() => o,
            Some(st) => panic!(
                "the README's\n    {line}\nran as\n    {cmd}\nand failed ({st}):\n{o}{e}\n\nEarlier:\n{}",
                self.log.join("\n")
            ),
            None => panic!("the README's\n    {line}\ndid not finish within {secs} s:\n{o}{e}"),
        }
    }

    fn run(&mut self, line: &str) -> String {
        self.run_in(line, &[], "", 60)
    }

    fn run_with(&mut self, line: &str, subs: &[(&str, &str)]) -> String {
        self.run_in(line, subs, "", 60)
    }

    /// Starts the README's long-running `line` and waits until its output
    /// says `ready`; it is killed when the test ends.
    fn start(&mut self, line: &str, subs: &[(&str, &str)], ready: &str) {
        self.take(line);
        let cmd = fill(&without_optional_parts(line), subs);
        let log = self.work.join(format!("bg-{}.log", self.background.len()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .shell(&format!("exec {cmd}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("spawn bash");
        self.background.push(child);
        wait_for(20, &format!("`{cmd}` to say {ready:?}"), || {
            support::read(&log).contains(ready).then_some(())
        });
        self.log.push(format!("$ {cmd} &\n{}", support::read(&log)));
    }

    /// The README's `line` is not run here, because of `why`.
    fn skip(&mut self, line: &str, why: &str) {
        assert!(!why.is_empty());
        self.take(line);
    }

    /// Every command of the README was run or skipped with its reason.
    fn finish(&self) {
        let left: Vec<&str> = self
            .commands
            .iter()
            .zip(&self.done)
            .filter(|(_, done)| !**done)
            .map(|(c, _)| c.as_str())
            .collect();
        assert!(
            left.is_empty(),
            "the README has commands this test neither runs nor skips:\n    {}",
            left.join("\n    ")
        );
    }
}

impl Drop for Readme {
    fn drop(&mut self) {
        for c in &mut self.background {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The cluster and the daemon, whatever happened.
        if self.env.state_dir().join("server.pid").exists() {
            let _ = self.shell("airlock delete mycluster").output();
        }
        clusters::force_cleanup(&self.env.state_dir().join("clusters"));
        drop(support::DaemonGuard(&self.env));
    }
}

/// The first `"Key": "value"` (JSON) or `Key  value` (table, text) of `out`.
fn field(out: &str, key: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(out)
        && let Some(s) = v[key].as_str()
    {
        return s.to_owned();
    }
    out.lines()
        .find_map(|l| {
            let l = l.trim_matches(|c: char| c == '│' || c == '|' || c.is_whitespace());
            let rest = l.strip_prefix(key)?.trim_start_matches(':');
            rest.split(|c: char| c == '│' || c == '|' || c.is_whitespace())
                .find(|w| !w.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
#[ignore = "needs root"]
fn every_command_in_the_readme_runs_as_written() {
    support::require_root("the README's clusters need the local provider (root)");
    clusters::require();
    let _lock = support::root_lock();
    let started = Instant::now();
    let mut r = Readme::load(Env::new());

    // First contact: the machine's set-up and the whole test suite.
    r.skip(
        "scripts/install-deps.sh && make demo",
        "installs system packages; `make demo` is scripts/walkthrough.sh, which CI runs (bench and walkthrough)",
    );
    r.skip("make test", "is CI itself (this test is part of it)");

    // The server, as written: a daemon on a free port (AIRLOCK_LISTEN).
    r.run("airlock server start");
    let status = r.run("airlock server status");
    assert!(
        status.contains("uptime") || status.contains("Uptime"),
        "{status}"
    );
    r.skip(
        "airlock server run",
        "runs in the foreground until stopped; every other test's server is `airlock server run`",
    );
    r.skip(
        "airlock provider serve --socket /run/airlock-provider.sock --allow-uid $(id -u airlock) --node-endpoint 192.0.2.10:7443",
        "needs a user `airlock` and the address 192.0.2.10 on this host; cluster_walkthrough runs this topology in its own namespaces",
    );
    r.skip(
        "AIRLOCK_PROVIDER_SOCKET=/run/airlock-provider.sock AIRLOCK_NODE_ENDPOINT=192.0.2.10:7443 AIRLOCK_LISTEN=192.0.2.10:7443 airlock server start",
        "the server of the topology above",
    );

    // Identity and policy.
    std::fs::write(
        r.work.join("policy.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:DescribeSessions","Resource":"*"}]}"#,
    )
    .expect("policy.json");
    r.run("airlock iam create-user --user-name alice --tags Key=SSMSessionRunAs,Value=alice");
    r.run("airlock iam attach-user-policy --user-name alice --policy-arn arn:aws:iam::aws:policy/AirlockSessionUser");
    r.run("airlock iam put-user-policy --user-name alice --policy-name extra --policy-document file://policy.json");
    r.run("airlock iam create-access-key --user-name alice --save-profile alice");
    // AirlockSessionUser lets a user read their own user (issue 21).
    let me = r.run("airlock --profile alice iam get-user");
    let account = me
        .split("arn:aws:iam::")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no account in alice's ARN: {me}"))
        .to_owned();
    let decision = r.run_with(
        "airlock iam simulate-principal-policy --policy-source-arn arn:aws:iam::ACCOUNT:user/alice --action-names ssm:StartSession --resource-arns arn:aws:ec2:us-east-1:ACCOUNT:instance/i-0123456789abcdef0",
        &[("ACCOUNT", &account)],
    );
    assert!(decision.contains("allowed"), "{decision}");
    r.run("airlock iam list-policies");
    r.run("airlock audit --principal alice --action iam:ListUsers --since 2026-11-26T00:00:00Z");

    // Cluster configuration files.
    r.run("airlock config validate -c examples/ssm.ini");
    r.run("airlock config show -c examples/ssm.ini [--json]");

    // A cluster, from the seed's configuration.
    r.run("mkdir -p ~/.ssh && ssh-keygen -t ed25519 -N '' -f ~/.ssh/id_ed25519");
    r.run("airlock ec2 import-key-pair --key-name sandbox-key-useast1 --public-key-material file://~/.ssh/id_ed25519.pub");
    r.run("cp examples/ssm.ini cluster.ini");
    r.run("airlock config convert -c cluster.ini -o cluster.yaml");
    let t0 = Instant::now();
    r.run_in(
        "airlock create mycluster -c cluster.ini [-t TEMPLATE] [--nowait] [--norollback]",
        &[],
        "",
        180,
    );
    let create_secs = t0.elapsed().as_secs_f64();
    let status = r.run("airlock status mycluster");
    assert!(status.contains("CREATE_COMPLETE"), "{status}");
    assert!(r.run("airlock list").contains("mycluster"));
    r.run("airlock instances mycluster");
    let shell = r.run_in(
        "airlock connect mycluster/head",
        &[],
        "hostname\nexit\n",
        60,
    );
    assert!(shell.contains("head"), "{shell}");
    let ssh = r.run("airlock ssh mycluster -i ~/.ssh/id_ed25519 -- hostname");
    assert_eq!(ssh.trim(), "head");
    let sinfo = r.run("airlock exec mycluster/head -- sinfo");
    assert!(sinfo.contains("spot1"), "{sinfo}");
    let update = r.run("airlock update mycluster -c cluster.ini [--yes]");
    assert!(update.contains("No changes"), "{update}");
    r.run("airlock stop mycluster");
    r.run("airlock start mycluster");
    r.skip(
        "airlock debug interrupt-spot spot1-dy-c5large-1 --cluster mycluster",
        "needs a running spot node (a job's); cluster_walkthrough drills it",
    );
    r.run_in("airlock delete mycluster", &[], "", 120);

    // On AWS.
    r.skip(
        "AWS_PROFILE=hpc airlock server start --listen 127.0.0.1:7443,10.0.0.5:7443 --provider ec2 --node-endpoint 10.0.0.5:7443 --ec2-image-id ami-0123456789abcdef0",
        "needs an AWS account; ec2_walkthrough runs this server against moto, with the boot rig",
    );
    r.skip(
        "airlock create mycluster -c cluster.ini",
        "the cluster on AWS above; ec2_walkthrough creates the seed's on moto",
    );

    // A node outside any cluster, joined with a hybrid activation.
    r.run("airlock iam create-role --role-name NodeRole --assume-role-policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ssm.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}'");
    r.run("airlock iam attach-role-policy --role-name NodeRole --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
    let act = r.run("airlock activation create --role NodeRole");
    let (code, id) = (field(&act, "ActivationCode"), field(&act, "ActivationId"));
    let endpoint = support::read(&r.env.state_dir().join("server.endpoint"))
        .trim()
        .to_owned();
    let endpoint = if endpoint.starts_with("https://") {
        endpoint
    } else {
        format!("https://{endpoint}")
    };
    std::fs::copy(r.env.ca(), r.work.join("ca.pem")).expect("ca.pem");
    let registered = r.run_with(
        "airlock agent register --activation-code C --activation-id I --endpoint https://server:7443 --ca-bundle ca.pem",
        &[("C", &code), ("I", &id), ("https://server:7443", &endpoint)],
    );
    let node = registered
        .split_whitespace()
        .find(|w| w.starts_with("mi-"))
        .map(|w| w.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| panic!("no instance id in: {registered}"));
    let mi: &[(&str, &str)] = &[
        ("mi-0123456789abcdef0", &node),
        ("mi-…", &node),
        ("NODE", &node),
    ];
    r.start("airlock agent run", &[], "");
    let deadline = Instant::now() + Duration::from_secs(20);
    while support::instance(&r.env, &node)["PingStatus"] != "Online" {
        assert!(
            Instant::now() < deadline,
            "the node did not come online within 20 s; `airlock agent run` said:\n{}",
            support::read(&r.work.join("bg-0.log"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let agent = r.run("airlock agent status");
    assert!(agent.contains("active"), "{agent}");
    assert!(r.run("airlock instances").contains(&node[..10]));
    r.run_in(
        "airlock connect mi-0123456789abcdef0",
        mi,
        "echo via-readme\nexit\n",
        60,
    );
    let uname = r.run_with("airlock exec mi-0123456789abcdef0 -- uname -a", mi);
    assert!(uname.starts_with("Linux"), "{uname}");
    r.start(
        "airlock port-forward mi-0123456789abcdef0 --remote-port 8888 --local-port 9922",
        mi,
        "Waiting for connections",
    );
    r.start(
        "airlock session start --target NODE --document-name AWS-StartPortForwardingSessionToRemoteHost --parameters host=db.internal,portNumber=5432,localPortNumber=5432",
        mi,
        "Waiting for connections",
    );
    r.skip(
        "ssh -o ProxyCommand='airlock proxy %h %p' ec2-user@mi-0123456789abcdef0",
        "needs sshd on the node's port 22 and a user ec2-user; sessions::ssh_scp_and_rsync_work_through_airlock_proxy runs it against a throwaway sshd",
    );
    r.run("airlock ssh-config >> ~/.ssh/config");
    assert!(support::read(&r.home().join(".ssh/config")).contains("ProxyCommand"));
    let sessions: Value =
        serde_json::from_str(&r.env.ok(&["--json", "session", "list"])).expect("session list json");
    let forward = sessions["Sessions"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|s| s["DocumentName"] == "AWS-StartPortForwardingSession")
        })
        .and_then(|s| s["SessionId"].as_str())
        .unwrap_or_else(|| panic!("no port-forwarding session in {sessions}"))
        .to_owned();
    let history: Value =
        serde_json::from_str(&r.env.ok(&["--json", "session", "list", "--history"]))
            .expect("session history json");
    let shell_id = history["Sessions"]
        .as_array()
        .and_then(|l| {
            l.iter().find(|s| {
                s["Target"] == node.as_str() && s["DocumentName"] == "SSM-SessionManagerRunShell"
            })
        })
        .and_then(|s| s["SessionId"].as_str())
        .unwrap_or_else(|| panic!("no shell session in {history}"))
        .to_owned();
    r.run("airlock session list [--history]");
    r.run_with("airlock session show ID", &[("ID", &forward)]);
    r.run_with("airlock session terminate ID", &[("ID", &forward)]);
    let cast = r.run_with("airlock session replay ID [--play 2]", &[("ID", &shell_id)]);
    assert!(cast.contains("via-readme"), "{cast}");
    r.run("airlock session preferences --idle-session-timeout 20 --max-session-duration 240 --run-as-enabled true --run-as-default-user ec2-user --shell-profile 'cd ~'");
    r.run("airlock session preferences --max-recording-size-mb 100 --recording-min-free-space-mb 1024 --recording-cap-action continue");
    r.run_with(
        "airlock instances tag --instance-id mi-… --tags Key=Team,Value=hpc",
        mi,
    );

    // The web console.
    let link = r.run("airlock console");
    assert!(link.contains("/console/signin#"), "{link}");
    r.skip(
        "airlock console --open",
        "opens a browser (xdg-open); tests/browser drives the console",
    );
    r.run("airlock --profile alice console --session-duration 900");

    r.run("airlock server stop");
    r.finish();
    eprintln!(
        "{}\n\nthe README ran in {:.1} s (cluster create {create_secs:.1} s)",
        r.log.join("\n"),
        started.elapsed().as_secs_f64()
    );
}
