#!/usr/bin/env python3
"""DuckDB's side of the benchmark: the per-customer activity features from the same files.

    bench/.venv/bin/python bench/duckdb_features.py 'bench/work/data/exports/activity-*.csv.gz' \
        [--threads 2] [--check OUTPUT/latest/features.jsonl]

Per customer, as of the newest (UTC) day D in the activity data ("30 days" = days
D-29..D, as the tool's default as-of date and its 30-day windows):
  logins        count of login events (all days)
  last_login    the newest login timestamp
  users_30d     distinct user_id with any event in the 30 days
  features_30d  distinct feature of feature_use events in the 30 days
The files are read once (a materialized CTE, with explicit column types) and the
per-customer rows are fetched into Python; `seconds` covers exactly that.
Prints one line of key=value figures that bench/run.sh reads, among them
input_rows (the activity rows DuckDB aggregated) and customers (rows out).
--check compares users_30d and features_30d with the tool's features.jsonl
(monthly_active_users, features_used_30d) for the customers in both; it runs
after the timing.
"""
import argparse
import json
import sys
import time

import duckdb

COLUMNS = {
    "customer_id": "VARCHAR",
    "user_id": "VARCHAR",
    "occurred_at": "TIMESTAMPTZ",  # ISO-8601 with Z or an offset (the generator writes both)
    "event_type": "VARCHAR",
    "feature": "VARCHAR",
    "duration_s": "DOUBLE",
}

QUERY = """
WITH ev AS MATERIALIZED (
    SELECT customer_id, user_id, occurred_at, event_type, feature
    FROM read_csv(?, header = true, delim = ',', quote = '"', escape = '"',
                  columns = {columns}, auto_detect = false)
),
newest AS (SELECT max(occurred_at)::DATE AS d FROM ev)
SELECT
    customer_id,
    count(*) AS rows_in,
    count(*) FILTER (WHERE event_type = 'login') AS logins,
    max(occurred_at) FILTER (WHERE event_type = 'login') AS last_login,
    count(DISTINCT user_id) FILTER (WHERE occurred_at::DATE > newest.d - 30) AS users_30d,
    count(DISTINCT feature) FILTER (WHERE event_type = 'feature_use' AND occurred_at::DATE > newest.d - 30) AS features_30d
FROM ev, newest
GROUP BY customer_id
"""


def check(rows, path):
    ours = {r[0]: (r[4], r[5]) for r in rows}
    both = users_same = features_same = 0
    examples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = json.loads(line)
            cid = v["customer_id"]
            if cid not in ours or not v.get("features"):
                continue  # churned customers have no features
            both += 1
            feats = v["features"]
            u, fe = ours[cid]
            tu, tf = feats.get("monthly_active_users"), feats.get("features_used_30d")
            users_same += (tu == u)
            features_same += (tf == fe)
            if (tu != u or tf != fe) and len(examples) < 3:
                examples.append(f"{cid}: duckdb users {u} features {fe}, tool users {tu} features {tf}")
    return both, users_same, features_same, examples


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("glob", help="the activity files, e.g. 'bench/work/data/exports/activity-*.csv.gz'")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--check", metavar="FEATURES_JSONL", help="the tool's features.jsonl to compare with")
    args = p.parse_args()

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")  # days are UTC days, as in the tool
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
    sql = QUERY.replace("{columns}", columns)
    start = time.perf_counter()
    rows = con.execute(sql, [args.glob]).fetchall()
    seconds = time.perf_counter() - start

    input_rows = sum(r[1] for r in rows)
    if input_rows == 0:
        print(f"duckdb_features.py: DuckDB aggregated no rows from {args.glob}", file=sys.stderr)
        sys.exit(1)
    newest = max((r[3] for r in rows if r[3] is not None), default=None)
    print(f"duckdb version={duckdb.__version__} threads={args.threads} input_rows={input_rows} "
          f"customers={len(rows)} logins={sum(r[2] for r in rows)} "
          f"users_30d_sum={sum(r[4] for r in rows)} features_30d_sum={sum(r[5] for r in rows)} "
          f"newest_login={newest.isoformat() if newest else 'none'} seconds={seconds:.3f}")
    if args.check:
        both, us, fs, examples = check(rows, args.check)
        print(f"check customers_compared={both} users_30d_equal={us} features_30d_equal={fs}")
        for e in examples:
            print(f"check mismatch {e}")


if __name__ == "__main__":
    main()
