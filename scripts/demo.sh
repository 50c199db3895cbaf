#!/usr/bin/env bash
# The main job, as far as it exists: start a throwaway airlock server, show
# its status, validate the seed's cluster config, create a user whose policy
# comes from the Session Manager documentation, and show the decisions and
# the audit trail. Everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRLOCK=${AIRLOCK:-target/debug/airlock}
work=$(mktemp -d /tmp/airlock-demo.XXXXXX)
export AIRLOCK_STATE_DIR="$work/state" AIRLOCK_CONFIG_DIR="$work/dot-airlock"
export AIRLOCK_LISTEN="127.0.0.1:${AIRLOCK_DEMO_PORT:-17443}"
cleanup() { "$AIRLOCK" server stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "Start the server (CA, state and admin profile are created on first start)" "$AIRLOCK" server start
step "Server status" "$AIRLOCK" server status
if "$AIRLOCK" config --help >/dev/null 2>&1; then
  step "Validate the seed's ParallelCluster config" "$AIRLOCK" config validate -c examples/ssm.ini
fi
step "Create a researcher" "$AIRLOCK" iam create-user --user-name alice --tags Key=SSMSessionRunAs,Value=alice
step "Give her the Session Manager user policy" "$AIRLOCK" iam attach-user-policy --user-name alice \
  --policy-arn arn:aws:iam::aws:policy/AirlockSessionUser
arn=$("$AIRLOCK" --json iam get-user --user-name alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["User"]["Arn"])')
step "May alice start a session? May she create users?" "$AIRLOCK" iam simulate-principal-policy \
  --policy-source-arn "$arn" --action-names ssm:StartSession iam:CreateUser \
  --resource-arns arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0
"$AIRLOCK" iam create-access-key --user-name alice --save-profile alice >/dev/null
printf '\n\033[1m== alice tries to list users (denied, and audited)\033[0m\n$ airlock --profile alice iam list-users\n'
"$AIRLOCK" --profile alice iam list-users || true
step "The audit trail of denials" "$AIRLOCK" audit --decision Deny
step "Stop the server" "$AIRLOCK" server stop
