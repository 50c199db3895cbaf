#!/usr/bin/env bash
# The fault suite of issue 15 (docs/RELIABILITY.md): a real server, an agent
# in a network namespace and the CLI, with a checked transfer each way
# (random data, sha256 and a byte-exact comparison at both ends) through
# `airlock port-forward` and `airlock proxy` while each fault is injected:
# server kill -9 (short, and past the 60 s resume window), agent kill -9,
# partition (short and long: an nftables drop rule in the agent's namespace),
# server SIGSTOP, agent SIGSTOP with traffic and execs, server kill -9 during
# a recorded session, disk full (a small tmpfs as the state directory) during
# a recorded session, kill -9 during IAM writes; then agents back after
# successive server restarts (real agents, their own backoff).
# Prints Markdown tables; exits non-zero if any row fails. Needs root.
#
#   bench/faults.sh                 the full run (~12 min; release build)
#   MODE=quick bench/faults.sh      the quick form (.ci/run; ~2 min, no past-window rows)
#   RECORD=1 bench/faults.sh        also records the tables in docs/RELIABILITY.md
#                                   and the reconnect figures in docs/BENCHMARKS.md
#   make faults                     = RECORD=1 bench/faults.sh
# Knobs: AIRLOCK (binary; default target/release/airlock), FAULTS (rows:
# server-kill agent-kill partition server-stop agent-stop recording-kill exit-during-kill
# disk-full iam-kill server-kill-long partition-long reconnect), RATE (MB/s
# each way per transfer, 0 = unpaced with SIZE_MIB), LEAD / TAIL (seconds of
# transfer before / after the fault), PING_INTERVAL, SHORT_DOWN, LONG_DOWN,
# SHORT_PARTITION, LONG_PARTITION, SERVER_STOP, AGENT_STOP, IAM_KILLS,
# RESTARTS, AGENTS ("20 1000": agent counts for the reconnect rows).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/faults.sh needs root (network namespaces, nftables, tmpfs)" >&2; exit 1; }
export AIRLOCK=${AIRLOCK:-$PWD/target/release/airlock}
[ -x "$AIRLOCK" ] || { echo "missing $AIRLOCK (cargo build --release --bin airlock --bin airlock-server, or set AIRLOCK)" >&2; exit 1; }
for t in ip nft mount python3; do command -v "$t" >/dev/null || { echo "missing $t (scripts/install-deps.sh)" >&2; exit 1; }; done
# Agents and their sockets: raise the open-file limit for the 1,000-agent rows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d /tmp/airlock-faults.XXXXXX)
# Every process of this run carries the mark FAULTS_RUN=$work in its
# environment (tee does not); cleanup ends those, by pid.
# Whatever happens: end every process this run started, delete its
# namespace, veth, nftables table (inside the namespace) and mounts.
trap 'FAULTS_RUN="$work" python3 bench/faults.py cleanup "$work"; [ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
out=target/faults
mkdir -p "$out"
rc=0
FAULTS_RUN="$work" python3 bench/faults.py run "$work" | tee "$out/faults.md" || rc=$?
if [ "${RECORD:-0}" = 1 ]; then
  bench/faults_record.py "$out/faults.md" "${RECORD_COMMAND:-make faults}"
fi
exit "$rc"
