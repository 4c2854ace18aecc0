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
