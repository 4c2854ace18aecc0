#!/usr/bin/env bash
# customer-health on Slurm: submit one day's shards as an array job, then the
# merge, which waits for every shard (--dependency=afterok:<array>) and is
# cancelled if one fails (--kill-on-invalid-dep=yes). With CH_PARTITION=1, a
# `customer-health partition` job goes first and the shards wait for it, so
# that each shard reads only its own buckets (docs/scale-out.md). Prints the
# job ids:
#
#   partition_job=<job id>      (with CH_PARTITION=1)
#   shards_job=<array job id>
#   merge_job=<job id>
#
# Settings (environment variables):
#   CH_BIN          the customer-health executable           (default: customer-health on PATH)
#   CH_PIPELINE     the pipeline file                        (default: pipelines/nightly.yaml)
#   CH_SHARD_COUNT  N, the number of shards (1-256)          (default: 4)
#   CH_AS_OF        the as-of day, yyyy-MM-dd, for all tasks (default: yesterday, UTC)
#   CH_SHARDS_DIR   where the shard results go               (default: shards/<as-of>)
#   CH_OUTPUT       where the merge publishes <as-of>/       (default: the pipeline's `output`)
#   CH_ARRAY        the array indexes to run                 (default: 0-(N-1); to re-run failed
#                                                             shards only: 1 or 1,3)
#   CH_LOG_DIR      folder for the jobs' output files        (default: slurm-logs)
#   CH_SBATCH_ARGS  more sbatch options for both jobs        (e.g. "--partition=batch --time=2:00:00")
#   CH_RETRIES, CH_RETRY_DELAY   passed on to the jobs (see shards.sbatch)
#   CH_PARTITION    1: split new exports into the input folder's bucket=NNN/
#                   folders first (`customer-health partition`)   (default: 0)
#
# Paths are made absolute here, so the jobs do not depend on their working
# folder. The churn model named in the pipeline must exist: shards never train
# it (`customer-health train PIPELINE` first, e.g. monthly).
#
# A failed shard task leaves the merge cancelled (state CANCELLED, reason
# DependencyNeverSatisfied). Fix the cause, then re-run only the failed
# indexes with the same day; the shards that succeeded are kept and reused:
#
#   CH_AS_OF=2026-11-23 CH_ARRAY=1 deploy/slurm/submit.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "submit.sh: $*" >&2; exit "${2:-2}"; }
# An absolute path for $1 (its folder need not exist yet).
absolute() {
    case $1 in /*) ;; *) set -- "$PWD/$1" ;; esac
    realpath -m -- "$1"
}

command -v sbatch >/dev/null || die "sbatch is not on PATH" 1

bin=${CH_BIN:-customer-health}
case $bin in
    */*) bin=$(absolute "$bin") ;;
    *) bin=$(command -v "$bin") || die "customer-health is not on PATH; set CH_BIN" ;;
esac
[ -x "$bin" ] || die "CH_BIN=$bin is not an executable"

pipeline=$(absolute "${CH_PIPELINE:-pipelines/nightly.yaml}")
[ -f "$pipeline" ] || die "no pipeline file $pipeline (set CH_PIPELINE)"

count=${CH_SHARD_COUNT:-4}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 256 ] ||
    die "CH_SHARD_COUNT must be a whole number from 1 to 256, got '$count'"

as_of=${CH_AS_OF:-$(date -u -d yesterday +%F)}
[[ $as_of =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && date -u -d "$as_of" +%F >/dev/null 2>&1 ||
    die "CH_AS_OF must be a day, yyyy-MM-dd, got '$as_of'"

shards_dir=$(absolute "${CH_SHARDS_DIR:-shards/$as_of}")
output=${CH_OUTPUT:+$(absolute "$CH_OUTPUT")}
array=${CH_ARRAY:-0-$((count - 1))}
log_dir=$(absolute "${CH_LOG_DIR:-slurm-logs}")
mkdir -p "$log_dir" "$shards_dir"

# shellcheck disable=SC2206
extra=(${CH_SBATCH_ARGS:-})

export CH_BIN=$bin CH_PIPELINE=$pipeline CH_SHARD_COUNT=$count CH_AS_OF=$as_of \
    CH_SHARDS_DIR=$shards_dir CH_OUTPUT=$output

partition=${CH_PARTITION:-0}
[[ $partition == 0 || $partition == 1 ]] || die "CH_PARTITION must be 0 or 1, got '$partition'"
after=()
if [[ $partition == 1 ]]; then
    partition_job=$(sbatch --parsable "${extra[@]}" --job-name="ch-partition-$as_of" \
        --output="$log_dir/ch-partition-$as_of-%j.out" \
        --wrap="exec $(printf '%q' "$bin") partition $(printf '%q' "$pipeline")") || die "sbatch of the partition failed" 1
    partition_job=${partition_job%%;*}
    echo "partition_job=$partition_job"
    after=(--dependency="afterok:$partition_job" --kill-on-invalid-dep=yes)
fi

shards_job=$(sbatch --parsable "${extra[@]}" "${after[@]}" --array="$array" \
    --job-name="ch-shards-$as_of" --output="$log_dir/ch-shards-$as_of-%A_%a.out" \
    "$here/shards.sbatch") || die "sbatch of the shards failed" 1
shards_job=${shards_job%%;*}

merge_job=$(sbatch --parsable "${extra[@]}" --dependency="afterok:$shards_job" --kill-on-invalid-dep=yes \
    --job-name="ch-merge-$as_of" --output="$log_dir/ch-merge-$as_of-%j.out" \
    "$here/merge.sbatch") || die "sbatch of the merge failed; the shards job $shards_job is submitted" 1
merge_job=${merge_job%%;*}

echo "shards_job=$shards_job"
echo "merge_job=$merge_job"
published=${output:-"the pipeline's output folder"}
echo "submit.sh: shards $array of $count as of $as_of -> $shards_dir; merge -> $published; logs in $log_dir" >&2
