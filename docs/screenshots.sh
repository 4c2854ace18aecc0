#!/usr/bin/env bash
# Remakes the screenshots of docs/report.md and the README from the sample
# data: five weekly runs replayed into a scratch folder (so the report has
# history and movers), then headless Chromium on report.html and on serve's
# pages. `make screenshots` runs it after building.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/customer-health
scratch=$(mktemp -d)
trap 'kill "${serve_pid:-0}" 2>/dev/null || true; rm -rf "$scratch"' EXIT

# The nightly pipeline with its model and outputs in the scratch folder.
mkdir -p "$scratch/models"
sed -e "s#input: ../sample-data/exports#input: $PWD/sample-data/exports#" \
    -e "s#output: ../output#output: $scratch/output#" \
    -e "s#model: ../models/churn-model.json#model: $scratch/models/churn-model.json#" \
    pipelines/nightly.yaml >"$scratch/pipeline.yaml"
"$bin" train "$scratch/pipeline.yaml" --quiet >/dev/null
"$bin" replay "$scratch/pipeline.yaml" --from 2026-10-26 --to 2026-11-23 --every 7d --quiet >/dev/null
"$bin" backtest "$scratch/pipeline.yaml" --predictions "$scratch/output/2026-10-26" --html "$scratch/backtest.html" --quiet >/dev/null
report="$scratch/output/2026-11-23/report.html"
shot() { python3 bench/cdp.py shot "$@"; }  # url file width [height] [--mobile]
shot "file://$report" docs/img/report.png 1280 2600
shot "file://$report" docs/img/report-phone.png 390 1800 --mobile
shot "file://$scratch/models/churn-model.report.html" docs/img/model.png 1280 2400
shot "file://$scratch/backtest.html" docs/img/backtest.png 1280 2000

"$bin" serve --output "$scratch/output" --port 0 --quiet >"$scratch/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do grep -q http "$scratch/serve.out" && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$scratch/serve.out")
customer=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['customers'][0]['customer_id'])" "$scratch/output/2026-11-23/at-risk.json")
shot "$base/customers/$customer" docs/img/customer.png 1280 1700
