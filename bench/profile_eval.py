#!/usr/bin/env python3
"""Scores every generator profile and checks it against the hidden truth.

For each profile of `customer-health generate`, on one data set per profile:
generate the exports (and the pipeline that reads them), score a month end
whose whole churn horizon lies inside the data (`run --as-of`, which trains
the point-in-time churn model it needs), and `backtest` that day. Reported,
over the customers active that day by the profile's churn definition:

- the ROC AUC of the health score (lower health, more churn), of the churn
  model's probability, and of the truth's own 30-day churn probability (the
  best any score could do from the hidden state), all against the churn that
  happened by the pipeline's definition;
- the share of customers in each health status, scored and by the truth's
  latent health on the same thresholds.

Usage: python3 bench/profile_eval.py [--customers N] [--days D] [--bin PATH] [--work DIR]
"""
import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections import Counter

PROFILES = ["default", "own-events", "two-exports", "inactivity", "nested-jsonl"]
STATUSES = ["excellent", "good", "warning", "critical", "churn_risk"]


def auc(scores, labels):
    """ROC AUC by ranks, ties averaged (the Mann-Whitney U statistic)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return None
    rank_sum = sum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def status(score):
    if score >= 85:
        return "excellent"
    if score >= 70:
        return "good"
    if score >= 50:
        return "warning"
    if score >= 25:
        return "critical"
    return "churn_risk"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def evaluate(binary, work, profile, customers, days):
    folder = os.path.join(work, profile)
    shutil.rmtree(folder, ignore_errors=True)
    run([binary, "generate", "--profile", profile, "--customers", str(customers), "--days", str(days), "--seed", "7", "--output", folder])
    pipeline = os.path.join(folder, "pipeline.yaml")
    truth = {}
    with gzip.open(os.path.join(folder, "truth.csv.gz"), "rt") as f:
        for row in csv.DictReader(f):
            truth[(row["customer_id"], row["as_of"])] = (float(row["churn_probability_30d"]), float(row["latent_health"]))
    last = max(day for _, day in truth)
    # The latest month end with 30 whole days of data after it.
    month_ends = sorted({day for _, day in truth if day != last})
    as_of = [d for d in month_ends if subprocess.run(["date", "-d", f"{d} +30 days", "+%F"], capture_output=True, text=True).stdout.strip() <= last][-1]
    run([binary, "train", pipeline, "--quiet"])
    run([binary, "run", pipeline, "--as-of", as_of, "--quiet"])
    labels_file = os.path.join(folder, "labels.csv")
    out = run([binary, "backtest", pipeline, "--predictions", os.path.join(folder, "output", as_of), "--labels", labels_file, "--quiet"])
    rows = list(csv.DictReader(open(labels_file)))
    y = [int(r["churned"]) for r in rows]
    health = [100 - float(r["health_score"]) for r in rows]
    model = [float(r["churn_probability"]) for r in rows] if rows and rows[0]["churn_probability"] else None
    # Customers active by the definition but quiet in the hidden process have no truth row: the truth says they are gone.
    truth_p = [truth.get((r["customer_id"], as_of), (1.0, 0.0))[0] for r in rows]
    in_truth = sum((r["customer_id"], as_of) in truth for r in rows)
    scored = Counter(status(float(r["health_score"])) for r in rows)
    latent = Counter(status(100 * truth[(r["customer_id"], as_of)][1]) for r in rows if (r["customer_id"], as_of) in truth)
    return {
        "profile": profile, "as_of": as_of, "customers": len(rows), "churned": sum(y), "in_truth": in_truth,
        "health_auc": auc(health, y), "model_auc": auc(model, y) if model else None, "truth_auc": auc(truth_p, y),
        "scored": {s: scored[s] / max(1, len(rows)) for s in STATUSES},
        "latent": {s: latent[s] / max(1, sum(latent.values())) for s in STATUSES},
        "backtest": out.strip().splitlines()[:3],
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--bin", default=os.path.join(here, "..", ".build", "release", "customer-health"))
    parser.add_argument("--work", default=os.path.join(here, "work", "profiles"))
    parser.add_argument("--profiles", default=",".join(PROFILES))
    args = parser.parse_args()
    results = [evaluate(args.bin, args.work, p, args.customers, args.days) for p in args.profiles.split(",")]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    print(f"{args.customers} customers x {args.days} days per profile, seed 7")
    print("| profile | as of | customers | churned | health AUC | model AUC | truth AUC | largest status share (scored) | (latent truth) |")
    print("|---|---|--:|--:|--:|--:|--:|---|---|")
    for r in results:
        top = max(r["scored"], key=r["scored"].get)
        ttop = max(r["latent"], key=r["latent"].get)
        print(f"| {r['profile']} | {r['as_of']} | {r['customers']} | {r['churned']} | {fmt(r['health_auc'])} | {fmt(r['model_auc'])} | "
              f"{fmt(r['truth_auc'])} | {top} {r['scored'][top]:.0%} | {ttop} {r['latent'][ttop]:.0%} |")
    print()
    for r in results:
        print(r["profile"], "scored:", ", ".join(f"{s} {r['scored'][s]:.0%}" for s in STATUSES))
    print(json.dumps(results, indent=1), file=open(os.path.join(args.work, "profiles.json"), "w"))


if __name__ == "__main__":
    main()
