//! `airlock update` and `airlock start|stop` (pcluster 2's verbs), with
//! pcluster 3's `update-cluster`, `update-compute-fleet` and
//! `describe-compute-fleet` as aliases printing pcluster 3's JSON.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::output::s;

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// The cluster to update.
    pub name: String,
    #[command(flatten)]
    pub file: crate::cmd::config::FileArgs,
    /// Apply the update without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Return once the update has started.
    #[arg(long)]
    pub nowait: bool,
}

#[derive(clap::Args)]
pub struct FleetArgs {
    /// The cluster whose compute fleet to start or stop.
    pub name: String,
    /// Return once the request is recorded.
    #[arg(long)]
    pub nowait: bool,
}

#[derive(clap::Args)]
pub struct UpdateClusterArgs {
    /// The cluster to update.
    #[arg(long, short = 'n')]
    pub cluster_name: String,
    /// The new configuration file.
    #[arg(long)]
    pub cluster_configuration: std::path::PathBuf,
    /// Only validate the update (true|false).
    #[arg(long, default_value = "false", action = clap::ArgAction::Set)]
    pub dryrun: bool,
    #[command(flatten)]
    pub region: super::pcluster3::RegionArg,
}

#[derive(clap::Args)]
pub struct UpdateComputeFleetArgs {
    /// The cluster whose compute fleet to start or stop.
    #[arg(long, short = 'n')]
    pub cluster_name: String,
    /// START_REQUESTED or STOP_REQUESTED.
    #[arg(long)]
    pub status: String,
    #[command(flatten)]
    pub region: super::pcluster3::RegionArg,
}

fn update_call(
    c: &ApiClient,
    name: &str,
    text: &str,
    file: &str,
    template: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Value> {
    c.call(
        "cluster",
        "UpdateCluster",
        &json!({"ClusterName": name, "ClusterConfiguration": text, "ConfigFile": file,
                "Template": template, "DryRun": dry_run}),
    )
}

/// The change set as `pcluster update` prints it.
fn print_change_set(set: &[Value]) {
    let rows: Vec<(String, String, String, String)> = set
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mark = if s(c, "Result") == "SUCCEEDED" {
                " "
            } else {
                "*"
            };
            let v = |k| {
                Some(s(c, k))
                    .filter(|v| !v.is_empty())
                    .unwrap_or("-".into())
            };
            (
                format!("{:02}{mark}", i + 1),
                s(c, "Parameter"),
                v("OldValue"),
                v("NewValue"),
            )
        })
        .collect();
    let w = |f: fn(&(String, String, String, String)) -> usize, min: usize| {
        rows.iter().map(f).max().unwrap_or(0).max(min)
    };
    let (w1, w2, w3) = (
        w(|r| r.1.chars().count(), 9),
        w(|r| r.2.chars().count(), 9),
        w(|r| r.3.chars().count(), 9),
    );
    println!("Found Changes:\n");
    let line = |a: &str, b: &str, c: &str, d: &str| {
        let l = format!("{a:<3}  {b:<w1$}  {c:<w2$}  {d:<w3$}");
        println!("{}", l.trim_end());
    };
    line("#", "parameter", "old value", "new value");
    println!(
        "{}  {}  {}  {}",
        "-".repeat(3),
        "-".repeat(w1),
        "-".repeat(w2),
        "-".repeat(w3)
    );
    let mut section = String::new();
    for (r, c) in rows.iter().zip(set) {
        let sec = s(c, "Section");
        if !sec.is_empty() && sec != section {
            if !section.is_empty() {
                println!();
            }
            println!("     {sec}");
            section = sec;
        }
        let p = crate::output::printable;
        line(&r.0, &p(&r.1), &p(&r.2), &p(&r.3));
    }
    println!();
}

/// Why the update cannot be applied, change by change.
fn print_refusal(set: &[Value]) {
    println!(
        "The requested update cannot be performed. Line numbers with an asterisk indicate updates requiring additional actions. Please look at the details below:"
    );
    for (i, c) in set.iter().enumerate() {
        if s(c, "Result") == "SUCCEEDED" {
            continue;
        }
        println!("\n#{:02}\n{}", i + 1, s(c, "Reason"));
        let fix = s(c, "ActionNeeded");
        if !fix.is_empty() {
            println!("How to fix:\n{fix}");
        }
    }
    println!("\nUpdate aborted.");
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "stdin is not a terminal, so the update cannot be confirmed: pass --yes to apply it without a prompt"
        );
    }
    print!("Do you want to proceed with the update? - Y/N: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y") || line.trim().eq_ignore_ascii_case("yes"))
}

fn last_event_id(c: &ApiClient, name: &str) -> i64 {
    c.call(
        "cluster",
        "DescribeClusterEvents",
        &json!({"ClusterName": name, "After": 0}),
    )
    .ok()
    .and_then(|v| {
        v["Events"]
            .as_array()
            .and_then(|e| e.iter().filter_map(|e| e["EventId"].as_i64()).max())
    })
    .unwrap_or(0)
}

/// `airlock update NAME -c FILE`: `pcluster update`'s dialogue.
pub fn update(g: &Global, a: UpdateArgs) -> anyhow::Result<i32> {
    let Some((file, text, report)) = crate::cmd::config::load_for_create(&a.file) else {
        return Ok(2);
    };
    println!("Validating configuration file {file}...");
    if report.has_errors() {
        for d in &report.diagnostics {
            eprintln!("{d}\n");
        }
        eprintln!("error: the configuration is not valid; nothing was changed");
        return Ok(2);
    }
    let c = ApiClient::from_global(g)?;
    let template = a.file.template.as_deref();
    println!("Retrieving configuration for cluster {}...", a.name);
    let r = update_call(&c, &a.name, &text, &file, template, true)?;
    let set = r["ChangeSet"].as_array().cloned().unwrap_or_default();
    if set.is_empty() {
        println!("No changes found in your cluster configuration.");
        return Ok(0);
    }
    print_change_set(&set);
    println!("Validating configuration update...");
    if r["Applicable"] != json!(true) {
        print_refusal(&set);
        return Ok(1);
    }
    println!("Congratulations! The new configuration can be safely applied to your cluster.");
    if !a.yes && !confirm()? {
        println!("Update aborted.");
        return Ok(1);
    }
    let after = last_event_id(&c, &a.name);
    println!("Updating: {}", a.name);
    let r = update_call(&c, &a.name, &text, &file, template, false)?;
    if r["Applicable"] != json!(true) {
        // The fleet changed between the check and the update.
        let set = r["ChangeSet"].as_array().cloned().unwrap_or_default();
        print_refusal(&set);
        return Ok(1);
    }
    if a.nowait {
        println!("Status: {}", s(&r, "StackStatus"));
        return Ok(0);
    }
    let d = super::cluster::follow(&c, &a.name, after, |d| {
        d.is_none_or(|v| {
            let st = s(&v["Cluster"], "StackStatus");
            st == "UPDATE_COMPLETE" || st == "UPDATE_ROLLBACK_COMPLETE"
        })
    })?;
    // The stack's last event said how it ended.
    let status = d
        .map(|v| s(&v["Cluster"], "StackStatus"))
        .unwrap_or_else(|| "DELETE_COMPLETE".into());
    if status != "UPDATE_COMPLETE" {
        eprintln!("error: the update did not complete: {status}");
        return Ok(1);
    }
    Ok(0)
}

fn fleet_call(c: &ApiClient, name: &str, status: &str) -> anyhow::Result<Value> {
    c.call(
        "cluster",
        "UpdateComputeFleet",
        &json!({"ClusterName": name, "Status": status}),
    )
}

fn fleet_status(c: &ApiClient, name: &str) -> anyhow::Result<String> {
    let d = c.call("cluster", "DescribeCluster", &json!({"ClusterName": name}))?;
    Ok(s(&d["Cluster"], "ComputeFleetStatus"))
}

/// `airlock start|stop NAME`: pcluster 2's `start`/`stop`, waiting (unless
/// `--nowait`) until the fleet is RUNNING or STOPPED.
pub fn start_stop(g: &Global, a: FleetArgs, stop: bool) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    let (verb, request, goal) = if stop {
        ("Stopping", "STOP_REQUESTED", "STOPPED")
    } else {
        ("Starting", "START_REQUESTED", "RUNNING")
    };
    println!("{verb} compute fleet : {}", a.name);
    let r = fleet_call(&c, &a.name, request)?;
    let mut status = s(&r, "Status");
    if !a.nowait {
        let started = std::time::Instant::now();
        while status != goal {
            if started.elapsed() > Duration::from_secs(600) {
                bail!("the compute fleet is still {status} after 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(500));
            status = fleet_status(&c, &a.name)?;
        }
    }
    println!("ComputeFleetStatus: {status}");
    Ok(0)
}

/// pcluster 3's change set entries.
fn v3_change_set(set: &[Value]) -> Vec<Value> {
    set.iter()
        .map(|c| json!({"parameter": s(c, "Parameter"), "currentValue": c["OldValue"], "requestedValue": c["NewValue"]}))
        .collect()
}

/// pcluster 3's JSON on stdout; 1 for an error shape.
fn print_v3(v: &Value, ok: bool) -> anyhow::Result<i32> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(if ok { 0 } else { 1 })
}

/// `airlock update-cluster` (pcluster 3's shape).
pub fn update_cluster(g: &Global, a: UpdateClusterArgs) -> anyhow::Result<i32> {
    let file = a.cluster_configuration.display().to_string();
    let text = match std::fs::read_to_string(&a.cluster_configuration) {
        Ok(t) => t,
        Err(e) => {
            return print_v3(
                &json!({"message": format!("Bad Request: cannot read {file}: {e}")}),
                false,
            );
        }
    };
    let c = ApiClient::from_global(g)?;
    let r = match update_call(&c, &a.cluster_name, &text, &file, None, a.dryrun) {
        Ok(r) => r,
        Err(e) => return print_v3(&json!({"message": e.to_string()}), false),
    };
    let set = r["ChangeSet"].as_array().cloned().unwrap_or_default();
    let change_set = v3_change_set(&set);
    if set.is_empty() {
        return print_v3(
            &json!({"message": "Update failure", "updateValidationErrors": [{"message": "No changes found in your cluster configuration."}], "changeSet": []}),
            false,
        );
    }
    if r["Applicable"] != json!(true) {
        let errors: Vec<Value> = set
            .iter()
            .filter(|c| s(c, "Result") != "SUCCEEDED")
            .map(|c| {
                let msg = format!("{}. {}", s(c, "Reason"), s(c, "ActionNeeded"));
                json!({"parameter": s(c, "Parameter"), "currentValue": c["OldValue"], "requestedValue": c["NewValue"], "message": msg.replace('\n', " ")})
            })
            .collect();
        return print_v3(
            &json!({"message": "Update failure", "updateValidationErrors": errors, "changeSet": change_set}),
            false,
        );
    }
    if a.dryrun {
        return print_v3(
            &json!({"message": "Request would have succeeded, but DryRun flag is set.", "changeSet": change_set}),
            false,
        );
    }
    let status = s(&r, "StackStatus");
    print_v3(
        &json!({
            "cluster": {
                "clusterName": a.cluster_name,
                "cloudformationStackStatus": status,
                "clusterStatus": status,
                "scheduler": {"type": "slurm"},
                "version": env!("CARGO_PKG_VERSION"),
            },
            "changeSet": change_set,
        }),
        true,
    )
}

/// `airlock update-compute-fleet` (pcluster 3's shape).
pub fn update_compute_fleet(g: &Global, a: UpdateComputeFleetArgs) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    match fleet_call(&c, &a.cluster_name, &a.status) {
        Ok(r) => print_v3(
            &json!({"status": s(&r, "Status"), "lastStatusUpdatedTime": s(&r, "LastStatusUpdatedTime")}),
            true,
        ),
        Err(e) => print_v3(&json!({"message": e.to_string()}), false),
    }
}

/// `airlock describe-compute-fleet` (pcluster 3's shape).
pub fn describe_compute_fleet(g: &Global, cluster_name: &str) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    match c.call(
        "cluster",
        "DescribeCluster",
        &json!({"ClusterName": cluster_name}),
    ) {
        Ok(d) => print_v3(
            &json!({"status": s(&d["Cluster"], "ComputeFleetStatus"), "lastStatusUpdatedTime": s(&d["Cluster"], "ComputeFleetUpdatedTime")}),
            true,
        ),
        Err(e) => print_v3(&json!({"message": e.to_string()}), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_sets_take_pcluster_3_names() {
        let set = [
            json!({"Section": "", "Parameter": "Scheduling.SlurmQueues[q].ComputeResources[c].MaxCount", "OldValue": "4", "NewValue": "8", "Result": "SUCCEEDED"}),
        ];
        assert_eq!(
            v3_change_set(&set),
            [
                json!({"parameter": "Scheduling.SlurmQueues[q].ComputeResources[c].MaxCount", "currentValue": "4", "requestedValue": "8"})
            ]
        );
    }
}
