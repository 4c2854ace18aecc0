#!/usr/bin/env python3
"""Seed corpora and dictionaries for the fuzz targets (docs/fuzzing.md).

Writes Fuzz/corpus/<target>/seed-<sha1> from the repository's own inputs:
sample-data/exports, pipelines/*.yaml and pipelines/examples (their exports
too), the YAML blocks of docs/pipeline.md, and the inputs the test suite
writes (string literals of Tests/**/*.swift: CSV rows, JSONL objects,
pipeline files, field values and timestamp patterns, HTTP paths). Also
writes Fuzz/dict/pipeline.dict from the keys the pipeline loaders read.

Deterministic: the same repository gives the same files. Seeds are named by
their content, so running it again over a corpus that libFuzzer has grown
only adds what is missing.
"""
import glob
import gzip
import hashlib
import os
import re
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "corpus")

KINDS = ["accounts", "activity", "tickets", "uptime", "savings"]
# The order of IngestHarness.setups: nightly, then pipelines/examples/*.yaml by name.
SETUPS = ["nightly"] + sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(REPO, "pipelines/examples/*.yaml")))

counts = {}


def seed(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    counts[target] = counts.get(target, 0) + 1


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def head_lines(data, n):
    lines = data.split(b"\n")
    return b"\n".join(lines[:n]) + (b"\n" if len(lines) > n else b"")


def kind_of(name):
    for i, k in enumerate(KINDS):
        if os.path.basename(name).startswith(k):
            return i
    return 1


# Swift string literals of the test suite: "..." on one line and """ blocks.
def swift_strings(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    out = []
    for m in re.finditer(r'"""\n(.*?)\n\s*"""', text, re.S):
        block = m.group(1)
        indent = min((len(l) - len(l.lstrip(" ")) for l in block.split("\n") if l.strip()), default=0)
        out.append("\n".join(l[indent:] for l in block.split("\n")) + "\n")
    for m in re.finditer(r'(?<!")"((?:[^"\\\n]|\\.)+)"(?!")', text):
        s = m.group(1)
        if "\\(" in s:  # interpolation: not a fixed value
            continue
        s = s.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r").replace("\\\\", "\\")
        out.append(s)
    return out


test_files = sorted(glob.glob(os.path.join(REPO, "Tests/**/*.swift"), recursive=True))
test_strings = [s for p in test_files for s in swift_strings(p)]

# ---- CSV and JSONL texts --------------------------------------------------
csv_texts = []    # (kind, setup, bytes)
jsonl_texts = []  # (kind, setup, bytes)

exports = sorted(glob.glob(os.path.join(REPO, "sample-data/exports/*")))
seen_kinds = {}
for path in exports:
    k = kind_of(path)
    if seen_kinds.get(k, 0) >= 2:  # two files of each export are plenty
        continue
    seen_kinds[k] = seen_kinds.get(k, 0) + 1
    data = head_lines(read(path), 25)
    (jsonl_texts if ".jsonl" in path else csv_texts).append((k, 0, data))

for i, name in enumerate(SETUPS[1:], start=1):
    for path in sorted(glob.glob(os.path.join(REPO, "pipelines/examples", name, "*"))):
        if path.endswith(".md"):
            continue
        data = head_lines(read(path), 12)
        if ".jsonl" in path:
            jsonl_texts.append((1, i, data))
        else:
            csv_texts.append((0, i, data))

headers = {
    0: "customer_id,name,plan,mrr,subscription_start,churned_at,seats,features_available,training_modules,acquisition_cost,nps",
    1: "customer_id,user_id,occurred_at,event_type,feature,duration_s",
    3: "customer_id,date,uptime_pct",
    4: "customer_id,recorded_at,amount,category",
}
for s in test_strings:
    if s.startswith("{") and '"' in s:
        for line in s.split("\n"):
            if line.startswith("{"):
                kind = 2 if "ticket_id" in line else 1
                jsonl_texts.append((kind, 0, (line + "\n").encode()))
        continue
    if "\n" in s and "," in s and s.split("\n")[0].startswith("customer_id"):
        header = s.split("\n")[0]
        kind = {"name": 0, "user_id": 1, "date": 3, "recorded_at": 4}.get(header.split(",")[1] if "," in header else "", 1)
        csv_texts.append((kind, 0, s.encode()))
        continue
    if s.count(",") >= 2 and "\n" not in s and len(s) < 300 and not s.startswith(("customer_id", "file\t")):
        n = s.count(",") + 1
        kind = {11: 0, 6: 1, 3: 3, 4: 4}.get(n)
        if kind is not None:
            csv_texts.append((kind, 0, (headers[kind] + "\n" + s + "\n").encode()))

# Hand-made edge cases the tests describe in prose.
act = headers[1]
csv_texts += [
    (1, 0, ("\ufeff" + act + "\nc1,u1,2026-03-31T09:00:00Z,login,,\n").encode()),
    (1, 0, (act + "\r\nc1,u1,2026-03-31T09:00:00Z,login,,\r\n").encode()),
    (1, 0, (act + '\nc1,"u\n1",2026-03-31T09:00:00Z,login,,\n"c2,u2,2026-03-31T09:00:00Z,login,,\nc3,w1,2026-03-31T09:00:00Z,login,,\n').encode()),
    (1, 0, (act + '\nc1,u"1,2026-03-31T09:00:00Z,login,,\nc1,"u1"x,2026-03-31,login,,\n\n\nc1,u1,2026-03-31 10:15,feature_use,,1.5\n').encode()),
    (1, 0, (act + "\nc1,u1,2026-03-31T09:00:00Z,login,,\n" + "c1," + "x" * 1100 + ",2026-03-31,login,,\nc2,v1,2026-03-20,login,,").encode()),
    (0, 0, (headers[0] + "\nc1,Acme,pro,1000.5,2025-01-01,,10,10,4,5000,9\nc1,dup,pro,1,2025-01-01,,1,1,1,1,1\nc9,Bad,pro,-1,2025-13-01,x,0,0,-1,1e3,11\n").encode()),
]

# ---- csv: the record reader ------------------------------------------------
for kind, setup, data in csv_texts:
    seed("csv", b"\x00" + data)
seed("csv", b"\x01" + csv_texts[0][2].replace(b",", b";"))
seed("csv", b"\x02" + csv_texts[0][2].replace(b",", b"\t"))
seed("csv", b"\x03" + b'a|"b|c"|"d""e"\n1|2|3\n')

# ---- csv-file: the whole CSV read ------------------------------------------
for kind, setup, data in csv_texts:
    seed("csv-file", bytes([kind, setup]) + data)
    seed("csv-file", bytes([kind | 8 | 16, setup | 0x80]) + data)  # small rows, two-step watch read cut at half
    seed("csv-file", bytes([kind | 32 | 64, setup | 0x30]) + data)  # across the 1 MiB block boundary, and gzipped

# ---- jsonl ---------------------------------------------------------------
for kind, setup, data in jsonl_texts:
    seed("jsonl", bytes([kind, setup]) + data)
    seed("jsonl", bytes([kind | 16, setup | 0x80]) + data)
    seed("jsonl", bytes([kind | 32 | 64, setup | 0x30]) + data)
tickets_line = b'{"ticket_id": "t1", "customer_id": "c1", "opened_at": "2026-03-10T10:00:00Z", "resolved_at": null, "priority": "high"}\n'
seed("jsonl", bytes([2, 0]) + b"\xef\xbb\xbf" + tickets_line + b"\n  \n[1,2]\n{\"ticket_id\": [\"t2\"], \"customer_id\": {\"id\": \"c1\"}, \"opened_at\": 1774951200}\n\xff\xfe\n")

# ---- fields ----------------------------------------------------------------
field_values = set()
patterns = {"iso8601", "epoch_s", "epoch_ms", "dd/MM/yyyy HH:mm", "yyyy-MM-dd", "MM/dd/yyyy", "yyyy-MM-dd HH:mm:ss.SSS", "dd.MM.yyyy"}
for p in test_files:
    text = open(p, encoding="utf-8", errors="replace").read()
    for m in re.finditer(r'patterned\("([^"]*)", "([^"]*)"\)', text):
        field_values.add((m.group(2), m.group(1)))
    for m in re.finditer(r'(?:iso|isoFails|decimal|integer|epoch\w*)\("([^"\\]*)"', text):
        field_values.add(("iso8601", m.group(1)))
    for m in re.finditer(r'(?:timestamp_format|date_format):\s*"?([^"\n]+)"?', text):
        patterns.add(m.group(1).strip())
for y in glob.glob(os.path.join(REPO, "pipelines/**/*.yaml"), recursive=True):
    for m in re.finditer(r'(?:timestamp_format|date_format):\s*"?([^"\n#]+)"?', open(y).read()):
        patterns.add(m.group(1).strip())
values = ["2026-11-23T10:15:00Z", "2026-11-23T10:15:00.123+02:00", "2026-11-23 10:15", "2024-02-29", "1795428930", "1795428930123",
          "1795428930.25", "12.5", "-0.0005", " 42 ", "12.0", "99.995", "100", "+7", "23/11/2026 10:15"]
for pattern in sorted(patterns):
    for v in values:
        field_values.add((pattern, v))
for pattern, value in sorted(field_values):
    seed("fields", pattern + "\n" + value)

# ---- gzip ------------------------------------------------------------------
for path in exports[:3] + sorted(glob.glob(os.path.join(REPO, "pipelines/examples/*/*.gz"))):
    raw = open(path, "rb").read()
    if path.endswith(".gz") and len(raw) <= 16000:
        seed("gzip", b"\x00" + raw)
    # The same text, gzipped by the harness in 1-4 members, whole, cut or with garbage after it.
    text = head_lines(read(path), 20)
    seed("gzip", b"\x01\x05\x00\x00" + text)
    seed("gzip", b"\x21\x03\x00\x00" + text)           # three members; also read as an export
    seed("gzip", b"\x02\x02\x00\x40" + text)           # two members, cut
    seed("gzip", b"\x03\x00\x00\x00" + text)           # garbage after it
seed("gzip", b"\x00" + gzip.compress(b"a,b\n1,2\n", mtime=0) + gzip.compress(b"3,4\n", mtime=0))

# ---- pipeline --------------------------------------------------------------
for y in sorted(glob.glob(os.path.join(REPO, "pipelines/**/*.yaml"), recursive=True)):
    seed("pipeline", open(y, "rb").read())
for md in sorted(glob.glob(os.path.join(REPO, "docs/*.md"))) + [os.path.join(REPO, "README.md")]:
    for m in re.finditer(r"```yaml\n(.*?)```", open(md, encoding="utf-8").read(), re.S):
        block = m.group(1)
        seed("pipeline", block if "input:" in block else "version: 1\ninput: exports\n" + block)
for s in test_strings:
    if "\n" in s and re.search(r"^(version|input|exports|scoring|churn|events|churn_definition|watch|kpis):", s, re.M):
        seed("pipeline", s if "input:" in s else "version: 1\ninput: exports\noutput: out\n" + s)

# ---- http ------------------------------------------------------------------
def req(line, headers=(), body=b""):
    h = b"".join(x.encode() + b"\r\n" for x in headers)
    return line.encode() + b"\r\nHost: 127.0.0.1:8012\r\n" + h + b"\r\n" + body

paths = {"/health", "/metrics", "/openapi.json", "/api/customer-success/kpis", "/api/customer-success/at-risk",
         "/api/customer-success/at-risk?priority=high,critical&limit=2&offset=1", "/api/customer-success/health/c1",
         "/api/customer-success/health/c%31", "/api/customer-success/health/%ZZ", "/nope", "/ws/customer-health?since=3&customer_ids=c1,c2&min_priority=high"}
for p in test_files:
    if "Server" in p:
        for m in re.finditer(r'"(/(?:api|ws|health|metrics|openapi)[^"\\ ]*)"', open(p, encoding="utf-8").read()):
            paths.add(m.group(1))
for path in sorted(paths):
    seed("http", req("GET " + path + " HTTP/1.1"))
    seed("http", req("GET " + path + " HTTP/1.1", ["Authorization: Bearer fuzz-token-0123456789abcdef"]))
seed("http", req("HEAD /api/customer-success/kpis HTTP/1.1", ["Authorization: bearer fuzz-token-0123456789abcdef"]))
seed("http", req("POST /api/customer-success/kpis HTTP/1.1", ["Content-Length: 5"], b"hello"))
seed("http", req("POST /health HTTP/1.1", ["Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"))
seed("http", req("POST /health HTTP/1.1", ["Content-Length: 99999"]))
seed("http", req("GET /health HTTP/1.1") + req("GET /api/customer-success/health/c2 HTTP/1.1", ["Connection: close"]))
seed("http", req("GET /health HTTP/1.0", ["Connection: keep-alive"]))
seed("http", b"\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
seed("http", b"GET /health\r\n\r\n")
# A WebSocket upgrade, then a masked text frame (a subscribe message) and a close frame.
ws = req("GET /ws/customer-health?since=0 HTTP/1.1", ["Upgrade: websocket", "Connection: Upgrade",
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "Authorization: Bearer fuzz-token-0123456789abcdef"])
msg = b'{"subscribe": {"customer_ids": ["c1"], "min_priority": "high"}}'
mask = b"\x01\x02\x03\x04"
frame = bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg))
close = bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8"))
seed("http", ws + frame + close)
seed("http", ws + bytes([0x81, 0x05]) + b"hello")  # an unmasked client frame
seed("http", ws + bytes([0x81, 0x84]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"\xff\xfe\xfd\xfc")))

# ---- dictionaries ----------------------------------------------------------
keys = set()
for swift in glob.glob(os.path.join(REPO, "Sources/CustomerHealth/**/*.swift"), recursive=True):
    for m in re.finditer(r'\.(?:string|int|double|bool|child|stringList|stringMap|orderedStringMap|has)\("([a-z_0-9]+)"', open(swift).read()):
        keys.add(m.group(1))
os.makedirs(os.path.join(FUZZ, "dict"), exist_ok=True)
with open(os.path.join(FUZZ, "dict", "pipeline.dict"), "w") as f:
    f.write("# Generated by make_corpus.py from the keys the pipeline loaders read.\n")
    for k in sorted(keys):
        f.write('"%s:"\n' % k)
    for w in ["version: 1\n", "input: exports\n", "  ", "- ", ": ", "{", "}", "[", "]", "&a", "*a", "!!str", "<<: ", "---\n", "~", "null",
              "true", "false", "iso8601", "epoch_s", "epoch_ms", "dd/MM/yyyy", "HH:mm", "latest-activity", "2026-11-23", "train", "stop",
              "warn", "skip", "fail", "keep", "ignore", "reject", "login", "feature", "feature_use", "churned_at", "subscription_end",
              "inactivity", "30d", "1m", "7d"]:
        f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\x0A"))

for t in sorted(counts):
    print("corpus/%s: %d seeds, %d files in all" % (t, counts[t], len(os.listdir(os.path.join(CORPUS, t)))))
