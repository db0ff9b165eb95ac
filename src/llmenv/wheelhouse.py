"""``llmenv wheelhouse``: a folder holding every wheel the lock needs on the target platform, so that compute
nodes without internet install from it (a flat index) and build nothing.

1. ``uv export --frozen --format pylock.toml`` (the bundled uv) lists the locked packages with the marker under
   which each is installed and every file with its URL and sha256 (PEP 751).
2. :func:`select` (pure) keeps the packages whose marker holds on the target (``[tool.llmenv.target]``, else
   ``required-environments``) and picks, for each, the locked wheel uv would install there (the most specific
   compatible tag). A package locked only as an sdist (a source build, e.g. flash-attn compiled once) is taken
   from ``--add WHEEL`` or from the wheels uv built into its cache; otherwise it is reported missing.
3. :func:`fill` copies or downloads the picked files into the folder (in parallel, through one httpx client),
   verifying each sha256 against the lock; a file already there with the right hash is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.errors import NoAnswer, UsageError
from llmenv.lockfile import LockedFile, Pylock

__all__ = [
    "FillResult",
    "Pick",
    "Selection",
    "WheelTarget",
    "cache_wheels",
    "fill",
    "select",
    "target_from_project",
    "uv_cache_dir",
    "wheel_names",
]

_UNKNOWN_GLIBC_MINOR = 50  # glibc unknown: accept any manylinux wheel (uv picks the same on the node)


@dataclass(frozen=True, kw_only=True)
class WheelTarget:
    os: str  # linux | darwin | windows
    arch: str  # x86_64 | aarch64 | arm64 | ...
    python: str  # "3.11" or "3.11.7"
    glibc: str | None = None
    macos: tuple[int, int] = (15, 0)

    @property
    def python_mm(self) -> tuple[int, int]:
        v = Version(self.python)
        return v.major, v.minor

    def describe(self) -> str:
        glibc = f", glibc {self.glibc}" if self.glibc else ""
        return f"{self.os} {self.arch}, Python {self.python}{glibc}"

    def marker_environment(self) -> dict[str, str]:
        from llmenv.target import Target

        major, minor = self.python_mm
        env = Target(os=self.os, arch=self.arch, python=f"{major}.{minor}").marker_environment()
        if self.python.count(".") == 2:
            env["python_full_version"] = env["implementation_version"] = self.python
        return env

    def platforms(self) -> list[str]:
        if self.os == "linux":
            arch = "aarch64" if self.arch == "arm64" else self.arch
            top = _UNKNOWN_GLIBC_MINOR
            if self.glibc:
                try:
                    top = Version(self.glibc).release[1]
                except (InvalidVersion, IndexError):
                    top = _UNKNOWN_GLIBC_MINOR
            out = []
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            for minor in range(top, 4, -1):
                out.append(f"manylinux_2_{minor}_{arch}")
                if minor in legacy and (minor == 17 or arch in ("x86_64", "i686")):
                    out.append(f"{legacy[minor]}_{arch}")
            return [*out, f"linux_{arch}"]
        if self.os == "darwin":
            return list(mac_platforms(self.macos, "arm64" if self.arch in ("arm64", "aarch64") else "x86_64"))
        return ["win_arm64" if self.arch in ("arm64", "aarch64") else "win_amd64"]

    def tags(self) -> list[Tag]:
        """Every tag a wheel may carry to install here, the most specific first (as an installer ranks them)."""
        mm = self.python_mm
        platforms = self.platforms()
        seen: dict[Tag, None] = {}
        for t in cpython_tags(mm, platforms=platforms):
            seen.setdefault(t, None)
        for t in compatible_tags(mm, interpreter=f"cp{mm[0]}{mm[1]}", platforms=platforms):
            seen.setdefault(t, None)
        return list(seen)


def _python_from(pyproject: Mapping[str, Any], project: Path) -> str | None:
    try:
        pin = (project / ".python-version").read_text(encoding="utf-8").split()
    except OSError:
        pin = []
    if pin:
        return pin[0]
    spec = pyproject.get("project", {}).get("requires-python")
    if spec:
        try:
            s = SpecifierSet(str(spec))
        except InvalidSpecifier:
            return None
        for minor in range(8, 20):
            if s.contains(f"3.{minor}.99", prereleases=True) or s.contains(f"3.{minor}.0", prereleases=True):
                return f"3.{minor}"
    return None


_PLATFORMS = {
    ("linux", "x86_64"): {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux"},
    ("linux", "aarch64"): {"sys_platform": "linux", "platform_machine": "aarch64", "platform_system": "Linux"},
    ("darwin", "arm64"): {"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin"},
    ("darwin", "x86_64"): {"sys_platform": "darwin", "platform_machine": "x86_64", "platform_system": "Darwin"},
    ("windows", "x86_64"): {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows"},
}


def target_from_project(
    pyproject: Mapping[str, Any], project: Path, *, python: str | None = None, glibc: str | None = None
) -> tuple[WheelTarget, str]:
    """The platform the wheels are for, and where that came from. ``[tool.llmenv.target]`` (what llmenv planned),
    else the one platform that ``[tool.uv] required-environments`` names."""
    target = pyproject.get("tool", {}).get("llmenv", {}).get("target")
    if isinstance(target, dict) and target.get("os") and target.get("arch"):
        py = python or str(target.get("python") or "") or _python_from(pyproject, project)
        if not py:
            raise UsageError("[tool.llmenv.target] has no python: pass --python X.Y")
        return (
            WheelTarget(
                os=str(target["os"]),
                arch=str(target["arch"]),
                python=py,
                glibc=glibc or (str(target["glibc"]) if target.get("glibc") else None),
            ),
            "[tool.llmenv.target]",
        )
    required = pyproject.get("tool", {}).get("uv", {}).get("required-environments") or []
    if isinstance(required, str):
        required = [required]
    matches = []
    for (os_, arch), env in _PLATFORMS.items():
        for text in required:
            try:
                marker = Marker(str(text))
            except InvalidMarker:
                raise UsageError(f"[tool.uv] required-environments: not a marker: {text!r}") from None
            full = {"python_version": "3.12", "python_full_version": "3.12.0", **env}
            with contextlib.suppress(Exception):
                if marker.evaluate(full):
                    matches.append((os_, arch))
                    break
    if len(matches) != 1:
        raise UsageError(
            "cannot tell the target platform: the project has no [tool.llmenv.target] and "
            "[tool.uv] required-environments does not name exactly one platform",
            hint="record it with `llmenv init` (or set required-environments to one platform)",
        )
    py = python or _python_from(pyproject, project)
    if not py:
        raise UsageError("cannot tell the target's Python: pass --python X.Y")
    os_, arch = matches[0]
    return WheelTarget(os=os_, arch=arch, python=py, glibc=glibc), "[tool.uv] required-environments"


# ---------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True, kw_only=True)
class Pick:
    name: str
    version: str
    filename: str
    source: str  # lock | uv-cache | --add
    file: LockedFile | None = None  # from the lock: url + sha256
    path: Path | None = None  # a local wheel (--add, uv's cache)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.filename,
            "source": self.source,
            "url": self.file.url if self.file else None,
            "sha256": self.file.sha256 if self.file else None,
            "path": str(self.path) if self.path else None,
        }


@dataclass(frozen=True, kw_only=True)
class Selection:
    picks: tuple[Pick, ...]
    missing: tuple[tuple[str, str, str], ...]  # (name, version, why)
    local: tuple[tuple[str, str], ...]  # (name, path): source trees installed from the project
    notes: tuple[str, ...] = field(default=())


def _rank(filename: str, ranks: Mapping[Tag, int]) -> int | None:
    try:
        _name, _version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    found = [ranks[t] for t in tags if t in ranks]
    return min(found) if found else None


def _same(a: str, b: str) -> bool:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return a == b
    return va == vb or (va.public == vb.public and (va.local is None or vb.local is None))


def _wheel_identity(path: Path) -> tuple[str, str]:
    try:
        name, version, _build, _tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        raise UsageError(f"{path.name}: not a wheel file name") from None
    return canonicalize_name(name), str(version)


def select(
    lock: Pylock,
    target: WheelTarget,
    *,
    added: Sequence[Path] = (),
    built: Callable[[str, str], Sequence[Path]] = lambda name, version: (),
) -> Selection:
    """The files the target needs. ``built(name, version)`` lists wheels built from source (uv's cache)."""
    ranks = {t: i for i, t in enumerate(target.tags())}
    env = target.marker_environment()
    needed = lock.for_environment(env)
    by_name = {p.name: p for p in needed}
    adds: dict[str, Path] = {}
    for path in added:
        name, version = _wheel_identity(path)
        p = by_name.get(name)
        if p is None:
            raise UsageError(f"--add {path.name}: the lock needs no {name} on {target.describe()}")
        if p.version and not _same(version, p.version):
            raise UsageError(f"--add {path.name}: the lock has {name} {p.version}, not {version}")
        if _rank(path.name, ranks) is None:
            raise UsageError(f"--add {path.name}: not installable on {target.describe()}")
        adds[name] = path
    picks: list[Pick] = []
    missing: list[tuple[str, str, str]] = []
    local: list[tuple[str, str]] = []
    notes: list[str] = []
    for p in sorted(needed, key=lambda x: x.name):
        version = p.version or "?"
        if p.kind == "directory":
            local.append((p.name, p.path or "?"))
            continue
        if p.name in adds:
            path = adds[p.name]
            picks.append(Pick(name=p.name, version=version, filename=path.name, source="--add", path=path))
            if p.wheels or (p.archive and p.archive.filename.endswith(".whl")):
                notes.append(f"{p.name}: --add {path.name} replaces the locked wheel")
            continue
        candidates = list(p.wheels)
        if p.archive is not None and p.archive.filename.endswith(".whl"):
            candidates.append(p.archive)
        ranked = [(r, f) for f in candidates if (r := _rank(f.filename, ranks)) is not None]
        if ranked:
            best = min(ranked, key=lambda rf: rf[0])[1]
            picks.append(Pick(name=p.name, version=version, filename=best.filename, source="lock", file=best))
            continue
        cached = [w for w in built(p.name, version) if _rank(w.name, ranks) is not None]
        if cached:
            newest = max(cached, key=lambda w: (w.stat().st_mtime, w.name))
            picks.append(Pick(name=p.name, version=version, filename=newest.name, source="uv-cache", path=newest))
            if len(cached) > 1:
                notes.append(f"{p.name}: {len(cached)} builds in uv's cache; took the newest, {newest}")
            continue
        if candidates:
            why = "no locked wheel for this platform"
        elif p.kind == "vcs":
            why = "locked from a git repository: build it once and pass --add WHEEL"
        else:
            why = "locked as a source distribution: build it once (uv keeps the wheel in its cache) or pass --add WHEEL"
        missing.append((p.name, version, why))
    return Selection(picks=tuple(picks), missing=tuple(missing), local=tuple(local), notes=tuple(notes))


def cache_wheels(cache_dir: Path | None) -> Callable[[str, str], list[Path]]:
    """Wheels uv built from source distributions, found in its cache (``sdists-v*/.../<name>-<version>-*.whl``)."""
    index: dict[tuple[str, str], list[Path]] = {}
    scanned = False

    def built(name: str, version: str) -> list[Path]:
        nonlocal scanned
        if cache_dir is None:
            return []
        if not scanned:
            scanned = True
            for bucket in sorted(cache_dir.glob("sdists-v*")):
                for w in bucket.rglob("*.whl"):
                    try:
                        n, v = _wheel_identity(w)
                    except UsageError:
                        continue
                    index.setdefault((n, str(Version(v).public)), []).append(w)
        try:
            public = str(Version(version).public)
        except InvalidVersion:
            return []
        return [w for w in index.get((name, public), []) if _same(_wheel_identity(w)[1], version)]

    return built


def uv_cache_dir(uv: str, environ: Mapping[str, str]) -> Path | None:
    try:
        p = subprocess.run(
            [uv, "cache", "dir"], capture_output=True, text=True, timeout=30, check=False, env=dict(environ)
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = p.stdout.strip()
    return Path(out) if p.returncode == 0 and out else None


# ---------------------------------------------------------------------------------------------- filling


@dataclass(frozen=True, kw_only=True)
class FillResult:
    downloaded: tuple[str, ...]
    copied: tuple[str, ...]
    kept: tuple[str, ...]
    stale: tuple[str, ...]  # wheels in the folder this lock does not need
    pruned: bool
    bytes: int
    seconds: float


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, expected: str | None, what: str) -> None:
    if expected is None:
        return
    got = _sha256(path)
    if got != expected:
        path.unlink(missing_ok=True)
        raise NoAnswer(f"{what}: sha256 {got} does not match the lock's {expected}")


def _download(client: Any, url: str, dest: Path, attempts: int = 3) -> int:
    import httpx

    for attempt in range(attempts):
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code >= 500 and attempt + 1 < attempts:
                    time.sleep(0.5 * 2**attempt)
                    continue
                if resp.status_code != 200:
                    raise NoAnswer(f"cannot download {url}: HTTP {resp.status_code}")
                size = 0
                with dest.open("wb") as f:
                    for chunk in resp.iter_bytes(1 << 20):
                        f.write(chunk)
                        size += len(chunk)
                return size
        except httpx.TransportError as e:
            if attempt + 1 == attempts:
                raise NoAnswer(f"cannot download {url}: {type(e).__name__}: {e}") from None
            time.sleep(0.5 * 2**attempt)
    raise NoAnswer(f"cannot download {url}")


def fill(
    selection: Selection,
    dest: Path,
    *,
    client: Any = None,
    jobs: int = 8,
    prune: bool = False,
) -> FillResult:
    """Put every picked file into ``dest``, verifying hashes; downloads go through ``client`` (httpx)."""
    started = time.monotonic()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {dest}: {e.strerror}") from None
    names = [p.filename for p in selection.picks]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise NoAnswer(f"two packages need files of the same name: {sorted(dupes)[0]}")
    downloaded: list[str] = []
    copied: list[str] = []
    kept: list[str] = []
    total = [0]
    lock = threading.Lock()
    own_client = None
    if client is None and any(p.file and not p.file.local_path for p in selection.picks):
        import httpx

        own_client = client = httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0))

    def one(p: Pick) -> None:
        final = dest / p.filename
        expected = p.file.sha256 if p.file else None
        if final.exists():
            if p.path is not None:
                same = _sha256(p.path) == _sha256(final)
            else:
                same = expected is not None and _sha256(final) == expected
            if same:
                with lock:
                    kept.append(p.filename)
                return
        part = dest / f".{p.filename}.part"
        try:
            source = p.path or (p.file.local_path if p.file else None)
            if source is not None:
                try:
                    shutil.copyfile(source, part)
                except OSError as e:
                    raise NoAnswer(f"cannot copy {source}: {e.strerror}") from None
                size = part.stat().st_size
                bucket = copied
            else:
                assert p.file is not None
                size = _download(client, p.file.url, part)
                bucket = downloaded
            _check(part, expected, f"{p.filename} ({p.file.url if p.file else p.path})")
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        with lock:
            bucket.append(p.filename)
            total[0] += size

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for future in [pool.submit(one, p) for p in selection.picks]:
                future.result()
    finally:
        if own_client is not None:
            own_client.close()
    wanted = set(names)
    stale = sorted(f.name for f in dest.glob("*.whl") if f.name not in wanted)
    if prune:
        for name in stale:
            (dest / name).unlink(missing_ok=True)
    return FillResult(
        downloaded=tuple(sorted(downloaded)),
        copied=tuple(sorted(copied)),
        kept=tuple(sorted(kept)),
        stale=tuple(stale),
        pruned=prune,
        bytes=total[0],
        seconds=time.monotonic() - started,
    )


def wheel_names(folder: Path) -> frozenset[str]:
    """The (normalized) package names of the wheels in a folder: what a wheelhouse can serve."""
    out = set()
    for w in folder.glob("*.whl"):
        with contextlib.suppress(UsageError):
            out.add(_wheel_identity(w)[0])
    return frozenset(out)
