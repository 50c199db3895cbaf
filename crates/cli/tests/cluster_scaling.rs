//! The local provider under Slurm power saving (needs root): `sbatch -N2`
//! powers up two of four dynamic nodes and `srun hostname` runs on both;
//! the rest stay `idle~`; a killed node's job is requeued and the fleet
//! manager cleans up; after SuspendTime the nodes are powered down and
//! their namespaces are gone; two clusters cannot reach each other, and
//! one cluster's head role cannot launch the other's nodes.

mod clusters;
mod support;

use clusters::{Lab, assert_gone, index_of};
use support::wait_for;

const SMALL: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nqueue_settings = q\nscaling_settings = fast\n\
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[scaling fast]\nscaledown_idletime = 1\n\n[queue q]\ncompute_resource_settings = cr\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmax_count = 4\n";

fn running(lab: &Lab, cluster: &str) -> Vec<airlock_cluster::local::node::NodeRecord> {
    let l = airlock_cluster::local::ClusterLayout::new(&lab.clusters_root(), cluster);
    airlock_cluster::local::node::list(&l)
        .into_iter()
        .filter(|n| n.role == airlock_cluster::local::node::NodeRole::Compute)
        .collect()
}

#[test]
#[ignore = "needs root"]
fn scale_up_requeue_scale_down_and_isolation() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let env = &lab.env;
    let cfg = lab.write("small.ini", SMALL);
    let cfg = cfg.to_str().unwrap();
    env.ok(&["create", "scale", "-c", cfg]);
    env.ok(&["create", "other", "-c", cfg]);
    let (a, b) = (index_of(&lab, "scale"), index_of(&lab, "other"));
    assert_ne!(a, b);
    lab.wait_online("scale/head");
    lab.wait_online("other/head");
    // The user is ec2-user for alinux2; the job's output lands in the shared home.
    let home = lab.exec("scale/head", "getent passwd ec2-user");
    assert!(
        home.contains(":1000:1000:") && home.contains("/home/ec2-user"),
        "{home}"
    );

    lab.exec(
        "scale/head",
        "cd ~ec2-user && sudo -u ec2-user sbatch -N2 -o two.out --wrap 'srun hostname'",
    );
    let out = wait_for(120, "the two-node job's output", || {
        let o = lab.exec("scale/head", "squeue -h; cat ~ec2-user/two.out 2>/dev/null");
        (o.matches("q-dy-c5large-").count() >= 2 && !o.contains(" R ") && !o.contains(" CF "))
            .then_some(o)
    });
    assert!(
        out.contains("q-dy-c5large-1") && out.contains("q-dy-c5large-2"),
        "{out}"
    );
    let sinfo = lab.exec("scale/head", "sinfo -h -N -o '%N %t'");
    assert!(
        sinfo.contains("q-dy-c5large-3 idle~") && sinfo.contains("q-dy-c5large-4 idle~"),
        "{sinfo}"
    );
    assert_eq!(running(&lab, "scale").len(), 2);

    // Without key_name, `airlock ssh` pushes a one-time key (60 s).
    let dry = env.ok(&["ssh", "scale", "--dryrun"]);
    assert!(
        dry.starts_with("SSH command: ssh -o 'ProxyCommand=") && dry.contains("ec2-user@10.77."),
        "{dry}"
    );
    let o = env
        .cmd()
        .args(["ssh", "scale", "--", "hostname"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "head");
    let keys = std::fs::read_to_string(
        lab.clusters_root()
            .join("scale/volume/home/ec2-user/.ssh/authorized_keys"),
    )
    .unwrap();
    assert!(keys.contains("expiry-time=\""), "{keys}");

    // Isolation: no route between clusters; the host reaches no node.
    let probe = lab.exec(
        "scale/head",
        &format!("timeout 2 bash -c '</dev/tcp/10.77.{b}.2/6817' && echo OPEN || echo CLOSED"),
    );
    assert!(probe.contains("CLOSED"), "{probe}");
    let probe = lab.exec(
        "scale/head",
        &format!("timeout 2 bash -c '</dev/tcp/10.77.{a}.3/6818' && echo OPEN || echo CLOSED"),
    );
    assert!(probe.contains("OPEN"), "same cluster: {probe}");
    // Cross-cluster: scale's head role may not launch other's nodes.
    let cross = lab.exec("scale/head", "sed 's/^ClusterName=.*/ClusterName=other/' /etc/slurm/slurm.conf > /tmp/other.conf; sudo SLURM_CONF=/tmp/other.conf airlock slurm resume q-dy-c5large-4 2>&1; echo rc=$?");
    assert!(
        cross.contains("not authorized to perform: ec2:RunInstances") && cross.contains("rc=1"),
        "{cross}"
    );

    // The network between the head node's agent and the server drops for
    // 20 s (its veth down): the session carries on and loses nothing.
    let mut cmd = env.cmd();
    cmd.args([
        "exec",
        "scale/head",
        "--",
        "bash",
        "-c",
        "for i in $(seq 1 30); do echo line$i; sleep 1; done",
    ]);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("exec");
    // The network goes down once the stream carries its first line.
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).expect("read the first line");
    assert_eq!(first, "line1\n", "the exec's first line");
    let streaming = std::thread::spawn(move || {
        let reader = std::thread::spawn(move || {
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut out, &mut rest).map(|_| rest)
        });
        // Reads stderr meanwhile; stdout is the reader's.
        let o = child.wait_with_output().expect("exec");
        let rest = reader.join().expect("reader").expect("read the stream");
        std::process::Output {
            stdout: format!("{first}{rest}").into_bytes(),
            ..o
        }
    });
    let veth = format!("alk{a}-2");
    let link = |state: &str| {
        std::process::Command::new("ip")
            .args(["link", "set", &veth, state])
            .status()
            .expect("ip")
    };
    assert!(link("down").success());
    std::thread::sleep(std::time::Duration::from_secs(20));
    assert!(link("up").success());
    let o = streaming.join().expect("exec thread");
    let lines = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{lines}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lines.lines().count(), 30, "{lines}");
    assert!(lines.ends_with("line30\n"), "{lines}");

    // A node killed mid-job: Slurm requeues the job, the fleet manager cleans up.
    lab.exec(
        "scale/head",
        "cd ~ec2-user && sudo -u ec2-user sbatch -N1 --wrap 'sleep 300'",
    );
    let victim = wait_for(60, "the long job to run", || {
        let o = lab.exec("scale/head", "squeue -h -t R -o '%N' -n wrap");
        let n = o.trim().to_owned();
        (!n.is_empty()).then_some(n)
    });
    let rec = running(&lab, "scale")
        .into_iter()
        .find(|r| r.name == victim)
        .expect("the victim node");
    airlock_cluster::local::node::kill(&rec);
    wait_for(30, "the job to be requeued", || {
        lab.exec("scale/head", "scontrol show job 2")
            .contains("Restarts=1")
            .then_some(())
    });
    wait_for(30, "the dead node to be cleaned up", || {
        (!running(&lab, "scale")
            .iter()
            .any(|r| r.instance_id == rec.instance_id))
        .then_some(())
    });
    let status = env.ok(&["status", "scale", "--json"]);
    assert!(status.contains("CREATE_COMPLETE"));
    lab.exec("scale/head", "scancel 2");

    // After SuspendTime (60 s) the idle nodes are powered down and gone.
    wait_for(150, "the nodes to power down", || {
        let s = lab.exec("scale/head", "sinfo -h -N -o '%N %t'");
        (running(&lab, "scale").is_empty()
            && s.lines().count() == 4
            && s.lines().all(|l| l.ends_with("idle~")))
        .then_some(())
    });

    for (name, idx) in [("scale", a), ("other", b)] {
        env.ok(&["delete", name]);
        assert_gone(&lab, name, &idx);
    }
}
