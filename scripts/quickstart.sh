#!/usr/bin/env bash
# Installs what skiff needs, builds it, starts `skiff server` in the background
# (data in ~/.local/share/skiff) and deploys the sample Knative Service.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
cargo build --release --locked -p skiff
SKIFF="$CARGO_TARGET_DIR/release/skiff"
install -m 0755 "$SKIFF" /usr/local/bin/skiff 2>/dev/null && SKIFF=/usr/local/bin/skiff || true

DATA_DIR="${SKIFF_DATA_DIR:-$HOME/.local/share/skiff}"
API_ADDR="${SKIFF_API_ADDR:-127.0.0.1:6443}"
LOG="$DATA_DIR/server.log"
mkdir -p "$DATA_DIR"

if [ -f "$DATA_DIR/server.pid" ] && kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null; then
  echo "skiff server already running (pid $(cat "$DATA_DIR/server.pid"))"
else
  nohup "$SKIFF" server --data-dir "$DATA_DIR" --api-addr "$API_ADDR" >"$LOG" 2>&1 &
  echo $! >"$DATA_DIR/server.pid"
  for _ in $(seq 1 200); do
    curl -sk -o /dev/null "https://$API_ADDR/readyz" && break
    sleep 0.05
  done
  echo "skiff server started (pid $(cat "$DATA_DIR/server.pid"), log $LOG)"
fi

export KUBECONFIG="$DATA_DIR/kubeconfig"
"$SKIFF" apply -f examples/hello.yaml
"$SKIFF" get ksvc
echo
echo "Try: export KUBECONFIG=$KUBECONFIG; kubectl get ksvc hello -o yaml"
echo "Stop the server with: kill \$(cat $DATA_DIR/server.pid)"
