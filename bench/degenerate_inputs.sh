#!/usr/bin/env bash
# Degenerate but legal inputs against a normal export (issue 12, task 4).
#
# Run after `swift build -c release --product customer-health`:
#     bash bench/degenerate_inputs.sh
# It
#   1. generates a normal export set once (customer-health generate, cached in
#      bench/work/degenerate/generated) and joins its activity rows into ONE gzip file;
#   2. writes degenerate activity files of about DEGEN_MB MiB each (decompressed),
#      gzipped, each after the activity header:
#        blank-lf        empty lines "\n"
#        blank-crlf      empty lines "\r\n"
#        blank-cr        empty lines "\r" (an old Mac export; the header ends in CR too)
#        spaces          lines of spaces and tabs only
#        empty-fields    lines of 65,535 empty fields (",,,,..."; each a field_count reject)
#        quoted-newlines rows whose quoted `feature` holds 4,096 line breaks (accepted rows)
#   3. runs `customer-health validate --threads 1` on each, one file at a time, and
#      prints wall seconds, MB/s (decompressed), rows/s, lines/s and peak RSS.
# Blank lines are not rows: for them lines/s is the figure to compare with the
# normal file's rows/s (and MiB/s with its MiB/s). Peak RSS must stay flat: the
# degenerate files keep no rows in memory (empty-fields keeps its 16,384
# field_count rejects, without raw text).
#
# Settings (environment): BIN (.build/release/customer-health), DEGEN_MB (1024),
# NORMAL_CUSTOMERS (20000), NORMAL_DAYS (120), CASES (all, space separated),
# THREADS (1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=degenerate_inputs
source "$ROOT/bench/lib.sh"

BIN=${BIN:-.build/release/customer-health}
MB=${DEGEN_MB:-1024}
CUSTOMERS=${NORMAL_CUSTOMERS:-20000}
DAYS=${NORMAL_DAYS:-120}
THREADS=${THREADS:-1}
CASES=${CASES:-"normal blank-lf blank-crlf blank-cr spaces empty-fields quoted-newlines"}
WORK=bench/work/degenerate
[[ -x $BIN ]] || die "$BIN not found: build it first with  swift build -c release --product customer-health"
[[ -x /usr/bin/time ]] || apt_install time
command -v python3 >/dev/null || die "python3 is needed to write the inputs"
mkdir -p "$WORK"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# --- the normal export set --------------------------------------------------------
NORMAL=$WORK/generated
if [[ ! -f $NORMAL/.done || $(cat "$NORMAL/.done") != "$CUSTOMERS $DAYS" ]]; then
    rm -rf "$NORMAL"
    log "generating $CUSTOMERS customers over $DAYS days"
    "$BIN" generate --customers "$CUSTOMERS" --days "$DAYS" --seed 7 --output "$NORMAL" >"$WORK/generate.log" 2>&1 || die "generate failed: see $WORK/generate.log"
    echo "$CUSTOMERS $DAYS" >"$NORMAL/.done"
fi

# --- inputs -----------------------------------------------------------------------
HEADER="customer_id,user_id,occurred_at,event_type,feature,duration_s"
write_case() {
    local name=$1 dir=$WORK/$1
    [[ -f $dir/.done && $(cat "$dir/.done") == "$MB" ]] && return 0
    rm -rf "$dir"; mkdir -p "$dir/exports"
    cp "$NORMAL/exports/accounts.csv.gz" "$dir/exports/"
    log "writing $name"
    if [[ $name == normal ]]; then
        # Every activity row of the generated set, in one file with one header.
        { echo "$HEADER"; for f in "$NORMAL"/exports/activity-*.csv.gz; do gzip -dc "$f" | tail -n +2; done; } \
            | gzip -1 >"$dir/exports/activity-all.csv.gz"
    else
        # A customer of the accounts export: rows are accepted, not kept as unknown_customer rejects.
        local customer
        customer=$(gzip -dc "$NORMAL/exports/accounts.csv.gz" | sed -n 2p | cut -d, -f1)
        python3 - "$name" "$MB" "$HEADER" "$customer" <<'EOF' | gzip -1 >"$dir/exports/activity-all.csv.gz"
import sys
name, mb, header, customer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
total = mb << 20
out = sys.stdout.buffer
if name == "blank-lf":
    out.write(header.encode() + b"\n"); unit = b"\n"
elif name == "blank-crlf":
    out.write(header.encode() + b"\r\n"); unit = b"\r\n"
elif name == "blank-cr":
    out.write(header.encode() + b"\r"); unit = b"\r"
elif name == "spaces":
    out.write(header.encode() + b"\n"); unit = b"  \t \n"
elif name == "empty-fields":
    out.write(header.encode() + b"\n"); unit = b"," * 65535 + b"\n"
elif name == "quoted-newlines":
    out.write(header.encode() + b"\n")
    unit = customer + b',u1,2026-03-01T10:00:00Z,feature_use,"' + b"\n" * 4096 + b'",\n'
else:
    raise SystemExit("unknown case " + name)
block = unit * max(1, (1 << 20) // len(unit))
written = 0
while written < total:
    out.write(block); written += len(block)
EOF
    fi
    cat >"$dir/pipeline.yaml" <<EOF
version: 1
input: exports
output: out
max_reject_ratio: 1
rejects:
  include_raw: false
exports:
  accounts: {files: "accounts.csv.gz"}
  activity: {files: "activity-all.csv.gz", timestamp_format: iso8601}
  tickets: {files: "no-such-file-*.csv"}
  uptime: {files: "no-such-file-*.csv"}
  savings: {files: "no-such-file-*.csv"}
EOF
    echo "$MB" >"$dir/.done"
}

# --- measurements -------------------------------------------------------------------
printf "%-16s %9s %9s %10s %12s %12s %12s %9s\n" case wall_s MiB rows rows/s lines/s MiB/s rss_MiB
for name in $CASES; do
    write_case "$name"
    dir=$WORK/$name
    read -r bytes lines < <(gzip -dc "$dir/exports/activity-all.csv.gz" | python3 -c '
import sys
n = l = 0; prev = 0
for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
    n += len(chunk)
    l += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
    if prev == 13 and chunk[:1] == b"\n": l -= 1
    prev = chunk[-1]
print(n, l)')
    cat "$dir/exports/"* >/dev/null
    wait_idle
    if ! /usr/bin/time -f '%e %M' -o "$dir/time" "$BIN" validate "$dir/pipeline.yaml" --threads "$THREADS" --quiet >"$dir/validate.out" 2>"$dir/validate.err"; then
        # validate exits 4 when the rejected share is above the limit: still a measurement.
        if [[ ! -s $dir/validate.out ]]; then
            read -r wall kb < <(tail -1 "$dir/time")
            printf '%-16s %9.2f  FAILED: %s\n' "$name" "$wall" "$(grep -m1 error "$dir/validate.err" | cut -c1-150)"
            continue
        fi
    fi
    read -r wall kb < <(tail -1 "$dir/time")
    rows=$(awk -F'\t' '$2 == "activity" { print $3 }' "$dir/validate.out")
    awk -v n="$name" -v w="$wall" -v b="$bytes" -v r="${rows:-0}" -v l="$lines" -v k="$kb" 'BEGIN {
        printf "%-16s %9.2f %9.0f %10d %12.0f %12.0f %12.1f %9.0f\n", n, w, b / 1048576, r, r / w, l / w, b / 1048576 / w, k / 1024 }'
done
