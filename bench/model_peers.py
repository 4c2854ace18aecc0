#!/usr/bin/env python3
"""Helpers of bench/model_bench.sh (the churn-model benchmark, issue 3 "Quality and speed").

Runs in the benchmark's own virtual environment bench/.venv-models
(scikit-learn, LightGBM, XGBoost, numpy, pandas). Three subcommands:

  prepare  split the table that `customer-health train PIPELINE --export-table` wrote into
           train.csv / validation.csv (customer_id, label, features: as_of and split dropped),
           write a scoring file of SCORE_ROWS rows (validation rows repeated), and score the
           generator's truth (truth.csv.gz churn_probability_30d) on exactly the validation rows.
  peers    train scikit-learn HistGradientBoosting and RandomForest, LightGBM and XGBoost on
           train.csv; validation ROC AUC, PR AUC, log loss, Brier on validation.csv; fit seconds;
           scoring rows/s (predict_proba on SCORE_ROWS in-memory rows); serialized model size.
  report   read the tool's logs and the JSON files above, print the side-by-side table with
           the aims of the issue (pass/fail) and write it as Markdown.

Cells are copied as text (never re-formatted), so the tool and the peers read identical values.
"""
import argparse
import csv
import gzip
import json
import os
import pickle
import platform
import re
import sys
import time


def log(msg):
    print(f"[model_peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- prepare ---------------------------------------------------------------------------

def cmd_prepare(a):
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
    import numpy as np

    os.makedirs(a.out, exist_ok=True)
    opener = gzip.open if a.table.endswith(".gz") else open
    with opener(a.table, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        for need in ("customer_id", "as_of", "split", "label"):
            if need not in header:
                sys.exit(f"model_peers: {a.table} has no column {need!r} (header: {header})")
        i_id, i_asof, i_split = header.index("customer_id"), header.index("as_of"), header.index("split")
        keep = [i for i, h in enumerate(header) if h not in ("as_of", "split")]
        out_header = [header[i] for i in keep]
        paths = {"train": os.path.join(a.out, "train.csv.tmp"), "validation": os.path.join(a.out, "validation.csv.tmp")}
        files = {k: open(p, "w", newline="") for k, p in paths.items()}
        writers = {k: csv.writer(f, lineterminator="\n") for k, f in files.items()}
        for w in writers.values():
            w.writerow(out_header)
        counts = {"train": 0, "validation": 0}
        dates = {"train": set(), "validation": set()}
        val_keys = []  # (customer_id, as_of, label) of the validation rows, in order
        i_label = header.index("label")
        for row in reader:
            s = row[i_split]
            if s not in writers:
                sys.exit(f"model_peers: unexpected split {s!r} in {a.table}")
            writers[s].writerow([row[i] for i in keep])
            counts[s] += 1
            dates[s].add(row[i_asof])
            if s == "validation":
                val_keys.append((row[i_id], row[i_asof], int(row[i_label] in ("1", "true", "yes"))))
        for f in files.values():
            f.close()
    for k, p in paths.items():
        os.replace(p, p[:-4])
    log(f"train.csv {counts['train']} rows ({len(dates['train'])} dates), "
        f"validation.csv {counts['validation']} rows ({len(dates['validation'])} dates: {', '.join(sorted(dates['validation']))})")

    # The scoring file: validation rows repeated up to SCORE_ROWS, byte for byte.
    with open(os.path.join(a.out, "validation.csv")) as f:
        vheader = f.readline()
        vlines = f.readlines()
    score_path = os.path.join(a.out, "score.csv")
    with open(score_path + ".tmp", "w") as f:
        f.write(vheader)
        n = 0
        while n < a.score_rows:
            chunk = vlines[: a.score_rows - n]
            f.writelines(chunk)
            n += len(chunk)
    os.replace(score_path + ".tmp", score_path)
    log(f"score.csv {a.score_rows} rows (validation rows repeated)")

    # Truth on exactly the validation rows.
    wanted = {(c, d) for c, d, _ in val_keys}
    truth = {}
    with gzip.open(a.truth, "rt", newline="") as f:
        r = csv.reader(f)
        th = next(r)
        ic, ia, ip = th.index("customer_id"), th.index("as_of"), th.index("churn_probability_30d")
        for row in r:
            k = (row[ic], row[ia])
            if k in wanted:
                truth[k] = float(row[ip])
    missing = [k for k in val_keys if (k[0], k[1]) not in truth]
    if missing:
        sys.exit(f"model_peers: {len(missing)} of {len(val_keys)} validation rows have no truth row "
                 f"(first: {missing[0][:2]}); truth.csv.gz and the table disagree on customers or dates")
    y = np.array([l for _, _, l in val_keys])
    p = np.array([truth[(c, d)] for c, d, _ in val_keys])
    res = {
        "rows": len(val_keys), "positives": int(y.sum()), "train_rows": counts["train"],
        "train_dates": len(dates["train"]), "validation_dates": sorted(dates["validation"]),
        "roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))), "brier": float(brier_score_loss(y, p)),
        "mean_probability": float(p.mean()), "observed_rate": float(y.mean()),
    }
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(res, f, indent=1)
    log(f"truth on the validation rows: ROC AUC {res['roc_auc']:.4f}, log loss {res['log_loss']:.4f}, "
        f"Brier {res['brier']:.4f} ({res['positives']} of {res['rows']} churned)")


# --- peers -----------------------------------------------------------------------------

def load_xy(path, label, id_col, columns=None):
    import numpy as np
    import pandas as pd
    df = pd.read_csv(path, na_values=[""], keep_default_na=False, low_memory=False)
    y = df.pop(label)
    y = y.astype(str).str.lower().isin(["1", "true", "yes", "1.0"]).astype(np.int8).to_numpy()
    if id_col and id_col in df:
        df = df.drop(columns=[id_col])
    # Text columns: one-hot (the tool does the same); malformed numbers would make a column text.
    text = [c for c in df.columns if df[c].dtype == object]
    if text:
        df = pd.get_dummies(df, columns=text, dummy_na=False, dtype=np.float32)
    if columns is not None:
        df = df.reindex(columns=columns, fill_value=0)
    else:
        # A column no training row has (per-seat inputs of a product without
        # seats) carries nothing, and HistGradientBoosting's binning fails on it.
        df = df.dropna(axis=1, how="all")
    return df.astype(np.float64).to_numpy(), y, list(df.columns)


def metrics(y, p):
    import numpy as np
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "log_loss": float(log_loss(y, p)), "brier": float(brier_score_loss(y, p))}


def make_peers(seed, threads, es_rounds):
    """name -> (description, fit(X, y, Xv, yv) -> model, size(model, path) -> bytes)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    def pickled(m, path):
        with open(path, "wb") as f:
            pickle.dump(m, f, protocol=pickle.HIGHEST_PROTOCOL)
        return os.path.getsize(path)

    def hgb(X, y, Xv, yv):
        m = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=1000, max_leaf_nodes=31, min_samples_leaf=20, l2_regularization=0.0,
            max_bins=255, early_stopping=True, scoring="loss", n_iter_no_change=es_rounds, random_state=seed)
        m.fit(X, y, X_val=Xv, y_val=yv)
        m.rounds_ = m.n_iter_
        return m

    def rf(X, y, Xv, yv):
        m = RandomForestClassifier(
            n_estimators=100, max_depth=16, min_samples_leaf=20, max_features="sqrt", bootstrap=True,
            n_jobs=threads, random_state=seed)
        m.fit(X, y)
        m.rounds_ = 100
        return m

    def logreg(X, y, Xv, yv):
        # Plain L2 logistic regression: missing cells imputed by the median,
        # inputs standardised (what a notebook would do first).
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        m = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
        m.fit(X, y)
        m.rounds_ = m[-1].n_iter_[0]
        return m

    def lgb_fit(X, y, Xv, yv):
        import lightgbm as lgb
        m = lgb.LGBMClassifier(
            n_estimators=1000, learning_rate=0.1, num_leaves=31, min_child_samples=20, max_bin=255,
            n_jobs=threads, random_state=seed, verbose=-1)
        import inspect
        # LightGBM 4.6+ takes eval_X/eval_y (eval_set is deprecated there).
        ev = dict(eval_X=(Xv,), eval_y=(yv,)) if "eval_X" in inspect.signature(m.fit).parameters else dict(eval_set=[(Xv, yv)])
        m.fit(X, y, eval_metric="binary_logloss", callbacks=[lgb.early_stopping(es_rounds, verbose=False)], **ev)
        m.rounds_ = m.best_iteration_
        return m

    def lgb_size(m, path):
        m.booster_.save_model(path, num_iteration=m.best_iteration_)
        return os.path.getsize(path)

    def xgb_fit(X, y, Xv, yv):
        import xgboost as xgb
        m = xgb.XGBClassifier(
            tree_method="hist", n_estimators=1000, learning_rate=0.1, max_depth=6, min_child_weight=1,
            max_bin=256, eval_metric="logloss", early_stopping_rounds=es_rounds, n_jobs=threads,
            random_state=seed)
        m.fit(X, y, eval_set=[(Xv, yv)], verbose=False)
        m.rounds_ = m.best_iteration + 1
        return m

    def xgb_size(m, path):
        m.get_booster().save_model(path)
        return os.path.getsize(path)

    return {
        "hgb": ("scikit-learn HistGradientBoosting (lr 0.1, 31 leaves, early stop on validation)", hgb, pickled, "pkl"),
        "rf": ("scikit-learn RandomForest (100 trees, depth 16, leaf 20, sqrt features)", rf, pickled, "pkl"),
        "logreg": ("scikit-learn LogisticRegression (L2, C 1, median-imputed, standardised)", logreg, pickled, "pkl"),
        "lightgbm": ("LightGBM (lr 0.1, 31 leaves, early stop on validation)", lgb_fit, lgb_size, "txt"),
        "xgboost": ("XGBoost hist (lr 0.1, depth 6, early stop on validation)", xgb_fit, xgb_size, "json"),
    }


def cmd_peers(a):
    import numpy as np
    import sklearn, lightgbm, xgboost
    X, y, cols = load_xy(a.train, a.label, a.id)
    Xv, yv, _ = load_xy(a.validation, a.label, a.id, columns=cols)
    log(f"train {X.shape[0]} x {X.shape[1]} ({int(y.sum())} positive), validation {Xv.shape[0]} ({int(yv.sum())} positive)")
    reps = -(-a.score_rows // Xv.shape[0])
    Xs = np.ascontiguousarray(np.tile(Xv, (reps, 1))[: a.score_rows])
    peers = make_peers(a.seed, a.threads, a.early_stopping_rounds)
    names = [n for n in a.only.split(",") if n] if a.only else list(peers)
    os.makedirs(a.model_dir, exist_ok=True)
    out = {"versions": {"scikit-learn": sklearn.__version__, "lightgbm": lightgbm.__version__,
                        "xgboost": xgboost.__version__, "numpy": np.__version__, "python": platform.python_version()},
           "threads": a.threads, "score_rows": a.score_rows, "peers": {}}
    for name in names:
        desc, fit, size, ext = peers[name]
        log(f"{name}: training")
        t0 = time.perf_counter()
        m = fit(X, y, Xv, yv)
        fit_s = time.perf_counter() - t0
        p = m.predict_proba(Xv)[:, 1]
        res = {"description": desc, "train_seconds": fit_s, "rounds": int(m.rounds_), **metrics(yv, p)}
        m.predict_proba(Xs[:1000])  # warm-up (thread pools, lazy set-up)
        best = None
        for _ in range(a.score_repeat):
            t0 = time.perf_counter()
            m.predict_proba(Xs)
            s = time.perf_counter() - t0
            best = s if best is None else min(best, s)
        res["score_seconds"] = best
        res["score_rows_per_s"] = a.score_rows / best
        res["model_bytes"] = size(m, os.path.join(a.model_dir, f"{name}.{ext}"))
        log(f"{name}: fit {fit_s:.2f} s ({res['rounds']} rounds), AUC {res['roc_auc']:.4f}, log loss {res['log_loss']:.4f}, "
            f"scoring {res['score_rows_per_s']:,.0f} rows/s, model {res['model_bytes'] / 1e6:.2f} MB")
        out["peers"][name] = res
        del m
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


# --- report ----------------------------------------------------------------------------

def grab(pattern, text, what, cast=float, required=True):
    m = re.search(pattern, text, re.M)
    if not m:
        if required:
            sys.exit(f"model_peers: could not find {what} in the tool's output (pattern {pattern!r})")
        return None
    return cast(m.group(1))


def read(path):
    with open(path) as f:
        return f.read()


def parse_train_log(text):
    """The text `customer-health train` prints (TrainCommand.describe)."""
    r = {
        "learn_seconds": grab(r"trained the churn ensemble in ([0-9.]+) s", text, "the training time"),
        "train_rows": grab(r"rows: (\d+) training", text, "the training rows", int),
        "validation_rows": grab(r"\((?:\d+) churned\), (\d+) validation", text, "the validation rows", int),
    }
    m = re.search(r"^\s*ensemble\s+([0-9.na/]+)\s+([0-9.na/]+)\s+([0-9.na/]+)\s+([0-9.na/]+)", text, re.M)
    if not m:
        sys.exit("model_peers: could not find the ensemble's validation line in the tool's train output")
    for k, v in zip(("roc_auc", "pr_auc", "log_loss", "brier"), m.groups()):
        r[k] = None if v == "n/a" else float(v)
    r["members"] = {name: (None if v == "n/a" else float(v))
                    for name, v in re.findall(r"^\s*([a-z_]+)\s+AUC\s+([0-9.]+|n/a)", text, re.M)}
    r["rounds"] = grab(r"(\d+) boosting rounds", text, "the boosting rounds", int, required=False)
    return r


def parse_eval_log(text):
    r = {"rows": grab(r"^rows (\d+)", text, "rows", int)}
    for k in ("roc_auc", "pr_auc", "log_loss", "brier"):
        v = grab(rf"^{k} ([0-9.]+|n/a)", text, k, str)
        r[k] = None if v == "n/a" else float(v)
    r["score_rows_per_s"] = grab(r"^scoring ([0-9.]+) rows/s", text, "the scoring speed")
    return r


def read_time(path):
    """/usr/bin/time -f '%e %M %U %S' output: wall seconds, peak RSS KiB, user, sys."""
    last = read(path).strip().splitlines()[-1].split()
    return {"wall": float(last[0]), "rss_kb": int(last[1]), "cpu": float(last[2]) + float(last[3])}


def cmd_report(a):
    truth = json.load(open(a.truth_json))
    peers = json.load(open(a.peers_json))
    ptrain = parse_train_log(read(a.pipeline_train_log))
    ptime = read_time(a.pipeline_train_time)
    ttrain = parse_train_log(read(a.table_train_log))
    ttime = read_time(a.table_train_time)
    tev = parse_eval_log(read(a.eval_log))
    tscore = parse_eval_log(read(a.score_log))
    stime = read_time(a.score_time)
    tool_bytes = os.path.getsize(a.table_model)
    pipe_bytes = os.path.getsize(a.pipeline_model) if a.pipeline_model and os.path.exists(a.pipeline_model) else None

    if tev["rows"] != truth["rows"]:
        sys.exit(f"model_peers: evaluate read {tev['rows']} validation rows, prepare wrote {truth['rows']}")
    if ttrain["validation_rows"] != truth["rows"] or ttrain["train_rows"] != truth["train_rows"]:
        sys.exit("model_peers: train --table saw different row counts than prepare wrote")

    def f4(v):
        return "n/a" if v is None else f"{v:.4f}"

    def secs(v):
        return "n/a" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.0f}")

    def rate(v):
        return "n/a" if v is None else (f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k")  # rows/s

    def size(v):
        return "n/a" if v is None else (f"{v / 1e6:.2f} MB" if v >= 1e5 else f"{v / 1e3:.0f} kB")

    names = {"hgb": "sklearn HistGradientBoosting", "rf": "sklearn RandomForest",
             "logreg": "sklearn LogisticRegression", "lightgbm": "LightGBM",
             "xgboost": "XGBoost (hist)"}
    rows = []  # model, train s, (whole command s), AUC, PR AUC, log loss, Brier, rows/s, size
    for k, r in peers["peers"].items():
        rows.append([names.get(k, k), secs(r["train_seconds"]), "", f4(r["roc_auc"]), f4(r["pr_auc"]),
                     f4(r["log_loss"]), f4(r["brier"]), rate(r["score_rows_per_s"]), size(r["model_bytes"])])
    rows.append(["customer-health (train --table)", secs(ttrain["learn_seconds"]), secs(ttime["wall"]),
                 f4(tev["roc_auc"]), f4(tev["pr_auc"]), f4(tev["log_loss"]), f4(tev["brier"]),
                 rate(tscore["score_rows_per_s"]), size(tool_bytes)])
    rows.append(["customer-health (train PIPELINE)", secs(ptrain["learn_seconds"]), secs(ptime["wall"]),
                 f4(ptrain["roc_auc"]), f4(ptrain["pr_auc"]), f4(ptrain["log_loss"]), f4(ptrain["brier"]),
                 "", size(pipe_bytes)])
    rows.append(["truth (generator's probability)", "", "", f4(truth["roc_auc"]), f4(truth["pr_auc"]),
                 f4(truth["log_loss"]), f4(truth["brier"]), "", ""])
    head = ["model", "train s", "command s", "ROC AUC", "PR AUC", "log loss", "Brier", "scoring rows/s", "model size"]

    best_name, best = max(((names.get(k, k), r) for k, r in peers["peers"].items()), key=lambda x: x[1]["roc_auc"])
    lgb = peers["peers"].get("lightgbm")
    auc = tev["roc_auc"]
    aims = []
    aims.append((f"ROC AUC >= best peer ({best_name} {best['roc_auc']:.4f})",
                 f"{auc:.4f} ({auc - best['roc_auc']:+.4f})", auc >= best["roc_auc"]))
    gap = truth["roc_auc"] - auc
    aims.append((f"ROC AUC within 0.01 of truth ({truth['roc_auc']:.4f})", f"{auc:.4f} (gap {gap:+.4f})", gap <= 0.01))
    best_member, best_member_auc = max(((k, x) for k, x in ttrain["members"].items() if x is not None), key=lambda x: x[1])
    aims.append((f"ensemble >= its best member ({best_member} {best_member_auc:.4f})",
                 f"{ttrain['roc_auc']:.4f} ({ttrain['roc_auc'] - best_member_auc:+.4f})", ttrain["roc_auc"] >= best_member_auc))
    if lgb:
        aims.append((f"training no slower than LightGBM ({lgb['train_seconds']:.2f} s)",
                     f"{ttrain['learn_seconds']:.2f} s learning ({ttrain['learn_seconds'] / lgb['train_seconds']:.1f}x); "
                     f"{ttime['wall']:.2f} s whole command", ttrain["learn_seconds"] <= lgb["train_seconds"]))
    aims.append(("scoring >= 3 M rows/s (1 M rows, reason codes off)", f"{rate(tscore['score_rows_per_s'])} rows/s",
                 tscore["score_rows_per_s"] >= 3e6))
    aims.append(("model file < 5 MB", size(tool_bytes), tool_bytes < 5e6))

    gaps = [("truth - customer-health (train --table)", truth["roc_auc"] - tev["roc_auc"]),
            ("truth - customer-health (train PIPELINE)", truth["roc_auc"] - ptrain["roc_auc"])]
    for k, r in peers["peers"].items():
        gaps.append((f"truth - {names.get(k, k)}", truth["roc_auc"] - r["roc_auc"]))

    def table(rows, head):
        w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        line = lambda r: "| " + " | ".join(str(x).ljust(w[i]) for i, x in enumerate(r)) + " |"
        return "\n".join([line(head), "|" + "|".join("-" * (n + 2) for n in w) + "|"] + [line(r) for r in rows])

    meta = dict(kv.split("=", 1) for kv in a.meta)
    v = peers["versions"]
    out = []
    out.append(f"# customer-health churn model vs. peers, profile {meta.get('profile', 'default')} (bench/model_bench.sh)\n")
    out.append(f"Data: `customer-health generate --profile ...` ({meta.get('profile', 'default')}), `--customers {meta.get('customers')} --days {meta.get('days')} "
               f"--seed {meta.get('seed')}`; training table from `train PIPELINE --export-table` "
               f"(observe_every 1m, horizon 30 d, {len(truth['validation_dates'])} validation dates: "
               f"{', '.join(truth['validation_dates'])}).  ")
    out.append(f"Training rows {truth['train_rows']:,} over {truth['train_dates']} dates; validation rows {truth['rows']:,} "
               f"({truth['positives']:,} churned, {truth['observed_rate']:.1%}); features {meta.get('features')}. "
               f"Scoring: {peers['score_rows']:,} rows (validation rows repeated).  ")
    out.append(f"Tool {meta.get('tool')}; scikit-learn {v['scikit-learn']}, LightGBM {v['lightgbm']}, XGBoost {v['xgboost']}, "
               f"numpy {v['numpy']}, Python {v['python']}; {meta.get('cores')} cores ({meta.get('machine')}); "
               f"peers use {peers['threads']} threads.  ")
    out.append(f"Load average (1 min) before the timed steps: {meta.get('load', '?')}"
               + (" - other work was running, so the seconds and rows/s are inflated for every model."
                  if any(float(x) > 0.5 for x in meta.get('load', '0').split() if re.match(r'^[0-9.]+$', x)) else "")
               + "\n")
    out.append(table(rows, head))
    out.append("")
    out.append("- train s: fitting only (data in memory; includes binning) - for customer-health the "
               "\"trained the churn ensemble in X s\" figure; command s: the whole customer-health command "
               "(reading the CSV or the exports, building the table, writing the model).")
    out.append("- Every model early-stops on validation.csv (customer-health also fits its member weights and "
               "calibration there), so all validation figures are equally optimistic; the truth row needs no fitting.")
    out.append(f"- scoring rows/s: peers `predict_proba` on a {peers['score_rows']:,}-row in-memory matrix (best of "
               f"{meta.get('score_repeat', '1')}); customer-health: the rows/s `evaluate` prints on score.csv (probabilities only, "
               f"no parsing); its whole evaluate command took {stime['wall']:.1f} s for {tscore['rows']:,} rows "
               f"(peak RSS {stime['rss_kb'] / 1024:.0f} MiB).")
    out.append(f"- train PIPELINE: whole command {ptime['wall']:.1f} s (peak RSS {ptime['rss_kb'] / 1024:.0f} MiB), "
               f"learning {ptrain['learn_seconds']:.1f} s; train --table peak RSS {ttime['rss_kb'] / 1024:.0f} MiB.")
    mem = ", ".join(f"{k} {f4(x)}" for k, x in ttrain["members"].items())
    out.append(f"- customer-health members (validation AUC, train --table): {mem}; ensemble {f4(ttrain['roc_auc'])}; "
               f"{ttrain['rounds']} boosting rounds.")
    out.append("")
    out.append("AUC gaps to the truth (positive: below the truth):\n")
    out.append(table([[n, f"{g:+.4f}"] for n, g in gaps], ["", "gap"]))
    out.append("")
    out.append("Aims (issue 11):\n")
    out.append(table([[n, m, "PASS" if ok else "FAIL"] for n, m, ok in aims], ["aim", "measured", "result"]))
    text = "\n".join(out) + "\n"
    print(text)
    with open(a.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(a.out + ".tmp", a.out)
    summary = {"truth": truth, "peers": peers["peers"], "tool_table": {**ttrain, **{"eval": tev, "score": tscore},
               "command_seconds": ttime["wall"], "model_bytes": tool_bytes},
               "tool_pipeline": {**ptrain, "command_seconds": ptime["wall"], "model_bytes": pipe_bytes},
               "aims": [{"aim": n, "measured": m, "pass": ok} for n, m, ok in aims]}
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--table", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--score-rows", type=int, default=1_000_000)
    p = sub.add_parser("peers")
    p.add_argument("--train", required=True)
    p.add_argument("--validation", required=True)
    p.add_argument("--label", default="label")
    p.add_argument("--id", default="customer_id")
    p.add_argument("--out", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--score-rows", type=int, default=1_000_000)
    p.add_argument("--score-repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--early-stopping-rounds", type=int, default=50)
    p.add_argument("--only", default="", help="comma-separated subset of hgb,rf,logreg,lightgbm,xgboost")
    p = sub.add_parser("report")
    for k in ("truth-json", "peers-json", "pipeline-train-log", "pipeline-train-time", "table-train-log",
              "table-train-time", "eval-log", "score-log", "score-time", "table-model", "out"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--pipeline-model")
    p.add_argument("--meta", nargs="*", default=[])
    a = ap.parse_args()
    {"prepare": cmd_prepare, "peers": cmd_peers, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
