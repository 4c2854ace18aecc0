#!/usr/bin/env python3
"""Headless Chromium over the DevTools protocol on a pipe (fds 3 and 4, each
message a JSON object ended by a NUL byte): used by bench/report_bench.py to
time the report, and by docs/screenshots.sh for the pictures in the docs.

    python3 bench/cdp.py shot URL FILE WIDTH [HEIGHT] [--mobile]
writes a PNG of the whole page at that width once the page is ready."""
import base64, json, os, shutil, subprocess, sys, tempfile, time


class Chromium:
    def __init__(self):
        exe = next(p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.access(p, os.X_OK))
        self.profile = tempfile.mkdtemp(prefix="ch-bench-chromium-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def fds():
            # Copies first: a pipe end may itself be fd 3 or 4.
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3, inheritable=True)
            os.dup2(b, 4, inheritable=True)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.w, self.r, self.buf, self.next, self.session = to_w, from_r, b"", 0, None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, params=None):
        self.next += 1
        msg = {"id": self.next, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def load(self, url, timeout=60):
        self.call("Page.navigate", {"url": "about:blank"})
        start = time.monotonic()
        self.call("Page.navigate", {"url": url})
        while time.monotonic() - start < timeout:
            if self.evaluate("document.body && document.body.getAttribute('data-ready')") == "true":
                return time.monotonic() - start
            time.sleep(0.01)
        raise RuntimeError(f"{url} not ready in {timeout} s")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def shot(self, url, path, width, height=900, mobile=False):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        self.load(url)
        w, h = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        if height:
            h = min(h, height)
        png = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                   "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--mobile"]
    if len(args) < 4 or args[0] != "shot":
        sys.exit(__doc__)
    browser = Chromium()
    try:
        browser.shot(args[1], args[2], int(args[3]), int(args[4]) if len(args) > 4 else 0, "--mobile" in sys.argv)
        print("wrote", args[2])
    finally:
        browser.close()
