#!/usr/bin/env bash
# The seed's walkthrough on the local provider (needs root): a throwaway
# airlock server; the key pair the seed's config names; `airlock create` on
# examples/ssm.ini verbatim; the roles; a session on the head node with the
# agent's status; `sbatch -n1 test.sh` powering up spot1-dy-c5large-1 while
# `sinfo`/`squeue` show it; the job's output; a session on the compute
# node; scp through the tunnel; `airlock delete`. Each step prints its
# command and result; the times are measured. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRLOCK=${AIRLOCK:-$PWD/target/debug/airlock}
if [ "$(id -u)" != 0 ]; then
  echo "error: the walkthrough creates a cluster on the local provider, which needs root (network namespaces, bridges, nftables); run it as root" >&2
  exit 1
fi
work=$(mktemp -d /tmp/airlock-walkthrough.XXXXXX)
chmod 755 "$work"
export AIRLOCK_STATE_DIR="$work/state" AIRLOCK_CONFIG_DIR="$work/dot-airlock"
export AIRLOCK_LISTEN="127.0.0.1:${AIRLOCK_DEMO_PORT:-17443}"
cleanup() {
  "$AIRLOCK" delete ssm-cluster >/dev/null 2>&1 || true
  "$AIRLOCK" server stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$1"; }
step() { say "$1"; shift; printf '$ %s\n' "$*"; "$@"; }
on_head() { "$AIRLOCK" exec ssm-cluster/head -- bash -c "$1"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
t_all=$(now)

step "Start the server" "$AIRLOCK" server start
ssh-keygen -q -t ed25519 -N '' -f "$work/sandbox-key"
step "Import the key pair the seed's config names (key_name = sandbox-key-useast1)" \
  "$AIRLOCK" ec2 import-key-pair --key-name sandbox-key-useast1 --public-key-material "file://$work/sandbox-key.pub"

t0=$(now)
step "1. Create the cluster from the seed's config, verbatim" "$AIRLOCK" create ssm-cluster -c examples/ssm.ini
t_create=$(secs "$t0" "$(now)")
step "   status" "$AIRLOCK" status ssm-cluster
step "   instances" "$AIRLOCK" instances ssm-cluster

step "2. The roles: head and compute, both with additional_iam_policies" \
  "$AIRLOCK" iam list-attached-role-policies --role-name airlock-ssm-cluster-HeadNodeRole
"$AIRLOCK" iam list-attached-role-policies --role-name airlock-ssm-cluster-ComputeRole

for _ in $(seq 1 50); do "$AIRLOCK" exec ssm-cluster/head -- true >/dev/null 2>&1 && break; sleep 0.2; done
say "3. A session on the head node: the agent's service status, then sudo su - ubuntu"
printf '$ airlock exec ssm-cluster/head -- sudo airlock agent status\n'
on_head "sudo airlock agent status"

say "4. sbatch -n1 test.sh (a script that prints the agent's status)"
on_head "sudo -iu ubuntu bash -c 'printf \"#!/bin/bash\nhostname\nsudo airlock agent status\n\" > test.sh; chmod +x test.sh; sbatch -n1 test.sh'"
t_sbatch=$(now)

say "5. sinfo and squeue while spot1-dy-c5large-1 powers up"
state=""
for _ in $(seq 1 120); do
  out=$(on_head "sinfo; squeue")
  key=$(sed -E 's/ +[0-9]+:[0-9]{2} +/ /' <<<"$out")
  if [ "$key" != "$state" ]; then printf '%s\n\n' "$out"; state=$key; fi
  grep -q ' R ' <<<"$out" && break
  if ! grep -q ' CF \| PD ' <<<"$out"; then break; fi
  sleep 0.5
done
t_running=$(secs "$t_sbatch" "$(now)")
for _ in $(seq 1 60); do
  [ -z "$(on_head 'squeue -h')" ] && break
  sleep 1
done

step "6. The job's output, written on the compute node into the shared home" \
  "$AIRLOCK" exec ssm-cluster/head -- cat /home/ubuntu/slurm-1.out

step "7. A session on the compute node" "$AIRLOCK" exec spot1-dy-c5large-1 -- hostname

head_ip=$("$AIRLOCK" --json status ssm-cluster | python3 -c 'import json,sys; print(json.load(sys.stdin)["Outputs"]["MasterPrivateIP"])')
echo "a file for the cluster" > "$work/data.txt"
step "8. scp through the tunnel (ProxyCommand airlock proxy), as the cluster user" \
  scp -q -i "$work/sandbox-key" -o "ProxyCommand=$AIRLOCK proxy %h %p" -o StrictHostKeyChecking=accept-new \
  -o "UserKnownHostsFile=$work/known_hosts" "$work/data.txt" "ubuntu@$head_ip:data.txt"
step "   ssh through airlock ssh ([aliases] ssh)" "$AIRLOCK" ssh ssm-cluster -i "$work/sandbox-key" -- cat data.txt

sed 's/^max_count = 16$/max_count = 32/' examples/ssm.ini > "$work/ssm-32.ini"
step "9. Update the cluster: max_count 16 -> 32, live (pcluster update)" \
  "$AIRLOCK" update ssm-cluster -c "$work/ssm-32.ini" --yes
step "   sinfo: 32 nodes" "$AIRLOCK" exec ssm-cluster/head -- sinfo -o '%P %a %D %t'
step "   Stop the compute fleet (pcluster stop): partitions INACTIVE" "$AIRLOCK" stop ssm-cluster
step "   Start it again (pcluster start)" "$AIRLOCK" start ssm-cluster

t0=$(now)
step "10. Delete the cluster" "$AIRLOCK" delete ssm-cluster
t_delete=$(secs "$t0" "$(now)")
step "Stop the server" "$AIRLOCK" server stop

say "Measured"
echo "create to CREATE_COMPLETE: ${t_create} s"
echo "sbatch to RUNNING:         ${t_running} s (allocation, the node's boot, then the launch as its slurmd registers)"
echo "delete:                    ${t_delete} s"
echo "whole walkthrough:         $(secs "$t_all" "$(now)") s"
