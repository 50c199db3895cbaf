//! Many agents in one process, for the agent-scale benchmark. Each one goes
//! through the agent's own code: it redeems an activation with a fresh key
//! pair (`register::redeem`), dials the control channel with the certificate
//! the server issued (`dial::node_tls_config`, `control::open`, the
//! agent's Hello), and heartbeats with the agent's `Ping`. The simulator
//! times each Ping until its Pong; it runs no sessions.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_agent::control::{self, Handshake};
use airlock_agent::register::{self, Registration};
use airlock_proto::control::{self as proto, AgentMessage, Decoded, ServerMessage};
use airlock_transport::dial;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Heartbeats sent this long before the end and still unanswered are not
/// counted as unanswered: their Pong may be on its way.
const GRACE: Duration = Duration::from_secs(5);
/// A dial and handshake that takes longer than this is a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// How many failure messages the report keeps.
const KEPT_FAILURES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("give at least one activation (--activation ID:CODE)")]
    NoActivation,
    #[error("an activation is written ID:CODE, not {0:?}")]
    BadActivation(String),
    #[error("cannot build the HTTPS client for registration: {0}")]
    Client(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An activation to redeem: its id and code.
#[derive(Debug, Clone)]
pub struct Activation {
    pub id: String,
    pub code: String,
}

impl std::str::FromStr for Activation {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s.split_once(':') {
            Some((id, code)) if !id.is_empty() && !code.is_empty() => Ok(Activation {
                id: id.to_owned(),
                code: code.to_owned(),
            }),
            _ => Err(SimError::BadActivation(s.to_owned())),
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://host:port` of the server.
    pub endpoint: String,
    /// The server's CA, as PEM.
    pub ca_pem: Vec<u8>,
    /// Agent `k` redeems `activations[k % len]`.
    pub activations: Vec<Activation>,
    pub agents: usize,
    /// Registrations, and dials with their TLS handshakes, in flight at once.
    pub concurrency: usize,
    /// Heartbeat interval; `None` uses the server's (`PingIntervalSecs`), as the agent does.
    pub interval: Option<Duration>,
    /// How long to hold the connections once every agent has connected or
    /// failed; `None` holds until `stop` resolves.
    pub hold: Option<Duration>,
    /// Written (JSON: connected, failures) once every agent has connected or failed.
    pub ready_file: Option<PathBuf>,
}

/// Heartbeat round trips, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let rank = |p: f64| {
            let i = (p * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        Latency {
            count: samples.len(),
            p50: ms(rank(0.50)),
            p99: ms(rank(0.99)),
            max: ms(samples[samples.len() - 1]),
        }
    }
}

/// What the simulator prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub agents: usize,
    pub registered: usize,
    /// Agents whose control channel was open from the ready point to the end.
    pub connected: usize,
    /// Agents not connected at the end, for whatever reason.
    pub failures: usize,
    /// `register`, `connect`, `refused`, `lost`: how many agents each.
    pub failure_kinds: BTreeMap<String, usize>,
    /// The first few failure messages.
    pub failure_examples: Vec<String>,
    pub interval_secs: f64,
    /// Round trips of the heartbeats sent while holding (every agent up).
    pub heartbeat_ms: Latency,
    /// Round trips of the heartbeats sent while others were still connecting.
    pub ramp_heartbeat_ms: Latency,
    /// Heartbeats with no answer (ignoring those sent in the last 5 s).
    pub unanswered: usize,
    pub register_secs: f64,
    pub connect_secs: f64,
    pub hold_secs: f64,
    pub elapsed_secs: f64,
}

enum End {
    /// Connected until told to stop.
    Held,
    Connect(String),
    Refused(String),
    Lost(String),
}

struct AgentRun {
    end: End,
    /// When each answered heartbeat was sent, and its round trip.
    samples: Vec<(Instant, Duration)>,
    /// Send times of heartbeats still without a Pong.
    pending: VecDeque<Instant>,
}

struct Failures {
    kinds: BTreeMap<String, usize>,
    examples: Vec<String>,
}

impl Failures {
    fn add(&mut self, kind: &str, msg: String) {
        *self.kinds.entry(kind.to_owned()).or_default() += 1;
        if self.examples.len() < KEPT_FAILURES {
            self.examples.push(format!("{kind}: {msg}"));
        }
    }
    fn total(&self) -> usize {
        self.kinds.values().sum()
    }
}

fn progress(msg: std::fmt::Arguments) {
    eprintln!("airlock-agent-sim: {msg}");
}

/// Registers `opts.agents` identities, connects them all, holds them while
/// they heartbeat, and reports. Returns early (still reporting) when
/// `stop` resolves.
pub async fn run(
    opts: Options,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Report, SimError> {
    if opts.activations.is_empty() {
        return Err(SimError::NoActivation);
    }
    tokio::pin!(stop);
    let started = Instant::now();
    let opts = Arc::new(opts);
    let gate = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut failures = Failures {
        kinds: BTreeMap::new(),
        examples: Vec::new(),
    };

    // 1. Registration: one key pair and one activation redemption each.
    let http =
        register::http_client(&opts.ca_pem).map_err(|e| SimError::Client(format!("{e:#}")))?;
    let mut regs = JoinSet::new();
    for k in 0..opts.agents {
        let (opts, gate, http) = (opts.clone(), gate.clone(), http.clone());
        regs.spawn(async move {
            let _permit = gate.acquire().await;
            let a = &opts.activations[k % opts.activations.len()];
            (
                k,
                register::redeem(&http, &opts.endpoint, &a.id, &a.code).await,
            )
        });
    }
    let mut identities: Vec<(usize, Registration)> = Vec::with_capacity(opts.agents);
    while let Some(r) = regs.join_next().await {
        match r {
            Ok((k, Ok(reg))) => identities.push((k, reg)),
            Ok((_, Err(e))) => failures.add("register", format!("{e:#}")),
            Err(e) => failures.add("register", e.to_string()),
        }
    }
    identities.sort_by_key(|(k, _)| *k);
    let registered = identities.len();
    let register_secs = started.elapsed().as_secs_f64();
    progress(format_args!(
        "registered {registered} of {} in {register_secs:.1} s",
        opts.agents
    ));

    // 2. Connection: every agent dials; the gate bounds handshakes in flight.
    let connect_start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<bool>();
    let mut agents = JoinSet::new();
    for (k, reg) in identities {
        agents.spawn(agent(
            k,
            reg,
            opts.clone(),
            gate.clone(),
            up_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(up_tx);
    let mut up = 0usize;
    let mut stopped = false;
    loop {
        tokio::select! {
            m = up_rx.recv() => match m {
                Some(ok) => up += usize::from(ok),
                None => break,
            },
            _ = &mut stop => { stopped = true; break; }
        }
    }
    let ready_at = Instant::now();
    let connect_secs = (ready_at - connect_start).as_secs_f64();
    progress(format_args!(
        "connected {up} of {registered} in {connect_secs:.1} s"
    ));
    if let Some(path) = &opts.ready_file {
        let body = serde_json::json!({"connected": up, "failures": opts.agents - up});
        write_atomically(path, body.to_string().as_bytes())?;
    }

    // 3. Hold.
    if !stopped {
        match opts.hold {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = &mut stop => {}
                }
            }
            None => stop.await,
        }
    }
    let end = Instant::now();
    let _ = stop_tx.send(true);
    let mut hold = Vec::new();
    let mut ramp = Vec::new();
    let mut unanswered = 0;
    let mut connected = 0;
    let mut interval = opts.interval;
    while let Some(r) = agents.join_next().await {
        let (run, iv) = match r {
            Ok(v) => v,
            Err(e) => {
                failures.add("lost", format!("agent task failed: {e}"));
                continue;
            }
        };
        interval = interval.or(iv);
        match run.end {
            End::Held => connected += 1,
            End::Connect(m) => failures.add("connect", m),
            End::Refused(m) => failures.add("refused", m),
            End::Lost(m) => failures.add("lost", m),
        }
        for (sent, rtt) in run.samples {
            if sent >= ready_at {
                hold.push(rtt);
            } else {
                ramp.push(rtt);
            }
        }
        unanswered += run.pending.iter().filter(|t| end - **t > GRACE).count();
    }
    let report = Report {
        agents: opts.agents,
        registered,
        connected,
        failures: failures.total(),
        failure_kinds: failures.kinds,
        failure_examples: failures.examples,
        interval_secs: interval.map_or(0.0, |d| d.as_secs_f64()),
        heartbeat_ms: Latency::of(hold),
        ramp_heartbeat_ms: Latency::of(ramp),
        unanswered,
        register_secs,
        connect_secs,
        hold_secs: (end - ready_at).as_secs_f64(),
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    Ok(report)
}

fn write_atomically(path: &std::path::Path, data: &[u8]) -> Result<(), SimError> {
    let err = |source| SimError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// One agent: dial, say Hello, then heartbeat until told to stop. Sends
/// on `up` once: whether it connected. Returns its run and the interval.
async fn agent(
    k: usize,
    reg: Registration,
    opts: Arc<Options>,
    gate: Arc<Semaphore>,
    up: mpsc::UnboundedSender<bool>,
    mut stop: watch::Receiver<bool>,
) -> (AgentRun, Option<Duration>) {
    let mut run = AgentRun {
        end: End::Held,
        samples: Vec::new(),
        pending: VecDeque::new(),
    };
    let cfg = match dial::node_tls_config(
        &opts.ca_pem,
        reg.cert_pem.as_bytes(),
        reg.key_pem.as_bytes(),
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            let _ = up.send(false);
            run.end = End::Connect(format!("{e:#}"));
            return (run, None);
        }
    };
    let name = format!("sim-{k:05}");
    let hello = move |ip: Option<String>| {
        let mut h = control::hello(ip);
        if let AgentMessage::Hello { facts } = &mut h {
            facts.computer_name = name;
        }
        h
    };
    let opened = {
        let _permit = gate.acquire().await;
        tokio::time::timeout(CONNECT_TIMEOUT, control::open(cfg, &opts.endpoint, hello)).await
    };
    let (mut io, server_interval) = match opened {
        Ok(Ok(Handshake::Registered { io, interval })) => (io, interval),
        Ok(Ok(Handshake::Refused(reason))) => {
            let _ = up.send(false);
            run.end = End::Refused(reason);
            return (run, None);
        }
        Ok(Err(e)) => {
            let _ = up.send(false);
            run.end = End::Connect(format!("{e:#}"));
            return (run, None);
        }
        Err(_) => {
            let _ = up.send(false);
            run.end = End::Connect(format!("no Registered within {CONNECT_TIMEOUT:?}"));
            return (run, None);
        }
    };
    let _ = up.send(true);
    drop(up);
    let period = opts.interval.unwrap_or(server_interval);
    // A fleet that has been up a while beats at random phases, not in step.
    let phase_ms = rand::thread_rng().gen_range(0..period.as_millis().max(1) as u64);
    let mut tick =
        tokio::time::interval_at(Instant::now() + Duration::from_millis(phase_ms), period);
    run.end = loop {
        tokio::select! {
            _ = stop.changed() => break End::Held,
            _ = tick.tick() => {
                // Timed from before the write: a slow write counts.
                let sent = Instant::now();
                if let Err(e) = io.send(control::ping()).await {
                    break End::Lost(format!("sending a heartbeat: {e}"));
                }
                run.pending.push_back(sent);
            }
            msg = io.next() => match msg {
                Some(Ok(line)) => {
                    match proto::decode::<ServerMessage>(&line) {
                        // The server answers Pings in order.
                        Ok(Decoded::Known(ServerMessage::Pong)) => {
                            if let Some(sent) = run.pending.pop_front() {
                                run.samples.push((sent, sent.elapsed()));
                            }
                        }
                        Ok(Decoded::Known(ServerMessage::Refused { reason })) => {
                            break End::Refused(reason);
                        }
                        // StartSession and the like: the simulator runs no sessions.
                        _ => {}
                    }
                }
                Some(Err(e)) => break End::Lost(format!("reading the control channel: {e}")),
                None => break End::Lost("the server closed the control channel".into()),
            },
        }
    };
    (run, Some(period))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(v);
        assert_eq!(l.count, 100);
        assert_eq!(l.p50, 50.0);
        assert_eq!(l.p99, 99.0);
        assert_eq!(l.max, 100.0);
        assert_eq!(Latency::of(vec![]).count, 0);
        assert_eq!(Latency::of(vec![Duration::from_micros(1500)]).p99, 1.5);
    }

    #[test]
    fn activations_are_id_colon_code() {
        let a: Activation = "abcd-12:c0de".parse().unwrap();
        assert_eq!((a.id.as_str(), a.code.as_str()), ("abcd-12", "c0de"));
        assert!("nocolon".parse::<Activation>().is_err());
        assert!(":x".parse::<Activation>().is_err());
    }
}
