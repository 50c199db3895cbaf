//! The fleet manager's decisions, apart from its actions (issue #17): one
//! pass over a cluster is planned by [`plan`], a pure function of what the
//! pass observed (Slurm's nodes, the provider's instances, the static nodes
//! the configuration asks for, the time), and executed in order by
//! `fleet::reconcile`. Each action names the stack event it records.
//!
//! The plan is made from one observation, as the pass always acted: a later
//! step still sees the states from before the earlier steps acted (a dead
//! node just set DOWN is not also "reset"; an orphan just terminated still
//! counts as running).

use airlock_cluster::nodes::{NodeKind, groups, parse_node_name};
use airlock_cluster::provider::Instance;
use airlock_cluster::slurm_state::SlurmNode;
use airlock_config::model::{ClusterModel, ComputeType};

/// How long a new node may run before Slurm must know it as powered up.
pub const ORPHAN_GRACE_SECS: u64 = 20;

/// Starts every DOWN reason the fleet manager sets.
pub const REASON_PREFIX: &str = "airlock: ";

/// Why a static node with no running instance (and no dead one left to
/// clean up) is set DOWN before its replacement.
const MISSING_REASON: &str = "static node has no running instance";

/// The DOWN reasons slurmctld sets on a node whose slurmd misbehaves.
const SLURM_UNHEALTHY: [&str; 2] = ["Node unexpectedly rebooted", "Not responding"];

/// A compute instance as the provider describes it, as far as the plan
/// looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeInstance {
    pub instance_id: String,
    /// The Slurm node name.
    pub name: String,
    pub running: bool,
    /// Unix seconds.
    pub launched_at: u64,
}

impl From<&Instance> for ComputeInstance {
    fn from(i: &Instance) -> Self {
        ComputeInstance {
            instance_id: i.instance_id.clone(),
            name: i.name.clone(),
            running: i.is_running(),
            launched_at: i.launched_at,
        }
    }
}

/// A static node the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNode {
    pub name: String,
    pub queue: String,
    pub spot: bool,
}

/// Every static node of the configuration, queue by queue and compute
/// resource by compute resource, in the order they are replaced.
pub fn static_nodes(m: &ClusterModel) -> Vec<StaticNode> {
    let mut out = Vec::new();
    for q in &m.queues {
        let spot = q.compute_type.value == ComputeType::Spot;
        for cr in &q.compute_resources {
            for g in groups(q, cr).iter().filter(|g| g.kind == NodeKind::Static) {
                out.extend(g.names().map(|name| StaticNode {
                    name,
                    queue: q.name.clone(),
                    spot,
                }));
            }
        }
    }
    out
}

/// What one pass sees of a cluster.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Slurm's node states (`scontrol show nodes -o`).
    pub slurm: Vec<SlurmNode>,
    /// The cluster's compute instances on the provider, running or dead.
    pub instances: Vec<ComputeInstance>,
    /// The static nodes the configuration asks for; `None` when the stored
    /// configuration no longer loads, which ends the plan before the
    /// replacement step (the pass then fails with that error).
    pub static_nodes: Option<Vec<StaticNode>>,
    /// Unix seconds.
    pub now: u64,
    /// [`ORPHAN_GRACE_SECS`] outside tests.
    pub orphan_grace_secs: u64,
    /// The compute fleet is RUNNING; stopping or stopped, every node is
    /// powered down and none is replaced.
    pub fleet_running: bool,
}

impl Observation {
    fn slurm_node(&self, name: &str) -> Option<&SlurmNode> {
        self.slurm.iter().find(|s| s.name == name)
    }
    /// Whether an instance of node `name` is running.
    fn is_running(&self, name: &str) -> bool {
        self.instances.iter().any(|n| n.name == name && n.running)
    }
}

/// A stack event on a node (`AWS::EC2::Instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub status: &'static str,
    pub reason: String,
}

impl Event {
    fn new(status: &'static str, reason: impl Into<String>) -> Self {
        Event {
            status,
            reason: reason.into(),
        }
    }
}

/// The event of a static node relaunched as `instance_id`.
pub fn replaced(instance_id: &str) -> Event {
    Event::new(
        "REPLACED",
        format!("static node relaunched as {instance_id}"),
    )
}

/// The states the fleet manager sets with `scontrol update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlurmState {
    /// Slurm requeues the node's jobs.
    Down,
    /// Powered down at once, to be resumed on demand.
    PowerDownForce,
    /// Back in service (or, from `down~`, back to `idle~`).
    Resume,
}

impl SlurmState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlurmState::Down => "down",
            SlurmState::PowerDownForce => "power_down_force",
            SlurmState::Resume => "resume",
        }
    }
}

/// One thing a pass does. Terminations record their event first; Slurm
/// updates and launches record theirs once they succeeded. The first
/// failure ends the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The node's instance died: records `event`, then terminates what is
    /// left of the instance and forgets its identity.
    Forget {
        instance_id: String,
        name: String,
        event: Event,
    },
    /// A running orphan: records `event`, then terminates the instance and
    /// forgets its identity.
    TerminateInstance {
        instance_id: String,
        name: String,
        event: Event,
    },
    /// `scontrol update nodename=NODE state=STATE [reason=REASON]`, then
    /// records `event` if there is one.
    SetSlurmState {
        node: String,
        state: SlurmState,
        reason: Option<String>,
        event: Option<Event>,
    },
    /// Launches static node `name` in `queue`, then records
    /// [`replaced`] with the new instance's id.
    LaunchStaticNode {
        name: String,
        queue: String,
        spot: bool,
    },
}

impl Action {
    /// The node the action is about (the event's logical id).
    pub fn node(&self) -> &str {
        match self {
            Action::Forget { name, .. }
            | Action::TerminateInstance { name, .. }
            | Action::LaunchStaticNode { name, .. } => name,
            Action::SetSlurmState { node, .. } => node,
        }
    }
}

fn is_static(name: &str) -> bool {
    parse_node_name(name).is_some_and(|(_, k, ..)| k == NodeKind::Static)
}

fn is_dynamic(name: &str) -> bool {
    parse_node_name(name).is_some_and(|(_, k, ..)| k == NodeKind::Dynamic)
}

/// One pass over one cluster, as ParallelCluster's clustermgtd does it:
/// clean up dead nodes, terminate orphans, reset DOWN dynamic nodes,
/// replace missing static nodes, resume registered replacements.
pub fn plan(o: &Observation) -> Vec<Action> {
    let mut out = Vec::new();
    clean_up_dead_nodes(o, &mut out);
    terminate_orphans(o, &mut out);
    replace_unhealthy_nodes(o, &mut out);
    reset_down_dynamic_nodes(o, &mut out);
    if !o.fleet_running {
        power_down_every_node(o, &mut out);
        return out;
    }
    let Some(static_nodes) = &o.static_nodes else {
        return out;
    };
    replace_missing_static_nodes(o, static_nodes, &mut out);
    resume_registered_replacements(o, &mut out);
    out
}

/// Nodes whose instance died: forgets the instance and, if Slurm still has
/// the node up, sets it DOWN so Slurm requeues its jobs. A dynamic node is
/// then powered down (to be resumed on demand); a static one stays DOWN,
/// since a powering-down node would ignore its replacement's registration.
fn clean_up_dead_nodes(o: &Observation, out: &mut Vec<Action>) {
    for rec in o.instances.iter().filter(|r| !r.running) {
        let why = format!("instance {} terminated unexpectedly", rec.instance_id);
        out.push(Action::Forget {
            instance_id: rec.instance_id.clone(),
            name: rec.name.clone(),
            event: Event::new("TERMINATED", why.clone()),
        });
        // Slurm has it powered down already (or does not know it).
        if o.slurm_node(&rec.name).is_none_or(|s| s.is_powered_down()) {
            continue;
        }
        let reason = format!("{REASON_PREFIX}{why}");
        if is_static(&rec.name) {
            out.push(Action::SetSlurmState {
                node: rec.name.clone(),
                state: SlurmState::Down,
                reason: Some(reason),
                event: Some(Event::new(
                    "SLURM_DOWN",
                    "set DOWN so Slurm requeues its jobs; a replacement follows",
                )),
            });
        } else {
            // ParallelCluster's `set_nodes_down_and_power_save`.
            out.push(Action::SetSlurmState {
                node: rec.name.clone(),
                state: SlurmState::Down,
                reason: Some(reason.clone()),
                event: None,
            });
            out.push(Action::SetSlurmState {
                node: rec.name.clone(),
                state: SlurmState::PowerDownForce,
                reason: Some(reason),
                event: Some(Event::new(
                    "SLURM_DOWN",
                    "set DOWN so Slurm requeues its jobs, then powered down",
                )),
            });
        }
    }
}

/// Running dynamic nodes that Slurm has powered down (and is not powering
/// up) for longer than the grace period, as after a ResumeTimeout, are
/// orphans: terminated.
fn terminate_orphans(o: &Observation, out: &mut Vec<Action>) {
    for rec in o.instances.iter().filter(|r| r.running) {
        let powered_down = o
            .slurm_node(&rec.name)
            .is_some_and(|s| s.is_powered_down() && !s.is_powering_up());
        let age = o.now.saturating_sub(rec.launched_at);
        if is_dynamic(&rec.name) && powered_down && age > o.orphan_grace_secs {
            out.push(Action::TerminateInstance {
                instance_id: rec.instance_id.clone(),
                name: rec.name.clone(),
                event: Event::new(
                    "TERMINATED",
                    format!(
                        "orphan {}: Slurm has the node powered down",
                        rec.instance_id
                    ),
                ),
            });
        }
    }
}

/// Running nodes that Slurm set DOWN (not powering down), e.g. "Node
/// unexpectedly rebooted" after a slurmctld restart lost their resume, are
/// unhealthy, as ParallelCluster's clustermgtd has it: the instance is
/// terminated (Slurm requeues its jobs). A dynamic node is powered down, to
/// be resumed on demand; a static one is set DOWN with our reason, so its
/// replacement is resumed once it registers, but only for a reason Slurm
/// sets (an admin's DOWN is theirs). Nodes we set DOWN are left alone:
/// they are being replaced.
fn replace_unhealthy_nodes(o: &Observation, out: &mut Vec<Action>) {
    for s in o.slurm.iter().filter(|s| {
        s.state == "DOWN"
            && !s.is_powered_down()
            && !s.is_powering_up()
            && !s.reason.starts_with(REASON_PREFIX)
    }) {
        let Some(rec) = o.instances.iter().find(|i| i.name == s.name && i.running) else {
            continue;
        };
        // A new node is left the grace period to register.
        if o.now.saturating_sub(rec.launched_at) <= o.orphan_grace_secs {
            continue;
        }
        let why = format!("unhealthy: Slurm has it DOWN ({})", s.reason);
        let (state, what) = if is_dynamic(&s.name) {
            (
                SlurmState::PowerDownForce,
                "powered down, to be resumed on demand",
            )
        } else if is_static(&s.name) && SLURM_UNHEALTHY.iter().any(|r| s.reason.starts_with(r)) {
            (SlurmState::Down, "kept DOWN; a replacement follows")
        } else {
            continue;
        };
        out.push(Action::TerminateInstance {
            instance_id: rec.instance_id.clone(),
            name: rec.name.clone(),
            event: Event::new("TERMINATED", format!("{} {why}", rec.instance_id)),
        });
        out.push(Action::SetSlurmState {
            node: s.name.clone(),
            state,
            reason: Some(format!("{REASON_PREFIX}{why}")),
            event: Some(Event::new("SLURM_DOWN", what)),
        });
    }
}

/// Dynamic nodes Slurm still has DOWN with no instance go back to idle~:
/// `down~` needs `resume`, a plain DOWN `power_down_force`; one already
/// powering down is left to finish.
fn reset_down_dynamic_nodes(o: &Observation, out: &mut Vec<Action>) {
    for s in o.slurm.iter().filter(|s| s.state == "DOWN") {
        if !is_dynamic(&s.name) || o.is_running(&s.name) {
            continue;
        }
        let to = if s.has("POWERED_DOWN") {
            SlurmState::Resume
        } else if s.has("POWERING_DOWN") {
            continue;
        } else {
            SlurmState::PowerDownForce
        };
        out.push(Action::SetSlurmState {
            node: s.name.clone(),
            state: to,
            reason: None,
            event: Some(Event::new(
                "SLURM_RESET",
                format!(
                    "DOWN without an instance ({}); back to powered down",
                    s.reason
                ),
            )),
        });
    }
}

/// The fleet is stopping (`airlock stop`): every node that is up, or on its
/// way up, is powered down at once; Slurm requeues its jobs and calls
/// SuspendProgram, which terminates its instance.
fn power_down_every_node(o: &Observation, out: &mut Vec<Action>) {
    for s in &o.slurm {
        if s.has("POWERED_DOWN") && !s.is_powering_up() || s.has("POWERING_DOWN") {
            continue;
        }
        out.push(Action::SetSlurmState {
            node: s.name.clone(),
            state: SlurmState::PowerDownForce,
            reason: None,
            event: Some(Event::new(
                "SLURM_POWER_DOWN",
                "the compute fleet is stopping",
            )),
        });
    }
}

/// Whether a stopping fleet is stopped: every node powered down and no
/// instance running.
pub fn fleet_is_stopped(o: &Observation) -> bool {
    o.instances.iter().all(|i| !i.running)
        && o.slurm
            .iter()
            .all(|s| s.has("POWERED_DOWN") && !s.has("POWERING_DOWN") && !s.is_powering_up())
}

/// Static nodes are always on: launches every one that has no running
/// instance. One Slurm still has up is set DOWN first (unless this pass
/// does so already), so the replacement's registration is not read as
/// "Node unexpectedly rebooted" and is resumed once it registers.
fn replace_missing_static_nodes(o: &Observation, wanted: &[StaticNode], out: &mut Vec<Action>) {
    for n in wanted.iter().filter(|n| !o.is_running(&n.name)) {
        let set_here = out
            .iter()
            .any(|a| matches!(a, Action::SetSlurmState { node, .. } if *node == n.name));
        let replacing = |s: &SlurmNode| s.state == "DOWN" && s.reason.starts_with(REASON_PREFIX);
        let up = o
            .slurm_node(&n.name)
            .is_some_and(|s| !s.is_powered_down() && !replacing(s));
        if up && !set_here {
            out.push(Action::SetSlurmState {
                node: n.name.clone(),
                state: SlurmState::Down,
                reason: Some(format!("{REASON_PREFIX}{MISSING_REASON}")),
                event: Some(Event::new(
                    "SLURM_DOWN",
                    "set DOWN so Slurm requeues its jobs; a replacement follows",
                )),
            });
        }
        out.push(Action::LaunchStaticNode {
            name: n.name.clone(),
            queue: n.queue.clone(),
            spot: n.spot,
        });
    }
}

/// A replacement whose slurmd has registered (still DOWN with our reason,
/// no longer NOT_RESPONDING) goes back into service: ReturnToService=1
/// leaves nodes we set DOWN alone.
fn resume_registered_replacements(o: &Observation, out: &mut Vec<Action>) {
    for s in o.slurm.iter().filter(|s| {
        s.state == "DOWN"
            && !s.has("NOT_RESPONDING")
            && s.reason.starts_with(REASON_PREFIX)
            && is_static(&s.name)
    }) {
        if o.is_running(&s.name) {
            out.push(Action::SetSlurmState {
                node: s.name.clone(),
                state: SlurmState::Resume,
                reason: None,
                event: Some(Event::new(
                    "SLURM_RESUMED",
                    "the replacement registered; back in service",
                )),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;
    const DY: &str = "q-dy-c5large-1";
    const DY2: &str = "q-dy-c5large-2";
    const ST: &str = "q-st-c5large-1";
    const ST2: &str = "q-st-c5large-2";

    /// A Slurm node from `scontrol`'s `State=` field (`DOWN+CLOUD+POWERED_DOWN`).
    fn slurm(name: &str, state: &str, reason: &str) -> SlurmNode {
        let mut parts = state.split('+');
        SlurmNode {
            name: name.into(),
            state: parts.next().unwrap().into(),
            flags: parts.map(str::to_owned).collect(),
            addr: name.into(),
            reason: reason.into(),
        }
    }

    fn running(name: &str, id: &str, age: u64) -> ComputeInstance {
        ComputeInstance {
            instance_id: id.into(),
            name: name.into(),
            running: true,
            launched_at: NOW - age,
        }
    }

    fn dead(name: &str, id: &str) -> ComputeInstance {
        ComputeInstance {
            running: false,
            ..running(name, id, 600)
        }
    }

    fn wanted(name: &str) -> StaticNode {
        StaticNode {
            name: name.into(),
            queue: "q".into(),
            spot: false,
        }
    }

    /// A pass with no static nodes configured (unless a test adds them).
    fn seen(slurm: Vec<SlurmNode>, instances: Vec<ComputeInstance>) -> Observation {
        Observation {
            slurm,
            instances,
            static_nodes: Some(vec![]),
            now: NOW,
            orphan_grace_secs: ORPHAN_GRACE_SECS,
            fleet_running: true,
        }
    }

    fn with_static(mut o: Observation, names: &[&str]) -> Observation {
        o.static_nodes = Some(names.iter().map(|n| wanted(n)).collect());
        o
    }

    fn forget(name: &str, id: &str) -> Action {
        Action::Forget {
            instance_id: id.into(),
            name: name.into(),
            event: Event::new(
                "TERMINATED",
                format!("instance {id} terminated unexpectedly"),
            ),
        }
    }

    fn set(node: &str, state: SlurmState, reason: Option<&str>, event: Option<Event>) -> Action {
        Action::SetSlurmState {
            node: node.into(),
            state,
            reason: reason.map(str::to_owned),
            event,
        }
    }

    fn launch(name: &str) -> Action {
        Action::LaunchStaticNode {
            name: name.into(),
            queue: "q".into(),
            spot: false,
        }
    }

    fn resume_event() -> Option<Event> {
        Some(Event::new(
            "SLURM_RESUMED",
            "the replacement registered; back in service",
        ))
    }

    fn reset_event(reason: &str) -> Option<Event> {
        Some(Event::new(
            "SLURM_RESET",
            format!("DOWN without an instance ({reason}); back to powered down"),
        ))
    }

    const DEAD_REASON: &str = "airlock: instance i-dead terminated unexpectedly";

    #[test]
    fn a_healthy_cluster_needs_nothing() {
        let o = with_static(
            seen(
                vec![
                    slurm(ST, "IDLE", ""),
                    slurm(DY, "ALLOCATED+CLOUD", ""),
                    slurm(DY2, "IDLE+CLOUD+POWERED_DOWN", ""),
                ],
                vec![running(ST, "i-st", 3600), running(DY, "i-dy", 3600)],
            ),
            &[ST],
        );
        assert_eq!(plan(&o), vec![]);
        assert_eq!(plan(&Observation::default()), vec![]);
    }

    #[test]
    fn a_dead_dynamic_node_slurm_has_up_is_forgotten_set_down_and_powered_down() {
        for state in ["ALLOCATED+CLOUD", "IDLE+CLOUD", "MIXED+CLOUD+POWERING_UP"] {
            let o = seen(vec![slurm(DY, state, "")], vec![dead(DY, "i-dead")]);
            assert_eq!(
                plan(&o),
                vec![
                    forget(DY, "i-dead"),
                    set(DY, SlurmState::Down, Some(DEAD_REASON), None),
                    set(
                        DY,
                        SlurmState::PowerDownForce,
                        Some(DEAD_REASON),
                        Some(Event::new(
                            "SLURM_DOWN",
                            "set DOWN so Slurm requeues its jobs, then powered down"
                        ))
                    ),
                ],
                "{state}"
            );
        }
    }

    #[test]
    fn a_dead_static_node_is_set_down_only_and_relaunched() {
        let o = with_static(
            seen(vec![slurm(ST, "ALLOCATED", "")], vec![dead(ST, "i-dead")]),
            &[ST],
        );
        assert_eq!(
            plan(&o),
            vec![
                forget(ST, "i-dead"),
                set(
                    ST,
                    SlurmState::Down,
                    Some(DEAD_REASON),
                    Some(Event::new(
                        "SLURM_DOWN",
                        "set DOWN so Slurm requeues its jobs; a replacement follows"
                    ))
                ),
                launch(ST),
            ]
        );
    }

    #[test]
    fn a_dead_node_slurm_has_powered_down_or_does_not_know_is_only_forgotten() {
        for state in [
            "IDLE+CLOUD+POWERED_DOWN",
            "IDLE+CLOUD+POWERING_DOWN",
            "DOWN+CLOUD+POWERING_DOWN",
        ] {
            let o = seen(vec![slurm(DY, state, "")], vec![dead(DY, "i-dead")]);
            assert_eq!(plan(&o), vec![forget(DY, "i-dead")], "{state}");
        }
        let o = seen(vec![], vec![dead(DY, "i-dead")]);
        assert_eq!(plan(&o), vec![forget(DY, "i-dead")]);
    }

    #[test]
    fn a_powered_down_dynamic_node_still_running_past_the_grace_is_an_orphan() {
        for state in ["IDLE+CLOUD+POWERED_DOWN", "IDLE+CLOUD+POWERING_DOWN"] {
            let o = seen(
                vec![slurm(DY, state, "")],
                vec![running(DY, "i-orphan", ORPHAN_GRACE_SECS + 1)],
            );
            assert_eq!(
                plan(&o),
                vec![Action::TerminateInstance {
                    instance_id: "i-orphan".into(),
                    name: DY.into(),
                    event: Event::new(
                        "TERMINATED",
                        "orphan i-orphan: Slurm has the node powered down"
                    ),
                }],
                "{state}"
            );
        }
    }

    #[test]
    fn no_orphan_within_the_grace_while_powering_up_or_for_static_nodes() {
        let cases = [
            // Within the grace (the boundary included).
            (DY, "IDLE+CLOUD+POWERED_DOWN", 0),
            (DY, "IDLE+CLOUD+POWERED_DOWN", ORPHAN_GRACE_SECS),
            // Slurm is resuming it.
            (DY, "IDLE+CLOUD+POWERED_DOWN+POWERING_UP", 3600),
            // Slurm has it up.
            (DY, "IDLE+CLOUD", 3600),
            // A static node is never an orphan.
            (ST, "IDLE+CLOUD+POWERED_DOWN", 3600),
        ];
        for (name, state, age) in cases {
            let o = seen(
                vec![slurm(name, state, "")],
                vec![running(name, "i-1", age)],
            );
            assert_eq!(plan(&o), vec![], "{name} {state} {age}");
        }
        // Unknown to Slurm: not powered down in its eyes.
        let o = seen(vec![], vec![running(DY, "i-1", 3600)]);
        assert_eq!(plan(&o), vec![]);
        // A launch time in the future is age 0.
        let mut o = seen(
            vec![slurm(DY, "IDLE+CLOUD+POWERED_DOWN", "")],
            vec![running(DY, "i-1", 0)],
        );
        o.instances[0].launched_at = NOW + 100;
        assert_eq!(plan(&o), vec![]);
    }

    #[test]
    fn a_down_dynamic_node_without_an_instance_goes_back_to_idle_powered_down() {
        let r = "airlock: instance i-x terminated unexpectedly [root@2026-11-26T10:00:00]";
        let o = seen(vec![slurm(DY, "DOWN+CLOUD", r)], vec![]);
        assert_eq!(
            plan(&o),
            vec![set(DY, SlurmState::PowerDownForce, None, reset_event(r))]
        );
        // `down~` needs `resume`.
        let o = seen(vec![slurm(DY, "DOWN+CLOUD+POWERED_DOWN", "x")], vec![]);
        assert_eq!(
            plan(&o),
            vec![set(DY, SlurmState::Resume, None, reset_event("x"))]
        );
        // A dead instance does not count.
        let o = seen(
            vec![slurm(DY, "DOWN+CLOUD", "x")],
            vec![dead(DY2, "i-other")],
        );
        assert_eq!(
            plan(&o),
            vec![
                forget(DY2, "i-other"),
                set(DY, SlurmState::PowerDownForce, None, reset_event("x")),
            ]
        );
    }

    #[test]
    fn down_nodes_that_are_not_reset() {
        let cases = [
            // Already on its way to powered down.
            (slurm(DY, "DOWN+CLOUD+POWERING_DOWN", "x"), vec![]),
            // It has a new running instance (one past the grace period
            // is unhealthy, and replaced).
            (slurm(DY, "DOWN+CLOUD", "x"), vec![running(DY, "i-1", 5)]),
            // Static nodes are replaced, not reset.
            (slurm(ST, "DOWN+CLOUD", "x"), vec![]),
            // Not a compute node name.
            (slurm("head", "DOWN", "x"), vec![]),
        ];
        for (node, instances) in cases {
            let what = format!("{node:?}");
            let o = seen(vec![node], instances);
            assert_eq!(plan(&o), vec![], "{what}");
        }
    }

    #[test]
    fn missing_static_nodes_are_launched_in_the_configured_order() {
        let mut o = with_static(
            seen(
                vec![slurm(ST, "IDLE", ""), slurm(ST2, "IDLE", "")],
                vec![running(ST2, "i-2", 60), dead(ST, "i-old")],
            ),
            &[],
        );
        o.static_nodes = Some(vec![
            wanted(ST),
            wanted(ST2),
            StaticNode {
                name: "spot-st-c5large-1".into(),
                queue: "spot".into(),
                spot: true,
            },
        ]);
        let actions = plan(&o);
        assert_eq!(
            actions[actions.len() - 2..],
            [
                launch(ST),
                Action::LaunchStaticNode {
                    name: "spot-st-c5large-1".into(),
                    queue: "spot".into(),
                    spot: true,
                },
            ]
        );
        // A node with any running instance is not relaunched, even next
        // to a dead one.
        let o = with_static(
            seen(vec![], vec![dead(ST, "i-old"), running(ST, "i-new", 1)]),
            &[ST],
        );
        assert_eq!(plan(&o), vec![forget(ST, "i-old")]);
    }

    #[test]
    fn a_static_node_slurm_has_up_with_no_instance_is_set_down_before_its_replacement() {
        // The dead instance was forgotten by an earlier pass whose DOWN
        // failed: the node is still up in Slurm, or DOWN for another reason.
        let why = format!("{REASON_PREFIX}{MISSING_REASON}");
        let down = set(
            ST,
            SlurmState::Down,
            Some(&why),
            Some(Event::new(
                "SLURM_DOWN",
                "set DOWN so Slurm requeues its jobs; a replacement follows",
            )),
        );
        for (state, reason) in [
            ("IDLE", ""),
            ("ALLOCATED+NOT_RESPONDING", ""),
            ("DOWN", "Not responding"),
        ] {
            let o = with_static(seen(vec![slurm(ST, state, reason)], vec![]), &[ST]);
            assert_eq!(plan(&o), vec![down.clone(), launch(ST)], "{state}");
        }
        // Already DOWN with our reason, powered down, or unknown to Slurm:
        // launched only.
        for node in [
            vec![slurm(ST, "DOWN", DEAD_REASON)],
            vec![slurm(ST, "IDLE+CLOUD+POWERED_DOWN", "")],
            vec![],
        ] {
            let o = with_static(seen(node.clone(), vec![]), &[ST]);
            assert_eq!(plan(&o), vec![launch(ST)], "{node:?}");
        }
    }

    #[test]
    fn a_registered_replacement_is_resumed() {
        let o = with_static(
            seen(
                vec![slurm(ST, "DOWN", DEAD_REASON)],
                vec![running(ST, "i-new", 30)],
            ),
            &[ST],
        );
        assert_eq!(
            plan(&o),
            vec![set(ST, SlurmState::Resume, None, resume_event())]
        );
    }

    #[test]
    fn replacements_that_are_not_resumed() {
        let cases = [
            // Its slurmd has not registered yet.
            (slurm(ST, "DOWN+NOT_RESPONDING", DEAD_REASON), true),
            // Someone else set it DOWN.
            (slurm(ST, "DOWN", "maintenance [admin@2026-11-26]"), true),
            // Not DOWN any more.
            (slurm(ST, "IDLE", DEAD_REASON), true),
            // Dynamic nodes are reset (or left alone while running), not
            // resumed.
            (slurm(DY, "DOWN+CLOUD", DEAD_REASON), true),
        ];
        for (node, has_instance) in cases {
            let what = format!("{node:?}");
            let name = node.name.clone();
            // (A dynamic one past the grace period would be replaced.)
            let age = if name == DY { 5 } else { 30 };
            let instances = if has_instance {
                vec![running(&name, "i-new", age)]
            } else {
                vec![]
            };
            let wanted: &[&str] = if name == ST { &[ST] } else { &[] };
            let o = with_static(seen(vec![node], instances), wanted);
            assert_eq!(plan(&o), vec![], "{what}");
        }
        // No running replacement yet: it is launched, not resumed.
        let o = with_static(seen(vec![slurm(ST, "DOWN", DEAD_REASON)], vec![]), &[ST]);
        assert_eq!(plan(&o), vec![launch(ST)]);
    }

    #[test]
    fn a_configuration_that_no_longer_loads_ends_the_plan_before_replacing() {
        let mut o = seen(
            vec![
                slurm(ST, "DOWN", DEAD_REASON),
                slurm(ST2, "ALLOCATED", ""),
                slurm(DY, "DOWN+CLOUD", "x"),
            ],
            vec![running(ST, "i-new", 30), dead(ST2, "i-dead")],
        );
        o.static_nodes = None;
        assert_eq!(
            plan(&o),
            vec![
                forget(ST2, "i-dead"),
                set(
                    ST2,
                    SlurmState::Down,
                    Some(DEAD_REASON),
                    Some(Event::new(
                        "SLURM_DOWN",
                        "set DOWN so Slurm requeues its jobs; a replacement follows"
                    ))
                ),
                set(DY, SlurmState::PowerDownForce, None, reset_event("x")),
            ]
        );
    }

    /// All five steps in one pass, in their order, each judged on the
    /// states from before the pass acted.
    #[test]
    fn one_pass_acts_step_by_step_on_one_observation() {
        let o = with_static(
            seen(
                vec![
                    slurm(ST, "ALLOCATED", ""),
                    slurm(ST2, "DOWN", DEAD_REASON),
                    slurm(DY, "ALLOCATED+CLOUD", ""),
                    // An orphan that is also DOWN: terminated, and not reset
                    // in the same pass, since it still counts as running.
                    slurm(DY2, "DOWN+CLOUD+POWERED_DOWN", "x"),
                    slurm("q-dy-c5large-3", "DOWN+CLOUD", "y"),
                ],
                vec![
                    dead(DY, "i-dead"),
                    dead(ST, "i-dead"),
                    running(DY2, "i-orphan", 3600),
                    running(ST2, "i-new", 30),
                ],
            ),
            &[ST, ST2],
        );
        let actions = plan(&o);
        let steps: Vec<(&str, &str)> = actions
            .iter()
            .map(|a| {
                let what = match a {
                    Action::Forget { .. } => "forget",
                    Action::TerminateInstance { .. } => "terminate",
                    Action::SetSlurmState { state, .. } => state.as_str(),
                    Action::LaunchStaticNode { .. } => "launch",
                };
                (a.node(), what)
            })
            .collect();
        assert_eq!(
            steps,
            [
                (DY, "forget"),
                (DY, "down"),
                (DY, "power_down_force"),
                (ST, "forget"),
                (ST, "down"),
                (DY2, "terminate"),
                ("q-dy-c5large-3", "power_down_force"),
                (ST, "launch"),
                (ST2, "resume"),
            ]
        );
    }

    #[test]
    fn static_nodes_come_from_the_configuration() {
        let ini = "[aws]\naws_region_name = us-east-1\n\n[global]\ncluster_template = default\n\n\
[cluster default]\nscheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nqueue_settings = q, spot\n\n\
[vpc v]\nvpc_id = vpc-0123456789abcdef0\nmaster_subnet_id = subnet-0123456789abcdef0\n\n\
[queue q]\ncompute_resource_settings = cr\n\n\
[queue spot]\ncompute_type = spot\ncompute_resource_settings = small, none\n\n\
[compute_resource cr]\ninstance_type = c5.large\nmin_count = 2\nmax_count = 4\n\n\
[compute_resource small]\ninstance_type = t2.micro\nmin_count = 1\nmax_count = 1\n\n\
[compute_resource none]\ninstance_type = c5.xlarge\nmin_count = 0\nmax_count = 2\n";
        let report = airlock_config::load(ini, "static.ini", None, None);
        let m = report.model.expect("the configuration loads");
        let node = |name: &str, queue: &str, spot| StaticNode {
            name: name.into(),
            queue: queue.into(),
            spot,
        };
        assert_eq!(
            static_nodes(&m),
            vec![
                node("q-st-c5large-1", "q", false),
                node("q-st-c5large-2", "q", false),
                node("spot-st-t2micro-1", "spot", true),
            ]
        );
    }

    #[test]
    fn a_stopping_fleet_powers_every_node_down_and_replaces_none() {
        let mut o = with_static(
            seen(
                vec![
                    slurm(ST, "ALLOCATED+CLOUD", ""),
                    slurm(DY, "IDLE+CLOUD+POWERED_DOWN", ""),
                    slurm(DY2, "MIXED+CLOUD+POWERING_UP", ""),
                    slurm(ST2, "IDLE+CLOUD+POWERING_DOWN", ""),
                ],
                vec![running(ST, "i-1", 600), running(DY2, "i-2", 5)],
            ),
            &[ST, ST2],
        );
        o.fleet_running = false;
        let actions = plan(&o);
        let nodes: Vec<&str> = actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::SetSlurmState {
                        state: SlurmState::PowerDownForce,
                        ..
                    }
                )
            })
            .map(Action::node)
            .collect();
        assert_eq!(nodes, [ST, DY2]);
        assert!(
            !plan(&o)
                .iter()
                .any(|a| matches!(a, Action::LaunchStaticNode { .. }))
        );
        assert!(!fleet_is_stopped(&o));
        let done = Observation {
            slurm: vec![
                slurm(ST, "IDLE+CLOUD+POWERED_DOWN", ""),
                slurm(DY, "IDLE+CLOUD+POWERED_DOWN", ""),
            ],
            instances: vec![dead(ST, "i-1")],
            ..o
        };
        assert!(fleet_is_stopped(&done));
    }

    #[test]
    fn a_running_dynamic_node_slurm_set_down_is_replaced() {
        let o = seen(
            vec![
                slurm(DY, "DOWN+CLOUD", "Node unexpectedly rebooted"),
                slurm(DY2, "DOWN+CLOUD+POWERING_DOWN", "ResumeTimeout"),
            ],
            vec![running(DY, "i-1", 30), running(DY2, "i-2", 5)],
        );
        let actions = plan(&o);
        assert!(
            matches!(&actions[0], Action::TerminateInstance { instance_id, .. } if instance_id == "i-1"),
            "{actions:?}"
        );
        assert!(matches!(
            &actions[1],
            Action::SetSlurmState { node, state: SlurmState::PowerDownForce, .. } if node == DY
        ));
        assert_eq!(
            actions.len(),
            2,
            "the node powering down is Slurm's: {actions:?}"
        );
    }

    #[test]
    fn a_running_static_node_slurm_set_down_is_replaced_and_one_we_set_down_is_not() {
        let why = "airlock: unhealthy: Slurm has it DOWN (Node unexpectedly rebooted)";
        let o = with_static(
            seen(
                vec![slurm(ST, "DOWN", "Node unexpectedly rebooted")],
                vec![running(ST, "i-1", 30)],
            ),
            &[ST],
        );
        assert_eq!(
            plan(&o),
            vec![
                Action::TerminateInstance {
                    instance_id: "i-1".into(),
                    name: ST.into(),
                    event: Event::new(
                        "TERMINATED",
                        "i-1 unhealthy: Slurm has it DOWN (Node unexpectedly rebooted)"
                    ),
                },
                set(
                    ST,
                    SlurmState::Down,
                    Some(why),
                    Some(Event::new("SLURM_DOWN", "kept DOWN; a replacement follows"))
                ),
            ]
        );
        // Within the grace, or DOWN with our reason (a replacement waiting
        // to register): left alone.
        for (reason, age) in [("Node unexpectedly rebooted", 5), (why, 30)] {
            let o = with_static(
                seen(
                    vec![slurm(ST, "DOWN+NOT_RESPONDING", reason)],
                    vec![running(ST, "i-1", age)],
                ),
                &[ST],
            );
            assert_eq!(plan(&o), vec![], "{reason} {age}");
        }
    }
}
