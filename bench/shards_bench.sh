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
# Then the same with a partition: `partition --output` splits the exports into
# bucket files (its throughput, first time and with nothing new), and N shards
# reading only their buckets plus a merge, again checked against the run.
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

# The partitioned path: a second pipeline reads the partition folder.
PARTED=$OUT/partitioned
PP=$WORK/shards-partitioned.yaml
pipeline "$PP" "$D" "shards-out" all
sed -i "s#^input: .*#input: shards-out/partitioned#" "$PP"
rm -rf "$PARTED" "$OUT/pshards"
step partition "partition (first time, all cores)" -- "$BIN" partition "$P" --output "$PARTED" --quiet
step partition2 "partition again (nothing new)" -- "$BIN" partition "$P" --output "$PARTED" --quiet
for ((k = 0; k < SHARDS; k++)); do
    step "pshard$k" "partitioned shard $k/$SHARDS (all cores)" -- "$BIN" run "$PP" --as-of "$AS_OF" --shard "$k/$SHARDS" --shard-output "$OUT/pshards" --quiet
done
step pmerge "merge of $SHARDS partitioned shards" -- "$BIN" merge "$PP" --shards "$OUT/pshards" --output "$OUT/pmerged" --quiet

same=yes
for f in scores.jsonl features.jsonl at-risk.json at-risk.csv kpis.json rejects.jsonl; do
    cmp -s "$OUT/run/$AS_OF/$f" "$OUT/merged/$AS_OF/$f" || { same=no; log "DIFFERS: $f"; }
    cmp -s "$OUT/run/$AS_OF/$f" "$OUT/pmerged/$AS_OF/$f" || { same=no; log "DIFFERS (partitioned): $f"; }
done
shard_bytes=$(du -sb "$OUT/shards" | cut -f1)
export_bytes=$(cat "$D"/exports/activity-* "$D"/exports/uptime-* "$D"/exports/savings* | wc -c)
bucket_bytes=$(du -cb "$PARTED"/bucket=* | tail -1 | cut -f1)
split_rows=$(sed -n 's/.*split: *[0-9]* files, \([0-9]*\) rows.*/\1/p' "$LOGS/partition.out")

python3 - "$RESULTS" "$SHARDS" "$same" "$shard_bytes" "$CUSTOMERS" "$export_bytes" "$bucket_bytes" "${split_rows:-0}" >"$WORK/shards-results.md" <<'EOF'
import sys
path, n, same, shard_bytes, customers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
export_bytes, bucket_bytes, split_rows = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
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
part, again, pmerge = by["partition"], by["partition2"], by["pmerge"]
pshards = [by[f"pshard{k}"] for k in range(n)]
cpu_parted = sum(float(s[3]) for s in pshards) + float(pmerge[3])
print(f"- partition, first time: {float(part[2]):.2f} s wall, {float(part[3]):.2f} CPU s, {int(part[4]) / 1024:.0f} MiB peak; "
      f"{split_rows / float(part[2]):,.0f} rows/s, {export_bytes / 1e6 / float(part[2]):.1f} MB/s of gzip exports "
      f"({split_rows:,} rows, {export_bytes / 1e6:.0f} MB in, {bucket_bytes / 1e6:.0f} MB of bucket files out)")
print(f"- partition with nothing new: {float(again[2]):.2f} s wall")
print(f"- {n} partitioned shards + merge: {cpu_parted:.2f} CPU s in all ({cpu_parted / float(run[3]):.2f}x the run's; "
      f"{(cpu_parted + float(part[3])) / float(run[3]):.2f}x with the first partition); slowest shard {max(float(s[2]) for s in pshards):.2f} s wall, "
      f"largest {max(int(s[4]) for s in pshards) / 1024:.0f} MiB")
print(f"- read-all vs partitioned shards: {cpu_sharded / cpu_parted:.2f}x the CPU; slowest shard {max(float(s[2]) for s in shards):.2f} s vs "
      f"{max(float(s[2]) for s in pshards):.2f} s")
print(f"- merged outputs (both ways) byte-identical to the run: {same}")
EOF
cat "$WORK/shards-results.md"
[[ $same == yes ]] || die "the merged outputs differ from the run's"
