#!/bin/bash
# customer-health nightly driver: runs in the pod of the customer-health-nightly
# CronJob (cronjob.yaml), from the registry.k8s.io/kubectl image (kubectl, bash,
# jq, GNU date). kustomization.yaml ships it, with the Job templates
# shards-job.yaml and merge-job.yaml, in the ConfigMap mounted at $TEMPLATES.
#
# 1. The day: AS_OF if set, else the day before the CronJob's scheduled time
#    (annotation batch.kubernetes.io/cronjob-scheduled-timestamp of this pod's
#    Job), so a retried or late driver still scores the same day.
# 2. Creates the Indexed Job customer-health-shards-YYYYMMDD from the template
#    (unless it exists: a retried driver waits for the one it created), with
#    AS_OF and the image (CH_IMAGE) filled in, and waits until it is Complete
#    or Failed.
# 3. Then the same for customer-health-merge-YYYYMMDD, given N (CH_SHARD_COUNT
#    of shards-job.yaml) so that it refuses when a shard is missing.
#
# Exit codes: 0 the day is published; 3 a Job failed (the driver's own Job does
# not retry: see cronjob.yaml); 2 bad settings; 1 anything else (retried).
set -euo pipefail

templates=${TEMPLATES:-/templates}
timeout=${WAIT_TIMEOUT:-6h}

log() { echo "$(date -u +%FT%TZ) driver: $*"; }
die() { log "$1"; exit "${2:-1}"; }

# ------------------------------------------------------------------ the day
if [ -z "${AS_OF:-}" ]; then
    scheduled=
    if [ -n "${OWN_JOB:-}" ]; then
        scheduled=$(kubectl get job "$OWN_JOB" \
            -o jsonpath='{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}' || true)
    fi
    if [ -n "$scheduled" ]; then
        AS_OF=$(date -u -d "$(date -u -d "$scheduled" +%F) -1 day" +%F)
        log "scheduled at $scheduled: scoring $AS_OF"
    else
        AS_OF=$(date -u -d yesterday +%F)
        log "no scheduled time (started by hand?): scoring yesterday, $AS_OF"
    fi
fi
[[ $AS_OF =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && date -u -d "$AS_OF" >/dev/null 2>&1 ||
    die "AS_OF must be a day, yyyy-MM-dd, got '$AS_OF'" 2
day=${AS_OF//-/}
shards_job=customer-health-shards-$day
merge_job=customer-health-merge-$day

image=${CH_IMAGE:-}
case $image in set-by-kustomize | "") image= ;; esac

# ------------------------------------------------------------------ helpers
# A template as JSON, named $2, for the day, in this pod's namespace; with N
# (once check_shard_count has read it) as CH_SHARD_COUNT.
shard_count=
render() {
    kubectl create --dry-run=client -o json -f "$templates/$1" |
        jq --arg name "$2" --arg asof "$AS_OF" --arg image "$image" --arg count "$shard_count" '
            .metadata.name = $name
            | del(.metadata.namespace)
            | .metadata.labels["customer-health/as-of"] = $asof
            | .spec.template.metadata.labels["customer-health/as-of"] = $asof
            | .spec.template.spec.containers |= map(
                (if $image != "" and .name == "customer-health" then .image = $image else . end)
                | .env |= ((. // []) | map(
                    if .name == "AS_OF" then .value = $asof
                    elif .name == "CH_SHARD_COUNT" and $count != "" then .value = $count
                    else . end)))'
}

# N is written twice in shards-job.yaml; refuse to run when they differ.
check_shard_count() {
    local json completions count
    json=$(render shards-job.yaml "$shards_job")
    completions=$(jq -r '.spec.completions' <<<"$json")
    count=$(jq -r '.spec.template.spec.containers[] | select(.name == "customer-health")
                   | .env[] | select(.name == "CH_SHARD_COUNT") | .value' <<<"$json")
    [ "$completions" = "$count" ] ||
        die "shards-job.yaml: spec.completions ($completions) and CH_SHARD_COUNT ($count) differ; make them equal" 2
    shard_count=$count
    log "$count shards"
}

# Creates Job $2 from template $1 unless it exists already.
ensure_job() {
    if kubectl get job "$2" >/dev/null 2>&1; then
        log "job $2 exists already (this driver was restarted): waiting for it"
    else
        render "$1" "$2" | kubectl create -f - >/dev/null
        log "created job $2"
    fi
}

# The Job's true conditions, e.g. "Complete" or "FailureTarget Failed".
conditions() {
    kubectl get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}'
}

# Waits until Job $1 is Complete (0) or Failed (1); 2 when neither came in time.
wait_job() {
    local name=$1 ok failed state
    kubectl wait --for=condition=complete "job/$name" --timeout="$timeout" >/dev/null 2>&1 &
    ok=$!
    kubectl wait --for=condition=failed "job/$name" --timeout="$timeout" >/dev/null 2>&1 &
    failed=$!
    wait -n "$ok" "$failed" || true
    kill "$ok" "$failed" 2>/dev/null || true
    wait "$ok" "$failed" 2>/dev/null || true
    state=" $(conditions "$name") "
    case $state in
        *" Complete "*) return 0 ;;
        *" Failed "*) return 1 ;;
        *) return 2 ;;
    esac
}

report_failure() {
    local name=$1
    log "job $name failed: $(kubectl get job "$name" \
        -o jsonpath='{range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{end}')"
    local failed
    failed=$(kubectl get job "$name" -o jsonpath='{.status.failedIndexes}')
    [ -n "$failed" ] && log "failed indexes: $failed"
    log "last lines of its pods' logs:"
    kubectl logs -l "batch.kubernetes.io/job-name=$name" --prefix --tail=20 --max-log-requests=20 || true
}

run_job() {
    local template=$1 name=$2 status=0
    ensure_job "$template" "$name"
    wait_job "$name" || status=$?
    case $status in
        0) log "job $name complete" ;;
        1) report_failure "$name"
           die "not retried: fix the cause, delete the job (kubectl delete job $name) and run the day again (README.md)" 3 ;;
        *) die "job $name neither complete nor failed after $timeout" 1 ;;
    esac
}

# ------------------------------------------------------------------ the day's jobs
log "as of $AS_OF${image:+, image $image}"
check_shard_count
run_job shards-job.yaml "$shards_job"
run_job merge-job.yaml "$merge_job"
log "published /shared/output/$AS_OF"
