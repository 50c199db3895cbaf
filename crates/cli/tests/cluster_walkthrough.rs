//! The seed's walkthrough on the local provider, end to end with real
//! clients: `airlock create` on examples/ssm.ini, the roles, a shell on the
//! head node through a PTY, `sbatch` powering up spot1-dy-c5large-1 while
//! the other 15 stay `idle~`, the job's output, a session on the compute
//! node, ssh and scp through `airlock proxy`, refusals (no StartSession,
//! the compute role launching nodes), a server restart, a spot reclaim that
//! requeues the job, and `delete` leaving nothing behind. Needs root.
//!
//! It runs in two topologies: the server on the machines' host (as root,
//! with the local provider in it), and the server on its own "host" (a
//! network namespace the machines reach only through a routed hop, as an
//! unprivileged user, with `airlock provider serve` the only root part),
//! where a 20 s partition between the head node and the server is added.

mod clusters;
mod support;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use clusters::{Lab, assert_gone, index_of, text};
use support::{Terminal, wait_for};

const SEED: &str = include_str!("../../../examples/ssm.ini");

#[test]
#[ignore = "needs root"]
fn walkthrough_on_the_seed_config_with_real_clients() {
    clusters::require();
    let _root = support::root_lock();
    walkthrough(Lab::start());
}

#[test]
#[ignore = "needs root"]
fn walkthrough_with_the_server_unprivileged_on_another_host() {
    clusters::require();
    let _root = support::root_lock();
    walkthrough(Lab::start_on_server_host());
}

/// Drops whatever a partition rule dropped, even when the test fails.
struct Partition;

impl Partition {
    const TABLE: &str = "alkpartition";
    fn start(a: &str, b: &str) -> Self {
        let rules = format!(
            "table inet {t} {{\n chain forward {{\n  type filter hook forward priority -20; policy accept;\n  ip saddr {a} ip daddr {b} drop\n  ip saddr {b} ip daddr {a} drop\n }}\n}}\n",
            t = Self::TABLE
        );
        let mut c = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "nft: {rules}");
        Partition
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", Self::TABLE])
            .status();
    }
}

/// The head node and the server cannot reach each other for 20 s: a
/// session that spans it resumes with nothing lost, and Slurm carries on
/// (a job runs and ends on a compute node meanwhile).
fn partition_head_from_server(lab: &Lab, head_ip: &str) {
    let job = lab.exec(
        "ssm/head",
        "sudo -iu ubuntu sbatch --parsable --wrap 'sleep 8; hostname'",
    );
    let job = job.trim().to_owned();
    wait_for(90, "the job to run", || {
        let s = lab.exec("ssm/head", &format!("squeue -h -j {job} -o %t"));
        (s.trim() == "R").then_some(())
    });
    let ticker = lab
        .env
        .cmd()
        .args(["exec", "ssm/head", "--", "bash", "-c"])
        .arg("for i in $(seq 1 30); do echo tick$i; sleep 1; done")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(ticker.wait_with_output()));
    std::thread::sleep(Duration::from_secs(3));
    let cut = Partition::start(head_ip, clusters::SERVER_HOST_ADDR);
    let t0 = std::time::Instant::now();
    // The cut is real: the server loses the head's heartbeat.
    wait_for(15, "the server to lose the head node", || {
        let i = lab.env.ok(&["instances", "ssm"]);
        i.lines()
            .any(|l| l.contains("head") && l.contains("ConnectionLost"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(20).saturating_sub(t0.elapsed()));
    drop(cut);
    let o = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the session to end after the partition")
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let want: Vec<String> = (1..=30).map(|i| format!("tick{i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{err}");
    let done = lab.exec(
        "ssm/head",
        &format!("squeue -h -j {job}; cat /home/ubuntu/slurm-{job}.out"),
    );
    assert_eq!(done.trim(), "spot1-dy-c5large-1", "{done}");
}

fn walkthrough(mut lab: Lab) {
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    if lab.server_host.is_some() {
        // The server holds no privilege: it cannot enter a machine's
        // namespaces nor write its files; the provider helper does the rest.
        let pid = std::fs::read_to_string(lab.env.state_dir().join("server.pid")).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(field("Uid:")[0], "65534", "{status}");
        assert_eq!(field("CapEff:")[0], "0000000000000000", "{status}");
    }
    let env = &lab.env;
    let config = lab.write("ssm.ini", SEED);
    let cfg = config.to_str().unwrap();

    // key_name must name a key pair, as ParallelCluster checks.
    let o = env.run(&["create", "ssm", "-c", cfg]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("sandbox-key-useast1") && err.contains("does not exist"),
        "{err}"
    );
    lab.import_key("sandbox-key-useast1");

    // 1. create
    let out = env.ok(&["create", "ssm", "-c", cfg]);
    for line in [
        "Beginning cluster creation for cluster: ssm",
        "Creating stack named: airlock-ssm",
        "Status: HeadNode - CREATE_COMPLETE",
        "Status: CREATE_COMPLETE",
        "ClusterUser: ubuntu",
        "MasterPrivateIP: 10.77.",
        "HeadNodeInstanceId: i-",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("MasterPublicIP"));
    let index = index_of(&lab, "ssm");
    let head_ip = format!("10.77.{index}.2");

    // 2. the roles carry additional_iam_policies; only the head may launch.
    for role in ["airlock-ssm-HeadNodeRole", "airlock-ssm-ComputeRole"] {
        let p = env.ok(&["iam", "list-attached-role-policies", "--role-name", role]);
        assert!(p.contains("AmazonSSMManagedInstanceCore"), "{role}: {p}");
    }

    // The head node booted from user data: it fetched the agent, joined
    // with a single-use token and made its own key. Its user data, as
    // `ec2 describe-instance-attribute` shows it, carries no secret.
    let head_id = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("HeadNodeInstanceId: "))
        .expect("the head node's instance id")
        .trim()
        .to_owned();
    lab.wait_online("ssm/head");
    let attr = env.ok(&[
        "ec2",
        "describe-instance-attribute",
        "--instance-id",
        &head_id,
        "--attribute",
        "userData",
    ]);
    let attr: serde_json::Value = serde_json::from_str(&attr).expect("JSON");
    let script = support::base64_decode(attr["UserData"]["Value"].as_str().expect("UserData"));
    assert!(script.starts_with("#!/bin/sh"), "{script}");
    assert!(script.contains("join_token="), "{script}");
    assert!(!script.contains("PRIVATE KEY"), "{script}");
    assert_eq!(script.matches("BEGIN").count(), 1, "only the CA: {script}");
    // 3. a shell on the head node through a real PTY; the agent's status.
    let mut t = Terminal::open(env, "ssm/head");
    t.expect("Starting session with SessionId:");
    t.send("echo HOST=$(hostname); sudo airlock agent status | head -4; sudo su - ubuntu\r");
    t.expect("HOST=head");
    t.expect("Active: active (running)");
    t.send("printf '#!/bin/bash\\nhostname\\nsudo airlock agent status\\n' > test.sh; sbatch -n1 test.sh\r");
    // 4. sbatch
    t.expect("Submitted batch job 1");
    // 5. sinfo and squeue while the node powers up.
    let mut seen = String::new();
    wait_for(20, "the job to be allocated", || {
        let s = lab.exec("ssm/head", "squeue -h -o '%i %t %N'; sinfo -h");
        seen.push_str(&s);
        s.contains("spot1-dy-c5large-1").then_some(())
    });
    let sinfo = lab.exec("ssm/head", "sinfo");
    assert!(
        sinfo.contains("15  idle~ spot1-dy-c5large-[2-16]"),
        "{sinfo}"
    );
    // 6. the job's output, written on the compute node into the shared home.
    let output = wait_for(90, "job 1 to finish", || {
        let o = lab.exec(
            "ssm/head",
            "squeue -h; cat /home/ubuntu/slurm-1.out 2>/dev/null",
        );
        (o.contains("Active: active") && !o.contains(" R ") && !o.contains(" CF ")).then_some(o)
    });
    assert!(output.contains("spot1-dy-c5large-1"), "{output}");
    assert!(
        seen.contains(" CF ") || seen.contains("mix") || seen.contains("alloc"),
        "{seen}"
    );
    // Out of ubuntu's login shell (it says "logout"), then out of the session.
    t.send("exit\r");
    t.expect("logout");
    t.send("exit\r");
    wait_for(30, "the shell session to end", || {
        t.child.try_wait().ok().flatten()
    });

    // 7. a session on the compute node.
    let host = lab.exec("spot1-dy-c5large-1", "hostname");
    assert_eq!(host.trim(), "spot1-dy-c5large-1");
    assert_eq!(
        lab.exec("ssm/spot1-dy-c5large-1", "hostname").trim(),
        "spot1-dy-c5large-1"
    );
    let sinfo = lab.exec("ssm/head", "sinfo");
    assert!(sinfo.contains("idle~ spot1-dy-c5large-[2-16]"), "{sinfo}");

    // 8. ssh and scp with OpenSSH through the tunnel, as the cluster user.
    let ssh = env
        .cmd()
        .args(["ssh", "ssm", "-i"])
        .arg(&lab.key)
        .args(["--", "hostname", ";", "id", "-un"])
        .output()
        .unwrap();
    let (so, se) = text(&ssh);
    assert!(ssh.status.success(), "{so}{se}");
    assert!(so.contains("head") && so.contains("ubuntu"), "{so}");
    let local = lab.write("payload.txt", "through the airlock\n");
    let proxy = format!("ProxyCommand={} proxy %h %p", support::airlock_bin());
    let scp = Command::new("scp")
        .env("AIRLOCK_CONFIG_DIR", env.config_dir())
        .args([
            "-q",
            "-o",
            &proxy,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-i",
        ])
        .arg(&lab.key)
        .arg(&local)
        .arg(format!("ubuntu@{head_ip}:payload.txt"))
        .output()
        .unwrap();
    assert!(scp.status.success(), "{:?}", text(&scp));
    assert_eq!(
        lab.exec("ssm/head", "cat /home/ubuntu/payload.txt"),
        "through the airlock\n"
    );

    // Nodes listen on nothing the host can reach; a node reaches only its
    // cluster and the agent endpoint.
    for port in [22, 6817, 6818] {
        let a: SocketAddr = format!("{head_ip}:{port}").parse().unwrap();
        assert!(
            TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err(),
            "host reached {a}"
        );
    }
    let probe = |target: &str, addr: &str| {
        lab.exec(
            target,
            &format!("timeout 2 bash -c '</dev/tcp/{addr}' && echo OPEN || echo CLOSED"),
        )
    };
    let endpoint = lab.node_endpoint("ssm").replace(':', "/");
    assert!(probe("ssm/head", &endpoint).contains("OPEN"));
    assert!(probe("ssm/head", &format!("10.77.{index}.1/22")).contains("CLOSED"));
    assert!(
        probe("ssm/head", "127.0.0.1/22").contains("OPEN"),
        "sshd on the node's loopback"
    );

    // A user without ssm:StartSession is refused, and audited.
    env.ok(&["iam", "create-user", "--user-name", "viewer"]);
    env.ok(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        "viewer",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AirlockReadOnlyAccess",
    ]);
    env.ok(&[
        "iam",
        "create-access-key",
        "--user-name",
        "viewer",
        "--save-profile",
        "viewer",
    ]);
    let denied = env.run(&["--profile", "viewer", "exec", "ssm/head", "--", "true"]);
    let (_, de) = text(&denied);
    assert!(
        !denied.status.success() && de.contains("ssm:StartSession"),
        "{de}"
    );
    let audit = env.ok(&["audit", "--principal", "viewer", "--decision", "Deny"]);
    assert!(audit.contains("ssm:StartSession"), "{audit}");

    // The compute role may not launch nodes; the refusal is audited.
    let refused = lab.exec(
        "spot1-dy-c5large-1",
        "sudo airlock slurm resume spot1-dy-c5large-9 2>&1; echo rc=$?",
    );
    assert!(
        refused.contains("not authorized to perform: ec2:RunInstances") && refused.contains("rc=1"),
        "{refused}"
    );
    assert!(
        env.ok(&[
            "audit",
            "--action",
            "ec2:RunInstances",
            "--decision",
            "Deny"
        ])
        .contains("ComputeRole")
    );

    // Kill the head node's agent: its supervisor restarts it; Online again.
    let head = airlock_cluster::local::node::list(&airlock_cluster::local::ClusterLayout::new(
        &lab.clusters_root(),
        "ssm",
    ))
    .into_iter()
    .find(|n| n.name == "head")
    .expect("head record");
    let killed = Command::new("nsenter")
        .args([
            "-t",
            &head.pid.to_string(),
            "--pid",
            "--mount",
            "pkill",
            "-f",
            "airlock agent run",
        ])
        .status()
        .unwrap();
    assert!(killed.success());
    lab.wait_online("ssm/head");
    assert!(
        lab.exec("ssm/head", "sudo airlock agent status")
            .contains("Active: active")
    );

    // A server restart keeps the cluster, and sessions reconnect.
    lab.restart_server();
    let env = &lab.env;
    assert!(
        env.ok(&["status", "ssm"])
            .contains("Status: CREATE_COMPLETE")
    );
    lab.wait_online("ssm/head");
    assert_eq!(lab.exec("ssm/head", "hostname").trim(), "head");

    if lab.server_host.is_some() {
        partition_head_from_server(&lab, &head_ip);
        lab.wait_online("ssm/head");
    }

    // A spot reclaim mid-job: the job is requeued and the node cleaned up.
    let job = lab.exec(
        "ssm/head",
        "sudo -iu ubuntu sbatch --parsable --wrap 'sleep 300'",
    );
    let job = job.trim().to_owned();
    let node = wait_for(60, "the long job to run", || {
        let o = lab.exec("ssm/head", &format!("squeue -h -j {job} -o '%t %N'"));
        o.starts_with("R ").then(|| o[2..].trim().to_owned())
    });
    env.ok(&[
        "debug",
        "interrupt-spot",
        &node,
        "--cluster",
        "ssm",
        "--notice-seconds",
        "1",
    ]);
    wait_for(30, "the long job to be requeued", || {
        lab.exec("ssm/head", &format!("scontrol show job {job}"))
            .contains("Restarts=1")
            .then_some(())
    });
    wait_for(30, "the reclaimed node's namespaces to go", || {
        let nodes = airlock_cluster::local::node::list(
            &airlock_cluster::local::ClusterLayout::new(&lab.clusters_root(), "ssm"),
        );
        (!nodes.iter().any(|n| n.name == node)).then_some(())
    });
    let events = env.ok(&["status", "ssm", "--json"]);
    assert!(events.contains("CREATE_COMPLETE"));

    // 9. delete leaves nothing behind.
    let out = env.ok(&["delete", "ssm"]);
    assert!(out.contains("Cluster deleted successfully."), "{out}");
    assert_gone(&lab, "ssm", &index);
    assert!(!env.run(&["status", "ssm"]).status.success());
    assert_eq!(
        std::fs::read("/etc/passwd").unwrap(),
        host_passwd,
        "the host's /etc/passwd changed"
    );
}
