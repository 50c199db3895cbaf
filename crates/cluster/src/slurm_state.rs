//! Slurm's view of its nodes, parsed from `scontrol show nodes -o` (one
//! line per node of `Key=Value` fields), as the fleet manager reads it.

/// One node as Slurm sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmNode {
    pub name: String,
    /// The base state: `IDLE`, `ALLOCATED`, `MIXED`, `DOWN`, `FUTURE`…
    pub state: String,
    /// Flags after the base state: `CLOUD`, `POWERED_DOWN`, `POWERING_UP`…
    pub flags: Vec<String>,
    pub addr: String,
    pub reason: String,
}

impl SlurmNode {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    /// Powered down, or on its way there: no instance should exist.
    pub fn is_powered_down(&self) -> bool {
        self.has("POWERED_DOWN") || self.has("POWERING_DOWN")
    }
    pub fn is_powering_up(&self) -> bool {
        self.has("POWERING_UP")
    }
    pub fn is_down(&self) -> bool {
        self.state == "DOWN" || self.has("DRAIN") || self.has("NOT_RESPONDING")
    }
}

/// Parses `scontrol show nodes -o`; lines without `NodeName=` are skipped.
pub fn parse_nodes(text: &str) -> Vec<SlurmNode> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<SlurmNode> {
    let field = |key: &str| {
        line.split(' ')
            .find_map(|t| t.strip_prefix(key))
            .map(str::to_owned)
    };
    let name = field("NodeName=")?;
    let full = field("State=").unwrap_or_default();
    let mut parts = full.split('+');
    let state = parts.next().unwrap_or_default().to_owned();
    let flags = parts.map(str::to_owned).collect();
    let reason = line
        .find(" Reason=")
        .map(|i| line[i + 8..].trim().to_owned())
        .unwrap_or_default();
    Some(SlurmNode {
        name,
        state,
        flags,
        addr: field("NodeAddr=").unwrap_or_default(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_flags_and_reasons() {
        let out = "NodeName=q-dy-c5large-1 Arch=x86_64 CoresPerSocket=1 State=IDLE+CLOUD+POWERED_DOWN ThreadsPerCore=1 NodeAddr=q-dy-c5large-1 Partitions=q\n\
                   NodeName=q-dy-c5large-2 State=DOWN+CLOUD NodeAddr=10.77.1.4 Reason=airlock: instance terminated [root@2026-11-26T10:00:00]\n\
                   garbage\n";
        let n = parse_nodes(out);
        assert_eq!(n.len(), 2);
        assert!(n[0].is_powered_down() && !n[0].is_down());
        assert_eq!(n[1].addr, "10.77.1.4");
        assert!(n[1].is_down());
        assert_eq!(
            n[1].reason,
            "airlock: instance terminated [root@2026-11-26T10:00:00]"
        );
    }

    proptest::proptest! {
        /// Whatever `scontrol` prints, parsing never panics and keeps only
        /// lines with a node name.
        #[test]
        fn any_output_parses_without_panicking(text in "(\\PC{0,60}\n){0,6}", name in "[a-z0-9-]{1,20}") {
            let _ = parse_nodes(&text);
            let line = format!("NodeName={name} State=IDLE+CLOUD Reason=x{text}");
            let n = parse_nodes(&line);
            proptest::prop_assert!(n.first().is_some_and(|n| n.name == name && n.state == "IDLE"));
        }
    }
}
