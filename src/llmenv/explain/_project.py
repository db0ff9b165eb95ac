"""What explain knows of the project a failure came from: the settings of its pyproject.toml that fixes must
respect (never propose what it already has; edit its real keys and values).

``read_project(text)`` is pure: TOML text in, ``ProjectFacts`` out (None when the text is not TOML). The CLI
reads the file (``explain --project DIR``; ``lock`` / ``sync`` / ``init --lock`` pass the project they ran uv in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

__all__ = ["Index", "ProjectFacts", "read_project"]


@dataclass(frozen=True, kw_only=True)
class Index:
    """One index the project configures: ``[[tool.uv.index]]``, ``index-url`` / ``extra-index-url``, or a
    ``find-links`` location."""

    name: str | None
    url: str
    explicit: bool = False
    default: bool = False
    flat: bool = False

    @property
    def host(self) -> str:
        return (urlparse(self.url).hostname or "").lower()


@dataclass(frozen=True, kw_only=True)
class ProjectFacts:
    path: str = "pyproject.toml"
    name: str | None = None
    requires_python: str | None = None
    dependencies: tuple[str, ...] = ()
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dynamic: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    sources: Mapping[str, Any] = field(default_factory=dict)
    environments: tuple[str, ...] = ()
    required_environments: tuple[str, ...] = ()
    extra_build_dependencies: Mapping[str, Any] = field(default_factory=dict)
    extra_build_variables: Mapping[str, Any] = field(default_factory=dict)
    override_dependencies: tuple[str, ...] = ()
    dependency_metadata: tuple[str, ...] = ()  # names with a [[tool.uv.dependency-metadata]] entry
    python_install_mirror: str | None = None
    prerelease: str | None = None
    index_strategy: str | None = None
    conflicts: bool = False
    workspace_members: tuple[str, ...] = ()
    backend_dynamic: tuple[str, ...] = ()  # fields [tool.setuptools.dynamic] computes

    @property
    def python_floor(self) -> str | None:
        """The lowest Python minor requires-python allows (``>=3.10`` -> ``3.10``)."""
        if not self.requires_python:
            return None
        m = re.search(r"(?:>=|~=|==)\s*(\d+\.\d+)", self.requires_python)
        if m:
            return m.group(1)
        m = re.search(r">\s*(\d+)\.(\d+)", self.requires_python)
        return f"{m.group(1)}.{int(m.group(2)) + 1}" if m else None

    @property
    def hosts(self) -> frozenset[str]:
        """Every host the project's indexes, find-links and mirrors name."""
        out = {i.host for i in self.indexes}
        if self.python_install_mirror:
            out.add((urlparse(self.python_install_mirror).hostname or "").lower())
        for src in self.sources.values():
            for s in src if isinstance(src, list) else [src]:
                if isinstance(s, Mapping):
                    for key in ("url", "git"):
                        if isinstance(s.get(key), str):
                            out.add((urlparse(s[key]).hostname or "").lower())
        return frozenset(h for h in out if h)

    def requirements(self) -> tuple[str, ...]:
        """Every requirement the project declares: dependencies, extras, groups (as written)."""
        out = list(self.dependencies)
        for reqs in (*self.optional.values(), *self.groups.values()):
            out += reqs
        return tuple(out)

    def requirement_lists(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(table, key, requirements) for every list of requirements: ``("project", "dependencies", ...)``,
        ``("project.optional-dependencies", "vllm", ...)``, ``("dependency-groups", "dev", ...)``."""
        out = [("project", "dependencies", self.dependencies)]
        out += [("project.optional-dependencies", k, v) for k, v in self.optional.items()]
        out += [("dependency-groups", k, v) for k, v in self.groups.items()]
        return out

    def requirement_for(self, name: str) -> str | None:
        """The project's own requirement string on ``name`` (normalized), as written, if it has one."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        for r in self.requirements():
            try:
                if canonicalize_name(Requirement(r).name) == name:
                    return r
            except InvalidRequirement:
                continue
        return None


def _strs(v: object) -> tuple[str, ...]:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def _table(v: object) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _indexes(uv: Mapping[str, Any]) -> tuple[Index, ...]:
    out: list[Index] = []
    for e in uv.get("index", []) if isinstance(uv.get("index"), list) else []:
        if isinstance(e, Mapping) and isinstance(e.get("url"), str):
            out.append(Index(name=e.get("name") if isinstance(e.get("name"), str) else None, url=e["url"],
                             explicit=e.get("explicit") is True, default=e.get("default") is True,
                             flat=e.get("format") == "flat"))
    if isinstance(uv.get("index-url"), str):
        out.append(Index(name=None, url=uv["index-url"], default=True))
    for url in _strs(uv.get("extra-index-url")):
        out.append(Index(name=None, url=url))
    links = uv.get("find-links")
    for url in _strs(links) if isinstance(links, list) else ((links,) if isinstance(links, str) else ()):
        out.append(Index(name=None, url=url, flat=True))
    return tuple(out)


def read_project(text: str, path: str = "pyproject.toml") -> ProjectFacts | None:
    """The facts of a pyproject.toml's text; None when it is not valid TOML."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(text).unwrap()
    except (TOMLKitError, ValueError):
        return None
    project = _table(doc.get("project"))
    uv = _table(_table(doc.get("tool")).get("uv"))
    optional = {k: _strs(v) for k, v in _table(project.get("optional-dependencies")).items()}
    # a group with an include-group table is left out: an edit that rewrites its list would drop the table
    groups = {k: _strs(v) for k, v in _table(doc.get("dependency-groups")).items()
              if isinstance(v, list) and all(isinstance(x, str) for x in v)}
    metadata = uv.get("dependency-metadata")
    return ProjectFacts(
        path=path,
        name=project.get("name") if isinstance(project.get("name"), str) else None,
        requires_python=project.get("requires-python") if isinstance(project.get("requires-python"), str) else None,
        dependencies=_strs(project.get("dependencies")),
        optional=optional,
        groups=groups,
        dynamic=_strs(project.get("dynamic")),
        indexes=_indexes(uv),
        sources=dict(_table(uv.get("sources"))),
        environments=_strs(uv.get("environments")),
        required_environments=_strs(uv.get("required-environments")),
        extra_build_dependencies=dict(_table(uv.get("extra-build-dependencies"))),
        extra_build_variables=dict(_table(uv.get("extra-build-variables"))),
        override_dependencies=_strs(uv.get("override-dependencies")),
        dependency_metadata=tuple(
            str(e["name"]) for e in (metadata if isinstance(metadata, list) else [])
            if isinstance(e, Mapping) and isinstance(e.get("name"), str)
        ),
        python_install_mirror=uv.get("python-install-mirror") if isinstance(uv.get("python-install-mirror"), str) else None,
        prerelease=uv.get("prerelease") if isinstance(uv.get("prerelease"), str) else None,
        index_strategy=uv.get("index-strategy") if isinstance(uv.get("index-strategy"), str) else None,
        conflicts=bool(uv.get("conflicts")),
        workspace_members=_strs(_table(uv.get("workspace")).get("members")),
        backend_dynamic=tuple(_table(_table(_table(doc.get("tool")).get("setuptools")).get("dynamic"))),
    )
