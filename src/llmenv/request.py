"""What the user asked for: SPECs parsed into requirements and local source trees."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from llmenv.errors import UsageError

__all__ = ["LocalSpec", "Request", "parse_specs"]

_LOCAL_RE = re.compile(r"^(?P<path>(?:\.{1,2}|~)?/[^\[\]]*|\.{1,2})(?:\[(?P<extras>[^\]]*)\])?$")


@dataclass(frozen=True, kw_only=True)
class LocalSpec:
    """A local source tree with extras (``./verl[vllm]``): an editable path source."""

    name: NormalizedName
    path: str  # as the user wrote it (relative to the current directory)
    extras: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Request:
    requirements: tuple[Requirement, ...] = ()
    locals: tuple[LocalSpec, ...] = ()

    def names(self) -> set[NormalizedName]:
        return {canonicalize_name(r.name) for r in self.requirements} | {loc.name for loc in self.locals}

    def get(self, name: str) -> Requirement | None:
        n = canonicalize_name(name)
        for r in self.requirements:
            if canonicalize_name(r.name) == n:
                return r
        return None

    def specifier(self, name: str) -> SpecifierSet:
        r = self.get(name)
        return r.specifier if r else SpecifierSet()

    def specs(self) -> list[str]:
        """The request back as SPEC strings (recorded in ``[tool.llmenv]``)."""
        out = [str(r) for r in self.requirements]
        out += [f"{loc.path}[{','.join(loc.extras)}]" if loc.extras else loc.path for loc in self.locals]
        return out


def _local_name(path: Path) -> NormalizedName:
    """The project name of a local tree: ``[project] name`` or ``setup.py``'s ``name=``; else the folder name."""
    pyproject = path / "pyproject.toml"
    if pyproject.is_file():
        import tomlkit
        from tomlkit.exceptions import ParseError

        try:
            data = tomlkit.parse(pyproject.read_text(encoding="utf-8")).unwrap()
            name = data.get("project", {}).get("name")
            if isinstance(name, str):
                return canonicalize_name(name)
        except (ParseError, OSError, UnicodeDecodeError):
            pass
    setup = path / "setup.py"
    if setup.is_file():
        m = re.search(
            r"""\bname\s*=\s*["']([A-Za-z0-9._-]+)["']""", setup.read_text(encoding="utf-8", errors="replace")
        )
        if m:
            return canonicalize_name(m.group(1))
    return canonicalize_name(path.resolve().name)


def parse_specs(specs: Iterable[str], cwd: Path) -> Request:
    reqs: list[Requirement] = []
    locals_: list[LocalSpec] = []
    seen: set[str] = set()
    for spec in specs:
        s = spec.strip()
        m = _LOCAL_RE.match(s)
        if m:
            rel = m.group("path")
            path = (cwd / rel).expanduser() if not rel.startswith("~") else Path(rel).expanduser()
            if not path.is_dir():
                raise UsageError(f"{spec!r}: no such folder (a local SPEC must be a source tree)")
            if not ((path / "pyproject.toml").is_file() or (path / "setup.py").is_file()):
                raise UsageError(f"{spec!r}: {path} has neither pyproject.toml nor setup.py")
            extras = tuple(e.strip() for e in (m.group("extras") or "").split(",") if e.strip())
            locals_.append(LocalSpec(name=_local_name(path), path=rel, extras=extras))
            continue
        try:
            r = Requirement(s)
        except InvalidRequirement as e:
            reason = str(e).splitlines()[0]
            raise UsageError(f"not a requirement or a local folder: {spec!r} ({reason})") from None
        if r.url:
            raise UsageError(
                f"{spec!r}: URL requirements are not planned; add them to pyproject.toml yourself"
            )
        n = canonicalize_name(r.name)
        if n in seen:
            raise UsageError(f"{r.name} is given twice; combine the constraints in one SPEC")
        seen.add(n)
        reqs.append(r)
    return Request(requirements=tuple(reqs), locals=tuple(locals_))
