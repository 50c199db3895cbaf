//! ParallelCluster 3's command names against a loopback server, as a
//! pcluster 3 user's scripts call them: the JSON shapes of pcluster 3's API
//! on stdout, errors as `{"message": …}` with status 1. No root: nothing
//! here creates a cluster.

mod support;

use std::process::Output;

use serde_json::{Value, json};
use support::{Env, Server};

const VALID: &str = "Image:\n  Os: alinux2023\nHeadNode:\n  InstanceType: t3.micro\n  Networking:\n    SubnetId: subnet-1\n\
Scheduling:\n  Scheduler: slurm\n  SlurmQueues:\n    - Name: q1\n      Networking:\n        SubnetIds: [subnet-1]\n\
\x20     ComputeResources:\n        - Name: cr1\n          InstanceType: c5.large\n";

/// stdout as JSON (the test fails if it is not), and the exit status.
fn json_out(o: &Output) -> (Value, Option<i32>) {
    let out = String::from_utf8_lossy(&o.stdout);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {out}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (v, o.status.code())
}

/// `airlock create-cluster --cluster-name demo --cluster-configuration FILE EXTRA…`.
fn create(env: &Env, file: &std::path::Path, extra: &[&str]) -> (Value, Option<i32>) {
    let file = file.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "create-cluster",
        "--cluster-name",
        "demo",
        "--cluster-configuration",
        file,
    ];
    args.extend_from_slice(extra);
    json_out(&env.run(&args))
}

fn not_found(name: &str) -> Value {
    json!({"message": format!("Cluster '{name}' does not exist or belongs to an incompatible ParallelCluster major version.")})
}

#[test]
fn version_prints_pclusters_shape() {
    let env = Env::new();
    let (v, code) = json_out(&env.run(&["version"]));
    assert_eq!(code, Some(0));
    assert_eq!(v, json!({"version": env!("CARGO_PKG_VERSION")}));
}

#[test]
fn listing_describing_and_deleting_answer_as_pcluster_3() {
    let env = Env::new();
    let _s = Server::start(&env);

    let (v, code) = json_out(&env.run(&["list-clusters"]));
    assert_eq!((v, code), (json!({"clusters": []}), Some(0)));
    let (v, code) = json_out(&env.run(&[
        "list-clusters",
        "--cluster-status",
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "--region",
        "eu-west-1",
    ]));
    assert_eq!((v, code), (json!({"clusters": []}), Some(0)));

    for cmd in [
        "describe-cluster",
        "describe-cluster-instances",
        "delete-cluster",
    ] {
        let (v, code) = json_out(&env.run(&[cmd, "--cluster-name", "nosuch"]));
        assert_eq!((v, code), (not_found("nosuch"), Some(1)), "{cmd}");
    }
    let (v, code) = json_out(&env.run(&[
        "describe-cluster-instances",
        "--cluster-name",
        "nosuch",
        "--node-type",
        "HeadNode",
    ]));
    assert_eq!((v, code), (not_found("nosuch"), Some(1)));
}

#[test]
fn create_cluster_reports_configuration_errors_as_pcluster_3() {
    let env = Env::new();
    let _s = Server::start(&env);
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("cluster-config.yaml");
    std::fs::write(
        &bad,
        VALID.replace(
            "InstanceType: c5.large\n",
            "InstanceType: c5.large\n          MaxCount: lots\n",
        ),
    )
    .expect("write the configuration");

    let (v, code) = create(&env, &bad, &[]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["message"], "Invalid cluster configuration", "{v}");
    let errors = v["configurationValidationErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("no configurationValidationErrors: {v}"));
    let e = errors
        .iter()
        .find(|e| e["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR: {v}"));
    assert_eq!(e["type"], "ConfigSchemaValidator", "{v}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("MaxCount") || m.contains("lots")),
        "{v}"
    );
    for m in errors {
        let keys: Vec<&str> = m
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["level", "message", "type"], "{v}");
    }
    // Suppressing validators does not make an unbuildable cluster valid.
    let (v, code) = create(&env, &bad, &["--suppress-validators", "ALL"]);
    assert_eq!(
        (code, &v["message"]),
        (Some(1), &json!("Invalid cluster configuration"))
    );

    let missing = dir.path().join("missing.yaml");
    let (v, code) = create(&env, &missing, &[]);
    assert_eq!(code, Some(1));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing.yaml")),
        "{v}"
    );

    // A valid configuration with --dryrun true: pcluster's answer, and
    // nothing is created.
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, VALID).expect("write the configuration");
    let (v, code) = create(&env, &good, &["--dryrun", "true"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        v["message"], "Request would have succeeded, but DryRun flag is set.",
        "{v}"
    );
    let (v, _) = json_out(&env.run(&["list-clusters"]));
    assert_eq!(v, json!({"clusters": []}));
}
