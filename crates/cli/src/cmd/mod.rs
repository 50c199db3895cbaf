//! One module per top-level subcommand.

pub mod activation;
pub mod agent;
pub mod audit;
pub mod cluster;
pub mod cluster_update;
pub mod config;
pub mod config_convert;
pub mod console;
pub mod ec2;
pub mod ec2_boot_rig;
pub mod iam;
pub mod instances;
pub mod man;
pub mod pcluster3;
pub mod provider;
pub mod server;
pub mod session;
pub mod sessions;
pub mod slurm;
pub mod slurm_prolog;
pub mod spec;
pub mod ssm;
