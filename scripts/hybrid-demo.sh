#!/usr/bin/env bash
# The main job, as far as it exists: start a throwaway airlock server,
# validate the seed's cluster config, join this machine as a managed node
# with a hybrid activation (first without the managed policy, as in the
# seed, then with it), run commands through it, and show the decisions and
# the audit trail. Cluster creation (`airlock create`) is not built yet.
# Everything lives in a temporary directory and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRLOCK=${AIRLOCK:-$PWD/target/debug/airlock}
work=$(mktemp -d /tmp/airlock-demo.XXXXXX)
export AIRLOCK_STATE_DIR="$work/state" AIRLOCK_CONFIG_DIR="$work/dot-airlock"
export AIRLOCK_LISTEN="127.0.0.1:${AIRLOCK_DEMO_PORT:-17443}" AIRLOCK_PING_INTERVAL=1
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  "$AIRLOCK" server stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$1"; }
step() { say "$1"; shift; printf '$ %s\n' "$*"; "$@"; }

step "Start the server (CA, state and admin profile are created on first start)" "$AIRLOCK" server start
step "Server status" "$AIRLOCK" server status
step "Validate the seed's ParallelCluster config (examples/ssm.ini)" "$AIRLOCK" config validate -c examples/ssm.ini
step "Convert it to ParallelCluster v3 YAML" "$AIRLOCK" config convert -c examples/ssm.ini

trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
step "Create a role for nodes, without AmazonSSMManagedInstanceCore yet" \
  "$AIRLOCK" iam create-role --role-name DemoNodeRole --assume-role-policy-document "$trust"
act=$("$AIRLOCK" --json activation create --role DemoNodeRole)
code=$(printf '%s' "$act" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ActivationCode"])')
aid=$(printf '%s' "$act" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ActivationId"])')
step "Join this machine as a managed node (hybrid activation)" \
  "$AIRLOCK" agent register --agent-dir "$work/agent" --activation-code "$code" --activation-id "$aid" \
  --endpoint "https://$AIRLOCK_LISTEN"
"$AIRLOCK" agent run --sessions-as-self --agent-dir "$work/agent" 2>"$work/agent.log" &
agent_pid=$!
sleep 2
step "The node is refused: its role lacks the managed policy (the seed's point)" "$AIRLOCK" instances
step "Attach the managed policy, as additional_iam_policies does" \
  "$AIRLOCK" iam attach-role-policy --role-name DemoNodeRole \
  --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore
for _ in $(seq 1 30); do
  "$AIRLOCK" --json instances | grep -q '"PingStatus": "Online"' && break
  sleep 1
done
step "Now it is Online" "$AIRLOCK" instances
node=$("$AIRLOCK" --json instances | python3 -c 'import json,sys; print(json.load(sys.stdin)["InstanceInformationList"][0]["InstanceId"])')
step "The agent's service status" "$AIRLOCK" agent status --agent-dir "$work/agent"
step "Run a command through the session manager" "$AIRLOCK" exec "$node" -- sh -c 'echo "hello from $(hostname)"; uname -sr'

step "Create a researcher with read-only access" \
  "$AIRLOCK" iam create-user --user-name alice --tags Key=SSMSessionRunAs,Value=alice
"$AIRLOCK" iam attach-user-policy --user-name alice --policy-arn arn:aws:iam::aws:policy/AirlockReadOnlyAccess
"$AIRLOCK" iam create-access-key --user-name alice --save-profile alice >/dev/null
arn=$("$AIRLOCK" --json iam get-user --user-name alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["User"]["Arn"])')
step "May alice start a session? May she create users?" "$AIRLOCK" iam simulate-principal-policy \
  --policy-source-arn "$arn" --action-names ssm:StartSession iam:CreateUser
say "alice (read-only) tries to run a command: refused, and audited"
printf '$ airlock --profile alice exec %s -- id\n' "$node"
"$AIRLOCK" --profile alice exec "$node" -- id || true
step "Sessions so far" "$AIRLOCK" session list --history
step "The audit trail of denials" "$AIRLOCK" audit --decision Deny --max-items 5
step "Stop the server" "$AIRLOCK" server stop
