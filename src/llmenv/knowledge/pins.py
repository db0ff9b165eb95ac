"""The frameworks' pins read from PyPI by ``llmenv kb refresh``, as typed, frozen data.

Two snapshots may exist: the one bundled in the package (``knowledge/data/pins.json``) and the user's, written
by ``llmenv kb refresh`` into the user data directory. The user's wins when it is present and valid. Loading
reads the JSON only; a package's releases are parsed (versions, specifiers, requirements) the first time the
planner asks for them, so ``load_pins()`` stays cheap.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

from packaging.markers import Marker, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.knowledge._store import user_data_dir

__all__ = [
    "SCHEMA",
    "PinnedRelease",
    "Pins",
    "installs_on",
    "load_pins",
    "read_pins",
    "requirements_for",
    "tag_installs_on",
    "user_data_dir",
    "user_snapshot_path",
]

SCHEMA = 1
SNAPSHOT_NAME = "pins.json"


class SnapshotError(ValueError):
    """A snapshot file that is not what schema 1 describes; the message names the place."""


_T = TypeVar("_T")


def _parse(memo: dict[str, Any], text: str, kind: Callable[[str], _T], error: type[Exception]) -> _T | None:
    """Parse ``text`` once per snapshot; None when it does not parse (old releases carry things such as
    ``>=3.6.*``: unknown is the honest reading)."""
    key = f"{kind.__name__}:{text}"
    if key in memo:
        return cast("_T | None", memo[key])
    try:
        value: _T | None = kind(text)
    except error:
        value = None
    memo[key] = value
    return value


def _tags(memo: dict[str, Any], triples: Iterable[str]) -> tuple[Tag, ...]:
    out = []
    for triple in triples:
        key = f"tag:{triple}"
        tag = memo.get(key)
        if tag is None:
            parts = str(triple).split("-")
            if len(parts) != 3:
                continue
            tag = memo[key] = Tag(*parts)
        out.append(tag)
    return tuple(out)


# Which wheel tags install where, the way packaging.tags orders them for an interpreter (cpython_tags, then
# compatible_tags), written as a test of one tag rather than the list of every supported one (that list is
# ~1,600 tags per Python; planning asks about a few hundred wheels). Any glibc / macOS version counts: the
# snapshot answers "is there a wheel for this Python", not "for this exact libc".
_LINUX_PLATFORM = re.compile(
    r"^(?:manylinux_\d+_\d+|manylinux1|manylinux2010|manylinux2014|linux)_(?P<m>\w+)$"
)
_MAC_PLATFORM = re.compile(r"^macosx_\d+_\d+_(?P<m>\w+)$")
_MAC_FITS = {"arm64": {"arm64", "universal2"}, "x86_64": {"x86_64", "intel", "universal", "universal2"}}
_WINDOWS = {"x86_64": "win_amd64", "amd64": "win_amd64", "arm64": "win_arm64", "aarch64": "win_arm64"}


def _platform_fits(platform: str, os: str, arch: str) -> bool:
    if platform == "any":
        return True
    if os == "linux":
        m = _LINUX_PLATFORM.match(platform)
        return m is not None and m.group("m") == {"arm64": "aarch64", "amd64": "x86_64"}.get(arch, arch)
    if os == "darwin":
        m = _MAC_PLATFORM.match(platform)
        return m is not None and m.group("m") in _MAC_FITS.get({"aarch64": "arm64"}.get(arch, arch), set())
    if os == "windows":
        return platform == _WINDOWS.get(arch, "win32")
    return False


def _minor_of(version: str, major: int) -> int | None:
    """``"312"`` -> 12 for major 3 (the digits after ``cp`` / ``py``); None when it is another major."""
    if not version.isdigit() or version[:1] != str(major):
        return None
    return int(version[1:] or 0)


def _python_fits(interpreter: str, abi: str, major: int, minor: int) -> bool:
    own = f"cp{major}{minor}"
    if interpreter == own and abi in (own, "none"):
        return True
    if abi == "abi3" and interpreter.startswith(
        "cp"
    ):  # the stable ABI: built for this CPython or an older one
        built = _minor_of(interpreter[2:], major)
        return built is not None and 2 <= built <= minor
    if abi != "none" or not interpreter.startswith("py"):
        return False
    built = _minor_of(interpreter[2:], major)
    return built is not None and built <= minor


@lru_cache(maxsize=4096)
def tag_installs_on(tag: Tag, os: str, arch: str, python: str) -> bool:
    """Does a wheel tagged ``tag`` install on CPython ``python`` ("3.12") for ``os`` / ``arch`` (a Target's
    names)? Free-threaded (``cp313t``) and debug ABIs do not: a plan is for the default interpreter."""
    major, minor = (int(x) for x in python.split(".")[:2])
    if tag.platform == "any" and tag.abi != "none":
        return False  # packaging.tags offers "any" only with no ABI
    return _platform_fits(tag.platform, os, arch) and _python_fits(tag.interpreter, tag.abi, major, minor)


def installs_on(tags: Iterable[Tag], os: str, arch: str, python: str) -> bool:
    """Does a wheel with one of ``tags`` install on CPython ``python`` for ``os`` / ``arch``?"""
    return any(tag_installs_on(t, os, arch, python) for t in tags)


@dataclass(frozen=True, kw_only=True)
class PinnedRelease:
    """One release of a tracked package, as its metadata on the index says."""

    name: str
    version: Version
    requires_python: SpecifierSet | None
    requires_dist: tuple[Requirement, ...]
    extras: tuple[str, ...]
    yanked: bool
    uploaded: date | None
    source: str  # "pep658" | "range" | "sdist" | "none" (no metadata read: requires_dist unknown)
    file: str | None
    # The tags of its wheels on the index (one Tag per triple of a compressed tag set), and whether it has an
    # sdist; None for a snapshot written before they were recorded (unknown).
    wheel_tags: tuple[Tag, ...] = ()
    sdist: bool | None = None

    @classmethod
    def from_dict(
        cls, name: str, version: str, d: Mapping[str, Any], *, memo: dict[str, Any] | None = None
    ) -> PinnedRelease:
        """``memo`` shares parsed requirements / specifiers between releases (most lines repeat): the objects
        are then shared, so treat them as read-only."""
        memo = memo if memo is not None else {}
        rp = d.get("requires_python")
        spec = _parse(memo, rp, SpecifierSet, InvalidSpecifier) if rp else None
        reqs = []
        for line in d.get("requires_dist", ()):
            req = _parse(memo, line, Requirement, InvalidRequirement)
            if req is not None:
                reqs.append(req)
        try:
            uploaded = date.fromisoformat(d["uploaded"]) if d.get("uploaded") else None
        except ValueError:
            uploaded = None
        return cls(
            name=name,
            version=Version(version),
            requires_python=spec,
            requires_dist=tuple(reqs),
            extras=tuple(d.get("provides_extras", ())),
            yanked=bool(d.get("yanked", False)),
            uploaded=uploaded,
            source=str(d.get("from", "none")),
            file=d.get("file"),
            wheel_tags=_tags(memo, d.get("wheels") or ()),
            sdist=bool(d["sdist"]) if d.get("sdist") is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requires_python": str(self.requires_python) if self.requires_python is not None else None,
            "requires_dist": [str(r) for r in self.requires_dist],
            "provides_extras": list(self.extras),
            "yanked": self.yanked,
            "uploaded": self.uploaded.isoformat() if self.uploaded else None,
            "from": self.source,
            "file": self.file,
            **({"wheels": sorted(str(t) for t in self.wheel_tags)} if self.files_known else {}),
            **({"sdist": self.sdist} if self.sdist is not None else {}),
        }

    @property
    def files_known(self) -> bool:
        """Does the snapshot say which files the release has (False for one written before wheel tags)?"""
        return self.sdist is not None or bool(self.wheel_tags)

    def pythons(
        self, os: str, arch: str, candidates: Iterable[str], *, builds: bool = True
    ) -> tuple[str, ...]:
        """The Python minors among ``candidates`` ("3.12", ...) the release installs on for ``os`` / ``arch``
        (a Target's names): those some wheel of it fits, or every one its requires-python allows when it has
        an sdist (it stays buildable; ``builds=False``: a build does not count) or when its files are unknown
        (an old snapshot: no claim is made)."""
        allowed = [
            py
            for py in candidates
            if self.requires_python is None or self.requires_python.contains(f"{py}.0", prereleases=True)
        ]
        if (self.sdist and builds) or not self.files_known:
            return tuple(allowed)
        return tuple(py for py in allowed if installs_on(self.wheel_tags, os, arch, py))

    @property
    def provides_extras(self) -> tuple[str, ...]:
        """The same as ``extras`` (the core-metadata field's name)."""
        return self.extras

    @property
    def metadata_known(self) -> bool:
        """False when only the index was read (``requires_dist`` is then empty, not "no requirements")."""
        return self.source != "none"


@dataclass(frozen=True, kw_only=True)
class Pins:
    """A snapshot: where it came from, and per package its releases (parsed on first use)."""

    origin: str  # "bundled" | "user" | "file"
    path: Path | None
    generated: str
    index: str
    filtered: bool
    ignored: str | None = None  # why the user's snapshot was not used
    raw: Mapping[str, Mapping[str, Any]] = field(repr=False)
    _parsed: dict[str, tuple[PinnedRelease, ...]] = field(default_factory=dict, repr=False, compare=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, origin: str, path: Path | None = None) -> Pins:
        validate(d)
        return cls(
            origin=origin,
            path=path,
            generated=str(d["generated"]),
            index=str(d["index"]),
            filtered=bool(d.get("filtered", False)),
            raw={canonicalize_name(k): v for k, v in d["packages"].items()},
        )

    def names(self) -> tuple[str, ...]:
        return tuple(self.raw)

    def full(self, name: str) -> bool:
        """Was each release's metadata read (Requires-Dist known), or only the index's facts?"""
        entry = self.raw.get(canonicalize_name(name))
        return bool(
            entry
            and entry.get("full", any(r.get("from", "none") != "none" for r in entry["releases"].values()))
        )

    def releases(self, name: str) -> tuple[PinnedRelease, ...]:
        """Every release of ``name``, newest first; () for a package the snapshot does not track."""
        key = canonicalize_name(name)
        with self._lock:  # one parse per package, even with threads
            return self._releases(key)

    def _releases(self, key: str) -> tuple[PinnedRelease, ...]:
        got = self._parsed.get(key)
        if got is not None:
            return got
        entry = self.raw.get(key)
        if entry is None:
            return ()
        parsed = []
        for v, r in entry["releases"].items():
            try:
                parsed.append(PinnedRelease.from_dict(key, v, r, memo=self._memo))
            except InvalidVersion:
                continue
        out = tuple(sorted(parsed, key=lambda r: r.version, reverse=True))
        self._parsed[key] = out
        return out

    def release(self, name: str, version: str | Version) -> PinnedRelease | None:
        """One release; parsed alone when its package's releases were not parsed yet (a planner asking about
        one exact pin does not pay for the package's whole history)."""
        v = Version(str(version))
        key = canonicalize_name(name)
        with self._lock:
            if key not in self._parsed:
                entry = self.raw.get(key)
                raw = entry["releases"].get(str(v)) if entry is not None else None
                if raw is not None:
                    return PinnedRelease.from_dict(key, str(v), raw, memo=self._memo)
        for r in self.releases(name):
            if r.version == v:
                return r
        return None

    def newest(self, name: str, *, prereleases: bool = False) -> PinnedRelease | None:
        """The newest release that is not yanked (and not a pre-release unless asked)."""
        for r in self.releases(name):
            if not r.yanked and (prereleases or not r.version.is_prerelease):
                return r
        return None


def validate(d: Any) -> None:
    """Raise SnapshotError naming the first place where ``d`` is not a schema-1 snapshot."""
    if not isinstance(d, Mapping):
        raise SnapshotError("the snapshot is not a JSON object")
    if d.get("schema") != SCHEMA:
        raise SnapshotError(f"schema is {d.get('schema')!r}, llmenv reads schema {SCHEMA}")
    for key in ("generated", "index", "packages"):
        if key not in d:
            raise SnapshotError(f"{key}: missing")
    if not isinstance(d["packages"], Mapping):
        raise SnapshotError("packages: not an object")
    for name, entry in d["packages"].items():
        releases = entry.get("releases") if isinstance(entry, Mapping) else None
        if not isinstance(releases, Mapping):
            raise SnapshotError(f"packages.{name}.releases: not an object")
        for v, r in releases.items():
            if not isinstance(r, Mapping) or not isinstance(r.get("requires_dist"), list):
                raise SnapshotError(f"packages.{name}.releases.{v}.requires_dist: not a list")


def user_snapshot_path(user_dir: Path | None = None) -> Path:
    return (user_dir if user_dir is not None else user_data_dir()) / SNAPSHOT_NAME


def read_pins(path: Path, *, origin: str = "file") -> Pins:
    """One snapshot file; raises SnapshotError (or OSError) when it cannot be used."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise SnapshotError(f"not JSON ({e})") from e
    return Pins.from_dict(d, origin=origin, path=path)


@lru_cache(maxsize=1)
def _bundled() -> Pins:
    text = (resources.files("llmenv.knowledge") / "data" / SNAPSHOT_NAME).read_text(encoding="utf-8")
    return Pins.from_dict(json.loads(text), origin="bundled")


@lru_cache(maxsize=8)
def _user(path: Path, mtime_ns: int, size: int) -> Pins | str:
    try:
        return read_pins(path, origin="user")
    except (SnapshotError, OSError) as e:
        return str(e)


def load_pins(user_dir: Path | None = None) -> Pins:
    """The pins in use: the user's snapshot (``user_dir``/pins.json) when present and valid, else the bundled
    one. Cached per process (a rewritten user snapshot is read again)."""
    path = user_snapshot_path(user_dir)
    try:
        st = path.stat()
    except OSError:
        return _bundled()
    got = _user(path, st.st_mtime_ns, st.st_size)
    if isinstance(got, Pins):
        return got
    b = _bundled()
    return Pins(
        origin=b.origin,
        path=b.path,
        generated=b.generated,
        index=b.index,
        filtered=b.filtered,
        ignored=f"{path}: {got}",
        raw=b.raw,
        _parsed=b._parsed,
        _memo=b._memo,
    )


def requirements_for(
    release: PinnedRelease, extras: Iterable[str], marker_env: Mapping[str, str]
) -> list[Requirement]:
    """The release's requirements that apply on ``marker_env`` with ``extras`` requested.

    Markers are evaluated with ``Marker.evaluate(environment=...)``: the base requirements with ``extra`` set to
    "", and each requested extra in turn (names compare normalized, PEP 685). Give a complete environment for
    the *target* machine; keys left out are filled from the running interpreter by packaging.
    """
    wanted = ["", *(canonicalize_name(e) for e in extras)]
    env = dict(marker_env)
    return [
        req
        for req in release.requires_dist
        if req.marker is None or any(_applies(req.marker, {**env, "extra": e}) for e in wanted)
    ]


def _applies(marker: Marker, env: dict[str, str]) -> bool:
    try:
        return marker.evaluate(env)
    except UndefinedEnvironmentName:  # a marker variable the environment lacks: it does not apply
        return False
