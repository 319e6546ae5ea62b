"""Headless Chromium over the DevTools protocol: open a page, evaluate JavaScript, take screenshots.

Debian's `chromium-headless-shell` renders WebGL2 in software with SwiftShader (no GPU needed).
The browser runs in its own process group with its own profile folder and debugging port; `close`
kills the group (a leftover browser on the port would answer the next run with stale pages).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
         "--hide-scrollbars", "--mute-audio", "--no-first-run", "--disable-background-timer-throttling",
         "--disable-renderer-backgrounding")


class BrowserError(RuntimeError):
    """The browser is missing, did not start, or a page script failed."""


def find_browser() -> str | None:
    """Path of the first headless-capable Chromium on PATH (or $GASP_CHROMIUM), else None."""
    if os.environ.get("GASP_CHROMIUM"):
        return shutil.which(os.environ["GASP_CHROMIUM"])
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chromium:
    """One headless browser with one page; `evaluate` runs an expression (awaiting promises)."""

    def __init__(self, width: int = 800, height: int = 600, binary: str | None = None, timeout: float = 60.0):
        import websocket

        binary = binary or find_browser()
        if binary is None:
            raise BrowserError(f"no headless Chromium on PATH (tried {', '.join(BROWSERS)})")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gasp-chromium-")
        port = _free_port()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--remote-debugging-port={port}", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            ws_url = self._page_websocket(port)
            self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        except Exception:
            self.close()
            raise
        self._id = 0
        self.console: list[str] = []
        self.send("Runtime.enable")
        self.send("Page.enable")

    def _page_websocket(self, port: int) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"browser exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.1)
        raise BrowserError(f"browser did not open its debugging port {port} in {self.timeout:.0f} s")

    def send(self, method: str, **params) -> dict:
        """One DevTools command; returns its result (console messages that arrive meanwhile are kept)."""
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Runtime.consoleAPICalled":
                self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                             for a in msg["params"]["args"]))
            elif msg.get("method") == "Runtime.exceptionThrown":
                self.console.append(msg["params"]["exceptionDetails"].get("text", "exception"))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg["result"]
        raise BrowserError(f"{method}: no answer in {self.timeout:.0f} s")

    def evaluate(self, expression: str):
        """Value of a JavaScript expression (promises awaited; the value must be JSON-able)."""
        r = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(f"page script failed: {d.get('exception', {}).get('description', d.get('text'))}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float | None = None, poll: float = 0.1):
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise BrowserError(f"timed out waiting for {expression!r}; console: {self.console[-5:]}")

    def screenshot(self, path: str | Path) -> None:
        """PNG of the whole viewport."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            try:
                self.ws.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
