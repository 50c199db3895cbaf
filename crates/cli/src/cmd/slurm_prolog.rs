//! `airlock slurm prolog` (PrologSlurmctld, run as `slurm_prolog`): holds a
//! job that waits for powered-up nodes until they have registered, then
//! returns. slurmctld launches a job whose slurmctld prolog has finished as
//! soon as its nodes are ready (`prolog_running_decr`), instead of at its
//! next periodic check (`PERIODIC_TIMEOUT`, 30 s), so a job starts about as
//! soon as its last node's slurmd registers. On nodes already up it returns
//! after one look; it gives up at ResumeTimeout, leaving Slurm to act.

use std::time::{Duration, Instant};

/// What one look at the job and its nodes says.
#[derive(Debug, PartialEq, Eq)]
pub enum Look {
    /// Nodes still booting: look again.
    Wait,
    /// The job may go (its nodes are up), or it is not ours to hold any
    /// more (no longer configuring, or a node failed: Slurm handles it).
    Done(&'static str),
}

/// A `Key=value` field of `scontrol … -o` output.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

/// Decides from `scontrol show job -o` and `scontrol show node -o` of its
/// nodes.
pub fn look(job: &str, nodes: &str) -> Look {
    match field(job, "JobState") {
        Some("CONFIGURING") => {}
        _ => return Look::Done("the job is no longer configuring"),
    }
    let states: Vec<&str> = nodes.lines().filter_map(|l| field(l, "State")).collect();
    if states.is_empty() {
        return Look::Wait;
    }
    let has = |s: &&str, flag: &str| s.split('+').any(|f| f == flag);
    // A node that failed is DOWN (or FAIL), or powered down again.
    if states
        .iter()
        .any(|s| s.starts_with("DOWN") || s.starts_with("FAIL") || has(s, "POWERING_DOWN"))
    {
        return Look::Done("a node of the job failed");
    }
    // Allocated but not yet resumed (ResumeProgram runs within a second),
    // booting, or not registered yet.
    if states
        .iter()
        .any(|s| has(s, "POWERED_DOWN") || has(s, "POWERING_UP") || has(s, "NOT_RESPONDING"))
    {
        return Look::Wait;
    }
    Look::Done("the job's nodes are up")
}

/// Runs the prolog; always exits 0 (a failing slurmctld prolog would
/// requeue or hold the job, which is Slurm's call, not ours).
pub fn run(scontrol: impl Fn(&[&str]) -> anyhow::Result<String>, resume_timeout: Duration) -> i32 {
    let Ok(job) = std::env::var("SLURM_JOB_ID") else {
        return 0;
    };
    let deadline = Instant::now() + resume_timeout;
    loop {
        let j = scontrol(&["show", "job", "-o", &job]).unwrap_or_default();
        let nodes = field(&j, "NodeList")
            .filter(|n| !n.is_empty() && *n != "(null)")
            .map(|n| scontrol(&["show", "node", "-o", n]).unwrap_or_default())
            .unwrap_or_default();
        if let Look::Done(_) = look(&j, &nodes) {
            return 0;
        }
        if Instant::now() > deadline {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CF: &str =
        "JobId=7 JobName=wrap JobState=CONFIGURING Reason=None NodeList=q-dy-c-[1-2] BatchFlag=1";

    #[test]
    fn a_job_waits_while_a_node_boots_and_goes_when_all_are_up() {
        // As slurmctld shows it: allocated, then resuming, then registered.
        let allocated = "NodeName=q-dy-c-1 State=MIXED+CLOUD+POWERED_DOWN\n";
        assert_eq!(look(CF, allocated), Look::Wait);
        let booting = "NodeName=q-dy-c-1 State=MIXED+CLOUD+NOT_RESPONDING+POWERING_UP\n\
                       NodeName=q-dy-c-2 State=ALLOCATED+CLOUD\n";
        assert_eq!(look(CF, booting), Look::Wait);
        let silent = "NodeName=q-dy-c-1 State=ALLOCATED+CLOUD+NOT_RESPONDING\n";
        assert_eq!(look(CF, silent), Look::Wait);
        let up = "NodeName=q-dy-c-1 State=ALLOCATED+CLOUD\nNodeName=q-dy-c-2 State=MIXED+CLOUD\n";
        assert_eq!(look(CF, up), Look::Done("the job's nodes are up"));
    }

    #[test]
    fn a_failed_node_or_a_job_past_configuring_is_left_to_slurm() {
        let down = "NodeName=q-dy-c-1 State=DOWN+CLOUD+POWERED_DOWN\n";
        assert_eq!(look(CF, down), Look::Done("a node of the job failed"));
        let running = CF.replace("CONFIGURING", "RUNNING");
        assert!(matches!(look(&running, ""), Look::Done(_)));
        assert!(matches!(look("", ""), Look::Done(_)));
        // Nodes not known yet: wait (the job has its nodes once allocated).
        assert_eq!(look(CF, ""), Look::Wait);
    }

    #[test]
    fn fields_match_whole_keys() {
        assert_eq!(field("ReqNodeList=a NodeList=b", "NodeList"), Some("b"));
        assert_eq!(
            field("JobStateX=1 JobState=RUNNING", "JobState"),
            Some("RUNNING")
        );
    }
}
