"""The wheel sources llmenv knows, as typed data (``knowledge/data/wheel_sources.json``, read once).

A source is a place prebuilt wheels come from, with a *format*:

- ``simple-index``: project pages under a channel (``https://wheels.astral.sh/simple/cu128/flash-attn/``), in
  PEP 691 JSON and/or PEP 503 HTML; uv uses it as an ``[[tool.uv.index]]`` (hash-locked, mirrorable, and with
  upload times it honours exclude-newer);
- ``flat``: one page or folder listing wheel files (``find-links``; uv's ``format = "flat"``);
- ``release-assets``: GitHub release assets, listed by the releases API, installed by direct URL.

Index sources come before direct URLs (``rank``) when the planner has a choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.knowledge import read_data

__all__ = ["FORMATS", "GITHUB", "GITHUB_API", "WheelSource", "load_sources", "proxied", "source"]

FORMATS = ("simple-index", "flat", "release-assets")
GITHUB = "https://github.com"
GITHUB_API = "https://api.github.com"


def proxied(url: str, proxy: str | None) -> str:
    """``url`` through a GitHub proxy that takes the full URL after its own (``https://gh-proxy.com/https://...``)."""
    return f"{proxy.rstrip('/')}/{url}" if proxy else url


@dataclass(frozen=True, kw_only=True)
class WheelSource:
    id: str
    title: str
    format: str
    packages: tuple[str, ...]  # canonical names
    dialects: tuple[str, ...]
    trust: str
    status: str
    evidence: str
    uv: str
    mirror: Mapping[str, Any]
    index: str | None = None  # URL template with {channel} (and {version} for vLLM)
    channels: tuple[str, ...] = ()
    api: tuple[str, ...] = ()
    repo: str | None = None  # GitHub owner/name of release-assets sources
    download: str | None = None
    tag: str | None = None  # release tag template ("v{version}"), None when tags are not versions
    hashes: bool | None = None
    upload_time: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)  # per-source facts (pypi_cuda, stable_abi, ...)

    @property
    def is_index(self) -> bool:
        return self.format == "simple-index"

    @property
    def rank(self) -> int:
        """Lower is preferred: an index (hash-locked, mirrorable) before a flat page before direct URLs."""
        return FORMATS.index(self.format)

    @property
    def per_version(self) -> bool:
        """The index URL has a ``{version}`` folder (vLLM): one index per release and variant."""
        return bool(self.index and "{version}" in self.index)

    def index_url(self, channel: str, version: str | None = None) -> str:
        """The index URL of one channel (``cu128``), and of one release for a per-version index."""
        if self.index is None:
            raise ValueError(f"{self.id} is not an index")
        if self.per_version and version is None:
            raise ValueError(f"{self.id}: the index is per version; give the version")
        return self.index.format(channel=channel, version=version or "")

    def download_url(self, tag: str, filename: str, *, github_proxy: str | None = None) -> str:
        """A release asset's URL (through ``github_proxy`` when given)."""
        if self.download is None or self.repo is None:
            raise ValueError(f"{self.id} has no release assets")
        return proxied(self.download.format(repo=self.repo, tag=tag, filename=filename), github_proxy)

    def releases_api(self, *, api: str = GITHUB_API, github_proxy: str | None = None) -> str:
        """The GitHub REST endpoint listing this source's releases (first page)."""
        if self.repo is None:
            raise ValueError(f"{self.id} is not a GitHub release source")
        return proxied(f"{api.rstrip('/')}/repos/{self.repo}/releases?per_page=100", github_proxy)

    def serves(self, package: str) -> bool:
        return canonicalize_name(package) in self.packages

    def same_index_groups(self) -> tuple[tuple[str, ...], ...]:
        """Packages that must all come from this one index (the transformer-engine trio)."""
        return tuple(tuple(canonicalize_name(n) for n in g) for g in self.extra.get("same_index", ()))

    def vllm_channel(self, version: Version) -> str | None:
        """For Astral's mirror of upstream vLLM: the channel its unlabeled wheel of ``version`` goes to."""
        for rule in self.extra.get("vllm_channels", ()):
            if SpecifierSet(rule["versions"]).contains(version, prereleases=True):
                return str(rule["channel"])
        return None

    def pypi_cuda(self, version: Version) -> tuple[str | None, str] | None:
        """vLLM: (the CUDA of the PyPI wheel of ``version`` or None if unknown, its status); None: no rule."""
        for rule in self.extra.get("pypi_cuda", ()):
            if SpecifierSet(rule["versions"]).contains(version, prereleases=True):
                return rule["cuda"], str(rule["status"])
        return None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WheelSource:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        if d["format"] not in FORMATS:
            raise ValueError(f"wheel source {d.get('id')}: unknown format {d['format']!r}")
        return cls(
            id=d["id"],
            title=d["title"],
            format=d["format"],
            packages=tuple(canonicalize_name(p) for p in d["packages"]),
            dialects=tuple(d["dialects"]),
            trust=d["trust"],
            status=d["status"],
            evidence=d["evidence"],
            uv=d["uv"],
            mirror=dict(d["mirror"]),
            index=d.get("index"),
            channels=tuple(d.get("channels", ())),
            api=tuple(d.get("api", ())),
            repo=d.get("repo"),
            download=d.get("download"),
            tag=d.get("tag"),
            hashes=d.get("hashes"),
            upload_time=bool(d.get("upload_time", False)),
            extra={k: v for k, v in d.items() if k not in known},
        )


@cache
def load_sources() -> tuple[WheelSource, ...]:
    """Every known source, preferred first (indexes, then flat pages, then release assets; file order within)."""
    data = read_data("wheel_sources.json")
    out = [WheelSource.from_dict(d) for d in data["wheel_sources"]]
    return tuple(sorted(out, key=lambda s: s.rank))


def source(source_id: str) -> WheelSource:
    """The source with this id; KeyError when there is none."""
    for s in load_sources():
        if s.id == source_id:
            return s
    raise KeyError(source_id)
