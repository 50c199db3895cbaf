//! Cluster stacks and the local provider: node naming (`nodes`), what an
//! update changes (`change_set`), the
//! generated Slurm configuration (`slurm_conf`), Slurm's node states
//! (`slurm_state`), the provider interface (`provider`), nodes as Linux
//! namespaces on this machine (`local`), and the provider served by a
//! privileged helper to an unprivileged server (`remote`), and, with the
//! `ec2` feature, machines on EC2 (`ec2`).

pub mod change_set;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod local;
pub mod nodes;
pub mod provider;
pub mod remote;
pub mod slurm_conf;
pub mod slurm_state;
