//! `airlock slurm resume | suspend | resume-fail HOSTLIST`: Slurm's
//! power-saving hooks on the head node (also run as `slurm_resume` etc.),
//! and `airlock slurm prolog`, its slurmctld prolog (`slurm_prolog`).
//! They ask the server, with the node's own certificate (its role), to
//! launch or terminate nodes, then tell Slurm the new addresses.

use std::io::Write;
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use airlock_agent::identity::AgentDir;

#[derive(clap::Subcommand, Clone)]
pub enum SlurmCommand {
    /// ResumeProgram: launch the nodes.
    Resume {
        /// Slurm's hostlist expression, e.g. spot1-dy-c5large-[1-3].
        hostlist: String,
    },
    /// SuspendProgram: terminate the nodes.
    Suspend {
        /// Slurm's hostlist expression, e.g. spot1-dy-c5large-[1-3].
        hostlist: String,
    },
    /// ResumeFailProgram: terminate nodes that did not come up.
    ResumeFail {
        /// Slurm's hostlist expression, e.g. spot1-dy-c5large-[1-3].
        hostlist: String,
    },
    /// PrologSlurmctld: hold a job until its powered-up nodes registered.
    Prolog,
}

const SCONTROL: &str = "/usr/bin/scontrol";

fn slurm_conf() -> String {
    std::env::var("SLURM_CONF").unwrap_or_else(|_| "/etc/slurm/slurm.conf".into())
}

fn scontrol(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(SCONTROL)
        .args(args)
        .env("SLURM_CONF", slurm_conf())
        .output()
        .context("running scontrol")?;
    if !out.status.success() {
        bail!(
            "scontrol {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cluster_name() -> anyhow::Result<String> {
    let conf = std::fs::read_to_string(slurm_conf()).context("reading slurm.conf")?;
    conf.lines()
        .find_map(|l| l.trim().strip_prefix("ClusterName="))
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("slurm.conf has no ClusterName"))
}

fn log(kind: &str, msg: &str) {
    let path = format!("/var/log/slurm/slurm_{kind}.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let _ = writeln!(f, "{now} {msg}");
    }
}

/// Calls `/v1/node/{op}` with the node's certificate.
fn call_server(op: &str, body: &Value) -> anyhow::Result<Value> {
    let dir = AgentDir::locate(std::env::var_os("AIRLOCK_AGENT_DIR").map(Into::into))?;
    let id = dir.load_identity()?;
    let mut pem = dir.read(&dir.cert())?;
    pem.extend_from_slice(&dir.read(&dir.key())?);
    let ca = dir.read(&dir.ca())?;
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .identity(reqwest::Identity::from_pem(&pem)?)
        .timeout(std::time::Duration::from_secs(60));
    for c in reqwest::Certificate::from_pem_bundle(&ca)? {
        b = b.add_root_certificate(c);
    }
    let http = b.build()?;
    let url = format!("{}/v1/node/{op}", id.endpoint.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, v) = rt.block_on(async {
        let r = http.post(&url).json(body).send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        Ok::<_, reqwest::Error>((status, v))
    })?;
    if !status.is_success() {
        bail!(
            "{} ({})",
            v["message"].as_str().unwrap_or("refused"),
            v["__type"].as_str().unwrap_or("error")
        );
    }
    Ok(v)
}

/// ResumeTimeout from slurm.conf (Slurm's default, 60 s, without one).
fn resume_timeout() -> std::time::Duration {
    let conf = std::fs::read_to_string(slurm_conf()).unwrap_or_default();
    let secs = conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("ResumeTimeout="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60);
    std::time::Duration::from_secs(secs)
}

pub fn run(cmd: SlurmCommand) -> anyhow::Result<i32> {
    let (kind, op, hostlist) = match &cmd {
        SlurmCommand::Resume { hostlist } => ("resume", "RunInstances", hostlist),
        SlurmCommand::Suspend { hostlist } => ("suspend", "TerminateInstances", hostlist),
        SlurmCommand::ResumeFail { hostlist } => ("resume_fail", "TerminateInstances", hostlist),
        SlurmCommand::Prolog => {
            return Ok(super::slurm_prolog::run(scontrol, resume_timeout()));
        }
    };
    let names: Vec<String> = scontrol(&["show", "hostnames", hostlist])?
        .lines()
        .map(str::to_owned)
        .collect();
    log(kind, &format!("{op} {hostlist} ({} nodes)", names.len()));
    let cluster = cluster_name()?;
    let v = match call_server(
        op,
        &json!({"ClusterName": cluster, "Nodes": names, "Program": kind}),
    ) {
        Ok(v) => v,
        Err(e) => {
            log(kind, &format!("refused: {e}"));
            if kind == "resume" {
                for n in &names {
                    let _ = scontrol(&[
                        "update",
                        &format!("nodename={n}"),
                        "state=down",
                        &format!("reason=airlock: launch refused: {e}"),
                    ]);
                }
            }
            return Err(e);
        }
    };
    for i in v["Instances"].as_array().into_iter().flatten() {
        let (name, ip) = (
            i["Name"].as_str().unwrap_or_default(),
            i["PrivateIpAddress"].as_str().unwrap_or_default(),
        );
        log(
            kind,
            &format!(
                "{name}: {}{}",
                i["InstanceId"].as_str().unwrap_or_default(),
                if ip.is_empty() {
                    String::new()
                } else {
                    format!(" at {ip}")
                }
            ),
        );
        if kind == "resume" && !ip.is_empty() {
            scontrol(&[
                "update",
                &format!("nodename={name}"),
                &format!("nodeaddr={ip}"),
                &format!("nodehostname={name}"),
            ])?;
        }
    }
    let mut failed = 0;
    for e in v["Errors"].as_array().into_iter().flatten() {
        failed += 1;
        let (name, msg) = (
            e["Name"].as_str().unwrap_or_default(),
            e["Message"].as_str().unwrap_or_default(),
        );
        log(kind, &format!("{name}: failed: {msg}"));
        if kind == "resume" {
            // Slurm's reason is one line: the cause, without the hint.
            let cause = msg.lines().next().unwrap_or_default();
            let _ = scontrol(&[
                "update",
                &format!("nodename={name}"),
                "state=down",
                &format!("reason=airlock: launch failed: {cause}"),
            ]);
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Slurm runs hooks by path: `slurm_resume HOSTLIST` means `airlock slurm resume HOSTLIST`.
pub fn argv0_alias(args: Vec<String>) -> Vec<String> {
    let base = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default();
    let sub = match base {
        "slurm_resume" => "resume",
        "slurm_suspend" => "suspend",
        "slurm_resume_fail" => "resume-fail",
        "slurm_prolog" => "prolog",
        _ => return args,
    };
    let mut v = vec!["airlock".to_owned(), "slurm".to_owned(), sub.to_owned()];
    v.extend(args.into_iter().skip(1));
    v
}
