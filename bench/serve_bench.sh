#!/usr/bin/env bash
# The `customer-health serve` benchmark (`make bench`; issue 5, "Serving").
#
# Run from anywhere after `swift build -c release --product customer-health`:
#     bash bench/serve_bench.sh
# It
#   1. reuses (or generates, as bench/run.sh does) the benchmark data set bench/work/data
#      (customer-health generate --customers 100000 --days 180 --seed 7) and runs the whole
#      pipeline on it once into bench/work/serve-out (git-ignored; kept while the data and
#      the tool's version are the same);
#   2. starts `serve --output bench/work/serve-out --port 0 --quiet` and measures it with wrk
#      (installed with apt-get when missing and running as root) on loopback, keep-alive,
#      SERVE_THREADS threads x SERVE_CONNECTIONS connections:
#        - GET /api/customer-success/health/{id}, each request a random one of the run's
#          customer ids (every line of scores.jsonl; the run scores the active customers only,
#          so there are fewer than 100,000), SERVE_DURATION seconds after a short warm-up
#        - the same on one fixed id, and GET /api/customer-success/kpis (SERVE_SHORT seconds)
#      wrk counts every answer that is not 2xx/3xx; 200 random ids are also fetched once and
#      compared byte for byte with their scores.jsonl line. Each run also records the cores
#      the server, wrk and any other process used meanwhile (from /proc);
#   3. as the peer, nginx (apt-get install nginx) serving the same lines as static files, one
#      file per customer under bench/work/nginx-root, at the same URL paths on another loopback
#      port (worker_processes 2, access_log off, an open_file_cache as large as the file
#      descriptor limit allows, unlimited keep-alive requests): the same wrk runs, and the ratio ours/nginx (SERVE_NGINX=0 skips it);
#   4. runs bench/ws_fanout.py: `serve --watch` on a 10,000-customer watch setup, 1 and then
#      WS_CLIENTS (1,000) WebSocket clients, WS_DROPS drops of a small activity file, and
#      the time from the rename to the first, the median and the last client receiving the
#      update;
#   5. prints one markdown table and writes it to bench/work/serve-results.md (the raw
#      figures: bench/work/serve-results.tsv and bench/work/serve-ws.json; logs in
#      bench/work/logs/serve-*).
# The machine's cores are shared by wrk (or the Python clients) and the server under test,
# so the figures are lower bounds of what the server does with the cores to itself.
#
# Settings (environment): SERVE_DURATION (15: seconds of the random-id runs), SERVE_SHORT
# (10: the fixed-id and KPI runs), SERVE_THREADS (2), SERVE_CONNECTIONS (64), SERVE_NGINX (1),
# WS_CLIENTS (1000), WS_DROPS (5), SERVE_SKIP_WS (0), BENCH_IDLE_WAIT (30: seconds to wait for
# other processes to go quiet before each measured step; 0 = do not wait), BENCH_IDLE_CORES
# (0.3), BENCH_CUSTOMERS (100000), BENCH_DAYS (180), BENCH_SEED (7), BENCH_REGENERATE (0),
# BIN (.build/release/customer-health).
# Needs: the release build, python3, wrk and (for the peer) nginx: both installed here with
# apt-get when missing and running as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-.build/release/customer-health}
WORK=bench/work
OUT=$WORK/serve-out
LOGS=$WORK/logs
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
DAYS=${BENCH_DAYS:-180}
SEED=${BENCH_SEED:-7}
DURATION=${SERVE_DURATION:-15}
SHORT=${SERVE_SHORT:-10}
THREADS=${SERVE_THREADS:-2}
CONNECTIONS=${SERVE_CONNECTIONS:-64}
NPROC=$(nproc 2>/dev/null || echo 2)
RESULTS=$WORK/serve-results.tsv

BENCH_NAME=serve-bench
source "$ROOT/bench/lib.sh"

# --- prerequisites ---------------------------------------------------------------


[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health  (or run  make bench)"
"$BIN" serve --help >/dev/null 2>&1 || die "this build of customer-health has no 'serve' subcommand: rebuild"
command -v python3 >/dev/null || die "python3 is needed (the WebSocket clients and the report)"
command -v curl >/dev/null || apt_install curl
command -v wrk >/dev/null || apt_install wrk
NGINX=""
if [[ ${SERVE_NGINX:-1} == 1 ]]; then
    if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
        # The peer is optional: without nginx the table says so.
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            (apt_install nginx) || log "nginx could not be installed: no peer in this run"
        else
            log "nginx is not installed (sudo apt-get install -y nginx): no peer in this run"
        fi
    fi
    NGINX=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
fi

mkdir -p "$WORK" "$LOGS"
VERSION=$("$BIN" --version 2>/dev/null || echo unknown)

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# --- data and the run to serve -------------------------------------------------------

# The data set of bench/run.sh (gen_data, bench/lib.sh), reused when its parameters and the
# tool's version match, and the whole pipeline on it (all exports), output in bench/work/serve-out.
DATA=$WORK/data
gen_data "$DATA"
PIPELINE=$WORK/pipeline-serve.yaml
pipeline "$PIPELINE" "$DATA" serve-out all
run_stamp="$(cat "$DATA/.bench-params") # run $VERSION"
if [[ ${BENCH_REGENERATE:-0} != 1 && -f $OUT/.bench-params && -e $OUT/latest/scores.jsonl && "$(cat "$OUT/.bench-params")" == "$run_stamp" ]]; then
    log "reusing the run in $OUT"
else
    rm -rf "$OUT"
    log "running the pipeline on $DATA into $OUT (about a minute)"
    t0=$SECONDS
    "$BIN" run "$PIPELINE" >"$LOGS/serve-run.out" 2>"$LOGS/serve-run.err" \
        || { tail -20 "$LOGS/serve-run.err" >&2; die "run failed: see $LOGS/serve-run.err"; }
    printf '%s\n' "$run_stamp" >"$OUT/.bench-params"
    log "run done in $((SECONDS - t0)) s"
fi
SCORES=$OUT/latest/scores.jsonl

# The run's customer ids, one a line, for the wrk script.
IDS=$WORK/serve-ids.txt
sed -n 's/^{"customer_id": "\([^"\\]*\)".*/\1/p' "$SCORES" >"$IDS"
N_IDS=$(wc -l <"$IDS")
N_LINES=$(grep -c . "$SCORES")
[[ $N_IDS == "$N_LINES" && $N_IDS -gt 0 ]] || die "read $N_IDS customer ids from the $N_LINES lines of $SCORES"
FIXED_ID=$(sed -n "$(((N_IDS + 1) / 2))p" "$IDS")
log "$N_IDS customers in $SCORES (of $CUSTOMERS generated: the run scores the active ones)"

# wrk scripts: random ids from the list (each thread its own seed), one fixed id.
cat >"$WORK/serve-random.lua" <<EOF
-- Written by bench/serve_bench.sh: each request asks for a random customer of the run.
local ids = {}
local n = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
function init(args)
  for line in io.lines("$ROOT/$IDS") do
    n = n + 1
    ids[n] = "/api/customer-success/health/" .. line
  end
  math.randomseed(os.time() * 100 + (thread_number or 0))
end
function request()
  return wrk.format("GET", ids[math.random(n)])
end
EOF

# --- helpers -----------------------------------------------------------------------

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

rss_mib() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
# The resident size split: anonymous (the server's own memory) and file pages (scores.jsonl,
# memory-mapped: page cache the kernel can reclaim).
rss_split() { awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { printf "%d MiB anonymous + %d MiB file-backed", a / 1024, f / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# check_sample PORT LABEL: fetches 200 random ids once and compares each answer with its line.
check_sample() {
    python3 - "$1" "$SCORES" "$2" <<'PY'
import random, sys, urllib.request, urllib.error
port, scores, label = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = {}
with open(scores, "rb") as f:
    for line in f:
        line = line.rstrip(b"\n")
        if line:
            lines[line[len(b'{"customer_id": "'):line.index(b'"', 17)].decode()] = line
ids = random.Random(3).sample(sorted(lines), min(200, len(lines)))
bad = []
for i in ids:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/customer-success/health/{i}", timeout=5) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    if status != 200 or body.rstrip(b"\n") != lines[i]:
        bad.append(f"{i}: {status} {body[:80]!r}")
# An unknown id must be a 404.
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/customer-success/health/no-such-customer", timeout=5)
    missing = "200"
except urllib.error.HTTPError as e:
    missing = str(e.code)
print(f"{label}: {len(ids) - len(bad)}/{len(ids)} sampled answers are 200 with the customer's line; unknown id -> {missing}")
for b in bad[:5]:
    print(f"  {b}")
sys.exit(1 if bad else 0)
PY
}

# to_ms VALUE-WITH-UNIT (wrk's 812.00us, 1.23ms, 1.02s, 2.00m)
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

printf 'key\tlabel\treq_s\tp50_ms\tp99_ms\tmax_ms\trequests\tnon2xx\tsocket_errors\tserver_cores\twrk_cores\tothers_cores\n' >"$RESULTS"

# Before each measured run, wait_idle (bench/lib.sh, here up to 30 s by default) waits for
# other processes to go quiet; the "others" column records the cores they took meanwhile.
BENCH_IDLE_WAIT_DEFAULT=30
# tree_ticks PID...: user + system clock ticks of these processes and their children.
tree_ticks() {
    local pids=("$@") p
    for p in "$@"; do pids+=($(pgrep -P "$p" 2>/dev/null || true)); done
    for p in "${pids[@]}"; do cat "/proc/$p/stat" 2>/dev/null || true; done \
        | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { printf "%d\n", s }'
}

# bench_wrk KEY LABEL SECONDS URL SCRIPT|"" PID...: one wrk run against the server PIDs,
# its figures appended to RESULTS.
bench_wrk() {
    local key=$1 label=$2 secs=$3 url=$4 script=$5
    shift 5
    local out=$LOGS/serve-$key.wrk b1 b2 s1 s2 wrk_cpu t1 t2
    wait_idle
    log "wrk: $label, ${secs} s"
    b1=$(cpu_busy); s1=$(tree_ticks "$@"); t1=$(date +%s.%N)
    local TIMEFORMAT='%U %S'
    { time wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency ${script:+-s "$script"} "$url" >"$out" 2>&1; } \
        2>"$out.time" || { cat "$out" >&2; die "wrk failed: $label"; }
    b2=$(cpu_busy); s2=$(tree_ticks "$@"); t2=$(date +%s.%N)
    wrk_cpu=$(awk '{ print $1 + $2 }' "$out.time")
    local rps p50 p99 max requests non2xx errors server_cores others
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    max=$(to_ms "$(awk '$1 == "Latency" { print $4; exit }' "$out")")
    requests=$(awk '/requests in/ { print $1 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    errors=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i += 2) s += $(i + 1) + 0; print s }' "$out")
    [[ -n $rps ]] || { cat "$out" >&2; die "could not read wrk's output: $out"; }
    [[ ${requests:-0} != 0 ]] || die "wrk got no answer at all: $label (see $out)"
    server_cores=$(awk -v a="$s1" -v b="$s2" -v t="$TCK" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "%.2f", (b - a) / t / (t2 - t1) }')
    others=$(awk -v a="$b1" -v b="$b2" -v s="$((s2 - s1))" -v w="$wrk_cpu" -v t="$TCK" -v t1="$t1" -v t2="$t2" \
        'BEGIN { o = ((b - a - s) / t - w) / (t2 - t1); printf "%.2f", o < 0 ? 0 : o }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$rps" "$p50" "$p99" "$max" \
        "$requests" "${non2xx:-0}" "${errors:-0}" "$server_cores" \
        "$(awk -v w="$wrk_cpu" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "%.2f", w / (t2 - t1) }')" "$others" >>"$RESULTS"
    log "  $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx ${non2xx:-0}, socket errors ${errors:-0}; cores: server $server_cores, others $others"
}

# --- our server ----------------------------------------------------------------------

log "starting serve on $OUT"
"$BIN" serve --output "$OUT" --port 0 --quiet >"$LOGS/serve-http.out" 2>"$LOGS/serve-http.err" &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
PORT=""
for _ in $(seq 1 1200); do
    PORT=$(sed -n 's|^customer-health: serving .* on http://[^:]*:\([0-9]*\)$|\1|p' "$LOGS/serve-http.out")
    [[ -n $PORT ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$LOGS/serve-http.err" >&2; die "serve exited before listening"; }
    sleep 0.05
done
[[ -n $PORT ]] || die "serve printed no listening line within 60 s (see $LOGS/serve-http.out)"
curl -fsS "http://127.0.0.1:$PORT/health" >"$LOGS/serve-health.json" || die "GET /health failed"
log "serving on port $PORT (RSS $(rss_mib "$SERVE_PID") MiB): $(cat "$LOGS/serve-health.json")"
SAMPLE_OURS=$(check_sample "$PORT" "customer-health serve") || { echo "$SAMPLE_OURS" >&2; die "wrong answers from serve"; }
log "$SAMPLE_OURS"

BASE=http://127.0.0.1:$PORT
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$WORK/serve-random.lua" "$BASE" >/dev/null 2>&1 || true   # warm-up
bench_wrk ours-random "serve: health/{random id}" "$DURATION" "$BASE" "$WORK/serve-random.lua" "$SERVE_PID"
kill -0 "$SERVE_PID" 2>/dev/null || die "serve died during the random-id run (see $LOGS/serve-http.err)"
bench_wrk ours-fixed "serve: health/$FIXED_ID (fixed)" "$SHORT" "$BASE/api/customer-success/health/$FIXED_ID" "" "$SERVE_PID"
bench_wrk ours-kpis "serve: kpis" "$SHORT" "$BASE/api/customer-success/kpis" "" "$SERVE_PID"
kill -0 "$SERVE_PID" 2>/dev/null || die "serve died during the wrk runs (see $LOGS/serve-http.err)"
SERVE_RSS="$(rss_mib "$SERVE_PID") MiB ($(rss_split "$SERVE_PID"))"
curl -fsS "$BASE/metrics" >"$LOGS/serve-metrics.prom" || true
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null && SERVE_EXIT=0 || SERVE_EXIT=$?
PIDS=()
log "serve stopped (exit $SERVE_EXIT on SIGTERM); RSS after the runs $SERVE_RSS"

# --- the peer: nginx serving the same lines as static files --------------------------------

NGINX_NOTE="not run"
if [[ -n $NGINX ]]; then
    NROOT=$WORK/nginx-root
    files_stamp="$(readlink -f "$OUT/latest") $N_IDS"
    if [[ ! -f $NROOT/.stamp || "$(cat "$NROOT/.stamp")" != "$files_stamp" ]]; then
        log "writing $N_IDS files (one scores.jsonl line each) into $NROOT"
        rm -rf "$NROOT"
        python3 - "$SCORES" "$NROOT" <<'PY'
import os, sys
scores, root = sys.argv[1], sys.argv[2]
os.makedirs(root)
prefix = b'{"customer_id": "'
with open(scores, "rb") as f:
    for line in f:
        if not line.strip():
            continue
        cid = line[len(prefix):line.index(b'"', len(prefix))].decode()
        with open(os.path.join(root, cid), "wb") as out:
            out.write(line.rstrip(b"\n"))
PY
        printf '%s\n' "$files_stamp" >"$NROOT/.stamp"
    fi
    NPORT=$(free_port)
    NDIR=$ROOT/$WORK/nginx
    # Every cached file holds a descriptor of the worker: the workers get the hard limit
    # (nginx may raise its soft limit up to it) and the cache fits in it with room for
    # the connections; past it nginx closes the least recently used.
    NOFILE=$(ulimit -Hn)
    [[ $NOFILE =~ ^[0-9]+$ ]] || NOFILE=1048576
    ((NOFILE > 1048576)) && NOFILE=1048576
    CACHE_FILES=$((NOFILE - 2000))
    ((CACHE_FILES > N_IDS)) && CACHE_FILES=$N_IDS
    ((CACHE_FILES < 500)) && CACHE_FILES=500
    mkdir -p "$NDIR/tmp"
    : >"$NDIR/error.log"
    cat >"$NDIR/nginx.conf" <<EOF
# Written by bench/serve_bench.sh: the static-file peer.
$([[ $(id -u) == 0 ]] && echo 'user root;')
worker_rlimit_nofile $NOFILE;
worker_processes 2;
daemon off;
pid $NDIR/nginx.pid;
error_log $NDIR/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    open_file_cache max=$CACHE_FILES inactive=120s;
    client_body_temp_path $NDIR/tmp/body;
    proxy_temp_path $NDIR/tmp/proxy;
    fastcgi_temp_path $NDIR/tmp/fastcgi;
    uwsgi_temp_path $NDIR/tmp/uwsgi;
    scgi_temp_path $NDIR/tmp/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        location /api/customer-success/health/ {
            alias $ROOT/$NROOT/;
            default_type application/json;
        }
        location = /api/customer-success/kpis {
            alias $ROOT/$OUT/latest/kpis.json;
            default_type application/json;
        }
    }
}
EOF
    "$NGINX" -p "$NDIR" -c "$NDIR/nginx.conf" >"$LOGS/serve-nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$NPORT/api/customer-success/kpis" 2>/dev/null && break
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    if curl -fsS -o /dev/null "http://127.0.0.1:$NPORT/api/customer-success/kpis" 2>/dev/null; then
        NBASE=http://127.0.0.1:$NPORT
        SAMPLE_NGINX=$(check_sample "$NPORT" "nginx") || { echo "$SAMPLE_NGINX" >&2; die "wrong answers from nginx"; }
        log "$SAMPLE_NGINX"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$WORK/serve-random.lua" "$NBASE" >/dev/null 2>&1 || true
        bench_wrk nginx-random "nginx: health/{random id} (static files)" "$DURATION" "$NBASE" "$WORK/serve-random.lua" "$NGINX_PID"
        bench_wrk nginx-fixed "nginx: health/$FIXED_ID (fixed)" "$SHORT" "$NBASE/api/customer-success/health/$FIXED_ID" "" "$NGINX_PID"
        bench_wrk nginx-kpis "nginx: kpis.json" "$SHORT" "$NBASE/api/customer-success/kpis" "" "$NGINX_PID"
        NGINX_NOTE="$("$NGINX" -v 2>&1 | sed 's/.*version: //'), $N_IDS files, open_file_cache of $CACHE_FILES"
    else
        cat "$LOGS/serve-nginx.log" "$NDIR/error.log" >&2 2>/dev/null || true
        log "nginx did not start: no peer in this run"
        NGINX_NOTE="failed to start (see $LOGS/serve-nginx.log)"
    fi
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    PIDS=()
fi

# --- WebSocket fan-out ---------------------------------------------------------------

WS_JSON=$WORK/serve-ws.json
WS_STATUS=0
rm -f "$WS_JSON"
if [[ ${SERVE_SKIP_WS:-0} != 1 ]]; then
    wait_idle
    log "WebSocket fan-out: bench/ws_fanout.py (${WS_CLIENTS:-1000} clients, ${WS_DROPS:-5} drops)"
    # Exit status 2: measured, but the server ended early or clients missed updates; the
    # table says so and this script fails after writing it.
    BIN=$BIN python3 bench/ws_fanout.py --json "$WS_JSON" 2>&1 | tee "$LOGS/serve-ws.log" >&2 && WS_STATUS=0 || WS_STATUS=$?
    [[ $WS_STATUS == 0 || ($WS_STATUS == 2 && -s $WS_JSON) ]] || die "bench/ws_fanout.py failed: see $LOGS/serve-ws.log"
    [[ -s $WS_JSON ]] || die "bench/ws_fanout.py wrote no results: see $LOGS/serve-ws.log"
fi

# --- report --------------------------------------------------------------------------

CUSTOMERS=$CUSTOMERS DAYS=$DAYS SEED=$SEED N_IDS=$N_IDS VERSION=$VERSION NPROC=$NPROC THREADS=$THREADS \
CONNECTIONS=$CONNECTIONS DURATION=$DURATION SHORT=$SHORT NGINX_NOTE=$NGINX_NOTE SERVE_RSS=$SERVE_RSS \
SERVE_EXIT=$SERVE_EXIT SAMPLE_OURS=$SAMPLE_OURS SAMPLE_NGINX=${SAMPLE_NGINX:-} \
python3 - "$RESULTS" "$WS_JSON" "$WORK/serve-results.md" <<'PY'
import csv, json, os, sys
tsv, ws_path, out = sys.argv[1:4]
rows = {r["key"]: r for r in csv.DictReader(open(tsv), delimiter="\t")}
E = os.environ
customers = E["CUSTOMERS"]
days = E["DAYS"]
seed = E["SEED"]
n_ids = E["N_IDS"]
version = E["VERSION"]
nproc = E["NPROC"]
threads = E["THREADS"]
connections = E["CONNECTIONS"]
duration = E["DURATION"]
short = E["SHORT"]
nginx_note = E["NGINX_NOTE"]
serve_rss = E["SERVE_RSS"]
serve_exit = E["SERVE_EXIT"]
sample_ours = E["SAMPLE_OURS"]
L = []
L.append("# customer-health serve: HTTP and WebSocket (bench/serve_bench.sh)")
L.append("")
L.append(f"Run served: `generate --customers {customers} --days {days} --seed {seed}`, whole pipeline; "
         f"{n_ids} customers in scores.jsonl (the active ones). Tool {version}, {nproc} cores shared by the load "
         f"generator and the server. wrk {threads} threads x {connections} keep-alive connections on loopback, "
         f"{duration} s (random ids) / {short} s (fixed id, KPIs), after a 3 s warm-up. Peer: nginx ({nginx_note}), "
         "one static file per customer, worker_processes 2, access_log off.")
L.append("")
L.append("| HTTP | requests/s | p50 | p99 | max | requests | non-2xx | socket errors | cores: server / wrk / others |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for k, r in rows.items():
    L.append(f"| {r['label']} | {int(r['req_s']):,} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms | "
             f"{r['requests']} | {r['non2xx']} | {r['socket_errors']} | {r['server_cores']} / {r['wrk_cores']} / {r['others_cores']} |")
for kind in ("random", "fixed", "kpis"):
    a, b = rows.get(f"ours-{kind}"), rows.get(f"nginx-{kind}")
    if a and b and float(b["req_s"]) > 0:
        L.append(f"| ratio serve / nginx, {kind} | {float(a['req_s']) / float(b['req_s']):.2f}x | "
                 f"| {float(a['p99_ms']) / max(0.001, float(b['p99_ms'])):.2f}x (p99) | | | | | |")
L.append("")
L.append(f"serve resident memory after the HTTP runs: {serve_rss}; exit status on SIGTERM: {serve_exit}.")
L.append(f"Sampled answers: {sample_ours}" + ("; " + E["SAMPLE_NGINX"] if E.get("SAMPLE_NGINX") else "") + ".")
if os.path.exists(ws_path) and os.path.getsize(ws_path):
    ws = json.load(open(ws_path))
    L.append("")
    L.append(f"WebSocket fan-out: `serve --watch` on 10,000 customers (settle 0, poll 0.05 s); each drop is a "
             f"small activity file (3 customers, 120 rows) renamed into the input folder; times from the rename, "
             f"median over {ws['drops']} drops. 'kernel' = when the bytes reached the client socket "
             f"(SO_TIMESTAMPNS{'' if ws.get('kernel_timestamps') else ': NOT available, user time used'}); "
             f"'client' = when the Python client (one process, asyncio) had parsed the message.")
    L.append("")
    L.append("| WebSocket | clients | received (min over drops) | rename -> first | -> median | -> last | fan-out (last - first) | worst last |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label in ("single", "fanout"):
        r = ws.get(label)
        if not r or not r.get("kernel"):
            continue
        for clock, name in (("kernel", "kernel"), ("user", "client")):
            s = r[clock]
            L.append(f"| {r['clients']} client{'s' if r['clients'] > 1 else ''}, {name} | {r['clients']} | "
                     f"{r['min_received']} | {s['first_ms']:.1f} ms | {s['median_ms']:.1f} ms | {s['last_ms']:.1f} ms | "
                     f"{s['fanout_ms']:.1f} ms | {s['max_last_ms']:.1f} ms |")
    for label in ("single", "fanout"):
        r = ws.get(label)
        if r and not r.get("kernel"):
            L.append(f"| {r['clients']} clients | {r['clients']} | {r['min_received']} | no update measured: "
                     f"{r['connect_failures']} connections failed, server alive: {ws.get('server_alive')} | | | | |")
    f = ws.get("fanout") or {}
    upd = [d.get("updates_per_client") for d in f.get("drops", []) if d.get("received")]
    kpi = [d.get("kpi_updates_per_client") for d in f.get("drops", []) if d.get("received")]
    L.append("")
    counts = (f"Per client and drop: {', '.join(f'{u:g}' for u in upd)} customer_health_update and "
              f"{', '.join(f'{k:g}' for k in kpi)} kpi_update. ") if upd else ""
    L.append(counts + f"Connecting {f.get('clients')} clients took "
             f"{f.get('connect_s', 0):.1f} s ({f.get('connect_failures')} failed); clients lost: {ws.get('lost_count')}, "
             f"dropped as slow: {ws.get('slow_dropped') or 0:.0f}; server RSS with them {ws.get('server_rss_mib')} MiB; "
             f"server alive at the end: {ws.get('server_alive')}, its exit status {ws.get('server_exit')} "
             f"(0 = stopped by SIGTERM); its open-file limit {ws.get('server_fd_limit')}.")
    if not ws.get("server_alive"):
        L.append("")
        L.append("serve --watch ended before the end of the test; the end of its log: "
                 + " / ".join(ws.get("server_stderr_tail") or []))
text = "\n".join(L) + "\n"
open(out, "w").write(text)
print(text)
PY
log "table written to $WORK/serve-results.md; logs in $LOGS/serve-*"
[[ $WS_STATUS == 0 ]] || die "WebSocket fan-out: the server ended early, or clients missed updates or were lost (see $WS_JSON and $LOGS/serve-ws.log)"
