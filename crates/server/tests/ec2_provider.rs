//! The server on the EC2 provider (feature `ec2`), against moto's EC2 API
//! on loopback: the real `airlock-server --provider ec2`, driven by the
//! real `airlock` CLI, with moto reached through `AWS_ENDPOINT_URL` and
//! the standard credential chain. The test's own view of EC2 is boto3's
//! (the python beside moto's server), independent of the server's SDK.
//!
//! moto boots nothing, so no head node ever configures itself: the
//! server's `AIRLOCK_NODE_CONFIG_TIMEOUT_SECS` makes that failure quick,
//! and the test checks what EC2 held while the stack was up, the failure's
//! reason, and that the rollback (or delete) leaves nothing behind.
//!
//! Needs moto's server (`MOTO_SERVER`, default `/opt/moto-venv/bin/moto_server`,
//! which scripts/install-deps.sh makes); it fails, never skips, without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What the cluster user's key is in both airlock and EC2.
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZtJ3u2kG0XlBWDughWYdr0wOhSjq58oEXXQeutlkGa lab";

/// Seconds the head node is given to configure itself (it never does).
const NODE_CONFIG_TIMEOUT: &str = "5";

/// A child process killed when dropped (a failed test included).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[path = "../../cluster/tests/support/moto.rs"]
mod moto;
use moto::{Moto, boto};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto on loopback, and its endpoint URL.
fn start_moto() -> (Moto, String) {
    let m = moto::start();
    let endpoint = m.endpoint.clone();
    (m, endpoint)
}

/// The `airlock` CLI beside the server binary under test, built (a no-op
/// when fresh) once per test process: cargo builds only this package's
/// binaries for its tests. Both binaries, with the Makefile's test features
/// (`AIRLOCK_TEST_FEATURES`) or else the EC2 provider's, so that this build
/// resolves features as the test run did and the server keeps `ec2`.
fn airlock_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let features = std::env::var("AIRLOCK_TEST_FEATURES")
            .ok()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "airlock-server/ec2,airlock-cluster/ec2,airlock-cli/ec2".into());
        let mut cargo = Command::new(env!("CARGO"));
        // Not cargo's variables for a running test: ring's build script
        // tracks CARGO_MANIFEST_DIR and CARGO_PKG_*, and a change rebuilds
        // ring, rustls and both binaries.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_MANIFEST_")
                || k == "CARGO_CRATE_NAME"
            {
                cargo.env_remove(k);
            }
        }
        let status = cargo
            .args([
                "build",
                "--quiet",
                "--bin",
                "airlock",
                "--bin",
                "airlock-server",
            ])
            .args(["--features", &features, "--manifest-path"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .args((!cfg!(debug_assertions)).then_some("--release"))
            .status()
            .expect("run cargo build --bin airlock");
        assert!(status.success(), "cargo build --bin airlock failed");
    });
    Path::new(env!("CARGO_BIN_EXE_airlock-server")).with_file_name("airlock")
}

/// A server on the EC2 provider in a temporary state directory, and the
/// CLI's admin profile it wrote.
struct Lab {
    tmp: tempfile::TempDir,
    moto: String,
    /// Where the server listens, which is also its `--node-endpoint`.
    port: u16,
    _server: Killed,
    _moto: Moto,
}

/// The environment that points the AWS SDK at moto through the standard
/// chain, and nothing of the host's AWS configuration.
fn aws_env(cmd: &mut Command, moto: &str) {
    cmd.env("AWS_ENDPOINT_URL", moto)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

/// `airlock-server` with this test's state directory and `args`.
fn server_cmd(tmp: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock-server"));
    c.arg("--state-dir")
        .arg(tmp.join("state"))
        .args(args)
        .env("AIRLOCK_CONFIG_DIR", tmp.join("dot-airlock"))
        .env_remove("AIRLOCK_PROVIDER")
        .env_remove("AIRLOCK_PROVIDER_SOCKET")
        .env_remove("AIRLOCK_NODE_ENDPOINT")
        .env_remove("AIRLOCK_EC2_IMAGE_ID");
    c
}

impl Lab {
    fn start() -> Self {
        let (moto_child, moto) = start_moto();
        let image = boto(
            &moto,
            "print(ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId'])",
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = server_cmd(
            tmp.path(),
            &[
                "--listen",
                &addr,
                "--provider",
                "ec2",
                "--node-endpoint",
                &addr,
                "--ec2-image-id",
                &image,
                "--ping-interval",
                "1",
            ],
        );
        aws_env(&mut cmd, &moto);
        cmd.arg("--node-binary")
            .arg(airlock_bin())
            .env("AIRLOCK_NODE_CONFIG_TIMEOUT_SECS", NODE_CONFIG_TIMEOUT)
            .env("AIRLOCK_FLEET_INTERVAL_MS", "1000")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(tmp.path().join("server.log"))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            );
        let mut server = Killed(cmd.spawn().expect("spawn airlock-server"));
        // The admin's CA is written last: the profile is complete then.
        let ca = tmp.path().join("dot-airlock").join("ca.pem");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(ca.exists() && std::net::TcpStream::connect(&addr).is_ok()) {
            if let Ok(Some(st)) = server.0.try_wait() {
                panic!(
                    "the server exited ({st}) before it was ready:\n{}",
                    std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Lab {
            tmp,
            moto,
            port,
            _server: server,
            _moto: moto_child,
        }
    }

    fn airlock(&self, args: &[&str]) -> Output {
        Command::new(airlock_bin())
            .args(args)
            .env("AIRLOCK_CONFIG_DIR", self.tmp.path().join("dot-airlock"))
            .env("AIRLOCK_STATE_DIR", self.tmp.path().join("state"))
            .env_remove("AIRLOCK_PROFILE")
            .env_remove("AIRLOCK_ENDPOINT")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .output()
            .expect("run airlock")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.airlock(args);
        let (out, err) = text(&o);
        assert!(
            o.status.success(),
            "airlock {args:?} failed: {out}\n{err}\n{}",
            self.log()
        );
        out
    }

    fn write(&self, name: &str, content: &str) -> String {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, content).expect("write a file");
        p.to_str().expect("a UTF-8 path").to_owned()
    }

    /// `airlock create NAME` of `config` fails and rolls back, leaving EC2
    /// nothing of the cluster; the failed resources' lines (stderr).
    fn create_rolls_back(&self, name: &str, config: &str) -> String {
        let file = self.write(&format!("{name}.ini"), config);
        let o = self.airlock(&["create", name, "-c", &file]);
        let (out, err) = text(&o);
        let log = self.log();
        assert_eq!(o.status.code(), Some(1), "{out}\n{err}\n{log}");
        assert!(
            out.contains("Status: ROLLBACK_COMPLETE"),
            "{out}\n{err}\n{log}"
        );
        assert_eq!(self.leftovers(name), NOTHING_LEFT, "{name}: {log}");
        err
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }

    /// What EC2 still holds of `cluster`: live instances, its security
    /// group and its launch templates.
    fn leftovers(&self, cluster: &str) -> String {
        boto(
            &self.moto,
            &format!(
                "f = [{{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['{cluster}']}}]\n\
                 live = [i['InstanceId'] for r in ec2.describe_instances(Filters=f)['Reservations'] \
                 for i in r['Instances'] if i['State']['Name'] != 'terminated']\n\
                 sgs = [g['GroupId'] for g in ec2.describe_security_groups(Filters=[{{'Name': 'group-name', \
                 'Values': ['{cluster}-airlock-nodes']}}])['SecurityGroups']]\n\
                 lts = [t['LaunchTemplateName'] for t in ec2.describe_launch_templates()['LaunchTemplates'] \
                 if t['LaunchTemplateName'].startswith('{cluster}-')]\n\
                 print(json.dumps({{'instances': live, 'security_groups': sgs, 'launch_templates': lts}}))"
            ),
        )
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const NOTHING_LEFT: &str = r#"{"instances": [], "security_groups": [], "launch_templates": []}"#;

/// A v2 configuration: two queues, three compute resources.
fn config(region: &str, key: &str, vpc: &str, subnet: &str) -> String {
    format!(
        "[aws]\naws_region_name = {region}\n\n\
         [global]\ncluster_template = default\n\n\
         [cluster default]\nscheduler = slurm\nbase_os = alinux2\nkey_name = {key}\n\
         vpc_settings = v\nqueue_settings = q1,q2\nmaster_instance_type = t3.micro\n\
         additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
         [vpc v]\nvpc_id = {vpc}\nmaster_subnet_id = {subnet}\n\n\
         [queue q1]\ncompute_resource_settings = cr1,cr2\n\n\
         [queue q2]\ncompute_resource_settings = cr3\ndisable_hyperthreading = true\n\n\
         [compute_resource cr1]\ninstance_type = c5.large\nmax_count = 4\n\n\
         [compute_resource cr2]\ninstance_type = t3.micro\nmax_count = 2\n\n\
         [compute_resource cr3]\ninstance_type = c5.xlarge\nmax_count = 2\n"
    )
}

#[test]
fn a_cluster_on_ec2_launches_its_head_node_and_a_failed_create_leaves_nothing() {
    let lab = Lab::start();
    let ids = boto(
        &lab.moto,
        &format!(
            "v = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
             s = ec2.create_subnet(VpcId=v, CidrBlock='10.0.1.0/24')['Subnet']['SubnetId']\n\
             ec2.import_key_pair(KeyName='lab', PublicKeyMaterial='{PUBLIC_KEY}'.encode())\n\
             print(v, s)"
        ),
    );
    let (vpc, subnet) = ids.split_once(' ').expect("two ids");
    // The key pair, in airlock too: its public key is the cluster user's.
    let key = lab.write("lab.pub", PUBLIC_KEY);
    for name in ["lab", "airlock-only"] {
        lab.ok(&[
            "ec2",
            "import-key-pair",
            "--key-name",
            name,
            "--public-key-material",
            &format!("file://{key}"),
        ]);
    }

    // --norollback: the stack fails at the head node (moto boots nothing)
    // and keeps what it made, to be looked at.
    let file = lab.write("c1.ini", &config("us-east-1", "lab", vpc, subnet));
    let o = lab.airlock(&["create", "c1", "-c", &file, "--norollback"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}\n{}", lab.log());
    assert!(
        out.contains("Status: CREATE_FAILED"),
        "{out}\n{err}\n{}",
        lab.log()
    );
    assert!(
        err.contains("HeadNode: head node: i-")
            && err.contains(&format!(
                "did not configure itself within {NODE_CONFIG_TIMEOUT}s"
            )),
        "{err}"
    );
    let endpoint = format!("https://127.0.0.1:{}", lab.port);
    let seen = boto(
        &lab.moto,
        "f = [{'Name': 'tag:parallelcluster:cluster-name', 'Values': ['c1']}]\n\
         [i] = [i for r in ec2.describe_instances(Filters=f)['Reservations'] for i in r['Instances']]\n\
         ud = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')\n\
         [g] = ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': ['c1-airlock-nodes']}])['SecurityGroups']\n\
         lts = sorted(t['LaunchTemplateName'] for t in ec2.describe_launch_templates()['LaunchTemplates'])\n\
         print(json.dumps({'state': i['State']['Name'], 'type': i['InstanceType'], 'key': i.get('KeyName'),\n\
           'subnet': i['SubnetId'], 'groups': [x['GroupId'] for x in i['SecurityGroups']],\n\
           'tags': {t['Key']: t['Value'] for t in i['Tags']},\n\
           'user_data': base64.b64decode(ud['UserData']['Value']).decode(),\n\
           'group': g['GroupId'], 'ingress': g['IpPermissions'], 'egress': g['IpPermissionsEgress'],\n\
           'templates': lts}))",
    );
    let seen: serde_json::Value = serde_json::from_str(&seen).expect("boto3's JSON");
    assert_eq!(seen["state"], "running", "{seen:#}");
    assert_eq!(seen["type"], "t3.micro", "{seen:#}");
    assert_eq!(seen["key"], "lab", "{seen:#}");
    assert_eq!(seen["subnet"], subnet, "{seen:#}");
    assert_eq!(
        seen["groups"],
        serde_json::json!([seen["group"]]),
        "{seen:#}"
    );
    let tags = &seen["tags"];
    for (k, v) in [
        ("Name", "HeadNode"),
        ("parallelcluster:cluster-name", "c1"),
        ("parallelcluster:node-type", "HeadNode"),
        ("airlock:node-name", "head"),
    ] {
        assert_eq!(tags[k], v, "tag {k}: {seen:#}");
    }
    let airlock_id = tags["airlock:instance-id"].as_str().unwrap_or_default();
    assert!(
        airlock_id.starts_with("i-") && err.contains(airlock_id),
        "{seen:#}\n{err}"
    );
    // The user data dials the node endpoint and joins with a token.
    let user_data = seen["user_data"].as_str().unwrap_or_default();
    assert!(
        user_data.starts_with("#!") && user_data.contains(&endpoint),
        "{user_data}"
    );
    // Nothing is open to the world, in or out; out: the cluster and the
    // server's node endpoint only.
    let rules = format!("{}{}", seen["ingress"], seen["egress"]);
    assert!(!rules.contains("0.0.0.0/0"), "{seen:#}");
    assert!(
        seen["egress"].as_array().is_some_and(|e| e.iter().any(|r| {
            r["FromPort"] == lab.port && r["IpRanges"][0]["CidrIp"] == "127.0.0.1/32"
        })),
        "{seen:#}"
    );
    assert_eq!(
        seen["templates"],
        serde_json::json!([
            "c1-HeadNode",
            "c1-q1-c5large",
            "c1-q1-t3micro",
            "c1-q2-c5xlarge"
        ]),
        "one launch template per compute resource, and the head's: {seen:#}"
    );
    lab.ok(&["delete", "c1"]);
    assert_eq!(lab.leftovers("c1"), NOTHING_LEFT, "{}", lab.log());

    // With rollback: ROLLBACK_COMPLETE, and EC2 holds nothing of it.
    let err = lab.create_rolls_back("c2", &config("us-east-1", "lab", vpc, subnet));
    assert!(err.contains("HeadNode: head node: i-"), "{err}");

    // A configuration for another region: refused before anything is
    // made, the fix in the reason.
    let err = lab.create_rolls_back("c3", &config("eu-west-1", "lab", vpc, subnet));
    assert!(
        err.contains("Network: the configuration's region is eu-west-1, but the EC2 provider works in us-east-1")
            && err.contains("hint: set aws_region_name"),
        "{err}"
    );

    // A key pair airlock has and EC2 does not: EC2's refusal, with the fix.
    let err = lab.create_rolls_back("c4", &config("us-east-1", "airlock-only", vpc, subnet));
    assert!(
        err.contains("EC2 DescribeKeyPairs failed: InvalidKeyPair.NotFound")
            && err.contains("hint: create or import the key pair"),
        "{err}"
    );
}

#[test]
fn ec2_without_a_node_endpoint_stops_the_server_at_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = server_cmd(
        tmp.path(),
        &["--listen", "127.0.0.1:0", "--provider", "ec2"],
    )
    .arg("--node-binary")
    .arg(env!("CARGO_BIN_EXE_airlock-server"))
    .output()
    .expect("run airlock-server");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.starts_with("error: cannot start the server: --provider ec2 needs --node-endpoint")
            && err.contains("hint: "),
        "{err}"
    );
    assert!(!tmp.path().join("state").join("server.listen").exists());
}

/// `airlock server start` passes the provider settings to the server it
/// starts, which connects to EC2 (moto) before it serves, and remembers
/// them: a later start with no options is on EC2 again.
#[test]
fn airlock_server_start_runs_the_server_on_ec2_and_remembers_the_provider() {
    let (_moto, moto) = start_moto();
    let image = boto(
        &moto,
        "print(ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId'])",
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let addr = format!("127.0.0.1:{}", free_port());
    let airlock = |args: &[&str]| {
        let mut c = Command::new(airlock_bin());
        c.args(args)
            .arg("--state-dir")
            .arg(&state)
            .env("AIRLOCK_CONFIG_DIR", tmp.path().join("dot-airlock"))
            .env_remove("AIRLOCK_PROVIDER")
            .env_remove("AIRLOCK_NODE_ENDPOINT")
            .env_remove("AIRLOCK_EC2_IMAGE_ID");
        aws_env(&mut c, &moto);
        c.output().expect("run airlock")
    };
    let start = [
        "server",
        "start",
        "--listen",
        &addr,
        "--provider",
        "ec2",
        "--node-endpoint",
        &addr,
        "--ec2-image-id",
        &image,
    ];
    let o = airlock(&start);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let log = || std::fs::read_to_string(state.join("server.log")).unwrap_or_default();
    assert!(log().contains("the EC2 provider answers"), "{}", log());
    let settings = std::fs::read_to_string(state.join("server.settings")).expect("settings");
    for want in [
        "\"Provider\": \"ec2\"",
        &format!("\"NodeEndpoint\": \"{addr}\""),
        &image,
    ] {
        assert!(settings.contains(want), "{want} not in {settings}");
    }
    assert!(airlock(&["server", "stop"]).status.success());
    let o = airlock(&["server", "start"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        log().matches("the EC2 provider answers").count(),
        2,
        "{}",
        log()
    );
    assert!(airlock(&["server", "stop"]).status.success());
}
