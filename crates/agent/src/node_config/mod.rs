//! Applies a cluster node's [`NodeConfig`] on the machine the agent runs
//! on (ParallelCluster's cookbook in miniature), idempotently: each step
//! writes only what differs and starts only what is not running, so a
//! second run changes nothing. Each step is reported `InProgress`, then
//! `Complete` or `Failed` with the reason; the first failure ends the run.
//!
//! This module owns the order of the steps and the small ones (hostname,
//! `/etc/hosts`, `slurm.conf`); the others live in their modules. It
//! blocks (commands, readiness polls): call it from a blocking thread.

mod accounts;
mod daemons;
mod etc_files;
mod keys;
mod storage;
mod system;
#[cfg(test)]
mod tests;

use airlock_proto::node_config::{Daemon, NodeConfig, NodeType, StepStatus};

pub use system::{Real, System};

/// One step's progress, as a stack event (`starting slurmctld`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    pub name: &'a str,
    pub status: StepStatus,
    pub reason: Option<String>,
}

/// Applies `cfg` on this machine (root = "/"), reporting InProgress then
/// Complete/Failed for each step; returns Err(reason) at the first failed
/// step.
pub fn apply(cfg: &NodeConfig, report: &mut dyn FnMut(Step<'_>)) -> Result<(), String> {
    apply_with(cfg, &mut Real::new(), report)
}

/// Runs one step: reports it, does it, reports how it went.
fn step(
    report: &mut dyn FnMut(Step<'_>),
    name: &str,
    f: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    report(Step {
        name,
        status: StepStatus::InProgress,
        reason: None,
    });
    match f() {
        Ok(()) => {
            report(Step {
                name,
                status: StepStatus::Complete,
                reason: None,
            });
            Ok(())
        }
        Err(reason) => {
            report(Step {
                name,
                status: StepStatus::Failed,
                reason: Some(reason.clone()),
            });
            Err(reason)
        }
    }
}

/// Same as [`apply`], against a [`System`] (for tests).
pub fn apply_with(
    cfg: &NodeConfig,
    sys: &mut dyn System,
    report: &mut dyn FnMut(Step<'_>),
) -> Result<(), String> {
    cfg.check()
        .map_err(|e| format!("the node configuration is invalid: {e}"))?;
    let mut changed = daemons::Changed::default();

    step(
        report,
        &format!("setting the hostname to {}", cfg.hostname),
        || {
            if sys.hostname()? != cfg.hostname {
                sys.set_hostname(&cfg.hostname)?;
            }
            system::ensure_dir(sys, "/etc", None)?;
            system::put(
                sys,
                "/etc/hostname",
                format!("{}\n", cfg.hostname).as_bytes(),
                0o644,
            )?;
            Ok(())
        },
    )?;

    step(report, "writing /etc/hosts", || {
        let hosts = etc_files::hosts(&cfg.hosts);
        system::put(sys, "/etc/hosts", hosts.as_bytes(), 0o644).map(drop)
    })?;

    step(report, "adding the cluster's users", || {
        accounts::add_users(sys, &cfg.users)
    })?;

    if !cfg.storage.dirs.is_empty() {
        step(report, &storage::step_name(&cfg.storage), || {
            storage::mount(sys, &cfg.storage, cfg.node_type)
        })?;
    }

    if cfg.node_type == NodeType::HeadNode {
        step(report, "creating home directories", || {
            accounts::make_homes(sys, &cfg.users)
        })?;
    }

    step(report, "installing the munge key", || {
        changed.munge_key = keys::install_munge_key(sys, &cfg.munge_key)?;
        Ok(())
    })?;

    step(report, "writing slurm.conf", || {
        system::ensure_dir(sys, "/etc/slurm", None)?;
        let conf = cfg.slurm_conf.as_bytes();
        let old = system::read(sys, daemons::SLURM_CONF)?.unwrap_or_default();
        changed.slurm_conf = system::put(sys, daemons::SLURM_CONF, conf, 0o644)?;
        changed.slurm_nodes = changed.slurm_conf
            && daemons::node_lines(&String::from_utf8_lossy(&old))
                != daemons::node_lines(&cfg.slurm_conf);
        Ok(())
    })?;

    if !cfg.ssh_host_key.is_empty() {
        step(report, "installing the ssh host key", || {
            changed.ssh_host_key = keys::install_ssh_host_key(sys, &cfg.ssh_host_key)?;
            Ok(())
        })?;
    }

    let init = daemons::detect(sys);
    let mut slurm_was_set_up = false;
    for &d in &cfg.daemons {
        if !daemons::installed(sys, d) {
            continue;
        }
        step(report, &format!("starting {}", d.name()), || {
            let before = daemons::start(sys, d, init, changed)?;
            if matches!(d, Daemon::Slurmctld | Daemon::Slurmd) {
                slurm_was_set_up |= before;
            }
            Ok(())
        })?;
    }

    // airlock's init does not restart what runs: Slurm re-reads its file,
    // except that slurmctld (before Slurm 23.11) takes added or removed
    // nodes only when it starts.
    if init == Some(daemons::Init::Airlock) && changed.slurm_conf && slurm_was_set_up {
        if changed.slurm_nodes && cfg.node_type == NodeType::HeadNode {
            step(
                report,
                "restarting slurmctld (nodes were added or removed)",
                || daemons::restart_slurmctld(sys),
            )?;
        }
        step(report, "reconfiguring slurm", || {
            sys.run(&["scontrol", "reconfigure"]).map(drop)
        })?;
    }
    Ok(())
}
