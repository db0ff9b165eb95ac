"""What check knows of a package's releases: Requires-Python, the tags of its wheels, whether it has an sdist.

Offline, the pins snapshot in use (bundled, or the user's from ``llmenv kb refresh``) answers for the packages it
tracks; with ``--online`` the index's PEP 691 pages (``llmenv.pypi``) answer for every package the project names.
A package neither knows is *unknown*: rules then say "not checked", never guess. A direct URL to a wheel is a
release of its own, known from the file name alone (its tags; no sdist).

``Release.pythons(os, arch, candidates)`` is the accessor of the pins snapshot's releases (STATUS interface #2):
the Python minors among ``candidates`` that some wheel installs on, or all that requires-python allows when the
release has an sdist or its files are unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from llmenv.knowledge.pins import Pins
    from llmenv.pypi import DistFile, PyPIClient

__all__ = ["Catalog", "Release", "installs_on", "releases_matching", "url_wheel"]

# Linux wheels: any glibc counts (the question is "is there a wheel for this Python", not "for this libc").
_MANYLINUX = [f"manylinux_2_{m}" for m in range(45, 4, -1)] + ["manylinux2014", "manylinux2010", "manylinux1"]
_MUSL = [f"musllinux_1_{m}" for m in range(3, -1, -1)]
_MAC = [f"macosx_{major}_0" for major in range(26, 10, -1)] + [f"macosx_10_{m}" for m in range(16, 8, -1)]
_MAC_ARCHES = {"arm64": ("arm64", "universal2"), "x86_64": ("x86_64", "intel", "universal2", "universal")}
_WINDOWS = {"x86_64": "win_amd64", "amd64": "win_amd64", "arm64": "win_arm64", "aarch64": "win_arm64"}


def _platforms(os: str, arch: str) -> list[str]:
    if os == "linux":
        return [f"{p}_{arch}" for p in (*_MANYLINUX, *_MUSL)] + [f"linux_{arch}"]
    if os == "darwin":
        return [f"{p}_{a}" for p in _MAC for a in _MAC_ARCHES.get(arch, (arch,))]
    if os == "windows":
        return [_WINDOWS.get(arch.lower(), "win32")]
    return []


@lru_cache(maxsize=64)
def _supported(os: str, arch: str, python: str) -> frozenset[Tag]:
    """Every tag a CPython ``python`` ("3.12") on ``os`` / ``arch`` accepts (packaging.tags' own lists)."""
    version = tuple(int(x) for x in python.split(".")[:2])
    platforms = _platforms(os, arch)
    interpreter = f"cp{version[0]}{version[1]}"
    return frozenset(cpython_tags(version, platforms=platforms)) | frozenset(
        compatible_tags(version, interpreter, platforms)
    )


def installs_on(tags: Iterable[Tag], os: str, arch: str, python: str) -> bool:
    """Does a wheel with one of ``tags`` install on CPython ``python`` for ``os`` ("linux" | "darwin" |
    "windows") and ``arch`` ("x86_64" | "aarch64" | "arm64")?"""
    supported = _supported(os, arch, python)
    return any(t in supported for t in tags)


@dataclass(frozen=True, kw_only=True)
class Release:
    version: Version
    requires_python: SpecifierSet | None
    yanked: bool = False
    wheel_tags: tuple[Tag, ...] = ()
    sdist: bool | None = None  # None: which files it has is unknown

    @property
    def files_known(self) -> bool:
        return self.sdist is not None or bool(self.wheel_tags)

    def pythons(
        self, os: str, arch: str, candidates: Iterable[str], *, builds: bool = True
    ) -> tuple[str, ...]:
        allowed = [
            py
            for py in candidates
            if self.requires_python is None or self.requires_python.contains(f"{py}.0", prereleases=True)
        ]
        if (self.sdist and builds) or not self.files_known:
            return tuple(allowed)
        return tuple(py for py in allowed if installs_on(self.wheel_tags, os, arch, py))


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
    return str(name), Release(
        version=version, requires_python=None, wheel_tags=tuple(sorted(tags, key=str)), sdist=False
    )


def _spec(text: str | None) -> SpecifierSet | None:
    if not text:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _from_pinned(r: Any) -> Release:
    # The snapshot's wheel tags and sdist flag arrive with the planner branch (STATUS interface #2); a snapshot
    # written before them leaves the files unknown.
    return Release(
        version=r.version,
        requires_python=r.requires_python,
        yanked=r.yanked,
        wheel_tags=tuple(getattr(r, "wheel_tags", ()) or ()),
        sdist=getattr(r, "sdist", None),
    )


def _from_files(files: Sequence[DistFile]) -> Release:
    tags: set[Tag] = set()
    for f in files:
        if f.kind == "wheel":
            try:
                tags |= set(parse_wheel_filename(f.filename)[3])
            except (InvalidWheelFilename, InvalidVersion):
                continue
    rps = [f.requires_python for f in files if f.requires_python]
    return Release(
        version=files[0].version,
        requires_python=_spec(max(set(rps), key=rps.count) if rps else None),
        yanked=all(f.yanked for f in files),
        wheel_tags=tuple(sorted(tags, key=str)),
        sdist=any(f.kind == "sdist" for f in files),
    )


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
        releases = tuple(_from_files(fs) for fs in project.releases().values() if fs)
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
            return tuple(_from_pinned(r) for r in self.pins.releases(key))
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
