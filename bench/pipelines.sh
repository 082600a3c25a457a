#!/usr/bin/env bash
# bench/pipelines.sh — the pipelines issue's two figures, measured against a real
# `skiff server` (runc task pods; a busybox step image assembled from the host's static
# busybox and imported with `skiff image pack --rootfs … --import`, so cached):
#
#   1. TaskRun with 3 trivial steps (inline taskSpec, each step `image:
#      dev.local/busybox:latest`, `command: ["true"]`): create (one HTTPS POST) → its
#      `Succeeded` condition True, polled every POLL_MS with GETs of the TaskRun on one
#      keep-alive connection (the TLS handshake is made before the clock starts). RUNS
#      runs, fresh names, after one warm-up run (it unpacks the image; reported apart).
#      Peer, same run, right before each TaskRun (so both see the same machine load):
#      the same three commands run with runc directly — one bundle (`runc spec`, args
#      ["true"], no terminal, root = a copy of the same busybox tree, read-only), three
#      sequential foreground `runc run --bundle B ID` with fresh ids (runc removes each
#      container when it exits). Overhead per step = (skiff p50 − peer p50) ÷ 3; target
#      ≤ 50 ms.
#   2. A 20-task fan-out/fan-in Pipeline (start → 18 tasks with runAfter [start] → end
#      with runAfter all 18), each task one trivial step (a Task `noop`, by taskRef):
#      PipelineRun create → `Succeeded` True, PRUNS runs; target < 3 s. Peer, same run,
#      before each PipelineRun: the same DAG with runc directly (one `runc run`, then 18
#      at once, then one).
#
#   Where the time goes (no server changes, nothing inside the figures' runs):
#   - phases of every timed run from watches on taskruns, pods and pipelineruns
#     (arrival time of the first event showing each state, ms after the POST);
#   - DIAG extra TaskRuns and PDIAG extra PipelineRuns of the same shape whose steps run
#     busybox `adjtimex` instead of `true`: it prints the wall clock (µs) as the step's
#     process starts, read back from the step logs (pods/…/log), so each step's start is
#     known to the ms (status times are second-granular);
#   - the server's CPU time (utime+stime) per TaskRun.
#
# How to run (as root, from anywhere):
#     bash bench/pipelines.sh
# Knobs (environment):
#     RUNS=20        timed TaskRuns (and as many peer triples)
#     PRUNS=5        timed PipelineRuns (and as many peer DAGs)
#     DIAG=5         TaskRuns with time-stamping steps (0: none)
#     PDIAG=1        PipelineRuns with time-stamping steps (0: none)
#     POLL_MS=5      poll period of the run's status
#     BASE_PORT=27560  API on BASE_PORT, gateway +1, metrics +2
#     SKIFF_LOG=info server log filter (e.g. debug); the log is printed on failure
#     BUILD=0        use the release binary already in $CARGO_TARGET_DIR (no cargo build)
#     KEEP=1         keep the temp dir (data dir, server log, raw samples)
#     WRITE=0        do not touch bench/RESULTS.md
# Prints a table and replaces the "Pipelines" section of bench/RESULTS.md (between its
# markers; everything else in that file is kept).
#
# A benchmark, not a test: it reports PASS/MISS against the issue's targets and exits
# non-zero only if the run itself broke. It cleans up after itself: the server gets
# SIGTERM (and is waited for), then no runc container, no `skbpl-*` netns, no mount
# under the temp dir and no bridge may remain.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-20}
PRUNS=${PRUNS:-5}
DIAG=${DIAG:-5}
PDIAG=${PDIAG:-1}
POLL_MS=${POLL_MS:-5}
BASE_PORT=${BASE_PORT:-27560}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
WRITE=${WRITE:-1}
BRIDGE=skbpl
SUBNET=10.231.0.0/24
FAN=18
API_PORT=$BASE_PORT
GW_PORT=$((BASE_PORT + 1))
METRICS_PORT=$((BASE_PORT + 2))
IMAGE=dev.local/busybox:latest

require_root
require_tools runc curl python3 ip ss awk
((RUNS >= 1 && PRUNS >= 1 && DIAG >= 0 && PDIAG >= 0)) || die "RUNS and PRUNS must be ≥ 1, DIAG and PDIAG ≥ 0"
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do [[ -x $b ]] && BUSYBOX=$b && break; done
[[ -n $BUSYBOX ]] || die "busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox cannot run in a rootfs without libc.
if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked (apt-get install busybox-static)"
fi

# ---------------------------------------------------------------- build
if [[ $BUILD == 1 ]]; then
    log "building the release binary (cargo build --release -p skiff)"
    (cd "$ROOT" && cargo build --release -p skiff >&2)
else
    log "BUILD=0: using the release binary in $CARGO_TARGET_DIR as it is"
fi

check_ports_free "$API_PORT" "$GW_PORT" "$METRICS_PORT"
check_no_netns
if ip link show "$BRIDGE" >/dev/null 2>&1; then die "bridge $BRIDGE exists already (another run of this script?)"; fi

make_workdir skiff-plbench
PEER_ROOT=$WORK/runc-peer # runc state dir of the peer's containers
RUNC_ROOTS+=("$PEER_ROOT")
# A copy: other builds sharing the target dir may replace the binary mid-run.
cp "$CARGO_TARGET_DIR/release/skiff" "$WORK/skiff"
"$WORK/skiff" image pack --help | grep -q -- --rootfs \
    || die "$CARGO_TARGET_DIR/release/skiff has no \`image pack --rootfs\` (too old: run without BUILD=0)"

trap bench_cleanup EXIT

record_load_before

# ---------------------------------------------------------------- the busybox tree
# What the pipeline tests' step image holds (crates/cli/tests/common/pipelines.rs):
# the static busybox, a symlink per applet where `busybox --list-full` puts it,
# /etc/passwd + group, /tmp 1777.
log "assembling the busybox tree from $BUSYBOX"
TREE=$WORK/busybox
mkdir -p "$TREE"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,home,dev,proc,sys}
chmod 700 "$TREE/root"
chmod 1777 "$TREE/tmp" "$TREE/var/tmp"
cp "$BUSYBOX" "$TREE/bin/busybox"
chmod 755 "$TREE/bin/busybox"
"$BUSYBOX" --list-full | while read -r a; do
    a=${a#/}
    [[ -z $a || $a == bin/busybox || $a == *..* ]] && continue
    mkdir -p "$TREE/$(dirname "$a")"
    ln -sfn /bin/busybox "$TREE/$a"
done
[[ -L $TREE/bin/sh && -L $TREE/bin/true ]] || die "busybox --list-full gave no bin/sh or bin/true"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$TREE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$TREE/etc/group"
NAPPLETS=$(find "$TREE" -type l | wc -l)

# ---------------------------------------------------------------- the peer's bundle
# A copy of the same tree as a read-only root; `runc spec`'s defaults otherwise (new
# pid, mount, ipc, uts and network namespaces, its cgroup, its capabilities), with the
# command `true`, no terminal.
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE" "$PEER_ROOT"
cp -a "$TREE" "$BUNDLE/rootfs"
(cd "$BUNDLE" && runc spec)
python3 - "$BUNDLE/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"] = {"path": "rootfs", "readonly": True}
json.dump(c, open(p, "w"), indent=1)
PY
runc --root "$PEER_ROOT" run --bundle "$BUNDLE" "skbpl-check-$$" </dev/null >/dev/null \
    || die "runc run of the peer bundle failed"

# ---------------------------------------------------------------- the timing helper
# Python (stdlib only) so that timing happens inside one process: no fork/exec of curl
# per poll inside the measured window; polls reuse one keep-alive HTTPS connection.
cat >"$WORK/bench.py" <<'PY'
import http.client, json, math, os, re, ssl, subprocess, sys, threading, time

D, API_PORT = os.environ["D"], int(os.environ["API_PORT"])
POLL = float(os.environ.get("POLL_MS", "5")) / 1000
IMAGE, BUNDLE, PEER_ROOT = os.environ["IMAGE"], os.environ["BUNDLE"], os.environ["PEER_ROOT"]
FAN = int(os.environ["FAN"])
SERVER_PID = int(os.environ["SERVER_PID"])
NS = "default"
TOKEN = open(f"{D}/pki/admin.token").read().strip()
CTX = ssl.create_default_context(cafile=f"{D}/pki/ca.crt")
CTX.check_hostname = False  # the cert names the API address; the CA is pinned
AUTH = {"Authorization": "Bearer " + TOKEN}
TEK = f"/apis/tekton.dev/v1/namespaces/{NS}"
CLK_TCK = os.sysconf("SC_CLK_TCK")

def now(): return time.monotonic()
def ms(a, b): return None if a is None or b is None else 1000 * (b - a)

class Conn:
    """One HTTPS connection, kept alive; reconnects (and counts it) if the server closed it."""
    def __init__(self):
        self.c, self.reconnects = None, 0
    def connect(self):
        if self.c is None:
            self.c = http.client.HTTPSConnection("127.0.0.1", API_PORT, context=CTX, timeout=10)
            self.c.connect()
    def req(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                self.connect()
                h = dict(AUTH)
                if body is not None: h["Content-Type"] = "application/json"
                self.c.request(method, path, body=None if body is None else json.dumps(body), headers=h)
                r = self.c.getresponse(); data = r.read()
                if (r.getheader("Connection") or "").lower() == "close": self.close()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt or method != "GET": raise
                self.reconnects += 1
    def close(self):
        if self.c is not None: self.c.close()
        self.c = None

def api(method, path, body=None):
    c = Conn(); st, data = c.req(method, path, body); c.close()
    return st, (json.loads(data) if data else None)

def succeeded(obj):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Succeeded": return c.get("status"), c.get("reason", ""), c.get("message", "")
    return None, "", ""

def labels(o): return o["metadata"].get("labels") or {}

class Watch(threading.Thread):
    """Records (arrival time, type, summary of the object) for every watch event on one list."""
    def __init__(self, path, summary):
        super().__init__(daemon=True)
        st, lst = api("GET", path)
        if st != 200: sys.exit(f"GET {path} → {st}")
        self.path, self.summary, self.rv = path, summary, lst["metadata"]["resourceVersion"]
        self.events, self.lock, self.ready = [], threading.Lock(), threading.Event()
    def run(self):
        while True:
            try:
                c = http.client.HTTPSConnection("127.0.0.1", API_PORT, context=CTX, timeout=3600)
                c.request("GET", f"{self.path}?watch=true&allowWatchBookmarks=true&resourceVersion={self.rv}", headers=AUTH)
                r = c.getresponse()
                self.ready.set()
                while True:
                    line = r.readline()
                    if not line: break
                    t = now()
                    ev = json.loads(line)
                    if ev.get("type") == "ERROR": break
                    self.rv = ev["object"]["metadata"].get("resourceVersion", self.rv)
                    if ev["type"] == "BOOKMARK": continue
                    with self.lock: self.events.append((t, ev["type"], self.summary(ev["object"])))
            except Exception as e:
                print(f"watch {self.path}: {e}", file=sys.stderr)
            time.sleep(0.1)
    def all(self, pred, after):
        with self.lock: evs = list(self.events)
        return [(t, s) for t, typ, s in evs if t >= after and pred(typ, s)]
    def first(self, pred, after):
        a = self.all(pred, after)
        return a[0][0] if a else None

def tr_summary(o):
    st, reason, _ = succeeded(o)
    l = labels(o)
    return {"name": o["metadata"]["name"], "pr": l.get("tekton.dev/pipelineRun"),
            "ptask": l.get("tekton.dev/pipelineTask"), "succ": st, "reason": reason}
def pod_summary(o):
    return {"name": o["metadata"]["name"], "tr": labels(o).get("tekton.dev/taskRun"),
            "phase": (o.get("status") or {}).get("phase")}
def pr_summary(o):
    st, reason, _ = succeeded(o)
    return {"name": o["metadata"]["name"], "succ": st, "reason": reason}

W = {}
def start_watches():
    W["tr"] = Watch(f"{TEK}/taskruns", tr_summary)
    W["pod"] = Watch(f"/api/v1/namespaces/{NS}/pods", pod_summary)
    W["pr"] = Watch(f"{TEK}/pipelineruns", pr_summary)
    for w in W.values(): w.start()
    for w in W.values():
        if not w.ready.wait(10): sys.exit(f"watch {w.path} did not start")

def server_cpu_ticks():
    s = open(f"/proc/{SERVER_PID}/stat").read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])

# ---------------------------------------------------------------- the peer: runc directly
PEER_SERIAL = [0]
def peer_cmd():
    PEER_SERIAL[0] += 1
    return ["runc", "--root", PEER_ROOT, "run", "--bundle", BUNDLE, f"skbpl-peer-{os.getpid()}-{PEER_SERIAL[0]}"]
def peer_one():
    r = subprocess.run(peer_cmd(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0: sys.exit(f"runc run failed: {r.stderr.decode()}")
def peer_many(n):
    ps = [subprocess.Popen(peer_cmd(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
    for p in ps:
        err = p.communicate()[1]
        if p.returncode != 0: sys.exit(f"runc run failed: {err.decode()}")
def peer_steps():
    """The TaskRun's peer: three `true`s in runc, one after the other."""
    t0 = now()
    for _ in range(3): peer_one()
    return ms(t0, now())
def peer_dag():
    """The PipelineRun's peer: start, FAN at once, end."""
    t0 = now()
    peer_one(); peer_many(FAN); peer_one()
    return ms(t0, now())

# ---------------------------------------------------------------- skiff runs
STEP_CMD = {"true": ["true"], "stamp": ["adjtimex"]}

def taskrun_body(name, kind):
    return {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": name},
            "spec": {"taskSpec": {"steps": [{"name": f"s{k}", "image": IMAGE, "command": STEP_CMD[kind]}
                                            for k in (1, 2, 3)]}}}

def run_and_wait(path, body, name, limit):
    """POST body to path, then GET path/name every POLL until Succeeded is not Unknown.
    Returns (t0, wall0, t_ack, t_done, polls, obj)."""
    c = Conn(); c.connect()  # the TLS handshake is not part of the figure; the write is
    wall0 = time.time(); t0 = now()
    st, data = c.req("POST", path, body)
    t_ack = now()
    if st != 201: sys.exit(f"POST {path} {name} → {st}: {data[:300]!r}")
    polls = 0
    while now() - t0 < limit:
        polls += 1
        st, data = c.req("GET", f"{path}/{name}")
        if st == 200:
            obj = json.loads(data)
            s, reason, message = succeeded(obj)
            if s in ("True", "False"):
                t = now(); c.close()
                if s != "True": sys.exit(f"{name}: Succeeded={s} {reason}: {message}")
                return t0, wall0, t_ack, t, polls, obj
        time.sleep(POLL)
    sys.exit(f"{name}: not done within {limit} s")

def step_stamps(pod, containers):
    """Wall-clock times (s) printed by `adjtimex` at the start of each step, from its log."""
    out = []
    for cname in containers:
        c = Conn(); st, raw = c.req("GET", f"/api/v1/namespaces/{NS}/pods/{pod}/log?container={cname}"); c.close()
        text = raw.decode(errors="replace")
        s = re.search(r"tv_sec:\s*(\d+)", text); u = re.search(r"tv_usec:\s*(\d+)", text)
        out.append(int(s.group(1)) + int(u.group(1)) / 1e6 if st == 200 and s and u else None)
    return out

def pct(vals, p):
    v = sorted(x for x in vals if x is not None)
    if not v: return None
    return v[max(1, math.ceil(p * len(v))) - 1]

def fmt(v, d=1): return "-" if v is None else f"{v:.{d}f}"

def row(desc, vals):
    v = [x for x in vals if x is not None]
    return f"| {desc} | {fmt(pct(v, .5))} | {fmt(pct(v, .95))} | {fmt(max(v) if v else None)} | {len(v)} |"

def cmd_taskruns(runs, diag, out_dir):
    start_watches()
    kv = open(f"{out_dir}/taskruns.kv", "w")
    samples = open(f"{out_dir}/taskruns.txt", "w")
    print("kind i skiff_ms peer_ms ack_ms tr_first_status pod_seen pod_running pod_done tr_true_watch polls server_s", file=samples)
    def one(i, kind):
        name = f"tr-{kind}-{i}"
        peer = peer_steps()
        time.sleep(0.3)
        t0, wall0, t_ack, t_done, polls, obj = run_and_wait(f"{TEK}/taskruns", taskrun_body(name, kind), name, 60)
        time.sleep(0.3)  # let the watches catch up before reading them
        mine = lambda typ, s: s["name"] == name
        pod_of = lambda typ, s: s["tr"] == name
        st = obj.get("status") or {}
        ph = {"ack": ms(t0, t_ack),
              "tr_first_status": ms(t0, W["tr"].first(lambda typ, s: mine(typ, s) and s["succ"] is not None, t0)),
              "pod_seen": ms(t0, W["pod"].first(pod_of, t0)),
              "pod_running": ms(t0, W["pod"].first(lambda typ, s: pod_of(typ, s) and s["phase"] in ("Running", "Succeeded"), t0)),
              "pod_done": ms(t0, W["pod"].first(lambda typ, s: pod_of(typ, s) and s["phase"] == "Succeeded", t0)),
              "tr_true_watch": ms(t0, W["tr"].first(lambda typ, s: mine(typ, s) and s["succ"] == "True", t0))}
        server_s = None
        if st.get("startTime") and st.get("completionTime"):
            p = lambda x: time.mktime(time.strptime(x, "%Y-%m-%dT%H:%M:%SZ"))
            server_s = p(st["completionTime"]) - p(st["startTime"])
        stamps = step_stamps(st.get("podName") or f"{name}-pod", ["step-s1", "step-s2", "step-s3"]) if kind == "stamp" else []
        total = ms(t0, t_done)
        print(kind, i, fmt(total, 2), fmt(peer, 2), " ".join(fmt(ph[k], 2) for k in ph), polls,
              "-" if server_s is None else int(server_s), file=samples, flush=True)
        print(f"  {name}: {total:.1f} ms (peer: 3 × runc run {peer:.1f} ms)", file=sys.stderr)
        time.sleep(0.3)
        return total, peer, ph, server_s, [None if s is None else 1000 * (s - wall0) for s in stamps], polls

    # warm-up: the first task pod unpacks the image
    w_total, w_peer, *_ = one(0, "true")
    t_cpu0, t_mono0 = server_cpu_ticks(), now()
    res = [one(i, "true") for i in range(1, runs + 1)]
    cpu_ms_per_run = 1000 * (server_cpu_ticks() - t_cpu0) / CLK_TCK / runs
    wall_per_run = 1000 * (now() - t_mono0) / runs
    dres = [one(i, "stamp") for i in range(1, diag + 1)]

    tot = [r[0] for r in res]; peer = [r[1] for r in res]
    w = lambda k, v: print(f"{k}={v}", file=kv)
    w("warm_skiff", fmt(w_total)); w("warm_peer", fmt(w_peer))
    for name, v in (("skiff", tot), ("peer", peer)):
        w(f"{name}_n", len(v)); w(f"{name}_p50", fmt(pct(v, .5))); w(f"{name}_p95", fmt(pct(v, .95)))
        w(f"{name}_min", fmt(min(v))); w(f"{name}_max", fmt(max(v)))
        w(f"{name}_samples", " ".join(fmt(x) for x in v))
    w("watch_p50", fmt(pct([r[2]["tr_true_watch"] for r in res], .5)))
    w("polls_mean", fmt(sum(r[5] for r in res) / len(res)))
    w("cpu_ms_per_run", fmt(cpu_ms_per_run)); w("wall_ms_per_iteration", fmt(wall_per_run))
    srv = [r[3] for r in res if r[3] is not None]
    w("server_seconds", " ".join(f"{int(s)} s ×{srv.count(s)}" for s in sorted(set(srv))) or "-")
    phases = [("ack", "API create acknowledged (POST → 201)"),
              ("tr_first_status", "TaskRun's first status write seen (Succeeded Unknown: Pending/Running)"),
              ("pod_seen", "Pod seen (watch ADDED)"),
              ("pod_running", "Pod Running (or later) seen"),
              ("pod_done", "Pod Succeeded seen"),
              ("tr_true_watch", "TaskRun Succeeded=True seen on the watch")]
    with open(f"{out_dir}/taskrun_phases.md", "w") as f:
        for k, desc in phases: print(row(desc, [r[2][k] for r in res]), file=f)
        print(row(f"TaskRun Succeeded=True seen by polling (the figure; polled every {POLL * 1000:g} ms)", tot), file=f)
    if dres:
        s = lambda j: [r[4][j] if len(r[4]) > j else None for r in dres]
        gap = lambda a, b: [None if x is None or y is None else y - x for x, y in zip(s(a), s(b))]
        after = [None if (r[4][2] if len(r[4]) > 2 else None) is None else r[0] - r[4][2] for r in dres]
        with open(f"{out_dir}/taskrun_stamps.md", "w") as f:
            print(row("create → step 1 running (sandbox: netns + veth, /etc; step 1 bundle, overlay, `runc run`)", s(0)), file=f)
            print(row("step 1 running → step 2 running (step 1 exits, its container is deleted and unmounted; step 2 prepared and started)", gap(0, 1)), file=f)
            print(row("step 2 running → step 3 running (the same)", gap(1, 2)), file=f)
            print(row("step 3 running → Succeeded=True seen by polling (exit, delete, sandbox teardown, status writes)", after), file=f)
            print(row("total, create → Succeeded=True seen by polling", [r[0] for r in dres]), file=f)
            print(row("peer (3 × `runc run` of `true`), measured right before", [r[1] for r in dres]), file=f)
        w("stamps_ok", sum(1 for r in dres if len(r[4]) == 3 and None not in r[4]))

def cmd_pipelines(pruns, pdiag, out_dir):
    start_watches()
    kv = open(f"{out_dir}/pipelines.kv", "w")
    samples = open(f"{out_dir}/pipelines.txt", "w")
    print("kind i skiff_ms peer_ms", file=samples)
    for task, cmd in (("noop", "true"), ("stamp", "stamp")):
        st, data = api("POST", f"{TEK}/tasks", {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": task},
                                               "spec": {"steps": [{"name": "s1", "image": IMAGE, "command": STEP_CMD[cmd]}]}})
        if st != 201: sys.exit(f"creating Task {task} → {st}")
        fan = [f"p{k:02d}" for k in range(1, FAN + 1)]
        tasks = [{"name": "start", "taskRef": {"name": task}}]
        tasks += [{"name": n, "runAfter": ["start"], "taskRef": {"name": task}} for n in fan]
        tasks += [{"name": "end", "runAfter": fan, "taskRef": {"name": task}}]
        st, data = api("POST", f"{TEK}/pipelines", {"apiVersion": "tekton.dev/v1", "kind": "Pipeline",
                                                   "metadata": {"name": f"fan-{task}"}, "spec": {"tasks": tasks}})
        if st != 201: sys.exit(f"creating Pipeline fan-{task} → {st}: {data}")

    def one(i, task):
        name = f"pr-{task}-{i}"
        peer = peer_dag()
        time.sleep(0.5)
        body = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": name},
                "spec": {"pipelineRef": {"name": f"fan-{task}"}}}
        t0, wall0, t_ack, t_done, polls, obj = run_and_wait(f"{TEK}/pipelineruns", body, name, 120)
        time.sleep(0.3)
        of = lambda typ, s: s["pr"] == name
        trs = W["tr"].all(of, t0)
        created, done = {}, {}
        for t, s in trs:
            created.setdefault(s["ptask"], t)
            if s["succ"] == "True": done.setdefault(s["ptask"], t)
        fan = [f"p{k:02d}" for k in range(1, FAN + 1)]
        g = lambda d, ks, f: ms(t0, f([d[k] for k in ks])) if all(k in d for k in ks) else None
        # most task pods Running at once
        trnames = {s["name"] for _, s in trs}
        phase, most = {}, 0
        for t, s in W["pod"].all(lambda typ, s: s["tr"] in trnames, t0):
            phase[s["name"]] = s["phase"]
            most = max(most, sum(1 for p in phase.values() if p == "Running"))
        ph = {"ack": ms(t0, t_ack),
              "start_created": g(created, ["start"], min), "start_done": g(done, ["start"], min),
              "fan_first_created": g(created, fan, min), "fan_last_created": g(created, fan, max),
              "fan_first_done": g(done, fan, min), "fan_last_done": g(done, fan, max),
              "end_created": g(created, ["end"], min), "end_done": g(done, ["end"], min),
              "pr_true_watch": ms(t0, W["pr"].first(lambda typ, s: s["name"] == name and s["succ"] == "True", t0))}
        stamps = {}
        if task == "stamp":
            for _, s in trs:
                if s["ptask"] not in stamps:
                    st, o = api("GET", f"{TEK}/taskruns/{s['name']}")
                    pod = ((o or {}).get("status") or {}).get("podName") or f"{s['name']}-pod"
                    v = step_stamps(pod, ["step-s1"])[0]
                    stamps[s["ptask"]] = None if v is None else 1000 * (v - wall0)
        total = ms(t0, t_done)
        print(task, i, fmt(total, 2), fmt(peer, 2), file=samples, flush=True)
        print(f"  {name}: {total:.1f} ms (peer: the same DAG of runc runs {peer:.1f} ms); at most {most} task pods Running at once", file=sys.stderr)
        time.sleep(1.0)
        return total, peer, ph, most, stamps

    res = [one(i, "noop") for i in range(1, pruns + 1)]
    dres = [one(i, "stamp") for i in range(1, pdiag + 1)]
    tot = [r[0] for r in res]; peer = [r[1] for r in res]
    w = lambda k, v: print(f"{k}={v}", file=kv)
    for nm, v in (("skiff", tot), ("peer", peer)):
        w(f"{nm}_n", len(v)); w(f"{nm}_p50", fmt(pct(v, .5))); w(f"{nm}_max", fmt(max(v))); w(f"{nm}_min", fmt(min(v)))
        w(f"{nm}_samples", " ".join(fmt(x) for x in v))
    w("most_running", " ".join(str(r[3]) for r in res))
    phases = [("ack", "API create acknowledged (POST → 201)"),
              ("start_created", "TaskRun `start` created (seen on the watch)"),
              ("start_done", "`start` Succeeded"),
              ("fan_first_created", f"first of the {FAN} fan-out TaskRuns created"),
              ("fan_last_created", f"last of the {FAN} created"),
              ("fan_first_done", f"first of the {FAN} Succeeded"),
              ("fan_last_done", f"last of the {FAN} Succeeded"),
              ("end_created", "TaskRun `end` created"),
              ("end_done", "`end` Succeeded"),
              ("pr_true_watch", "PipelineRun Succeeded=True seen on the watch")]
    with open(f"{out_dir}/pipeline_phases.md", "w") as f:
        for k, desc in phases: print(row(desc, [r[2][k] for r in res]), file=f)
        print(row(f"PipelineRun Succeeded=True seen by polling (the figure; polled every {POLL * 1000:g} ms)", tot), file=f)
    if dres:
        fan = [f"p{k:02d}" for k in range(1, FAN + 1)]
        with open(f"{out_dir}/pipeline_stamps.md", "w") as f:
            for i, r in enumerate(dres, 1):
                st = r[4]; fs = sorted(st[k] for k in fan if st.get(k) is not None)
                mid = fs[len(fs) // 2] if fs else None
                print(f"| pr-stamp-{i} | {fmt(st.get('start'))} | {fmt(fs[0] if fs else None)} / {fmt(mid)} / {fmt(fs[-1] if fs else None)} ({len(fs)}) "
                      f"| {fmt(st.get('end'))} | {fmt(r[2]['end_done'])} | {fmt(r[0])} | {r[3]} | {fmt(r[1])} |", file=f)

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "taskruns": cmd_taskruns(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "pipelines": cmd_pipelines(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else: sys.exit("unknown command")
PY

# ---------------------------------------------------------------- server
log "importing the busybox tree as $IMAGE, starting skiff server (bridge $BRIDGE, subnet $SUBNET)"
"$WORK/skiff" image pack --data-dir "$D" --rootfs "$TREE" --name "$IMAGE" --import >&2
start_server --runtime local --bridge "$BRIDGE" --subnet "$SUBNET"
wait_api
export D API_PORT POLL_MS IMAGE BUNDLE PEER_ROOT FAN SERVER_PID
sleep 1

# ---------------------------------------------------------------- figure 1: TaskRuns
log "figure 1: 1 warm-up + $RUNS TaskRuns of 3 \`true\` steps (each right after its peer: 3 × runc run), then $DIAG with time-stamping steps; polled every ${POLL_MS} ms"
STAT_A=$(stat_line)
PY taskruns "$RUNS" "$DIAG" "$WORK"
STAT_B=$(stat_line)
BUSY_TR=$(busy_between "$STAT_A" "$STAT_B")

# ---------------------------------------------------------------- figure 2: PipelineRuns
log "figure 2: $PRUNS PipelineRuns of the 20-task fan-out/fan-in Pipeline (each right after its peer DAG of runc runs), then $PDIAG with time-stamping steps"
STAT_A=$(stat_line)
PY pipelines "$PRUNS" "$PDIAG" "$WORK"
STAT_B=$(stat_line)
BUSY_PR=$(busy_between "$STAT_A" "$STAT_B")
NTR=$(kapi "https://127.0.0.1:$API_PORT/apis/tekton.dev/v1/namespaces/default/taskruns" \
    | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))')

# ---------------------------------------------------------------- stop + leak check
stop_server
LEFT_CONT=$( (runc --root "$D/runtime/runc" list -q 2>/dev/null; runc --root "$PEER_ROOT" list -q 2>/dev/null) | grep -c . || true)
LEFT_NETNS=$(count_netns)
# Failed reconciles (retried after 500 ms by the controllers' error policy), and how
# many of them were 409s on a status write (a stale cached object).
retries() { grep -c "$1 reconcile failed" "$WORK/server.log" || true; }
conflicts() { grep "$1 reconcile failed" "$WORK/server.log" | grep -c 'code: 409' || true; }
RETRIES="TaskRun $(retries TaskRun) ($(conflicts TaskRun) of them 409 Conflict), PipelineRun $(retries PipelineRun) ($(conflicts PipelineRun) of them 409 Conflict)"

# ---------------------------------------------------------------- report
kv() { awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; found = 1 } END { if (!found) print "-" }' "$WORK/$1.kv"; }
T50=$(kv taskruns skiff_p50); T95=$(kv taskruns skiff_p95); TMAX=$(kv taskruns skiff_max); TN=$(kv taskruns skiff_n)
R50=$(kv taskruns peer_p50); R95=$(kv taskruns peer_p95); RMAX=$(kv taskruns peer_max)
PER_STEP=$(f %.1f "($T50 - $R50) / 3")
PER_STEP95=$(f %.1f "($T95 - $R95) / 3")
RATIO_TR=$(f %.1f "$T50 / $R50")
VERDICT_TR=$(f %s "($PER_STEP <= 50) ? \"PASS\" : \"MISS\"")
P50=$(kv pipelines skiff_p50); PMAX=$(kv pipelines skiff_max); PN=$(kv pipelines skiff_n)
Q50=$(kv pipelines peer_p50); QMAX=$(kv pipelines peer_max)
RATIO_PR=$(f %.1f "$P50 / $Q50")
VERDICT_PR=$(f %s "($PMAX < 3000) ? \"PASS\" : ($P50 < 3000 ? \"PASS at p50, MISS at max\" : \"MISS\")")

RUNC_VERSION=$(runc --version | head -1)

SECTION=$(
    echo "<!-- pipelines-bench:start -->"
    echo "## Pipelines: 3-step TaskRun overhead, 20-task fan-out/fan-in PipelineRun"
    echo
    echo "Generated by \`bench/pipelines.sh\` — regenerate with \`bash bench/pipelines.sh\` (as root). Replaces only this section."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(machine_desc); $RUNC_VERSION"
    echo "- CPU busy before the run: ${BUSY_BEFORE}% (load average $LOADAVG_BEFORE); during the TaskRuns: ${BUSY_TR}%, during the PipelineRuns: ${BUSY_PR}% (everything on the machine, this benchmark included); other sessions may share this machine"
    echo "- skiff: $(git_desc), release build; \`skiff server\` with the local runtime (runc; a task pod = one netns on bridge $BRIDGE, each step its own runc container with an overlay rootfs, run one after another); step image \`$IMAGE\` = the host's static busybox ($BUSYBOX) + $NAPPLETS applet symlinks + /etc/passwd, group, packed with \`skiff image pack --rootfs … --import\` before the server started (unpacked by the warm-up TaskRun, before any timing)"
    echo "- TaskRun: an inline \`taskSpec\` of 3 steps, each \`command: [\"true\"]\`, created with one HTTPS POST on an already-open connection (TLS handshake outside the figure), timed to the first GET of the TaskRun (same keep-alive connection, every ${POLL_MS} ms) whose \`Succeeded\` condition is True; fresh names; 1 warm-up run not counted."
    echo "- peer: the same three commands with runc directly, measured right before each TaskRun (so both see the same machine load): one bundle from \`runc spec\` (its default namespaces — pid, mount, ipc, uts, network — and cgroup), args [\"true\"], no terminal, root = a copy of the same busybox tree, read-only; three sequential foreground \`runc run --bundle B ID\` with fresh ids (runc removes each container as it exits). Overhead per step = (skiff p50 − peer p50) ÷ 3."
    echo "- PipelineRun: Pipeline \`fan-noop\` = \`start\` → $FAN tasks (\`runAfter: [start]\`) → \`end\` (\`runAfter\` all $FAN), 20 tasks, each \`taskRef: noop\` (a Task with one \`true\` step); PipelineRun create → \`Succeeded\` True, polled the same way. Peer, right before each: the same DAG with runc directly (one \`runc run\`, then $FAN at once, then one)."
    echo
    echo "| figure | value | target | verdict | peer | ratio |"
    echo "| --- | ---: | --- | --- | ---: | ---: |"
    echo "| TaskRun, 3 \`true\` steps: create → Succeeded True (p50 / p95 / max of $TN) | $T50 / $T95 / $TMAX ms |  | - | 3 × \`runc run\`: $R50 / $R95 / $RMAX ms | skiff ÷ runc (p50): ${RATIO_TR}× |"
    echo "| skiff overhead per step, (skiff p50 − runc p50) ÷ 3 | $PER_STEP ms (at p95: $PER_STEP95 ms) | ≤ 50 ms | $VERDICT_TR |  |  |"
    echo "| 20-task fan-out/fan-in PipelineRun: create → Succeeded True (p50 / max of $PN) | $P50 / $PMAX ms | < 3 s | $VERDICT_PR | the DAG of \`runc run\`s: $Q50 / $QMAX ms | skiff ÷ runc (p50): ${RATIO_PR}× |"
    echo
    echo "First TaskRun (warm-up; the step image is unpacked): $(kv taskruns warm_skiff) ms (its peer: $(kv taskruns warm_peer) ms). Succeeded=True seen on a watch instead of by polling, p50: $(kv taskruns watch_p50) ms; $(kv taskruns polls_mean) polls per TaskRun on average. Server CPU (utime+stime of the \`skiff server\` process, not its runc children) per timed TaskRun: $(kv taskruns cpu_ms_per_run) ms, over $(kv taskruns wall_ms_per_iteration) ms of wall time per iteration (peer, TaskRun and pauses). Server-side duration, \`completionTime − startTime\` (second-granular): $(kv taskruns server_seconds). Most task pods Running at once, per PipelineRun: $(kv pipelines most_running) (of $FAN possible). Failed reconciles in the server log (each retried after 500 ms unless another change wakes the run first): $RETRIES. Server: ready ${READY_MS} ms after start, stopped ${STOP_MS} ms after SIGTERM with $NTR TaskRuns stored; left after stop: $LEFT_CONT runc containers, $LEFT_NETNS \`$BRIDGE-*\` netns."
    echo
    echo "Where a TaskRun's time goes ($TN timed runs; ms after the POST, each state as first seen on a watch of taskruns or pods, which the controller writes as the runtime reports progress):"
    echo
    echo "| phase | p50 | p95 | max | n |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    cat "$WORK/taskrun_phases.md"
    if [[ -s $WORK/taskrun_stamps.md ]]; then
        echo
        echo "The same with each step's own start time ($DIAG more TaskRuns whose steps run busybox \`adjtimex\`, which prints the wall clock to the µs as the step's process starts; read back from the step logs; $(kv taskruns stamps_ok) of $DIAG with all three stamps). Rows are intervals, ms:"
        echo
        echo "| interval | p50 | p95 | max | n |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        cat "$WORK/taskrun_stamps.md"
    fi
    echo
    echo "Where a PipelineRun's time goes ($PN timed runs; ms after the POST, as first seen on a watch of taskruns/pipelineruns):"
    echo
    echo "| phase | p50 | p95 | max | n |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    cat "$WORK/pipeline_phases.md"
    if [[ -s $WORK/pipeline_stamps.md ]]; then
        echo
        echo "PipelineRuns whose tasks' step runs \`adjtimex\` (ms after the POST, each task's step start from its own log; the fan-out as first / median / last, with how many stamps were read):"
        echo
        echo "| run | \`start\`'s step ran | the $FAN fan-out steps ran: first / median / last | \`end\`'s step ran | \`end\` Succeeded seen | total | most pods Running at once | peer DAG |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        cat "$WORK/pipeline_stamps.md"
    fi
    echo
    echo "Samples, TaskRun create → Succeeded (ms): $(kv taskruns skiff_samples)"
    echo
    echo "Samples, peer 3 × \`runc run\` (ms): $(kv taskruns peer_samples)"
    echo
    echo "Samples, PipelineRun create → Succeeded (ms): $(kv pipelines skiff_samples)"
    echo
    echo "Samples, peer DAG of \`runc run\`s (ms): $(kv pipelines peer_samples)"
    echo "<!-- pipelines-bench:end -->"
)

print_section "$SECTION"
write_results_section pipelines-bench Pipelines "$SECTION"
