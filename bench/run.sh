#!/usr/bin/env bash
# The customer-health benchmark (`make bench`; issue 2, "Speed and memory").
#
# Run from anywhere after `swift build -c release --product customer-health`:
#     bash bench/run.sh
# It
#   1. generates the benchmark data once, cached in bench/work/ (git-ignored):
#        customer-health generate --customers 100000 --days 180 --seed 7 --output bench/work/data
#      and the same customers with twice the activity rows (--activity-rate 2.2) in
#      bench/work/data-2x; a data set is reused while its parameters and the tool's
#      version are the same (BENCH_REGENERATE=1 forces a new one);
#   2. writes pipeline files for that data (bench/work/*.yaml);
#   3. measures, in this one run, wall seconds and peak RSS (/usr/bin/time) of
#        - zlib alone inflating the files (bench/zlib_floor.c: the floor), 1 and N threads
#        - customer-health validate (ingest and join only), activity only and all exports
#        - customer-health run (the whole pipeline), activity only and all exports
#        - DuckDB computing the same per-customer activity features (bench/duckdb_features.py,
#          in its own virtual environment bench/.venv)
#        - customer-health validate and run on twice the activity rows (memory must stay flat)
#        - customer-health replay of 5 dates, every file and --outputs scores,kpis (per-date cost)
#   4. prints one table with rows/s, MB/s and the ratios and aims, and writes it to
#      bench/work/results.md.
#
# Settings (environment): BENCH_CUSTOMERS (100000), BENCH_DAYS (180), BENCH_SEED (7),
# BENCH_REPEAT (1: timings are the best of N runs, RSS the largest), BENCH_REGENERATE (0),
# BENCH_SKIP_2X (0), BENCH_IDLE_WAIT (60: seconds to wait for other processes to go quiet
# before each measured run; 0 = do not wait), BENCH_IDLE_CORES (0.3), BENCH_RESUME (0;
# 1 = keep the steps that an interrupted run already wrote to bench/work/results.tsv and
# measure only the rest), BIN (.build/release/customer-health).
# Needs: the release build, python3 with venv and pip (PyPI reachable), a C compiler and
# zlib headers (`make deps` installs zlib1g-dev), /usr/bin/time (installed here with apt-get
# when missing and running as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-.build/release/customer-health}
WORK=bench/work
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
DAYS=${BENCH_DAYS:-180}
SEED=${BENCH_SEED:-7}
RATE_2X=2.2
REPEAT=${BENCH_REPEAT:-1}
NPROC=$(nproc 2>/dev/null || echo 2)
VENV=bench/.venv
LOGS=$WORK/logs

BENCH_NAME=bench
source "$ROOT/bench/lib.sh"

# --- prerequisites ---------------------------------------------------------------


[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health  (or run  make bench)"
[[ -x /usr/bin/time ]] || apt_install time
CC=""
for c in cc gcc clang; do
    if command -v "$c" >/dev/null; then CC=$c; break; fi
done
[[ -n $CC ]] || { apt_install gcc; CC=gcc; }
[[ -f /usr/include/zlib.h ]] || apt_install zlib1g-dev
command -v python3 >/dev/null || die "python3 is needed (for DuckDB and the report)"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, got '$REPEAT'"

mkdir -p "$WORK" "$LOGS"
VERSION=$("$BIN" --version 2>/dev/null || echo unknown)

# The floor program.
FLOOR=$WORK/zlib_floor
if [[ ! -x $FLOOR || bench/zlib_floor.c -nt $FLOOR ]]; then
    log "compiling bench/zlib_floor.c"
    "$CC" -O2 -o "$FLOOR" bench/zlib_floor.c -lz -lpthread || die "could not compile bench/zlib_floor.c (needs zlib1g-dev)"
fi

# DuckDB in its own virtual environment.
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
    log "installing DuckDB into $VENV (pip)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>"$LOGS/venv.err"; then
        # Debian's python3 leaves venv/ensurepip to a separate package.
        apt_install python3-venv
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed: see $LOGS/venv.err"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check duckdb || die "pip install duckdb failed (PyPI must be reachable)"
fi
DUCKDB_VERSION=$("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)')

# --- data ------------------------------------------------------------------------

# stats DIR: per export, files, compressed bytes, inflated bytes and rows (newlines, less
# one header line per CSV file), counted once with the floor program and cached.
stats() {
    local dir=$1
    if [[ ! -s $dir/.bench-stats ]]; then
        log "counting rows and inflated bytes of $dir"
        {
            for kind in accounts activity tickets uptime savings; do
                local files=("$dir"/exports/"$kind"*)
                [[ -e ${files[0]} ]] || { echo "$kind 0 0 0 0"; continue; }
                local counts
                counts=$("$FLOOR" -j "$NPROC" -l "${files[@]}") || die "cannot inflate the $kind files of $dir (corrupt data? delete $dir to regenerate it)"
                read -r _ n _ comp _ infl _ nl <<<"$counts"
                local headers=0
                for f in "${files[@]}"; do [[ $f == *.csv || $f == *.csv.gz ]] && headers=$((headers + 1)); done
                echo "$kind $n $comp $infl $((nl - headers))"
            done
        } >"$dir/.bench-stats.tmp"
        mv "$dir/.bench-stats.tmp" "$dir/.bench-stats"
    fi
}

# stat_of DIR KIND... FIELD(2=files 3=compressed 4=inflated 5=rows): the sum over KINDs.
stat_of() {
    local dir=$1 field=${!#}
    local kinds=("${@:2:$#-2}")
    awk -v f="$field" -v k=" ${kinds[*]} " 'index(k, " " $1 " ") { s += $f } END { printf "%.0f\n", s }' "$dir/.bench-stats"
}

# Files largest first, so that N workers finish together.
files_by_size() { ls -S "$@"; }

gen_data "$WORK/data"
[[ ${BENCH_SKIP_2X:-0} == 1 ]] || gen_data "$WORK/data-2x" --activity-rate "$RATE_2X"
stats "$WORK/data"
[[ ${BENCH_SKIP_2X:-0} == 1 ]] || stats "$WORK/data-2x"

# --- pipelines -------------------------------------------------------------------

pipeline "$WORK/pipeline.yaml" "$WORK/data" out/all all
pipeline "$WORK/pipeline-activity.yaml" "$WORK/data" out/activity activity
pipeline "$WORK/pipeline-2x.yaml" "$WORK/data-2x" out/all-2x all

# --- measurements ----------------------------------------------------------------

RESULTS=$WORK/results.tsv
HEADER=$'key\tlabel\twall_s\trss_kb\trows\tgz_bytes\tcsv_bytes\tcpu_s\tothers_cpu_s'
if [[ ${BENCH_RESUME:-0} == 1 && -f $RESULTS && $(head -1 "$RESULTS") == "$HEADER" ]]; then
    log "BENCH_RESUME=1: keeping the steps already in $RESULTS (same data and build assumed)"
else
    printf '%s\n' "$HEADER" >"$RESULTS"
fi

# Before each measured run, wait_idle (bench/lib.sh) waits for other processes to go quiet;
# the "others" column records the CPU they took during the run.

# measure KEY LABEL ROWS GZ_BYTES CSV_BYTES -- COMMAND...: best wall of REPEAT runs (with
# its user + system CPU seconds and the CPU that other processes took meanwhile), largest
# peak RSS. The best run's output is kept in bench/work/logs/KEY.{out,err}, and so is the
# file named by SAVE (e.g. a manifest), as KEY.saved. MIN_REPEAT raises the count for one step.
measure() {
    local key=$1 label=$2 rows=$3 gz=$4 csv=$5
    shift 6
    local best="" cpu="" others="" rss=0 i wall kb user sys n=$REPEAT b1 b2
    if [[ ${BENCH_RESUME:-0} == 1 ]] && grep -q "^$key"$'\t' "$RESULTS"; then
        log "$label: measured already (BENCH_RESUME=1)"
        return 0
    fi
    ((${MIN_REPEAT:-1} > n)) && n=$MIN_REPEAT
    for ((i = 1; i <= n; i++)); do
        wait_idle
        if ((n > 1)); then log "$label (run $i of $n)"; else log "$label"; fi
        b1=$(cpu_busy 2>/dev/null || echo 0)
        if ! /usr/bin/time -f '%e %M %U %S' -o "$LOGS/$key.time" "$@" >"$LOGS/$key.run.out" 2>"$LOGS/$key.run.err"; then
            tail -20 "$LOGS/$key.run.err" >&2
            die "$label failed: $* (see $LOGS/$key.run.err)"
        fi
        b2=$(cpu_busy 2>/dev/null || echo 0)
        read -r wall kb user sys < <(tail -1 "$LOGS/$key.time")
        if [[ -z $best ]] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$wall
            cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
            others=$(awk -v a="$b1" -v b="$b2" -v t="$TCK" -v c="$cpu" 'BEGIN { o = (b - a) / t - c; printf "%.2f", o < 0 ? 0 : o }')
            mv "$LOGS/$key.run.out" "$LOGS/$key.out"
            mv "$LOGS/$key.run.err" "$LOGS/$key.err"
            if [[ -n ${SAVE:-} && -f ${SAVE:-} ]]; then cp "$SAVE" "$LOGS/$key.saved"; fi
        fi
        ((kb > rss)) && rss=$kb
    done
    rm -f "$LOGS/$key.run.out" "$LOGS/$key.run.err"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$best" "$rss" "$rows" "$gz" "$csv" "$cpu" "$others" >>"$RESULTS"
}

# The rows the tool reports reading (validate prints them per file).
tool_rows() { awk -F'\t' 'NR > 1 && $3 ~ /^[0-9]+$/ { s += $3 } END { printf "%.0f\n", s }' "$LOGS/$1.out"; }

warm_cache() { cat "$1"/exports/* >/dev/null; }

D=$WORK/data
ALL=(accounts activity tickets uptime savings)
ACT_ROWS=$(stat_of "$D" activity 5); ACT_GZ=$(stat_of "$D" activity 3); ACT_CSV=$(stat_of "$D" activity 4)
AA_ROWS=$(stat_of "$D" accounts activity 5); AA_GZ=$(stat_of "$D" accounts activity 3); AA_CSV=$(stat_of "$D" accounts activity 4)
ALL_ROWS=$(stat_of "$D" "${ALL[@]}" 5); ALL_GZ=$(stat_of "$D" "${ALL[@]}" 3); ALL_CSV=$(stat_of "$D" "${ALL[@]}" 4)
mapfile -t ACT_FILES < <(files_by_size "$D"/exports/activity-*)
mapfile -t ALL_FILES < <(files_by_size "$D"/exports/*)

log "data: $ACT_ROWS activity rows in ${#ACT_FILES[@]} files, $((ACT_GZ / 1000000)) MB gzipped, $((ACT_CSV / 1000000)) MB CSV; $ALL_ROWS rows in all exports"
warm_cache "$D"

MIN_REPEAT=3 measure floor1 "zlib floor: inflate activity files, 1 thread" "$ACT_ROWS" "$ACT_GZ" "$ACT_CSV" -- "$FLOOR" -j 1 "${ACT_FILES[@]}"
MIN_REPEAT=3 measure floorN "zlib floor: inflate activity files, $NPROC threads" "$ACT_ROWS" "$ACT_GZ" "$ACT_CSV" -- "$FLOOR" -j "$NPROC" "${ACT_FILES[@]}"
MIN_REPEAT=3 measure floorAll "zlib floor: inflate all exports, $NPROC threads" "$ALL_ROWS" "$ALL_GZ" "$ALL_CSV" -- "$FLOOR" -j "$NPROC" "${ALL_FILES[@]}"

measure validateAct "tool validate: accounts + activity (ingest, join)" "$AA_ROWS" "$AA_GZ" "$AA_CSV" -- "$BIN" validate "$WORK/pipeline-activity.yaml"
[[ $(tool_rows validateAct) == "$AA_ROWS" ]] || log "note: validate read $(tool_rows validateAct) rows of accounts + activity; the newline count says $AA_ROWS"
measure validateAll "tool validate: all exports (ingest, join)" "$ALL_ROWS" "$ALL_GZ" "$ALL_CSV" -- "$BIN" validate "$WORK/pipeline.yaml"
[[ $(tool_rows validateAll) == "$ALL_ROWS" ]] || log "note: validate read $(tool_rows validateAll) rows of all exports; the newline count says $ALL_ROWS"
SAVE=$WORK/out/activity/latest/manifest.json measure runAct "tool run: accounts + activity (whole pipeline)" "$AA_ROWS" "$AA_GZ" "$AA_CSV" -- "$BIN" run "$WORK/pipeline-activity.yaml"
SAVE=$WORK/out/all/latest/manifest.json measure runAll "tool run: all exports (whole pipeline)" "$ALL_ROWS" "$ALL_GZ" "$ALL_CSV" -- "$BIN" run "$WORK/pipeline.yaml"

# Replay (issue 14): 5 daily dates ending on the newest day, every file, then only
# scores and kpis. Each date's stage seconds come from the command's own last line.
REPLAY_TO=$(ls "$D"/exports/activity-*.csv.gz | sed 's/.*activity-\(.*\)\.csv\.gz/\1/' | sort | tail -1)
REPLAY_FROM=$(date -u -d "$REPLAY_TO -4 days" +%F)
rm -rf "$WORK/out/replay" "$WORK/out/replay-sk"
measure replayAll "tool replay: 5 dates, every file (all exports)" "$ALL_ROWS" "$ALL_GZ" "$ALL_CSV" -- \
    "$BIN" replay "$WORK/pipeline.yaml" --from "$REPLAY_FROM" --to "$REPLAY_TO" --output "$WORK/out/replay"
measure replayScores "tool replay: 5 dates, --outputs scores,kpis" "$ALL_ROWS" "$ALL_GZ" "$ALL_CSV" -- \
    "$BIN" replay "$WORK/pipeline.yaml" --from "$REPLAY_FROM" --to "$REPLAY_TO" --output "$WORK/out/replay-sk" --outputs scores,kpis

measure duckdb "DuckDB $DUCKDB_VERSION: activity features, $NPROC threads" "$ACT_ROWS" "$ACT_GZ" "$ACT_CSV" -- \
    "$VENV/bin/python" bench/duckdb_features.py "$D/exports/activity-*.csv.gz" --threads "$NPROC" \
    --check "$WORK/out/activity/latest/features.jsonl"
DUCK_ROWS=$(sed -n 's/.* input_rows=\([0-9]*\).*/\1/p' "$LOGS/duckdb.out")
[[ $DUCK_ROWS == "$ACT_ROWS" ]] || die "DuckDB aggregated $DUCK_ROWS rows, the activity files hold $ACT_ROWS: see $LOGS/duckdb.out"

if [[ ${BENCH_SKIP_2X:-0} != 1 ]]; then
    D2=$WORK/data-2x
    warm_cache "$D2"
    measure validate2x "tool validate: all exports, 2x activity rows" "$(stat_of "$D2" "${ALL[@]}" 5)" \
        "$(stat_of "$D2" "${ALL[@]}" 3)" "$(stat_of "$D2" "${ALL[@]}" 4)" -- "$BIN" validate "$WORK/pipeline-2x.yaml"
    SAVE=$WORK/out/all-2x/latest/manifest.json measure run2x "tool run: all exports, 2x activity rows" "$(stat_of "$D2" "${ALL[@]}" 5)" \
        "$(stat_of "$D2" "${ALL[@]}" 3)" "$(stat_of "$D2" "${ALL[@]}" 4)" -- "$BIN" run "$WORK/pipeline-2x.yaml"
    ACT2_ROWS=$(stat_of "$D2" activity 5)
else
    ACT2_ROWS=0
fi

# --- report ----------------------------------------------------------------------

python3 bench/report.py "$RESULTS" \
    --out "$WORK/results.md" \
    --meta "tool=$VERSION" "duckdb=$DUCKDB_VERSION" "cores=$NPROC" "repeat=$REPEAT" \
        "customers=$CUSTOMERS" "days=$DAYS" "seed=$SEED" "activity_rows=$ACT_ROWS" "activity_rows_2x=$ACT2_ROWS" \
        "activity_files=${#ACT_FILES[@]}" "machine=$(uname -m) $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs || true)" \
    --duckdb-out "$LOGS/duckdb.out" \
    --replays "replayAll=$LOGS/replayAll.out" "replayScores=$LOGS/replayScores.out" \
    --manifests "runAct=$LOGS/runAct.saved" "runAll=$LOGS/runAll.saved" "run2x=$LOGS/run2x.saved"
log "table written to $WORK/results.md; logs in $LOGS/"
