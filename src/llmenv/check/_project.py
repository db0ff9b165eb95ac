"""A read-only, typed view of a parsed pyproject.toml, every piece carrying its dotted location.

Raw dicts stop here: rules see indexes, sources, dependencies (per base / extra / group), environments and
declared conflicts as small frozen values. Anything of the wrong type is skipped (and noted in ``problems``), so a
strange file yields findings, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from llmenv.check._releases import Catalog

__all__ = ["Dep", "Index", "Problem", "Project", "Source", "loc"]


def _bare(key: str) -> bool:
    return bool(key) and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)


def loc(*parts: str | int) -> str:
    """A dotted path with list indexes: ``loc("tool", "uv", "index", 2, "format")`` -> ``tool.uv.index[2].format``.

    Keys that are not bare TOML keys are quoted as TOML would (``tool.uv.sources."ruamel.yaml"``).
    """
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            seg = p if _bare(p) else json.dumps(p)
            out += f".{seg}" if out else seg
    return out


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Something uv would reject outright (an unparsable requirement or marker)."""

    location: str
    what: str  # "requirement" | "marker"
    text: str
    error: str


@dataclass(frozen=True, kw_only=True)
class Index:
    position: int
    name: str | None
    url: str
    explicit: bool
    default: bool
    format: str
    keys: tuple[str, ...]

    @property
    def location(self) -> str:
        return loc("tool", "uv", "index", self.position)

    @property
    def label(self) -> str:
        return f"{self.name!r} ({self.url})" if self.name else self.url


@dataclass(frozen=True, kw_only=True)
class Source:
    """One ``[tool.uv.sources]`` entry for a package (a list of entries gives one Source each)."""

    package: str
    key: str  # as written in the file
    location: str
    table: Mapping[str, Any]
    marker: Marker | None

    def get(self, key: str) -> Any:
        return self.table.get(key)

    @property
    def index(self) -> str | None:
        v = self.table.get("index")
        return v if isinstance(v, str) else None

    @property
    def scoped(self) -> bool:
        """Does the entry apply only with an extra or a group?"""
        return "extra" in self.table or "group" in self.table

    @property
    def is_workspace(self) -> bool:
        return self.table.get("workspace") is True

    def wheel_url(self) -> bool:
        for k in ("url", "path"):
            v = self.table.get(k)
            if isinstance(v, str) and v.split("?")[0].split("#")[0].endswith(".whl"):
                return True
        return False


@dataclass(frozen=True, kw_only=True)
class Dep:
    """One requirement string, where it is, and which install set it belongs to."""

    location: str
    text: str
    requirement: Requirement
    scope: str  # "base" | "extra" | "group" | "constraint" | "override"
    scope_name: str | None = None  # the extra or group

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def scope_label(self) -> str:
        if self.scope in ("extra", "group"):
            return f"{self.scope} {self.scope_name!r}"
        return {"base": "the base dependencies", "constraint": "constraint-dependencies"}.get(
            self.scope, "override-dependencies"
        )


def _table(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _strings(v: Any) -> list[tuple[int, str]]:
    if not isinstance(v, list):
        return []
    return [(i, s) for i, s in enumerate(v) if isinstance(s, str)]


@dataclass(frozen=True, kw_only=True)
class Project:
    data: Mapping[str, Any]
    name: str | None
    requires_python: SpecifierSet | None
    indexes: tuple[Index, ...]
    sources: Mapping[str, tuple[Source, ...]]
    deps: tuple[Dep, ...]
    group_includes: Mapping[str, tuple[str, ...]]
    environments: tuple[Marker, ...] | None
    conflicts: tuple[frozenset[tuple[str, str]], ...]
    problems: tuple[Problem, ...] = field(default=())
    catalog: Catalog = field(default_factory=Catalog.bundled, repr=False, compare=False)
    # Results several rules ask for (the items of each install set, the URL claims), computed once per check.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, catalog: Catalog | None = None) -> Project:
        problems: list[Problem] = []
        project = _table(data.get("project"))
        uv = _table(_table(data.get("tool")).get("uv"))

        name = project.get("name")
        rp: SpecifierSet | None = None
        if isinstance(project.get("requires-python"), str):
            try:
                rp = SpecifierSet(project["requires-python"])
            except InvalidSpecifier:
                rp = None

        indexes = []
        raw_indexes = uv.get("index")
        if isinstance(raw_indexes, list):
            for i, entry in enumerate(raw_indexes):
                if not isinstance(entry, Mapping) or not isinstance(entry.get("url"), str):
                    continue
                indexes.append(
                    Index(
                        position=i,
                        name=entry["name"] if isinstance(entry.get("name"), str) else None,
                        url=entry["url"],
                        explicit=entry.get("explicit") is True,
                        default=entry.get("default") is True,
                        format=entry["format"] if isinstance(entry.get("format"), str) else "simple",
                        keys=tuple(str(k) for k in entry),
                    )
                )

        sources: dict[str, list[Source]] = {}
        for key, value in _table(uv.get("sources")).items():
            entries: list[tuple[str, Any]]
            if isinstance(value, list):
                entries = [(loc("tool", "uv", "sources", key, i), v) for i, v in enumerate(value)]
            else:
                entries = [(loc("tool", "uv", "sources", key), value)]
            for where, entry in entries:
                if not isinstance(entry, Mapping):
                    continue
                marker = None
                if isinstance(entry.get("marker"), str):
                    marker = _marker(entry["marker"], loc_join(where, "marker"), problems)
                sources.setdefault(canonicalize_name(key), []).append(
                    Source(
                        package=canonicalize_name(key), key=key, location=where, table=entry, marker=marker
                    )
                )

        deps: list[Dep] = []

        def add(where: tuple[str | int, ...], values: Any, scope: str, scope_name: str | None = None) -> None:
            for i, text in _strings(values):
                location = loc(*where, i)
                try:
                    req = _requirement(text)
                except InvalidRequirement as e:
                    problems.append(Problem(location=location, what="requirement", text=text, error=str(e)))
                    continue
                deps.append(
                    Dep(location=location, text=text, requirement=req, scope=scope, scope_name=scope_name)
                )

        add(("project", "dependencies"), project.get("dependencies"), "base")
        for extra, values in _table(project.get("optional-dependencies")).items():
            add(("project", "optional-dependencies", extra), values, "extra", canonicalize_name(extra))
        includes: dict[str, list[str]] = {}
        for group, values in _table(data.get("dependency-groups")).items():
            gname = canonicalize_name(group)
            add(("dependency-groups", group), values, "group", gname)
            if isinstance(values, list):
                for v in values:
                    if isinstance(v, Mapping) and isinstance(v.get("include-group"), str):
                        includes.setdefault(gname, []).append(canonicalize_name(v["include-group"]))
        add(("tool", "uv", "dev-dependencies"), uv.get("dev-dependencies"), "group", "dev")
        add(("tool", "uv", "constraint-dependencies"), uv.get("constraint-dependencies"), "constraint")
        add(("tool", "uv", "override-dependencies"), uv.get("override-dependencies"), "override")

        environments: list[Marker] | None = None
        if "environments" in uv:
            environments = []
            raw_env = uv["environments"]
            items = [(0, raw_env)] if isinstance(raw_env, str) else _strings(raw_env)
            for i, text in items:
                where = (
                    loc("tool", "uv", "environments")
                    if isinstance(raw_env, str)
                    else loc("tool", "uv", "environments", i)
                )
                m = _marker(text, where, problems)
                if m is not None:
                    environments.append(m)

        conflicts = []
        raw_conflicts = uv.get("conflicts")
        if isinstance(raw_conflicts, list):
            for group_ in raw_conflicts:
                if not isinstance(group_, list):
                    continue
                members = set()
                for item in group_:
                    if not isinstance(item, Mapping):
                        continue
                    pkg = item.get("package")
                    if (
                        isinstance(pkg, str)
                        and isinstance(name, str)
                        and canonicalize_name(pkg) != canonicalize_name(name)
                    ):
                        continue  # a conflict of another workspace member
                    for kind in ("extra", "group"):
                        if isinstance(item.get(kind), str):
                            members.add((kind, canonicalize_name(item[kind])))
                if len(members) >= 2:
                    conflicts.append(frozenset(members))

        return cls(
            data=data,
            name=canonicalize_name(name) if isinstance(name, str) else None,
            requires_python=rp,
            indexes=tuple(indexes),
            sources={k: tuple(v) for k, v in sources.items()},
            deps=tuple(deps),
            group_includes={k: tuple(v) for k, v in includes.items()},
            environments=tuple(environments) if environments is not None else None,
            conflicts=tuple(conflicts),
            problems=tuple(problems),
            catalog=catalog if catalog is not None else Catalog.bundled(),
        )

    # ---- queries -----------------------------------------------------------------------------------------
    @property
    def uv(self) -> Mapping[str, Any]:
        return _table(_table(self.data.get("tool")).get("uv"))

    def index_named(self, name: str) -> Index | None:
        for ix in self.indexes:
            if ix.name == name:
                return ix
        return None

    def deps_named(self, names: Iterable[str]) -> list[Dep]:
        wanted = {canonicalize_name(n) for n in names}
        return [d for d in self.deps if d.name in wanted and d.scope in ("base", "extra", "group")]

    def package_list(self, key: str) -> set[str]:
        """A ``[tool.uv]`` list of package names (``no-build-isolation-package``) as canonical names."""
        return {canonicalize_name(s) for _, s in _strings(self.uv.get(key))}

    def declared_conflict(self, a: tuple[str, str], b: tuple[str, str]) -> bool:
        return any(a in c and b in c for c in self.conflicts)


def loc_join(base: str, *parts: str | int) -> str:
    rest = loc(*parts)
    if not rest:
        return base
    return base + (rest if rest.startswith("[") else "." + rest)


def _requirement(text: str) -> Requirement:
    """PEP 508, read as leniently as uv reads it: uv accepts ``name @ url; marker`` (no space before ``;``)."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        if "@" in text and ";" in text and " ;" not in text:
            return Requirement(text.replace(";", " ;", 1))
        raise


def _marker(text: str, where: str, problems: list[Problem]) -> Marker | None:
    try:
        return Marker(text)
    except InvalidMarker as e:
        problems.append(Problem(location=where, what="marker", text=text, error=str(e)))
        return None
