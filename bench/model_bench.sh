#!/usr/bin/env bash
# The churn-model benchmark (issue 3, "Quality and speed"): the tool's ensemble against
# scikit-learn HistGradientBoosting and RandomForest, LightGBM and XGBoost, on identical rows,
# and against the generator's known answer.
#
# Run from anywhere after `swift build -c release --product customer-health`:
#     bash bench/model_bench.sh
# It
#   1. generates data with a known answer once, cached in bench/work/model-data (git-ignored):
#        customer-health generate --customers 26000 --days 365 --seed 11
#      (reused while the parameters and the tool's version are the same; MB_REGENERATE=1
#      forces a new one), writes a pipeline for it (bench/work/model/pipeline.yaml: month-end
#      observation dates, 30-day horizon, the 2 latest dates held out) and times
#        customer-health train PIPELINE --export-table bench/work/model/table.csv
#      (about 200,000 rows), then splits that table into train.csv / validation.csv
#      (customer_id, label, features) and writes score.csv (validation rows repeated to 1 M);
#   2. scores the truth (truth.csv.gz churn_probability_30d) on exactly the validation rows;
#   3. trains the peers in their own virtual environment bench/.venv-models
#      (bench/model_peers.py: fit seconds, validation metrics, predict_proba rows/s on 1 M rows);
#   4. trains the tool on the same files (train --table ... --validation), evaluates it on
#      validation.csv, and measures its scoring speed with evaluate on score.csv;
#   5. prints one side-by-side table with the truth, the gaps and the aims (pass/fail), and
#      writes it to bench/work/model-results.md (and model-results.json).
#
# Settings (environment): MB_CUSTOMERS (26000), MB_DAYS (365), MB_SEED (11), MB_SCORE_ROWS
# (1000000), MB_SCORE_REPEAT (3: scoring is the best of N), MB_PEERS (hgb,rf,logreg,lightgbm,xgboost),
# MB_REGENERATE (0), BIN (.build/release/customer-health).
# Needs: the release build, python3 with venv and pip (PyPI reachable), /usr/bin/time
# (installed with apt-get when missing and running as root).
#
# Profiles (issue 11): MB_PROFILES (default "default own-events sparse") runs the whole
# comparison once per kind of data, each on its own data set and table:
#   default     the generator's field-service product;
#   own-events  a product with its own event names whose actions differ in what they say
#               (some grow with health, failed exports with trouble): generate --profile own-events;
#   sparse      little signal: the default product with a tenth of the events (--activity-rate 0.11).
# The tables go to bench/work/model-results-PROFILE.md and together to bench/work/model-results.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ -z ${MB_PROFILE:-} ]]; then
    for profile in ${MB_PROFILES:-default own-events sparse}; do
        MB_PROFILE=$profile bash "$0" || exit 1
    done
    for profile in ${MB_PROFILES:-default own-events sparse}; do
        cat "bench/work/model-results-$profile.md"; echo
    done >bench/work/model-results.md
    echo "[model-bench] every profile's table: bench/work/model-results.md" >&2
    exit 0
fi
PROFILE=$MB_PROFILE
case $PROFILE in
    default) GEN_PROFILE=default; ACTIVITY_RATE=1.1 ;;
    own-events) GEN_PROFILE=own-events; ACTIVITY_RATE=1.1 ;;
    sparse) GEN_PROFILE=default; ACTIVITY_RATE=0.11 ;;
    *) echo "unknown MB_PROFILE $PROFILE (default, own-events, sparse)" >&2; exit 2 ;;
esac

BIN=${BIN:-.build/release/customer-health}
CUSTOMERS=${MB_CUSTOMERS:-26000}
DAYS=${MB_DAYS:-365}
SEED=${MB_SEED:-11}
SCORE_ROWS=${MB_SCORE_ROWS:-1000000}
SCORE_REPEAT=${MB_SCORE_REPEAT:-3}
PEERS=${MB_PEERS:-hgb,rf,logreg,lightgbm,xgboost}
NPROC=$(nproc 2>/dev/null || echo 2)
DATA=bench/work/model-data-$PROFILE
WORK=bench/work/model-$PROFILE
LOGS=$WORK/logs
VENV=bench/.venv-models
PY=$VENV/bin/python

BENCH_NAME=model-bench
source "$ROOT/bench/lib.sh"

# --- prerequisites ---------------------------------------------------------------

[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health  (or run  make bench)"
"$BIN" train --help 2>/dev/null | grep -q -- '--export-table' || die "this build of customer-health has no 'train --export-table': pull and rebuild"
"$BIN" evaluate --help >/dev/null 2>&1 || die "this build of customer-health has no 'evaluate' subcommand: pull and rebuild"
[[ -x /usr/bin/time ]] || apt_install time
command -v python3 >/dev/null || die "python3 is needed (for the peers and the report)"
[[ $SCORE_REPEAT =~ ^[1-9][0-9]*$ ]] || die "MB_SCORE_REPEAT must be a positive integer, got '$SCORE_REPEAT'"
mkdir -p "$WORK" "$LOGS"
VERSION=$("$BIN" --version 2>/dev/null || echo unknown)

# The peers in their own virtual environment.
PIP_PACKAGES=(scikit-learn lightgbm xgboost numpy pandas)
if [[ ! -x $PY ]] || ! "$PY" -c 'import sklearn, lightgbm, xgboost, numpy, pandas' 2>/dev/null; then
    log "installing ${PIP_PACKAGES[*]} into $VENV (pip)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>"$LOGS/venv.err"; then
        pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install "python$pyver-venv" || apt_install python3-venv
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed: see $LOGS/venv.err"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" \
        || die "pip install ${PIP_PACKAGES[*]} failed (PyPI must be reachable)"
fi

# The 1-minute load average before each timed step (others' work skews the timings).
LOADS=()
note_load() {
    local l; l=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
    LOADS+=("$l")
    awk -v l="$l" 'BEGIN { exit !(l > 0.5) }' && log "note: load average $l before '$1': other work is running, timings will be inflated"
    return 0
}

# timed KEY COMMAND...: runs COMMAND with its output in $LOGS/KEY.{out,err} and wall seconds,
# peak RSS KiB, user and system seconds in $LOGS/KEY.time.
timed() {
    local key=$1; shift
    note_load "$key"
    if ! /usr/bin/time -f '%e %M %U %S' -o "$LOGS/$key.time" "$@" >"$LOGS/$key.out" 2>"$LOGS/$key.err"; then
        tail -20 "$LOGS/$key.err" >&2
        die "failed: $* (see $LOGS/$key.out and $LOGS/$key.err)"
    fi
    log "  $(awk '{ printf "%.1f s wall, %.0f MiB peak RSS", $1, $2 / 1024 }' "$LOGS/$key.time")"
}

# --- 1. data with a known answer, the training table -----------------------------

GEN="customer-health generate --profile $GEN_PROFILE --activity-rate $ACTIVITY_RATE --customers $CUSTOMERS --days $DAYS --seed $SEED"
STAMP="$GEN # $VERSION"
if [[ ${MB_REGENERATE:-0} != 1 && -f $DATA/.bench-params && -f $DATA/truth.csv.gz && "$(cat "$DATA/.bench-params")" == "$STAMP" ]]; then
    log "reusing $DATA ($GEN)"
else
    rm -rf "$DATA" "$DATA.tmp"
    log "generating $DATA: $GEN (a few minutes)"
    t0=$SECONDS
    "$BIN" generate --profile "$GEN_PROFILE" --activity-rate "$ACTIVITY_RATE" --customers "$CUSTOMERS" --days "$DAYS" \
        --seed "$SEED" --output "$DATA.tmp" \
        >"$LOGS/generate.log" 2>&1 || { tail -20 "$LOGS/generate.log" >&2; die "generate failed: see $LOGS/generate.log"; }
    [[ -f $DATA.tmp/truth.csv.gz ]] || die "generate wrote no $DATA.tmp/truth.csv.gz"
    printf '%s\n' "$STAMP" >"$DATA.tmp/.bench-params"
    mv "$DATA.tmp" "$DATA"
    log "generated $DATA in $((SECONDS - t0)) s"
fi

# The profile's own pipeline (its exports, event names, churn definition), with the benchmark's churn section.
sed -n '/^churn:$/q;p' "$DATA/pipeline.yaml" | sed "s|^input: exports|input: $ROOT/$DATA/exports|; s|^output: output|output: out|; s|^max_reject_ratio: .*|max_reject_ratio: 0.01|" >"$WORK/pipeline.yaml"
cat >>"$WORK/pipeline.yaml" <<EOF
threads: 0
churn:
  model: pipeline-model.json
  if_missing: stop
  horizon_days: 30
  observe_every: 1m             # month ends, the dates of truth.csv.gz
  validation_dates: 2           # the 2 latest observation dates are held out
  min_positives: 200
  on_insufficient_data: stop
  seed: $SEED
EOF

log "train PIPELINE --export-table (the tool's own training set and ensemble)"
rm -f "$WORK/table.csv"
timed pipeline-train "$BIN" train "$WORK/pipeline.yaml" --export-table "$WORK/table.csv"
[[ -s $WORK/table.csv ]] || die "train --export-table wrote no $WORK/table.csv"
TABLE_ROWS=$(($(wc -l <"$WORK/table.csv") - 1))
log "training table: $TABLE_ROWS rows"
if ((TABLE_ROWS < 150000 || TABLE_ROWS > 260000)); then
    log "note: the table has $TABLE_ROWS rows, the issue compares on about 200,000 (set MB_CUSTOMERS)"
fi

# --- 2. split, scoring file, truth ---------------------------------------------------

log "splitting the table; truth on the validation rows; score.csv ($SCORE_ROWS rows)"
"$PY" bench/model_peers.py prepare --table "$WORK/table.csv" --truth "$DATA/truth.csv.gz" \
    --out "$WORK" --score-rows "$SCORE_ROWS" 2>&1 | tee "$LOGS/prepare.log" >&2 \
    || die "prepare failed: see $LOGS/prepare.log"
FEATURES=$(($(head -1 "$WORK/train.csv" | tr ',' '\n' | wc -l) - 2))

# --- 3. peers --------------------------------------------------------------------------

log "peers ($PEERS) in $VENV, $NPROC threads"
note_load peers
"$PY" bench/model_peers.py peers --train "$WORK/train.csv" --validation "$WORK/validation.csv" \
    --label label --id customer_id --out "$WORK/peers.json" --model-dir "$WORK/peer-models" \
    --score-rows "$SCORE_ROWS" --score-repeat "$SCORE_REPEAT" --threads "$NPROC" --seed "$SEED" \
    --only "$PEERS" 2>&1 | tee "$LOGS/peers.log" >&2 \
    || die "peers failed: see $LOGS/peers.log"

# --- 4. the tool on the same files -----------------------------------------------------

log "customer-health train --table train.csv --validation validation.csv"
rm -f "$WORK/table-model.json"
timed table-train "$BIN" train --table "$WORK/train.csv" --label label --id customer_id \
    --model "$WORK/table-model.json" --validation "$WORK/validation.csv" --seed "$SEED"
log "customer-health evaluate --table validation.csv"
timed evaluate "$BIN" evaluate --table "$WORK/validation.csv" --model "$WORK/table-model.json"
# Scoring speed: the best of SCORE_REPEAT evaluate runs on the 1 M rows.
best=""
for ((i = 1; i <= SCORE_REPEAT; i++)); do
    log "customer-health evaluate --table score.csv (run $i of $SCORE_REPEAT)"
    timed "score-$i" "$BIN" evaluate --table "$WORK/score.csv" --model "$WORK/table-model.json"
    r=$(sed -n 's/^scoring \([0-9.]*\) rows\/s.*/\1/p' "$LOGS/score-$i.out")
    [[ -n $r ]] || die "evaluate printed no scoring rows/s: see $LOGS/score-$i.out"
    if [[ -z $best ]] || awk -v a="$r" -v b="$best" 'BEGIN { exit !(a > b) }'; then
        best=$r; cp "$LOGS/score-$i.out" "$LOGS/score.out"; cp "$LOGS/score-$i.time" "$LOGS/score.time"
    fi
done

# --- 5. report -------------------------------------------------------------------------

"$PY" bench/model_peers.py report \
    --truth-json "$WORK/truth.json" --peers-json "$WORK/peers.json" \
    --pipeline-train-log "$LOGS/pipeline-train.out" --pipeline-train-time "$LOGS/pipeline-train.time" \
    --table-train-log "$LOGS/table-train.out" --table-train-time "$LOGS/table-train.time" \
    --eval-log "$LOGS/evaluate.out" --score-log "$LOGS/score.out" --score-time "$LOGS/score.time" \
    --table-model "$WORK/table-model.json" --pipeline-model "$WORK/pipeline-model.json" \
    --out "bench/work/model-results-$PROFILE.md" \
    --meta "tool=$VERSION" "profile=$PROFILE" "customers=$CUSTOMERS" "days=$DAYS" "seed=$SEED" "features=$FEATURES" \
        "cores=$NPROC" "score_repeat=$SCORE_REPEAT" "load=${LOADS[*]}" \
        "machine=$(uname -m) $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs || true)"
log "table written to bench/work/model-results-$PROFILE.md; logs in $LOGS/"
