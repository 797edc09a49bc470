"""cdp.py: drive headless Chromium through the Chrome DevTools Protocol over
--remote-debugging-pipe (fd 3: commands in, fd 4: replies out, messages
separated by NUL), with the standard library only. One page target; the
helpers evaluate JavaScript, wait for a condition, and take screenshots."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    def __init__(self, width=1280, height=900):
        exe = find_chromium()
        if not exe:
            raise RuntimeError("chromium not found (make deps installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="kf-chromium-")
        cmd_r, cmd_w = os.pipe()     # we write commands; chromium reads fd 3
        out_r, out_w = os.pipe()     # chromium writes fd 4; we read
        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height),
                "about:blank"]

        def child():
            # dup first: the pipe ends may themselves be fds 3 or 4
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # subprocess closes other fds after child() runs: keep 3 and 4
        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self.w = os.fdopen(cmd_w, "wb", buffering=0)
        self.r = os.fdopen(out_r, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.width, self.height = width, height
        tid = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": tid, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _read_msg(self):
        while b"\0" not in self.buf:
            d = self.r.read(65536)
            if not d:
                raise RuntimeError("chromium closed the pipe")
            self.buf += d
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        self.w.write(json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read_msg()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def eval(self, expr):
        """Value of a JavaScript expression (promises awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                           "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError("JS error in %r: %s" % (expr[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    def goto(self, url):
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'")

    def wait(self, expr, timeout=20):
        """Wait until the expression is truthy; returns its value."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                last = self.eval(expr)
            except RuntimeError:
                last = None
            if last:
                return last
            time.sleep(0.1)
        raise TimeoutError("timed out waiting for: " + expr)

    def screenshot(self, path, full=True, max_height=4000):
        params = {"format": "png"}
        if full:
            h = self.eval("Math.ceil(document.documentElement.scrollHeight)")
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": min(h, max_height),
                              "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
