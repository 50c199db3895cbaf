#!/usr/bin/env bash
# `make bench`: installs what the benchmarks compare against, builds a
# release binary, runs every harness (loopback, agent scale, and, as root,
# cluster timings) and records each one's tables in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh   # openssh-server/-client, python3 (the TCP and PTY tools), slurm, nftables…
cargo build --release --bin airlock --bin airlock-server --bin airlock-agent-sim
export AIRLOCK="$PWD/target/release/airlock"
out=target/bench
mkdir -p "$out"
bench/loopback.sh | tee "$out/loopback.md"
bench/record.py loopback "make bench" < "$out/loopback.md"
RUNS=${RUNS:-3} bench/agents.sh | tee "$out/agents.md"
bench/record.py agents "make bench" < "$out/agents.md"
if [ "$(id -u)" = 0 ]; then
  bench/cluster.sh | tee "$out/cluster.md"
  bench/record.py cluster "make bench" < "$out/cluster.md"
else
  echo "skipped: cluster timings need root (the local provider)" >&2
fi
