"""The watch-mode benchmark setup shared by bench/watch_bench.py and bench/ws_fanout.py."""
import os
import shutil
import subprocess
import time

DATA = "bench/work/watch-data"   # generated once, reused while its parameters are the same
END = "2026-11-23"


def prepare(bin_path, customers, days, work, pipeline_extra="", log=print):
    """Generates (once) CUSTOMERS x DAYS of exports into DATA, copies them into WORK/exports
    with their modification times an hour back (settled), and writes WORK/pipeline.yaml.
    Returns (exports folder, pipeline path)."""
    marker = os.path.join(DATA, f".params-{customers}-{days}")
    if not os.path.exists(marker):
        log(f"generating {customers} customers x {days} days into {DATA}")
        shutil.rmtree(DATA, ignore_errors=True)
        subprocess.run([bin_path, "generate", "--customers", str(customers), "--days", str(days), "--seed", "5",
                        "--end", END, "--output", DATA], check=True, stdout=subprocess.DEVNULL)
        open(marker, "w").close()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    exports = os.path.join(work, "exports")
    shutil.copytree(os.path.join(DATA, "exports"), exports)
    old = time.time() - 3600
    for name in os.listdir(exports):
        os.utime(os.path.join(exports, name), (old, old))
    pipeline = os.path.join(work, "pipeline.yaml")
    with open(pipeline, "w") as f:
        f.write("input: exports\noutput: output\nmax_reject_ratio: 1\n" + pipeline_extra)
    return exports, pipeline
