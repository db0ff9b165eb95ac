"""Loopback stand-ins for the sources `llmenv kb refresh` reads: the PyTorch index (PEP 503 HTML pages per
variant), PyPI (``pypi_server.IndexServer``, PEP 691 JSON) and the GitHub releases API (reached through a
``--github-proxy`` prefix, as a real proxy would be).

``Site`` serves routes (path -> body) and files (with HTTP Range), counts requests, and fails (500) or stalls
paths on demand. ``torch_wheel`` makes a small torch wheel whose ``torch/lib/libtorch_python.so`` carries an
architecture string and C++ ABI symbols the way the real one does, so the refresh reads it like a real wheel.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .wheel_servers import _Server
from .wheelfactory import make_wheel

__all__ = ["Site", "torch_wheel"]


def torch_wheel(
    folder: Path,
    version: str,
    tag: str,
    *,
    archs: str | None,
    cxx11: bool = True,
    requires: tuple[str, ...] = (),
    gpu: bool = True,
) -> Path:
    """A torch wheel: ``archs`` is the arch-flags string compiled into libtorch_python.so
    (``"sm_80 sm_90 compute_90"``), None for a CPU build; ``gpu`` adds libtorch_cuda.so."""
    body = "ELF..." + ("_ZNSt7__cxx1112basic_stringIcE " * 300 if cxx11 else "_ZNSsC1Ev " * 300)
    if archs:
        body += f"\x00{archs}\x00"
    files = {"torch/lib/libtorch_python.so": body}
    if gpu and archs:
        files["torch/lib/libtorch_cuda.so"] = "ELF cuda"
    return make_wheel(folder, "torch", version, tag=tag, requires=list(requires), files=files)


@dataclass
class Site(_Server):
    routes: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (content type, body)
    files: dict[str, bytes] = field(default_factory=dict)  # path -> bytes (served with Range)
    fail: set[str] = field(default_factory=set)  # path prefixes answered with 500
    stall: set[str] = field(default_factory=set)  # path prefixes answered only after a long wait
    requests: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)

    # -- content -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.base

    def add_file(self, path: Path, where: str = "/files") -> str:
        """Serve a file; returns its URL path (a local version's "+" percent-encoded, as indexes do)."""
        url = f"{where}/{quote(path.name)}"
        self.files[unquote(url)] = path.read_bytes()
        return url

    def index_page(self, page: str, wheels: list[Path]) -> None:
        """A PEP 503 project page at ``page`` linking ``wheels`` (with #sha256= fragments)."""
        links = []
        for w in wheels:
            url = self.add_file(w)
            digest = hashlib.sha256(w.read_bytes()).hexdigest()
            links.append(f'<a href="{url}#sha256={digest}">{w.name}</a><br/>')
        html = "<!DOCTYPE html><html><body><h1>Links for torch</h1>" + "\n".join(links) + "</body></html>"
        self.routes[page] = ("text/html", html.encode())

    def github_releases(self, releases: list[dict[str, Any]], assets: dict[str, list[Path]]) -> None:
        """The releases API of Dao-AILab/flash-attention as the proxy path ``/https://api.github.com/...``."""
        out = []
        for r in releases:
            files = assets.get(r["tag_name"], [])
            rel = dict(r)
            rel["assets"] = [
                {
                    "name": f.name,
                    "size": f.stat().st_size,
                    "browser_download_url": self.url + self.add_file(f),
                }
                for f in files
            ]
            out.append(rel)
        path = "/https://api.github.com/repos/Dao-AILab/flash-attention/releases"
        self.routes[path] = ("application/json", json.dumps(out).encode())

    # -- life cycle ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()  # a stalled answer ends now
        super().stop()

    # -- answering -----------------------------------------------------------------------------------------

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(h.path.split("?", 1)[0])
        self.requests[path] += 1
        if any(path.startswith(p) for p in self.stall):
            self._stop.wait(30)
        if any(path.startswith(p) for p in self.fail):
            return _Server.send(h, 500, b"boom", "text/plain")
        if path in self.routes:
            ctype, body = self.routes[path]
            return _Server.send(h, 200, body, ctype)
        if path in self.files:
            return _range(h, self.files[path])
        return _Server.send(h, 404, b"not found", "text/plain")


def _range(h: BaseHTTPRequestHandler, data: bytes) -> None:
    rng = h.headers.get("Range")
    if not rng:
        return _Server.send(h, 200, data, "application/octet-stream")
    first, _, last = rng.removeprefix("bytes=").partition("-")
    size = len(data)
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last) if last else size - 1)
    _Server.send(
        h,
        206,
        data[start : end + 1],
        "application/octet-stream",
        {"Content-Range": f"bytes {start}-{end}/{size}"},
    )
