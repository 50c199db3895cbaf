//! The local provider's isolation, attacked as users would (needs root):
//! a non-root cluster user's file in `/dev/shm` stays in its node (not on
//! the host, not in another node of its cluster, not in another cluster),
//! and root in a node is not root on the host (its uid map, a kernel
//! tunable it cannot write, the host uid of the files it makes).

mod clusters;
mod support;

use std::os::unix::fs::MetadataExt;

use clusters::{Lab, assert_gone, index_of};

/// A head node and one static compute node, as ec2-user.
const CONFIG: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nqueue_settings = q\n\
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[queue q]\ncompute_resource_settings = cr\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmin_count = MIN\nmax_count = 1\n";

const STATIC_NODE: &str = "q-st-c5large-1";

fn create(lab: &Lab, name: &str, static_nodes: u32) -> String {
    let cfg = lab.write(
        &format!("{name}.ini"),
        &CONFIG.replace("MIN", &static_nodes.to_string()),
    );
    let out = lab
        .env
        .ok(&["create", name, "-c", cfg.to_str().expect("utf8 path")]);
    assert!(out.contains("CREATE_COMPLETE"), "{out}");
    lab.wait_online(&format!("{name}/head"));
    index_of(lab, name)
}

/// Whether `path` exists on the node, as the node's root sees it.
fn seen_on(lab: &Lab, target: &str, path: &str) -> String {
    lab.exec(
        target,
        &format!("sudo test -e {path} && echo PRESENT || echo ABSENT"),
    )
}

#[test]
#[ignore = "needs root"]
fn a_users_dev_shm_file_stays_in_its_node() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let a = create(&lab, "isoa", 1);
    let b = create(&lab, "isob", 0);
    let compute = format!("isoa/{STATIC_NODE}");
    lab.wait_online(&compute);

    let name = format!("airlock-iso-{}", std::process::id());
    let path = format!("/dev/shm/{name}");
    let _cleanup = RemoveOnDrop(path.clone());
    // The cluster user, not root, writes it.
    let wrote = lab.exec(
        "isoa/head",
        &format!("sudo -u ec2-user sh -c 'id -u; echo secret > {path}' && echo WROTE"),
    );
    assert!(wrote.contains("1000") && wrote.contains("WROTE"), "{wrote}");
    assert!(seen_on(&lab, "isoa/head", &path).contains("PRESENT"));

    assert!(
        !std::path::Path::new(&path).exists(),
        "the node's /dev/shm file is on the host"
    );
    let other = seen_on(&lab, &compute, &path);
    assert!(
        other.contains("ABSENT"),
        "another node of the cluster: {other}"
    );
    let other = seen_on(&lab, "isob/head", &path);
    assert!(other.contains("ABSENT"), "another cluster's node: {other}");

    // PTYs still work on the private devpts: a session's terminal and sshd.
    let tty = lab.exec("isoa/head", "script -qc 'tty' /dev/null");
    assert!(tty.contains("/dev/pts/"), "{tty}");
    // No host block device is visible in the node.
    let blocks = lab.exec("isoa/head", "sudo find /dev -type b | wc -l");
    assert_eq!(blocks.trim(), "0", "block devices in the node's /dev");

    lab.env.ok(&["delete", "isoa"]);
    lab.env.ok(&["delete", "isob"]);
    assert_gone(&lab, "isoa", &a);
    assert_gone(&lab, "isob", &b);
}

#[test]
#[ignore = "needs root"]
fn root_in_a_node_is_not_root_on_the_host() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let idx = create(&lab, "isou", 0);

    // Node root's ids are a range of host ids far from the host's own.
    let map = lab.exec("isou/head", "sudo cat /proc/self/uid_map");
    let f: Vec<u64> = map
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(f.len(), 3, "one mapping line: {map}");
    let base = f[1];
    assert!(
        f[0] == 0 && base >= 65536 && f[2] == 65536,
        "node root is host uid {base}: {map}"
    );

    // It cannot write the host kernel's tunables...
    let w = lab.exec(
        "isou/head",
        "sudo sh -c 'v=$(cat /proc/sys/vm/swappiness); echo $v > /proc/sys/vm/swappiness' 2>&1 && echo WROTE || echo REFUSED",
    );
    assert!(w.contains("REFUSED"), "node root wrote /proc/sys: {w}");
    // ...nor create a file in the host's /usr, even after remounting it.
    let probe = "/usr/.airlock-isolation-probe";
    let _cleanup = RemoveOnDrop(probe.into());
    let w = lab.exec(
        "isou/head",
        &format!("sudo sh -c 'mount -o remount,bind,rw /usr; touch {probe}' 2>&1 && echo WROTE || echo REFUSED"),
    );
    assert!(
        w.contains("REFUSED"),
        "node root wrote the host's /usr: {w}"
    );
    assert!(!std::path::Path::new(probe).exists());

    // What node root makes is owned by the mapped id on the host.
    lab.exec("isou/head", "sudo touch /shared/made-by-node-root");
    let host = lab
        .clusters_root()
        .join("isou/volume/shared/made-by-node-root");
    let md = std::fs::metadata(&host).expect("the node's file in the cluster's /shared");
    assert_eq!(u64::from(md.uid()), base, "host uid of node root's file");
    assert_eq!(u64::from(md.gid()), base, "host gid of node root's file");

    lab.env.ok(&["delete", "isou"]);
    assert_gone(&lab, "isou", &idx);
}

/// Removes a host file the test may have leaked (on the old code).
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
