//! Cluster stacks and the local provider: nodes as namespaces, the generated
//! Slurm configuration, and the fleet manager. So far: the Slurm
//! configuration (`slurm_conf`) and node naming (`nodes`).

pub mod nodes;
pub mod slurm_conf;
