"""What check knows of a package's releases: Requires-Python, the tags of its wheels, whether it has an sdist.

Offline, the pins snapshot in use (bundled, or the user's from ``llmenv kb refresh``) answers for the packages it
tracks; with ``--online`` the index's PEP 691 pages (``llmenv.pypi``) answer for every package the project names.
A package neither knows is *unknown*: rules then say "not checked", never guess. A direct URL to a wheel is a
release of its own, known from the file name alone (its tags; no sdist).

Every release is the pins snapshot's ``PinnedRelease`` (STATUS interface #2): the index's files and a URL wheel
are put in the snapshot's form and read by its reader, so ``release.pythons(os, arch, candidates)`` — the Python
minors some wheel installs on, or all that requires-python allows when it has an sdist or its files are
unknown — means the same whatever answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.knowledge.pins import PinnedRelease
from llmenv.knowledge.pins import installs_on as _installs_on

if TYPE_CHECKING:
    from llmenv.knowledge.pins import Pins
    from llmenv.pypi import DistFile, PyPIClient

__all__ = ["Catalog", "Release", "installs_on", "releases_matching", "url_wheel"]

Release = PinnedRelease


def installs_on(tags: Iterable[Tag], os: str, arch: str, python: str) -> bool:
    """Does a wheel with one of ``tags`` install on CPython ``python`` for ``os`` ("linux" | "darwin" |
    "windows") and ``arch`` ("x86_64" | "aarch64" | "arm64")? (The pins snapshot's own test.)"""
    return _installs_on(tags, os, arch, python)


def _release(name: str, version: str, entry: dict[str, Any]) -> Release:
    """A release in the snapshot's form (``wheels``: "py-abi-platform" triples; ``sdist``), read by its reader."""
    return PinnedRelease.from_dict(name, version, {"requires_dist": [], **entry})


def url_wheel(url: str) -> tuple[str, Release] | None:
    """``(name, release)`` of a direct URL (or path) to a wheel, from its file name; None for anything else."""
    from urllib.parse import unquote, urlsplit

    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        return None
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    wheels = sorted(str(t) for t in tags)
    return str(name), _release(str(name), str(version), {"wheels": wheels, "sdist": False, "file": filename})


def _from_files(name: str, files: Sequence[DistFile]) -> Release:
    """A release as the index's files say: their tags, an sdist or not, the Requires-Python most of them carry."""
    tags: set[str] = set()
    for f in files:
        if f.kind == "wheel":
            try:
                tags |= {str(t) for t in parse_wheel_filename(f.filename)[3]}
            except (InvalidWheelFilename, InvalidVersion):
                continue
    rps = [f.requires_python for f in files if f.requires_python]
    entry = {
        "requires_python": max(set(rps), key=rps.count) if rps else None,
        "yanked": all(f.yanked for f in files),
        "wheels": sorted(tags),
        "sdist": any(f.kind == "sdist" for f in files),
    }
    return _release(name, str(files[0].version), entry)


@dataclass
class Catalog:
    """Releases per package: the index's when ``client`` is given and the page was read, else the snapshot's."""

    pins: Pins | None = None
    client: PyPIClient | None = None
    jobs: int = 8
    failures: dict[str, str] = field(default_factory=dict)  # package -> why the index did not answer
    _online: dict[str, tuple[Release, ...]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def bundled(cls) -> Catalog:
        from llmenv.knowledge.pins import load_pins

        return cls(pins=load_pins())

    @property
    def online(self) -> bool:
        return self.client is not None

    @property
    def index(self) -> str:
        if self.client is not None:
            return self.client.index_url
        return (
            f"the pins snapshot ({self.pins.origin}, {self.pins.generated[:10]})" if self.pins else "nothing"
        )

    def prefetch(self, names: Iterable[str]) -> None:
        """Read the index page of each package (concurrently); failures are kept in ``failures``."""
        if self.client is None:
            return
        todo = sorted({canonicalize_name(n) for n in names} - set(self._online) - set(self.failures))
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            list(pool.map(self._fetch, todo))

    def _fetch(self, name: str) -> None:
        from llmenv.pypi import PyPIError

        assert self.client is not None
        try:
            project = self.client.project(name)
        except PyPIError as e:
            with self._lock:
                self.failures[name] = str(e)
            return
        releases = tuple(_from_files(name, fs) for fs in project.releases().values() if fs)
        with self._lock:
            self._online[name] = releases

    def releases(self, name: str) -> tuple[Release, ...] | None:
        """Newest first; None when nothing known answers for ``name``."""
        key = canonicalize_name(name)
        if self.client is not None and key not in self._online and key not in self.failures:
            self._fetch(key)
        if key in self._online:
            return self._online[key]
        if self.pins is not None and key in self.pins.names():
            return self.pins.releases(key)
        return None

    def release(self, name: str, version: Version) -> Release | None:
        for r in self.releases(name) or ():
            if r.version == version:
                return r
        return None

    def knows(self, name: str) -> bool:
        return self.releases(name) is not None


def releases_matching(releases: Iterable[Release], spec: SpecifierSet) -> list[Release]:
    """The releases a requirement allows, as uv would consider them (yanked ones only when pinned exactly)."""
    exact = any(s.operator in ("==", "===") and not s.version.endswith(".*") for s in spec)
    return [r for r in releases if spec.contains(r.version) and (exact or not r.yanked)]
