//! Many agents in one process, for the agent-scale benchmark. Each one goes
//! through the agent's own code: it redeems an activation with a fresh key
//! pair (`register::redeem`), dials the control channel with the certificate
//! the server issued (`dial::node_tls_config`, `control::open`, the
//! agent's Hello), and heartbeats with the agent's `Ping`. The simulator
//! times each Ping until its Pong; it runs no sessions. With `reconnect`,
//! an agent whose channel drops dials again with the agent's own backoff,
//! and the simulator times how long the fleet takes to be whole again.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_agent::control::{self, Backoff, Handshake};
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
    /// A dropped channel is dialled again (the agent's backoff) instead of
    /// ending the agent.
    pub reconnect: bool,
    /// With `reconnect`: a JSON line is appended each time every agent that
    /// was up at the ready point is connected again after an outage.
    pub reconnect_file: Option<PathBuf>,
    /// Each agent dials from its own loopback address (127.1.0.1 on), as
    /// each node has its own: from one address, the kernel's search for a
    /// free local port grows with every connection to the same server.
    pub own_addresses: bool,
}

/// Agent `k`'s own loopback address.
pub fn loopback_of(k: usize) -> std::net::IpAddr {
    let k = k as u32;
    std::net::Ipv4Addr::new(
        127,
        1 + (k >> 16) as u8,
        (k >> 8) as u8,
        1 + (k as u8 % 254),
    )
    .into()
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
    /// Round trips of the heartbeats sent during outages (from the first
    /// agent lost to the last one back).
    pub outage_heartbeat_ms: Latency,
    /// Heartbeats with no answer (ignoring those sent in the last 5 s and
    /// those lost with their connection).
    pub unanswered: usize,
    /// Each outage the whole fleet came back from.
    pub outages: Vec<Outage>,
    pub register_secs: f64,
    pub connect_secs: f64,
    pub hold_secs: f64,
    pub elapsed_secs: f64,
}

/// One outage: from the first agent losing its channel to the last one
/// connected again.
#[derive(Debug, Clone, Serialize)]
pub struct Outage {
    /// Unix seconds.
    pub first_lost_unix: f64,
    pub all_back_unix: f64,
    pub all_back_secs: f64,
    /// The most agents down at once.
    pub peak_down: usize,
    /// Agents connected again during it.
    pub reconnected: usize,
}

/// What an agent tells the fleet's count after the ready point.
enum Event {
    Lost,
    Back,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let mut agents = JoinSet::new();
    for (k, reg) in identities {
        agents.spawn(agent(
            k,
            reg,
            opts.clone(),
            gate.clone(),
            (up_tx.clone(), ev_tx.clone()),
            stop_rx.clone(),
        ));
    }
    drop((up_tx, ev_tx));
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

    // 3. Hold, counting the fleet through outages.
    let mut fleet = Fleet::new(up);
    if !stopped {
        let hold = async {
            match opts.hold {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(hold);
        loop {
            tokio::select! {
                _ = &mut hold => break,
                _ = &mut stop => break,
                Some(e) = ev_rx.recv() => {
                    if let Some(o) = fleet.on(e) {
                        progress(format_args!(
                            "all {up} agents back {:.2} s after the first was lost ({} down at most)",
                            o.all_back_secs, o.peak_down
                        ));
                        if let Some(path) = &opts.reconnect_file {
                            append_line(path, &serde_json::to_string(&o).unwrap_or_default())?;
                        }
                    }
                }
            }
        }
    }
    let end = Instant::now();
    let _ = stop_tx.send(true);
    let mut hold = Vec::new();
    let mut ramp = Vec::new();
    let mut during = Vec::new();
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
            if fleet.in_outage(sent) {
                during.push(rtt);
            } else if sent >= ready_at {
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
        outage_heartbeat_ms: Latency::of(during),
        unanswered,
        outages: fleet.done.iter().map(|(_, _, o)| o.clone()).collect(),
        register_secs,
        connect_secs,
        hold_secs: (end - ready_at).as_secs_f64(),
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    Ok(report)
}

/// The count of agents up after the ready point, and the outages in it.
struct Fleet {
    full: usize,
    online: usize,
    /// The current outage: when it began (monotonic, unix), its peak, and
    /// how many came back in it.
    open: Option<(Instant, f64, usize, usize)>,
    done: Vec<(Instant, Instant, Outage)>,
}

impl Fleet {
    fn new(full: usize) -> Self {
        Fleet {
            full,
            online: full,
            open: None,
            done: Vec::new(),
        }
    }

    /// Counts one event; returns the outage it ended, if any.
    fn on(&mut self, e: Event) -> Option<Outage> {
        match e {
            Event::Lost => {
                self.online = self.online.saturating_sub(1);
                let o = self
                    .open
                    .get_or_insert_with(|| (Instant::now(), unix_now(), 0, 0));
                o.2 = o.2.max(self.full - self.online.min(self.full));
                None
            }
            Event::Back => {
                self.online += 1;
                if let Some(o) = &mut self.open {
                    o.3 += 1;
                }
                if self.online < self.full {
                    return None;
                }
                let (t0, u0, peak, back) = self.open.take()?;
                let now = Instant::now();
                let o = Outage {
                    first_lost_unix: u0,
                    all_back_unix: unix_now(),
                    all_back_secs: (now - t0).as_secs_f64(),
                    peak_down: peak,
                    reconnected: back,
                };
                self.done.push((t0, now, o.clone()));
                Some(o)
            }
        }
    }

    fn in_outage(&self, t: Instant) -> bool {
        self.done.iter().any(|(a, b, _)| *a <= t && t <= *b)
            || self.open.is_some_and(|(a, ..)| a <= t)
    }
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

fn append_line(path: &std::path::Path, line: &str) -> Result<(), SimError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|source| SimError::Write {
            path: path.to_owned(),
            source,
        })
}

/// One agent: dial, say Hello, then heartbeat until told to stop. Sends
/// on `up` once: whether it first connected; with `reconnect`, a dropped
/// channel is dialled again with the agent's backoff, told on `events`.
/// Returns its run and the interval.
async fn agent(
    k: usize,
    reg: Registration,
    opts: Arc<Options>,
    gate: Arc<Semaphore>,
    (up, events): (mpsc::UnboundedSender<bool>, mpsc::UnboundedSender<Event>),
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
    let mut first = Some(up);
    let mut backoff = Backoff::default();
    let mut period = None;
    loop {
        let hello = {
            let name = name.clone();
            move |ip: Option<String>| {
                let mut h = control::hello(ip);
                if let AgentMessage::Hello { facts } = &mut h {
                    facts.computer_name = name;
                }
                h
            }
        };
        let opened = {
            let _permit = gate.acquire().await;
            tokio::time::timeout(
                CONNECT_TIMEOUT,
                control::open_from(
                    cfg.clone(),
                    &opts.endpoint,
                    hello,
                    opts.own_addresses.then(|| loopback_of(k)),
                ),
            )
            .await
        };
        let failed = match opened {
            Ok(Ok(Handshake::Registered { io, interval })) => {
                let _ = match first.take() {
                    Some(up) => up.send(true).is_ok(),
                    None => events.send(Event::Back).is_ok(),
                };
                backoff.reset();
                let p = *period.get_or_insert(opts.interval.unwrap_or(interval));
                run.end = heartbeat(io, p, &mut run, &mut stop).await;
                match &run.end {
                    End::Lost(_) if opts.reconnect => {
                        let _ = events.send(Event::Lost);
                        // Pings in flight went with the connection.
                        run.pending.clear();
                        None
                    }
                    _ => return (run, period),
                }
            }
            Ok(Ok(Handshake::Refused(reason))) => Some(End::Refused(reason)),
            Ok(Err(e)) => Some(End::Connect(format!("{e:#}"))),
            Err(_) => Some(End::Connect(format!(
                "no Registered within {CONNECT_TIMEOUT:?}"
            ))),
        };
        if let Some(end) = failed {
            // The first dial decides whether the agent ever came up; later
            // ones keep trying until told to stop.
            if let Some(up) = first.take() {
                let _ = up.send(false);
                run.end = end;
                return (run, None);
            }
            run.end = match end {
                End::Connect(m) => End::Lost(format!("not connected again: {m}")),
                other => other,
            };
            if matches!(run.end, End::Refused(_)) {
                return (run, period);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.delay()) => {}
            _ = stop.changed() => return (run, period),
        }
    }
}

/// Heartbeats on an open channel until told to stop or the channel fails.
async fn heartbeat(
    mut io: Box<control::ControlIo>,
    period: Duration,
    run: &mut AgentRun,
    stop: &mut watch::Receiver<bool>,
) -> End {
    // A fleet that has been up a while beats at random phases, not in step.
    let phase_ms = rand::thread_rng().gen_range(0..period.as_millis().max(1) as u64);
    let mut tick =
        tokio::time::interval_at(Instant::now() + Duration::from_millis(phase_ms), period);
    loop {
        tokio::select! {
            _ = stop.changed() => return End::Held,
            _ = tick.tick() => {
                // Timed from before the write: a slow write counts.
                let sent = Instant::now();
                if let Err(e) = io.send(control::ping()).await {
                    return End::Lost(format!("sending a heartbeat: {e}"));
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
                            return End::Refused(reason);
                        }
                        // StartSession and the like: the simulator runs no sessions.
                        _ => {}
                    }
                }
                Some(Err(e)) => return End::Lost(format!("reading the control channel: {e}")),
                None => return End::Lost("the server closed the control channel".into()),
            },
        }
    }
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
    fn an_outage_ends_when_every_agent_is_back() {
        let mut f = Fleet::new(3);
        assert!(f.on(Event::Lost).is_none());
        assert!(f.on(Event::Lost).is_none());
        assert!(f.on(Event::Back).is_none());
        assert!(f.on(Event::Lost).is_none());
        assert!(f.on(Event::Back).is_none());
        let o = f.on(Event::Back).expect("all back");
        assert_eq!((o.peak_down, o.reconnected), (2, 3));
        assert!(f.open.is_none() && f.done.len() == 1);
        // A second outage is counted on its own.
        assert!(f.on(Event::Lost).is_none());
        assert_eq!(f.on(Event::Back).map(|o| o.peak_down), Some(1));
        assert_eq!(f.done.len(), 2);
    }

    #[test]
    fn agents_have_distinct_loopback_addresses() {
        let all: std::collections::HashSet<_> = (0..60_000).map(loopback_of).collect();
        assert!(all.len() > 59_000, "{}", all.len());
        assert!(all.iter().all(|a| a.is_loopback()));
    }

    #[test]
    fn activations_are_id_colon_code() {
        let a: Activation = "abcd-12:c0de".parse().unwrap();
        assert_eq!((a.id.as_str(), a.code.as_str()), ("abcd-12", "c0de"));
        assert!("nocolon".parse::<Activation>().is_err());
        assert!(":x".parse::<Activation>().is_err());
    }
}
