#!/usr/bin/env python3
"""Stand-in data generator for testing bench/run.sh before `customer-health generate` exists.

NOT used by bench/run.sh: it only writes the same file layout and columns as the
real generator (DIR/exports/accounts.csv.gz, activity-YYYY-MM-DD.csv.gz,
tickets-YYYY-MM.jsonl.gz, uptime-YYYY-MM.csv.gz, savings.csv.gz), with plausible
but not modelled values. Needs numpy.

    python3 bench/make_data.py --customers 100000 --days 180 --seed 7 --output bench/work/data
"""
import argparse
import datetime as dt
import gzip
import json
import os
import sys
from multiprocessing import Pool

import numpy as np

END = dt.date(2026, 11, 23)
EVENTS = ["login", "feature_use", "api_call", "mobile_session", "dashboard_view",
          "work_order_completed", "training_completed"]
EVENT_P = [0.30, 0.30, 0.14, 0.08, 0.13, 0.04, 0.01]
PLANS = ["starter", "professional", "enterprise"]
TIMES = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

G = {}  # per-process state for the pool workers


def cust(i):
    return f"cust_{i:06d}"


def init_state(args):
    rng = np.random.default_rng(args.seed)
    n = args.customers
    days = args.days
    start = END - dt.timedelta(days=days - 1)
    seats = np.clip(np.round(rng.lognormal(np.log(20), 0.9, n)), 1, 2000).astype(np.int64)
    users = np.maximum(1, np.round(seats * rng.uniform(0.3, 1.0, n))).astype(np.int64)
    weight = rng.lognormal(0, 0.8, n)
    weight /= weight.mean()
    feats = rng.integers(10, 41, n)
    training = rng.integers(5, 21, n)
    # about 12% churn during the window; the day index when they stop
    churn_day = np.where(rng.random(n) < 0.12, rng.integers(0, days, n), days + 1)
    return dict(n=n, days=days, start=start, seats=seats, users=users, weight=weight,
                feats=feats, training=training, churn_day=churn_day,
                rate=args.activity_rate, seed=args.seed, out=args.exports)


def pool_init(state):
    G.update(state)


def write_gz(path, text):
    tmp = path + ".tmp"
    with gzip.open(tmp, "wt", compresslevel=6, encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def activity_day(d):
    s = G
    rng = np.random.default_rng([s["seed"], 1, d])
    day = s["start"] + dt.timedelta(days=d)
    alive = s["churn_day"] > d
    lam = s["rate"] * s["weight"] * alive * (0.8 if day.weekday() >= 5 else 1.05)
    counts = rng.poisson(lam)
    c = np.repeat(np.arange(s["n"]), counts)
    m = len(c)
    secs = np.sort(rng.integers(0, 86400, m))
    order = rng.permutation(m)  # shuffle customers across the day, then sort by time
    c = c[order]
    u = (rng.random(m) * s["users"][c]).astype(np.int64)
    ev = rng.choice(len(EVENTS), m, p=EVENT_P)
    fe = (rng.random(m) * s["feats"][c]).astype(np.int64)
    tr = (rng.random(m) * s["training"][c]).astype(np.int64)
    dur = rng.integers(0, 36000, m)
    no_dur = rng.random(m) < 0.1
    ds = day.isoformat()
    lines = ["customer_id,user_id,occurred_at,event_type,feature,duration_s\n"]
    ap = lines.append
    for ci, ui, t, e, f, r, du, nd in zip(c.tolist(), u.tolist(), secs.tolist(), ev.tolist(),
                                          fe.tolist(), tr.tolist(), dur.tolist(), no_dur.tolist()):
        feat = f"feature_{f:02d}" if e == 1 else (f"module_{r:02d}" if e == 6 else "")
        dtext = "" if nd else f"{du // 10}.{du % 10}"
        ap(f"cust_{ci:06d},user_{ci:06d}_{ui:04d},{ds}T{TIMES[t]}Z,{EVENTS[e]},{feat},{dtext}\n")
    write_gz(os.path.join(s["out"], f"activity-{ds}.csv.gz"), "".join(lines))
    return m


def month_files(month_key, day_idx):
    """Uptime (daily per customer) and tickets for one month: day_idx lists the day indexes."""
    s = G
    rng = np.random.default_rng([s["seed"], 2, int(month_key.replace("-", ""))])
    n = s["n"]
    lines = ["customer_id,date,uptime_pct\n"]
    ap = lines.append
    ids = [cust(i) for i in range(n)]
    for d in day_idx:
        ds = (s["start"] + dt.timedelta(days=d)).isoformat()
        up = np.minimum(100000, 100000 - np.round(rng.exponential(400, n))).astype(np.int64)
        for i, v in zip(ids, up.tolist()):
            ap(f"{i},{ds},{v // 1000}.{v % 1000:03d}\n")
    write_gz(os.path.join(s["out"], f"uptime-{month_key}.csv.gz"), "".join(lines))

    # tickets: about 0.4 per customer-month; most get a second row (an update) later
    k = rng.poisson(0.4 * len(day_idx) / 30.0 * s["weight"])
    c = np.repeat(np.arange(n), k)
    out = []
    for j, ci in enumerate(c.tolist()):
        d = day_idx[int(rng.integers(0, len(day_idx)))]
        opened = dt.datetime.combine(s["start"] + dt.timedelta(days=d), dt.time()) + dt.timedelta(seconds=int(rng.integers(0, 86400)))
        tid = f"T{month_key.replace('-', '')}{j:07d}"
        prio = ["low", "normal", "high", "urgent"][int(rng.integers(0, 4))]
        row = {"ticket_id": tid, "customer_id": cust(ci), "opened_at": opened.isoformat() + "Z",
               "first_response_at": None, "resolved_at": None, "priority": prio, "status": "open"}
        out.append(json.dumps(row))
        if rng.random() < 0.8:
            first = opened + dt.timedelta(minutes=int(rng.integers(5, 3000)))
            resolved = first + dt.timedelta(minutes=int(rng.integers(10, 10000)))
            row.update(first_response_at=first.isoformat() + "Z", resolved_at=resolved.isoformat() + "Z", status="resolved")
            out.append(json.dumps(row))
    write_gz(os.path.join(s["out"], f"tickets-{month_key}.jsonl.gz"), "\n".join(out) + "\n")
    return month_key


def accounts_and_savings(args, s):
    rng = np.random.default_rng([args.seed, 3])
    n = s["n"]
    plan = rng.choice(3, n, p=[0.5, 0.35, 0.15])
    mrr = np.round(s["seats"] * np.array([25.0, 60.0, 140.0])[plan], 2)
    start_off = rng.integers(30, 1500, n)
    lines = ["customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules,acquisition_cost,nps\n"]
    for i in range(n):
        churned = ""
        if s["churn_day"][i] <= s["days"]:
            churned = (s["start"] + dt.timedelta(days=int(s["churn_day"][i]))).isoformat()
        sub = (s["start"] - dt.timedelta(days=int(start_off[i]))).isoformat()
        nps = "" if rng.random() < 0.4 else str(int(rng.integers(0, 11)))
        cac = "" if rng.random() < 0.1 else f"{float(mrr[i]) * float(rng.uniform(3, 12)):.2f}"
        lines.append(f"{cust(i)},Customer {i},{PLANS[plan[i]]},{mrr[i]:.2f},{sub},{churned},{s['seats'][i]},"
                     f"{s['feats'][i]},{s['training'][i]},{cac},{nps}\n")
    write_gz(os.path.join(s["exports"], "accounts.csv.gz"), "".join(lines))

    lines = ["customer_id,recorded_at,amount,category\n"]
    cats = ["labor", "downtime", "inventory", "travel"]
    for i in range(n):
        for _ in range(int(rng.poisson(s["days"] / 30.0))):
            d = int(rng.integers(0, min(s["days"], int(s["churn_day"][i]))  or 1))
            day = (s["start"] + dt.timedelta(days=d)).isoformat()
            lines.append(f"{cust(i)},{day},{float(rng.uniform(50, 5000)):.2f},{cats[int(rng.integers(0, 4))]}\n")
    write_gz(os.path.join(s["exports"], "savings.csv.gz"), "".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--days", type=int, default=180)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--activity-rate", type=float, default=1.1, help="mean activity rows per customer per day")
    p.add_argument("--output", required=True)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    args.exports = os.path.join(args.output, "exports")
    os.makedirs(args.exports, exist_ok=True)
    s = init_state(args)
    s["exports"] = args.exports
    accounts_and_savings(args, s)
    months = {}
    for d in range(args.days):
        key = (s["start"] + dt.timedelta(days=d)).strftime("%Y-%m")
        months.setdefault(key, []).append(d)
    with Pool(args.jobs, initializer=pool_init, initargs=(s,)) as pool:
        rows = sum(pool.map(activity_day, range(args.days), chunksize=1))
        pool.starmap(month_files, months.items(), chunksize=1)
    print(f"make_data.py: {args.customers} customers, {args.days} days, {rows} activity rows -> {args.exports}", file=sys.stderr)


if __name__ == "__main__":
    main()
