//! `airlock debug ec2-boot-rig`: machines for an EC2 endpoint that boots
//! nothing (moto), so that a cluster runs end to end through the EC2
//! provider on one host. The rig itself is `airlock_cluster::ec2::boot_rig`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BootRigArgs {
    /// The server's --node-endpoint, 10.77.N.1:PORT: the rig's bridge takes
    /// 10.77.N.0/24 with this address, and the cluster's EC2 subnet must
    /// be that CIDR.
    #[arg(long, value_name = "IP:PORT")]
    node_endpoint: SocketAddr,
    /// The EC2 endpoint (moto's); else AWS_ENDPOINT_URL, else AWS's.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Where the rig keeps its machines; removed when it ends.
    #[arg(long, default_value = "/var/lib/airlock-ec2-boot-rig")]
    state_dir: PathBuf,
    /// The `airlock` binary machines run [default: this one].
    #[arg(long)]
    node_binary: Option<PathBuf>,
    /// Seconds between looks at EC2.
    #[arg(long, default_value_t = 0.5)]
    interval: f64,
}

#[cfg(feature = "ec2")]
pub fn run(a: BootRigArgs) -> anyhow::Result<i32> {
    use airlock_cluster::ec2::boot_rig::{BootRig, RigOptions, SHARED_VOLUME};
    use anyhow::Context;
    use std::io::Write;
    use std::sync::atomic::Ordering;

    let exe = match a.node_binary {
        Some(p) => p,
        None => std::env::current_exe().context("finding the airlock binary")?,
    };
    let stop = stop_on_signal()?;
    let mut rig = BootRig::start(RigOptions {
        root: a.state_dir,
        exe,
        node_endpoint: a.node_endpoint,
        endpoint_url: a.endpoint_url,
    })?;
    println!(
        "ec2-boot-rig: ready: machines on {} dial the server at {}; start it with --node-endpoint {} --ec2-shared-volume {SHARED_VOLUME}",
        rig.cidr(),
        a.node_endpoint,
        a.node_endpoint
    );
    let _ = std::io::stdout().flush();
    let pause = std::time::Duration::from_secs_f64(a.interval.clamp(0.05, 60.0));
    let mut failed = None;
    while !stop.load(Ordering::SeqCst) {
        match rig.step() {
            Ok(events) => {
                for e in events {
                    println!("ec2-boot-rig: {e}");
                }
                let _ = std::io::stdout().flush();
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        std::thread::sleep(pause);
    }
    let ended = rig.shutdown();
    for e in &ended {
        println!("ec2-boot-rig: {e}");
    }
    match failed {
        Some(e) => Err(anyhow::Error::from(e).context("the boot rig stopped")),
        // What it could not undo is left on this host: not a clean end.
        None if ended.iter().any(|e| e.is_failure()) => {
            anyhow::bail!("the boot rig could not undo everything it made (above)")
        }
        None => Ok(0),
    }
}

/// A flag that SIGINT or SIGTERM sets: the rig then stops its machines
/// and removes its network before it exits.
#[cfg(feature = "ec2")]
fn stop_on_signal() -> anyhow::Result<&'static std::sync::atomic::AtomicBool> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(sig, &act) }?;
    }
    Ok(&STOP)
}

#[cfg(not(feature = "ec2"))]
pub fn run(_a: BootRigArgs) -> anyhow::Result<i32> {
    anyhow::bail!(
        "this airlock was built without the EC2 provider, so the boot rig is not available\n  hint: build it with `cargo build --features airlock-cli/ec2` (docs/EC2.md)"
    )
}
