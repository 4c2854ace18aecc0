# Shared by the bench scripts: set BENCH_NAME, then source this file.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    # apt_install PACKAGE... : installs Debian packages, or says how to when not root.
    if [[ $(id -u) != 0 ]]; then
        die "missing: $*; install with:  sudo apt-get install -y $*"
    fi
    command -v apt-get >/dev/null || die "missing: $*, and apt-get is not available to install it"
    log "installing Debian packages: $*"
    if [[ $APT_UPDATED == 0 ]]; then
        apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# The machine may be shared: wait_idle waits (up to BENCH_IDLE_WAIT seconds, default
# BENCH_IDLE_WAIT_DEFAULT or 60; 0 = never) until other processes use less than
# BENCH_IDLE_CORES (0.3) cores. Scripts record the CPU others took during a run themselves.
TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
wait_idle() {
    local limit=${BENCH_IDLE_WAIT:-${BENCH_IDLE_WAIT_DEFAULT:-60}} waited=0 b1 b2 cores said=0
    [[ -r /proc/stat ]] && ((limit > 0)) || return 0
    while ((waited < limit)); do
        b1=$(cpu_busy); sleep 2; b2=$(cpu_busy); waited=$((waited + 2))
        cores=$(awk -v a="$b1" -v b="$b2" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t / 2 }')
        if awk -v c="$cores" -v m="${BENCH_IDLE_CORES:-0.3}" 'BEGIN { exit !(c < m) }'; then return 0; fi
        if ((said == 0)); then log "other processes use $cores cores: waiting up to ${limit} s for the machine to go idle"; said=1; fi
    done
    log "still busy ($cores cores used by others) after ${limit} s: measuring anyway (see the 'others' column)"
}

# The benchmark data set and its pipelines, shared by run.sh and serve_bench.sh. They use
# the caller's BIN, CUSTOMERS, DAYS, SEED, VERSION and LOGS.

# gen_data DIR [EXTRA GENERATE OPTIONS...]: generates into DIR unless DIR holds a
# complete data set made with the same parameters by the same tool version.
gen_data() {
    local dir=$1; shift
    local cmd="customer-health generate --customers $CUSTOMERS --days $DAYS --seed $SEED $*"
    local stamp="$cmd # $VERSION"
    if [[ ${BENCH_REGENERATE:-0} != 1 && -f $dir/.bench-params && -d $dir/exports && "$(cat "$dir/.bench-params")" == "$stamp" ]]; then
        log "reusing $dir ($cmd)"
        return
    fi
    "$BIN" generate --help >/dev/null 2>&1 || die "this build of customer-health has no 'generate' subcommand: pull the commit that adds it and rebuild"
    rm -rf "$dir" "$dir.tmp"
    log "generating $dir: $cmd (this takes a few minutes)"
    local t0=$SECONDS
    "$BIN" generate --customers "$CUSTOMERS" --days "$DAYS" --seed "$SEED" "$@" --output "$dir.tmp" \
        >"$LOGS/generate-$(basename "$dir").log" 2>&1 \
        || { tail -20 "$LOGS/generate-$(basename "$dir").log" >&2; die "generate failed: see $LOGS/generate-$(basename "$dir").log"; }
    ls "$dir.tmp"/exports/activity-*.csv.gz >/dev/null 2>&1 || die "generate wrote no $dir.tmp/exports/activity-*.csv.gz"
    printf '%s\n' "$stamp" >"$dir.tmp/.bench-params"
    rm -f "$dir.tmp/.bench-stats"
    mv "$dir.tmp" "$dir"
    log "generated $dir in $((SECONDS - t0)) s"
}

# pipeline FILE DATA_DIR OUTPUT_DIR all|activity
pipeline() {
    local file=$1 data=$2 out=$3 which=$4
    local none='"no-such-file-*.csv"'
    cat >"$file" <<EOF
# Written by bench/$BENCH_NAME: the benchmark data set $(basename "$data"), ${which} exports.
# Paths are relative to this file.
version: 1
input: $(basename "$data")/exports
output: $out
as_of: latest-activity
threads: 0                  # all cores
max_reject_ratio: 1         # the benchmark reports rejects, it does not stop on them
on_corrupt_file: fail
rejects:
  include_raw: false
exports:
  accounts:
    files: "accounts*.csv.gz"
  activity:
    files: "activity-*.csv.gz"
  tickets:
    files: $([[ $which == all ]] && echo '"tickets-*.jsonl.gz"' || echo "$none")
  uptime:
    files: $([[ $which == all ]] && echo '"uptime-*.csv.gz"' || echo "$none")
  savings:
    files: $([[ $which == all ]] && echo '"savings*.csv.gz"' || echo "$none")
EOF
}
