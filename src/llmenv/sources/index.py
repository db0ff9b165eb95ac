"""Read package indexes: PEP 691 (JSON) and PEP 503 (HTML) simple pages, and flat pages of links.

One content negotiation (``Accept``: PEP 691 JSON first, HTML after), so the same reader serves the Astral
index (JSON, with hashes and upload times), the PyTorch, vLLM and FlashInfer indexes (HTML), a mirror of any of
them, and a flat ``find-links`` page (a folder served over HTTP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from packaging.utils import canonicalize_name

from llmenv.sources.fetch import Fetcher, FetchError

__all__ = [
    "ACCEPT",
    "IndexFile",
    "parse_page",
    "read_flat",
    "read_project",
    "read_root",
]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True, kw_only=True)
class IndexFile:
    """One file on an index page."""

    filename: str
    url: str
    sha256: str | None = None
    uploaded: str | None = None  # PEP 700 upload-time (JSON pages only)
    requires_python: str | None = None
    size: int | None = None
    metadata: bool = False  # PEP 658 / 714: <url>.metadata exists
    metadata_sha256: str | None = None
    yanked: bool = False


@dataclass(frozen=True)
class _Anchor:
    href: str
    text: str
    attrs: dict[str, str | None]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[_Anchor] = []
        self._open: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            d = dict(attrs)
            if d.get("href"):
                self._open = (str(d["href"]), d)
                self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            href, attrs = self._open
            self.anchors.append(_Anchor(href, "".join(self._text).strip(), attrs))
            self._open = None


def _anchors(html: str) -> list[_Anchor]:
    p = _Links()
    p.feed(html)
    p.close()
    return p.anchors


def _file_from_anchor(a: _Anchor, base: str) -> IndexFile | None:
    url, frag = urldefrag(urljoin(base, a.href))
    name = unquote(url.rsplit("/", 1)[-1])
    if not name.endswith(".whl"):
        return None
    sha = frag.removeprefix("sha256=") if frag.startswith("sha256=") else None
    meta = a.attrs.get("data-core-metadata") or a.attrs.get("data-dist-info-metadata")
    meta_sha = meta.removeprefix("sha256=") if meta and meta.startswith("sha256=") else None
    return IndexFile(
        filename=name,
        url=url,
        sha256=sha,
        requires_python=a.attrs.get("data-requires-python") or None,
        metadata=meta is not None and meta != "false",
        metadata_sha256=meta_sha,
        yanked="data-yanked" in a.attrs,
    )


def _file_from_json(d: Any, base: str) -> IndexFile | None:
    if not isinstance(d, dict) or not isinstance(d.get("filename"), str) or not isinstance(d.get("url"), str):
        return None
    if not d["filename"].endswith(".whl"):
        return None
    hashes: dict[str, Any] = d["hashes"] if isinstance(d.get("hashes"), dict) else {}
    cm = d.get("core-metadata", d.get("data-dist-info-metadata", False))
    size = d.get("size")
    return IndexFile(
        filename=d["filename"],
        url=urljoin(base, d["url"]),
        sha256=hashes.get("sha256"),
        uploaded=d.get("upload-time") if isinstance(d.get("upload-time"), str) else None,
        requires_python=d.get("requires-python") or None,
        size=size if isinstance(size, int) else None,
        metadata=bool(cm),
        metadata_sha256=cm.get("sha256") if isinstance(cm, dict) else None,
        yanked=bool(d.get("yanked", False)),
    )


def parse_page(body: str, content_type: str, base: str) -> tuple[list[IndexFile], list[str]]:
    """(wheel files, project names) on a page: a project page has files, a root page projects, a flat page files.

    JSON (PEP 691) is read by its keys; anything else as HTML, where a link to a ``.whl`` is a file and any other
    relative link one folder deep is a project (PEP 503 root pages).
    """
    ctype = content_type.split(";")[0].strip().lower()
    if "json" in ctype:
        try:
            d = json.loads(body)
        except ValueError as e:
            raise FetchError(f"{base}: a broken JSON page ({e})") from e
        if not isinstance(d, dict):
            raise FetchError(f"{base}: not a PEP 691 page")
        files = [f for f in (_file_from_json(x, base) for x in d.get("files") or []) if f is not None]
        projects = [
            str(canonicalize_name(str(p["name"])))
            for p in d.get("projects") or []
            if isinstance(p, dict) and p.get("name")
        ]
        return files, projects
    files_html: list[IndexFile] = []
    projects_html: list[str] = []
    for a in _anchors(body):
        f = _file_from_anchor(a, base)
        if f is not None:
            files_html.append(f)
            continue
        target = a.href.split("#", 1)[0].split("?", 1)[0].rstrip("/")
        if target and "://" not in target and not target.startswith(("/", "..")) and "/" not in target:
            projects_html.append(str(canonicalize_name(unquote(a.text or target))))
    return files_html, projects_html


def _read(fetcher: Fetcher, url: str) -> tuple[list[IndexFile], list[str]] | None:
    resp = fetcher.get(url, headers={"Accept": ACCEPT}, missing_ok=True)
    if resp is None:
        return None
    return parse_page(resp.text, resp.headers.get("content-type", "text/html"), str(resp.url))


def read_root(fetcher: Fetcher, url: str) -> list[str] | None:
    """The project names an index root lists; None when it does not exist (404)."""
    got = _read(fetcher, url.rstrip("/") + "/")
    return None if got is None else got[1]


def read_project(fetcher: Fetcher, index_url: str, project: str) -> list[IndexFile] | None:
    """A project's wheel files on an index; None when the index has no such project (404)."""
    got = _read(fetcher, f"{index_url.rstrip('/')}/{canonicalize_name(project)}/")
    return None if got is None else got[0]


def read_flat(fetcher: Fetcher, url: str) -> list[IndexFile]:
    """The wheel files a flat page (``find-links``, a served folder) links to. FetchError when it is missing."""
    got = _read(fetcher, url)
    if got is None:
        raise FetchError(f"{url}: HTTP 404")
    return got[0]
