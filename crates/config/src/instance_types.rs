//! Built-in catalog of EC2 instance types (vCPUs, memory, GPUs, spot
//! support, architecture): what Slurm needs for `CPUs`/`RealMemory`, and
//! what validation needs to reject a mistyped type with a suggestion.

use serde::Serialize;
use thiserror::Error;

/// CPU architecture of an instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Arm64,
}

/// One EC2 instance type, with AWS's published figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
    /// Whether the type can be bought as a spot instance.
    pub spot: bool,
    pub arch: Arch,
}

const fn x86(name: &'static str, vcpus: u32, memory_mib: u64, gpus: u32) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        memory_mib,
        gpus,
        spot: true,
        arch: Arch::X86_64,
    }
}

const GIB: u64 = 1024;

static CATALOG: &[InstanceType] = &[
    // t2 (burstable)
    x86("t2.nano", 1, GIB / 2, 0),
    x86("t2.micro", 1, GIB, 0),
    x86("t2.small", 1, 2 * GIB, 0),
    x86("t2.medium", 2, 4 * GIB, 0),
    x86("t2.large", 2, 8 * GIB, 0),
    x86("t2.xlarge", 4, 16 * GIB, 0),
    x86("t2.2xlarge", 8, 32 * GIB, 0),
    // t3
    x86("t3.nano", 2, GIB / 2, 0),
    x86("t3.micro", 2, GIB, 0),
    x86("t3.small", 2, 2 * GIB, 0),
    x86("t3.medium", 2, 4 * GIB, 0),
    x86("t3.large", 2, 8 * GIB, 0),
    x86("t3.xlarge", 4, 16 * GIB, 0),
    x86("t3.2xlarge", 8, 32 * GIB, 0),
    // t3a
    x86("t3a.nano", 2, GIB / 2, 0),
    x86("t3a.micro", 2, GIB, 0),
    x86("t3a.small", 2, 2 * GIB, 0),
    x86("t3a.medium", 2, 4 * GIB, 0),
    x86("t3a.large", 2, 8 * GIB, 0),
    x86("t3a.xlarge", 4, 16 * GIB, 0),
    x86("t3a.2xlarge", 8, 32 * GIB, 0),
    // m5
    x86("m5.large", 2, 8 * GIB, 0),
    x86("m5.xlarge", 4, 16 * GIB, 0),
    x86("m5.2xlarge", 8, 32 * GIB, 0),
    x86("m5.4xlarge", 16, 64 * GIB, 0),
    x86("m5.8xlarge", 32, 128 * GIB, 0),
    x86("m5.12xlarge", 48, 192 * GIB, 0),
    x86("m5.16xlarge", 64, 256 * GIB, 0),
    x86("m5.24xlarge", 96, 384 * GIB, 0),
    x86("m5.metal", 96, 384 * GIB, 0),
    // m6i
    x86("m6i.large", 2, 8 * GIB, 0),
    x86("m6i.xlarge", 4, 16 * GIB, 0),
    x86("m6i.2xlarge", 8, 32 * GIB, 0),
    x86("m6i.4xlarge", 16, 64 * GIB, 0),
    x86("m6i.8xlarge", 32, 128 * GIB, 0),
    x86("m6i.12xlarge", 48, 192 * GIB, 0),
    x86("m6i.16xlarge", 64, 256 * GIB, 0),
    x86("m6i.24xlarge", 96, 384 * GIB, 0),
    x86("m6i.32xlarge", 128, 512 * GIB, 0),
    x86("m6i.metal", 128, 512 * GIB, 0),
    // c4 (in the ParallelCluster corpus)
    x86("c4.large", 2, 3840, 0),
    x86("c4.xlarge", 4, 7680, 0),
    x86("c4.2xlarge", 8, 15 * GIB, 0),
    x86("c4.4xlarge", 16, 30 * GIB, 0),
    x86("c4.8xlarge", 36, 60 * GIB, 0),
    // c5
    x86("c5.large", 2, 4 * GIB, 0),
    x86("c5.xlarge", 4, 8 * GIB, 0),
    x86("c5.2xlarge", 8, 16 * GIB, 0),
    x86("c5.4xlarge", 16, 32 * GIB, 0),
    x86("c5.9xlarge", 36, 72 * GIB, 0),
    x86("c5.12xlarge", 48, 96 * GIB, 0),
    x86("c5.18xlarge", 72, 144 * GIB, 0),
    x86("c5.24xlarge", 96, 192 * GIB, 0),
    x86("c5.metal", 96, 192 * GIB, 0),
    // c5n
    x86("c5n.large", 2, 5376, 0),
    x86("c5n.xlarge", 4, 10752, 0),
    x86("c5n.2xlarge", 8, 21 * GIB, 0),
    x86("c5n.4xlarge", 16, 42 * GIB, 0),
    x86("c5n.9xlarge", 36, 96 * GIB, 0),
    x86("c5n.18xlarge", 72, 192 * GIB, 0),
    x86("c5n.metal", 72, 192 * GIB, 0),
    // c6i
    x86("c6i.large", 2, 4 * GIB, 0),
    x86("c6i.xlarge", 4, 8 * GIB, 0),
    x86("c6i.2xlarge", 8, 16 * GIB, 0),
    x86("c6i.4xlarge", 16, 32 * GIB, 0),
    x86("c6i.8xlarge", 32, 64 * GIB, 0),
    x86("c6i.12xlarge", 48, 96 * GIB, 0),
    x86("c6i.16xlarge", 64, 128 * GIB, 0),
    x86("c6i.24xlarge", 96, 192 * GIB, 0),
    x86("c6i.32xlarge", 128, 256 * GIB, 0),
    x86("c6i.metal", 128, 256 * GIB, 0),
    // r5
    x86("r5.large", 2, 16 * GIB, 0),
    x86("r5.xlarge", 4, 32 * GIB, 0),
    x86("r5.2xlarge", 8, 64 * GIB, 0),
    x86("r5.4xlarge", 16, 128 * GIB, 0),
    x86("r5.8xlarge", 32, 256 * GIB, 0),
    x86("r5.12xlarge", 48, 384 * GIB, 0),
    x86("r5.16xlarge", 64, 512 * GIB, 0),
    x86("r5.24xlarge", 96, 768 * GIB, 0),
    x86("r5.metal", 96, 768 * GIB, 0),
    // hpc6a: on-demand only
    InstanceType {
        name: "hpc6a.48xlarge",
        vcpus: 96,
        memory_mib: 384 * GIB,
        gpus: 0,
        spot: false,
        arch: Arch::X86_64,
    },
    // p3 (NVIDIA V100)
    x86("p3.2xlarge", 8, 61 * GIB, 1),
    x86("p3.8xlarge", 32, 244 * GIB, 4),
    x86("p3.16xlarge", 64, 488 * GIB, 8),
    x86("p3dn.24xlarge", 96, 768 * GIB, 8),
    // g4dn (NVIDIA T4)
    x86("g4dn.xlarge", 4, 16 * GIB, 1),
    x86("g4dn.2xlarge", 8, 32 * GIB, 1),
    x86("g4dn.4xlarge", 16, 64 * GIB, 1),
    x86("g4dn.8xlarge", 32, 128 * GIB, 1),
    x86("g4dn.12xlarge", 48, 192 * GIB, 4),
    x86("g4dn.16xlarge", 64, 256 * GIB, 1),
    x86("g4dn.metal", 96, 384 * GIB, 8),
    // others in the ParallelCluster corpus
    x86("i3en.24xlarge", 96, 768 * GIB, 0),
    x86("p4d.24xlarge", 96, 1152 * GIB, 8),
    InstanceType {
        name: "m6g.xlarge",
        vcpus: 4,
        memory_mib: 16 * GIB,
        gpus: 0,
        spot: true,
        arch: Arch::Arm64,
    },
];

/// Every instance type in the catalog.
pub fn all() -> &'static [InstanceType] {
    CATALOG
}

/// The catalog entry for `name` (exact, case-sensitive like EC2).
pub fn lookup(name: &str) -> Option<&'static InstanceType> {
    CATALOG.iter().find(|t| t.name == name)
}

/// An instance type the catalog does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown instance type '{name}'")]
pub struct UnknownInstanceType {
    pub name: String,
    /// The nearest known names, closest first.
    pub suggestions: Vec<&'static str>,
}

impl UnknownInstanceType {
    /// `did you mean 'a', 'b' or 'c'?`
    pub fn hint(&self) -> String {
        let quoted: Vec<String> = self.suggestions.iter().map(|s| format!("'{s}'")).collect();
        match quoted.split_last() {
            None => "no known instance type is close; check the name in the EC2 documentation"
                .to_string(),
            Some((last, [])) => format!("did you mean {last}?"),
            Some((last, rest)) => format!("did you mean {} or {last}?", rest.join(", ")),
        }
    }
}

/// Look `name` up, or say which known names are nearest (edit distance).
pub fn check(name: &str) -> Result<&'static InstanceType, UnknownInstanceType> {
    lookup(name).ok_or_else(|| UnknownInstanceType {
        name: name.to_string(),
        suggestions: nearest(name, 3),
    })
}

/// Up to `n` catalog names closest to `name`, closest first.
pub fn nearest(name: &str, n: usize) -> Vec<&'static str> {
    // Bound the work on absurd input: names are short.
    let probe: String = name.chars().take(64).collect::<String>().to_lowercase();
    let mut scored: Vec<(usize, &'static str)> = CATALOG
        .iter()
        .map(|t| (strsim::levenshtein(&probe, t.name), t.name))
        .collect();
    scored.sort();
    let best = scored.first().map_or(0, |s| s.0);
    // Only offer names about as close as the best one.
    scored
        .into_iter()
        .take_while(|(d, _)| *d <= best + 1)
        .take(n)
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_real_figures() {
        let c5 = lookup("c5.large").copied();
        assert_eq!(
            c5.map(|t| (t.vcpus, t.memory_mib, t.gpus, t.spot)),
            Some((2, 4096, 0, true))
        );
        let g = lookup("g4dn.12xlarge").copied();
        assert_eq!(
            g.map(|t| (t.vcpus, t.memory_mib, t.gpus)),
            Some((48, 196_608, 4))
        );
        assert_eq!(lookup("hpc6a.48xlarge").map(|t| t.spot), Some(false));
        assert_eq!(lookup("m6g.xlarge").map(|t| t.arch), Some(Arch::Arm64));
    }

    #[test]
    fn required_families_are_covered() {
        for fam in [
            "t2", "t3", "t3a", "m5", "m6i", "c5", "c5n", "c6i", "r5", "hpc6a", "p3", "g4dn",
        ] {
            let prefix = format!("{fam}.");
            assert!(
                CATALOG.iter().any(|t| t.name.starts_with(&prefix)),
                "family {fam} missing"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = CATALOG.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn unknown_type_suggests_nearest_names() {
        let e = check("c5.lage").err();
        assert_eq!(
            e.as_ref().and_then(|e| e.suggestions.first().copied()),
            Some("c5.large")
        );
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("unknown instance type 'c5.lage'")
        );
        let e = check("t3.mikro").err();
        assert_eq!(
            e.map(|e| e.hint()).as_deref(),
            Some("did you mean 't3.micro', 't2.micro' or 't3a.micro'?")
        );
    }
}
