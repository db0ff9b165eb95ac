"""Loopback stand-ins for the wheel sources llmenv cannot reach from its tests, serving small real wheels
(``wheelfactory.make_wheel``) under the file names the facts give:

- ``SimpleIndex``: PEP 691 JSON and PEP 503 HTML pages under any number of index paths (``simple/cu128`` for the
  Astral layout, ``whl/cu130`` for PyTorch's, ``0.18.0/cu130`` for vLLM's per-version folders), with sha256,
  upload times and optional PEP 658 ``.metadata``; ``html_only`` answers HTML whatever is asked (like
  download.pytorch.org);
- ``GitHubReleases``: the REST endpoint ``/repos/{owner}/{repo}/releases`` (paged, with or without a ``Link``
  header) and the asset downloads ``/{owner}/{repo}/releases/download/{tag}/{name}``; it also answers as a GitHub
  proxy (``/https://api.github.com/...``, ``/https://github.com/...``), and then its ``Link`` headers point at
  api.github.com, as a pass-through proxy's would;
- ``FlatFolder``: a folder served as Python's ``http.server`` serves it (an HTML listing of links).

``Rewrite`` is an httpx transport that sends requests for a real host (``https://wheels.astral.sh``) to a
loopback server, so code that knows only the real URLs is tested as it runs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
from packaging.utils import parse_wheel_filename

from .wheelfactory import make_wheel

__all__ = ["FlatFolder", "GitHubReleases", "Rewrite", "SimpleIndex", "fact_wheel", "serving"]


def fact_wheel(folder: Path, filename: str, *, requires: list[str] | None = None) -> Path:
    """A tiny valid wheel named ``filename`` (a real name from the facts); METADATA's Version matches it."""
    name, version, _, tags = parse_wheel_filename(filename)
    rest = filename.removesuffix(".whl").split("-")
    tag = "-".join(rest[-3:])
    del tags
    return make_wheel(folder, str(name), str(version), requires=requires or [], tag=tag, filename=filename)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread; subclasses answer in ``answer``."""

    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.answer(self)

            do_HEAD = do_GET

        return Handler

    @property
    def base(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Any:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def send(
        h: BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        ctype: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


@contextlib.contextmanager
def serving(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class _IndexFile:
    filename: str
    data: bytes
    uploaded: str
    metadata: bytes | None


@dataclass
class SimpleIndex(_Server):
    html_only: bool = False
    pages: dict[str, dict[str, list[_IndexFile]]] = field(
        default_factory=dict
    )  # index path -> project -> files
    fail: set[str] = field(default_factory=set)  # path substrings answered 500
    flaky: dict[str, int] = field(default_factory=dict)  # path substring -> 500 the first N times
    requests: Counter[str] = field(default_factory=Counter)

    def __hash__(self) -> int:
        return id(self)

    def add(
        self, index: str, wheel: Path, *, uploaded: str = "2026-06-23T10:00:00Z", pep658: bool = False
    ) -> None:
        import zipfile

        project = parse_wheel_filename(wheel.name)[0]
        meta = None
        if pep658:
            with zipfile.ZipFile(wheel) as z:
                meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")))
        self.pages.setdefault(index.strip("/"), {}).setdefault(str(project), []).append(
            _IndexFile(wheel.name, wheel.read_bytes(), uploaded, meta)
        )

    def url(self, index: str) -> str:
        return f"{self.base}/{index.strip('/')}/"

    def _files(self) -> dict[str, _IndexFile]:
        """sha256 -> file (a file listed on several indexes: the copy that has PEP 658 metadata)."""
        out: dict[str, _IndexFile] = {}
        for p in self.pages.values():
            for fs in p.values():
                for f in fs:
                    sha = hashlib.sha256(f.data).hexdigest()
                    if sha not in out or out[sha].metadata is None:
                        out[sha] = f
        return out

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(h.path.split("?", 1)[0])
        self.requests[path] += 1
        key = next((k for k in (*self.fail, *self.flaky) if k in path), None)
        if key in self.fail or (key in self.flaky and self.requests[path] <= self.flaky[key]):
            return self.send(h, 500, b"boom", "text/plain")
        parts = path.strip("/").split("/")
        if parts[0] == "files" and len(parts) == 3:
            f = self._files().get(parts[1])
            if f is not None and parts[2] == f.filename:
                return self.send(h, 200, f.data, "application/octet-stream")
            if f is not None and parts[2] == f.filename + ".metadata" and f.metadata is not None:
                return self.send(h, 200, f.metadata, "application/octet-stream")
            return self.send(h, 404, b"not found", "text/plain")
        want_json = not self.html_only and "application/vnd.pypi.simple.v1+json" in (
            h.headers.get("Accept") or ""
        )
        stripped = path.strip("/")
        if stripped in self.pages:
            return self._root(h, stripped, want_json)
        index, _, project = stripped.rpartition("/")
        if index in self.pages and project in self.pages[index]:
            return self._project(h, index, project, want_json)
        return self.send(h, 404, b"not found", "text/plain")

    def _root(self, h: BaseHTTPRequestHandler, index: str, want_json: bool) -> None:
        names = sorted(self.pages[index])
        if want_json:
            body = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
            return self.send(h, 200, json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json")
        links = "".join(f'<a href="{n}/">{n}</a><br/>\n' for n in names)
        return self.send(h, 200, f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), "text/html")

    def _project(self, h: BaseHTTPRequestHandler, index: str, project: str, want_json: bool) -> None:
        files = self.pages[index][project]
        depth = "../" * (index.count("/") + 2)
        if want_json:
            out = []
            for f in files:
                sha = hashlib.sha256(f.data).hexdigest()
                d: dict[str, Any] = {
                    "filename": f.filename,
                    "url": f"{depth}files/{sha}/{quote(f.filename)}",
                    "hashes": {"sha256": sha},
                    "size": len(f.data),
                    "upload-time": f.uploaded,
                }
                if f.metadata is not None:
                    d["core-metadata"] = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
                out.append(d)
            body = {"meta": {"api-version": "1.4"}, "name": project, "files": out}
            return self.send(h, 200, json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json")
        links = []
        for f in files:
            sha = hashlib.sha256(f.data).hexdigest()
            meta = (
                f' data-dist-info-metadata="sha256={hashlib.sha256(f.metadata).hexdigest()}"'
                if f.metadata
                else ""
            )
            links.append(
                f'<a href="{depth}files/{sha}/{quote(f.filename)}#sha256={sha}"{meta}>{f.filename}</a><br/>'
            )
        return self.send(h, 200, ("<html><body>" + "\n".join(links) + "</body></html>").encode(), "text/html")


@dataclass
class _Asset:
    name: str
    data: bytes
    digest: bool


@dataclass
class GitHubReleases(_Server):
    """``releases``: repo -> [(tag, [assets])], newest first (as GitHub lists them)."""

    releases: dict[str, list[tuple[str, list[_Asset]]]] = field(default_factory=dict)
    per_page_cap: int = 100
    link_header: bool = True
    fail: set[str] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)

    def __hash__(self) -> int:
        return id(self)

    def add(self, repo: str, tag: str, wheel: Path, *, digest: bool = True) -> None:
        rels = self.releases.setdefault(repo, [])
        for t, assets in rels:
            if t == tag:
                assets.append(_Asset(wheel.name, wheel.read_bytes(), digest))
                return
        rels.append((tag, [_Asset(wheel.name, wheel.read_bytes(), digest)]))

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.path
        proxied = raw.startswith(("/https://api.github.com", "/https://github.com"))
        rest = raw.removeprefix("/https://api.github.com").removeprefix("/https://github.com")
        split = urlsplit(rest)
        path = unquote(split.path)
        self.requests[path] += 1
        if any(k in path for k in self.fail):
            return self.send(h, 500, b'{"message": "boom"}', "application/json")
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "releases":
            q = parse_qs(split.query)
            return self._list(h, f"{parts[1]}/{parts[2]}", q, proxied)
        if len(parts) == 6 and parts[2:4] == ["releases", "download"]:
            for tag, assets in self.releases.get(f"{parts[0]}/{parts[1]}", []):
                if tag == parts[4]:
                    for a in assets:
                        if a.name == parts[5]:
                            return self.send(h, 200, a.data, "application/octet-stream")
        return self.send(h, 404, b'{"message": "Not Found"}', "application/json")

    def _list(self, h: BaseHTTPRequestHandler, repo: str, q: dict[str, list[str]], proxied: bool) -> None:
        rels = self.releases.get(repo)
        if rels is None:
            return self.send(h, 404, b'{"message": "Not Found"}', "application/json")
        per_page = min(int(q.get("per_page", ["30"])[0]), self.per_page_cap)
        page = int(q.get("page", ["1"])[0])
        chunk = rels[(page - 1) * per_page : page * per_page]
        body = [
            {
                "tag_name": tag,
                "draft": False,
                "prerelease": False,
                "assets": [
                    {
                        "name": a.name,
                        "size": len(a.data),
                        "browser_download_url": f"https://github.com/{repo}/releases/download/{tag}/{quote(a.name)}",
                        "updated_at": "2026-07-26T00:00:00Z",
                        **({"digest": "sha256:" + hashlib.sha256(a.data).hexdigest()} if a.digest else {}),
                    }
                    for a in assets
                ],
            }
            for tag, assets in chunk
        ]
        headers = {}
        if self.link_header and page * per_page < len(rels):
            base = "https://api.github.com" if proxied else self.base
            headers["Link"] = (
                f'<{base}/repos/{repo}/releases?per_page={per_page}&page={page + 1}>; rel="next"'
            )
        self.send(h, 200, json.dumps(body).encode(), "application/json", headers)


class FlatFolder(_Server):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def handler(self) -> type[BaseHTTPRequestHandler]:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        return functools.partial(Quiet, directory=str(self.folder))  # type: ignore[return-value]

    @property
    def url(self) -> str:
        return self.base + "/"


class ReleaseAssets(_Server):
    """A stand-in for GitHub release downloads (reached through ``--github-proxy``): any path whose last segment
    names a file of ``folder`` gets that file (``%2B`` read as ``+``, as in local version labels); else 404."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        f = self.folder / h.path.rsplit("/", 1)[-1].replace("%2B", "+")
        if not f.is_file():
            self.send(h, 404, b"not found", "text/plain")
            return
        self.send(h, 200, f.read_bytes(), "application/octet-stream")


class Rewrite(httpx.BaseTransport):
    """Send requests whose URL starts with a key of ``routes`` to its value instead (a loopback server)."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        self.routes = dict(routes)
        self.inner = httpx.HTTPTransport()
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.seen.append(url)
        if request.url.host == "127.0.0.1":
            return self.inner.handle_request(request)
        for prefix, target in self.routes.items():
            if url.startswith(prefix):
                request.url = httpx.URL(target + url[len(prefix) :])
                break
        else:
            raise httpx.ConnectError(f"{request.url.host}: not reachable in tests", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
