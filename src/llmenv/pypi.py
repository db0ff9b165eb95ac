"""A small PyPI client: a project's files from the Simple API in its JSON form (PEP 691), and a file's core
metadata without downloading whole distributions.

For one distribution file the metadata comes from, in order:

* ``pep658`` — the ``<file>.metadata`` file, when the index offers one (PEP 658 / PEP 714 ``core-metadata``);
* ``range`` — HTTP range reads of a wheel (or ``.zip`` sdist): the zip's tail (end of central directory), its
  central directory, then the one member (``*.dist-info/METADATA``);
* ``sdist`` — a ``.tar.gz`` sdist read as a stream until its ``PKG-INFO`` (and ``*.egg-info/requires.txt``).

Every request goes through one retrying sender (5xx / 429 / timeouts / connection errors; a bounded count with
exponential backoff). An optional :class:`Cache` keeps metadata keyed by file URL + hash (files on an index never
change) and index pages for a short time (revalidated with ETag / Last-Modified when the index sends them).
The HTTP client is injected (``httpx.Client``, or just a transport), so tests run against a local server.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import hashlib
import html.parser
import io
import json
import os
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urljoin, urlparse

import httpx
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = [
    "DEFAULT_INDEX",
    "SIMPLE_JSON",
    "BadDistribution",
    "Cache",
    "CoreMetadata",
    "DistFile",
    "Project",
    "PyPIClient",
    "PyPIError",
    "candidates",
    "parse_links",
    "requires_txt_to_dist",
]

DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_TAIL = (
    64 * 1024
)  # first range read of a zip: end of central directory, usually the directory and METADATA too
_CHUNK = 64 * 1024  # smallest later range read
_MAX_FULL_BODY = 32 * 1024 * 1024  # a server that ignores Range: read at most this much of a file
_MAX_MEMBER = 8 * 1024 * 1024  # METADATA / PKG-INFO larger than this is not metadata
_METADATA_CACHE = "metadata-v1"  # raw texts; bump when what is stored changes
_SOURCES = ("pep658", "range", "sdist")

T = TypeVar("T")


class PyPIError(Exception):
    """The index could not answer (after retries, or a definite HTTP error such as 404: ``status``)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadDistribution(Exception):
    """A file was read but holds no usable metadata (broken zip, no METADATA, hash mismatch)."""


class _Transient(Exception):
    """A failure worth retrying (5xx, 429)."""


# ---------------------------------------------------------------------------------------------- index data


@dataclass(frozen=True, kw_only=True)
class DistFile:
    """One file of a project on the index (a wheel or an sdist)."""

    filename: str
    url: str
    version: Version
    kind: str  # "wheel" | "sdist"
    sha256: str | None = None
    size: int | None = None
    requires_python: str | None = None
    yanked: bool = False
    uploaded: str | None = None  # ISO 8601 timestamp from the index
    has_metadata: bool = False  # PEP 658 / 714: the index serves <url>.metadata
    metadata_sha256: str | None = None
    platforms: frozenset[str] = frozenset()  # wheel platform tags

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, base_url: str) -> DistFile | None:
        """One entry of a PEP 691 ``files`` list; None for files that are neither wheels nor sdists we read."""
        filename = str(d["filename"])
        platforms: frozenset[str] = frozenset()
        try:
            if filename.endswith(".whl"):
                _, version, _, tags = parse_wheel_filename(filename)
                kind = "wheel"
                platforms = frozenset(t.platform for t in tags)
            elif filename.endswith((".tar.gz", ".zip")):
                _, version = parse_sdist_filename(filename)
                kind = "sdist"
            else:
                return None
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            return None
        cm = d.get("core-metadata", d.get("data-dist-info-metadata", False))
        hashes = d.get("hashes") or {}
        yanked = d.get("yanked", False)
        size = d.get("size")
        return cls(
            filename=filename,
            url=urljoin(base_url, str(d["url"])),
            version=version,
            kind=kind,
            sha256=hashes.get("sha256"),
            size=int(size) if isinstance(size, int) else None,
            requires_python=d.get("requires-python") or None,
            yanked=bool(yanked),  # a string is a reason, and means yanked
            uploaded=d.get("upload-time"),
            has_metadata=bool(cm),
            metadata_sha256=cm.get("sha256") if isinstance(cm, dict) else None,
            platforms=platforms,
        )

    @property
    def manylinux_x86_64(self) -> bool:
        return any(p.endswith("x86_64") and ("manylinux" in p or p == "linux_x86_64") for p in self.platforms)


@dataclass(frozen=True, kw_only=True)
class Project:
    """A project's page on the index: every file we can read, grouped by release on demand."""

    name: str
    files: tuple[DistFile, ...]

    def releases(self) -> dict[Version, list[DistFile]]:
        """Files per release, newest release first."""
        out: dict[Version, list[DistFile]] = {}
        for f in self.files:
            out.setdefault(f.version, []).append(f)
        return dict(sorted(out.items(), key=lambda kv: kv[0], reverse=True))


def candidates(files: Sequence[DistFile]) -> list[DistFile]:
    """The files of one release in the order we try them for its metadata.

    Not-yanked before yanked; a manylinux x86_64 wheel, else any wheel, else an sdist (``.tar.gz`` before
    ``.zip``); within a group, files the index offers a ``.metadata`` for first, then by name (deterministic).
    """

    def rank(f: DistFile) -> tuple[int, int, int, str]:
        if f.kind == "wheel":
            group = 0 if f.manylinux_x86_64 else 1
        else:
            group = 2 if f.filename.endswith(".tar.gz") else 3
        return (int(f.yanked), group, int(not f.has_metadata), f.filename)

    return sorted(files, key=rank)


def _project_of(filename: str) -> str | None:
    """The normalized project name a wheel or sdist file name carries."""
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


class _Links(html.parser.HTMLParser):
    """The ``<a href>`` anchors of a PEP 503 page (or of any page of links: a flat index, a folder listing)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            a = dict(attrs)
            if a.get("href"):
                self.links.append(a)


def parse_links(text: str, *, base_url: str) -> list[dict[str, Any]]:
    """A PEP 503 HTML page -> file entries shaped like PEP 691's (``filename``, ``url``, ``hashes``,
    ``requires-python``, ``yanked``, ``core-metadata``)."""
    p = _Links()
    p.feed(text)
    out = []
    for a in p.links:
        href = str(a["href"])
        url, _, fragment = urljoin(base_url, href).partition("#")
        filename = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if not filename.endswith((".whl", ".tar.gz", ".zip")):
            continue
        algo, _, digest = fragment.partition("=")
        entry: dict[str, Any] = {"filename": filename, "url": url, "hashes": {algo: digest} if digest else {}}
        if a.get("data-requires-python"):
            entry["requires-python"] = a["data-requires-python"]
        if "data-yanked" in a:
            entry["yanked"] = a["data-yanked"] or True
        meta = a.get("data-core-metadata", a.get("data-dist-info-metadata"))
        if meta is not None:
            m_algo, _, m_digest = (meta or "").partition("=")
            entry["core-metadata"] = {m_algo: m_digest} if m_digest else True
        out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------- metadata


@dataclass(frozen=True, kw_only=True)
class CoreMetadata:
    """The parts of a distribution's core metadata llmenv uses, and where they came from."""

    name: str | None
    version: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    provides_extras: tuple[str, ...]
    source: str  # "pep658" | "range" | "sdist" | "local"
    file: str

    @classmethod
    def parse(cls, text: str, *, source: str, file: str, requires_txt: str | None = None) -> CoreMetadata:
        """Parse METADATA / PKG-INFO text (RFC 822 headers). An sdist's ``requires.txt`` fills in
        Requires-Dist / Provides-Extra when PKG-INFO (older setuptools) leaves them out."""
        msg = _HEADERS.parsestr(headers_only(text))
        requires = [r for r in _all(msg, "Requires-Dist") if _valid_requirement(r)]
        extras = _all(msg, "Provides-Extra")
        if requires_txt is not None and not requires:
            requires, txt_extras = requires_txt_to_dist(requires_txt)
            extras = extras or txt_extras
        rp = _one(msg, "Requires-Python")
        return cls(
            name=_one(msg, "Name"),
            version=_one(msg, "Version"),
            requires_python=rp.strip() if rp and rp.strip() else None,
            requires_dist=tuple(requires),
            provides_extras=tuple(dict.fromkeys(extras)),
            source=source,
            file=file,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires_python": self.requires_python,
            "requires_dist": list(self.requires_dist),
            "provides_extras": list(self.provides_extras),
            "from": self.source,
            "file": self.file,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CoreMetadata:
        return cls(
            name=d.get("name"),
            version=d.get("version"),
            requires_python=d.get("requires_python"),
            requires_dist=tuple(d["requires_dist"]),
            provides_extras=tuple(d["provides_extras"]),
            source=str(d["from"]),
            file=str(d["file"]),
        )


# Only the headers are read (email.parser, as packaging.metadata does, but asking for the few fields we use).
_HEADERS = email.parser.HeaderParser(policy=email.policy.compat32)


def _all(msg: email.message.Message, field: str) -> list[str]:
    return [" ".join(str(v).split()) for v in msg.get_all(field) or []]


def _one(msg: email.message.Message, field: str) -> str | None:
    values = _all(msg, field)
    return values[0] if values else None


def headers_only(text: str) -> str:
    """The header block of METADATA / PKG-INFO: what follows the first empty line is the description."""
    text = text.replace("\r\n", "\n")
    return text.split("\n\n", 1)[0] + "\n"


@lru_cache(maxsize=65536)
def _valid_requirement(line: str) -> bool:
    try:
        Requirement(line)
    except InvalidRequirement:
        return False
    return True


def requires_txt_to_dist(text: str) -> tuple[list[str], list[str]]:
    """setuptools' ``*.egg-info/requires.txt`` -> (Requires-Dist lines, extras).

    Sections are ``[extra]``, ``[extra:marker]`` or ``[:marker]``; a section's lines get ``extra == "..."``
    and/or the section's marker joined to their own.
    """
    out: list[str] = []
    extras: list[str] = []
    extra, section_marker = "", ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            extra, _, section_marker = line[1:-1].partition(":")
            extra, section_marker = extra.strip(), section_marker.strip()
            if extra and extra not in extras:
                extras.append(extra)
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        out.append(with_markers(req, section_marker or None, extra or None))
    return out, extras


def with_markers(req: Requirement, marker: str | None, extra: str | None) -> str:
    """A requirement in Requires-Dist form, its own marker joined with another marker and/or an extra."""
    conds = [str(req.marker)] if req.marker else []
    if marker:
        conds.append(marker)
    if len(conds) > 1 or (conds and extra):
        conds = [f"({c})" for c in conds]
    if extra:
        conds.append(f'extra == "{extra}"')
    bare = Requirement(str(req))
    bare.marker = None
    # packaging writes it back in one canonical form (double quotes, only the parentheses that matter)
    return str(Requirement(f"{bare}; {' and '.join(conds)}")) if conds else str(bare)


# ------------------------------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class Cache:
    """JSON entries under ``root``, keyed by any string (hashed), written atomically; a broken entry is a miss."""

    root: Path

    def _path(self, kind: str, key: str) -> Path:
        h = hashlib.sha256(key.encode()).hexdigest()
        return self.root / kind / h[:2] / f"{h}.json"

    def get(self, kind: str, key: str) -> Any | None:
        try:
            with open(self._path(kind, key), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(value, f)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # a cache that cannot be written is only slower


# ------------------------------------------------------------------------------------------------ client


@dataclass
class Stats:
    """What a client did (for the refresh summary and the benchmarks)."""

    requests: int = 0
    retries: int = 0
    index_cached: int = 0
    metadata_cached: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)

    def source(self, name: str) -> None:
        with self._lock:
            self.sources[name] = self.sources.get(name, 0) + 1


class PyPIClient:
    """Read a PEP 691 index and distributions' core metadata. Thread-safe (one ``httpx.Client`` inside)."""

    def __init__(
        self,
        index_url: str = DEFAULT_INDEX,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        cache: Cache | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        index_ttl: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        user_agent: str = "llmenv",
    ) -> None:
        self.index_url = index_url.rstrip("/")
        self._own = client is None
        self._http = client or httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"User-Agent": user_agent},
        )
        self.cache = cache
        self.retries = max(0, retries)
        self.backoff = backoff
        self.index_ttl = index_ttl
        self._sleep = sleep
        self._clock = clock
        self.stats = Stats()

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> PyPIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one retrying sender ------------------------------------------------------------------------

    def _retrying(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op`` (which makes its own requests); retry on 5xx / 429 / timeouts / connection errors."""
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                return op()
            except _Transient as e:
                last = str(e)
            except httpx.TimeoutException as e:
                last = f"timed out ({type(e).__name__})"
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if attempt + 1 < attempts:
                self.stats.add("retries")
                self._sleep(self.backoff * (2**attempt))
        raise PyPIError(f"{what}: {last} (after {attempts} attempt{'s' if attempts > 1 else ''})")

    def _check(self, resp: httpx.Response, url: str) -> None:
        code = resp.status_code
        if code >= 500 or code == 429:
            resp.close()
            raise _Transient(f"HTTP {code}")
        if code >= 400:
            resp.close()
            raise PyPIError(f"{url}: HTTP {code}", status=code)

    def _get(self, url: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        self.stats.add("requests")
        resp = self._http.get(url, headers=dict(headers or {}))
        self._check(resp, url)
        return resp

    def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        """A JSON document (an API answer), through the retrying sender; not cached."""

        def fetch() -> Any:
            resp = self._get(url, {"Accept": "application/json", **(headers or {})})
            try:
                return resp.json()
            except ValueError as e:
                raise _Transient(f"a broken JSON answer ({e})") from e

        return self._retrying(url, fetch)

    # -- the index ---------------------------------------------------------------------------------------

    def project_url(self, name: str) -> str:
        return f"{self.index_url}/{canonicalize_name(name)}/"

    def project(self, name: str) -> Project:
        """The project's files (PEP 691 JSON, or a PEP 503 HTML page). Cached for ``index_ttl`` seconds, then
        revalidated."""
        return self.page(self.project_url(name), name)

    def page(self, url: str, name: str | None = None) -> Project:
        """The files listed at ``url``: a simple-index project page (JSON or HTML) or a flat page of links
        (``name`` given: only that project's files are kept). Cached like ``project``."""
        cached = self.cache.get("simple", url) if self.cache else None
        now = self._clock()
        if cached and now - float(cached.get("fetched", 0)) < self.index_ttl:
            self.stats.add("index_cached")
            return self._parse_project(name, url, cached["body"])
        headers = {"Accept": f"{SIMPLE_JSON}, application/json;q=0.5, text/html;q=0.1"}
        if cached and cached.get("etag"):
            headers["If-None-Match"] = cached["etag"]
        if cached and cached.get("last_modified"):
            headers["If-Modified-Since"] = cached["last_modified"]

        def fetch() -> tuple[int, Any, httpx.Headers]:
            resp = self._get(url, headers)
            if resp.status_code == 304:
                return 304, None, resp.headers
            ctype = resp.headers.get("content-type", "").split(";")[0].strip()
            if "html" in ctype:
                return (
                    resp.status_code,
                    {"files": parse_links(resp.text, base_url=str(resp.url))},
                    resp.headers,
                )
            if "json" not in ctype:
                raise PyPIError(
                    f"{url}: the index answered {ctype or 'no content type'}, not a simple index page"
                )
            try:
                return resp.status_code, resp.json(), resp.headers
            except ValueError as e:
                raise _Transient(f"a broken JSON page ({e})") from e

        status, body, hdrs = self._retrying(url, fetch)
        if status == 304 and cached:
            self.stats.add("index_cached")
            body = cached["body"]
        if self.cache:
            self.cache.put(
                "simple",
                url,
                {
                    "fetched": now,
                    "etag": hdrs.get("etag"),
                    "last_modified": hdrs.get("last-modified"),
                    "body": body,
                },
            )
        return self._parse_project(name, url, body)

    def _parse_project(self, name: str | None, url: str, body: Any) -> Project:
        if not isinstance(body, dict) or not isinstance(body.get("files"), list):
            raise PyPIError(f"{url}: not a simple index page")
        files = [DistFile.from_json(f, base_url=url) for f in body["files"] if isinstance(f, dict)]
        kept = [
            f
            for f in files
            if f is not None and (name is None or _project_of(f.filename) == canonicalize_name(name))
        ]
        return Project(name=str(body.get("name", name or "")), files=tuple(kept))

    # -- members of a wheel ------------------------------------------------------------------------------

    def read_zip(self, file: DistFile, op: Callable[[zipfile.ZipFile], T], *, chunk: int = 1 << 20) -> T:
        """Run ``op`` on the wheel as a ``ZipFile`` read by HTTP range requests (``chunk`` bytes at least per
        request), retried as a whole like any other request. Raises BadDistribution for a file that is no zip."""

        def run() -> T:
            reader = _RangeReader.open(self, file.url, file.size, chunk=chunk)
            try:
                zf = zipfile.ZipFile(reader)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
                raise BadDistribution(f"{file.filename}: not a readable zip ({e})") from e
            with zf:
                return op(zf)

        return self._retrying(file.url, run)

    # -- metadata ----------------------------------------------------------------------------------------

    def metadata(self, file: DistFile) -> CoreMetadata:
        """The file's core metadata. Raises PyPIError (network) or BadDistribution.

        The cache keeps the raw text read (METADATA / PKG-INFO, an sdist's requires.txt) keyed by URL + hash,
        and it is parsed on every use, so a better parser needs no new download.
        """
        key = f"{file.url}#{file.sha256 or ''}"
        raw = self.cache.get(_METADATA_CACHE, key) if self.cache else None
        if isinstance(raw, dict) and isinstance(raw.get("text"), str) and raw.get("from") in _SOURCES:
            self.stats.add("metadata_cached")
        else:
            raw = self._fetch_raw(file)
            self.stats.source(raw["from"])
            if self.cache:
                self.cache.put(_METADATA_CACHE, key, raw)
        return CoreMetadata.parse(
            raw["text"], source=raw["from"], file=file.filename, requires_txt=raw.get("requires_txt")
        )

    def _fetch_raw(self, file: DistFile) -> dict[str, Any]:
        if file.has_metadata:
            text = self._retrying(file.url + ".metadata", lambda: self._pep658(file))
            return {"from": "pep658", "text": headers_only(text)}
        if file.kind == "wheel" or file.filename.endswith(".zip"):
            return self._retrying(file.url, lambda: self._from_zip(file))
        return self._retrying(file.url, lambda: self._from_tar(file))

    def _pep658(self, file: DistFile) -> str:
        data = self._get(file.url + ".metadata").content
        if file.metadata_sha256 and hashlib.sha256(data).hexdigest() != file.metadata_sha256:
            raise BadDistribution(f"{file.filename}.metadata: sha256 does not match the index")
        return data.decode("utf-8", errors="replace")

    def _from_zip(self, file: DistFile) -> dict[str, Any]:
        reader = _RangeReader.open(self, file.url, file.size)
        try:
            zf = zipfile.ZipFile(reader)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise BadDistribution(f"{file.filename}: not a readable zip ({e})") from e
        with zf:
            if file.kind == "wheel":
                return {"from": "range", "text": headers_only(read_wheel_metadata(zf, file.filename))}
            pkg_info, requires = _sdist_zip_members(zf, file.filename)
            return {"from": "sdist", "text": headers_only(pkg_info), "requires_txt": requires}

    def _from_tar(self, file: DistFile) -> dict[str, Any]:
        self.stats.add("requests")
        with self._http.stream("GET", file.url) as resp:
            self._check(resp, file.url)
            stream = io.BufferedReader(_StreamReader(resp.iter_raw()), buffer_size=256 * 1024)
            pkg_info, requires = _sdist_tar_members(stream, file.filename)
        return {"from": "sdist", "text": headers_only(pkg_info), "requires_txt": requires}

    def _range(self, url: str, rng: str) -> tuple[bytes, int | None, bool]:
        """The bytes named by an HTTP Range (``bytes=A-B`` inclusive, or ``bytes=-N``: the last N bytes).

        Returns (data, total size or None, partial). A server that ignores Range answers 200 with the whole
        file: accepted up to ``_MAX_FULL_BODY`` bytes.
        """
        self.stats.add("requests")
        with self._http.stream("GET", url, headers={"Range": rng}) as resp:
            self._check(resp, url)
            if resp.status_code == 206:
                total = None
                cr = resp.headers.get("content-range", "")
                if "/" in cr and cr.rsplit("/", 1)[1].strip().isdigit():
                    total = int(cr.rsplit("/", 1)[1])
                return resp.read(), total, True
            chunks: list[bytes] = []
            n = 0
            for chunk in resp.iter_bytes():
                n += len(chunk)
                if n > _MAX_FULL_BODY:
                    raise BadDistribution(f"{url}: the server ignores HTTP Range and the file is large")
                chunks.append(chunk)
            data = b"".join(chunks)
            return data, len(data), False


# ------------------------------------------------------------------------------------- reading zip / tar


class _RangeReader(io.RawIOBase):
    """A seekable read-only file over HTTP range requests, keeping the pieces it has fetched."""

    def __init__(
        self, client: PyPIClient, url: str, size: int, pieces: list[tuple[int, bytes]], chunk: int = _CHUNK
    ) -> None:
        super().__init__()
        self._client = client
        self._url = url
        self._size = size
        self._pieces = pieces
        self._pos = 0
        self._chunk = chunk

    @classmethod
    def open(cls, client: PyPIClient, url: str, size: int | None, *, chunk: int = _CHUNK) -> _RangeReader:
        want = _TAIL if size is None else min(_TAIL, size)
        data, total, partial = client._range(url, f"bytes=-{want}")
        total = total if total is not None else size
        if total is None:
            if partial:
                raise BadDistribution(f"{url}: a partial answer without the file's size")
            total = len(data)
        start = total - len(data) if partial else 0
        return cls(client, url, total, [(start, data)], chunk)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill the buffer completely (up to the end of the file): zipfile does not retry short reads."""
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        done = 0
        while done < want:
            chunk = self._slice(self._pos, want - done)
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def _slice(self, pos: int, n: int) -> bytes:
        for start, data in self._pieces:
            if start <= pos < start + len(data):
                return data[pos - start : pos - start + n]
        end = min(self._size, pos + max(n, self._chunk)) - 1
        # stop at the next piece we already hold
        later = [s for s, _ in self._pieces if s > pos]
        if later:
            end = min(end, min(later) - 1)
        data, _, partial = self._client._range(self._url, f"bytes={pos}-{end}")
        if not partial:
            self._pieces = [(0, data)]
            return data[pos : pos + n]
        self._pieces.append((pos, data))
        if len(self._pieces) > 16:  # streaming a large member: keep the tail read and the recent pieces
            self._pieces = self._pieces[:1] + self._pieces[-8:]
        return data[:n]


class _StreamReader(io.RawIOBase):
    """A forward-only file over an iterator of byte chunks (an HTTP body being downloaded)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def read_wheel_metadata(zf: zipfile.ZipFile, filename: str) -> str:
    """The text of the wheel's ``<name>-<version>.dist-info/METADATA`` (the top-level one)."""
    names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if not names:
        raise BadDistribution(f"{filename}: no *.dist-info/METADATA in the wheel")
    if len(names) > 1:
        dist = filename.split("-")[0].lower()
        names = [n for n in names if n.split("-")[0].lower() == dist] or names
    return _member_text(zf, names[0], filename)


def _member_text(zf: zipfile.ZipFile, name: str, filename: str) -> str:
    info = zf.getinfo(name)
    if info.file_size > _MAX_MEMBER:
        raise BadDistribution(f"{filename}: {name} is {info.file_size} bytes")
    try:
        return zf.read(name).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as e:
        raise BadDistribution(f"{filename}: cannot read {name} ({e})") from e


def _is_top_pkg_info(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _is_top_requires(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 3 and parts[1].endswith(".egg-info") and parts[2] == "requires.txt"


def _sdist_zip_members(zf: zipfile.ZipFile, filename: str) -> tuple[str, str | None]:
    pkg = [n for n in zf.namelist() if _is_top_pkg_info(n)]
    if not pkg:
        raise BadDistribution(f"{filename}: no PKG-INFO in the sdist")
    req = [n for n in zf.namelist() if _is_top_requires(n)]
    return _member_text(zf, pkg[0], filename), (_member_text(zf, req[0], filename) if req else None)


def _has_requirements(pkg_info: str) -> bool:
    msg = _HEADERS.parsestr(headers_only(pkg_info))
    return bool(_all(msg, "Requires-Dist") or _all(msg, "Provides-Extra"))


def _sdist_tar_members(stream: IO[bytes], filename: str) -> tuple[str, str | None]:
    """Scan a .tar.gz sdist as it downloads; stop as soon as the metadata is known."""
    pkg_info: str | None = None
    requires: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tf:
            for member in tf:
                if not member.isfile() or member.size > _MAX_MEMBER:
                    continue
                if pkg_info is None and _is_top_pkg_info(member.name):
                    f = tf.extractfile(member)
                    pkg_info = f.read().decode("utf-8", errors="replace") if f else ""
                    if _has_requirements(pkg_info):
                        break
                elif requires is None and _is_top_requires(member.name):
                    f = tf.extractfile(member)
                    requires = f.read().decode("utf-8", errors="replace") if f else ""
                if pkg_info is not None and requires is not None:
                    break
    except (tarfile.TarError, zlib.error, EOFError, OSError) as e:  # httpx errors pass through: retried
        raise BadDistribution(f"{filename}: not a readable .tar.gz ({e})") from e
    if pkg_info is None:
        raise BadDistribution(f"{filename}: no PKG-INFO in the sdist")
    return pkg_info, requires
