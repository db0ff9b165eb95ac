"""A tiny PEP 691 (JSON) simple index on 127.0.0.1, in a thread, for offline tests of the PyPI client.

``IndexServer`` serves project pages built from files you add (wheels, sdists, optional PEP 658 ``.metadata``),
honours HTTP Range on files (206 + Content-Range), counts every request per path, and can misbehave per path:
``fail`` (always 500), ``flaky`` (500 the first N times), ``hang`` (answer only after the test ends, so the
client times out) and ``no_range`` (ignore Range, answer 200 with the whole file). HEAD answers the headers of
the same GET (uv sends one to a file server before range reads).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = ["IndexServer"]


@dataclass
class _File:
    filename: str
    data: bytes
    upload_time: str
    requires_python: str | None
    yanked: bool | str
    metadata: bytes | None  # served at <file>.metadata (PEP 658) and advertised in the page


@dataclass
class IndexServer:
    files: dict[str, list[_File]] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    flaky: dict[str, int] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    no_range: set[str] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)
    ranges: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- content -------------------------------------------------------------------------------------------

    def add(
        self,
        project: str,
        path: Path,
        *,
        uploaded: str = "2025-01-02T03:04:05Z",
        requires_python: str | None = None,
        yanked: bool | str = False,
        pep658: bool = False,
    ) -> None:
        data = path.read_bytes()
        meta = _wheel_metadata(path) if pep658 else None
        self.files.setdefault(project, []).append(
            _File(path.name, data, uploaded, requires_python, yanked, meta)
        )

    def page(self, project: str) -> dict[str, Any]:
        out = []
        for f in self.files.get(project, []):
            d: dict[str, Any] = {
                "filename": f.filename,
                "url": f"../../files/{project}/{f.filename}",  # relative, as PEP 691 allows
                "hashes": {"sha256": hashlib.sha256(f.data).hexdigest()},
                "size": len(f.data),
                "upload-time": f.upload_time,
                "yanked": f.yanked,
            }
            if f.requires_python:
                d["requires-python"] = f.requires_python
            if f.metadata is not None:
                d["core-metadata"] = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
            out.append(d)
        return {"meta": {"api-version": "1.1"}, "name": project, "files": out}

    # -- life cycle ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/simple"

    def start(self) -> IndexServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._answer(self)

            def do_HEAD(self) -> None:  # uv asks whether a file server takes ranges; headers only
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._answer(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- answering -----------------------------------------------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        self.requests[path] = self.requests[path] + 1
        key = next((k for k in (*self.fail, *self.hang, *self.flaky, *self.no_range) if k in path), None)
        if key in self.hang:
            self._stop.wait(10)  # longer than any client timeout in the tests; released at stop()
        if key in self.fail or (key in self.flaky and self.requests[path] <= self.flaky[key]):
            return self._send(h, 500, b"boom", "text/plain")
        parts = path.strip("/").split("/")
        if parts[0] == "simple" and len(parts) == 2:
            if parts[1] not in self.files:
                return self._send(h, 404, b"no such project", "text/plain")
            body = json.dumps(self.page(parts[1])).encode()
            return self._send(h, 200, body, "application/vnd.pypi.simple.v1+json")
        if parts[0] == "files" and len(parts) == 3:
            project, name = parts[1], unquote(parts[2])  # a local version's "+" comes as %2B
            for f in self.files.get(project, []):
                if name == f.filename:
                    return self._file(h, f.data, no_range=key in self.no_range)
                if name == f.filename + ".metadata" and f.metadata is not None:
                    return self._send(h, 200, f.metadata, "application/octet-stream")
        return self._send(h, 404, b"not found", "text/plain")

    def _file(self, h: BaseHTTPRequestHandler, data: bytes, *, no_range: bool) -> None:
        rng = h.headers.get("Range")
        if not rng or no_range:
            return self._send(h, 200, data, "application/octet-stream")
        self.ranges.append((h.path, rng))
        spec = rng.removeprefix("bytes=")
        first, _, last = spec.partition("-")
        size = len(data)
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(size - 1, int(last) if last else size - 1)
        body = data[start : end + 1]
        self._send(h, 206, body, "application/octet-stream", {"Content-Range": f"bytes {start}-{end}/{size}"})

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def _wheel_metadata(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(name)
