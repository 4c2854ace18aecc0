#!/usr/bin/env bash
# Builds the libFuzzer targets of customer-health, replays the saved
# regressions, fuzzes each target for FUZZ_SECONDS and reports per target:
# executions, exec/s, coverage (cov, ft) and crashes. A crash found is
# minimized and saved as Fuzz/regressions/<target>/<file> (with a .txt
# summary beside it), so that every later run replays it.
#
#   Fuzz/run.sh                      build, replay, fuzz every target 60 s
#   FUZZ_SECONDS=5 Fuzz/run.sh       the CI short pass
#   Fuzz/run.sh csv fields           only these targets
#   Fuzz/run.sh --replay-only        build and replay the regressions, no fuzzing
#   Fuzz/run.sh --build-only
#
# Environment: FUZZ_SECONDS (60), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s per
# input), FUZZ_JOBS (1: libFuzzer fork jobs per target), FUZZ_TRIAGE_MAX (40:
# crashing inputs reproduced per target to tell bugs apart), SWIFT (swift).
# Exit status: 0 when nothing crashed; 1 when a regression still crashes or
# fuzzing found a crash; 2 when the build failed. See docs/fuzzing.md.
set -uo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$FUZZ_DIR")"
SWIFT="${SWIFT:-swift}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_RSS_MB="${FUZZ_RSS_MB:-2048}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-10}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"

ALL_TARGETS=(csv csv-file jsonl fields gzip pipeline http)
declare -A MAX_LEN=([csv]=8192 [csv-file]=16384 [jsonl]=16384 [fields]=256 [gzip]=16384 [pipeline]=8192 [http]=20480)
declare -A DICT=([csv]=csv [csv-file]=csv [jsonl]=json [fields]=fields [gzip]=csv [pipeline]=pipeline [http]=http)
# The HTTP target serves each input through tasks of Hummingbird's that may
# still be settling when the input returns: LeakSanitizer cannot tell those
# from leaks, so it is off for that target (docs/fuzzing.md).
declare -A LEAKS=([csv]=1 [csv-file]=1 [jsonl]=1 [fields]=1 [gzip]=1 [pipeline]=1 [http]=0)

mode=fuzz
targets=()
for arg in "$@"; do
    case "$arg" in
        --replay-only) mode=replay ;;
        --build-only) mode=build ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) [[ -n "${MAX_LEN[$arg]:-}" ]] || { echo "unknown target: $arg (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
           targets+=("$arg") ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

BIN="$FUZZ_DIR/.build/release"
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
WORK="$FUZZ_DIR/.work/$RUN_ID"
mkdir -p "$WORK"
# Files the targets write (exports, gzip files, the served run) go here, on tmpfs when there is one.
SCRATCH_BASE="$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )"
export FUZZ_SCRATCH="$(mktemp -d "$SCRATCH_BASE/customer-health-fuzz.XXXXXX")"
export CUSTOMER_HEALTH_REPO="$REPO"
# libFuzzer's fork mode keeps its jobs' files in a folder under TMPDIR: ours, removed at the end.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
# Swift's own crash backtracer would run inside ASan's signal handling: off; libFuzzer prints the stack.
export SWIFT_BACKTRACE=enable=no
SYMBOLIZER="$(command -v llvm-symbolizer || true)"
[[ -n "$SYMBOLIZER" ]] || SYMBOLIZER="$(dirname "$(readlink -f "$(command -v "$SWIFT")")")/llvm-symbolizer"

CHILDREN=()
cleanup() {
    for pid in "${CHILDREN[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; fi
    done
    rm -rf "$FUZZ_SCRATCH" "$WORK/tmp"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

asan_options() {  # $1: target
    echo "detect_leaks=${LEAKS[$1]}:allocator_may_return_null=1:handle_abort=1:symbolize=1:dedup_token_length=3:external_symbolizer_path=$SYMBOLIZER"
}

# Runs a command in its own process group, under a wall-clock limit, so that
# nothing it starts outlives it. $1: seconds; the rest: the command.
run_limited() {
    local limit="$1"; shift
    setsid -w timeout --kill-after=30 "$limit" "$@" &
    local pid=$!
    CHILDREN+=("$pid")
    wait "$pid"
}

# ---- build -------------------------------------------------------------------
cd "$FUZZ_DIR"
[[ -f Package.resolved ]] || { [[ -f "$REPO/Package.resolved" ]] && cp "$REPO/Package.resolved" Package.resolved; }
echo "== building the fuzz targets (release, -sanitize=fuzzer,address, -enable-testing) into Fuzz/.build"
build_start=$(date +%s)
for attempt in 1 2 3; do
    # --sanitize=fuzzer --sanitize=address instruments the C modules (clang
    # adds -fsanitize flags up) and links libFuzzer and ASan; for Swift it
    # passes -sanitize=fuzzer and -sanitize=address as two flags, in no fixed
    # order, and swiftc keeps only the last one: -sanitize=fuzzer,address,
    # passed after them, gives the Swift modules both coverage and ASan.
    "$SWIFT" build -c release --scratch-path "$FUZZ_DIR/.build" \
        --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -enable-testing > "$WORK/build.log" 2>&1
    grep -E "error|warning: .*Fuzz/|Build complete" "$WORK/build.log" | sed 's/^/   /' | head -40
    grep -q "Build complete" "$WORK/build.log" && break
    # A source file edited while it was compiled: build again.
    grep -q "was modified during the build" "$WORK/build.log" && [[ $attempt -lt 3 ]] && { echo "   sources changed during the build: again"; continue; }
    echo "build failed; see $WORK/build.log" >&2
    exit 2
done
{ echo "commit: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)"; git -C "$REPO" status --short -- Sources 2>/dev/null; } > "$WORK/source-state.txt"
# The Swift code must carry both libFuzzer's coverage counters and ASan's checks.
objects="$FUZZ_DIR/.build/x86_64-unknown-linux-gnu/release/CustomerHealth.build"
if [[ -d "$objects" ]]; then
    sample="$(ls "$objects"/*.o | head -1)"
    # grep reads all of its input (no -q): with pipefail, an early exit would
    # end objdump or nm with SIGPIPE and fail the check on a good object.
    if ! objdump -h "$sample" | grep __sancov_cntrs >/dev/null || ! nm "$sample" | grep __asan_ >/dev/null; then
        echo "the Swift modules are not instrumented for both coverage and ASan ($sample); see $WORK/build.log" >&2
        exit 2
    fi
fi
echo "   built in $(( $(date +%s) - build_start )) s"
[[ "$mode" == build ]] && exit 0

status=0
summary="$WORK/summary.txt"
: > "$summary"

# ---- triage helpers ------------------------------------------------------------
# Reproduces one input; writes its log; prints the triage JSON (empty when it does not crash).
reproduce() {  # $1 target, $2 input, $3 log
    ASAN_OPTIONS="$(asan_options "$1")" run_limited $((FUZZ_TIMEOUT * 3 + 30)) \
        "$BIN/fuzz-$1" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" -runs=1 "$2" > "$3" 2>&1
    local rc=$?
    if [[ $rc -ne 0 ]]; then python3 "$FUZZ_DIR/triage.py" "$3"; fi
    return $rc
}

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# ---- replay the regressions ------------------------------------------------------
echo "== replaying Fuzz/regressions"
declare -A KNOWN_SIGNATURES=()
replayed=0; still_failing=0
for t in "${targets[@]}"; do
    dir="$FUZZ_DIR/regressions/$t"
    [[ -d "$dir" ]] || continue
    for f in "$dir"/*; do
        [[ -f "$f" && "$f" != *.txt && "$f" != *.md ]] || continue
        replayed=$((replayed + 1))
        log="$WORK/replay-$t-$(basename "$f").log"
        if triage_json="$(reproduce "$t" "$f" "$log")"; then
            echo "   pass  $t/$(basename "$f")"
        else
            still_failing=$((still_failing + 1)); status=1
            sig="$(echo "$triage_json" | json_field signature 2>/dev/null || echo "?")"
            KNOWN_SIGNATURES["$t|$sig"]=1
            echo "   FAIL  $t/$(basename "$f"): $sig"
            echo "REGRESSION $t/$(basename "$f"): $sig (log: $log)" >> "$summary"
        fi
    done
done
echo "   $replayed replayed, $still_failing still crash"
[[ "$mode" == replay ]] && { echo; cat "$summary"; exit $status; }

# ---- seeds -----------------------------------------------------------------------
echo "== seed corpora (make_corpus.py)"
python3 "$FUZZ_DIR/make_corpus.py" | sed 's/^/   /'

# ---- fuzz ------------------------------------------------------------------------
printf '\n%-9s %10s %8s %6s %7s %8s %s\n' target execs exec/s cov ft crashes "new bugs (saved in Fuzz/regressions)" > "$WORK/table.txt"
for t in "${targets[@]}"; do
    echo "== fuzzing $t for $FUZZ_SECONDS s (max_len ${MAX_LEN[$t]})"
    artifacts="$WORK/artifacts-$t"
    mkdir -p "$artifacts" "$FUZZ_DIR/corpus/$t"
    log="$WORK/fuzz-$t.log"
    # Fork mode: a crash, timeout or out-of-memory input is saved and the
    # fuzzing goes on, so one bug does not hide the others for the rest of the pass.
    ASAN_OPTIONS="$(asan_options "$t")" run_limited $((FUZZ_SECONDS + 120)) \
        "$BIN/fuzz-$t" "$FUZZ_DIR/corpus/$t" \
        -fork="$FUZZ_JOBS" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]}" \
        -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
        -dict="$FUZZ_DIR/dict/${DICT[$t]}.dict" -artifact_prefix="$artifacts/" \
        -print_final_stats=1 > "$log" 2>&1
    stats="$(python3 "$FUZZ_DIR/triage.py" --stats "$log")"
    execs=$(echo "$stats" | json_field execs); eps=$(echo "$stats" | json_field exec_per_s)
    cov=$(echo "$stats" | json_field cov); ft=$(echo "$stats" | json_field ft)
    found=$(find "$artifacts" -type f | wc -l); new=()
    # One bug is usually found again and again: triage timeouts, out-of-memory
    # and leak inputs first, then the smallest crashes, at most FUZZ_TRIAGE_MAX of them.
    mapfile -t to_triage < <(cd "$artifacts" && ls -1S -r 2>/dev/null | awk '{ p = ($0 ~ /^crash-/) ? 1 : 0; print p "\t" $0 }' \
        | sort -s -t$'\t' -k1,1n | cut -f2 | head -n "${FUZZ_TRIAGE_MAX:-40}")
    for a in "${to_triage[@]/#/$artifacts/}"; do
        [[ -f "$a" ]] || continue
        alog="$WORK/triage-$t-$(basename "$a").log"
        triage_json="$(reproduce "$t" "$a" "$alog")" && { echo "   $(basename "$a") does not reproduce alone (kept in $artifacts)"; continue; }
        sig="$(echo "$triage_json" | json_field signature)"
        [[ -n "${KNOWN_SIGNATURES["$t|$sig"]:-}" ]] && continue
        KNOWN_SIGNATURES["$t|$sig"]=1
        # Smallest input that fails the same way, then saved as a regression.
        kind="$(basename "$a" | cut -d- -f1)"
        min="$WORK/min-$(basename "$a")"
        ASAN_OPTIONS="$(asan_options "$t")" run_limited 120 "$BIN/fuzz-$t" -minimize_crash=1 -max_total_time=30 \
            -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" -exact_artifact_path="$min" "$a" > "$WORK/minimize-$(basename "$a").log" 2>&1
        keep="$a"
        if [[ -s "$min" ]] && ! min_json="$(reproduce "$t" "$min" "$alog.min")"; then
            # Still failing: keep the smaller input if it fails the same way.
            if [[ "$(echo "$min_json" | json_field signature 2>/dev/null)" == "$sig" ]]; then keep="$min"; triage_json="$min_json"; fi
        fi
        name="$kind-$(sha1sum "$keep" | cut -c1-16)"
        mkdir -p "$FUZZ_DIR/regressions/$t"
        cp "$keep" "$FUZZ_DIR/regressions/$t/$name"
        python3 - "$triage_json" "$t" "$name" "$FUZZ_DIR/regressions/$t/$name.txt" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); target, name, out = sys.argv[2], sys.argv[3], sys.argv[4]
data = open(out[:-4], "rb").read()
with open(out, "w") as f:
    f.write("Found by Fuzz/run.sh (target %s). Replay: Fuzz/.build/release/fuzz-%s Fuzz/regressions/%s/%s\n\n" % (target, target, target, name))
    f.write("signature: %s\nmessage:   %s\n\ninput (%d bytes): %r\n\nstack (innermost first):\n" % (d["signature"], d["message"], len(data), data[:400]))
    for fr in d["frames"]:
        f.write("  %s\n" % fr)
PY
        new+=("$name: $sig")
        status=1
    done
    printf '%-9s %10s %8s %6s %7s %8s %s\n' "$t" "$execs" "$eps" "$cov" "$ft" "$found" "${#new[@]}" >> "$WORK/table.txt"
    for n in "${new[@]}"; do echo "NEW $t/$n" >> "$summary"; echo "   new: $n"; done
    echo "   $execs execs ($eps/s), cov $cov, ft $ft, $found crashing inputs, ${#new[@]} new bug(s)"
done

echo
cat "$WORK/table.txt"
echo
if [[ -s "$summary" ]]; then cat "$summary"; else echo "no crashes"; fi
echo "logs: $WORK"
exit $status
