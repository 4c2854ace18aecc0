#!/usr/bin/env python3
"""Summarizes a fuzz target's crash log (libFuzzer + AddressSanitizer + Swift).

usage: triage.py LOG            prints a JSON object: kind, message, signature, frames
       triage.py --stats LOG    prints the final figures of a fuzzing log (fork mode)

The signature names the bug, not the input: the kind of failure, then the
first frame in the project's own sources (Sources/...), or, for a check of a
fuzz target, the check's file and line. Two crashes with one signature are
one bug.
"""
import json
import re
import subprocess
import sys

PROJECT_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ in (.*?) (/\S+/Sources/(?!.*\.build/)\S+?):(\d+)(?::\d+)?\s*$")
ANY_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ in (.*?) (\S+?)(?::(\d+))?(?::\d+)?(?: \(.*\))?\s*$")


def demangle(text):
    try:
        return subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True, text=True, check=True).stdout
    except Exception:
        return text


def short(fn):
    fn = re.sub(r"^(specialized |partial apply for |closure #\d+ in |implicit closure #\d+ in )+", "", fn)
    return fn[:160]


def triage(log):
    log = demangle(log)
    lines = log.splitlines()
    kind, message = "crash", ""
    for l in lines:
        m = re.search(r"fuzz check failed \((.*?)\): (.*)", l)
        if m:
            kind, message = "check " + m.group(1), m.group(2)
            break
        m = re.search(r"(Fatal error|Precondition failed|Assertion failed|Swift runtime failure)[: ]+(.*)", l)
        if m:
            kind, message = "trap", (m.group(1) + ": " + m.group(2)).strip()
            break
        m = re.search(r"ERROR: AddressSanitizer: (\S+)", l)
        if m:
            kind, message = "asan " + m.group(1), l.strip()
            break
        if "ERROR: LeakSanitizer" in l:
            kind, message = "leak", l.strip()
            break
        if "ALARM: working on the last Unit" in l or "ERROR: libFuzzer: timeout" in l:
            kind, message = "timeout", l.strip()
            break
        if "ERROR: libFuzzer: out-of-memory" in l:
            kind, message = "oom", l.strip()
            break
        if "ERROR: libFuzzer: deadly signal" in l:
            kind, message = "deadly signal", l.strip()
    # The stack of the failure: the first one printed after the error line.
    frames, project = [], None
    started = False
    for l in lines:
        m = ANY_FRAME.match(l)
        if not m:
            if started and frames and not l.strip():
                break
            continue
        started = True
        fn, path, line = m.group(2), m.group(3), m.group(4)
        if fn.startswith("LLVMFuzzerTestOneInput") or fn.startswith("fuzzer::Fuzzer::ExecuteCallback"):
            break
        if any(s in fn for s in ("__sanitizer", "fuzzer::", "libc.so", "_assertionFailure", "swift_", "FuzzSupport.require", "__interceptor", "malloc")):
            continue
        frames.append("%s (%s%s)" % (short(fn), path.split("/work/main/")[-1] if "/work/main/" in path else path.rsplit("/", 1)[-1], ":" + line if line else ""))
        pm = PROJECT_FRAME.match(l)
        if project is None and pm and "/Fuzz/" not in pm.group(3):
            project = "%s (%s:%s)" % (short(pm.group(2)), pm.group(3).split("/Sources/", 1)[1], pm.group(4))
    if kind.startswith("check "):
        signature = kind
    else:
        signature = kind + " at " + (project or (frames[0] if frames else "?"))
    return {"kind": kind, "message": message[:600], "signature": signature, "project_frame": project, "frames": frames[:12]}


def stats(log):
    last = None
    for l in log.splitlines():
        m = re.match(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s: (\d+) oom/timeout/crash: (\d+)/(\d+)/(\d+) time: (\d+)s", l)
        if m:
            last = m
        m2 = re.match(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+)", l)
        if m2 and last is None:
            pass
    if not last:
        return {"execs": 0, "cov": 0, "ft": 0, "corpus": 0, "seconds": 0, "exec_per_s": 0, "ooms": 0, "timeouts": 0, "crashes": 0}
    execs, secs = int(last.group(1)), max(1, int(last.group(9)))
    return {"execs": execs, "cov": int(last.group(2)), "ft": int(last.group(3)), "corpus": int(last.group(4)), "seconds": int(last.group(9)),
            "exec_per_s": execs // secs, "ooms": int(last.group(6)), "timeouts": int(last.group(7)), "crashes": int(last.group(8))}


if __name__ == "__main__":
    if sys.argv[1] == "--stats":
        print(json.dumps(stats(open(sys.argv[2], errors="replace").read())))
    else:
        print(json.dumps(triage(open(sys.argv[1], errors="replace").read())))
