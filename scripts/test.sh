#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs every unit and
# integration test of the workspace (integration tests start real skiff servers on
# loopback and drive them with kubectl, kube-rs and plain HTTPS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
bash scripts/prune-target.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked -- --test-threads="${SKIFF_TEST_THREADS:-4}"
