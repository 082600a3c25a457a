#!/usr/bin/env bash
# Installs what skiff needs, builds skiff and its sample app, imports the sample app as
# the image dev.local/helloworld:latest, starts `skiff server` in the background (data in
# ~/.local/share/skiff, API on https://127.0.0.1:6443, gateway on http://127.0.0.1:8080)
# and deploys the Knative helloworld Service, then calls it at its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
cargo build --release --locked -p skiff
# The sample app is linked statically so its image needs nothing but the binary.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p skiff-sample-app --target x86_64-unknown-linux-gnu
SKIFF="$CARGO_TARGET_DIR/release/skiff"
SAMPLE="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/skiff-sample-app"
install -m 0755 "$SKIFF" /usr/local/bin/skiff 2>/dev/null && SKIFF=/usr/local/bin/skiff || true

DATA_DIR="${SKIFF_DATA_DIR:-$HOME/.local/share/skiff}"
API_ADDR="${SKIFF_API_ADDR:-127.0.0.1:6443}"
GATEWAY_ADDR="${SKIFF_GATEWAY_ADDR:-127.0.0.1:8080}"
LOG="$DATA_DIR/server.log"
mkdir -p "$DATA_DIR"

"$SKIFF" image pack --data-dir "$DATA_DIR" --binary "$SAMPLE" --name dev.local/helloworld:latest --import

if [ -f "$DATA_DIR/server.pid" ] && kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null; then
  echo "skiff server already running (pid $(cat "$DATA_DIR/server.pid"))"
else
  nohup "$SKIFF" server --data-dir "$DATA_DIR" --api-addr "$API_ADDR" --gateway-addr "$GATEWAY_ADDR" >"$LOG" 2>&1 &
  echo $! >"$DATA_DIR/server.pid"
  for _ in $(seq 1 200); do
    curl -sk -o /dev/null "https://$API_ADDR/readyz" && break
    sleep 0.05
  done
  kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null || { cat "$LOG"; exit 1; }
  echo "skiff server started (pid $(cat "$DATA_DIR/server.pid"), log $LOG)"
fi

export KUBECONFIG="$DATA_DIR/kubeconfig"
"$SKIFF" apply -f examples/hello.yaml
kubectl wait --for=condition=Ready ksvc/hello --timeout=120s >/dev/null
URL=$(kubectl get ksvc hello -o jsonpath='{.status.url}')
"$SKIFF" get ksvc hello
echo "\$ curl $URL"
curl -sS --max-time 10 "$URL"
echo
echo "Try: export KUBECONFIG=$KUBECONFIG; kubectl get ksvc,revisions,pods; curl $URL"
echo "Stop the server with: kill \$(cat $DATA_DIR/server.pid)"
