#!/usr/bin/env bash
# The trainer's memory per training row (issue 13, "Training at scale"): peak RSS of
#     customer-health train --table FILE --label label --id customer_id --model OUT
# at two table sizes, the bytes per row from their difference, and what that extrapolates to
# for 120 million rows (10 million customers, 12 observation dates), against 64 GB.
#
# Run from anywhere after `swift build -c release --product customer-health`:
#     bash bench/trainer_memory.sh
# It
#   1. generates a data set once, cached in bench/work/trainer-memory/data (git-ignored):
#        customer-health generate --profile own-events --customers 26000 --days 365 --seed 11
#      and writes its training table with  train PIPELINE --export-table  (month-end observation
#      dates, the 2 latest held out: about 200,000 rows of 53 inputs, as bench/model_bench.sh);
#   2. makes the larger table by repeating the rows TM_REPEAT (4) times, each copy's customer ids
#      suffixed (-0, -1, ...): the same values, 4 times the rows;
#   3. trains on each table under /usr/bin/time (maximum resident set size) and prints rows, peak
#      RSS, bytes per row and the extrapolation; the table also goes to
#      bench/work/trainer-memory-results.md.
#
# Settings (environment): TM_CUSTOMERS (26000), TM_DAYS (365), TM_SEED (11), TM_PROFILE
# (own-events), TM_REPEAT (4), TM_TARGET_ROWS (120000000), TM_LIMIT_GB (64), TM_TABLE (a CSV
# table of your own, columns customer_id,label,inputs...: skips steps 1), TM_REGENERATE (0),
# BIN (.build/release/customer-health).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=trainer-memory
source "$ROOT/bench/lib.sh"

BIN=${BIN:-.build/release/customer-health}
CUSTOMERS=${TM_CUSTOMERS:-26000}
DAYS=${TM_DAYS:-365}
SEED=${TM_SEED:-11}
PROFILE=${TM_PROFILE:-own-events}
REPEAT=${TM_REPEAT:-4}
TARGET=${TM_TARGET_ROWS:-120000000}
LIMIT_GB=${TM_LIMIT_GB:-64}
WORK=bench/work/trainer-memory
DATA=$WORK/data
LOGS=$WORK/logs

[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health"
[[ -x /usr/bin/time ]] || apt_install time
[[ $REPEAT =~ ^[2-9][0-9]*$ ]] || die "TM_REPEAT must be a whole number of at least 2, got '$REPEAT'"
mkdir -p "$WORK" "$LOGS"
VERSION=$("$BIN" --version 2>/dev/null || echo unknown)

# --- 1. the training table ----------------------------------------------------------------

SMALL=$WORK/table-1.csv
if [[ -n ${TM_TABLE:-} ]]; then
    [[ -s $TM_TABLE ]] || die "TM_TABLE=$TM_TABLE is not a readable table"
    cp "$TM_TABLE" "$SMALL"
else
    STAMP="generate --profile $PROFILE --customers $CUSTOMERS --days $DAYS --seed $SEED # $VERSION"
    if [[ ${TM_REGENERATE:-0} != 1 && -f $DATA/.bench-params && "$(cat "$DATA/.bench-params")" == "$STAMP" && -s $WORK/table-full.csv ]]; then
        log "reusing $DATA and its table ($STAMP)"
    else
        rm -rf "$DATA" "$DATA.tmp"
        log "generating $DATA: $STAMP (a few minutes)"
        "$BIN" generate --profile "$PROFILE" --customers "$CUSTOMERS" --days "$DAYS" --seed "$SEED" --output "$DATA.tmp" \
            >"$LOGS/generate.log" 2>&1 || { tail -20 "$LOGS/generate.log" >&2; die "generate failed: see $LOGS/generate.log"; }
        mv "$DATA.tmp" "$DATA"
        # The profile's pipeline with the model benchmark's churn section.
        sed -n '/^churn:$/q;p' "$DATA/pipeline.yaml" | sed "s|^input: exports|input: $ROOT/$DATA/exports|; s|^output: output|output: out|; s|^max_reject_ratio: .*|max_reject_ratio: 0.01|" >"$WORK/pipeline.yaml"
        cat >>"$WORK/pipeline.yaml" <<EOF
threads: 0
churn:
  model: pipeline-model.json
  if_missing: stop
  horizon_days: 30
  observe_every: 1m
  validation_dates: 2
  min_positives: 200
  on_insufficient_data: stop
  seed: $SEED
EOF
        log "train PIPELINE --export-table (the training table)"
        "$BIN" train "$WORK/pipeline.yaml" --export-table "$WORK/table-full.csv" --quiet >"$LOGS/pipeline-train.log" 2>&1 \
            || { tail -20 "$LOGS/pipeline-train.log" >&2; die "train failed: see $LOGS/pipeline-train.log"; }
        printf '%s\n' "$STAMP" >"$DATA/.bench-params"
    fi
    # Without the as_of and split columns (customer ids hold no comma).
    cut -d, -f1,4- "$WORK/table-full.csv" >"$SMALL"
fi

# --- 2. the larger table: the rows repeated, ids suffixed -------------------------------------

LARGE=$WORK/table-$REPEAT.csv
awk -F, -v n="$REPEAT" 'NR == 1 { print; next } { rows[NR] = $0 }
    END { for (k = 0; k < n; k++) for (i = 2; i <= NR; i++) { r = rows[i]; p = index(r, ","); print substr(r, 1, p - 1) "-" k substr(r, p) } }' \
    "$SMALL" >"$LARGE"

# --- 3. peak RSS of train --table at both sizes -------------------------------------------------

declare -A RSS ROWS SECS
for t in 1 "$REPEAT"; do
    table=$WORK/table-$t.csv
    ROWS[$t]=$(($(wc -l <"$table") - 1))
    wait_idle
    log "train --table $table (${ROWS[$t]} rows)"
    /usr/bin/time -f '%M %e' -o "$LOGS/train-$t.time" "$BIN" train --table "$table" --label label --id customer_id \
        --model "$WORK/model-$t.json" --seed "$SEED" >"$LOGS/train-$t.out" 2>"$LOGS/train-$t.err" \
        || { tail -20 "$LOGS/train-$t.err" >&2; die "train --table failed: see $LOGS/train-$t.err"; }
    read -r RSS[$t] SECS[$t] <"$LOGS/train-$t.time"
    log "  ${RSS[$t]} KiB peak RSS, ${SECS[$t]} s"
done

INPUTS=$(($(head -1 "$SMALL" | tr ',' '\n' | wc -l) - 2))
awk -v r1="${ROWS[1]}" -v m1="${RSS[1]}" -v s1="${SECS[1]}" -v r2="${ROWS[$REPEAT]}" -v m2="${RSS[$REPEAT]}" -v s2="${SECS[$REPEAT]}" \
    -v target="$TARGET" -v limit="$LIMIT_GB" -v inputs="$INPUTS" -v version="$VERSION" '
    BEGIN {
        per = (m2 - m1) * 1024 / (r2 - r1)
        fixed = m1 * 1024 - r1 * per
        total = fixed + target * per
        printf "# Trainer memory (train --table, %s, %d inputs)\n\n", version, inputs
        printf "| rows | peak RSS (MiB) | seconds |\n|---:|---:|---:|\n"
        printf "| %d | %.1f | %s |\n| %d | %.1f | %s |\n\n", r1, m1 / 1024, s1, r2, m2 / 1024, s2
        printf "bytes per training row (from the difference): %.1f\n", per
        printf "fixed part: %.1f MiB\n", fixed / 1048576
        printf "extrapolated to %d rows: %.1f GB (%.1f GiB); limit %d GB (%.0f bytes a row): %s\n", target, total / 1e9, total / 1073741824,
            limit, limit * 1e9 / target, (total <= limit * 1e9 ? "fits" : "DOES NOT FIT")
    }' | tee bench/work/trainer-memory-results.md
