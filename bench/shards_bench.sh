#!/usr/bin/env bash
# Sharded runs on one machine (`make bench`; issue 13, docs/scale-out.md): the
# benchmark data set (100,000 customers, 180 days; bench/run.sh makes and caches it
# in bench/work/data) scored
#   - by one `run` (all cores),
#   - by N shards (`run --shard K/N`, one after the other, all cores each) and a `merge`,
# measuring wall seconds, CPU seconds (user + system) and peak RSS of each step, and
# checking that the merged folder equals the run's byte for byte. It prints a table
# and writes it to bench/work/shards-results.md.
#
# Read-all-and-filter sharding: every shard reads every row (docs/scale-out.md,
# "Cost model"), so N shards spend about N times the ingest CPU of one run and save
# the per-customer work; what a shard saves is memory and the time per machine.
#
# Settings (environment): BENCH_SHARDS (4), BENCH_CUSTOMERS (100000), BENCH_DAYS (180),
# BENCH_SEED (7), BENCH_IDLE_WAIT (60), BIN (.build/release/customer-health).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${BIN:-.build/release/customer-health}
WORK=bench/work
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
DAYS=${BENCH_DAYS:-180}
SEED=${BENCH_SEED:-7}
SHARDS=${BENCH_SHARDS:-4}
LOGS=$WORK/logs
BENCH_NAME=shards_bench
source "$ROOT/bench/lib.sh"

[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health  (or run  make bench)"
[[ -x /usr/bin/time ]] || apt_install time
mkdir -p "$WORK" "$LOGS"
VERSION=$("$BIN" --version 2>/dev/null || echo unknown)

D=$WORK/data
gen_data "$D"
P=$WORK/shards.yaml
OUT=$WORK/shards-out
rm -rf "$OUT"
pipeline "$P" "$D" "shards-out" all
cat "$D"/exports/* >/dev/null

AS_OF=$(ls "$D"/exports/activity-*.csv.gz | sed 's/.*activity-\(.*\)\.csv\.gz/\1/' | sort | tail -1)
RESULTS=$WORK/shards-results.tsv
: >"$RESULTS"

# step KEY LABEL -- COMMAND...: wall, CPU (user + sys), peak RSS.
step() {
    local key=$1 label=$2
    shift 3
    wait_idle
    log "$label"
    if ! /usr/bin/time -f '%e %M %U %S' -o "$LOGS/$key.time" "$@" >"$LOGS/$key.out" 2>"$LOGS/$key.err"; then
        tail -20 "$LOGS/$key.err" >&2
        die "$label failed: $*"
    fi
    read -r wall kb user sys < <(tail -1 "$LOGS/$key.time")
    printf '%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$kb" >>"$RESULTS"
}

step run "one run (all cores)" -- "$BIN" run "$P" --as-of "$AS_OF" --output "$OUT/run" --quiet
rm -rf "$OUT/shards"
for ((k = 0; k < SHARDS; k++)); do
    step "shard$k" "shard $k/$SHARDS (all cores)" -- "$BIN" run "$P" --as-of "$AS_OF" --shard "$k/$SHARDS" --shard-output "$OUT/shards" --quiet
done
step merge "merge of $SHARDS shards" -- "$BIN" merge "$P" --shards "$OUT/shards" --output "$OUT/merged" --quiet

same=yes
for f in scores.jsonl features.jsonl at-risk.json at-risk.csv kpis.json rejects.jsonl; do
    cmp -s "$OUT/run/$AS_OF/$f" "$OUT/merged/$AS_OF/$f" || { same=no; log "DIFFERS: $f"; }
done
shard_bytes=$(du -sb "$OUT/shards" | cut -f1)

python3 - "$RESULTS" "$SHARDS" "$same" "$shard_bytes" "$CUSTOMERS" >"$WORK/shards-results.md" <<'EOF'
import sys
path, n, same, shard_bytes, customers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
by = {r[0]: r for r in rows}
print(f"| step | wall s | CPU s | peak RSS MiB |")
print(f"|---|--:|--:|--:|")
for r in rows:
    print(f"| {r[1]} | {float(r[2]):.2f} | {float(r[3]):.2f} | {int(r[4]) / 1024:.0f} |")
run = by["run"]
shards = [by[f"shard{k}"] for k in range(n)]
merge = by["merge"]
cpu_sharded = sum(float(s[3]) for s in shards) + float(merge[3])
print()
print(f"- one run: {float(run[2]):.2f} s wall, {float(run[3]):.2f} CPU s, {int(run[4]) / 1024:.0f} MiB")
print(f"- {n} shards + merge: {cpu_sharded:.2f} CPU s in all ({cpu_sharded / float(run[3]):.2f}x the run's); "
      f"slowest shard {max(float(s[2]) for s in shards):.2f} s wall, largest shard {max(int(s[4]) for s in shards) / 1024:.0f} MiB "
      f"({max(int(s[4]) for s in shards) / int(run[4]):.2f}x the run's peak)")
print(f"- merge alone: {float(merge[2]):.2f} s wall, {float(merge[3]):.2f} CPU s, {int(merge[4]) / 1024:.0f} MiB peak "
      f"({int(merge[4]) * 1024 / customers:.0f} bytes per customer)")
print(f"- shard results: {shard_bytes / 1e6:.1f} MB on disk ({shard_bytes / customers:.0f} bytes per customer)")
print(f"- on {n} machines at once, the day would take the slowest shard plus the merge: "
      f"{max(float(s[2]) for s in shards) + float(merge[2]):.2f} s vs {float(run[2]):.2f} s")
print(f"- merged outputs byte-identical to the run: {same}")
EOF
cat "$WORK/shards-results.md"
[[ $same == yes ]] || die "the merged outputs differ from the run's"
