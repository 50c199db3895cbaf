#!/usr/bin/env bash
# Installs the system packages airlock's build, walkthrough and tests need,
# skipping what is already there. Debian/Ubuntu, as root (or with sudo).
set -euo pipefail

# package: what needs it
packages=(
  gcc            # crates that build C (SQLite, ring)
  make
  pkg-config
  python3        # configparser differential tests
  python3-yaml   # PyYAML differential tests of the v3 loader
  python3-venv   # the differential test's venvs of ParallelCluster 2.11/3.16 (scripts/catalogue/differential.py)
  python3-venv   # the venv of moto, the EC2 API the EC2 provider is tested against
  openssh-client # ssh/scp through `airlock proxy`
  openssh-server # the throwaway sshd the session tests start
  rsync
  hyperfine      # bench/loopback.sh times session start with it
  slurm-wlm      # real Slurm (22.05 on Debian 12): slurmctld, slurmd, sinfo…
  munge
  util-linux     # unshare, nsenter, setpriv: nodes as namespaces (local provider)
  iproute2       # the local provider's bridges and veths (`ip`)
  nftables       # security groups inside nodes and the host table per cluster
  sudo           # the cluster user's and ssm-user's sudo, as on EC2 images
  procps
  time           # /usr/bin/time: peak memory in the recordings replay test
  curl
  ca-certificates
  git
  chromium       # the web console's browser test (driven by Playwright)
  sqlite3        # bench/faults.sh checks the database after its kill -9s (PRAGMA integrity_check)
  tmux           # listings_in_tmux: every listing in an 80-column terminal
)
# node runs that test, and npm installs its playwright-core. A node from
# elsewhere (NodeSource bundles npm) is kept: Debian's npm would conflict.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The python3 first on PATH may not be Debian's (pyenv): give it PyYAML too.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml || echo "warning: PyYAML not installed; its differential test will fail" >&2

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "installing the Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

# moto's EC2 API on loopback, for the EC2 provider's tests (crates/cluster/tests/ec2_moto.rs).
MOTO_VENV=/opt/moto-venv
if ! "$MOTO_VENV/bin/python" -c 'import moto, boto3, flask' 2>/dev/null; then
  echo "installing moto (PyPI) into $MOTO_VENV"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO python3 -m venv "$MOTO_VENV"
  $SUDO "$MOTO_VENV/bin/pip" install -q 'moto[server]==5.2.6' 'boto3==1.44.18'
fi
