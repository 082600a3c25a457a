# shellcheck shell=bash
# bench/lib.sh — what the benchmark scripts in bench/ share. Sourced, not run:
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it sets ROOT (the repository), CARGO_TARGET_DIR (default
# ~/.cache/skiff-target, exported), SCRIPT_NAME (the sourcing script's file name, for
# messages) and CLK_TCK. The helpers for a `skiff server` run read what the caller
# sets: WORK and D (make_workdir), BRIDGE, API_PORT, GW_PORT, METRICS_PORT, KEEP,
# WRITE; SERVER_PID (start_server); RUNC_ROOTS (the runc state dirs the EXIT trap
# checks for leaked containers; make_workdir puts the server's there) and
# CLEANUP_FIRST (the name of a function the trap runs before anything else, e.g. to
# stop a background sampler).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/skiff-target}
SCRIPT_NAME=$(basename "${BASH_SOURCE[1]:-$0}")
CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=
SERVER_T0=
LEFTOVER=
CLEANUP_FIRST=
RUNC_ROOTS=()

# ---------------------------------------------------------------- messages
# A progress line (bold) on stderr.
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# Fail the run: "SCRIPT_NAME: message" on stderr, exit 1 (the EXIT trap cleans up).
die() { echo "$SCRIPT_NAME: $*" >&2; exit 1; }

# ---------------------------------------------------------------- checks before a run
# Die unless running as root (runc and network namespaces need it).
require_root() { [[ $(id -u) == 0 ]] || die "needs root (runc, network namespaces)"; }
# Die naming the first of TOOL... that is not installed.
require_tools() { # TOOL...
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh installs it)"; done
}
# Die if something listens on one of PORT... already.
check_ports_free() { # PORT...
    local p
    for p in "$@"; do
        if ss -Hltn "sport = :$p" | grep -q .; then die "port $p is in use; set BASE_PORT"; fi
    done
}
# Die if network namespaces of $BRIDGE exist already (another run still going, or leaked).
check_no_netns() {
    if ip netns list | grep -qE "^$BRIDGE[-:]"; then
        die "network namespaces $BRIDGE-* exist already (another run of this script?)"
    fi
}

# ---------------------------------------------------------------- temp dir + EXIT trap
# Create the run's temp dir /tmp/PREFIX.XXXXXX: sets WORK, D=$WORK/data (the server's
# data dir) and RUNC_ROOTS=(the server's runc state dir).
make_workdir() { # PREFIX
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    D=$WORK/data
    mkdir -p "$D"
    RUNC_ROOTS=("$D/runtime/runc")
}
# The EXIT trap (`trap bench_cleanup EXIT`): runs CLEANUP_FIRST (a function, once
# defined), stops the server
# (SIGTERM; SIGKILL after 30 s), removes and reports as a LEAK (exit 1) runc containers
# in RUNC_ROOTS, $BRIDGE-* netns and mounts under $WORK, deletes the bridge, prints the
# server log's tail if the run failed and removes $WORK unless KEEP=1.
bench_cleanup() {
    local rc=$? i r
    if [[ -n $CLEANUP_FIRST ]] && declare -F "$CLEANUP_FIRST" >/dev/null; then "$CLEANUP_FIRST" || true; fi
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for i in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$SCRIPT_NAME: server did not exit 30 s after SIGTERM; SIGKILL" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    for r in "${RUNC_ROOTS[@]}"; do
        if [[ -d $r ]] && runc --root "$r" list -q 2>/dev/null | grep -q .; then
            echo "$SCRIPT_NAME: LEAK: runc containers left in $r after the server stopped:" >&2
            runc --root "$r" list >&2 || true
            for i in $(runc --root "$r" list -q); do runc --root "$r" delete -f "$i" || true; done
            LEFTOVER=1
        fi
    done
    if ip netns list | grep -qE "^$BRIDGE[-:]"; then
        echo "$SCRIPT_NAME: LEAK: network namespaces left after the server stopped:" >&2
        ip netns list | grep -E "^$BRIDGE[-:]" >&2
        for i in $(ip netns list | awk -v b="$BRIDGE" 'index($1, b "-") == 1 || index($1, b ":") == 1 {print $1}'); do ip netns del "$i" || true; done
        LEFTOVER=1
    fi
    ip link del "$BRIDGE" 2>/dev/null || true
    # Overlay rootfs mounts under the temp dir must be gone before rm -rf.
    if grep -q " $WORK/" /proc/mounts; then
        echo "$SCRIPT_NAME: LEAK: mounts left under $WORK" >&2
        grep " $WORK/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
        LEFTOVER=1
    fi
    if [[ $rc != 0 && -f $WORK/server.log ]]; then
        echo "---- last 40 lines of the server log ----" >&2
        tail -40 "$WORK/server.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300 >&2
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
    [[ -z $LEFTOVER ]] || exit 1
    exit $rc
}

# ---------------------------------------------------------------- machine load
# Share (%) of all CPUs busy over the next second (every process on the machine).
cpu_busy_pct() {
    local a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
    sleep 1
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
    awk -v busy=$(((b1 + b2 + b3 + b5 + b6 + b7 + b8) - (a1 + a2 + a3 + a5 + a6 + a7 + a8))) \
        -v idle=$((b4 - a4)) 'BEGIN {printf "%.0f", 100 * busy / (busy + idle)}'
}
# How busy the machine is before the run: sets BUSY_BEFORE (%) and LOADAVG_BEFORE.
record_load_before() {
    BUSY_BEFORE=$(cpu_busy_pct)
    LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
}
# The all-CPUs line of /proc/stat, to pass to busy_between later.
stat_line() { head -1 /proc/stat; }
# Share (%) of all CPUs busy between two stat_line samples.
busy_between() { # STAT_LINE_BEFORE STAT_LINE_AFTER
    printf '%s\n%s\n' "$1" "$2" | awk '{ b[NR] = $2 + $3 + $4 + $7 + $8 + $9; i[NR] = $5 + $6 }
        END { printf "%.0f", 100 * (b[2] - b[1]) / ((b[2] - b[1]) + (i[2] - i[1])) }'
}

# ---------------------------------------------------------------- processes
# VmRSS of a process, kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Number of threads of a process.
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
# utime + stime of the processes PID... (those still there), summed, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name).
cpu_ticks() { # PID...
    local p v t=0
    for p in "$@"; do
        [[ -r /proc/$p/stat ]] || continue
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# ---------------------------------------------------------------- the server
# Start `skiff server` on $D (API on API_PORT, gateway on GW_PORT, metrics on
# METRICS_PORT; log filter SKIFF_LOG, default info) with the extra FLAGS, logging to
# $WORK/server.log; sets SERVER_PID (the EXIT trap stops it) and SERVER_T0.
start_server() { # FLAGS...
    SKIFF_LOG=${SKIFF_LOG:-info} "$WORK/skiff" server --data-dir "$D" --api-addr "127.0.0.1:$API_PORT" \
        --gateway-addr "127.0.0.1:$GW_PORT" --metrics-addr "127.0.0.1:$METRICS_PORT" \
        "$@" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    SERVER_T0=${EPOCHREALTIME/./}
}
# True if the API's /readyz answers 200 to the admin token (CA pinned).
api_ready() {
    [[ -f $D/pki/admin.token && -f $D/pki/ca.crt ]] \
        && curl -sf -o /dev/null --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $(cat "$D/pki/admin.token")" \
            "https://127.0.0.1:$API_PORT/readyz"
}
# Wait up to 30 s for the API to be ready (die if the server exits or it is not);
# sets READY_MS (since start_server), TOKEN (the admin token) and KUBECONFIG.
wait_api() {
    local i
    for i in $(seq 1 600); do
        api_ready && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "skiff server exited"
        sleep 0.05
    done
    api_ready || die "skiff server not ready after 30 s"
    READY_MS=$(((${EPOCHREALTIME/./} - SERVER_T0) / 1000))
    TOKEN=$(cat "$D/pki/admin.token")
    export KUBECONFIG=$D/kubeconfig
}
# curl the API with the admin token, CA pinned (failing on an HTTP error).
kapi() { curl -sS --fail-with-body --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $TOKEN" "$@"; }
# How many objects of the list at URL (Pods, Services, …) have a Ready condition True.
count_ready() { # URL
    kapi "$1" | jq '[.items[] | select(.status.conditions[]? | .type == "Ready" and .status == "True")] | length'
}
# Median VmRSS (kB) of the server over 5 samples 0.4 s apart (the allocator moves it by
# a few hundred kB between samples).
server_rss() {
    local i
    for i in 1 2 3 4 5; do rss_kb "$SERVER_PID"; sleep 0.4; done | sort -n | sed -n 3p
}
# The run's end: SIGTERM the server and wait for it; sets STOP_MS, clears SERVER_PID.
stop_server() {
    log "stopping the server (SIGTERM) and checking for leftovers"
    local t0=${EPOCHREALTIME/./}
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    STOP_MS=$(((${EPOCHREALTIME/./} - t0) / 1000))
    SERVER_PID=
}
# How many $BRIDGE-* network namespaces exist.
count_netns() { ip netns list | grep -cE "^$BRIDGE[-:]" || true; }

# ---------------------------------------------------------------- runc containers of the server
# runc container ids of this data dir; `runc list` fails when a container vanishes
# while it lists, so retry rather than read a failure as "none".
containers() {
    local i out
    for i in $(seq 1 20); do
        if out=$(runc --root "$D/runtime/runc" list -q 2>/dev/null); then
            [[ -n $out ]] && echo "$out"
            return 0
        fi
        sleep 0.05
    done
    die "runc list keeps failing"
}
# How many runc containers this data dir has.
ncontainers() { containers | grep -c . || true; }
# Wait up to TIMEOUT_S seconds for this data dir to have no runc container; false if it still has.
wait_no_containers() { # TIMEOUT_S
    local i
    for i in $(seq 1 $(($1 * 10))); do
        [[ -z $(containers) ]] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- the report
# Run the script's Python timing helper, $WORK/bench.py, with ARGS.
PY() { python3 "$WORK/bench.py" "$@"; }
# Evaluate the awk expression EXPR and print it with printf FORMAT, e.g. f %.1f "$a / $b".
f() { awk "BEGIN { printf \"$1\", $2 }"; }
# Nearest-rank statistics of the numbers in column COLUMN of FILE, only on the rows whose
# column MATCH_COLUMN is MATCH_VALUE if given → "n p50 p95 max mean" ("0 - - - -" if none).
stats() { # FILE COLUMN [MATCH_COLUMN MATCH_VALUE]
    awk -v c="$2" -v mc="${3:-0}" -v mv="${4:-}" '(mc == 0 || $mc == mv) && $c ~ /^-?[0-9]/ { print $c }' "$1" | sort -g | awk '
        { v[NR] = $1; s += $1 }
        END {
            if (NR == 0) { print "0 - - - -"; exit }
            i50 = int(0.50 * NR + 0.999999); i95 = int(0.95 * NR + 0.999999)
            if (i50 < 1) i50 = 1; if (i95 < 1) i95 = 1
            printf "%d %.1f %.1f %.1f %.1f\n", NR, v[i50], v[i95], v[NR], s / NR
        }'
}
# The machine for RESULTS.md: "N CPUs, CPU model, RAM, kernel".
machine_desc() {
    printf '%s CPUs, %s, %s RAM, %s' "$(nproc)" "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
        "$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)" "$(uname -sr)"
}
# The commit for RESULTS.md: "git SHORT_SHA", plus NOTE if PATHSPEC has uncommitted
# changes (default: crates, " + uncommitted changes under crates/").
git_desc() { # [PATHSPEC [NOTE]]
    local rev
    rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    printf 'git %s' "$rev"
    if (cd "$ROOT" && git status --porcelain -- "${1:-crates}" 2>/dev/null | grep -q .); then
        printf '%s' "${2:- + uncommitted changes under crates/}"
    fi
}
# Print a RESULTS.md section on stdout, after a blank line, without its marker lines.
print_section() { # SECTION
    echo
    echo "$1" | sed '/^<!--/d'
}
# With WRITE=1 (the default), replace the section between the lines "<!-- NAME:start -->"
# and "<!-- NAME:end -->" of bench/RESULTS.md by SECTION, put last (everything else kept).
write_results_section() { # NAME TITLE SECTION
    [[ ${WRITE:-1} == 1 ]] || return 0
    local results=$ROOT/bench/RESULTS.md
    touch "$results"
    # Drop an earlier copy of this section (between the markers), then append.
    awk -v start="<!-- $1:start -->" -v end="<!-- $1:end -->" \
        '$0 == start { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$results" >"$results.new"
    # Exactly one blank line between the kept content and the section.
    sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$results.new"
    { echo; echo "$3"; } >>"$results.new"
    mv "$results.new" "$results"
    echo "written: $results (section \"$2\")" >&2
}

# ---------------------------------------------------------------- nginx peer
# Writes the nginx reverse proxy the gateway is compared with (bench/gateway.sh,
# bench/gateway-instructions.sh): one config for both, so the two figures measure
# the same peer. MAIN is extra main-context lines (e.g. one worker, no master); the
# pid file, logs and temp dirs go under DIR.
write_nginx_proxy_conf() { # FILE DIR BACKEND_PORT LISTEN_PORT MAIN
    mkdir -p "$2/logs"
    cat >"$1" <<EOF
# A reverse proxy as one would configure it in front of an app: upstream keep-alive,
# the usual forwarding headers (the gateway sets the same ones), no access log (the
# gateway's request log is off by default too).
$5
pid $2/nginx.pid;
error_log $2/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $2/body;
    proxy_temp_path $2/proxy;
    fastcgi_temp_path $2/fastcgi;
    uwsgi_temp_path $2/uwsgi;
    scgi_temp_path $2/scgi;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$3;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$4;
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
}

# ---------------------------------------------------------------- gateway vs nginx
# What bench/gateway.sh and bench/gateway-instructions.sh share. proxy_bench_setup
# installs the missing TOOLs (Debian), builds the release sample app and the
# gateway_bench example, copies them into a new WORK dir (other builds sharing the
# target dir may replace the binaries mid-run) and arms the EXIT trap that stops
# what the run started (nginx, and the PIDS the script adds) and removes WORK.
proxy_bench_setup() { # PREFIX TOOL...
    local prefix=$1 need=() t
    shift
    for t in "$@"; do command -v "$t" >/dev/null || need+=("$t"); done
    if ((${#need[@]})); then
        log "installing ${need[*]} (Debian)"
        # Debian's nginx package starts an nginx.service on :80; it is not used here.
        apt-get install -y "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${need[@]}" >&2; }
    fi
    log "building release binaries (skiff-sample-app, gateway_bench example)"
    (cd "$ROOT" && cargo build --release -p skiff-sample-app >&2 \
        && cargo build --release -p skiff-gateway --example gateway_bench >&2)
    WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
    cp "$CARGO_TARGET_DIR/release/skiff-sample-app" "$WORK/sample-app"
    cp "$CARGO_TARGET_DIR/release/examples/gateway_bench" "$WORK/gateway_bench"
    PIDS=()
    trap proxy_bench_cleanup EXIT
}
proxy_bench_cleanup() {
    local p
    if [[ -f $WORK/nginx/nginx.pid ]]; then kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
# Waits until URL answers 2xx (with Host: HOST if given), at most SECONDS (default 5).
wait_http() { # URL [HOST [SECONDS]]
    local deadline=$((SECONDS + ${3:-5}))
    until curl -sf -o /dev/null ${2:+-H "Host: $2"} "$1"; do
        if ((SECONDS >= deadline)); then
            echo "no answer from $1" >&2
            return 1
        fi
        sleep 0.05
    done
}
