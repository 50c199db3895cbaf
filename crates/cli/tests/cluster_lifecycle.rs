//! The cluster's lifecycle after create, on the local provider (needs
//! root): `airlock update` with pcluster 2's change set (live, refused,
//! applied once the fleet is stopped), `airlock stop|start` with jobs that
//! wait through the stop, pcluster 3's aliases, and a node whose slurmd
//! never registers (ResumeTimeout): terminated, counted, reset to idle~.

mod clusters;
mod support;

use clusters::{Lab, assert_gone, index_of};
use support::wait_for;

const CONFIG: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nmaster_instance_type = t3.micro\nvpc_settings = v\nqueue_settings = q\n\
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[queue q]\ncompute_resource_settings = cr\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmax_count = 2\n";

/// Submits a job as the cluster user; returns its id.
fn sbatch(lab: &Lab, cluster: &str, args: &str) -> String {
    let out = lab.exec(
        &format!("{cluster}/head"),
        &format!("cd ~ec2-user && sudo -u ec2-user sbatch --parsable {args} 2>&1"),
    );
    let id = out.trim().to_string();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        "sbatch {args}: {out}"
    );
    id
}

fn job_state(lab: &Lab, cluster: &str, id: &str) -> String {
    lab.exec(
        &format!("{cluster}/head"),
        &format!("scontrol show job {id} -o | grep -o 'JobState=[A-Z_]*' | cut -d= -f2"),
    )
    .trim()
    .to_string()
}

fn wait_job(lab: &Lab, cluster: &str, id: &str, state: &str, secs: u64) {
    wait_for(secs, &format!("job {id} to be {state}"), || {
        (job_state(lab, cluster, id) == state).then_some(())
    });
}

fn sinfo(lab: &Lab, cluster: &str) -> String {
    lab.exec(
        &format!("{cluster}/head"),
        "sinfo -h -N -o '%N %R %a %t' | sort -u",
    )
}

fn compute_nodes(lab: &Lab, cluster: &str) -> Vec<String> {
    lab.running_nodes(cluster)
        .into_iter()
        .filter(|n| n.name != "head")
        .map(|n| n.name)
        .collect()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
#[ignore = "needs root"]
fn update_stop_and_start_as_pcluster_does() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start_with(&[("AIRLOCK_FLEET_INTERVAL_MS", "1000")]);
    let env = &lab.env;
    let cfg = lab.write("life.ini", CONFIG);
    let cfg_path = cfg.to_str().unwrap();
    let created = env.ok(&["create", "life", "-c", cfg_path]);
    assert!(created.contains("CREATE_COMPLETE"), "{created}");
    let idx = index_of(&lab, "life");
    lab.wait_online("life/head");
    let status = env.ok(&["status", "life"]);
    assert!(status.contains("ComputeFleetStatus: RUNNING"), "{status}");

    // A long job holds node 2 for the whole test.
    let long = sbatch(
        &lab,
        "life",
        "-w q-dy-c5large-2 --exclusive --wrap 'sleep 600'",
    );
    wait_job(&lab, "life", &long, "RUNNING", 60);

    // max_count 2 -> 3 is live: the change set, then slurmctld takes the
    // new node (restarted) while the job runs on.
    let grown = lab.write(
        "grown.ini",
        &CONFIG.replace("max_count = 2", "max_count = 3"),
    );
    let out = env.ok(&["update", "life", "-c", grown.to_str().unwrap(), "--yes"]);
    for want in [
        "Found Changes:",
        "[compute_resource cr]",
        "01   max_count",
        "Congratulations! The new configuration can be safely applied to your cluster.",
        "Status: airlock-life - UPDATE_COMPLETE",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    let s = sinfo(&lab, "life");
    assert!(s.contains("q-dy-c5large-3 q up idle~"), "{s}");
    assert_eq!(
        job_state(&lab, "life", &long),
        "RUNNING",
        "the job survives the restart"
    );

    // Refused: the head node's type cannot change; shrinking away the busy
    // node needs the fleet stopped. Nothing changes.
    let head_type = lab.write(
        "head.ini",
        &CONFIG
            .replace("t3.micro", "c5.xlarge")
            .replace("max_count = 2", "max_count = 1"),
    );
    let o = env.run(&["update", "life", "-c", head_type.to_str().unwrap(), "--yes"]);
    let (out, err) = clusters::text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    for want in [
        "01*  master_instance_type",
        "Update actions are not currently supported for the 'master_instance_type' parameter",
        "Restore 'master_instance_type' value to 't3.micro'",
        "Shrinking a queue requires the compute fleet to be stopped first (up: q-dy-c5large-2)",
        "airlock stop life",
        "Update aborted.",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    let st = json(&env.ok(&["--json", "status", "life"]));
    assert_eq!(st["Cluster"]["StackStatus"], "UPDATE_COMPLETE");
    assert!(sinfo(&lab, "life").contains("q-dy-c5large-3"), "unchanged");
    // pcluster 3's shape of the same refusal.
    let o = env.run(&[
        "update-cluster",
        "--cluster-name",
        "life",
        "--cluster-configuration",
        head_type.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&clusters::text(&o).0);
    assert_eq!(v["message"], "Update failure");
    assert!(
        v["updateValidationErrors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["parameter"] == "master_instance_type"
                && e["currentValue"] == "t3.micro"
                && e["requestedValue"] == "c5.xlarge"),
        "{v}"
    );
    assert_eq!(v["changeSet"].as_array().map(Vec::len), Some(2), "{v}");

    // Stop: partitions INACTIVE, every node powered down, the running job
    // requeued; a pending one waits; no new job is accepted.
    let pending = sbatch(
        &lab,
        "life",
        "-w q-dy-c5large-2 --wrap hostname -o pending.out",
    );
    let out = env.ok(&["stop", "life"]);
    assert!(
        out.contains("Stopping compute fleet : life")
            && out.contains("ComputeFleetStatus: STOPPED"),
        "{out}"
    );
    assert_eq!(compute_nodes(&lab, "life"), Vec::<String>::new());
    let s = sinfo(&lab, "life");
    assert!(s.contains("q inact") && !s.contains(" up "), "{s}");
    wait_job(&lab, "life", &long, "PENDING", 30);
    assert_eq!(job_state(&lab, "life", &pending), "PENDING");
    let refused = lab.exec(
        "life/head",
        "cd ~ec2-user && sudo -u ec2-user sbatch --wrap true 2>&1; echo rc=$?",
    );
    assert!(refused.contains("rc=1"), "{refused}");
    let fleet = json(&env.ok(&["describe-compute-fleet", "--cluster-name", "life"]));
    assert_eq!(fleet["status"], "STOPPED");

    // With the fleet stopped, a new queue and a smaller queue apply.
    let bigger = lab.write(
        "q2.ini",
        &(CONFIG.replace("queue_settings = q", "queue_settings = q, q2")
            + "\n[queue q2]\ncompute_resource_settings = small\n\n[compute_resource small]\ninstance_type = t3.micro\nmax_count = 1\n"),
    );
    let out = env.ok(&["update", "life", "-c", bigger.to_str().unwrap(), "--yes"]);
    assert!(
        out.contains("queue_settings") && out.contains("UPDATE_COMPLETE"),
        "{out}"
    );
    let s = sinfo(&lab, "life");
    assert!(s.contains("q2-dy-t3micro-1 q2 inact"), "{s}");
    assert!(!s.contains("q-dy-c5large-3"), "max_count back to 2: {s}");

    // Start: partitions UP; the jobs queued through the stop run.
    let out = env.ok(&["start", "life"]);
    assert!(out.contains("ComputeFleetStatus: RUNNING"), "{out}");
    wait_job(&lab, "life", &long, "RUNNING", 180);
    wait_job(&lab, "life", &pending, "COMPLETED", 180);
    let s = sinfo(&lab, "life");
    assert!(s.contains("q2 up"), "{s}");
    // pcluster 3's verbs.
    let v = json(&env.ok(&[
        "update-compute-fleet",
        "--cluster-name",
        "life",
        "--status",
        "STOP_REQUESTED",
    ]));
    assert_eq!(v["status"], "STOP_REQUESTED", "{v}");
    assert!(
        v["lastStatusUpdatedTime"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    wait_for(90, "the fleet to stop", || {
        let v = json(&env.ok(&["describe-compute-fleet", "--cluster-name", "life"]));
        (v["status"] == "STOPPED").then_some(())
    });
    wait_job(&lab, "life", &long, "PENDING", 30);

    env.ok(&["delete", "life"]);
    assert_gone(&lab, "life", &idx);
}

#[test]
#[ignore = "needs root"]
fn a_node_whose_slurmd_never_registers_is_terminated_and_reset() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start_with(&[
        ("AIRLOCK_RESUME_TIMEOUT_SECS", "20"),
        ("AIRLOCK_FLEET_INTERVAL_MS", "1000"),
    ]);
    let env = &lab.env;
    let cfg = lab.write(
        "orphan.ini",
        &CONFIG.replace("max_count = 2", "max_count = 1"),
    );
    // Made and looked at with pcluster 3's verbs.
    let v = json(&env.ok(&[
        "create-cluster",
        "--cluster-name",
        "orph",
        "--cluster-configuration",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(v["cluster"]["clusterName"], "orph", "{v}");
    assert_eq!(v["cluster"]["clusterStatus"], "CREATE_IN_PROGRESS", "{v}");
    let d = wait_for(60, "describe-cluster to say CREATE_COMPLETE", || {
        let d = json(&env.ok(&["describe-cluster", "--cluster-name", "orph"]));
        (d["clusterStatus"] == "CREATE_COMPLETE").then_some(d)
    });
    assert_eq!(d["cloudFormationStackStatus"], "CREATE_COMPLETE", "{d}");
    assert_eq!(d["computeFleetStatus"], "RUNNING", "{d}");
    assert_eq!(d["scheduler"]["type"], "slurm", "{d}");
    assert_eq!(d["headNode"]["instanceType"], "t3.micro", "{d}");
    assert!(
        d["headNode"]["privateIpAddress"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.77.")),
        "{d}"
    );
    let listed = json(&env.ok(&["list-clusters"]));
    assert!(
        listed["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["clusterName"] == "orph"),
        "{listed}"
    );
    let inst = json(&env.ok(&["describe-cluster-instances", "--cluster-name", "orph"]));
    let head = &inst["instances"][0];
    assert_eq!(head["nodeType"], "HeadNode", "{inst}");
    assert_eq!(head["instanceId"], d["headNode"]["instanceId"], "{inst}");
    assert_eq!(head["state"], "running", "{inst}");
    let idx = index_of(&lab, "orph");
    lab.wait_online("orph/head");

    // slurmctld hears no compute node: its port drops what comes from the
    // cluster's network (the head's own commands use loopback).
    let fw = lab.exec(
        "orph/head",
        "sudo nft add table inet drill && sudo nft add chain inet drill input '{ type filter hook input priority 0; }' \
         && sudo nft add rule inet drill input iifname != lo tcp dport 6817 drop && echo FW",
    );
    assert!(fw.contains("FW"), "{fw}");
    let job = sbatch(&lab, "orph", "--no-requeue --wrap hostname");
    let node = "q-dy-c5large-1";
    wait_for(30, "the node's instance", || {
        compute_nodes(&lab, "orph")
            .contains(&node.to_string())
            .then_some(())
    });
    // After ResumeTimeout (20 s): the instance is terminated, the node back
    // to idle~, the job failed (not left waiting), the orphan counted.
    wait_for(90, "the node to be terminated and reset to idle~", || {
        let s = sinfo(&lab, "orph");
        (compute_nodes(&lab, "orph").is_empty() && s.contains(&format!("{node} q up idle~")))
            .then_some(())
    });
    let state = job_state(&lab, "orph", &job);
    assert!(state == "NODE_FAIL" || state == "FAILED", "{state}");
    let st = json(&env.ok(&["--json", "status", "orph"]));
    assert_eq!(st["ComputeFleet"]["Status"], "RUNNING", "{st}");
    assert!(
        st["ComputeFleet"]["OrphansTerminated"].as_i64() >= Some(1),
        "{st}"
    );
    let text = env.ok(&["status", "orph"]);
    assert!(text.contains("OrphansTerminated: "), "{text}");

    // The network heals: the next job runs on a fresh node, even though
    // slurmctld restarts while its prolog holds it (CONFIGURING).
    lab.exec("orph/head", "sudo nft delete table inet drill");
    let job = sbatch(&lab, "orph", "--wrap hostname -o ok.out");
    wait_job(&lab, "orph", &job, "CONFIGURING", 30);
    let down = lab.exec(
        "orph/head",
        "sudo scontrol shutdown slurmctld && echo SHUTDOWN",
    );
    assert!(down.contains("SHUTDOWN"), "{down}");
    // Slurm 22.05 loses the resume of a node across the restart: the node
    // registers as "unexpectedly rebooted", DOWN, and the job is requeued
    // (eligible again 120 s later). The fleet manager replaces the
    // unhealthy node; the admin may release the job at once.
    let started = std::time::Instant::now();
    wait_for(60, "the job to be requeued or to complete", || {
        let s = job_state(&lab, "orph", &job);
        (s == "PENDING" || s == "COMPLETED").then_some(())
    });
    lab.exec(
        "orph/head",
        &format!("sudo scontrol update jobid={job} starttime=now 2>&1"),
    );
    while job_state(&lab, "orph", &job) != "COMPLETED" {
        if started.elapsed() > std::time::Duration::from_secs(90) {
            let why = lab.exec(
                "orph/head",
                &format!("scontrol show job {job}; scontrol show node; sudo tail -n 80 /var/log/slurm/slurmctld.log"),
            );
            panic!("the job did not complete after slurmctld's restart:\n{why}");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    eprintln!(
        "job completed {:.1} s after slurmctld's restart",
        started.elapsed().as_secs_f64()
    );

    let v = json(&env.ok(&["delete-cluster", "--cluster-name", "orph"]));
    assert_eq!(v["cluster"]["clusterStatus"], "DELETE_IN_PROGRESS", "{v}");
    wait_for(60, "the cluster to be deleted", || {
        let o = env.run(&["describe-cluster", "--cluster-name", "orph"]);
        (o.status.code() == Some(1)).then_some(())
    });
    assert_gone(&lab, "orph", &idx);
}
