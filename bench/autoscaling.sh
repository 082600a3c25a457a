#!/usr/bin/env bash
# bench/autoscaling.sh — the autoscaling issue's figures, measured against a real
# `skiff server --runtime local` (runc instances; the sample app image imported):
#
#   1. Cold start (the headline): COLD Services at zero instances
#      (`autoscaling.knative.dev/initial-scale: "0"`, config-autoscaler
#      `allow-zero-initial-scale: "true"`), all Ready; then one GET / to each, one at a
#      time, on a fresh connection: send → full 200 "Hello cold-NNN!" (the gateway holds
#      the request and the revision scales from zero). Peer, same run: the sample app's
#      own boot (spawn the static binary with PORT set → first 200, polled every 200 µs),
#      BOOTS samples. Overhead = cold start − median(app boot); target p95 ≤ 100 ms.
#   2. Burst from zero: a Service with containerConcurrency BURST_CC at zero instances;
#      BURST requests at once (each on its own connection) to /sleep?ms=BURST_SLEEP_MS →
#      non-200s (target: no 5xx) and the most instances reached (Pods listed every
#      200 ms and `actual_pods` on /metrics; target ≥ 20).
#   3. Knative-style load test: open loop, RAMP_FROM → RAMP_TO requests/s rising
#      linearly over RAMP_SECS, GET /sleep?ms=RAMP_SLEEP_MS on a Service with default
#      autoscaling → errors (target 0) and latency p50/p95/p99 (target p95 ≤ 115 ms),
#      plus the autoscaler's decisions each second (desired_pods, actual_pods,
#      panic_mode, concurrency from /metrics).
#   4. IDLE Services idle at zero (initial-scale 0, all Ready): the server's VmRSS
#      (target < 60 MB) and CPU use over IDLE_SECS (utime+stime, % of one core; target
#      near zero). Peer, same run: the same with no Service, right after start.
#
# How to run (as root, from anywhere):
#     bash bench/autoscaling.sh
# Knobs (environment):
#     COLD=30          cold starts (Services at zero)          BOOTS=COLD  app boot samples
#     BURST=200        concurrent requests of the burst        BURST_CC=10 its containerConcurrency
#     BURST_SLEEP_MS=1000  what each burst request asks the app to sleep
#     RAMP_FROM=100 RAMP_TO=1000 RAMP_SECS=60 RAMP_SLEEP_MS=100  the ramp
#     RAMP_TARGET=     autoscaling.knative.dev/target of the ramp Service (empty: default)
#     IDLE=100         idle Services at zero                   IDLE_SECS=10 CPU window
#     SKIP=            figures to skip, e.g. SKIP="2 3"
#     BASE_PORT=27480  API on BASE_PORT, gateway +1, metrics +2, app boot +3
#     SKIFF_LOG=info   server log filter; the log is printed on failure
#     REQUEST_LOG=1    the gateway writes one JSON line per request to requests.log in the
#                      temp dir (for diagnosis with KEEP=1; costs a little per request)
#     BUILD=0          use the release binaries already in $CARGO_TARGET_DIR (no cargo build)
#     KEEP=1           keep the temp dir (data dir, server log, raw samples, timelines)
#     WRITE=0          do not touch bench/RESULTS.md
# Prints a table and replaces the "Autoscaling" section of bench/RESULTS.md (between
# its markers; everything else in that file is kept).
#
# A benchmark, not a test: it reports PASS/MISS against the issue's targets and exits
# non-zero only if the run itself broke. It cleans up after itself: the server gets
# SIGTERM (and is waited for), then no runc container and no `skfas-*` netns may remain.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COLD=${COLD:-30}
BOOTS=${BOOTS:-$COLD}
BURST=${BURST:-200}
BURST_CC=${BURST_CC:-10}
BURST_SLEEP_MS=${BURST_SLEEP_MS:-1000}
RAMP_FROM=${RAMP_FROM:-100}
RAMP_TO=${RAMP_TO:-1000}
RAMP_SECS=${RAMP_SECS:-60}
RAMP_SLEEP_MS=${RAMP_SLEEP_MS:-100}
RAMP_TARGET=${RAMP_TARGET:-}
IDLE=${IDLE:-100}
IDLE_SECS=${IDLE_SECS:-10}
SKIP=${SKIP:-}
BASE_PORT=${BASE_PORT:-27480}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
REQUEST_LOG=${REQUEST_LOG:-0}
WRITE=${WRITE:-1}
BRIDGE=skfas
SUBNET=10.67.0.0/22
API_PORT=$BASE_PORT
GW_PORT=$((BASE_PORT + 1))
METRICS_PORT=$((BASE_PORT + 2))
APP_PORT=$((BASE_PORT + 3))

skipped() { [[ " $SKIP " == *" $1 "* ]]; }

require_root
require_tools runc curl jq kubectl ip ss awk
((COLD >= 1 && BOOTS >= 1 && BURST >= 1 && IDLE >= 1)) || die "COLD, BOOTS, BURST and IDLE must be ≥ 1"

# ---------------------------------------------------------------- builds
if [[ $BUILD == 1 ]]; then
    log "building release binaries (skiff, skiff-loadgen, static skiff-sample-app)"
    (cd "$ROOT" && cargo build --release -p skiff -p skiff-loadgen >&2 \
        && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p skiff-sample-app \
            --target x86_64-unknown-linux-gnu >&2)
else
    log "BUILD=0: using the release binaries in $CARGO_TARGET_DIR as they are"
fi

check_ports_free "$API_PORT" "$GW_PORT" "$METRICS_PORT" "$APP_PORT"
check_no_netns

make_workdir skiff-asbench
# Copies: other builds sharing the target dir may replace the binaries mid-run.
cp "$CARGO_TARGET_DIR/release/skiff" "$WORK/skiff"
cp "$CARGO_TARGET_DIR/release/skiff-loadgen" "$WORK/loadgen"
cp "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/skiff-sample-app" "$WORK/app"

SAMPLER_PID=
CLEANUP_FIRST=stop_pod_sampler
trap bench_cleanup EXIT

record_load_before

# ---------------------------------------------------------------- server
log "importing the sample app image, starting skiff server (bridge $BRIDGE, subnet $SUBNET)"
"$WORK/skiff" image pack --data-dir "$D" --binary "$WORK/app" --name dev.local/helloworld:latest --import >&2
start_server --runtime local --bridge "$BRIDGE" --subnet "$SUBNET" \
    --request-log "$( [[ $REQUEST_LOG == 1 ]] && echo "$WORK/requests.log" || echo off)"
wait_api
API=https://127.0.0.1:$API_PORT
GW=http://127.0.0.1:$GW_PORT
METRICS=http://127.0.0.1:$METRICS_PORT/metrics
mb() { f %.1f "$1 / 1024"; }
# % of one core the server used over SECS seconds (utime + stime).
server_cpu_pct() { # SECS
    local a b
    a=$(cpu_ticks "$SERVER_PID")
    sleep "$1"
    b=$(cpu_ticks "$SERVER_PID")
    awk -v d=$((b - a)) -v hz="$CLK_TCK" -v s="$1" 'BEGIN {printf "%.2f", 100 * d / hz / s}'
}
RSS_TRAIL=
LG() { # SECTION SUBCOMMAND ARGS… → key=value lines on stdout, diagnostics prefixed on stderr
    local section=$1
    shift
    "$WORK/loadgen" "$@" 2> >(sed "s/^/    [$section] /" >&2) || die "loadgen $1 failed"
}
kv() { awk -F= -v k="$1" '$1 == k {print $2; found = 1} END {if (!found) print "-"}' <<<"$2"; }
sleep 1
RSS_START=$(rss_kb "$SERVER_PID")

# Services (label bench=$1) whose Ready condition is True.
ready_services() { count_ready "$API/apis/serving.knative.dev/v1/namespaces/default/services?labelSelector=bench=$1"; }
wait_ready_services() { # LABEL COUNT TIMEOUT_S
    local i n=0
    for i in $(seq 1 $(($3 * 5))); do
        n=$(ready_services "$1")
        [[ $n == "$2" ]] && return 0
        sleep 0.2
    done
    kubectl get ksvc -l "bench=$1" >&2 || true
    die "services bench=$1: $n of $2 Ready after $3 s"
}
# Pods of a Service: "total ready".
pods_of() {
    kapi "$API/api/v1/namespaces/default/pods?labelSelector=serving.knative.dev/service=$1" \
        | jq -r '[(.items | length), ([.items[] | select(.status.conditions[]? | .type == "Ready" and .status == "True")] | length)] | @tsv'
}
# Background: "t_s total ready" every PERIOD s for Service NAME into FILE, until killed.
start_pod_sampler() { # NAME PERIOD FILE
    local t0=${EPOCHREALTIME/./}
    (
        while :; do
            p=$(pods_of "$1" 2>/dev/null) || p="- -"
            echo "$(((${EPOCHREALTIME/./} - t0) / 1000)) $p"
            sleep "$2"
        done
    ) >"$3" &
    SAMPLER_PID=$!
}
stop_pod_sampler() {
    [[ -n $SAMPLER_PID ]] || return 0
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
}
# Server log lines at WARN or ERROR so far (ANSI colours stripped).
log_problems() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | grep -cE '^\S+\s+(WARN|ERROR)' || true; }
problems_since() { # LINE_COUNT_BEFORE → the new WARN/ERROR lines, at most 15
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | grep -E '^\S+\s+(WARN|ERROR)' | tail -n +$(($1 + 1)) | head -15 | cut -c1-400 || true
}
# One Service manifest: NAME LABEL ANNOTATIONS(yaml lines, indented 8) [CONTAINER_CONCURRENCY]
svc() {
    echo "---"
    echo "apiVersion: serving.knative.dev/v1"
    echo "kind: Service"
    echo "metadata:"
    echo "  name: $1"
    echo "  labels:"
    echo "    bench: $2"
    echo "spec:"
    echo "  template:"
    if [[ -n $3 ]]; then
        echo "    metadata:"
        echo "      annotations:"
        printf '%s\n' "$3"
    fi
    echo "    spec:"
    [[ -z ${4:-} ]] || echo "      containerConcurrency: $4"
    echo "      containers:"
    echo "        - image: dev.local/helloworld:latest"
    echo "          env:"
    echo "            - name: TARGET"
    echo "              value: \"$1\""
}
ZERO='        autoscaling.knative.dev/initial-scale: "0"'

log "config-autoscaler: allow-zero-initial-scale: \"true\" (everything else default)"
# (Merge into the ConfigMap if the server made one; create it otherwise.)
if kubectl -n knative-serving get configmap config-autoscaler >/dev/null 2>&1; then
    kubectl -n knative-serving patch configmap config-autoscaler --type merge \
        -p '{"data":{"allow-zero-initial-scale":"true"}}' >&2
else
    kubectl -n knative-serving create configmap config-autoscaler \
        --from-literal=allow-zero-initial-scale=true >&2
fi
AS_CONFIG=$(kubectl -n knative-serving get configmap config-autoscaler -o json \
    | jq -c '.data // {} | with_entries(select(.key | startswith("_") | not))')

# ---------------------------------------------------------------- figure 4 peer: no Service
log "idle server, no Service: RSS and CPU over ${IDLE_SECS} s"
sleep 2
RSS_NONE=$(server_rss)
CPU_NONE=$(server_cpu_pct "$IDLE_SECS")

# ---------------------------------------------------------------- figure 1: cold start
if ! skipped 1; then
    log "app boot (peer): $BOOTS samples, spawn → first 200, polled every 200 µs"
    BOOT_OUT=$(LG boot app-boot --binary "$WORK/app" --port "$APP_PORT" --samples "$BOOTS" --raw "$WORK/appboot.txt")

    log "$COLD Services at zero (initial-scale 0); waiting until all are Ready"
    for i in $(seq -f '%03g' 1 "$COLD"); do svc "cold-$i" cold "$ZERO"; done >"$WORK/cold.yaml"
    T0=${EPOCHREALTIME/./}
    kubectl apply -f "$WORK/cold.yaml" >/dev/null
    wait_ready_services cold "$COLD" 300
    COLD_READY_MS=$(((${EPOCHREALTIME/./} - T0) / 1000))
    sleep 1
    N_BEFORE=$(ncontainers)
    ((N_BEFORE == 0)) || die "$N_BEFORE instances running before the cold starts (initial-scale 0 not honoured?)"

    log "$COLD cold starts: one GET / per Service, one at a time, fresh connection each"
    P0=$(log_problems)
    HOSTS=()
    for i in $(seq -f '%03g' 1 "$COLD"); do HOSTS+=(--host "cold-$i.default.localhost"); done
    COLD_OUT=$(LG cold http-once --url "$GW" --path / "${HOSTS[@]}" --expect 'Hello {host}!' \
        --gap-ms 200 --timeout-secs 30 --raw "$WORK/coldstart.txt")
    COLD_PROBLEMS=$(problems_since "$P0")
    COLD_INST=$(ncontainers)

    log "deleting the cold Services; waiting for 0 instances"
    kubectl delete ksvc -l bench=cold --wait=true >/dev/null
    wait_no_containers 60 || die "instances still running 60 s after deleting the cold Services"
    RSS_TRAIL+="after the cold starts (Services deleted): $(mb "$(rss_kb "$SERVER_PID")") MB; "
fi

# ---------------------------------------------------------------- figure 2: burst from zero
if ! skipped 2; then
    log "Service burst (containerConcurrency $BURST_CC, initial-scale 0); waiting until Ready"
    svc burst burst "$ZERO" "$BURST_CC" | kubectl apply -f - >/dev/null
    wait_ready_services burst 1 60
    sleep 1
    ((($(ncontainers)) == 0)) || die "instances running before the burst"

    log "burst: $BURST concurrent GET /sleep?ms=$BURST_SLEEP_MS"
    P0=$(log_problems)
    start_pod_sampler burst 0.2 "$WORK/burst-pods.txt"
    BURST_OUT=$(LG burst http-burst --url "$GW" --path "/sleep?ms=$BURST_SLEEP_MS" --host burst.default.localhost \
        --concurrency "$BURST" --timeout-secs 60 --metrics-url "$METRICS" --sample-ms 200 \
        --timeline "$WORK/burst-timeline.txt" --raw "$WORK/burst.txt")
    stop_pod_sampler
    BURST_PROBLEMS=$(problems_since "$P0")
    BURST_MAX_PODS=$(awk '$2 ~ /^[0-9]+$/ && $2 > m {m = $2} END {print m + 0}' "$WORK/burst-pods.txt")
    BURST_MAX_READY=$(awk '$3 ~ /^[0-9]+$/ && $3 > m {m = $3} END {print m + 0}' "$WORK/burst-pods.txt")
    # When the first Pod was listed and when the most were, ms after the burst started.
    BURST_FIRST_POD_MS=$(awk '$2 ~ /^[0-9]+$/ && $2 > 0 {print $1; exit}' "$WORK/burst-pods.txt")
    BURST_MAX_POD_MS=$(awk -v m="$BURST_MAX_PODS" '$2 == m {print $1; exit}' "$WORK/burst-pods.txt")

    log "deleting burst; waiting for 0 instances"
    kubectl delete ksvc burst --wait=true >/dev/null
    wait_no_containers 60 || die "instances still running 60 s after deleting burst"
    RSS_TRAIL+="after the burst: $(mb "$(rss_kb "$SERVER_PID")") MB; "
fi

# ---------------------------------------------------------------- figure 3: ramp
if ! skipped 3; then
    RAMP_ANN=
    [[ -z $RAMP_TARGET ]] || RAMP_ANN="        autoscaling.knative.dev/target: \"$RAMP_TARGET\""
    log "Service ramp (default autoscaling${RAMP_TARGET:+, target $RAMP_TARGET}); waiting until Ready"
    svc ramp ramp "$RAMP_ANN" | kubectl apply -f - >/dev/null
    wait_ready_services ramp 1 60
    curl -sf -o /dev/null -H "Host: ramp.default.localhost" "$GW/" || die "ramp did not answer"
    sleep 1
    RAMP_PODS_BEFORE=$(pods_of ramp | cut -f1)

    log "ramp: $RAMP_FROM → $RAMP_TO requests/s over $RAMP_SECS s, open loop, GET /sleep?ms=$RAMP_SLEEP_MS"
    P0=$(log_problems)
    STAT_A=$(stat_line)
    start_pod_sampler ramp 1 "$WORK/ramp-pods.txt"
    RAMP_OUT=$(LG ramp http-ramp --url "$GW" --path "/sleep?ms=$RAMP_SLEEP_MS" --host ramp.default.localhost \
        --from-rps "$RAMP_FROM" --to-rps "$RAMP_TO" --secs "$RAMP_SECS" --timeout-secs 30 \
        --metrics-url "$METRICS" --sample-ms 1000 --timeline "$WORK/ramp-timeline.txt")
    stop_pod_sampler
    STAT_B=$(stat_line)
    RAMP_PROBLEMS=$(problems_since "$P0")
    BUSY_RAMP=$(busy_between "$STAT_A" "$STAT_B")
    RAMP_MAX_PODS=$(awk '$2 ~ /^[0-9]+$/ && $2 > m {m = $2} END {print m + 0}' "$WORK/ramp-pods.txt")

    log "deleting ramp; waiting for 0 instances"
    kubectl delete ksvc ramp --wait=true >/dev/null
    wait_no_containers 60 || die "instances still running 60 s after deleting ramp"
    RSS_TRAIL+="after the ramp: $(mb "$(rss_kb "$SERVER_PID")") MB; "
fi

# ---------------------------------------------------------------- figure 4: idle Services
if ! skipped 4; then
    log "no Service, after the load: RSS and CPU over ${IDLE_SECS} s (peer)"
    sleep 2
    RSS_PRE=$(server_rss)
    CPU_PRE=$(server_cpu_pct "$IDLE_SECS")
    log "$IDLE Services at zero (initial-scale 0); waiting until all are Ready"
    for i in $(seq -f '%03g' 1 "$IDLE"); do svc "idle-$i" idle "$ZERO"; done >"$WORK/idle.yaml"
    T0=${EPOCHREALTIME/./}
    kubectl apply -f "$WORK/idle.yaml" >/dev/null
    wait_ready_services idle "$IDLE" 600
    IDLE_READY_MS=$(((${EPOCHREALTIME/./} - T0) / 1000))
    sleep 3
    IDLE_INST=$(ncontainers)
    log "$IDLE idle Services: RSS and CPU over ${IDLE_SECS} s"
    RSS_IDLE=$(server_rss)
    CPU_IDLE=$(server_cpu_pct "$IDLE_SECS")
    IDLE_INST_AFTER=$(ncontainers)
    THREADS_IDLE=$(threads "$SERVER_PID")
fi

# ---------------------------------------------------------------- stop + leak check
stop_server
LEFT_CONT=$(ncontainers)
LEFT_NETNS=$(count_netns)
LOG_WARN=$(log_problems)

# ---------------------------------------------------------------- report
ROWS=()
NOTES=()

if ! skipped 1; then
    read -r NB B50 B95 BMAX _ <<<"$(stats "$WORK/appboot.txt" 1)"
    read -r NC C50 C95 CMAX _ <<<"$(stats "$WORK/coldstart.txt" 3 2 status_200)"
    awk -v b="$B50" '$2 == "status_200" {printf "%.3f\n", $3 - b}' "$WORK/coldstart.txt" >"$WORK/overhead.txt"
    read -r _ O50 O95 OMAX _ <<<"$(stats "$WORK/overhead.txt" 1)"
    COLD_ERR=$(kv errors "$COLD_OUT")
    V_COLD=$( [[ $O95 != - ]] && (($(f %d "$O95 <= 100"))) && ((COLD_ERR == 0)) && echo PASS || echo MISS)
    ROWS+=("| 1. cold start: first request from zero instances, send → full 200 (p50 / p95 / max of $NC; $COLD_ERR failed) | $C50 / $C95 / $CMAX ms |  | - | app boot (spawn → first 200) p50 / p95 / max of $NB: $B50 / $B95 / $BMAX ms | cold ÷ boot (p50): $(f %.0f "$C50 / $B50")× |")
    ROWS+=("| 1. skiff's cold-start overhead = cold start − median app boot (p50 / p95 / max) | **$O50 / $O95 / $OMAX ms** | p95 ≤ 100 ms | $V_COLD |  |  |")
    NOTES+=("Cold starts: $COLD Services with \`autoscaling.knative.dev/initial-scale: \"0\"\` were all Ready ${COLD_READY_MS} ms after \`kubectl apply\` with 0 instances; then one \`GET /\` each, 200 ms apart, each on a fresh TCP connection, timed by skiff-loadgen from the send to the last body byte (checked: \"Hello cold-NNN!\"). Time to the response head p50 / p95: $(kv head_p50_ms "$COLD_OUT") / $(kv head_p95_ms "$COLD_OUT") ms. Instances running after the cold starts: $COLD_INST. Samples (ms): $(awk '{printf "%s ", $3}' "$WORK/coldstart.txt")")
    NOTES+=("App boot samples (ms): $(tr '\n' ' ' <"$WORK/appboot.txt")")
    [[ -z $COLD_PROBLEMS ]] || NOTES+=("Server WARN/ERROR lines during the cold starts: $(echo "$COLD_PROBLEMS" | sed 's/|/\\|/g' | awk '{printf "`%s` ", $0}')")
fi

if ! skipped 2; then
    B_OK=$(kv ok "$BURST_OUT"); B_NON=$(kv non_200 "$BURST_OUT"); B_5XX=$(kv status_5xx "$BURST_OUT")
    B_TERR=$(kv transport_errors "$BURST_OUT")
    B_CODES=$(grep -E '^(status|error)_[0-9a-z_]+=' <<<"$BURST_OUT" | grep -v '^status_5xx=' | tr '\n' ' ')
    B_MAXACT=$(kv max_actual_pods "$BURST_OUT"); B_MAXDES=$(kv max_desired_pods "$BURST_OUT")
    V_B5=$( ((B_5XX == 0 && B_TERR == 0)) && echo PASS || echo MISS)
    V_BN=$( ((BURST_MAX_PODS >= 20)) && echo PASS || echo MISS)
    ROWS+=("| 2. burst from zero: $BURST concurrent GET /sleep?ms=$BURST_SLEEP_MS, containerConcurrency $BURST_CC → 5xx / transport errors / non-200 | $B_5XX / $B_TERR / $B_NON | 0 5xx | $V_B5 |  |  |")
    ROWS+=("| 2. burst: most instances (Pods listed / Ready; max \`actual_pods\` / \`desired_pods\` on /metrics) | **$BURST_MAX_PODS** / $BURST_MAX_READY; $B_MAXACT / $B_MAXDES | ≥ 20 | $V_BN | enough for all at once: ⌈$BURST ÷ $BURST_CC⌉ = $(((BURST + BURST_CC - 1) / BURST_CC)) |  |")
    ROWS+=("| 2. burst latency, send → 200 (p50 / p95 / max); all done after | $(kv p50_ms "$BURST_OUT") / $(kv p95_ms "$BURST_OUT") / $(kv max_ms "$BURST_OUT") ms; $(kv seconds "$BURST_OUT") s |  | - | the app's own sleep: $BURST_SLEEP_MS ms | p50 ÷ sleep: $(f %.2f "$(kv p50_ms "$BURST_OUT") / $BURST_SLEEP_MS")× |")
    NOTES+=("Burst: outcomes $B_CODES; first Pod listed ${BURST_FIRST_POD_MS:--} ms after the burst started, the most ($BURST_MAX_PODS) at ${BURST_MAX_POD_MS:--} ms (Pods listed every 200 ms); panic mode seen on /metrics: $(kv panic_seen "$BURST_OUT") (first at $(kv panic_first_s "$BURST_OUT") s; /metrics sampled every 200 ms, $(kv metric_samples "$BURST_OUT") samples).")
    if [[ $REQUEST_LOG == 1 && -s $WORK/requests.log ]]; then
        # Per instance: requests, and their gateway latency p50 / max (from the request log).
        PER_INST=$(jq -r 'select(.host == "burst.default.localhost") | [.httpRequest.serverIp, (.httpRequest.latency | rtrimstr("s") | tonumber * 1000)] | @tsv' \
            "$WORK/requests.log" | sort -k1,1 -k2,2g | awk '{ n[$1]++; v[$1, n[$1]] = $2 }
            END { for (ip in n) printf "%s: %d requests, p50 %.0f ms, max %.0f ms; ", ip, n[ip], v[ip, int((n[ip] + 1) / 2)], v[ip, n[ip]] }')
        NOTES+=("Burst per instance (gateway request log): $PER_INST")
    fi
    [[ -z $BURST_PROBLEMS ]] || NOTES+=("Server WARN/ERROR lines during the burst: $(echo "$BURST_PROBLEMS" | sed 's/|/\\|/g' | awk '{printf "`%s` ", $0}')")
fi

if ! skipped 3; then
    R_N=$(kv requests "$RAMP_OUT"); R_OK=$(kv ok "$RAMP_OUT"); R_ERR=$(kv errors "$RAMP_OUT")
    R_CODES=$(grep -E '^(status|error)_[0-9a-z_]+=' <<<"$RAMP_OUT" | tr '\n' ' ')
    R50=$(kv uncorrected_p50_ms "$RAMP_OUT"); R95=$(kv uncorrected_p95_ms "$RAMP_OUT"); R99=$(kv uncorrected_p99_ms "$RAMP_OUT"); RMAX=$(kv uncorrected_max_ms "$RAMP_OUT")
    RC50=$(kv p50_ms "$RAMP_OUT"); RC95=$(kv p95_ms "$RAMP_OUT"); RC99=$(kv p99_ms "$RAMP_OUT")
    V_RE=$( ((R_ERR == 0)) && echo PASS || echo MISS)
    V_RL=$( (($(f %d "$R95 <= 115"))) && echo PASS || echo MISS)
    ROWS+=("| 3. ramp $RAMP_FROM → $RAMP_TO req/s over $RAMP_SECS s (open loop), GET /sleep?ms=$RAMP_SLEEP_MS: errors of $R_N | $R_ERR | 0 | $V_RE |  |  |")
    ROWS+=("| 3. ramp latency from the send (p50 / **p95** / p99 / max) | $R50 / **$R95** / $R99 / $RMAX ms | p95 ≤ 115 ms | $V_RL | the app's own sleep: $RAMP_SLEEP_MS ms | p95 ÷ sleep: $(f %.2f "$R95 / $RAMP_SLEEP_MS")× |")
    ROWS+=("| 3. ramp latency from the scheduled send (p50 / p95 / p99; includes the load generator's own lag) | $RC50 / $RC95 / $RC99 ms |  | - |  |  |")
    ROWS+=("| 3. ramp: autoscaler — most instances (Pods listed; max \`desired_pods\` / \`actual_pods\`), panic mode entered | $RAMP_MAX_PODS; $(kv max_desired_pods "$RAMP_OUT") / $(kv max_actual_pods "$RAMP_OUT"); panic: $( (($(kv panic_seen "$RAMP_OUT") == 1)) && echo "yes, first at $(kv panic_first_s "$RAMP_OUT") s ($(kv panic_samples "$RAMP_OUT") of $(kv metric_samples "$RAMP_OUT") samples)" || echo no) |  | - |  |  |")
    NOTES+=("Ramp: outcomes $R_CODES; achieved $(kv achieved_rps "$RAMP_OUT") req/s on average over $(kv schedule_secs "$RAMP_OUT") s, at most $(kv max_in_flight "$RAMP_OUT") requests in flight; the generator's send lag p99 / max: $(kv send_lag_p99_ms "$RAMP_OUT") / $(kv send_lag_max_ms "$RAMP_OUT") ms; both CPUs ${BUSY_RAMP}% busy during the ramp (generator, server and instances share them). Pods before the ramp: $RAMP_PODS_BEFORE. Config: \`config-autoscaler\` data $AS_CONFIG (the rest Knative's defaults); ramp Service annotations: ${RAMP_TARGET:+autoscaling.knative.dev/target=$RAMP_TARGET}${RAMP_TARGET:-none}.")
    [[ -z $RAMP_PROBLEMS ]] || NOTES+=("Server WARN/ERROR lines during the ramp: $(echo "$RAMP_PROBLEMS" | sed 's/|/\\|/g' | awk '{printf "`%s` ", $0}')")
    # The autoscaler over time: about 12 rows of the per-second timeline.
    STEP=$(((RAMP_SECS + 11) / 12))
    RAMP_TABLE=$(awk -v step="$STEP" 'NR == 1 { next } ($1 % step == 0 || $2 == 0) && $3 != "" {
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $5, $7, $10, $11, $12, $13, $17 }' \
        "$WORK/ramp-timeline.txt")
fi

if ! skipped 4; then
    V_RSS=$( (($(f %d "$RSS_IDLE / 1024 < 60"))) && echo PASS || echo MISS)
    ROWS+=("| 4. server RSS with $IDLE Services idle at zero ($IDLE_INST instances), after figures 1–3 | **$(mb "$RSS_IDLE") MB** | < 60 MB | $V_RSS | no Service, just before: $(mb "$RSS_PRE") MB; right after start: $(mb "$RSS_NONE") MB | per Service (vs just before): $(f %.1f "($RSS_IDLE - $RSS_PRE) / $IDLE") kB |")
    ROWS+=("| 4. server CPU over $IDLE_SECS s idle with $IDLE Services at zero (utime+stime, % of one core) | **$CPU_IDLE %** | near zero | $( (($(f %d "$CPU_IDLE < 1"))) && echo "PASS (< 1 %)" || echo "MISS (≥ 1 %)") | no Service, just before: $CPU_PRE %; right after start: $CPU_NONE % |  |")
    NOTES+=("Idle: $IDLE Services with initial-scale 0 were all Ready ${IDLE_READY_MS} ms after \`kubectl apply\`; instances while measuring: $IDLE_INST before, $IDLE_INST_AFTER after; RSS = median of 5 samples over 2 s; CPU from /proc/PID/stat at ${CLK_TCK} ticks/s; server threads $THREADS_IDLE. Server RSS over the run: 1 s after start $(mb "$RSS_START") MB; ${RSS_TRAIL}with no Service before the idle ones $(mb "$RSS_PRE") MB; with them $(mb "$RSS_IDLE") MB.")
fi

RUNC_VERSION=$(runc --version | head -1)

SECTION=$(
    echo "<!-- autoscaling-bench:start -->"
    echo "## Autoscaling: cold start, burst from zero, load ramp, idle Services"
    echo
    echo "Generated by \`bench/autoscaling.sh\` — regenerate with \`bash bench/autoscaling.sh\` (as root). Replaces only this section."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(machine_desc); $RUNC_VERSION"
    echo "- CPU busy before the run: ${BUSY_BEFORE}% (load average $LOADAVG_BEFORE); other sessions may share this machine"
    echo "- skiff: $(git_desc), release build$( [[ $BUILD == 1 ]] || echo " (BUILD=0: the binary as built at $(date -u -r "$CARGO_TARGET_DIR/release/skiff" '+%Y-%m-%d %H:%M UTC'), not rebuilt)"); \`skiff server --runtime local\` (runc, a netns per instance on bridge $BRIDGE), image \`dev.local/helloworld:latest\` = the static sample app packed with \`skiff image pack --import\`; requests through the gateway with \`Host: NAME.default.localhost\`, sent by \`skiff-loadgen\` (bench/loadgen; HTTP/1.1)"
    echo "- knobs: COLD=$COLD BOOTS=$BOOTS BURST=$BURST BURST_CC=$BURST_CC BURST_SLEEP_MS=$BURST_SLEEP_MS RAMP_FROM=$RAMP_FROM RAMP_TO=$RAMP_TO RAMP_SECS=$RAMP_SECS RAMP_SLEEP_MS=$RAMP_SLEEP_MS RAMP_TARGET=${RAMP_TARGET:-default} IDLE=$IDLE IDLE_SECS=$IDLE_SECS${SKIP:+ SKIP=\"$SKIP\"}"
    echo
    echo "| figure | value | target | verdict | peer | ratio |"
    echo "| --- | ---: | --- | --- | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    echo
    for n in "${NOTES[@]}"; do echo "$n"; echo; done
    if ! skipped 3; then
        echo "The autoscaler during the ramp (every ${STEP} s; requests by the second they were scheduled in; /metrics sampled once a second):"
        echo
        echo "| t (s) | target req/s | sent | errors | p95 (ms, from scheduled send) | desired_pods | actual_pods | panic_mode | stable concurrency | in flight |"
        echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        echo "$RAMP_TABLE"
        echo
    fi
    echo "Server: stop (SIGTERM → exit) ${STOP_MS} ms; left after stop: $LEFT_CONT runc containers, $LEFT_NETNS \`$BRIDGE-*\` netns; WARN/ERROR lines in the server log over the whole run: $LOG_WARN."
    echo "<!-- autoscaling-bench:end -->"
)

print_section "$SECTION"
write_results_section autoscaling-bench Autoscaling "$SECTION"
