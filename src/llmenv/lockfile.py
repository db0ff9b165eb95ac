"""Read a project's ``uv.lock`` and its PEP 751 export (``uv export --format pylock.toml``).

``uv.lock`` answers "which versions are locked" (``ray-env``, ``doctor --ray``); the ``pylock.toml`` that the
bundled uv exports from it answers "which files does one platform need": every package with the marker under which
it is installed, and each wheel / sdist / archive with its URL and sha256, local flat indexes included (uv.lock
itself records no hash for those). Reading is strict about shape and never runs code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from llmenv.errors import NoAnswer, UsageError
from llmenv.files import read_regular

__all__ = [
    "LockedFile",
    "LockedPackage",
    "Pylock",
    "export_pylock",
    "locked_versions",
    "parse_pylock",
    "read_toml",
]


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as plain data (tomllib where there is one: a large uv.lock parses in milliseconds)."""
    raw = read_regular(path)  # a folder, FIFO or unreadable file: one line, exit 2
    if raw is None:
        raise UsageError(f"cannot read {path}: no such file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    return parse_toml_text(text, str(path))


def parse_toml_text(text: str, where: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UsageError(f"{where}: not valid TOML: {e}") from None
    from llmenv.project import parse_toml

    return parse_toml(text, where).unwrap()


def locked_versions(lock: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``uv.lock`` -> {normalized name: the versions locked for it} (several when forks lock several)."""
    out: dict[str, list[str]] = {}
    for p in lock.get("package", []) or []:
        if not isinstance(p, dict) or "name" not in p or "version" not in p:
            continue
        versions = out.setdefault(canonicalize_name(str(p["name"])), [])
        if str(p["version"]) not in versions:
            versions.append(str(p["version"]))
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True, kw_only=True)
class LockedFile:
    """One distribution file of a locked package: a wheel, an sdist, or a direct-URL archive."""

    url: str  # http(s):// or file://
    sha256: str | None
    size: int | None = None

    @property
    def filename(self) -> str:
        return unquote(urlparse(self.url).path.rsplit("/", 1)[-1])

    @property
    def local_path(self) -> Path | None:
        p = urlparse(self.url)
        return Path(unquote(p.path)) if p.scheme == "file" else None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, base: Path | None = None) -> LockedFile:
        if d.get("url"):
            url = str(d["url"])
        elif d.get("path") and base is not None:
            url = (base / str(d["path"])).resolve().as_uri()
        else:
            raise ValueError("a file without url or path")
        hashes = d.get("hashes") or {}
        size = d.get("size")
        return cls(url=url, sha256=hashes.get("sha256"), size=int(size) if size is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str  # normalized
    version: str | None
    marker: Marker | None
    kind: str  # index | archive | directory | vcs
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    archive: LockedFile | None = None
    path: str | None = None  # directory packages (editable path sources)

    def applies(self, env: Mapping[str, str]) -> bool:
        if self.marker is None:
            return True
        try:
            return self.marker.evaluate(dict(env))
        except Exception:  # an unknown marker variable: keep the package rather than silently drop it
            return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "marker": str(self.marker) if self.marker else None,
            "kind": self.kind,
            "wheels": [w.to_dict() for w in self.wheels],
            "sdist": self.sdist.to_dict() if self.sdist else None,
            "archive": self.archive.to_dict() if self.archive else None,
            "path": self.path,
        }


@dataclass(frozen=True, kw_only=True)
class Pylock:
    environments: tuple[str, ...]
    requires_python: str | None
    packages: tuple[LockedPackage, ...]

    def for_environment(self, env: Mapping[str, str]) -> tuple[LockedPackage, ...]:
        return tuple(p for p in self.packages if p.applies(env))


def parse_pylock(text: str, *, base: Path) -> Pylock:
    """A ``pylock.toml`` (PEP 751) as uv exports it. ``base`` resolves relative paths."""
    doc = parse_toml_text(text, "pylock.toml")
    try:
        return _pylock(doc, base)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise UsageError(f"pylock.toml (uv export): unexpected content: {type(e).__name__}: {e}") from None


def _pylock(doc: Mapping[str, Any], base: Path) -> Pylock:
    packages = []
    for raw in doc.get("packages", []) or []:
        name = canonicalize_name(str(raw["name"]))
        marker = None
        if raw.get("marker"):
            try:
                marker = Marker(str(raw["marker"]))
            except InvalidMarker:
                raise UsageError(f"pylock.toml: {name} has an invalid marker {raw['marker']!r}") from None
        wheels = tuple(LockedFile.from_dict(w, base=base) for w in raw.get("wheels", []) or [])
        sdist = LockedFile.from_dict(raw["sdist"], base=base) if raw.get("sdist") else None
        archive = LockedFile.from_dict(raw["archive"], base=base) if raw.get("archive") else None
        if raw.get("directory"):
            kind = "directory"
        elif raw.get("vcs"):
            kind = "vcs"
        elif archive is not None:
            kind = "archive"
        else:
            kind = "index"
        path = str(raw["directory"].get("path")) if isinstance(raw.get("directory"), dict) else None
        packages.append(
            LockedPackage(
                name=name,
                version=str(raw["version"]) if raw.get("version") else None,
                marker=marker,
                kind=kind,
                wheels=wheels,
                sdist=sdist,
                archive=archive,
                path=path,
            )
        )
    return Pylock(
        environments=tuple(str(e) for e in doc.get("environments", []) or []),
        requires_python=doc.get("requires-python"),
        packages=tuple(packages),
    )


def export_pylock(
    uv: str,
    project: Path,
    *,
    selection: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> Pylock:
    """Run ``uv export --frozen --format pylock.toml`` in ``project`` (``selection``: --extra/--group/... flags)."""
    argv = [uv, "export", "--frozen", "--format", "pylock.toml", "--no-header", "--quiet", *selection]
    try:
        p = subprocess.run(
            argv,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=dict(environ) if environ is not None else None,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError(f"cannot run {uv}: {e}") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise NoAnswer(f"uv export failed in {project}: {last}", hint="is uv.lock up to date? (`llmenv lock`)")
    return parse_pylock(p.stdout, base=project)
