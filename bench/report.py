#!/usr/bin/env python3
"""Formats bench/run.sh's measurements (results.tsv) as one Markdown table with the
ratios and the aims of issue 2; prints it and writes it to --out. Standard library only."""
import argparse
import csv
import json
import os
import sys

AIM_FEATURES_VS_DUCKDB = 0.6   # tool activity ingest time / DuckDB time
AIM_RSS_MB = 400               # peak RSS of every tool run, MB (10^6 bytes); issue 2 asked 500, issue 14 400
AIM_RSS_FLAT = 1.1             # peak RSS at 2x rows / at 1x rows; issue 2 asked 1.2, issue 14 1.1
AIM_CPU_VS_DUCKDB = 0.8        # tool ingest CPU seconds / DuckDB's (issue 14)
AIM_RUN_ALL_VS_DUCKDB = 1.2    # the whole run on all exports / DuckDB's activity-only time (issue 14)
AIM_REPLAY_PER_DATE = 1.5      # replay: seconds per additional date (issue 14)


def mb(n):
    return n / 1e6


def num(x):
    """Three significant figures at most, no exponent."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--out", required=True)
    p.add_argument("--meta", nargs="*", default=[])
    p.add_argument("--duckdb-out")
    p.add_argument("--manifests", nargs="*", default=[])
    p.add_argument("--replays", nargs="*", default=[], help="KEY=FILE: replay's output, whose last line gives the seconds per date")
    a = p.parse_args()

    meta = dict(m.split("=", 1) for m in a.meta)
    rows = {}
    order = []
    with open(a.results, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            r["wall_s"] = float(r["wall_s"])
            r["rss_mb"] = int(r["rss_kb"]) * 1024 / 1e6
            r["cpu_s"] = float(r.get("cpu_s") or 0)
            r["others_cpu_s"] = float(r.get("others_cpu_s") or 0)
            for k in ("rows", "gz_bytes", "csv_bytes"):
                r[k] = int(r[k])
            rows[r["key"]] = r
            order.append(r["key"])

    duck_lines = []
    duck_query_s = None
    if a.duckdb_out and os.path.exists(a.duckdb_out):
        with open(a.duckdb_out) as f:
            duck_lines = [l.strip() for l in f if l.strip()]
        for l in duck_lines:
            for part in l.split():
                if l.startswith("duckdb ") and part.startswith("seconds="):
                    duck_query_s = float(part.split("=", 1)[1])

    out = []
    w = out.append
    w(f"# customer-health benchmark\n")
    w(f"customer-health {meta.get('tool', '?')}, DuckDB {meta.get('duckdb', '?')}, {meta.get('cores', '?')} cores "
      f"({meta.get('machine', '').strip()}); data: {meta.get('customers')} customers, {meta.get('days')} days, "
      f"seed {meta.get('seed')}, {int(meta.get('activity_rows', 0)):,} activity rows in {meta.get('activity_files')} files"
      + (f", 2x set {int(meta.get('activity_rows_2x', 0)):,}" if int(meta.get('activity_rows_2x', 0)) else "")
      + f". Wall time is the best of {meta.get('repeat', 1)} run(s), peak RSS the largest (/usr/bin/time). "
      "CPU s = user + system seconds of that best run (2 x wall = both cores busy); "
      "others = cores used on average by other processes on the machine during it (0 = a quiet machine). MB = 10^6 bytes; rows/s and MB/s are over the files each step reads (gz = compressed size, CSV = inflated size).\n")
    w("| step | wall s | CPU s | others | rows | M rows/s | MB gz | MB/s gz | MB CSV | MB/s CSV | peak RSS MB |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for k in order:
        r = rows[k]
        t = max(r["wall_s"], 1e-9)
        w(f"| {r['label']} | {r['wall_s']:.2f} | {r['cpu_s']:.1f} | {r['others_cpu_s'] / t:.2f} | {r['rows']:,} | {r['rows'] / t / 1e6:.2f} | "
          f"{num(mb(r['gz_bytes']))} | {num(mb(r['gz_bytes']) / t)} | {num(mb(r['csv_bytes']))} | "
          f"{num(mb(r['csv_bytes']) / t)} | {num(r['rss_mb'])} |")

    def ratio(x, y):
        if x in rows and y in rows and rows[y]["wall_s"] > 0:
            return rows[x]["wall_s"] / rows[y]["wall_s"]
        return None

    w("\n## Ratios (wall time)\n")
    w("| ratio | value |")
    w("|---|--:|")
    for label, x, y in [
        ("tool ingest, accounts + activity (validate) / DuckDB", "validateAct", "duckdb"),
        ("tool whole run, accounts + activity / DuckDB", "runAct", "duckdb"),
        ("tool whole run, all exports / DuckDB", "runAll", "duckdb"),
        ("tool ingest, accounts + activity / zlib floor, activity, all threads", "validateAct", "floorN"),
        ("tool ingest, accounts + activity / zlib floor, activity, 1 thread", "validateAct", "floor1"),
        ("tool ingest, all exports / zlib floor, all exports, all threads", "validateAll", "floorAll"),
        ("tool whole run, all exports / zlib floor, all exports, all threads", "runAll", "floorAll"),
        ("DuckDB / zlib floor, activity, all threads", "duckdb", "floorN"),
        ("zlib floor activity: 1 thread / all threads", "floor1", "floorN"),
        ("tool ingest at 2x rows / at 1x (all exports)", "validate2x", "validateAll"),
        ("tool whole run at 2x rows / at 1x (all exports)", "run2x", "runAll"),
    ]:
        v = ratio(x, y)
        if v is not None:
            w(f"| {label} | {v:.2f} |")
        if y == "duckdb" and x in rows and duck_query_s:
            w(f"| {label.replace('DuckDB', 'DuckDB query alone')} | {rows[x]['wall_s'] / duck_query_s:.2f} |")

    w("\n## Aims (issues 2 and 14)\n")
    w("| aim | measured | verdict |")
    w("|---|---|---|")
    if "duckdb" in rows:
        # Judged against DuckDB's query alone (without Python's start-up and import):
        # the stricter of the two DuckDB figures.
        duck = duck_query_s or rows["duckdb"]["wall_s"]
        what = "DuckDB's query alone" if duck_query_s else "DuckDB's wall time"
        for key, text in [("validateAct", f"activity features (tool ingest + join of accounts + activity) in at most {AIM_FEATURES_VS_DUCKDB} x DuckDB's time"),
                          ("runAct", "the same, counting the whole run (features, scores, all output files)")]:
            if key in rows:
                v = rows[key]["wall_s"] / duck
                w(f"| {text} | {rows[key]['wall_s']:.2f} s vs {duck:.2f} s ({what}) = {v:.2f} x | "
                  f"{'met' if v <= AIM_FEATURES_VS_DUCKDB else 'NOT met'} |")
        if "validateAct" in rows and rows["duckdb"]["cpu_s"] > 0:
            v = rows["validateAct"]["cpu_s"] / rows["duckdb"]["cpu_s"]
            w(f"| tool ingest of accounts + activity in at most {AIM_CPU_VS_DUCKDB} x DuckDB's CPU seconds | "
              f"{rows['validateAct']['cpu_s']:.1f} vs {rows['duckdb']['cpu_s']:.1f} CPU s = {v:.2f} x | {'met' if v <= AIM_CPU_VS_DUCKDB else 'NOT met'} |")
        if "runAll" in rows:
            v = rows["runAll"]["wall_s"] / duck
            w(f"| the whole run on all exports in at most {AIM_RUN_ALL_VS_DUCKDB} x DuckDB's activity-only time | "
              f"{rows['runAll']['wall_s']:.2f} s vs {duck:.2f} s = {v:.2f} x | {'met' if v <= AIM_RUN_ALL_VS_DUCKDB else 'NOT met'} |")
    tool = [rows[k] for k in order if k.startswith(("validate", "run"))]
    if tool:
        worst = max(tool, key=lambda r: r["rss_mb"])
        w(f"| peak RSS under {AIM_RSS_MB} MB (every tool run above) | largest {worst['rss_mb']:.0f} MB ({worst['label']}) | "
          f"{'met' if worst['rss_mb'] < AIM_RSS_MB else 'NOT met'} |")
    for x, y, what in [("run2x", "runAll", "run"), ("validate2x", "validateAll", "validate")]:
        if x in rows and y in rows:
            f = rows[x]["rss_mb"] / rows[y]["rss_mb"]
            w(f"| RSS flat at twice the rows ({what}; flat = at most {AIM_RSS_FLAT} x) | "
              f"{rows[y]['rss_mb']:.0f} MB -> {rows[x]['rss_mb']:.0f} MB = {f:.2f} x | {'met' if f <= AIM_RSS_FLAT else 'NOT met'} |")

    replays = []
    for m in a.replays:
        key, path = m.split("=", 1)
        if key in rows and os.path.exists(path):
            with open(path) as f:
                last = [l for l in f if "per date:" in l]
            if last:
                # "... per date: features 0.41 s, scoring 0.12 s, render 1.03 s"
                parts = [p.strip().split() for p in last[-1].split("per date:", 1)[1].split(",")]
                stage = {p[0]: float(p[1]) for p in parts if len(p) >= 2}
                replays.append((rows[key]["label"], stage))
    if replays:
        w(f"\n## Replay: seconds per additional date (aim: at most {AIM_REPLAY_PER_DATE} s)\n")
        w("| replay | features | scoring | render | per date | verdict |")
        w("|---|--:|--:|--:|--:|---|")
        for label, stage in replays:
            total = sum(stage.values())
            w(f"| {label} | {stage.get('features', 0):.2f} | {stage.get('scoring', 0):.2f} | {stage.get('render', 0):.2f} | {total:.2f} | "
              f"{'met' if total <= AIM_REPLAY_PER_DATE else 'NOT met'} |")

    stages = []
    for m in a.manifests:
        key, path = m.split("=", 1)
        if key in rows and os.path.exists(path):
            with open(path) as f:
                t = json.load(f).get("timings_seconds") or {}
            stages.append((rows[key]["label"], t))
    if stages:
        names = []
        for _, t in stages:
            names += [n for n in t if n not in names]
        w("\n## Stage timings of the runs (manifest.json, seconds)\n")
        w("| run | " + " | ".join(names) + " |")
        w("|---|" + "--:|" * len(names))
        for label, t in stages:
            w(f"| {label} | " + " | ".join(f"{t[n]:.2f}" if n in t else "" for n in names) + " |")

    if duck_lines:
        w("\n## DuckDB's own figures (duckdb_features.py; `seconds` is the query alone, without Python start-up and import)\n")
        w("```")
        out.extend(duck_lines)
        w("```")
    text = "\n".join(out) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write("\n" + text)


if __name__ == "__main__":
    main()
