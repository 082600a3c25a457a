#!/usr/bin/env bash
# bench/api.sh — issue 3's API figures for skiff, with etcd (the store under
# kube-apiserver) measured in the same run on the same machine, and ratios.
#
# How to run (from anywhere; root is needed only if etcd must be installed):
#     bash bench/api.sh
# Knobs (environment): TOTAL=10000 CLIENTS=20 WATCHERS=100 EVENTS=200 STARTS=5 ROUNDS=3 PAYLOAD=256
# Writes bench/RESULTS.md (its API section regenerated on every run; the gateway
# section written by bench/gateway.sh is kept) and prints the same table.
#
# This is a benchmark, not a test: it never fails the build; it reports PASS/MISS
# against the issue's targets. Exit status is non-zero only if the run itself broke.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/skiff-target}
TOTAL=${TOTAL:-10000}
CLIENTS=${CLIENTS:-20}
WATCHERS=${WATCHERS:-100}
EVENTS=${EVENTS:-200}
STARTS=${STARTS:-5}
ROUNDS=${ROUNDS:-3}
PAYLOAD=${PAYLOAD:-256}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ---------------------------------------------------------------- build + tools
log "building release binaries (skiff, skiff-loadgen)"
(cd "$ROOT" && cargo build --release -p skiff -p skiff-loadgen)
SKIFF=$CARGO_TARGET_DIR/release/skiff
LG=$CARGO_TARGET_DIR/release/skiff-loadgen

if ! command -v etcd >/dev/null; then
    log "installing etcd (Debian etcd-server)"
    # The Debian package enables an etcd.service; that unit is not used here.
    apt-get install -y etcd-server >&2 || { apt-get update >&2 && apt-get install -y etcd-server >&2; }
fi
ETCD_VERSION=$(etcd --version | sed -n 's/^etcd Version: //p')
# --unsafe-no-fsync exists in 3.4.23 although `etcd --help` does not list it; probe the binary.
if grep -aq -- "unsafe-no-fsync" "$(command -v etcd)"; then HAVE_NOFSYNC=1; else HAVE_NOFSYNC=0; fi

# The build leaves hundreds of MB of dirty pages; flush them so write-back does not
# land in the middle of the timed fsyncs.
sync

# How busy the CPUs are before we start (other sessions may share this machine).
cpu_busy_pct() {
    local a b
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat; a=$((a1+a2+a3+a5+a6+a7+a8)); local ai=$a4
    sleep 1
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat; b=$((b1+b2+b3+b5+b6+b7+b8)); local bi=$b4
    awk -v busy=$((b - a)) -v idle=$((bi - ai)) 'BEGIN {printf "%.0f", 100*busy/(busy+idle)}'
}
BUSY_BEFORE=$(cpu_busy_pct)
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

WORK=$(mktemp -d /tmp/skiff-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A free loopback port: pick at random, keep it if nothing answers there.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
    done
}
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

declare -A R # figures: R[section.key]=value

# Runs the load generator; its key=value lines land in R[section.key].
lg() {
    local section=$1; shift
    local out k v
    out=$("$LG" "$@" 2> >(sed "s/^/    [$section] /" >&2)) || { echo "loadgen $1 failed" >&2; exit 1; }
    while IFS='=' read -r k v; do
        if [[ -n $k ]]; then R[$section.$k]=$v; fi
    done <<<"$out"
}

# ---------------------------------------------------------------- skiff
SKIFF_PID=
SKIFF_PORT=
# start_skiff DIR: spawns a server, polls /readyz with curl until 200; sets SKIFF_PID, SKIFF_PORT, START_MS.
start_skiff() {
    local dir=$1 t0 t1 code
    SKIFF_PORT=$(free_port)
    t0=$(now_us)
    # The API figures are the API server's: no runtime, no gateway (bench/serving.sh and
    # bench/gateway.sh measure those).
    "$SKIFF" server --runtime none --data-dir "$dir" --api-addr "127.0.0.1:$SKIFF_PORT" \
        --gateway-addr "127.0.0.1:$(free_port)" --metrics-addr "127.0.0.1:$(free_port)" \
        >>"$WORK/skiff.log" 2>&1 &
    SKIFF_PID=$!
    PIDS+=("$SKIFF_PID")
    while :; do
        code=$(curl -sk --max-time 1 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$SKIFF_PORT/readyz" || true)
        [[ $code == 200 ]] && break
        kill -0 "$SKIFF_PID" 2>/dev/null || { cat "$WORK/skiff.log" >&2; echo "skiff died" >&2; exit 1; }
        (( ($(now_us) - t0) > 20000000 )) && { echo "skiff not ready after 20 s" >&2; exit 1; }
    done
    t1=$(now_us)
    START_MS=$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d/1000}')
}

log "startup: $STARTS fresh data dirs, then $STARTS warm starts of one dir"
fresh=() warm=()
for i in $(seq "$STARTS"); do
    start_skiff "$WORK/start-fresh-$i"; fresh+=("$START_MS"); stop "$SKIFF_PID"
done
for i in $(seq "$STARTS"); do
    start_skiff "$WORK/start-fresh-1"; warm+=("$START_MS"); stop "$SKIFF_PID"
done
R[skiff.start_fresh_ms]=$(printf '%s\n' "${fresh[@]}" | median)
R[skiff.start_warm_ms]=$(printf '%s\n' "${warm[@]}" | median)
R[skiff.start_fresh_all]="${fresh[*]}"
R[skiff.start_warm_all]="${warm[*]}"
echo "    fresh: ${fresh[*]} ms; warm: ${warm[*]} ms" >&2

# Each load round runs against a fresh server/data dir; per-round figures are kept
# (R[SECTION_rN.key]) and the median over rounds is reported. The machine is shared
# (2 cores; other sessions build there), so one round alone is noisy.
# medians SECTION KEYS...: R[SECTION.key] = median over rounds of R[SECTION_rN.key]
medians() {
    local s=$1 k r; shift
    for k in "$@"; do
        R[$s.$k]=$(for r in $(seq "$ROUNDS"); do echo "${R[${s}_r$r.$k]}"; done | median)
        R[$s.${k}_rounds]=$(for r in $(seq "$ROUNDS"); do printf '%s ' "${R[${s}_r$r.$k]}"; done)
    done
}
CREATE_KEYS=(rate p50_ms p90_ms p99_ms max_ms errors)

log "skiff: $ROUNDS rounds of (fresh server, idle RSS, $TOTAL creates by $CLIENTS clients); list and $WATCHERS watchers x $EVENTS events on the last"
for r in $(seq "$ROUNDS"); do
    SD=$WORK/skiff-data-$r
    start_skiff "$SD"
    sleep 2
    R[skiff_r$r.rss_idle_kb]=$(rss_kb "$SKIFF_PID")
    SK=(--url "https://127.0.0.1:$SKIFF_PORT" --token "$SD/pki/admin.token" --ca "$SD/pki/ca.crt" --payload-bytes "$PAYLOAD")
    lg "skiff_creates_r$r" skiff-creates "${SK[@]}" --clients "$CLIENTS" --total "$TOTAL" --prefix bench
    R[skiff_r$r.rss_after_creates_kb]=$(rss_kb "$SKIFF_PID")
    echo "    round $r: ${R[skiff_creates_r$r.rate]} creates/s, p99 ${R[skiff_creates_r$r.p99_ms]} ms" >&2
    if (( r < ROUNDS )); then stop "$SKIFF_PID"; continue; fi
    lg skiff_list skiff-list "${SK[@]}" --expect "$TOTAL" --reps 5
    lg skiff_watch skiff-watchers "${SK[@]}" --n "$WATCHERS" --events "$EVENTS" --prefix watch
    R[skiff.rss_after_all_kb]=$(rss_kb "$SKIFF_PID")
    R[skiff.db_kb]=$(du -sk "$SD" | cut -f1)
    stop "$SKIFF_PID"
done
medians skiff_creates "${CREATE_KEYS[@]}"
medians skiff rss_idle_kb rss_after_creates_kb
R[skiff_creates.object_bytes]=${R[skiff_creates_r1.object_bytes]}

# ---------------------------------------------------------------- etcd
# start_etcd SECTION DIR EXTRA_FLAGS...: one etcd on random loopback ports; sets ETCD_PID, ETCD_PORT, START_MS.
start_etcd() {
    local s=$1 d=$2 pp t0 t1; shift 2
    ETCD_PORT=$(free_port); pp=$(free_port)
    t0=$(now_us)
    etcd --name bench --data-dir "$d" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "bench=http://127.0.0.1:$pp" --logger zap --log-outputs stderr --log-level warn \
        "$@" >>"$WORK/$s.log" 2>&1 &
    ETCD_PID=$!
    PIDS+=("$ETCD_PID")
    until curl -s --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
        kill -0 "$ETCD_PID" 2>/dev/null || { cat "$WORK/$s.log" >&2; echo "etcd died" >&2; exit 1; }
        (( ($(now_us) - t0) > 30000000 )) && { echo "etcd not healthy after 30 s" >&2; exit 1; }
    done
    t1=$(now_us)
    START_MS=$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d/1000}')
}
# run_etcd SECTION EXTRA_FLAGS...: the same rounds and loads as skiff's.
run_etcd() {
    local s=$1 r d starts=(); shift
    for r in $(seq "$ROUNDS"); do
        d=$WORK/$s-$r
        start_etcd "$s" "$d" "$@"
        starts+=("$START_MS")
        sleep 2
        R[${s}_r$r.rss_idle_kb]=$(rss_kb "$ETCD_PID")
        local E=(--url "http://127.0.0.1:$ETCD_PORT" --payload-bytes "$PAYLOAD")
        lg "${s}_creates_r$r" etcd-puts "${E[@]}" --clients "$CLIENTS" --total "$TOTAL" --prefix bench
        R[${s}_r$r.rss_after_creates_kb]=$(rss_kb "$ETCD_PID")
        echo "    round $r: ${R[${s}_creates_r$r.rate]} puts/s, p99 ${R[${s}_creates_r$r.p99_ms]} ms" >&2
        if (( r < ROUNDS )); then stop "$ETCD_PID"; continue; fi
        lg "${s}_list" etcd-range "${E[@]}" --expect "$TOTAL" --reps 5 --prefix bench
        lg "${s}_watch" etcd-watchers "${E[@]}" --n "$WATCHERS" --events "$EVENTS" --prefix watch
        R[$s.rss_after_all_kb]=$(rss_kb "$ETCD_PID")
        R[$s.db_kb]=$(du -sk "$d" | cut -f1)
        stop "$ETCD_PID"
    done
    R[$s.start_fresh_ms]=$(printf '%s\n' "${starts[@]}" | median)
    R[$s.start_fresh_all]="${starts[*]}"
    medians "${s}_creates" "${CREATE_KEYS[@]}"
    medians "$s" rss_idle_kb rss_after_creates_kb
}
log "etcd $ETCD_VERSION (default: fsync on every commit): same rounds and loads"
run_etcd etcd
PEERS=(etcd)
if [[ $HAVE_NOFSYNC == 1 ]]; then
    log "etcd $ETCD_VERSION --unsafe-no-fsync: same rounds and loads"
    run_etcd etcdnf --unsafe-no-fsync
    PEERS+=(etcdnf)
fi

# ---------------------------------------------------------------- report
mb() { awk -v k="${1:-0}" 'BEGIN {printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b+0 == 0) print "-"; else printf "%.2f", a/b}'; }
# verdict VALUE OP TARGET
verdict() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {ok = (op == ">=") ? v >= t : v < t; print ok ? "PASS" : "MISS"}'; }

# row LABEL TARGET_TEXT OP TARGET skiff_value peer_values...
ROWS=()
row() {
    local label=$1 ttext=$2 op=$3 target=$4 sv=$5; shift 5
    local v="-" line
    [[ -n $op ]] && v=$(verdict "$sv" "$op" "$target")
    line="| $label | $sv | $ttext | $v |"
    local pv
    for pv in "$@"; do line+=" $pv | $(ratio "$sv" "$pv") |"; done
    ROWS+=("$line")
}
# pv SUB KEY: R[PEER_SUB.KEY] for each peer; pvr KEY: R[PEER.KEY] for each peer
pv() { local sub=$1 key=$2 p; for p in "${PEERS[@]}"; do printf '%s\n' "${R[${p}_$sub.$key]}"; done; }
pvr() { local key=$1 p; for p in "${PEERS[@]}"; do printf '%s\n' "${R[$p.$key]}"; done; }
mapfile -t P < <(pv creates rate);           row "creates/s ($CLIENTS clients, $TOTAL objects; median of $ROUNDS rounds)" "≥ 2000" ">=" 2000 "${R[skiff_creates.rate]}" "${P[@]}"
mapfile -t P < <(pv creates p50_ms);         row "create p50 ms (median of rounds)" "" "" "" "${R[skiff_creates.p50_ms]}" "${P[@]}"
mapfile -t P < <(pv creates p99_ms);         row "create p99 ms (median of rounds)" "< 20" "<" 20 "${R[skiff_creates.p99_ms]}" "${P[@]}"
mapfile -t P < <(pv creates max_ms);         row "create max ms (median of rounds)" "" "" "" "${R[skiff_creates.max_ms]}" "${P[@]}"
mapfile -t P < <(pv list median_ms);         row "list $TOTAL objects ms (median of 5)" "< 150" "<" 150 "${R[skiff_list.median_ms]}" "${P[@]}"
mapfile -t P < <(pv list response_bytes);    row "list response bytes" "" "" "" "${R[skiff_list.response_bytes]}" "${P[@]}"
mapfile -t P < <(pv watch complete_watchers); row "watchers that got all $EVENTS events (of $WATCHERS)" "= $WATCHERS" ">=" "$WATCHERS" "${R[skiff_watch.complete_watchers]}" "${P[@]}"
mapfile -t P < <(pv watch min_received);     row "min events received by a watcher" "= $EVENTS" ">=" "$EVENTS" "${R[skiff_watch.min_received]}" "${P[@]}"
mapfile -t P < <(pv watch all_received_ms);  row "ms from first write to all watchers having all events" "" "" "" "${R[skiff_watch.all_received_ms]}" "${P[@]}"
mapfile -t P < <(pv watch delivery_p99_ms);  row "watch delivery p99 ms (write sent → event received)" "" "" "" "${R[skiff_watch.delivery_p99_ms]}" "${P[@]}"
mapfile -t P < <(pvr rss_idle_kb);           for i in "${!P[@]}"; do P[i]=$(mb "${P[i]}"); done
row "idle RSS MB (median of rounds)" "< 30" "<" 30 "$(mb "${R[skiff.rss_idle_kb]}")" "${P[@]}"
mapfile -t P < <(pvr rss_after_creates_kb);  for i in "${!P[@]}"; do P[i]=$(mb "${P[i]}"); done
row "RSS MB after $TOTAL creates" "" "" "" "$(mb "${R[skiff.rss_after_creates_kb]}")" "${P[@]}"
mapfile -t P < <(pvr rss_after_all_kb);      for i in "${!P[@]}"; do P[i]=$(mb "${P[i]}"); done
row "RSS MB after list + watchers" "" "" "" "$(mb "${R[skiff.rss_after_all_kb]}")" "${P[@]}"
mapfile -t P < <(pvr start_fresh_ms);        row "start → ready ms, fresh data dir (median of $STARTS; etcd: of $ROUNDS, to /health)" "< 100" "<" 100 "${R[skiff.start_fresh_ms]}" "${P[@]}"
row "start → /readyz ms, warm data dir (median of $STARTS)" "< 100" "<" 100 "${R[skiff.start_warm_ms]}"
mapfile -t P < <(pvr db_kb);                 row "data dir KB at the end" "" "" "" "${R[skiff.db_kb]}" "${P[@]}"

HDR="| figure | skiff | target | verdict |"
SEP="| --- | ---: | --- | --- |"
for p in "${PEERS[@]}"; do
    case $p in etcd) n="etcd (fsync)";; etcdnf) n="etcd --unsafe-no-fsync";; esac
    HDR+=" $n | skiff ÷ $n |"; SEP+=" ---: | ---: |"
done

CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
RAM=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (+ uncommitted changes)" || true)
OBJ=${R[skiff_creates.object_bytes]}

{
    echo "# skiff API benchmark results"
    echo
    echo "Generated by \`bench/api.sh\` — regenerate with \`bash bench/api.sh\` (from the repo root; installs etcd-server if missing)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $CPU, $RAM RAM, $(uname -sr); load generator, skiff and etcd all share this machine"
    echo "- CPU busy before the run: ${BUSY_BEFORE}% (load average $LOADAVG_BEFORE); other sessions may share this machine, hence $ROUNDS rounds and medians"
    echo "- skiff: git $REV$DIRTY, release build; SQLite in WAL mode, synchronous=NORMAL (a write survives a crash of the process, not a power loss)"
    echo "- peer: etcd $ETCD_VERSION (Debian etcd-server), single member, loopback, v3 JSON gRPC-gateway over HTTP/1.1 keep-alive."
    echo "  etcd fsyncs its WAL on every commit by default (survives power loss), so \"etcd (fsync)\" does more durable work than skiff;"
    if [[ $HAVE_NOFSYNC == 1 ]]; then
        echo "  \"etcd --unsafe-no-fsync\" (flag present in 3.4.23 though not in \`--help\`) is the like-for-like line: no fsync, crash-of-process durability only."
    else
        echo "  this etcd has no \`--unsafe-no-fsync\`, so there is no like-for-like no-fsync line."
    fi
    echo "- load: $CLIENTS clients, each its own connection (skiff: HTTPS, HTTP/2 via ALPN, bearer token), warmed up before timing;"
    echo "  $TOTAL ConfigMaps of $OBJ JSON bytes each (data value $PAYLOAD bytes) → skiff \`POST /api/v1/namespaces/default/configmaps\`;"
    echo "  the same $OBJ bytes as the value of etcd \`/v3/kv/put\` under \`/registry/configmaps/default/NAME\` (kube-apiserver's key layout)."
    echo "  List: skiff \`GET …/configmaps\` vs etcd \`/v3/kv/range\` over the prefix; time to the last byte of the response (client JSON parsing not timed)."
    echo "  Watch: $WATCHERS watchers, each its own connection, from the current resourceVersion/revision; 4 writers create $EVENTS more objects;"
    echo "  each watcher counts the distinct objects it received."
    echo "  Startup: spawn \`skiff server\` → first 200 from \`/readyz\` (curl -k polled in a tight loop); fresh = new data dir (CA, cert, token, DB created)."
    echo "  Idle RSS: VmRSS 2 s after ready."
    echo "- ratios are skiff ÷ peer: above 1 is better for skiff on rates, below 1 is better for skiff on times and memory."
    echo
    echo "$HDR"
    echo "$SEP"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Startup samples (ms): skiff fresh ${R[skiff.start_fresh_all]}; skiff warm ${R[skiff.start_warm_all]}."
    echo
    echo "Create rounds (each on a fresh server and data dir):"
    echo
    echo "- skiff: creates/s ${R[skiff_creates.rate_rounds]}; p99 ms ${R[skiff_creates.p99_ms_rounds]}"
    for p in "${PEERS[@]}"; do
        echo "- $p: puts/s ${R[${p}_creates.rate_rounds]}; p99 ms ${R[${p}_creates.p99_ms_rounds]}"
    done
    echo
    echo
    echo "<details><summary>all raw figures</summary>"
    echo
    echo '```'
    for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "$k=${R[$k]}"; done
    echo '```'
    echo "</details>"
} >"$ROOT/bench/RESULTS.md.new"
# Keep the other benchmarks' sections (bench/gateway.sh writes its own, between markers).
if [ -f "$ROOT/bench/RESULTS.md" ]; then
  awk '/^<!-- gateway-bench:start -->$/ { keep = 1 } keep { print } /^<!-- gateway-bench:end -->$/ { keep = 0 }' \
    "$ROOT/bench/RESULTS.md" >>"$ROOT/bench/RESULTS.md.new"
fi
mv "$ROOT/bench/RESULTS.md.new" "$ROOT/bench/RESULTS.md"

echo
echo "$HDR"
echo "$SEP"
printf '%s\n' "${ROWS[@]}"
echo
echo "written: $ROOT/bench/RESULTS.md"
