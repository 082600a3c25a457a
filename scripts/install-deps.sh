#!/usr/bin/env bash
# Installs what skiff needs to build and test on Debian 12, idempotently:
# a C toolchain (bundled SQLite, ring), curl, git, and a kubectl for the tests
# (Debian's kubernetes-client, only where no kubectl exists: it conflicts with
# distribution-provided dispatchers). Rust itself must already be installed (rustup).
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
dpkg -s ca-certificates >/dev/null 2>&1 || need+=(ca-certificates)
dpkg -s pkg-config >/dev/null 2>&1 || command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "skiff: installing system packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
  }
fi

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "skiff: cargo not found. Install a current stable Rust toolchain (https://rustup.rs) and re-run." >&2
  exit 1
fi
