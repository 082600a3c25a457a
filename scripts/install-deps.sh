#!/usr/bin/env bash
# Installs what skiff needs to build and test on Debian 12, idempotently:
# a C toolchain (bundled SQLite, ring), curl, git, runc (instances), skopeo and
# docker-registry (image tests), and a kubectl for the tests
# (Debian's kubernetes-client, only where no kubectl exists: it conflicts with
# distribution-provided dispatchers), plus Debian's kubectl 1.20 under
# ~/.cache/skiff-tools for the legacy-kubectl test. Rust itself must already be
# installed (rustup).
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
dpkg -s ca-certificates >/dev/null 2>&1 || need+=(ca-certificates)
dpkg -s pkg-config >/dev/null 2>&1 || command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) # runtime tests' rootfs
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "skiff: installing system packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
  }
fi

# kubectl 1.20 (Debian's kubernetes-client) for crates/cli/tests/kubectl_legacy.rs, kept
# beside (not instead of) whatever kubectl is installed: extracted from the .deb with
# `apt-get download` + `dpkg -x`, never installed, so it cannot conflict with a
# dispatcher. Where kubernetes-client itself is the installed kubectl, a symlink.
# Best effort: without it the legacy test says "skipped: no kubectl 1.20".
legacy_kubectl() {
  local dest="$HOME/.cache/skiff-tools/kubectl-1.20"
  [ -x "$dest/kubectl" ] && return 0
  mkdir -p "$dest"
  if dpkg -s kubernetes-client >/dev/null 2>&1 && [ -x /usr/bin/kubectl ]; then
    ln -sf /usr/bin/kubectl "$dest/kubectl"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  local tmp
  tmp=$(mktemp -d)
  if (cd "$tmp" && { apt-get download -qq kubernetes-client >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get download -qq kubernetes-client >/dev/null 2>&1; }; }) &&
    dpkg -x "$tmp"/kubernetes-client_*.deb "$tmp/x" &&
    [ -x "$tmp/x/usr/bin/kubectl" ]; then
    install -m 0755 "$tmp/x/usr/bin/kubectl" "$dest/kubectl"
  fi
  rm -rf "$tmp"
  [ -x "$dest/kubectl" ]
}
legacy_kubectl || echo "skiff: could not fetch Debian's kubernetes-client (kubectl 1.20); its test will be skipped" >&2

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "skiff: cargo not found. Install a current stable Rust toolchain (https://rustup.rs) and re-run." >&2
  exit 1
fi
