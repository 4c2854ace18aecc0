#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for the tests of deploy/slurm/.
#
#   Tests/slurm/cluster.sh start DIR   unpack Slurm into DIR, write DIR/slurm.conf,
#                                      start slurmctld and slurmd, wait for the node
#   Tests/slurm/cluster.sh env DIR     print the exports that make sbatch, squeue,
#                                      sacct, scontrol... talk to that cluster:
#                                        eval "$(Tests/slurm/cluster.sh env DIR)"
#   Tests/slurm/cluster.sh stop DIR    cancel its jobs, stop both daemons (by PID)
#   Tests/slurm/cluster.sh status DIR  sinfo + squeue
#
# Nothing is installed system-wide. Debian's slurmctld, slurmd, slurm-client and
# slurm-wlm-basic-plugins (bookworm: Slurm 22.05), plus the libraries they link
# that this machine lacks, are fetched with `apt-get download` into a cache
# ($CH_SLURM_CACHE, default ~/.cache/customer-health-slurm) and unpacked with
# `dpkg -x` into DIR/root. Later starts reuse the cache and need no network.
#
# The cluster: auth/none and cred/none (no munge), slurmctld and slurmd on free
# ports of 127.0.0.1, one node "chnode" with this machine's CPUs, one default
# partition "debug", state, spool, pid and log files under DIR. Job accounting
# has no database: JobCompType=jobcomp/filetxt writes DIR/log/jobcomp.txt, and
# the `sacct` of `env` reads it (it is `sacct --completion`), so sacct shows
# the final state and exit code of finished jobs and array tasks.
# Client commands run through the dynamic loader with --library-path, so jobs
# do not inherit an LD_LIBRARY_PATH pointing at Slurm's libraries.
#
# Exit codes: 0 ok; 77 this machine cannot run it (not root, or the packages
# cannot be downloaded): callers treat 77 as "skip"; 1 anything else (the
# daemons' logs are printed).
set -euo pipefail

SLURM_PACKAGES=(slurmctld slurmd slurm-client slurm-wlm-basic-plugins)
# Libraries the plugins link that are never loaded here (munge, lua) are still
# fetched when missing, so that `ldd` of every unpacked file is clean.
CACHE=${CH_SLURM_CACHE:-${HOME:-/root}/.cache/customer-health-slurm}
LDSO=/lib64/ld-linux-x86-64.so.2
NODE=chnode
START_TIMEOUT=${CH_SLURM_START_TIMEOUT:-60}

say() { echo "cluster.sh: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

usage() {
    sed -n '2,12p' "$0" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
ROOT=$DIR/root

# ---------------------------------------------------------------- packages
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Library packages that the Slurm packages need (directly, or through another
# missing library) and that are not installed here. Installed packages have
# their own dependencies installed already, so the walk stops at them.
missing_libraries() {
    local queue=("${SLURM_PACKAGES[@]}") seen=" " p d
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "$p" 2>/dev/null |
            sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \(lib[^ <>]*\)$/\2/p'); do
            case $seen in *" $d "*) continue ;; esac
            seen="$seen$d "
            installed "$d" && continue
            echo "$d"
            queue+=("$d")
        done
    done
}

download_debs() {
    local debs=$CACHE/debs
    if [ -f "$debs/.complete" ]; then return 0; fi
    command -v apt-get >/dev/null || skip "no apt-get on this machine"
    mkdir -p "$debs"
    chmod 755 "$CACHE" "$debs" 2>/dev/null || true
    local libs
    # apt-cache needs package lists: update once when it knows no slurmd.
    if ! apt-cache show slurmd >/dev/null 2>&1; then
        say "apt-get update (no package lists yet)"
        apt-get update -qq >&2 || skip "apt-get update failed"
        apt-cache show slurmd >/dev/null 2>&1 || skip "no slurmd package in this machine's apt sources"
    fi
    libs=$(missing_libraries | tr '\n' ' ')
    say "downloading ${SLURM_PACKAGES[*]} $libs into $debs"
    if ! (cd "$debs" && apt-get download -q "${SLURM_PACKAGES[@]}" $libs >&2); then
        say "apt-get download failed; trying again after apt-get update"
        apt-get update -qq >&2 || skip "apt-get update failed"
        (cd "$debs" && apt-get download -q "${SLURM_PACKAGES[@]}" $libs >&2) ||
            skip "apt-get download of the Slurm packages failed"
    fi
    touch "$debs/.complete"
}

unpack() {
    if [ -f "$ROOT/.complete" ]; then return 0; fi
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    local deb
    for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
    touch "$ROOT/.complete"
}

# The folders holding shared libraries in the unpacked tree, Slurm's own first.
library_path() {
    local libslurm
    libslurm=$(find "$ROOT" -name 'libslurmfull.so' -printf '%h\n' | head -n1)
    local p=$libslurm d
    for d in "$ROOT"/usr/lib/*-linux-gnu "$ROOT"/lib/*-linux-gnu; do
        [ -d "$d" ] && p=$p:$d
    done
    echo "$p"
}

# Client commands as small scripts in DIR/bin that run the real binary through
# the dynamic loader with the unpacked libraries.
write_wrappers() {
    local libs=$1 bin=$DIR/bin tool
    rm -rf "$bin"
    mkdir -p "$bin"
    for tool in "$ROOT"/usr/bin/*; do
        local name
        name=$(basename "$tool")
        cat >"$bin/$name" <<EOF
#!/bin/sh
export SLURM_CONF="$DIR/slurm.conf"
exec $LDSO --argv0 $name --library-path "$libs" "$tool" "\$@"
EOF
        chmod 755 "$bin/$name"
    done
    # Job records have no database here: sacct reads the job completion file.
    cat >"$bin/sacct" <<EOF
#!/bin/sh
export SLURM_CONF="$DIR/slurm.conf"
exec $LDSO --argv0 sacct --library-path "$libs" "$ROOT/usr/bin/sacct" --completion "\$@"
EOF
    chmod 755 "$bin/sacct"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
    local plugins=$1 ctld_port slurmd_port cpus mem
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
    cpus=$(nproc)
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log"
    cat >"$DIR/slurm.conf" <<EOF
# Written by Tests/slurm/cluster.sh: a single-node test cluster, nothing else.
ClusterName=chtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
PluginDir=$plugins
PlugStackConfig=$DIR/plugstack.conf
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    : >"$DIR/plugstack.conf"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

show_logs() {
    local f
    for f in "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log "$DIR"/log/*.out; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

start() {
    [ "$(id -u)" = 0 ] || skip "needs root (the test cluster runs its daemons with SlurmUser=root)"
    if [ -f "$DIR/run/slurmctld.pid" ] && pid_alive "$(cat "$DIR/run/slurmctld.pid")"; then
        say "already running in $DIR"
        return 0
    fi
    [ -x "$LDSO" ] || skip "no $LDSO"
    download_debs
    unpack
    local libs plugins sbin
    libs=$(library_path)
    plugins=$(find "$ROOT" -name 'select_cons_tres.so' -printf '%h\n' | head -n1)
    [ -n "$plugins" ] || { say "no Slurm plugins in $ROOT"; exit 1; }
    sbin=$ROOT/usr/sbin
    write_wrappers "$libs"
    write_conf "$plugins"
    # Daemons in the foreground (-D), detached from this shell; their PIDs are
    # the ones recorded, so `stop` kills exactly them.
    # shellcheck disable=SC2016
    SLURM_CONF=$DIR/slurm.conf LD_LIBRARY_PATH=$libs setsid nohup \
        "$sbin/slurmctld-wlm" -D -i -f "$DIR/slurm.conf" >"$DIR/log/slurmctld.out" 2>&1 </dev/null &
    echo $! >"$DIR/run/slurmctld.daemon.pid"
    SLURM_CONF=$DIR/slurm.conf LD_LIBRARY_PATH=$libs setsid nohup \
        "$sbin/slurmd-wlm" -D -N "$NODE" -f "$DIR/slurm.conf" -d "$sbin/slurmstepd-wlm" \
        >"$DIR/log/slurmd.out" 2>&1 </dev/null &
    echo $! >"$DIR/run/slurmd.daemon.pid"

    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while [ $SECONDS -lt $deadline ]; do
        if ! pid_alive "$(cat "$DIR/run/slurmctld.daemon.pid")" || ! pid_alive "$(cat "$DIR/run/slurmd.daemon.pid")"; then
            say "a daemon exited during start"
            show_logs
            stop_daemons
            exit 1
        fi
        state=$("$DIR/bin/sinfo" -h -N -n "$NODE" -o '%T' 2>/dev/null || true)
        case $state in
            idle*) say "node $NODE is idle; cluster up in $DIR (run: eval \"\$($0 env $DIR)\")"; return 0 ;;
        esac
        sleep 0.3
    done
    say "node $NODE not idle after ${START_TIMEOUT}s (state: ${state:-none})"
    show_logs
    stop_daemons
    exit 1
}

# PIDs of processes running a binary of the unpacked tree (slurmstepd of jobs
# still running when we stop).
our_processes() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null || true)
        case $exe in "$ROOT"/*) echo "${p#/proc/}" ;; esac
    done
}

stop_daemons() {
    local f pid pids=()
    for f in "$DIR/run/slurmctld.daemon.pid" "$DIR/run/slurmd.daemon.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        pid_alive "$pid" && { kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); }
    done
    local deadline=$((SECONDS + 10)) alive
    while [ $SECONDS -lt $deadline ]; do
        alive=0
        for pid in "${pids[@]}"; do pid_alive "$pid" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true; done
    for pid in $(our_processes); do kill -KILL "$pid" 2>/dev/null || true; done
    rm -f "$DIR/run/slurmctld.daemon.pid" "$DIR/run/slurmd.daemon.pid"
}

stop() {
    if [ -x "$DIR/bin/scancel" ] && [ -f "$DIR/run/slurmctld.daemon.pid" ] &&
        pid_alive "$(cat "$DIR/run/slurmctld.daemon.pid")"; then
        "$DIR/bin/scancel" --quiet --full --partition=debug 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while [ $SECONDS -lt $deadline ] && [ -n "$("$DIR/bin/squeue" -h -o %i 2>/dev/null)" ]; do sleep 0.2; done
    fi
    stop_daemons
    say "stopped the cluster in $DIR"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    env)
        [ -f "$DIR/slurm.conf" ] || { say "no cluster in $DIR (run: $0 start $DIR)"; exit 1; }
        printf 'export SLURM_CONF=%q\n' "$DIR/slurm.conf"
        printf 'export PATH=%q:"$PATH"\n' "$DIR/bin"
        ;;
    status)
        "$DIR/bin/sinfo" -N -l
        "$DIR/bin/squeue" -l
        ;;
    *) usage ;;
esac
