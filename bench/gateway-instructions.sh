#!/usr/bin/env bash
# bench/gateway-instructions.sh — the user-space work each proxy does per request,
# counted, not timed: skiff's gateway and an nginx reverse proxy (the peer of issue 4's
# gateway figure), each run under valgrind's callgrind in front of the same backend,
# loaded with `wrk` on loopback; instructions executed (user space, the proxy's own
# code and its libraries) ÷ requests served.
#
# Why: bench/gateway.sh's req/s and CPU µs/request are the figures, but on a shared
# 2-core machine they move ±10% between runs. Instruction counts are the same from
# run to run whatever else the machine does, so this shows whether a change to the
# gateway's request path made it cheaper, and how far it is from nginx's.
# (The kernel's share, the TCP work, is not counted; it is about the same for both:
# four socket calls per request each.)
#
# How to run (as root, from anywhere):
#     bash bench/gateway-instructions.sh
# Knobs: DURATION=10s CONNS=16 BASE_PORT=28280 WRITE=0 (do not touch bench/RESULTS.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
BASE_PORT=${BASE_PORT:-28280}
WRITE=${WRITE:-1}
HOST=hello.default.localhost

need=()
for t in nginx wrk curl valgrind; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
    log "installing ${need[*]} (Debian)"
    apt-get install -y "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${need[@]}" >&2; }
fi

log "building release binaries (skiff-sample-app, gateway_bench example)"
(cd "$ROOT" && cargo build --release -p skiff-sample-app -p skiff-gateway --example gateway_bench >&2)

WORK=$(mktemp -d /tmp/skiff-gwinstr.XXXXXX)
cp "$CARGO_TARGET_DIR/release/skiff-sample-app" "$WORK/sample-app"
cp "$CARGO_TARGET_DIR/release/examples/gateway_bench" "$WORK/gateway_bench"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

BACKEND_PORT=$BASE_PORT
PROXY_PORT=$((BASE_PORT + 1))
check_ports_free "$BACKEND_PORT" "$PROXY_PORT"

answers() { curl -sf -o /dev/null -H "Host: $HOST" "http://127.0.0.1:$1/"; }
wait_answer() { # PORT
    local i
    for i in $(seq 1 300); do answers "$1" && return 0; sleep 0.1; done
    die "no answer on port $1"
}

PORT=$BACKEND_PORT TARGET=World "$WORK/sample-app" >"$WORK/backend.log" 2>&1 &
PIDS+=("$!")
wait_answer "$BACKEND_PORT"

mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx.conf" <<EOF
# As bench/gateway.sh's nginx, with one worker and no master (callgrind follows one
# process) — the gateway runs one thread here too.
worker_processes 1;
master_process off;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header Forwarded "for=\$remote_addr;host=\$http_host;proto=\$scheme";
        }
    }
}
EOF

# count NAME CMD... — runs CMD under callgrind, warms it up, counts DURATION of load;
# prints "requests instructions".
count() {
    local name=$1 pid out n total
    shift
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_answer "$PROXY_PORT"
    wrk -t1 -c"$CONNS" -d3s -H "Host: $HOST" "http://127.0.0.1:$PROXY_PORT/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" -H "Host: $HOST" "http://127.0.0.1:$PROXY_PORT/")
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    # The dump after zeroing is the newest part file.
    total=$(callgrind_annotate "$(ls -t "$WORK/$name.cg".* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(/,/, "", $1); print $1}')
    [[ -n $n && -n $total && $n -gt 0 ]] || die "$name: no count (see $WORK/$name.log)"
    echo "$n $total"
}

log "nginx under callgrind ($DURATION, $CONNS connections)"
read -r NGINX_N NGINX_I <<<"$(count nginx nginx -p "$WORK/nginx" -c "$WORK/nginx.conf")"
log "gateway under callgrind ($DURATION, $CONNS connections)"
read -r GW_N GW_I <<<"$(GATEWAY_THREADS=1 count gateway "$WORK/gateway_bench" "127.0.0.1:$PROXY_PORT" "=127.0.0.1:$BACKEND_PORT")"

NGINX_PER=$((NGINX_I / NGINX_N))
GW_PER=$((GW_I / GW_N))
RATIO=$(f %.2f "$GW_PER / $NGINX_PER")
SECTION=$(cat <<EOF
<!-- gateway-instructions:start -->
## Gateway vs nginx: user-space instructions per request

Generated by \`bench/gateway-instructions.sh\` (callgrind counts; the same from run to run whatever the machine's load). Replaces only this section.

- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(machine_desc)
- backend: skiff-sample-app; load: \`wrk -t1 -c$CONNS -d$DURATION\` on loopback after a 3 s warm-up; each proxy alone under \`valgrind --tool=callgrind\` (one nginx worker, no master; one gateway thread)
- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), configured as in bench/gateway.sh; gateway: $(git_desc crates/gateway "gateway changes"), release build of the gateway_bench example
- counted: instructions in user space (the proxy's code, libc, the allocator) ÷ requests; the kernel's TCP work is not in it

| proxy | requests | instructions | per request |
| --- | ---: | ---: | ---: |
| nginx | $NGINX_N | $NGINX_I | $NGINX_PER |
| gateway | $GW_N | $GW_I | $GW_PER |
| gateway ÷ nginx | | | $RATIO |
<!-- gateway-instructions:end -->
EOF
)
print_section "$SECTION"
write_results_section gateway-instructions "Gateway vs nginx: user-space instructions per request" "$SECTION"
