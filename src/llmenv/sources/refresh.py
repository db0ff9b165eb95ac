"""Refresh the wheel listings from the sources themselves, all or nothing per source.

For each source in the catalog:

- ``simple-index``: each channel's root page (PEP 691 JSON or PEP 503 HTML) for the projects it has, then the
  project page of each package the source serves (files, sha256, upload times); for a wheel whose name ties it
  to no torch (a stable-ABI build) the PEP 658 ``.metadata`` is read, when offered, for its torch requirement.
  vLLM's per-version index is read per (release, variant): the releases come from the caller (the pins
  snapshot's vllm versions by default).
- ``release-assets``: the GitHub releases API (``--github-proxy`` prefixes it), every ``.whl`` asset.

A source whose every request succeeded replaces its listing; one failing request fails the whole source, which
then keeps its previous listing — or, when a facts folder is given (making the bundled snapshot), the listing
made from the facts (``llmenv.sources.facts``). A 404 is an answer (no such channel / project / variant), not a
failure. Nothing is written here: ``write_listings`` writes the result atomically.
"""

from __future__ import annotations

import email.parser
import email.policy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
from packaging.version import InvalidVersion, Version

from llmenv.sources.catalog import GITHUB_API, WheelSource, load_sources
from llmenv.sources.facts import FACTS_LISTINGS, facts_listing
from llmenv.sources.fetch import Fetcher, FetchError
from llmenv.sources.index import IndexFile, read_project, read_root
from llmenv.sources.listing import SCHEMA
from llmenv.sources.local import torch_requirement
from llmenv.sources.normalize import parse_wheel
from llmenv.sources.releases import read_releases

__all__ = ["ListingsRefresh", "refresh_listings", "refresh_source"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class ListingsRefresh:
    """The refreshed snapshot (always complete) and what happened to each source."""

    snapshot: dict[str, Any]
    refreshed: tuple[str, ...]
    failures: Mapping[str, str]
    kept: tuple[str, ...] = ()  # failed sources that kept their previous listing
    from_facts: tuple[str, ...] = ()  # failed sources rebuilt from the facts
    requests: int = 0
    files: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return list(pool.map(fn, items))


def _torch_of(fetcher: Fetcher, f: IndexFile) -> str | None:
    """A stable-ABI wheel's torch requirement from its PEP 658 metadata (None when not offered or not said)."""
    build = parse_wheel(f.filename)
    if build is None or build.local.torch is not None or not f.metadata:
        return None
    resp = fetcher.get(f.url + ".metadata")
    assert resp is not None
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(resp.text, headersonly=True)
    return torch_requirement(msg.get_all("Requires-Dist") or [])


def _row(at: str, f: IndexFile, torch: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {"at": at, "file": f.filename}
    if f.sha256:
        d["sha256"] = f.sha256
    if f.uploaded:
        d["uploaded"] = f.uploaded
    if torch:
        d["torch"] = torch
    return d


def _index_rows(
    fetcher: Fetcher, pool: ThreadPoolExecutor, pages: Sequence[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    """Rows of the project pages ``(at, index URL, project)``; a missing page has none."""
    got = _map(pool, lambda p: (p[0], read_project(fetcher, p[1], p[2])), pages)
    files = [(at, f) for at, fs in got for f in fs or () if not f.yanked]
    torches = _map(pool, lambda af: _torch_of(fetcher, af[1]), files)
    return [_row(at, f, t) for (at, f), t in zip(files, torches, strict=True)]


def _simple_index(fetcher: Fetcher, pool: ThreadPoolExecutor, src: WheelSource) -> list[dict[str, Any]]:
    roots = _map(pool, lambda ch: read_root(fetcher, src.index_url(ch)), list(src.channels))
    pages = []
    for ch, projects in zip(src.channels, roots, strict=True):
        if projects is None:
            continue  # no such channel (yet)
        wanted = [p for p in src.packages if not projects or p in projects]
        pages += [(ch, src.index_url(ch), p) for p in wanted]
    return _index_rows(fetcher, pool, pages)


def _per_version_index(
    fetcher: Fetcher, pool: ThreadPoolExecutor, src: WheelSource, versions: Iterable[str]
) -> list[dict[str, Any]]:
    pages = [
        (f"{v}/{ch}", src.index_url(ch, v), p) for v in versions for ch in src.channels for p in src.packages
    ]
    return _index_rows(fetcher, pool, pages)


def _release_assets(
    fetcher: Fetcher, src: WheelSource, *, api: str, github_proxy: str | None
) -> list[dict[str, Any]]:
    rows = []
    for a in read_releases(fetcher, src, api=api, github_proxy=github_proxy):
        if not a.name.endswith(".whl"):
            continue
        d: dict[str, Any] = {"at": a.tag, "file": a.name}
        if a.sha256:
            d["sha256"] = a.sha256
        if a.uploaded:
            d["uploaded"] = a.uploaded
        rows.append(d)
    return sorted(rows, key=lambda r: (r["at"], r["file"]))


def refresh_source(
    fetcher: Fetcher,
    src: WheelSource,
    *,
    pool: ThreadPoolExecutor,
    github_proxy: str | None = None,
    github_api: str = GITHUB_API,
    versions: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Every file the source lists now. FetchError (or an httpx error) when any request fails."""
    if src.format == "release-assets":
        return _release_assets(fetcher, src, api=github_api, github_proxy=github_proxy)
    if src.per_version:
        return _per_version_index(fetcher, pool, src, versions)
    return _simple_index(fetcher, pool, src)


def _describe(src: WheelSource, github_proxy: str | None, github_api: str) -> str:
    if src.format == "release-assets":
        return src.releases_api(api=github_api, github_proxy=github_proxy) + " (GitHub releases API)"
    return f"{src.index} ({'/'.join(src.api) or 'simple'})"


def _default_versions() -> list[str]:
    """vLLM releases the pins snapshot knows, from 0.9 (before it no variant folders are known)."""
    from llmenv.knowledge.pins import load_pins

    out = []
    for r in load_pins().releases("vllm"):
        try:
            if Version(str(r.version)) >= Version("0.9"):
                out.append(str(r.version))
        except InvalidVersion:
            continue
    return out


def refresh_listings(
    http: httpx.Client,
    *,
    sources: Iterable[str] | None = None,
    github_proxy: str | None = None,
    github_api: str = GITHUB_API,
    previous: Mapping[str, Any] | None = None,
    facts: Path | None = None,
    versions: Iterable[str] | None = None,
    mirrors: Mapping[str, str] | None = None,
    retries: int = 3,
    sleep: Callable[[float], None] | None = None,
    jobs: int = 8,
    now: Callable[[], datetime] = _now,
) -> ListingsRefresh:
    """Refresh the listings of ``sources`` (default: all). Unknown source ids raise KeyError.

    ``mirrors``: source id -> a mirror of its index, as a URL template like the source's own
    (``https://mirror.example/astral/{channel}/``): the listing is read there, under the source's id.
    """
    catalog = {s.id: s for s in load_sources()}
    wanted = list(catalog) if sources is None else list(sources)
    for sid in [*wanted, *(mirrors or {})]:
        if sid not in catalog:
            raise KeyError(sid)
    for sid, url in (mirrors or {}).items():
        if not catalog[sid].is_index or ("{version}" in (catalog[sid].index or "")) != ("{version}" in url):
            raise ValueError(
                f"{sid}: a mirror must be an index URL with the same placeholders as {catalog[sid].index}"
            )
        catalog[sid] = replace(catalog[sid], index=url)
    requests = 0
    prev = dict((previous or {}).get("sources", {}))
    out: dict[str, Any] = dict(prev)
    refreshed: list[str] = []
    failures: dict[str, str] = {}
    kept: list[str] = []
    from_facts: list[str] = []
    vers = list(versions) if versions is not None else None
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="llmenv-sources") as pool:
        for sid in wanted:
            src = catalog[sid]
            fetcher = Fetcher(http, retries=retries, sleep=sleep or time.sleep)
            try:
                if src.per_version and vers is None:
                    vers = _default_versions()
                rows = refresh_source(
                    fetcher,
                    src,
                    pool=pool,
                    github_proxy=github_proxy,
                    github_api=github_api,
                    versions=vers or (),
                )
            except (FetchError, httpx.HTTPError) as e:
                requests += fetcher.requests
                failures[sid] = str(e) or type(e).__name__
                if facts is not None and sid in FACTS_LISTINGS:
                    out[sid] = facts_listing(sid, facts)
                    from_facts.append(sid)
                elif sid in prev:
                    kept.append(sid)
                else:
                    out[sid] = {"origin": "none", "read": None, "from": "", "status": "not read", "files": []}
                continue
            requests += fetcher.requests
            out[sid] = {
                "origin": "refresh",
                "read": _stamp(now()),
                "from": _describe(src, github_proxy, github_api),
                "status": "V: listed by the source",
                "files": rows,
            }
            refreshed.append(sid)
    ordered = {sid: out[sid] for sid in [*catalog, *sorted(set(out) - set(catalog))] if sid in out}
    snapshot = {"schema": SCHEMA, "generated": _stamp(now()), "sources": ordered}
    return ListingsRefresh(
        snapshot=snapshot,
        refreshed=tuple(refreshed),
        failures=failures,
        kept=tuple(kept),
        from_facts=tuple(from_facts),
        requests=requests,
        files={sid: len(s["files"]) for sid, s in ordered.items()},
    )
