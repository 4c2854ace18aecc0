#!/usr/bin/env python3
"""The watch-mode benchmark (issue 4, "Speed"): how long a drop of 100,000
activity rows takes to reach the stream against a state of 10,000 customers,
and the resident memory of one watch process over an hour of simulated drops
(one a minute, played back to back): it must not grow with the drops.

Run from the repository after `swift build -c release --product customer-health`:
    python3 bench/watch_bench.py
It generates the state's exports once (cached in bench/work/watch-data:
`customer-health generate --customers 10000 --days 90 --seed 5`), copies them
to bench/work/watch, takes the baseline with `watch --once`, starts one
`watch --poll 0.05 --settle 0` process, then lands each drop by renaming a
finished `.part` file into the input folder, and times each landing until the
checkpoint records the file (its lines are written before that). RSS is read
from /proc after every drop. Results: bench/work/watch-results.md.

Settings (environment): WB_CUSTOMERS (10000), WB_DAYS (90), WB_ROWS (100000),
WB_DROPS (60), BIN (.build/release/customer-health).
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import watch_setup  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BIN = os.environ.get("BIN", ".build/release/customer-health")
CUSTOMERS = int(os.environ.get("WB_CUSTOMERS", "10000"))
DAYS = int(os.environ.get("WB_DAYS", "90"))
ROWS = int(os.environ.get("WB_ROWS", "100000"))
DROPS = int(os.environ.get("WB_DROPS", "60"))
WORK = "bench/work/watch"
END = watch_setup.END


def log(message):
    print(f"[watch-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"watch-bench: {BIN} not found: build it first with  swift build -c release --product customer-health")
    exports, pipeline = watch_setup.prepare(BIN, CUSTOMERS, DAYS, WORK, log=log)
    state = os.path.join(WORK, "state")
    stream = os.path.join(WORK, "stream.ndjson")

    log("baseline: watch --once on the exports")
    t = time.monotonic()
    base = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "watch", pipeline, "--once", "--quiet", "--state", state,
                           "--emit", stream], capture_output=True, text=True)
    baseline_s = time.monotonic() - t
    if base.returncode != 0:
        sys.exit(f"watch-bench: baseline failed: {base.stderr}")
    baseline_rss = int(base.stderr.strip().splitlines()[-1]) // 1024

    checkpoint = os.path.join(state, "checkpoint.json")
    before = os.stat(checkpoint).st_mtime_ns
    log("starting watch; it rebuilds its state from the checkpoint first")
    t = time.monotonic()
    process = subprocess.Popen([BIN, "watch", pipeline, "--quiet", "--state", state, "--emit", stream,
                                "--poll", "0.05", "--settle", "0", "--heartbeat", "3600"], stderr=subprocess.DEVNULL)
    while os.stat(checkpoint).st_mtime_ns == before:
        if process.poll() is not None:
            sys.exit("watch-bench: watch exited early")
        time.sleep(0.01)
    restart_s = time.monotonic() - t
    log(f"{DROPS} drops of {ROWS:,} rows")
    rng = random.Random(11)
    kinds = ["login", "feature_use", "api_call", "mobile_session", "dashboard_view", "work_order_completed"]
    latencies, rss = [], []
    try:
        for d in range(1, DROPS + 1):
            # Rows of the newest day, one simulated minute per drop.
            lines = ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
            minute = d % 60
            for r in range(ROWS):
                c = f"cust_{rng.randrange(1, CUSTOMERS + 1):06d}"
                kind = kinds[rng.randrange(len(kinds))]
                feature = f"feature_{rng.randrange(12):02d}" if kind == "feature_use" else ""
                duration = str(rng.randrange(20, 900)) if kind in ("feature_use", "work_order_completed") else ""
                lines.append(f"{c},{c}-u{rng.randrange(1, 9):02d},{END}T23:{minute:02d}:{r % 60:02d}Z,{kind},{feature},{duration}")
            name = f"activity-drop-{d:03d}.csv"
            part = os.path.join(exports, name + ".part")
            with open(part, "w") as f:
                f.write("\n".join(lines) + "\n")
            landed = time.monotonic()
            os.rename(part, os.path.join(exports, name))
            while True:
                try:
                    with open(checkpoint) as f:
                        if any(x["tracked"]["name"] == name for x in json.load(f)["files"]):
                            break
                except (OSError, ValueError, KeyError):
                    pass
                if process.poll() is not None:
                    sys.exit("watch-bench: watch exited early")
                time.sleep(0.005)
            latencies.append(time.monotonic() - landed)
            rss.append(rss_kib(process.pid) // 1024)
    finally:
        process.terminate()
        process.wait(timeout=60)
    with open(stream) as f:
        sent = sum(1 for _ in f)

    p50 = statistics.median(latencies)
    p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))]
    k = min(10, len(rss))
    first10 = max(rss[:k])
    last10 = max(rss[-k:])
    table = [
        "# customer-health watch: latency and memory (bench/watch_bench.py)",
        "",
        f"State: `generate --customers {CUSTOMERS} --days {DAYS} --seed 5`; {DROPS} drops of {ROWS:,} activity rows each "
        f"(plain CSV renamed into place, all on the newest day); one watch process, `--poll 0.05 --settle 0`. "
        f"{os.cpu_count()} cores.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| baseline (`watch --once` on the exports) | {baseline_s:.2f} s, peak RSS {baseline_rss} MiB |",
        f"| restart (state rebuilt from the checkpoint) | {restart_s:.2f} s |",
        f"| landing to lines written, median | {p50 * 1000:.0f} ms |",
        f"| landing to lines written, 90th percentile / max | {p90 * 1000:.0f} ms / {max(latencies) * 1000:.0f} ms |",
        f"| resident memory after drops 1-{k} (max) | {first10} MiB |",
        f"| resident memory after drops {DROPS - k + 1}-{DROPS} (max) | {last10} MiB |",
        f"| growth, last {k} vs first {k} drops | {100 * (last10 - first10) / max(1, first10):+.1f}% |",
        f"| lines sent | {sent:,} |",
        "",
        "Latency includes the poll interval (50 ms), reading the drop, re-scoring the customers it touched, "
        "writing their lines and the checkpoint.",
        "",
        "Resident memory after each drop (MiB): " + " ".join(str(r) for r in rss),
    ]
    text = "\n".join(table) + "\n"
    with open("bench/work/watch-results.md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
