//! The seed's walkthrough through the EC2 provider: the real server with
//! `--provider ec2` against moto's EC2 API, and `airlock debug
//! ec2-boot-rig` booting moto's instances (moto boots nothing) as machines
//! that run their user data. `airlock create` launches the head node with
//! RunInstances, `sbatch` powers up a compute node through Slurm's resume
//! (RunInstances again), a session, ssh and scp reach the nodes through
//! the tunnel, a launch EC2 refuses for capacity (a proxy in front of moto
//! answers RunInstances with `InsufficientInstanceCapacity`) sets the node
//! down with EC2's reason and requeues the job, which runs once capacity
//! is back, `delete` leaves no instance, security group or launch
//! template in moto and no machine on the host, and a cluster on an AMI
//! without Slurm fails its head node's configuration with the reason and
//! rolls back. Needs root and moto.
//!
//! The seed's `placement_group = DYNAMIC` is left out: moto answers
//! CreatePlacementGroup with HTTP 500 (docs/EC2.md).

mod clusters;
#[path = "../../cluster/tests/support/moto.rs"]
mod moto;
mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clusters::{Lab, text};
use support::{Env, Server, wait_for};

const SEED: &str = include_str!("../../../examples/ssm.ini");

/// The environment that points the AWS SDK at moto, and nothing of the
/// host's AWS configuration.
fn aws_env(moto: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_ENDPOINT_URL", moto),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// A 10.77.N.0/24 no address on this host is in.
fn free_rig_index() -> u8 {
    let o = Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .expect("ip addr");
    let addrs = String::from_utf8_lossy(&o.stdout).into_owned();
    (200..=250u8)
        .rev()
        .find(|i| !addrs.contains(&format!(" 10.77.{i}.")))
        .expect("a free 10.77.N.0/24")
}

/// The boot rig; on drop it is asked to stop (SIGTERM), which stops its
/// machines and removes its network, and is cleaned up after if it did not.
struct Rig {
    child: Child,
    root: PathBuf,
    log: PathBuf,
}

impl Rig {
    fn start(env: &Env, moto: &str, node_endpoint: &str) -> Self {
        let root = env.tmp.path().join("rig");
        let log = env.tmp.path().join("rig.log");
        let file = std::fs::File::create(&log).expect("rig.log");
        let child = Command::new(support::airlock_bin())
            .args(["debug", "ec2-boot-rig", "--node-endpoint", node_endpoint])
            .args(["--endpoint-url", moto, "--state-dir"])
            .arg(&root)
            .envs(aws_env(moto))
            .stdout(file.try_clone().expect("rig.log"))
            .stderr(file)
            .spawn()
            .expect("airlock debug ec2-boot-rig");
        let mut rig = Rig { child, root, log };
        wait_for(60, "the boot rig to be ready", || {
            if let Ok(Some(st)) = rig.child.try_wait() {
                panic!("the boot rig exited ({st}):\n{}", rig.output());
            }
            rig.output().contains("ec2-boot-rig: ready").then_some(())
        });
        rig
    }
    fn output(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.log).map(|mut f| f.read_to_string(&mut s));
        s
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        clusters::force_cleanup(&self.root);
    }
}

/// `support/ec2_capacity_proxy.py` in front of moto: while `fault` names a
/// launch template, RunInstances of it gets EC2's capacity error.
struct CapacityProxy {
    child: Child,
    endpoint: String,
    fault: PathBuf,
}

impl CapacityProxy {
    fn start(env: &Env, moto: &str) -> Self {
        let port = free_port();
        let fault = env.tmp.path().join("capacity-fault");
        let child = Command::new(moto::server().with_file_name("python"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/ec2_capacity_proxy.py"
            ))
            .args([&port.to_string(), moto])
            .arg(&fault)
            .spawn()
            .expect("the capacity proxy");
        wait_for(30, "the capacity proxy to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(drop)
        });
        CapacityProxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            fault,
        }
    }
    fn refuse(&self, template: Option<&str>) {
        match template {
            Some(t) => std::fs::write(&self.fault, format!("{t}\n")).expect("fault file"),
            None => std::fs::remove_file(&self.fault).expect("fault file"),
        }
    }
    fn refusals(&self) -> usize {
        std::fs::read_to_string(self.fault.with_extension("hits"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for CapacityProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
#[ignore = "needs root"]
fn the_seed_walkthrough_runs_through_the_ec2_provider_on_moto() {
    clusters::require();
    let _root = support::root_lock();
    let moto = moto::start();
    let n = free_rig_index();
    let image = moto::boto(
        &moto.endpoint,
        &format!(
            "v = ec2.create_vpc(CidrBlock='10.77.0.0/16')['Vpc']['VpcId']\n\
             s = ec2.create_subnet(VpcId=v, CidrBlock='10.77.{n}.0/24')['Subnet']['SubnetId']\n\
             img = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']\n\
             print(v, s, img)"
        ),
    );
    let [vpc, subnet, image]: [&str; 3] = image
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .expect("three ids");
    let port = free_port();
    let gateway = format!("10.77.{n}.1");
    let endpoint = format!("{gateway}:{port}");

    let env = Env::at(&gateway);
    let rig = Rig::start(&env, &moto.endpoint, &endpoint);
    // The server reaches moto through the proxy that can refuse capacity.
    let ec2_proxy = CapacityProxy::start(&env, &moto.endpoint);
    let mut vars: Vec<(&str, String)> = aws_env(&ec2_proxy.endpoint);
    vars.extend([
        ("AIRLOCK_LISTEN", endpoint.clone()),
        ("AIRLOCK_PROVIDER", "ec2".into()),
        ("AIRLOCK_NODE_ENDPOINT", endpoint.clone()),
        ("AIRLOCK_EC2_IMAGE_ID", image.into()),
        (
            "AIRLOCK_EC2_SHARED_VOLUME",
            airlock_cluster::local::layout::node_paths::VOLUME.into(),
        ),
    ]);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(&env, &vars);
    let lab = Lab::adopt(env, server);
    let env = &lab.env;

    // The seed's key pair, in airlock (the cluster user's key) and in EC2.
    lab.import_key("sandbox-key-useast1");
    let public = std::fs::read_to_string(format!("{}.pub", lab.key.display())).expect("key");
    moto::boto(
        &moto.endpoint,
        &format!(
            "ec2.import_key_pair(KeyName='sandbox-key-useast1', PublicKeyMaterial='{}'.encode())",
            public.trim()
        ),
    );
    let seed = SEED
        .replace("vpc-07edfc27679c9ca80", vpc)
        .replace("subnet-0ab2754446b2f87a4", subnet)
        .replace("placement_group = DYNAMIC\n", "");
    let config = lab.write("ssm.ini", &seed);

    // 1. create: the head node is an EC2 instance the rig boots.
    let mut stage = Instant::now();
    let mut took = |what: &str| {
        eprintln!(
            "ec2 walkthrough: {what} in {:.1} s",
            stage.elapsed().as_secs_f64()
        );
        stage = Instant::now();
    };
    let o = env.run(&["create", "ssm", "-c", config.to_str().expect("path")]);
    let (out, err) = text(&o);
    let diag = || format!("{out}\n{err}\nrig:\n{}", rig.output());
    assert!(o.status.success(), "{}", diag());
    for line in [
        "Status: HeadNode - CREATE_COMPLETE",
        "Status: CREATE_COMPLETE",
        &format!("MasterPrivateIP: 10.77.{n}."),
    ] {
        assert!(out.contains(line), "missing {line:?}: {}", diag());
    }
    let seen = moto::boto(
        &moto.endpoint,
        "f = [{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['ssm']}]\n\
         print(json.dumps([[i['InstanceId'], i['State']['Name'], i['PrivateIpAddress']] \
         for r in ec2.describe_instances(Filters=f)['Reservations'] for i in r['Instances']]))",
    );
    let head: serde_json::Value = serde_json::from_str(&seen).expect("boto3's JSON");
    let head_ec2 = head[0][0].as_str().unwrap_or_default().to_owned();
    let head_ip = head[0][2].as_str().unwrap_or_default().to_owned();
    assert!(
        rig.output()
            .contains(&format!("booted {head_ec2} (head) at {head_ip}")),
        "{seen}\n{}",
        rig.output()
    );
    took("create to CREATE_COMPLETE");
    lab.wait_online("ssm/head");
    assert_eq!(lab.exec("ssm/head", "hostname").trim(), "head");

    // 2. sbatch: Slurm's resume launches a compute node through EC2.
    let job = lab.exec(
        "ssm/head",
        "sudo -iu ubuntu sbatch --parsable --wrap 'hostname; df -P /home | tail -1'",
    );
    let job = job.trim().to_owned();
    assert!(job.parse::<u32>().is_ok(), "sbatch said {job:?}");
    let output = wait_for(180, "the job to finish on a compute node", || {
        let o = lab.exec(
            "ssm/head",
            &format!("cat /home/ubuntu/slurm-{job}.out 2>/dev/null"),
        );
        o.lines().count().ge(&2).then_some(o)
    });
    assert!(output.starts_with("spot1-dy-c5large-1"), "{output}");
    took("sbatch to the job's output, through a resume on EC2");
    let rig_out = rig.output();
    assert!(
        rig_out.contains("(spot1-dy-c5large-1) at 10.77."),
        "{rig_out}"
    );
    let compute = moto::boto(
        &moto.endpoint,
        "f = [{'Name': 'tag:airlock:node-name', 'Values': ['spot1-dy-c5large-1']}]\n\
         [i] = [i for r in ec2.describe_instances(Filters=f)['Reservations'] for i in r['Instances']]\n\
         print(i['InstanceType'], i['State']['Name'], {t['Key']: t['Value'] for t in i['Tags']}['parallelcluster:queue-name'])",
    );
    assert_eq!(compute, "c5.large running spot1");

    // 3. a session on the compute node; ssh and scp through the tunnel.
    assert_eq!(
        lab.exec("ssm/spot1-dy-c5large-1", "hostname").trim(),
        "spot1-dy-c5large-1"
    );
    let ssh = env
        .cmd()
        .args(["ssh", "ssm", "-i"])
        .arg(&lab.key)
        .args(["--", "hostname", ";", "id", "-un"])
        .output()
        .expect("airlock ssh");
    let (so, se) = text(&ssh);
    assert!(
        ssh.status.success() && so.contains("head") && so.contains("ubuntu"),
        "{so}{se}"
    );
    let local = lab.write("payload.txt", "through the airlock, on EC2\n");
    let proxy = format!("ProxyCommand={} proxy %h %p", support::airlock_bin());
    let scp = Command::new("scp")
        .env("AIRLOCK_CONFIG_DIR", env.config_dir())
        .args(["-q", "-o", &proxy, "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-i"])
        .arg(&lab.key)
        .arg(&local)
        .arg(format!("ubuntu@{head_ip}:payload.txt"))
        .stdin(Stdio::null())
        .output()
        .expect("scp");
    assert!(scp.status.success(), "{:?}", text(&scp));
    assert_eq!(
        lab.exec("ssm/spot1-dy-c5large-1", "cat /home/ubuntu/payload.txt"),
        "through the airlock, on EC2\n",
        "the shared home, from the compute node"
    );

    // 4. EC2 has no c5.large capacity: the resume fails with EC2's code at
    //    once (no retry), the node goes down with it, Slurm requeues the
    //    job, and the job runs on another node once there is capacity.
    ec2_proxy.refuse(Some("ssm-spot1-c5large"));
    let job = lab.exec(
        "ssm/head",
        "sudo -iu ubuntu sbatch --parsable -N1 -x spot1-dy-c5large-1 --wrap hostname",
    );
    let job = job.trim().to_owned();
    wait_for(
        120,
        "the job to be requeued after the refused launch",
        || {
            let s = lab.exec("ssm/head", &format!("scontrol show job {job}"));
            (s.contains("Restarts=") && !s.contains("Restarts=0")).then_some(())
        },
    );
    took("sbatch to the job requeued after the capacity refusal");
    let held = lab.exec(
        "ssm/head",
        &format!("scontrol show job {job} | grep -E 'Reason|EligibleTime'"),
    );
    eprintln!(
        "ec2 walkthrough: the requeued job: {}",
        held.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    ec2_proxy.refuse(None);
    let output = wait_for(
        240,
        "the requeued job to run once there is capacity",
        || {
            let o = lab.exec(
                "ssm/head",
                &format!("cat /home/ubuntu/slurm-{job}.out 2>/dev/null"),
            );
            (!o.trim().is_empty()).then_some(o)
        },
    );
    assert!(
        output.starts_with("spot1-dy-c5large-") && output.trim() != "spot1-dy-c5large-1",
        "{output}"
    );
    took("capacity back to the requeued job's output");
    // Each refused resume asked EC2 once: what the resume log reports is
    // what the endpoint refused.
    let resume_log = lab.exec("ssm/head", "cat /var/log/slurm/slurm_resume.log");
    let reported = resume_log
        .lines()
        .filter(|l| l.contains(": failed: EC2 RunInstances failed: InsufficientInstanceCapacity"))
        .count();
    assert!(reported >= 1, "{resume_log}");
    assert_eq!(ec2_proxy.refusals(), reported, "{resume_log}");
    let ctld = lab.exec("ssm/head", "sudo cat /var/log/slurm/slurmctld.log");
    assert!(
        ctld.contains(
            "airlock: launch failed: EC2 RunInstances failed: InsufficientInstanceCapacity"
        ),
        "the node's reason, as slurmctld set it: {ctld}"
    );

    // 5. delete: nothing left in EC2, no machine left on the host.
    let out = env.ok(&["delete", "ssm"]);
    assert!(out.contains("Cluster deleted successfully."), "{out}");
    took("delete");
    let left = moto::boto(
        &moto.endpoint,
        "f = [{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['ssm']}]\n\
         live = [i['InstanceId'] for r in ec2.describe_instances(Filters=f)['Reservations'] \
         for i in r['Instances'] if i['State']['Name'] != 'terminated']\n\
         sgs = [g['GroupName'] for g in ec2.describe_security_groups()['SecurityGroups'] \
         if g['GroupName'].startswith('ssm-')]\n\
         lts = [t['LaunchTemplateName'] for t in ec2.describe_launch_templates()['LaunchTemplates']]\n\
         print(json.dumps([live, sgs, lts]))",
    );
    assert_eq!(left, "[[], [], []]");

    // 6. An AMI without Slurm (the rig masks Slurm's daemons on machines
    //    from an image it is told lacks them): the head node's
    //    configuration fails at starting slurmctld, saying why, and the
    //    stack rolls back, leaving nothing in EC2.
    let bare = moto::boto(
        &moto.endpoint,
        &format!(
            "img = ec2.register_image(Name='debian-without-slurm', RootDeviceName='/dev/xvda')['ImageId']\n\
             ec2.create_tags(Resources=[img], Tags=[{{'Key': '{}', 'Value': '{}'}}])\n\
             print(img)",
            airlock_cluster::ec2::boot_rig::IMAGE_TAG,
            airlock_cluster::ec2::boot_rig::WITHOUT_SLURM
        ),
    );
    let config = lab.write(
        "bare.ini",
        &seed.replace(
            "[vpc default]",
            &format!("custom_ami = {bare}\n\n[vpc default]"),
        ),
    );
    let o = env.run(&["create", "bare", "-c", config.to_str().expect("path")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}\n{}", rig.output());
    assert!(out.contains("Status: ROLLBACK_COMPLETE"), "{out}\n{err}");
    assert!(
        err.contains("/usr/sbin/slurmctld is not an installed program on this machine: its image has no Slurm"),
        "{out}\n{err}"
    );
    let left = moto::boto(
        &moto.endpoint,
        "f = [{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['bare']}]\n\
         live = [i['InstanceId'] for r in ec2.describe_instances(Filters=f)['Reservations'] \
         for i in r['Instances'] if i['State']['Name'] != 'terminated']\n\
         lts = [t['LaunchTemplateName'] for t in ec2.describe_launch_templates()['LaunchTemplates']]\n\
         print(json.dumps([live, lts]))",
    );
    assert_eq!(left, "[[], []]");
    took("create on an AMI without Slurm to ROLLBACK_COMPLETE");
    wait_for(30, "the rig to stop every machine", || {
        let o = rig.output();
        (o.contains(&format!("stopped {head_ec2} (head)"))
            && o.matches("booted ").count() == o.matches("stopped ").count())
        .then_some(())
    });
    let nodes = rig.root.join("ssm").join("nodes");
    let left: Vec<_> = std::fs::read_dir(&nodes)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "machines left: {left:?}");
    drop(lab);
    drop(rig);
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&format!("airlock{n}:")),
        "the rig's bridge is left"
    );
}
