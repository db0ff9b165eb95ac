"""What each wheel source offers: the listings snapshot (schema 1) and its typed view.

The snapshot is one JSON object; per source id it holds where the listing came from and its files::

    {"schema": 1, "generated": "2026-12-01T00:00:00Z",
     "sources": {"astral": {"origin": "refresh", "read": "2026-12-01T00:00:00Z",
                            "from": "https://wheels.astral.sh/simple/{channel}/ (PEP 691)", "status": "V",
                            "files": [{"at": "cu128", "file": "flash_attn-2.8.3+cu.12.8.torch.2.8-...whl",
                                       "sha256": "…", "uploaded": "2026-06-23T…", "torch": ">=2.9"}, …]}}}

``at`` is where the file sits: the channel of an index (``cu128``; ``0.18.0/cu130`` for vLLM's per-version
index), the release tag of a GitHub release asset (``v2.8.3``), "" in a flat folder. ``origin`` is ``refresh``
(read from the source by ``kb refresh``), ``facts`` (made from the cited facts because the host could not be
reached: the files are what the producer's configuration says it publishes), or ``none`` (nothing known).

The bundled snapshot is ``knowledge/data/wheel_listings.json``, the knowledge loader's ``wheel-sources`` table: a
refreshed one in the user data directory (``wheel_listings.json``) takes precedence when present and valid.
Files are normalized lazily, per package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from llmenv.knowledge import load as load_knowledge
from llmenv.knowledge import user_data_dir
from llmenv.sources.catalog import WheelSource, load_sources
from llmenv.sources.normalize import WheelBuild, parse_wheel

__all__ = [
    "LISTINGS_NAME",
    "SCHEMA",
    "ListedWheel",
    "Listings",
    "ListingsError",
    "SourceListing",
    "dumps",
    "load_listings",
    "parse_listings",
    "read_listings",
    "summary",
    "user_listings_path",
    "validate",
    "write_listings",
]

SCHEMA = 1
LISTINGS_NAME = "wheel_listings.json"
ORIGINS = ("refresh", "facts", "none")


class ListingsError(ValueError):
    """A listings snapshot that cannot be used (not JSON, wrong schema, malformed entries)."""


def _package_of(filename: str) -> str:
    return canonicalize_name(filename.split("-", 1)[0])


_TORCH_IN_NAME = re.compile(r"torch\.?(\d+\.\d+)(?!\d)")


@lru_cache(maxsize=65536)
def _torch_in_name(filename: str) -> str | None:
    _, _, local = filename.split("-", 2)[1].partition("+")
    m = _TORCH_IN_NAME.search(local)
    return m.group(1) if m is not None else None


def _for_torch(filename: str, minor: str) -> bool:
    """Is the file for torch ``minor`` by its local version, or does the name tie it to no torch minor?"""
    got = _torch_in_name(filename)
    return got is None or got == minor


@dataclass(frozen=True, kw_only=True)
class ListedWheel:
    """One wheel a source lists. ``build`` is the normalized file name (parsed on first use)."""

    source: str
    at: str
    filename: str
    sha256: str | None = None
    uploaded: str | None = None
    torch_requirement: str | None = None  # the wheel metadata's torch requirement, when the listing read it
    url: str | None = None  # where the file is, when it is not the source's own template (a --wheels source)
    channel: str | None = None  # the index channel (``cu128``) of an index source's file; None otherwise

    @cached_property
    def build(self) -> WheelBuild | None:
        return _parse(self.filename, self.channel, self.torch_requirement)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"at": self.at, "file": self.filename}
        for k, v in (
            ("sha256", self.sha256),
            ("uploaded", self.uploaded),
            ("torch", self.torch_requirement),
            ("url", self.url),
        ):
            if v:
                d[k] = v
        return d


def _listed(sid: str, index: bool, f: Mapping[str, Any]) -> ListedWheel:
    at = str(f.get("at", ""))
    return ListedWheel(
        source=sid,
        at=at,
        filename=str(f["file"]),
        sha256=f.get("sha256"),
        uploaded=f.get("uploaded"),
        torch_requirement=f.get("torch"),
        url=f.get("url"),
        channel=at.rsplit("/", 1)[-1] if index and at else None,
    )


@lru_cache(maxsize=65536)
def _parse(filename: str, channel: str | None, torch: str | None) -> WheelBuild | None:
    return parse_wheel(filename, channel=channel, torch_requirement=torch)


@dataclass(frozen=True, kw_only=True)
class SourceListing:
    source: str
    origin: str  # "refresh" | "facts" | "none"
    read: str | None
    origin_detail: str  # the URL read, or the facts file and commit
    status: str
    files: tuple[Mapping[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "read": self.read,
            "from": self.origin_detail,
            "status": self.status,
            "files": [dict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, source_id: str, d: Mapping[str, Any]) -> SourceListing:
        return cls(
            source=source_id,
            origin=str(d["origin"]),
            read=d.get("read"),
            origin_detail=str(d.get("from", "")),
            status=str(d.get("status", "")),
            files=tuple(d.get("files", ())),
        )


@dataclass(frozen=True, kw_only=True)
class Listings:
    """The listings in use: per source, its files; ``wheels(package)`` across sources, preferred source first."""

    origin: str  # "bundled" | "user" | "file"
    path: Path | None
    generated: str | None
    sources: Mapping[str, SourceListing]
    ignored: str | None = None  # why a user snapshot was not used
    # package -> its files as (source id, is the source an index, the file's entry), read in one pass; the
    # ListedWheel objects are made per (package, source, torch minor) asked for, once
    _by_package: dict[str, list[tuple[str, bool, Mapping[str, Any]]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _made: dict[tuple[str, str | None, str | None], tuple[ListedWheel, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def wheels(
        self, package: str, *, source: str | None = None, torch_minor: str | None = None
    ) -> tuple[ListedWheel, ...]:
        """Every listed wheel of ``package`` (sources in catalog order), or of one ``source``.

        ``torch_minor`` (``2.8``) keeps only the wheels whose name is for that torch minor or names none — a
        text test before any parsing, so a provider normalizes a few hundred names, not thousands.
        """
        name = canonicalize_name(package)
        key = (name, source, torch_minor)
        got = self._made.get(key)
        if got is None:
            if not self._by_package:
                self._by_package.update(self._collect())
            got = self._made[key] = tuple(
                _listed(sid, index, f)
                for sid, index, f in self._by_package.get(name, ())
                if (source is None or sid == source) and (torch_minor is None or _for_torch(f["file"], torch_minor))
            )
        return got

    def versions(self, package: str, *, source: str | None = None) -> frozenset[str]:
        """The public versions listed for ``package`` (of one ``source``), as written in the file names."""
        return frozenset(n.split("-", 2)[1].split("+", 1)[0] for n in self.filenames(package, source=source))

    def filenames(self, package: str, *, source: str | None = None) -> tuple[str, ...]:
        """The file names listed for ``package`` (of one ``source``), as text: nothing is parsed or built."""
        if not self._by_package:
            self._by_package.update(self._collect())
        return tuple(
            str(f["file"])
            for sid, _, f in self._by_package.get(canonicalize_name(package), ())
            if source is None or sid == source
        )

    def _collect(self) -> dict[str, list[tuple[str, bool, Mapping[str, Any]]]]:
        catalog = {s.id: s for s in load_sources()}
        order = {sid: i for i, sid in enumerate(catalog)}
        out: dict[str, list[tuple[str, bool, Mapping[str, Any]]]] = {}
        names: dict[str, str] = {}  # a file name's first part -> the canonical project name (few distinct ones)
        for sid in sorted(self.sources, key=lambda s: order.get(s, len(order))):
            index = sid in catalog and catalog[sid].is_index
            for f in self.sources[sid].files:
                head = str(f["file"]).split("-", 1)[0]
                name = names.get(head) or names.setdefault(head, canonicalize_name(head))
                out.setdefault(name, []).append((sid, index, f))
        return out

    def listing(self, source: str) -> SourceListing | None:
        return self.sources.get(source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "generated": self.generated,
            "sources": {sid: s.to_dict() for sid, s in self.sources.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, origin: str, path: Path | None = None) -> Listings:
        validate(d)
        return cls(
            origin=origin,
            path=path,
            generated=d.get("generated"),
            sources={sid: SourceListing.from_dict(sid, s) for sid, s in d["sources"].items()},
        )

    def check(self) -> None:
        """Raise ListingsError unless every entry is well formed (the knowledge loader asks a user's copy)."""
        validate(self.to_dict())

    def with_info(self, info: Any) -> Listings:
        """The same listings, saying where the knowledge loader found them (a ``TableInfo``)."""
        return replace(self, origin=info.origin, path=info.path, ignored=info.ignored)


def validate(d: Any) -> None:
    """Raise ListingsError unless ``d`` is a schema-1 listings snapshot."""
    if not isinstance(d, Mapping):
        raise ListingsError("not a JSON object")
    if d.get("schema") != SCHEMA:
        raise ListingsError(f"schema {d.get('schema')!r}, expected {SCHEMA}")
    srcs = d.get("sources")
    if not isinstance(srcs, Mapping):
        raise ListingsError("sources: not an object")
    for sid, s in srcs.items():
        if not isinstance(s, Mapping) or s.get("origin") not in ORIGINS:
            raise ListingsError(f"sources.{sid}.origin: expected one of {', '.join(ORIGINS)}")
        files = s.get("files")
        if not isinstance(files, list):
            raise ListingsError(f"sources.{sid}.files: not a list")
        for i, f in enumerate(files):
            if (
                not isinstance(f, Mapping)
                or not isinstance(f.get("file"), str)
                or not f["file"].endswith(".whl")
            ):
                raise ListingsError(f"sources.{sid}.files[{i}]: expected {{'at': ..., 'file': '<name>.whl'}}")


def user_listings_path(environ: Mapping[str, str] | None = None) -> Path:
    return user_data_dir(environ) / LISTINGS_NAME


def read_listings(path: Path, *, origin: str = "file") -> Listings:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ListingsError(f"not JSON ({e})") from e
    return Listings.from_dict(d, origin=origin, path=path)


def parse_listings(d: Any) -> Listings:
    """The knowledge loader's parser of the ``wheel-sources`` table. The bundled snapshot is validated by the
    tests and by the command that writes it, not at each plan; a user's copy is checked in full (``check``)."""
    if not isinstance(d, Mapping) or d.get("schema") != SCHEMA or not isinstance(d.get("sources"), Mapping):
        validate(d)
    return Listings(
        origin="bundled",
        path=None,
        generated=d.get("generated"),
        sources={sid: SourceListing.from_dict(sid, x) for sid, x in d["sources"].items()},
    )


def load_listings(environ: Mapping[str, str] | None = None) -> Listings:
    """The listings in use (the knowledge loader's ``wheel-sources`` table): the user's refreshed snapshot
    when present and valid, else the bundled one."""
    kb = load_knowledge(user_data_dir(environ)) if environ is not None else load_knowledge()
    got: Listings = kb.table("wheel-sources")
    return got


def dumps(snapshot: Mapping[str, Any]) -> str:
    """The snapshot's bytes: one file per line, so a refresh reads as a small diff."""
    lines = ["{"]
    for k, v in snapshot.items():
        if k != "sources":
            lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "sources": {')
    items = list(snapshot["sources"].items())
    for i, (sid, s) in enumerate(items):
        lines.append(f"    {json.dumps(sid)}: {{")
        for k, v in s.items():
            if k != "files":
                lines.append(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
        files = s.get("files", [])
        if not files:
            lines.append('      "files": []')
        else:
            lines.append('      "files": [')
            for j, f in enumerate(files):
                comma = "," if j < len(files) - 1 else ""
                lines.append(f"        {json.dumps(f, ensure_ascii=False)}{comma}")
            lines.append("      ]")
        lines.append("    }" + ("," if i < len(items) - 1 else ""))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_listings(path: Path, snapshot: Mapping[str, Any]) -> None:
    """Validate, then write atomically."""
    from llmenv.files import write_text_atomic  # the write path only: planning reads the listings

    validate(snapshot)
    write_text_atomic(path, dumps(snapshot))


def summary(listings: Listings, sources: Iterable[WheelSource] | None = None) -> list[str]:
    """One line per source: id, origin, date, file count, packages."""
    lines = []
    for s in sources or load_sources():
        got = listings.sources.get(s.id)
        if got is None:
            lines.append(f"{s.id}: not in the snapshot")
            continue
        pkgs = sorted({_package_of(str(f["file"])) for f in got.files})
        when = f" {got.read[:10]}" if got.read else ""
        lines.append(
            f"{s.id}: {got.origin}{when}, {len(got.files)} files" + (f" ({', '.join(pkgs)})" if pkgs else "")
        )
    return lines
