#!/usr/bin/env bash
# Port-forward throughput and TCP echo round trip on loopback, measured side
# by side in one run: raw TCP, `ssh -L` (OpenSSH, default cipher) and
# `airlock port-forward` (client → server → agent → target, two TLS hops).
# Prints a Markdown table. Sizes: MIB (default 1024), RUNS (3), RTT_COUNT (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${MIB:-1024} RUNS=${RUNS:-3} RTT_COUNT=${RTT_COUNT:-2000}
AIRLOCK=${AIRLOCK:-$PWD/target/release/airlock}
TB="python3 $PWD/bench/tcpbench.py"
work=$(mktemp -d /tmp/airlock-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$AIRLOCK" server stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bg() { "$@" >/dev/null 2>&1 & pids+=($!); }

SINK=$(port) ECHO=$(port) API=$(port) SSHD=$(port)
bg $TB sink "$SINK"
bg $TB echo "$ECHO"

export AIRLOCK_STATE_DIR="$work/state" AIRLOCK_CONFIG_DIR="$work/dot-airlock" AIRLOCK_LISTEN="127.0.0.1:$API"
"$AIRLOCK" server start >/dev/null
trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
"$AIRLOCK" iam create-role --role-name BenchRole --assume-role-policy-document "$trust" >/dev/null
"$AIRLOCK" iam attach-role-policy --role-name BenchRole --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
act=$("$AIRLOCK" --json activation create --role BenchRole)
j() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
node=$("$AIRLOCK" agent register --agent-dir "$work/agent" --endpoint "https://$AIRLOCK_LISTEN" \
  --activation-code "$(printf '%s' "$act" | j '["ActivationCode"]')" \
  --activation-id "$(printf '%s' "$act" | j '["ActivationId"]')" | grep -o 'mi-[0-9a-f]*')
bg "$AIRLOCK" agent run --sessions-as-self --agent-dir "$work/agent"
for _ in $(seq 50); do "$AIRLOCK" --json instances | grep -q '"Online"' && break; sleep 0.2; done

mkdir -p "$work/sshd" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/host"; ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/user"
cp "$work/sshd/user.pub" "$work/sshd/auth"
cat > "$work/sshd/config" <<CFG
Port $SSHD
ListenAddress 127.0.0.1
HostKey $work/sshd/host
AuthorizedKeysFile $work/sshd/auth
StrictModes no
UsePAM no
PasswordAuthentication no
CFG
bg /usr/sbin/sshd -D -f "$work/sshd/config"
sleep 0.5

PF_SINK=$(port) PF_ECHO=$(port) SSH_SINK=$(port) SSH_ECHO=$(port)
bg "$AIRLOCK" port-forward "$node" --remote-port "$SINK" --local-port "$PF_SINK"
bg "$AIRLOCK" port-forward "$node" --remote-port "$ECHO" --local-port "$PF_ECHO"
bg ssh -N -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$work/sshd/user" -p "$SSHD" \
  -L "$SSH_SINK:127.0.0.1:$SINK" -L "$SSH_ECHO:127.0.0.1:$ECHO" "${USER:-root}@127.0.0.1"
sleep 1.5

stats() { python3 -c 'import sys,statistics as s; v=sorted(float(x) for x in sys.argv[1:]); print(f"{s.median(v):.0f} {v[0]:.0f} {v[-1]:.0f}")' "$@"; }
declare -A TP
for mode in raw ssh airlock; do
  case $mode in raw) p=$SINK;; ssh) p=$SSH_SINK;; airlock) p=$PF_SINK;; esac
  vals=(); for _ in $(seq "$RUNS"); do vals+=("$($TB throughput "$p" "$MIB")"); done
  TP[$mode]=$(stats "${vals[@]}")
done
declare -A RT
for mode in raw ssh airlock; do
  case $mode in raw) p=$ECHO;; ssh) p=$SSH_ECHO;; airlock) p=$PF_ECHO;; esac
  RT[$mode]=$($TB rtt "$p" "$RTT_COUNT")
done
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
set -- ${TP[airlock]}; a=$1; set -- ${TP[ssh]}; s=$1; set -- ${TP[raw]}; r=$1
echo "| measurement | raw TCP | ssh -L | airlock port-forward | airlock / ssh | airlock / raw |"
echo "|---|---|---|---|---|---|"
fmt() { set -- $1; echo "$1 ($2–$3)"; }
echo "| throughput, MB/s, median (min–max) of $RUNS × $MIB MiB | $(fmt "${TP[raw]}") | $(fmt "${TP[ssh]}") | $(fmt "${TP[airlock]}") | $(ratio "$a" "$s") | $(ratio "$a" "$r") |"
set -- ${RT[airlock]}; ap50=$1 ap99=$2; set -- ${RT[ssh]}; sp50=$1 sp99=$2; set -- ${RT[raw]}; rp50=$1 rp99=$2
echo "| TCP echo round trip p50 / p99, µs, $RTT_COUNT pings | $rp50 / $rp99 | $sp50 / $sp99 | $ap50 / $ap99 | $(ratio "$ap99" "$sp99") (p99) | |"
