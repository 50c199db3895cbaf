#!/usr/bin/env bash
# Agent scale: N simulated agents (crates/agent-sim, which registers, dials
# and heartbeats with the agent's own code) against one throwaway server, for
# N in AGENT_COUNTS. Each (N, run) gets a fresh server; once every agent is
# up the script waits HOLD seconds, samples the server's VmRSS and VmHWM and
# its CPU use over the hold, stops the simulator and reads its heartbeat
# round trips. With RESTART=1 (the default) it then stops the server, starts
# it again DOWN seconds later on the same state, and times how long the
# simulator's agents (which dial again with the agent's own backoff) take to
# be all back, and the server's peak RSS through that storm.
# Prints a Markdown table: median (min–max) over RUNS.
# Knobs: AGENT_COUNTS ("1000 5000 10000"), HOLD (60), RUNS (1),
# PING_INTERVAL (10, the server's default), CONCURRENCY (64), RESTART (1),
# DOWN (3).
# Smoke: AGENT_COUNTS=50 HOLD=3 PING_INTERVAL=1.
# Each agent dials from its own loopback address (--own-addresses), as each
# node has its own. The script raises the open-files limit to what N needs
# where it can, and says so where it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENT_COUNTS=${AGENT_COUNTS:-1000 5000 10000} HOLD=${HOLD:-60} RUNS=${RUNS:-1}
PING_INTERVAL=${PING_INTERVAL:-10} CONCURRENCY=${CONCURRENCY:-64}
RESTART=${RESTART:-1} DOWN=${DOWN:-3}
AIRLOCK=${AIRLOCK:-$PWD/target/release/airlock}
SIM=${SIM:-$(dirname "$AIRLOCK")/airlock-agent-sim}
for b in "$AIRLOCK" "$SIM"; do
  [ -x "$b" ] || { echo "missing $b (cargo build --release --bin airlock --bin airlock-server --bin airlock-agent-sim)" >&2; exit 1; }
done
# Every agent is a socket in the server and in the simulator.
max_n=0; for n in $AGENT_COUNTS; do [ "$n" -gt "$max_n" ] && max_n=$n; done
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $(( max_n + 4096 )) ]; then
  ulimit -Hn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $(( max_n + 256 )) ]; then
  echo "$max_n agents need about $(( max_n + 256 )) open files in the server, and the limit here is $(ulimit -n)" >&2
  echo "hint: raise the hard limit (ulimit -Hn, as root with CAP_SYS_RESOURCE, or LimitNOFILE= in a unit)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/airlock-agents.XXXXXX)
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  [ -n "${AIRLOCK_STATE_DIR:-}" ] && "$AIRLOCK" server stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
j() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# One run at N agents; prints "rss_mib hwm_mib cpu_pct p50 p99 max count
# connected failures register_s connect_s online sim_cpu_pct other_cpu_pct
# back_s storm_hwm_mib" (the last two -1 without RESTART).
one() {
  local n=$1 d="$work/run"
  rm -rf "$d"; mkdir -p "$d"
  export AIRLOCK_STATE_DIR="$d/state" AIRLOCK_CONFIG_DIR="$d/dot-airlock" AIRLOCK_LISTEN="127.0.0.1:$(port)"
  export AIRLOCK_PING_INTERVAL="$PING_INTERVAL"
  "$AIRLOCK" server start >/dev/null
  local spid; spid=$(cat "$AIRLOCK_STATE_DIR/server.pid")
  local trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
  "$AIRLOCK" iam create-role --role-name SimRole --assume-role-policy-document "$trust" >/dev/null
  "$AIRLOCK" iam attach-role-policy --role-name SimRole --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
  # An activation registers at most 1000 machines (as AWS's does); the
  # simulator spreads agents evenly over them, so they are of equal size.
  local acts=() left=$n act lim per=$(( (n + 999) / 1000 ))
  per=$(( (n + per - 1) / per ))
  while [ "$left" -gt 0 ]; do
    lim=$(( left < per ? left : per ))
    act=$("$AIRLOCK" --json activation create --role SimRole --registration-limit "$lim")
    acts+=(--activation "$(printf '%s' "$act" | j '["ActivationId"]'):$(printf '%s' "$act" | j '["ActivationCode"]')")
    left=$(( left - lim ))
  done
  "$SIM" --endpoint "https://$AIRLOCK_LISTEN" --ca-bundle "$AIRLOCK_CONFIG_DIR/ca.pem" --agents "$n" \
    --concurrency "$CONCURRENCY" --ready-file "$d/ready" --reconnect --reconnect-file "$d/back" --own-addresses \
    "${acts[@]}" >"$d/sim.json" 2>"$d/sim.log" &
  sim_pid=$!
  # Wait until every agent has connected or failed.
  while [ ! -e "$d/ready" ]; do
    kill -0 "$sim_pid" 2>/dev/null || { echo "the simulator died:" >&2; cat "$d/sim.log" >&2; exit 1; }
    sleep 0.5
  done
  local t0 c0 s0 b0; t0=$(date +%s.%N); c0=$(ticks "$spid"); s0=$(ticks "$sim_pid"); b0=$(busy)
  sleep "$HOLD"
  local rss hwm c1 s1 b1 t1; rss=$(kib VmRSS "$spid"); hwm=$(kib VmHWM "$spid")
  c1=$(ticks "$spid"); s1=$(ticks "$sim_pid"); b1=$(busy); t1=$(date +%s.%N)
  local online; online=$("$AIRLOCK" --json instances | python3 -c 'import json,sys; v=json.load(sys.stdin); v=v.get("InstanceInformationList", v) if isinstance(v, dict) else v; print(sum(1 for i in v if i.get("PingStatus") == "Online"))')
  # The restart: back_s is from the new server's start to the last agent's
  # Hello acknowledged (the simulator's clock, the same host's).
  local back_s=-1 storm_hwm=-1
  if [ "$RESTART" = 1 ]; then
    "$AIRLOCK" server stop >/dev/null
    sleep "$DOWN"
    local t_up; t_up=$(date +%s.%N)
    "$AIRLOCK" server start >/dev/null
    spid=$(cat "$AIRLOCK_STATE_DIR/server.pid")
    local waited=0
    while [ ! -s "$d/back" ] && [ "$waited" -lt 600 ]; do
      kill -0 "$sim_pid" 2>/dev/null || { echo "the simulator died:" >&2; cat "$d/sim.log" >&2; exit 1; }
      sleep 0.5; waited=$(( waited + 1 ))
    done
    [ -s "$d/back" ] || { echo "not every agent came back within 300 s:" >&2; tail -5 "$d/sim.log" >&2; exit 1; }
    back_s=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["all_back_unix"] - float(sys.argv[2]))' "$d/back" "$t_up")
    storm_hwm=$(( $(kib VmHWM "$spid") / 1024 ))
  fi
  kill -TERM "$sim_pid"; wait "$sim_pid" || true; sim_pid=
  "$AIRLOCK" server stop >/dev/null
  python3 - "$d/sim.json" "$rss" "$hwm" "$(( c1 - c0 ))" "$t0" "$t1" "$(getconf CLK_TCK)" "$online" \
    "$(( s1 - s0 ))" "$(( b1 - b0 ))" "$back_s" "$storm_hwm" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rss, hwm, dt = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
secs, hz = float(sys.argv[6]) - float(sys.argv[5]), int(sys.argv[7])
ds, db = int(sys.argv[9]), int(sys.argv[10])
pct = lambda t: 100 * t / hz / secs
h = r["heartbeat_ms"]
print(rss / 1024, hwm / 1024, pct(dt), h["p50"], h["p99"], h["max"], h["count"],
      r["connected"], r["failures"], r["register_secs"], r["connect_secs"], sys.argv[8],
      pct(ds), max(0.0, pct(db - dt - ds)), sys.argv[11], sys.argv[12])
if r["failures"]:
    print("failures:", r["failure_kinds"], r["failure_examples"], file=sys.stderr)
PY
}

mem=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $cpu, $(nproc) cores, $mem GiB. Heartbeat every ${PING_INTERVAL} s; hold ${HOLD} s; $RUNS run(s) per row, median (min–max)."
echo "Command: AGENT_COUNTS=\"$AGENT_COUNTS\" HOLD=$HOLD RUNS=$RUNS PING_INTERVAL=$PING_INTERVAL RESTART=$RESTART DOWN=$DOWN bench/agents.sh"
echo
echo "| agents | connected / Online in the API (fewest of the runs) | server RSS, MiB | server peak RSS, MiB | CPU in the hold, % of a core: server / simulator / others | heartbeat p50, ms | heartbeat p99, ms | heartbeat max, ms | heartbeats timed | registration, s | connect all, s | all back after a restart, s | server peak RSS through the restart, MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $AGENT_COUNTS; do
  : >"$work/rows"
  for _ in $(seq "$RUNS"); do one "$n" >>"$work/rows"; done
  python3 - "$n" "$work/rows" <<'PY'
import statistics, sys
rows = [[float(x) for x in l.split()] for l in open(sys.argv[2]) if l.strip()]
def col(i, f):
    v = sorted(r[i] for r in rows)
    return f"{statistics.median(v):{f}}" + (f" ({v[0]:{f}}–{v[-1]:{f}})" if len(v) > 1 else "")
cells = ([f"{min(r[7] for r in rows):.0f} / {min(r[11] for r in rows):.0f}", col(0, ".0f"), col(1, ".0f"),
          " / ".join(col(i, ".1f") for i in (2, 12, 13))]
         + [col(i, f) for i, f in [(3, ".2f"), (4, ".2f"), (5, ".1f"), (6, ".0f"), (9, ".1f"), (10, ".1f")]]
         + [col(i, f) if rows[0][i] >= 0 else "not run" for i, f in [(14, ".1f"), (15, ".0f")]])
print(f"| {sys.argv[1]} | " + " | ".join(cells) + " |")
bad = [r for r in rows if r[8] > 0 or r[6] == 0]
sys.exit(1 if bad else 0)
PY
done
