#!/usr/bin/env bash
# Cluster timings on the local provider (root): `airlock create` to
# CREATE_COMPLETE and `delete` (RUNS times each, on examples/ssm.ini), then
# on one cluster JOBS jobs, each pinned to a powered-down node: the time
# from ResumeProgram being called to slurmd registering (from the hook's
# and slurmctld's logs) and from `sbatch` to RUNNING. Prints markdown rows.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRLOCK=${AIRLOCK:-$PWD/target/release/airlock}
RUNS=${RUNS:-3}
JOBS=${JOBS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/cluster.sh needs root (the local provider)" >&2; exit 1; }
work=$(mktemp -d /tmp/airlock-bench-cluster.XXXXXX)
chmod 755 "$work"
export AIRLOCK_STATE_DIR="$work/state" AIRLOCK_CONFIG_DIR="$work/cfg"
export AIRLOCK_LISTEN="127.0.0.1:${BENCH_PORT:-17543}"
cleanup() {
  for c in $("$AIRLOCK" --json list 2>/dev/null | python3 -c 'import json,sys; [print(c["ClusterName"]) for c in json.load(sys.stdin)["Clusters"]]' 2>/dev/null); do
    "$AIRLOCK" delete "$c" >/dev/null 2>&1 || true
  done
  "$AIRLOCK" server stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
"$AIRLOCK" server start >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
"$AIRLOCK" ec2 import-key-pair --key-name sandbox-key-useast1 --public-key-material "file://$work/key.pub" >/dev/null
creates=() deletes=()
for i in $(seq 1 "$RUNS"); do
  t=$(now); "$AIRLOCK" create "bench$i" -c examples/ssm.ini >/dev/null; creates+=("$(python3 -c "print($(now)-$t)")")
  t=$(now); "$AIRLOCK" delete "bench$i" >/dev/null; deletes+=("$(python3 -c "print($(now)-$t)")")
done
"$AIRLOCK" create jobs -c examples/ssm.ini >/dev/null
on_head() { "$AIRLOCK" exec jobs/head -- bash -c "$1"; }
for _ in $(seq 1 50); do on_head true >/dev/null 2>&1 && break; sleep 0.2; done
# sbatch pinned to powered-down nodes (-w), until the job leaves PD/CF;
# prints the seconds and records "JOBID NODES" in $work/jobs.
submit() {
  local t id
  t=$(now)
  id=$(on_head "cd /home/ubuntu && sudo -u ubuntu sbatch --parsable -N $1 -w $2 --wrap true" | tr -d '[:space:]')
  for _ in $(seq 1 600); do
    s=$(on_head "squeue -h -j $id -o %t" 2>/dev/null || true)
    case "$s" in PD|CF) sleep 0.2 ;; *) break ;; esac
  done
  echo "$id $2" >> "$work/jobs"
  python3 -c "print($(now)-$t)"
}
running=() running2=()
for i in $(seq 1 "$JOBS"); do
  running+=("$(submit 1 "spot1-dy-c5large-$i")")
done
for i in $(seq 1 "$JOBS"); do
  a=$((JOBS + 2 * i - 1)); b=$((JOBS + 2 * i))
  running2+=("$(submit 2 "spot1-dy-c5large-[$a,$b]")")
done
logs="$work/state/clusters/jobs/log"
resume=$(python3 - "$logs" <<'PY'
import re, sys, datetime as dt
d = sys.argv[1]
called = {}
for l in open(f"{d}/slurm_resume.log"):
    m = re.match(r"(\S+) RunInstances (\S+)", l)
    if m:
        t = dt.datetime.fromisoformat(m.group(1)[:26].rstrip("Z")).timestamp()
        called.setdefault(m.group(2), t)
out = []
for l in open(f"{d}/slurmctld.log"):
    m = re.match(r"\[(\S+)\] Node (\S+) now responding", l)
    if m and m.group(2) in called:
        t = dt.datetime.fromisoformat(m.group(1)).timestamp()
        out.append(t - called.pop(m.group(2)))
print(" ".join(f"{x:.3f}" for x in out))
PY
)
# From the last of a job's nodes registering to slurmctld finishing the
# job's configuration (it launches it then).
started=$(python3 - "$logs" "$work/jobs" <<'PY'
import re, sys, datetime as dt
d, jobs = sys.argv[1], sys.argv[2]
def ts(s): return dt.datetime.fromisoformat(s).timestamp()
up, done = {}, {}
for l in open(f"{d}/slurmctld.log"):
    m = re.match(r"\[(\S+)\] Node (\S+) now responding", l)
    if m: up[m.group(2)] = ts(m.group(1))
    m = re.match(r"\[(\S+)\] .*Configuration for JobId=(\d+) is complete", l)
    if m: done.setdefault(m.group(2), ts(m.group(1)))
out = []
for line in open(jobs):
    jid, spec = line.split()
    m = re.match(r"(.*-)(?:\[(\d+),(\d+)\]|(\d+))$", spec)
    nodes = [m.group(1) + n for n in (m.group(2), m.group(3), m.group(4)) if n]
    if jid in done and all(n in up for n in nodes):
        out.append(done[jid] - max(up[n] for n in nodes))
print(" ".join(f"{x:.3f}" for x in out))
PY
)
# The lifecycle verbs on the same cluster: update max_count 16 -> 32 and
# back (each restarts slurmctld, nodes are added or removed), stop (every
# node powered down, STOPPED) and start (RUNNING).
sed 's/^max_count = 16$/max_count = 32/' examples/ssm.ini > "$work/ssm-32.ini"
grows=() shrinks=() stops=() starts=()
timed() { local t; t=$(now); "$@" >/dev/null; python3 -c "print($(now)-$t)"; }
for _ in $(seq 1 "$RUNS"); do
  grows+=("$(timed "$AIRLOCK" update jobs -c "$work/ssm-32.ini" --yes)")
  shrinks+=("$(timed "$AIRLOCK" update jobs -c examples/ssm.ini --yes)")
  stops+=("$(timed "$AIRLOCK" stop jobs)")
  starts+=("$(timed "$AIRLOCK" start jobs)")
done
stats() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f"{s.median(v):.2f} | {min(v):.2f} | {max(v):.2f} | {len(v)}")' "$@"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "Machine: $cpu, $(nproc) cores. Command: RUNS=$RUNS JOBS=$JOBS bench/cluster.sh"
echo
echo "| what | median s | min s | max s | runs | ParallelCluster on AWS | target |"
echo "|---|---|---|---|---|---|---|"
echo "| \`airlock create\` to CREATE_COMPLETE (examples/ssm.ini) | $(stats "${creates[@]}") | about 10–15 min | ≤ 10 s |"
echo "| \`airlock delete\` to gone | $(stats "${deletes[@]}") | several minutes | — |"
echo "| node resume (ResumeProgram called → slurmd registered) | $(stats $resume) | minutes (an instance boot) | ≤ 2 s |"
echo "| \`sbatch\` to RUNNING on a powered-down node | $(stats "${running[@]}") | minutes | ≤ 3 s |"
echo "| \`sbatch -N2\` to RUNNING on two powered-down nodes | $(stats "${running2[@]}") | minutes | — |"
echo "| last node registered → job launched (slurmctld's log) | $(stats $started) | — | ≤ 1 s |"
echo "| \`airlock update\` max_count 16 → 32 to UPDATE_COMPLETE | $(stats "${grows[@]}") | minutes (a CloudFormation stack update) | — |"
echo "| \`airlock update\` max_count 32 → 16 to UPDATE_COMPLETE | $(stats "${shrinks[@]}") | needs \`pcluster stop\` first | — |"
echo "| \`airlock stop\` to STOPPED | $(stats "${stops[@]}") | — | — |"
echo "| \`airlock start\` to RUNNING | $(stats "${starts[@]}") | — | — |"
