#!/usr/bin/env bash
# Loopback benchmarks, measured side by side in one run against OpenSSH and
# raw TCP: port-forward throughput and TCP echo round trip (raw TCP, `ssh -L`
# with OpenSSH's default cipher and with aes128-gcm, the cipher airlock's
# TLS uses, `airlock port-forward`: client → server → agent → target, two TLS
# hops), with the CPU each role spends per GiB; scp through `airlock proxy`
# vs direct ssh, with each cipher;
# session start (`airlock exec NODE -- true` vs a fresh `ssh NODE true` and
# ssh with a ControlMaster), and the session rate: EXECS remote `true`s one
# after another and PARALLEL at a time. Prints a Markdown table.
# Sizes: MIB (default 1024), RUNS (3), RTT_COUNT (2000), STARTS (10),
# EXECS (100), PARALLEL (32);
# STREAMS ("1 8"): parallel connections sharing MIB in the throughput rows.
# ROWS picks rows (default all): "throughput rtt scp start pty".
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${MIB:-1024} RUNS=${RUNS:-3} STREAMS=${STREAMS:-1 8} RTT_COUNT=${RTT_COUNT:-2000} STARTS=${STARTS:-10}
EXECS=${EXECS:-100} PARALLEL=${PARALLEL:-32}
ROWS=${ROWS:-throughput rtt scp start exec pty}
want() { [[ " $ROWS " == *" $1 "* ]]; }
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
MaxStartups 200
MaxSessions 200
# bash sources ~/.bashrc when sshd starts it (SHLVL unset): this machine's
# root .bashrc (pyenv init) costs ~170 ms, which airlock's sessions do not pay.
SetEnv SHLVL=1
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
bg /usr/sbin/sshd -D -f "$work/sshd/config"
sleep 0.5

PF_SINK=$(port) PF_ECHO=$(port) SSH_SINK=$(port) SSH_ECHO=$(port) GCM_SINK=$(port)
GCM=aes128-gcm@openssh.com
bg "$AIRLOCK" port-forward "$node" --remote-port "$SINK" --local-port "$PF_SINK"
bg "$AIRLOCK" port-forward "$node" --remote-port "$ECHO" --local-port "$PF_ECHO"
bg ssh -N -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$work/sshd/user" -p "$SSHD" \
  -L "$SSH_SINK:127.0.0.1:$SINK" -L "$SSH_ECHO:127.0.0.1:$ECHO" "${USER:-root}@127.0.0.1"
bg ssh -N -c "$GCM" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$work/sshd/user" -p "$SSHD" \
  -L "$GCM_SINK:127.0.0.1:$SINK" "${USER:-root}@127.0.0.1"
sleep 1.5

# "median min max" of the values, with DIGITS decimals: statsd DIGITS VALUES...
statsd() { python3 -c 'import sys,statistics as s; d=int(sys.argv[1]); v=sorted(float(x) for x in sys.argv[2:]); print(f"{s.median(v):.{d}f} {v[0]:.{d}f} {v[-1]:.{d}f}")' "$@"; }
stats() { statsd 0 "$@"; }
stats2() { statsd 2 "$@"; }
fmt() { set -- $1; echo "$1 ($2–$3)"; }
# CPU time the whole machine spent (user, system, interrupts), in seconds: a
# path's cost per GiB, whichever of its processes spent it.
HZ=$(getconf CLK_TCK)
cpu() { awk -v hz="$HZ" '/^cpu /{print ($2+$3+$4+$7+$8)/hz}' /proc/stat; }
per_gib() { python3 -c "print(($(cpu) - $1) * 1024 / $MIB)"; }
# CPU seconds (user + system) of the processes whose command line matches
# PATTERN (pgrep -f): one role's share of a path's cost.
cpu_of() {
  local t=0 p IFS=$' \t\n'
  for p in $(pgrep -f -- "$1" || true); do
    t=$(awk -v hz="$HZ" -v t="$t" '{sub(/^.*\) /,""); print t + ($12+$13)/hz}' "/proc/$p/stat" 2>/dev/null || echo "$t")
  done
  echo "$t"
}
# The roles of each path: the user's side, the node's side, the server.
role_patterns() {
  case $1 in
    ssh) echo "ssh -N -o;^sshd: ;-" ;;
    ssh-gcm) echo "ssh -N -c;^sshd: ;-" ;;
    airlock) echo "port-forward $node --remote-port $SINK;agent (run|session-worker);airlock-server" ;;
  esac
}
roles_now() {
  local IFS=';' pats; read -r -a pats <<<"$(role_patterns "$1")"
  local out="" x
  for x in "${pats[@]}"; do
    if [ "$x" = - ]; then out+="0 "; else out+="$(cpu_of "$x") "; fi
  done
  echo "$out"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else '—')"; }
echo "| measurement | raw TCP | ssh -L (chacha20-poly1305) | ssh -L (aes128-gcm) | airlock port-forward | airlock / ssh | airlock / ssh aes128-gcm | airlock / raw |"
echo "|---|---|---|---|---|---|---|---|"
# The paths take turns within each run, so a busy spell on this shared
# machine hits all of them rather than one.
declare -A TP
if want throughput; then
MODES="raw ssh ssh-gcm airlock"
for n in $STREAMS; do
unset V C R; declare -A V C R
for _ in $(seq "$RUNS"); do
  for mode in $MODES; do
    case $mode in raw) p=$SINK;; ssh) p=$SSH_SINK;; ssh-gcm) p=$GCM_SINK;; airlock) p=$PF_SINK;; esac
    [ $mode = raw ] || r0=$(roles_now $mode)
    c0=$(cpu)
    V[$mode]+="$($TB throughput "$p" "$MIB" "$n") "
    C[$mode]+="$(per_gib "$c0") "
    # Per role: core-seconds per GiB, "client node server" for this run.
    [ $mode = raw ] || R[$mode]+="$(python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); m=float(sys.argv[3]); print(",".join(f"{(float(y)-float(x))*1024/m:.3f}" for x,y in zip(a,b)))' "$r0" "$(roles_now $mode)" "$MIB") "
  done
done
what="$n stream"; [ "$n" = 1 ] || what+=s
for mode in $MODES; do TP[$mode]=$(stats ${V[$mode]}); done
set -- ${TP[airlock]}; a=$1; set -- ${TP[ssh]}; s=$1; set -- ${TP[ssh-gcm]}; g=$1; set -- ${TP[raw]}; r=$1
echo "| throughput, $what, MB/s, median (min–max) of $RUNS × $MIB MiB | $(fmt "${TP[raw]}") | $(fmt "${TP[ssh]}") | $(fmt "${TP[ssh-gcm]}") | $(fmt "${TP[airlock]}") | $(ratio "$a" "$s") | $(ratio "$a" "$g") | $(ratio "$a" "$r") |"
for mode in $MODES; do TP[$mode]=$(stats2 ${C[$mode]}); done
set -- ${TP[airlock]}; a=$1; set -- ${TP[ssh]}; s=$1; set -- ${TP[ssh-gcm]}; g=$1; set -- ${TP[raw]}; r=$1
echo "| throughput, $what: CPU per GiB, whole machine, core-seconds | $(fmt "${TP[raw]}") | $(fmt "${TP[ssh]}") | $(fmt "${TP[ssh-gcm]}") | $(fmt "${TP[airlock]}") | $(ratio "$a" "$s") | $(ratio "$a" "$g") | $(ratio "$a" "$r") |"
# Medians per role: "client node server".
role_med() { python3 -c 'import sys,statistics as s; v=[list(map(float,x.split(","))) for x in sys.argv[1:]]; print(" ".join(f"{s.median(c):.2f}" for c in zip(*v)))' "$@"; }
for mode in ssh ssh-gcm airlock; do TP[$mode]=$(role_med ${R[$mode]}); done
for i in 1 2; do
  role=$([ $i = 1 ] && echo "the user's side (ssh / airlock client)" || echo "the node's side (sshd / agent and its session worker)")
  set -- ${TP[ssh]}; s=${!i}; set -- ${TP[ssh-gcm]}; g=${!i}; set -- ${TP[airlock]}; a=${!i}
  echo "| throughput, $what: CPU per GiB, $role, core-seconds | | $s | $g | $a | $(ratio "$a" "$s") | $(ratio "$a" "$g") | |"
done
set -- ${TP[airlock]}
echo "| throughput, $what: CPU per GiB, the airlock server (relay), core-seconds | | — | — | $3 | | | |"
done
fi
# Latency rows: RUNS runs, paths taking turns; each run gives p50 and p99.
# lat VALUES... → "p50 / p99 (p99 min–max)", medians over the runs.
lat() { python3 -c 'import sys,statistics as s; v=[tuple(map(float,x.split(","))) for x in sys.argv[1:]]; p99=[b for _,b in v]; print(f"{s.median(a for a,_ in v):.0f} / {s.median(p99):.0f} ({min(p99):.0f}–{max(p99):.0f})")' "$@"; }
p99() { set -- $1; echo "$3"; }
declare -A RT
if want rtt; then
unset V; declare -A V
for _ in $(seq "$RUNS"); do
  for mode in raw ssh airlock; do
    case $mode in raw) p=$ECHO;; ssh) p=$SSH_ECHO;; airlock) p=$PF_ECHO;; esac
    set -- $($TB rtt "$p" "$RTT_COUNT"); V[$mode]+="$1,$2 "
  done
done
for mode in raw ssh airlock; do RT[$mode]=$(lat ${V[$mode]}); done
echo "| TCP echo round trip p50 / p99 (p99 min–max), µs, median of $RUNS × $RTT_COUNT pings | ${RT[raw]} | ${RT[ssh]} | | ${RT[airlock]} | $(ratio "$(p99 "${RT[airlock]}")" "$(p99 "${RT[ssh]}")") (p99) | | |"
fi

# scp of MIB MiB: through `airlock proxy` vs a direct ssh connection.
SSHO=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$work/sshd/user")
now() { date +%s.%N; }
declare -A SC
if want scp; then
head -c "$((MIB << 20))" /dev/urandom > "$work/blob"
unset V C; declare -A V C
for _ in $(seq "$RUNS"); do
  for mode in ssh airlock ssh-gcm airlock-gcm; do
    cipher=(); [[ $mode == *-gcm ]] && cipher=(-c "$GCM")
    c0=$(cpu) t0=$(now)
    if [[ $mode == ssh* ]]; then
      scp -q "${SSHO[@]}" "${cipher[@]}" -P "$SSHD" "$work/blob" "${USER:-root}@127.0.0.1:$work/blob.copy"
    else
      scp -q "${SSHO[@]}" "${cipher[@]}" -P "$SSHD" -o "ProxyCommand=$AIRLOCK proxy %h %p" "$work/blob" "${USER:-root}@$node:$work/blob.copy"
    fi
    V[$mode]+="$(python3 -c "print(($MIB * 1048576 / 1e6) / ($(now) - $t0))") "
    C[$mode]+="$(per_gib "$c0") "
    cmp -s "$work/blob" "$work/blob.copy" || { echo "scp ($mode) corrupted the file" >&2; exit 1; }
  done
done
for mode in ssh airlock ssh-gcm airlock-gcm; do SC[$mode]=$(stats ${V[$mode]}); done
set -- ${SC[airlock]}; a=$1; set -- ${SC[ssh]}; s=$1; set -- ${SC[airlock-gcm]}; ag=$1; set -- ${SC[ssh-gcm]}; g=$1
echo "| scp $MIB MiB, MB/s, median (min–max) of $RUNS; airlock = through \`airlock proxy\` with the same cipher | | $(fmt "${SC[ssh]}") direct | $(fmt "${SC[ssh-gcm]}") direct | $(fmt "${SC[airlock]}") (chacha20); $(fmt "${SC[airlock-gcm]}") (aes128-gcm) | $(ratio "$a" "$s") | $(ratio "$ag" "$g") | |"
for mode in ssh airlock ssh-gcm airlock-gcm; do SC[$mode]=$(stats2 ${C[$mode]}); done
set -- ${SC[airlock]}; a=$1; set -- ${SC[ssh]}; s=$1; set -- ${SC[airlock-gcm]}; ag=$1; set -- ${SC[ssh-gcm]}; g=$1
echo "| scp: CPU per GiB, whole machine, core-seconds | | $(fmt "${SC[ssh]}") direct | $(fmt "${SC[ssh-gcm]}") direct | $(fmt "${SC[airlock]}") (chacha20); $(fmt "${SC[airlock-gcm]}") (aes128-gcm) | $(ratio "$a" "$s") | $(ratio "$ag" "$g") | |"
fi

# An ssh ControlMaster to the throwaway sshd, for the rows that compare with it.
dest="${USER:-root}@127.0.0.1"
master_up() { ssh "${SSHO[@]}" -p "$SSHD" -o ControlMaster=yes -o ControlPath="$work/cm" -o ControlPersist=600 -fN "$dest"; }
master_down() { ssh -o ControlPath="$work/cm" -O exit "$dest" 2>/dev/null || true; }

# Session start: wall time of one remote `true`, milliseconds, timed by
# hyperfine (no intermediate shell, one warm-up run each).
declare -A ST
if want start; then
master_up
hyperfine -N --style none --warmup 1 --runs "$STARTS" --export-json "$work/start.json" \
  -n ssh "ssh ${SSHO[*]} -p $SSHD $dest true" \
  -n ssh-mux "ssh ${SSHO[*]} -p $SSHD -o ControlPath=$work/cm $dest true" \
  -n airlock "$AIRLOCK exec $node -- true" >/dev/null
master_down
for mode in ssh ssh-mux airlock; do
  ST[$mode]=$(python3 -c 'import json,sys; r=next(x for x in json.load(open(sys.argv[1]))["results"] if x["command"]==sys.argv[2]); print(" ".join(f"{v*1000:.0f}" for v in (r["median"],r["min"],r["max"])))' "$work/start.json" "$mode")
done
set -- ${ST[airlock]}; a=$1; set -- ${ST[ssh]}; s=$1; set -- ${ST[ssh-mux]}; x=$1
echo "| session start (remote \`true\`), ms, median (min–max) of $STARTS (hyperfine) | | $(fmt "${ST[ssh]}") fresh; $(fmt "${ST[ssh-mux]}") ControlMaster | | $(fmt "${ST[airlock]}") | $(ratio "$a" "$s") vs fresh; $(ratio "$a" "$x") vs ControlMaster | | |"
fi

# Session rate: EXECS remote `true`s, each its own client process, one at a
# time and PARALLEL at a time (xargs -P), paths taking turns; sessions/s.
if want exec; then
master_up
rate() { # rate PARALLEL COMMAND... → sessions/s over EXECS runs; fails on any failed run
  local par=$1; shift
  local t0; t0=$(now)
  seq "$EXECS" | xargs -P "$par" -I{} "$@" >/dev/null || { echo "a session failed: $*" >&2; exit 1; }
  python3 -c "print($EXECS / ($(now) - $t0))"
}
# CPU seconds of a process and of the children it has reaped (the agent's
# session workers and their commands).
cpu_tree() { awk -v hz="$HZ" '{sub(/^.*\) /,""); print ($12+$13+$14+$15)/hz}' "/proc/$1/stat"; }
agent_pid=$(pgrep -f -- "agent run --sessions-as-self --agent-dir $work/agent" | head -1)
server_pid=$(pgrep -f -- "airlock-server" | head -1)
unset V R; declare -A V R
for _ in $(seq "$RUNS"); do
  for par in 1 "$PARALLEL"; do
    V[ssh-$par]+="$(rate "$par" ssh "${SSHO[@]}" -p "$SSHD" "$dest" true) "
    V[ssh-mux-$par]+="$(rate "$par" ssh "${SSHO[@]}" -p "$SSHD" -o ControlPath="$work/cm" "$dest" true) "
    s0=$(cpu_tree "$server_pid") a0=$(cpu_tree "$agent_pid") c0=$(cpu_tree $$)
    V[airlock-$par]+="$(rate "$par" "$AIRLOCK" exec "$node" -- true) "
    # Milliseconds of CPU per session: "client node server" (the clients are
    # reaped by xargs, and xargs by this shell).
    R[$par]+="$(python3 -c "print(','.join(f'{(b-a)*1000/$EXECS:.1f}' for a,b in (($c0,$(cpu_tree $$)),($a0,$(cpu_tree "$agent_pid")),($s0,$(cpu_tree "$server_pid")))))") "
  done
done
master_down
for par in 1 "$PARALLEL"; do
  for mode in ssh ssh-mux airlock; do ST[$mode]=$(stats ${V[$mode-$par]}); done
  set -- ${ST[airlock]}; a=$1; set -- ${ST[ssh]}; s=$1; set -- ${ST[ssh-mux]}; x=$1
  how=$([ "$par" = 1 ] && echo "one at a time" || echo "$par at a time")
  echo "| session rate (remote \`true\`, a client process each), sessions/s, $how, median (min–max) of $RUNS × $EXECS | | $(fmt "${ST[ssh]}") fresh; $(fmt "${ST[ssh-mux]}") ControlMaster | | $(fmt "${ST[airlock]}") | $(ratio "$a" "$s") vs fresh; $(ratio "$a" "$x") vs ControlMaster | | |"
  set -- $(python3 -c 'import sys,statistics as s; v=[list(map(float,x.split(","))) for x in sys.argv[1:]]; print(" ".join(f"{s.median(c):.1f}" for c in zip(*v)))' ${R[$par]})
  echo "| session rate, $how: airlock's CPU per session, ms, median of $RUNS: client / node (agent, worker and command) / server | | | | $1 / $2 / $3 | | | |"
done
fi

# Interactive echo through a terminal: one keystroke to `cat` on a remote PTY and back.
want pty || exit 0
PE="python3 $PWD/bench/ptyecho.py $RTT_COUNT --"
remote='stty raw -echo; echo READY; exec cat'
unset V; declare -A V
for _ in $(seq "$RUNS"); do
  for mode in local ssh airlock; do
    case $mode in
      local) set -- $($PE sh -c "$remote") ;;
      ssh) set -- $($PE ssh -tt "${SSHO[@]}" -p "$SSHD" "${USER:-root}@127.0.0.1" "$remote") ;;
      airlock) set -- $($PE "$AIRLOCK" session start --target "$node" --document-name AWS-StartInteractiveCommand --parameters "command=$remote") ;;
    esac
    V[$mode]+="$1,$2 "
  done
done
for mode in local ssh airlock; do RT[$mode]=$(lat ${V[$mode]}); done
echo "| keystroke echo through a PTY running cat, p50 / p99 (p99 min–max), µs, median of $RUNS × $RTT_COUNT keys | ${RT[local]} (local pty) | ${RT[ssh]} (ssh -tt) | | ${RT[airlock]} (airlock session) | $(ratio "$(p99 "${RT[airlock]}")" "$(p99 "${RT[ssh]}")") (p99) | | |"
