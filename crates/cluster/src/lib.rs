//! Cluster stacks and the local provider: node naming (`nodes`), the
//! generated Slurm configuration (`slurm_conf`), Slurm's node states
//! (`slurm_state`), and nodes as Linux namespaces on this machine (`local`).

pub mod local;
pub mod nodes;
pub mod provider;
pub mod slurm_conf;
pub mod slurm_state;
