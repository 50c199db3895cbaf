//! Static compute nodes on the local provider (needs root): `min_count`
//! nodes run from `create` on, take jobs without a resume, and when one dies
//! the fleet manager launches a replacement that Slurm takes back.

mod clusters;
mod support;

use clusters::{Lab, assert_gone, index_of};
use support::wait_for;

const STATIC: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nqueue_settings = q\n\
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[queue q]\ncompute_resource_settings = cr\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmin_count = 1\nmax_count = 2\n";

const NODE: &str = "q-st-c5large-1";

fn static_node(lab: &Lab) -> Option<airlock_cluster::local::node::NodeRecord> {
    lab.running_nodes("fixed")
        .into_iter()
        .find(|n| n.name == NODE)
}

/// Runs `hostname` on the static node as the cluster user; returns its output.
fn job_on_static_node(lab: &Lab, out: &str) -> String {
    lab.exec(
        "fixed/head",
        &format!("cd ~ec2-user && sudo -u ec2-user sbatch -w {NODE} -o {out} --wrap hostname"),
    );
    wait_for(90, "the job on the static node", || {
        let o = lab.exec("fixed/head", &format!("cat ~ec2-user/{out} 2>/dev/null"));
        (!o.trim().is_empty()).then_some(o)
    })
}

fn wait_idle(lab: &Lab, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let s = lab.exec("fixed/head", &format!("sinfo -h -n {NODE} -o '%t'"));
        if s.trim() == "idle" {
            return;
        }
        if std::time::Instant::now() > deadline {
            let node = lab.exec("fixed/head", &format!("scontrol show node {NODE}"));
            let log = lab.exec(
                "fixed/head",
                "tail -n 30 /var/log/slurm/slurmctld.log 2>/dev/null || true",
            );
            panic!("timed out waiting for {what}: sinfo says {s:?}\n{node}\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs root"]
fn static_nodes_run_from_create_and_are_replaced_when_they_die() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let env = &lab.env;
    let cfg = lab.write("static.ini", STATIC);
    let created = env.ok(&["create", "fixed", "-c", cfg.to_str().unwrap()]);
    assert!(created.contains("CREATE_COMPLETE"), "{created}");
    let idx = index_of(&lab, "fixed");
    let first = static_node(&lab).expect("the static node runs right after create");
    lab.wait_online("fixed/head");

    // Slurm sees it up (not powered down) and runs a job there at once.
    wait_idle(&lab, "the static node to be idle in Slurm");
    let sinfo = lab.exec("fixed/head", "sinfo -h -N -o '%N %t'");
    assert!(sinfo.contains("q-dy-c5large-1 idle~"), "{sinfo}");
    let out = job_on_static_node(&lab, "one.out");
    assert_eq!(out.trim(), NODE);
    assert_eq!(
        static_node(&lab).map(|r| r.instance_id),
        Some(first.instance_id.clone()),
        "the job ran on the node launched at create, not on a new one"
    );

    // It dies: the fleet manager launches a replacement, Slurm takes it back.
    airlock_cluster::local::node::kill(&first);
    let second = wait_for(60, "a replacement static node", || {
        static_node(&lab).filter(|r| r.instance_id != first.instance_id)
    });
    wait_idle(&lab, "the replacement to be idle in Slurm");
    let out = job_on_static_node(&lab, "two.out");
    assert_eq!(out.trim(), NODE);
    assert_eq!(
        static_node(&lab).map(|r| r.instance_id),
        Some(second.instance_id)
    );

    env.ok(&["delete", "fixed"]);
    assert_gone(&lab, "fixed", &idx);
}
