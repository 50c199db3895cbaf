//! Nodes configure themselves (needs root): each machine boots from the
//! image with only its user data, asks for its configuration on its control
//! channel and reports each step as a stack event; secrets never appear in
//! user data; every machine has its own `/etc`; a configuration applied
//! again changes nothing; and a key the node refuses is reported as refused.

mod clusters;
mod support;

use std::process::Command;

use clusters::{Lab, assert_gone, index_of, text};
use support::wait_for;

const CONFIG: &str = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nqueue_settings = q\n\
additional_iam_policies = arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[queue q]\ncompute_resource_settings = cr\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmin_count = 1\nmax_count = 1\n";

const COMPUTE: &str = "q-st-c5large-1";

fn node(lab: &Lab, name: &str) -> airlock_cluster::local::node::NodeRecord {
    lab.running_nodes("selfcfg")
        .into_iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("{name} is not running"))
}

fn user_data(lab: &Lab, instance_id: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&lab.env.ok(&[
        "ec2",
        "describe-instance-attribute",
        "--instance-id",
        instance_id,
        "--attribute",
        "userData",
    ]))
    .expect("json");
    support::base64_decode(v["UserData"]["Value"].as_str().expect("UserData.Value"))
}

/// The outcome of the node's last configuration, as its agent recorded it.
fn last_configured(lab: &Lab, n: &airlock_cluster::local::node::NodeRecord) -> serde_json::Value {
    let f = lab
        .clusters_root()
        .join("selfcfg/nodes")
        .join(&n.instance_id)
        .join("agent/node-configuration.json");
    std::fs::read_to_string(f)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root"]
fn nodes_configure_themselves_and_keep_secrets_out_of_user_data() {
    clusters::require();
    let _root = support::root_lock();
    let lab = Lab::start();
    let env = &lab.env;
    let cfg = lab.write("selfcfg.ini", CONFIG);
    let o = env.run(&["create", "selfcfg", "-c", cfg.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let idx = index_of(&lab, "selfcfg");

    // The head's steps are stack events, as the node reported them.
    for step in [
        "HeadNode - CREATE_IN_PROGRESS",
        "adding the cluster's users",
        "installing the munge key",
        "starting slurmctld",
        "node configured",
        &format!("{COMPUTE} - CREATE_COMPLETE"),
    ] {
        assert!(out.contains(step), "no {step:?} in:\n{out}");
    }

    // One munge key on every node; in no user data; nor any private key.
    let (head, compute) = (node(&lab, "head"), node(&lab, COMPUTE));
    let key = |target: &str| lab.exec(target, "sudo base64 -w0 /etc/munge/munge.key");
    let munge = key("selfcfg/head");
    assert!(munge.len() > 1000, "{munge}");
    assert_eq!(munge, key(&format!("selfcfg/{COMPUTE}")));
    for n in [&head, &compute] {
        let ud = user_data(&lab, &n.instance_id);
        assert!(ud.starts_with("#!/bin/sh"), "{ud}");
        assert!(!ud.contains(&munge[..40]), "the munge key is in user data");
        assert!(!ud.contains("PRIVATE KEY"), "a private key is in user data");
    }

    // Every machine has its own /etc; /home and /shared are the cluster's.
    lab.exec(
        "selfcfg/head",
        "sudo touch /etc/airlock-own-etc /shared/airlock-shared",
    );
    let seen = lab.exec(
        &format!("selfcfg/{COMPUTE}"),
        "test -e /etc/airlock-own-etc && echo ETC-SHARED; test -e /shared/airlock-shared && echo SHARED-OK",
    );
    assert_eq!(seen.trim(), "SHARED-OK");

    // Applied again (the agent restarts and asks again): nothing changes.
    let probe = "pgrep -x slurmctld; stat -c %Y /etc/slurm/slurm.conf /etc/munge/munge.key";
    let before = lab.exec("selfcfg/head", probe);
    let first = last_configured(&lab, &head);
    assert_eq!(first["Status"], "Complete", "{first}");
    let killed = Command::new("nsenter")
        .args(["-t", &head.pid.to_string(), "--pid", "--mount"])
        .args(["pkill", "-f", "airlock agent run"])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for(
        60,
        "the restarted agent to configure the head again",
        || {
            let now = last_configured(&lab, &head);
            (now["At"] != first["At"] && now["Status"] == "Complete").then_some(())
        },
    );
    assert_eq!(lab.exec("selfcfg/head", probe), before);

    // A pushed key the node refuses (its user is gone there) is an error.
    lab.exec("selfcfg/head", "sudo sed -i '/^ec2-user:/d' /etc/passwd");
    let o = env.run(&["ssh", "selfcfg", "true"]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}{err}");
    assert!(err.contains("refused the key"), "{err}");

    env.ok(&["delete", "selfcfg"]);
    assert_gone(&lab, "selfcfg", &idx);
}
