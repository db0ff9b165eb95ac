"""``llmenv wheelhouse``: a folder holding every wheel the lock needs on the target platform, so that compute
nodes without internet install from it (a flat index) and build nothing.

1. ``uv export --frozen --format pylock.toml`` (the bundled uv) lists the locked packages with the marker under
   which each is installed and every file with its URL and sha256 (PEP 751).
2. :func:`select` (pure) keeps the packages whose marker holds on the target (``[tool.llmenv.target]``, else
   ``required-environments``) and picks, for each, the locked wheel uv would install there (the most specific
   compatible tag). A package locked only as an sdist (a source build, e.g. flash-attn compiled once) is taken
   from ``--add WHEEL`` or from the wheels uv built into its cache; otherwise it is reported missing.
3. :func:`fill` copies or downloads the picked files into the folder (in parallel, through one httpx client),
   verifying each sha256 against the lock (a file with no hash to compare must be a readable wheel of the name
   and version it says); a file already there with the right hash is kept. Nothing unverified is ever placed
   under a wheel's name.
4. The folder's hashed index (``DIR/simple``, :mod:`llmenv.wheelindex`) lists every verified wheel with its
   sha256; ``init --wheelhouse`` points the project at it, so ``uv.lock`` records the hashes and ``uv sync`` on
   a node refuses a wheel swapped in the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
from llmenv.wheelindex import INDEX, BadWheel, check_wheel, read_index, sha256_of, write_index

__all__ = [
    "FillResult",
    "Pick",
    "Selection",
    "WheelTarget",
    "cache_wheels",
    "fill",
    "index_folder",
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
    indexed: int = 0  # wheels the hashed index (DIR/simple) lists


class _Stopped(Exception):
    """Another worker was interrupted: stop at the next chunk."""


def _write_error(path: Path, e: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {e.strerror or e}")


def _hashing_copy(source: Path, part: Path, stop: threading.Event) -> tuple[int, str]:
    """Copy in chunks (stoppable), hashing as it goes; a read error names the source, a write error the copy."""
    h = hashlib.sha256()
    size = 0
    try:
        src = source.open("rb")
    except OSError as e:
        raise NoAnswer(f"cannot read {source}: {e.strerror or e}") from None
    with src:
        try:
            out = part.open("wb")
        except OSError as e:
            raise _write_error(part.parent / part.name.removeprefix(".").removesuffix(".part"), e) from None
        with out:
            while True:
                if stop.is_set():
                    raise _Stopped
                try:
                    chunk = src.read(1 << 20)
                except OSError as e:
                    raise NoAnswer(f"cannot read {source}: {e.strerror or e}") from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as e:
                    raise _write_error(part.parent / part.name.removeprefix(".").removesuffix(".part"), e) from None
                h.update(chunk)
                size += len(chunk)
    return size, h.hexdigest()


def _download(client: Any, url: str, dest: Path, stop: threading.Event, attempts: int = 3) -> tuple[int, str]:
    import httpx

    final = dest.parent / dest.name.removeprefix(".").removesuffix(".part")
    for attempt in range(attempts):
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code >= 500 and attempt + 1 < attempts:
                    time.sleep(0.5 * 2**attempt)
                    continue
                if resp.status_code != 200:
                    raise NoAnswer(f"cannot download {url}: HTTP {resp.status_code}")
                h = hashlib.sha256()
                size = 0
                try:
                    with dest.open("wb") as f:
                        for chunk in resp.iter_bytes(1 << 20):
                            if stop.is_set():
                                raise _Stopped
                            f.write(chunk)
                            h.update(chunk)
                            size += len(chunk)
                except OSError as e:
                    raise _write_error(final, e) from None
                return size, h.hexdigest()
        except httpx.TransportError as e:
            if attempt + 1 == attempts:
                raise NoAnswer(f"cannot download {url}: {type(e).__name__}: {e}") from None
            time.sleep(0.5 * 2**attempt)
    raise NoAnswer(f"cannot download {url}")


def _writable(dest: Path) -> None:
    """Refuse a folder llmenv cannot write into before downloading anything (read-only, full, EROFS)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".llmenv-probe-", dir=dest)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write to {dest}: {e.strerror or e}") from None


def _place(p: Pick, dest: Path, client: Any, stop: threading.Event) -> tuple[str, str, int]:
    """Put one picked file under its name in ``dest``, verified; returns (how: kept|copied|downloaded, sha256,
    bytes). Until verified, it is only ``.<name>.part``, removed on any failure."""
    final = dest / p.filename
    expected = p.file.sha256 if p.file else None
    if final.is_file():
        if p.path is not None:
            sha = _sha256(final)
            if sha == _sha256(p.path):
                return "kept", sha, 0
        elif expected is not None and _sha256(final) == expected:
            return "kept", expected, 0
    part = dest / f".{p.filename}.part"
    what = f"{p.filename} ({p.file.url if p.file else p.path})"
    try:
        source = p.path or (p.file.local_path if p.file else None)
        if source is not None:
            size, sha = _hashing_copy(source, part, stop)
            how = "copied"
        else:
            assert p.file is not None
            size, sha = _download(client, p.file.url, part, stop)
            how = "downloaded"
        if expected is not None and sha != expected:
            raise NoAnswer(f"{what}: sha256 {sha} does not match the lock's {expected}")
        # Nothing to compare with, or a local file: uv export hashes a flat index's file as it is *now* (uv.lock
        # holds no hash for it), so that hash proves nothing. Either must at least be the wheel it says it is.
        if expected is None or (p.file is not None and p.file.local_path is not None):
            try:
                check_wheel(part, p.filename)
            except BadWheel as e:
                raise NoAnswer(f"{what}: not a usable wheel: {e}") from None
        if stop.is_set():
            raise _Stopped
        try:
            os.replace(part, final)
        except OSError as e:
            raise _write_error(final, e) from None
    finally:
        part.unlink(missing_ok=True)
    return how, sha, size


def _run_all(
    items: Sequence[Pick],
    work: Callable[[Pick], None],
    jobs: int,
    stop: threading.Event,
    last: Callable[[], None] = lambda: None,
) -> None:
    """``work(item)`` on up to ``jobs`` daemon threads; the first error is raised once all are done. Ctrl-C (or
    SIGTERM) sets ``stop`` and returns within a second, even while a worker is blocked reading the network;
    ``last()`` runs when the last worker has ended (closing what the stragglers still use)."""
    queue = list(reversed(items))
    errors: list[BaseException] = []
    lock = threading.Lock()
    remaining = [len(queue)]
    finished = threading.Event()
    if not queue:
        last()
        return
    threads_left = [max(1, min(jobs, len(queue)))]

    def worker() -> None:
        try:
            drain()
        finally:
            with lock:
                threads_left[0] -= 1
                end = threads_left[0] == 0
            if end:
                last()

    def drain() -> None:
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                work(item)
            except _Stopped:
                pass
            except BaseException as e:
                with lock:
                    errors.append(e)
            finally:
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        finished.set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(threads_left[0])]
    for t in threads:
        t.start()
    try:
        while not finished.wait(0.2):
            pass
    except BaseException:
        stop.set()
        deadline = time.monotonic() + 1.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


def fill(
    selection: Selection,
    dest: Path,
    *,
    client: Any = None,
    jobs: int = 8,
    prune: bool = False,
) -> FillResult:
    """Put every picked file into ``dest`` and index it (``dest/simple``, with hashes). A file is placed under
    its name only once verified: its sha256 equals the lock's, or (no hash to compare) it is a readable wheel
    of the right name and version. Downloads go through ``client`` (httpx). Ctrl-C stops every worker and
    leaves no partial file."""
    started = time.monotonic()
    _writable(dest)
    names = [p.filename for p in selection.picks]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise NoAnswer(f"two packages need files of the same name: {sorted(dupes)[0]}")
    buckets: dict[str, list[str]] = {"downloaded": [], "copied": [], "kept": []}
    hashes: dict[str, str] = {}
    total = [0]
    lock = threading.Lock()
    stop = threading.Event()
    own_client = None
    if client is None and any(p.file and not p.file.local_path for p in selection.picks):
        import httpx

        own_client = client = httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0))

    def one(p: Pick) -> None:
        how, sha, size = _place(p, dest, client, stop)
        with lock:
            buckets[how].append(p.filename)
            hashes[p.filename] = sha
            total[0] += size

    def close() -> None:
        if own_client is not None:
            own_client.close()

    try:
        _run_all(selection.picks, one, jobs, stop, last=close)
    except BaseException:
        if stop.is_set():  # interrupted: a worker still blocked may have left its .part; remove it
            for name in names:
                (dest / f".{name}.part").unlink(missing_ok=True)
        raise
    wanted = set(names)
    stale = sorted(f.name for f in dest.glob("*.whl") if f.name not in wanted)
    if prune:
        for name in stale:
            (dest / name).unlink(missing_ok=True)
    return FillResult(
        downloaded=tuple(sorted(buckets["downloaded"])),
        copied=tuple(sorted(buckets["copied"])),
        kept=tuple(sorted(buckets["kept"])),
        stale=tuple(stale),
        pruned=prune,
        bytes=total[0],
        seconds=time.monotonic() - started,
        indexed=_reindex(dest, hashes),
    )


def _sha256(path: Path) -> str:
    return sha256_of(path)


def _reindex(dest: Path, verified: Mapping[str, str]) -> int:
    """The index lists what this run verified, and what an earlier run indexed that is still in the folder
    (its hash as verified then: a file swapped since is refused by uv when it installs)."""
    files = {f: h for f, h in (read_index(dest) or {}).items() if (dest / f).is_file()}
    files.update(verified)
    try:
        write_index(dest, files)
    except OSError as e:
        raise UsageError(f"cannot write the index {dest / INDEX}: {e.strerror or e}") from None
    return len(files)


def index_folder(dest: Path) -> tuple[int, list[str]]:
    """Index the wheels already in ``dest`` as they are now (wheels you put there yourself). Every one must be a
    readable wheel of the name and version its file name says; returns (indexed, not indexed: "file: why")."""
    if not dest.is_dir():
        raise UsageError(f"{dest}: no such folder")
    _writable(dest)
    files: dict[str, str] = {}
    bad: list[str] = []
    for w in sorted(dest.glob("*.whl")):
        try:
            check_wheel(w)
        except BadWheel as e:
            bad.append(f"{w.name}: {e}")
            continue
        files[w.name] = sha256_of(w)
    try:
        write_index(dest, files)
    except OSError as e:
        raise UsageError(f"cannot write the index {dest / INDEX}: {e.strerror or e}") from None
    return len(files), bad


def wheel_names(folder: Path) -> frozenset[str] | None:
    """The (normalized) package names the folder's hashed index serves, for wheels still there; None when the
    folder has no index (a folder of wheels llmenv did not index)."""
    files = read_index(folder)
    if files is None:
        return None
    out = set()
    for f in files:
        if (folder / f).is_file():
            with contextlib.suppress(UsageError):
                out.add(_wheel_identity(Path(f))[0])
    return frozenset(out)
