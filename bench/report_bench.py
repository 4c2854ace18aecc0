#!/usr/bin/env python3
"""The HTML report at 100,000 customers (docs/report.md): the time
`customer-health report` takes to make it from the run folder, its size, and
the time headless Chromium takes from navigation until the page has drawn
every chart and built the at-risk table (the page sets data-ready on its
body then). Aims: under 3 s in the browser, under 5 MB.

Reads the run folder that bench/run.sh left in bench/work/out/all/latest.
Chromium is driven over the DevTools protocol (bench/cdp.py)."""
import json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Chromium  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/customer-health")
FOLDER = os.path.join(ROOT, "bench/work/out/all/latest")
RUNS = 3


def main():
    if not os.path.isdir(FOLDER):
        sys.exit(f"{FOLDER} is missing: run bench/run.sh first")
    out = tempfile.mkdtemp(prefix="ch-bench-report-")
    page = os.path.join(out, "report.html")
    make = []
    for _ in range(RUNS):
        start = time.monotonic()
        subprocess.run([BIN, "report", FOLDER, "--out", page], check=True, stdout=subprocess.DEVNULL)
        make.append(time.monotonic() - start)
    size = os.path.getsize(page)
    kpis = json.load(open(os.path.join(FOLDER, "kpis.json")))
    customers = kpis["overview"]["active_customers"]
    at_risk = kpis["overview"]["at_risk_customers"]
    browser = Chromium()
    try:
        browser.load("file://" + page)  # warm the browser's own start-up
        loads = [browser.load("file://" + page) for _ in range(RUNS)]
        rows = browser.evaluate("document.getElementById('at-risk-pager').textContent")
        canvases = browser.evaluate("document.querySelectorAll('canvas').length")
    finally:
        browser.close()
    subprocess.run(["rm", "-rf", out])
    best_make, best_load = min(make), min(loads)
    lines = [
        f"report of {customers:,} customers ({at_risk:,} at risk): {size / 1e6:.2f} MB (aim < 5 MB: {'met' if size < 5e6 else 'NOT met'})",
        f"  customer-health report: {best_make:.2f} s (best of {RUNS}: {', '.join(f'{t:.2f}' for t in make)})",
        f"  headless Chromium, navigation to every chart drawn and the table built: {best_load:.2f} s "
        f"(best of {RUNS}: {', '.join(f'{t:.2f}' for t in loads)}; aim < 3 s: {'met' if best_load < 3 else 'NOT met'})",
        f"  {canvases} charts; pager: {rows}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
