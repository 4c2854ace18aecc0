#!/usr/bin/env python3
"""WebSocket fan-out of `customer-health serve --watch` (issue 5): how long one
update takes from the activity file landing in the input folder to reaching 1
and then 1,000 WebSocket clients of /ws/customer-health.

Run from the repository after `swift build -c release --product customer-health`
(bench/serve_bench.sh runs it):
    python3 bench/ws_fanout.py [--clients 1000] [--drops 5] [--json FILE]
It
  1. generates a 10,000-customer state once, shared with bench/watch_bench.py
     (bench/work/watch-data: `generate --customers 10000 --days 90 --seed 5`),
     copies its exports to bench/work/serve-ws and writes a pipeline whose
     `watch:` section has settle_seconds 0, poll_seconds 0.05,
     heartbeat_seconds 3600 (no heartbeat during the test) and
     min_score_delta 0;
  2. runs that pipeline once (so that /health answers 200 and the drops can
     pick customers from its scores), then starts
     `serve --watch PIPELINE --port 0 --quiet` and waits for /health 200 and
     for the watch baseline's checkpoint;
  3. with 1 client connected, then with N clients (1,000) connected (checked on
     /metrics), lands DROPS small activity files, each touching 3 customers
     (the lowest-scored ones not touched yet; 40 rows each, all on the newest
     day so that the as-of day stays), by renaming a finished `.part` file into
     place, and records for every client when its first customer_health_update
     of that drop arrived.

Arrival times are taken twice: by the kernel (SO_TIMESTAMPNS on each client
socket: when the bytes reached the client's socket, which leaves out the time
this Python process takes to get round 1,000 sockets on a 2-core machine) and
by the client code (when it had parsed the message). Per drop: rename to first
client, to the median client, to the last client, and fan-out = last - first;
the figures reported are the medians over the drops. Every client must get
every drop's update: the counts are checked and reported.

The clients raise this process's open-file limit to fit them (setrlimit); the
server is started with the limit this process was given, as a deployment
would start it.

A minimal WebSocket client on raw asyncio sockets (no third-party package):
text frames, continuation frames, ping/pong, close; no extensions.

Settings (environment, or the options): WS_CLIENTS (1000), WS_DROPS (5),
BIN (.build/release/customer-health).
"""
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import watch_setup  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BIN = os.environ.get("BIN", ".build/release/customer-health")
WORK = "bench/work/serve-ws"
CUSTOMERS, DAYS, END = 10000, 90, watch_setup.END
SO_TIMESTAMPNS = 35                     # Linux (asm-generic and x86); not exported by Python's socket module
WS_PATH = "/ws/customer-health"


def log(message):
    print(f"[ws-fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Client:
    """One WebSocket client. `on_readable` runs in the event loop whenever the
    socket has bytes; it reads with recvmsg to get the kernel's timestamp."""

    def __init__(self, bench, index):
        self.bench = bench
        self.index = index
        self.sock = None
        self.buf = bytearray()
        self.fragments = bytearray()
        self.closed = False
        self.close_reason = None
        self.messages = 0
        self.updates = 0              # customer_health_update messages, all drops
        self.kpi_updates = 0
        self.waiting = False          # armed before a drop; cleared by its first update
        self.arrival_kernel = None    # realtime ns, of the read that completed the update
        self.arrival_user = None      # realtime ns, when this code had parsed it
        self.kernel_stamps = True

    async def connect(self, port):
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            self.kernel_stamps = False
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(s, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await loop.sock_sendall(s, request.encode())
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(s, 4096)
            if not chunk:
                s.close()
                raise ConnectionError("closed during the handshake")
            head += chunk
        end = head.index(b"\r\n\r\n") + 4
        status = bytes(head[:head.index(b"\r\n")])
        if b" 101 " not in status + b" ":
            s.close()
            raise ConnectionError(f"handshake refused: {status.decode(errors='replace')}")
        self.sock = s
        self.buf += head[end:]
        loop.add_reader(s.fileno(), self.on_readable)
        if self.buf:
            self.parse(time.time_ns())

    def wanted(self):
        """How many bytes to read. A TCP read's timestamp is that of the last
        segment it takes, so while waiting for an update the client reads no
        further than the end of the frame at hand (the update comes first):
        the stamp is then the update's own, not that of the kpi_update sent
        after it. Otherwise, as much as there is."""
        if not self.waiting:
            return 262144
        buf = self.buf
        if len(buf) < 2:
            return 2 - len(buf)
        n, at = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return 4 - len(buf)
            n, at = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return 10 - len(buf)
            n, at = struct.unpack(">Q", buf[2:10])[0], 10
        return max(1, at + n - len(buf))

    def on_readable(self):
        try:
            data, ancdata, _, _ = self.sock.recvmsg(self.wanted(), 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.lost(f"recv: {e}")
            return
        if not data:
            self.lost("closed by the server")
            return
        stamp = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                sec, nsec = struct.unpack("qq", payload[:16])
                stamp = sec * 1_000_000_000 + nsec
        if stamp is None:
            self.kernel_stamps = False
            stamp = time.time_ns()
        self.buf += data
        self.parse(stamp)

    def lost(self, reason):
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.bench.lost.append((self.index, reason))
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except Exception:
                pass
            self.sock.close()

    def send_frame(self, opcode, payload=b""):
        # Client frames are masked (RFC 6455 5.3); payloads here are small.
        mask = os.urandom(4)
        header = bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.send(header + body)
        except OSError:
            pass

    def parse(self, stamp):
        buf = self.buf
        while True:
            if len(buf) < 2:
                return
            fin, opcode = buf[0] & 0x80, buf[0] & 0x0F
            n, at = buf[1] & 0x7F, 2
            if buf[1] & 0x80:
                self.lost("the server sent a masked frame")
                return
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < at + n:
                return
            payload = bytes(buf[at:at + n])
            del buf[:at + n]
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self.lost(f"close frame {code} {payload[2:].decode(errors='replace')}")
                return
            elif opcode in (0x1, 0x0):
                self.fragments += payload
                if fin:
                    text = bytes(self.fragments)
                    self.fragments.clear()
                    self.message(text, stamp)

    def message(self, text, stamp):
        self.messages += 1
        try:
            kind = json.loads(text).get("type")
        except ValueError:
            self.bench.bad_messages += 1
            return
        if kind == "customer_health_update":
            self.updates += 1
            if self.waiting:
                self.waiting = False
                self.arrival_kernel = stamp
                self.arrival_user = time.time_ns()
                self.bench.arrived += 1
        elif kind == "kpi_update":
            self.kpi_updates += 1


class Bench:
    def __init__(self, port, exports, victims):
        self.port = port
        self.exports = exports
        self.victims = victims
        self.clients = []
        self.lost = []
        self.bad_messages = 0
        self.arrived = 0
        self.drop_number = 0

    async def connect(self, n):
        sem = asyncio.Semaphore(50)
        start = len(self.clients)
        failures = []

        async def one(i):
            async with sem:
                c = Client(self, i)
                try:
                    await asyncio.wait_for(c.connect(self.port), 30)
                    self.clients.append(c)
                except Exception as e:
                    failures.append(f"{type(e).__name__}: {e}")

        await asyncio.gather(*(one(start + i) for i in range(n)))
        if failures:
            log(f"{len(failures)} connections failed, e.g. {failures[0]}")
        return failures

    def write_drop(self):
        """A finished .part file touching the next 3 customers, ready to rename."""
        self.drop_number += 1
        d = self.drop_number
        touched = [self.victims.pop(0) for _ in range(3)]
        rng = random.Random(d)
        kinds = ["login", "feature_use", "api_call", "mobile_session", "dashboard_view", "work_order_completed"]
        lines = ["customer_id,user_id,occurred_at,event_type,feature,duration_s"]
        for c in touched:
            for r in range(40):
                kind = "login" if r < 12 else kinds[rng.randrange(len(kinds))]
                feature = f"feature_{rng.randrange(12):02d}" if kind == "feature_use" else ""
                duration = str(rng.randrange(20, 900)) if kind in ("feature_use", "work_order_completed") else ""
                lines.append(f"{c},{c}-u{r % 20 + 1:02d},{END}T12:{d % 60:02d}:{r % 60:02d}Z,{kind},{feature},{duration}")
        name = f"activity-serve-drop-{d:03d}.csv"
        part = os.path.join(self.exports, name + ".part")
        with open(part, "w") as f:
            f.write("\n".join(lines) + "\n")
        # Written well before it lands, as a file finished elsewhere would be.
        old = time.time() - 60
        os.utime(part, (old, old))
        return part, os.path.join(self.exports, name), touched

    async def drop(self, server, timeout=20.0):
        live = [c for c in self.clients if not c.closed]
        part, final, touched = self.write_drop()
        for c in live:
            c.waiting = True
            c.arrival_kernel = c.arrival_user = None
        updates_before = sum(c.updates for c in live)
        kpis_before = sum(c.kpi_updates for c in live)
        self.arrived = 0
        await asyncio.sleep(0.2)          # let the loop go quiet
        t0 = time.time_ns()
        os.rename(part, final)
        deadline = time.monotonic() + timeout
        while self.arrived < len(live) and time.monotonic() < deadline and server.poll() is None:
            await asyncio.sleep(0.002)
        waited_all = self.arrived == len(live)
        await asyncio.sleep(0.5)          # the kpi_update and any further updates of the batch
        got = [c for c in live if c.arrival_kernel is not None]
        if not got:
            return {"clients": len(live), "received": 0, "touched": touched}
        kern = sorted((c.arrival_kernel - t0) / 1e6 for c in got)
        user = sorted((c.arrival_user - t0) / 1e6 for c in got)
        per_client_updates = (sum(c.updates for c in live) - updates_before) / len(live)
        per_client_kpis = (sum(c.kpi_updates for c in live) - kpis_before) / len(live)
        return {
            "clients": len(live), "received": len(got), "all_within_timeout": waited_all, "touched": touched,
            "kernel": {"first": kern[0], "median": statistics.median(kern), "last": kern[-1]},
            "user": {"first": user[0], "median": statistics.median(user), "last": user[-1]},
            "updates_per_client": per_client_updates, "kpi_updates_per_client": per_client_kpis,
        }


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def metric(port, name):
    try:
        _, text = http_get(port, "/metrics")
    except Exception:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def summarize(drops, clock):
    ok = [d for d in drops if d.get("received")]
    if not ok:
        return None
    med = lambda key: statistics.median(d[clock][key] for d in ok)
    return {
        "first_ms": med("first"), "median_ms": med("median"), "last_ms": med("last"),
        "fanout_ms": statistics.median(d[clock]["last"] - d[clock]["first"] for d in ok),
        "max_last_ms": max(d[clock]["last"] for d in ok),
    }


def setup():
    return watch_setup.prepare(BIN, CUSTOMERS, DAYS, WORK, log=log, pipeline_extra=(
        "watch:\n  settle_seconds: 0\n  poll_seconds: 0.05\n  heartbeat_seconds: 3600\n  min_score_delta: 0\n"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=int(os.environ.get("WS_CLIENTS", "1000")))
    ap.add_argument("--drops", type=int, default=int(os.environ.get("WS_DROPS", "5")))
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit(f"ws-fanout: {BIN} not found: build it first with  swift build -c release --product customer-health")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inherited = (soft, hard)
    want = args.clients + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < want:
        log(f"warning: only {soft} file descriptors allowed; {args.clients} clients need about {want}")

    exports, pipeline = setup()
    log("run: the pipeline once, for /health and to pick the customers the drops touch")
    subprocess.run([BIN, "run", pipeline, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    scores = []
    with open(os.path.join(WORK, "output", "latest", "scores.jsonl")) as f:
        for line in f:
            s = json.loads(line)
            scores.append((s["health_score"], s["customer_id"]))
    victims = [c for _, c in sorted(scores)][: 3 * args.drops * 2 + 3]

    log("serve --watch: starting")
    # The server gets the descriptor limit this process was given, not the one it
    # raised for its clients: serve is to cope with what a deployment gives it.
    server = subprocess.Popen([BIN, "serve", "--watch", pipeline, "--port", "0", "--quiet"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "serve.err"), "w"), text=True,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, inherited))
    first_line = []
    reader = threading.Thread(target=lambda: first_line.append(server.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    if not first_line or "http://" not in first_line[0]:
        server.kill()
        sys.exit(f"ws-fanout: serve printed no listening line: {first_line} (see {WORK}/serve.err)")
    port = int(first_line[0].strip().rsplit(":", 1)[1])
    checkpoint = os.path.join(WORK, "output", ".watch", "checkpoint.json")
    t = time.monotonic()
    healthy = False
    while time.monotonic() - t < 120:
        if server.poll() is not None:
            sys.exit(f"ws-fanout: serve exited ({server.returncode}); see {WORK}/serve.err")
        try:
            healthy = healthy or http_get(port, "/health")[0] == 200
        except Exception:
            pass
        if healthy and os.path.exists(checkpoint):
            break
        time.sleep(0.05)
    else:
        server.kill()
        sys.exit("ws-fanout: no /health 200 or no watch baseline (checkpoint) within 120 s")
    baseline_s = time.monotonic() - t
    log(f"serving on port {port}; watch baseline done in {baseline_s:.1f} s")

    server_fds = None
    try:
        with open(f"/proc/{server.pid}/limits") as f:
            server_fds = next(int(l.split()[3]) for l in f if l.startswith("Max open files"))
    except (OSError, StopIteration, ValueError):
        pass
    results = {"clients": args.clients, "drops": args.drops, "cores": os.cpu_count(), "client_fd_limit": soft,
               "server_fd_limit": server_fds}

    async def phases():
        bench = Bench(port, exports, victims)
        try:
            for label, n in (("single", 1), ("fanout", args.clients)):
                need = n - len(bench.clients)
                t1 = time.monotonic()
                failures = await bench.connect(need)
                connect_s = time.monotonic() - t1
                # The hub counts a client once its upgrade is done: wait until it has them all.
                registered = None
                for _ in range(300):
                    registered = metric(port, "customer_health_websocket_clients")
                    if registered is not None and registered >= len(bench.clients):
                        break
                    await asyncio.sleep(0.1)
                log(f"{label}: {len(bench.clients)} clients connected in {connect_s:.1f} s "
                    f"(server counts {'no answer' if registered is None else f'{registered:.0f}'}); {args.drops} drops")
                if server.poll() is not None:
                    log(f"serve exited ({server.returncode}) while the clients connected; see {WORK}/serve.err")
                    results[label] = {"clients": len(bench.clients), "connect_failures": len(failures),
                                      "connect_s": connect_s, "registered": registered, "drops": [],
                                      "kernel": None, "user": None, "min_received": 0, "lost_clients": len(bench.lost)}
                    break
                drops = []
                for _ in range(args.drops):
                    r = await bench.drop(server)
                    drops.append(r)
                    if r.get("received"):
                        log(f"  drop {bench.drop_number}: {r['received']}/{r['clients']} clients; kernel first/median/last "
                            f"{r['kernel']['first']:.1f}/{r['kernel']['median']:.1f}/{r['kernel']['last']:.1f} ms; "
                            f"client code {r['user']['first']:.1f}/{r['user']['median']:.1f}/{r['user']['last']:.1f} ms; "
                            f"{r['updates_per_client']:.2f} updates + {r['kpi_updates_per_client']:.2f} kpi_update per client")
                    else:
                        log(f"  drop {bench.drop_number}: no client received an update (touched {r['touched']})")
                    if server.poll() is not None:
                        break
                results[label] = {
                    "clients": len(bench.clients), "connect_failures": len(failures), "connect_s": connect_s,
                    "registered": registered, "drops": drops,
                    "kernel": summarize(drops, "kernel"), "user": summarize(drops, "user"),
                    "min_received": min((d.get("received", 0) for d in drops), default=0),
                    "lost_clients": len(bench.lost),
                }
                if server.poll() is not None:
                    break
            results["kernel_timestamps"] = all(c.kernel_stamps for c in bench.clients)
            results["bad_messages"] = bench.bad_messages
            results["lost"] = [f"client {i}: {why}" for i, why in bench.lost[:5]]
            results["lost_count"] = len(bench.lost)
            results["server_rss_mib"] = rss_mib(server.pid)
            results["slow_dropped"] = metric(port, "customer_health_websocket_slow_clients_dropped_total")
            results["server_alive"] = server.poll() is None
        finally:
            for c in bench.clients:
                if not c.closed:
                    c.send_frame(0x8, struct.pack(">H", 1000))
                    c.sock.close()

    try:
        asyncio.run(phases())
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        results["server_exit"] = server.returncode
    with open(os.path.join(WORK, "serve.err")) as f:
        err = f.read().strip().splitlines()
    results["server_stderr_tail"] = err[-5:]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    for label in ("single", "fanout"):
        r = results.get(label)
        if r and r["kernel"]:
            k, u = r["kernel"], r["user"]
            print(f"{label} ({r['clients']} clients, min received {r['min_received']}): kernel first {k['first_ms']:.1f} "
                  f"median {k['median_ms']:.1f} last {k['last_ms']:.1f} fan-out {k['fanout_ms']:.1f} ms; client code first "
                  f"{u['first_ms']:.1f} median {u['median_ms']:.1f} last {u['last_ms']:.1f} fan-out {u['fanout_ms']:.1f} ms")
    ok = all(results.get(l) and results[l]["min_received"] == results[l]["clients"] for l in ("single", "fanout"))
    if not ok or results.get("lost_count") or not results.get("server_alive"):
        log("failed: the server ended early, or clients missed an update or were lost; see the JSON")
        sys.exit(2)


if __name__ == "__main__":
    main()
