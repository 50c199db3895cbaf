//! Cluster stacks and the local provider: nodes as namespaces, the generated
//! Slurm configuration, and the fleet manager.
