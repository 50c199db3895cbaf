//! `create`, `delete` and `ssh` given bad input, each with a clear error
//! and nothing created: a duplicate or invalid name, a missing config, a
//! config error (file:line), no root, an unknown cluster, a head node that
//! is down; and a cluster without the managed policy, whose nodes stay
//! unregistered. Needs root for the clusters.

mod clusters;
mod support;

use std::process::Command;

use clusters::{Lab, text};
use support::{Env, Server, wait_for};

const NO_POLICY: &str = "[aws]\naws_region_name = us-east-1\n[global]\ncluster_template = default\n\
[cluster default]\nscheduler = slurm\nbase_os = centos7\nvpc_settings = v\nqueue_settings = q\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\
[queue q]\ncompute_resource_settings = cr\n[compute_resource cr]\ninstance_type = t3.micro\nmax_count = 2\n";

/// [`NO_POLICY`] with the policy a node's agent needs to register.
fn with_policy() -> String {
    NO_POLICY.replace(
        "scheduler = slurm\n",
        "scheduler = slurm\nadditional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n",
    )
}

#[test]
#[ignore = "needs root"]
fn bad_input_is_refused_before_anything_is_created() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let env = &lab.env;
    let good = lab.write("np.ini", NO_POLICY);
    let good = good.to_str().unwrap();

    let o = env.run(&["create", "1bad", "-c", good]);
    assert!(
        !o.status.success() && text(&o).1.contains("1bad"),
        "{:?}",
        text(&o)
    );
    let o = env.run(&["create", "c1", "-c", "/nonexistent/cluster.ini"]);
    assert!(
        !o.status.success()
            && text(&o)
                .1
                .contains("cannot read the cluster configuration /nonexistent/cluster.ini"),
        "{:?}",
        text(&o)
    );
    let broken = lab.write(
        "broken.ini",
        &NO_POLICY.replace("max_count = 2", "max_count = many"),
    );
    let o = env.run(&["create", "c1", "-c", broken.to_str().unwrap()]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("broken.ini:")
            && err.contains("max_count")
            && err.contains("nothing was created"),
        "{err}"
    );
    assert!(!lab.clusters_root().join("c1").exists());
    assert!(env.ok(&["list"]).lines().all(|l| !l.contains("c1")));
    let o = env.run(&["delete", "ghost"]);
    assert!(
        !o.status.success() && text(&o).1.contains("ghost does not exist"),
        "{:?}",
        text(&o)
    );

    // Without AmazonSSMManagedInstanceCore: a warning, then the head node's
    // agent is refused, so the head cannot configure itself: HeadNode fails
    // at once, naming what is missing, and the stack rolls back.
    let o = env.run(&["create", "np", "-c", good]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("WARNING") && err.contains("AmazonSSMManagedInstanceCore"),
        "{err}"
    );
    assert!(
        out.contains("HeadNode - CREATE_FAILED") && out.contains("ROLLBACK_COMPLETE"),
        "{out}"
    );
    assert!(
        err.contains("ssm:UpdateInstanceInformation")
            && err.contains("attach arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"),
        "{err}"
    );
    env.ok(&["delete", "np"]);
    let good = lab.write("wp.ini", &with_policy());
    let good = good.to_str().unwrap();
    env.ok(&["create", "np", "-c", good]);
    let o = env.run(&["create", "np", "-c", good]);
    assert!(
        !o.status.success() && text(&o).1.contains("already exists"),
        "{:?}",
        text(&o)
    );

    // ssh to a cluster whose head node is down.
    let layout = airlock_cluster::local::ClusterLayout::new(&lab.clusters_root(), "np");
    for n in airlock_cluster::local::node::list(&layout) {
        airlock_cluster::local::node::kill(&n);
    }
    let o = wait_for(30, "ssh to refuse", || {
        let o = env.run(&["ssh", "np", "true"]);
        (!o.status.success()).then_some(o)
    });
    assert!(
        text(&o).1.contains("head node of cluster np"),
        "{:?}",
        text(&o)
    );
    env.ok(&["delete", "np"]);
}

#[test]
#[ignore = "needs root"]
fn create_without_root_says_so() {
    clusters::require();
    let _root = support::root_lock();
    // A server running as nobody cannot use the local provider.
    let env = Env::new();
    for d in [env.state_dir(), env.config_dir()] {
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(env.tmp.path(), Some(65534), Some(65534)).unwrap();
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            support::airlock_bin(),
            "server",
            "run",
        ])
        .env("AIRLOCK_STATE_DIR", env.state_dir())
        .env("AIRLOCK_CONFIG_DIR", env.config_dir())
        .env("AIRLOCK_LISTEN", env.listen())
        .env("HOME", env.tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("setpriv");
    let _server = Server::adopt(child);
    support::wait_healthy(&env);
    let cfg = env.tmp.path().join("np.ini");
    std::fs::write(&cfg, NO_POLICY).unwrap();
    let o = env.run(&["create", "np", "-c", cfg.to_str().unwrap()]);
    let err = text(&o).1;
    assert!(!o.status.success() && err.contains("needs root"), "{err}");
    assert!(!env.state_dir().join("clusters/np").exists());
}

#[test]
#[ignore = "needs root"]
fn a_failed_creation_rolls_back_and_names_the_failed_resource() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start_with(&[("AIRLOCK_FAIL_RESOURCE", "SlurmController")]);
    let env = &lab.env;
    let cfg = lab.write("np.ini", &with_policy());
    let cfg = cfg.to_str().unwrap();
    let o = env.run(&["create", "rb", "-c", cfg]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("Status: SlurmController - CREATE_FAILED")
            && out.contains("Status: HeadNode - DELETE_COMPLETE")
            && out.contains("Status: ROLLBACK_COMPLETE"),
        "{out}"
    );
    assert!(
        err.contains("Cluster creation failed")
            && err.contains("SlurmController: SlurmController failed: fault injected"),
        "{err}"
    );
    assert!(
        !lab.clusters_root().join("rb").exists(),
        "rollback left the cluster's files"
    );
    assert!(env.ok(&["status", "rb"]).contains("ROLLBACK_COMPLETE"));
    // --norollback keeps what was made, for debugging; delete removes it.
    let o = env.run(&["create", "kept", "-c", cfg, "--norollback"]);
    assert_eq!(o.status.code(), Some(1));
    let st = env.ok(&["status", "kept"]);
    assert!(
        st.contains("CREATE_FAILED")
            && st.contains("HeadNode")
            && lab.clusters_root().join("kept").exists(),
        "{st}"
    );
    // delete shows each resource it removes, the last ones too (their
    // events outlive the stack), then the stack's end.
    let out = env.ok(&["delete", "kept"]);
    for r in [
        "SlurmController",
        "HeadNode",
        "ComputeRole",
        "HeadNodeRole",
        "SecurityGroup",
        "Network",
    ] {
        assert!(
            out.contains(&format!("Status: {r} - DELETE_IN_PROGRESS\n"))
                && out.contains(&format!("Status: {r} - DELETE_COMPLETE\n")),
            "{r}: {out}"
        );
    }
    assert!(
        out.ends_with("Status: DELETE_COMPLETE\nCluster deleted successfully.\n"),
        "{out}"
    );
    env.ok(&["delete", "rb"]);
    assert!(!lab.clusters_root().join("kept").exists());
}

#[test]
#[ignore = "needs root"]
fn a_server_killed_mid_create_rolls_the_stack_back_when_it_starts_again() {
    clusters::require();
    let _root = support::root_lock();
    let mut lab = Lab::start_with(&[("AIRLOCK_HANG_RESOURCE", "ComputeFleet")]);
    let cfg = lab.write("np.ini", &with_policy());
    lab.env
        .ok(&["create", "crash", "-c", cfg.to_str().unwrap(), "--nowait"]);
    let head = wait_for(30, "the head node to run while ComputeFleet hangs", || {
        let st = lab.env.ok(&["status", "crash"]);
        let head = lab.running_nodes("crash").into_iter().next();
        head.filter(|_| st.contains("CREATE_IN_PROGRESS"))
    });
    let index = clusters::index_of(&lab, "crash");
    lab.crash_and_restart();
    let st = wait_for(30, "the interrupted stack to roll back", || {
        let st = lab.env.ok(&["status", "crash"]);
        st.contains("ROLLBACK_COMPLETE").then_some(st)
    });
    assert!(
        !airlock_cluster::local::node::is_running(&head),
        "the head node outlived the rollback: {st}"
    );
    assert!(
        !lab.clusters_root().join("crash").exists(),
        "rollback left the cluster's files"
    );
    lab.env.ok(&["delete", "crash"]);
    clusters::assert_gone(&lab, "crash", &index);
}
