//! `airlock create | delete | status | list | ssh` and `instances NAME`:
//! cluster stacks, printed the way `pcluster` prints them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::Global;
use crate::client::{ApiClient, CallError};
use crate::output::{self, s};

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The cluster's name (letters, digits and hyphens; starts with a letter).
    pub name: String,
    #[command(flatten)]
    pub file: crate::cmd::config::FileArgs,
    /// Return once creation has started.
    #[arg(long)]
    pub nowait: bool,
    /// Keep what was created when creation fails (for debugging).
    #[arg(long)]
    pub norollback: bool,
}

#[derive(clap::Args)]
pub struct NameArgs {
    /// The cluster's name (see `airlock list`).
    pub name: String,
    /// Return once deletion has started.
    #[arg(long)]
    pub nowait: bool,
}

#[derive(clap::Args)]
pub struct SshArgs {
    /// The cluster whose head node to reach.
    pub name: String,
    /// Print the ssh command instead of running it.
    #[arg(long)]
    pub dryrun: bool,
    /// Passed to ssh as {ARGS}.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

const TERMINAL: [&str; 8] = [
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "DELETE_COMPLETE",
];

fn describe(c: &ApiClient, name: &str) -> anyhow::Result<Option<Value>> {
    match c.call("cluster", "DescribeCluster", &json!({"ClusterName": name})) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.downcast_ref::<CallError>(), Some(CallError::Api { code, .. }) if code == "NotFoundException") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Follows a stack's events until `done` says so; prints each event.
pub(crate) fn follow(
    c: &ApiClient,
    name: &str,
    mut after: i64,
    done: impl Fn(Option<&Value>) -> bool,
) -> anyhow::Result<Option<Value>> {
    let tty = std::io::stderr().is_terminal();
    let spinner = tty.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    });
    let started = Instant::now();
    // Prints the events after `after`; a deleted stack's stay readable, so
    // the last resources' events still show once the stack is gone.
    let print_events = |after: &mut i64| {
        let Ok(ev) = c.call(
            "cluster",
            "DescribeClusterEvents",
            &json!({"ClusterName": name, "After": *after}),
        ) else {
            return;
        };
        for e in ev["Events"].as_array().into_iter().flatten() {
            *after = (*after).max(e["EventId"].as_i64().unwrap_or(*after));
            let reason = s(e, "ResourceStatusReason");
            let line = format!(
                "Status: {} - {}{}",
                s(e, "LogicalResourceId"),
                s(e, "ResourceStatus"),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({reason})")
                }
            );
            match &spinner {
                Some(pb) => pb.println(line),
                None => println!("{line}"),
            }
        }
    };
    loop {
        print_events(&mut after);
        let d = describe(c, name)?;
        if let Some(pb) = &spinner {
            let st = d
                .as_ref()
                .map(|v| s(&v["Cluster"], "StackStatus"))
                .unwrap_or_else(|| "DELETE_COMPLETE".into());
            pb.set_message(format!(
                "airlock-{name}: {st} ({:.0} s)",
                started.elapsed().as_secs_f64()
            ));
        }
        if done(d.as_ref()) {
            // Events written between the two calls (the last resources' own,
            // or a deleted stack's) still show before the final status.
            print_events(&mut after);
            if let Some(pb) = spinner {
                pb.finish_and_clear();
            }
            return Ok(d);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn print_outputs(v: &Value) {
    let o = &v["Outputs"];
    for k in [
        "ClusterUser",
        "MasterPrivateIP",
        "MasterPublicIP",
        "HeadNodeInstanceId",
    ] {
        if o.get(k).is_some_and(|x| !x.is_null()) {
            println!("{k}: {}", s(o, k));
        }
    }
}

pub fn create(g: &Global, a: CreateArgs) -> anyhow::Result<i32> {
    let Some((file, text, report)) = crate::cmd::config::load_for_create(&a.file) else {
        return Ok(2);
    };
    if report.has_errors() {
        for d in &report.diagnostics {
            eprintln!("{d}\n");
        }
        eprintln!("{}", crate::cmd::config::summary(&file, &report));
        eprintln!("error: the configuration is not valid; nothing was created");
        return Ok(2);
    }
    airlock_config::v2::validate_cluster_name(&a.name)?;
    let c = ApiClient::from_global(g)?;
    if let Some(d) = missing_key_pair(&c, &file, &text, &report) {
        eprintln!("{d}\n");
        eprintln!(
            "error: the key pair the configuration names does not exist; nothing was created"
        );
        return Ok(2);
    }
    println!("Beginning cluster creation for cluster: {}", a.name);
    let r = c.call(
        "cluster",
        "CreateCluster",
        &json!({
            "ClusterName": a.name, "ClusterConfiguration": text, "ConfigFile": file,
            "Template": a.file.template, "NoRollback": a.norollback,
        }),
    )?;
    for w in r["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", w.as_str().unwrap_or_default());
    }
    println!("Creating stack named: {}", s(&r, "StackName"));
    if a.nowait {
        println!("Status: {}", s(&r, "StackStatus"));
        return Ok(0);
    }
    let d = follow(&c, &a.name, 0, |d| {
        d.is_none_or(|v| TERMINAL.contains(&s(&v["Cluster"], "StackStatus").as_str()))
    })?;
    let Some(d) = d else {
        bail!("cluster {} disappeared while it was being created", a.name)
    };
    let status = s(&d["Cluster"], "StackStatus");
    println!("Status: {status}");
    if status == "CREATE_COMPLETE" {
        print_outputs(&d);
        return Ok(0);
    }
    eprintln!("Cluster creation failed. Failed resources:");
    let events = c.call(
        "cluster",
        "DescribeClusterEvents",
        &json!({"ClusterName": a.name}),
    )?;
    let stack = format!("airlock-{}", a.name);
    for e in events["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| s(e, "ResourceStatus") == "CREATE_FAILED" && s(e, "LogicalResourceId") != stack)
    {
        eprintln!(
            "  - {} {}: {}",
            s(e, "ResourceType"),
            s(e, "LogicalResourceId"),
            s(e, "ResourceStatusReason")
        );
    }
    Ok(1)
}

/// `create`: the configuration's `key_name` when it names no key pair, as a
/// diagnostic pointing at it. Checked before anything is printed or created,
/// as pcluster validates the key pair first. Only a definite "not found"
/// counts: any other answer (no permission to describe key pairs, say)
/// leaves the check to the server's CreateCluster.
fn missing_key_pair(
    c: &ApiClient,
    file: &str,
    text: &str,
    report: &airlock_config::v2::Report,
) -> Option<airlock_config::Diagnostic> {
    let key = report.model.as_ref()?.key_name.as_ref()?;
    let e = c
        .call("ec2", "DescribeKeyPairs", &json!({"KeyNames": [key.value]}))
        .err()?;
    match e.downcast_ref::<CallError>() {
        Some(CallError::Api { code, .. }) if code == "InvalidKeyPair.NotFound" => {}
        _ => return None,
    }
    let d = airlock_config::Diagnostic::error(
        format!("key_name: The key pair '{}' does not exist", key.value),
        file,
    )
    .with_hint(format!(
        "import it with `airlock ec2 import-key-pair --key-name {} --public-key-material file://KEY.pub` (see `airlock ec2 describe-key-pairs`)",
        key.value
    ));
    Some(match key.source {
        airlock_config::model::Source::File(span) => d.at(text, span, "no such key pair"),
        airlock_config::model::Source::Default => d,
    })
}

/// `status`, `delete`: a well-formed name that names no cluster (exit 1).
fn no_such_cluster(name: &str) -> anyhow::Error {
    anyhow!("cluster {name} does not exist (see `airlock list`)")
}

pub fn delete(g: &Global, a: NameArgs) -> anyhow::Result<i32> {
    airlock_config::v2::validate_cluster_name(&a.name)?;
    let c = ApiClient::from_global(g)?;
    let last = c
        .call(
            "cluster",
            "DescribeClusterEvents",
            &json!({"ClusterName": a.name}),
        )
        .ok()
        .and_then(|v| {
            v["Events"]
                .as_array()
                .and_then(|e| e.last())
                .and_then(|e| e["EventId"].as_i64())
        })
        .unwrap_or(0);
    c.call("cluster", "DeleteCluster", &json!({"ClusterName": a.name}))
        .map_err(|e| match e.downcast_ref::<CallError>() {
            Some(CallError::Api { code, .. }) if code == "NotFoundException" => {
                no_such_cluster(&a.name)
            }
            _ => e,
        })?;
    println!("Deleting: {}", a.name);
    if a.nowait {
        println!("Status: DELETE_IN_PROGRESS");
        return Ok(0);
    }
    let d = follow(&c, &a.name, last, |d| {
        d.is_none_or(|v| s(&v["Cluster"], "StackStatus") == "DELETE_FAILED")
    })?;
    match d {
        None => {
            println!("Status: DELETE_COMPLETE");
            println!("Cluster deleted successfully.");
            Ok(0)
        }
        Some(_) => {
            eprintln!(
                "error: cluster {} could not be deleted completely; see `airlock status {}`",
                a.name, a.name
            );
            Ok(1)
        }
    }
}

pub fn status(g: &Global, name: &str) -> anyhow::Result<i32> {
    airlock_config::v2::validate_cluster_name(name)?;
    let c = ApiClient::from_global(g)?;
    let d = describe(&c, name)?.ok_or_else(|| no_such_cluster(name))?;
    if output::wants_data(g) {
        output::value(&d);
        return Ok(0);
    }
    println!("Status: {}", s(&d["Cluster"], "StackStatus"));
    let rows = d["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                s(r, "LogicalResourceId"),
                s(r, "ResourceType"),
                s(r, "ResourceStatus"),
                s(r, "PhysicalResourceId"),
                s(r, "ResourceStatusReason"),
            ]
        })
        .collect();
    output::listing(
        false,
        &d,
        &["Resource", "Type", "Status", "Physical id", "Reason"],
        rows,
    );
    print_outputs(&d);
    println!(
        "ComputeFleetStatus: {}",
        s(&d["Cluster"], "ComputeFleetStatus")
    );
    let orphans = d["ComputeFleet"]["OrphansTerminated"].as_i64().unwrap_or(0);
    if orphans > 0 {
        println!("OrphansTerminated: {orphans}");
    }
    Ok(0)
}

pub fn list(g: &Global) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    let v = c.call("cluster", "ListClusters", &json!({}))?;
    let rows = v["Clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            vec![
                s(x, "ClusterName"),
                s(x, "StackStatus"),
                s(x, "Version"),
                s(x, "CreationTime"),
            ]
        })
        .collect();
    output::listing(
        g.json,
        &v,
        &["Cluster", "Status", "Version", "Created"],
        rows,
    );
    Ok(0)
}

pub fn instances(g: &Global, name: &str) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    let v = c.call(
        "cluster",
        "DescribeClusterInstances",
        &json!({"ClusterName": name}),
    )?;
    let rows = v["Instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let ping = match s(x, "RegistrationError") {
                e if e.is_empty() => s(x, "PingStatus"),
                e => format!("not registered: {e}"),
            };
            vec![
                s(x, "NodeType"),
                s(x, "Name"),
                s(x, "InstanceId"),
                s(x, "PrivateIpAddress"),
                s(x, "State"),
                ping,
            ]
        })
        .collect();
    output::listing(
        g.json,
        &v,
        &[
            "Node type",
            "Name",
            "Instance id",
            "Private IP",
            "State",
            "Agent",
        ],
        rows,
    );
    Ok(0)
}

/// `[aliases] ssh`, filled in, with ssh sent through `airlock proxy`.
pub fn ssh_command(
    template: &str,
    user: &str,
    ip: &str,
    args: &[String],
    extra: &[String],
) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    for w in template.split_whitespace() {
        match w {
            "{ARGS}" => argv.extend(args.iter().cloned()),
            _ => argv.push(w.replace("{CFN_USER}", user).replace("{MASTER_IP}", ip)),
        }
    }
    if argv.is_empty() {
        argv.push("ssh".into());
    }
    let rest = argv.split_off(1);
    argv.extend(extra.iter().cloned());
    argv.extend(rest);
    argv
}

pub fn ssh(g: &Global, a: SshArgs) -> anyhow::Result<i32> {
    let c = ApiClient::from_global(g)?;
    let d = describe(&c, &a.name)?
        .ok_or_else(|| anyhow!("cluster {} does not exist (see `airlock list`)", a.name))?;
    let user = s(&d["Outputs"], "ClusterUser");
    let ip = s(&d["Outputs"], "MasterPrivateIP");
    let head = s(&d["Outputs"], "HeadNodeInstanceId");
    if ip.is_empty() {
        bail!(
            "cluster {} has no head node (status {})",
            a.name,
            s(&d["Cluster"], "StackStatus")
        );
    }
    let inst = c.call(
        "cluster",
        "DescribeClusterInstances",
        &json!({"ClusterName": a.name}),
    )?;
    let ping = inst["Instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| s(i, "InstanceId") == head)
        .map(|i| s(i, "PingStatus"))
        .unwrap_or_else(|| "terminated".into());
    if ping != "Online" && !a.dryrun {
        bail!(
            "the head node of cluster {} ({head}) is not reachable: its agent is {ping}; see `airlock instances {}`",
            a.name,
            a.name
        );
    }
    let exe = std::env::current_exe().context("locating the airlock binary")?;
    let known = airlock_proto::profile::ClientFiles::locate()?
        .config_path()
        .with_file_name("known_hosts");
    let mut extra = vec![
        "-o".into(),
        format!("ProxyCommand={} proxy %h %p", exe.display()),
        "-o".into(),
        format!("UserKnownHostsFile={}", known.display()),
        "-o".into(),
        "StrictHostKeyChecking=accept-new".into(),
        "-o".into(),
        format!("HostKeyAlias={head}"),
    ];
    let tmp = tempdir_key(&c, &d, &head, &user, a.dryrun)?;
    if let Some(k) = &tmp {
        extra.extend([
            "-i".into(),
            k.join("id_ed25519").display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    let template = s(&d, "SshAlias");
    let argv = ssh_command(
        if template.is_empty() {
            "ssh {CFN_USER}@{MASTER_IP} {ARGS}"
        } else {
            &template
        },
        &user,
        &ip,
        &a.args,
        &extra,
    );
    if a.dryrun {
        // Quoted, so that it can be pasted into a shell as it is.
        let words: Vec<String> = argv.iter().map(|w| super::session::sh_quote(w)).collect();
        println!("SSH command: {}", words.join(" "));
        return Ok(0);
    }
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("AIRLOCK_PROFILE", &g.profile)
        .status()
        .with_context(|| format!("running {}", argv[0]))?;
    if let Some(k) = tmp {
        let _ = std::fs::remove_dir_all(k);
    }
    Ok(status.code().unwrap_or(255))
}

/// Without `key_name`: a one-time key pushed for 60 s (EC2 Instance Connect).
fn tempdir_key(
    c: &ApiClient,
    d: &Value,
    head: &str,
    user: &str,
    dryrun: bool,
) -> anyhow::Result<Option<PathBuf>> {
    if !s(&d["Cluster"], "KeyName").is_empty() || dryrun {
        return Ok(None);
    }
    let dir = std::env::temp_dir().join(format!("airlock-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = dir.join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .context("running ssh-keygen (openssh-client)")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    c.call(
        "ec2-instance-connect",
        "SendSSHPublicKey",
        &json!({"InstanceId": head, "InstanceOSUser": user, "SSHPublicKey": public}),
    )?;
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_template_is_filled_and_proxied() {
        let v = ssh_command(
            "ssh {CFN_USER}@{MASTER_IP} {ARGS}",
            "ubuntu",
            "10.77.1.2",
            &["-v".into(), "hostname".into()],
            &["-o".into(), "ProxyCommand=airlock proxy %h %p".into()],
        );
        assert_eq!(
            v,
            [
                "ssh",
                "-o",
                "ProxyCommand=airlock proxy %h %p",
                "ubuntu@10.77.1.2",
                "-v",
                "hostname"
            ]
        );
    }
}
