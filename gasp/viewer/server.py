"""Serve one folder over HTTP (standard library), and nothing outside it.

The handler resolves every request path (symbolic links included) and answers 404 unless the
file lies inside the folder; folders are not listed. Binds 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
import urllib.parse
from pathlib import Path


class PageHandler(http.server.SimpleHTTPRequestHandler):
    """GET/HEAD of files inside `directory` only; no listings, no caching of the data files."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".json": "application/json", ".bin": "application/octet-stream"}

    def translate_path(self, path: str) -> str:
        root = Path(self.directory).resolve()
        rel = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/")
        target = (root / (rel or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return ""  # send_head answers 404
        return str(target)

    def send_head(self):
        path = self.translate_path(self.path)
        if not path:
            self.send_error(404, "not found")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "not found")
        return None

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        if os.environ.get("GASP_VIEW_LOG"):
            super().log_message(format, *args)


class PageServer:
    """A threading HTTP server for `folder` on host:port (port 0 = a free one); `url` once started."""

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 0):
        handler = functools.partial(PageHandler, directory=str(Path(folder).resolve()))
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def start(self) -> "PageServer":
        """Serve in a background thread (tests)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
