#!/usr/bin/env bash
# bench/runtime-start.sh — the local runtime's cold start, step by step: from
# `LocalRuntime::start()` being called to the instance's Ready event (its port
# answers), for the static sample app, against the app's own boot (the same binary
# spawned directly, to its first accepted connection and first HTTP 200). The part
# of scale-from-zero's cold start that the runtime owns (image cached).
#
# Runs crates/runtime/examples/start_latency.rs: N starts one after another (each
# stopped before the next, GAP_MS apart) on its own bridge and subnet; prints p50/p95/max
# of each step (network namespace, rootfs + config.json, `runc run --detach`, first
# probe success, total) and the overhead over the app's boot. It removes everything it
# made (and fails if a network namespace is left).
#
# How to run (as root, from anywhere):
#     bash bench/runtime-start.sh
# Knobs (environment):
#     N=30           measured starts (after 2 warm-up starts)
#     POOL=          pre-created network namespaces (default: the runtime's default)
#     GAP_MS=100     idle time between a stop and the next start (0: back to back)
#     COMPARE=1      also run with POOL=0 (no namespace pool), for comparison
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/skiff-target}
COMPARE=${COMPARE:-0}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "runtime-start.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (runc, network namespaces)"
for t in runc ip; do command -v $t >/dev/null || die "$t not found (scripts/install-deps.sh installs it)"; done

log "building the static sample app and the start_latency example (release)"
(cd "$ROOT" \
    && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p skiff-sample-app \
        --target x86_64-unknown-linux-gnu >&2 \
    && cargo build --release -p skiff-runtime --example start_latency >&2)

WORK=$(mktemp -d /tmp/skiff-rtstart.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Copies: other builds sharing the target dir may replace the binaries mid-run.
cp "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/skiff-sample-app" "$WORK/app"
cp "$CARGO_TARGET_DIR/release/examples/start_latency" "$WORK/start_latency"

log "cold start, $(nproc) CPUs, $(runc --version | head -1)"
SAMPLE_APP="$WORK/app" "$WORK/start_latency"
if [[ $COMPARE == 1 ]]; then
    log "the same without the network namespace pool (POOL=0)"
    SAMPLE_APP="$WORK/app" POOL=0 "$WORK/start_latency"
fi
