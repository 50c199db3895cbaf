# The two commands of the README, and the checks.
.PHONY: demo test build install lint fmt bench faults

PREFIX ?= /usr/local
# The features of every build and test run of `make test` and `make lint`: the EC2
# provider is built and tested. One feature set (and the build-graph note in
# Cargo.toml) means cargo builds each crate once; the tests' own
# `cargo build` of the binaries reads it from AIRLOCK_TEST_FEATURES.
FEATURES ?= airlock-server/ec2,airlock-cluster/ec2,airlock-cli/ec2
export AIRLOCK_TEST_FEATURES := $(FEATURES)

demo:
	scripts/install-deps.sh
	cargo build --bin airlock --bin airlock-server
	scripts/walkthrough.sh

test:
	scripts/install-deps.sh
	cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund
	# The tests run `airlock server`, which runs the airlock-server binary beside it;
	# the agent simulator is the agent-scale benchmark's (CI runs its smoke).
	cargo build --features $(FEATURES) --bin airlock --bin airlock-server --bin airlock-agent-sim
	# Root-only tests are #[ignore = "needs root"]; run them too (as root), so nothing passes by skipping.
	# The EC2 provider's tests run against moto's EC2 API on loopback.
	cargo test --workspace --features $(FEATURES) --lib --bins --tests --examples -- --include-ignored
	cargo test --workspace --features $(FEATURES) --bench '*'
	cargo test --workspace --features $(FEATURES) --doc
	# airlock's config validation against ParallelCluster 2.11.9 and 3.16.1 themselves (docs/COMPATIBILITY.md):
	# their venvs come from PyPI and stay in target/differential; fails on a disagreement not listed as deliberate.
	scripts/catalogue/differential.py --work target/differential

build:
	cargo build --bin airlock --bin airlock-server

# Release binaries onto PATH (airlock and airlock-server, side by side) and the manual pages.
# `make install FEATURES_INSTALL=$(FEATURES)` includes the EC2 provider (docs/EC2.md).
FEATURES_INSTALL ?=
install:
	cargo build --release --bin airlock --bin airlock-server $(if $(FEATURES_INSTALL),--features $(FEATURES_INSTALL))
	install -d $(PREFIX)/bin
	install -m 0755 target/release/airlock target/release/airlock-server $(PREFIX)/bin/
	target/release/airlock man --out-dir $(PREFIX)/share/man/man1

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features $(FEATURES) -- -D warnings
	# And the default build, without the EC2 SDK.
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	bench/all.sh

# The fault suite, full form (docs/RELIABILITY.md): about 12 minutes, as root; records its tables.
faults:
	scripts/install-deps.sh
	cargo build --release --bin airlock --bin airlock-server
	RECORD=1 bench/faults.sh
