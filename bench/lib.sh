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
