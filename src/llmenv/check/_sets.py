"""Which requirements meet in one resolution.

uv resolves the base dependencies, every extra and every dependency group of a project in one universal lock;
only scopes declared in ``[tool.uv] conflicts`` are resolved apart. So two requirements *meet* when their scopes
do (the base meets everything; two extras or groups meet unless declared conflicting) and their markers hold on
one machine of the lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.markers import Marker

from llmenv.check._envs import Env, holds
from llmenv.check._project import Dep, Project, Source

__all__ = ["Scope", "dep_scope", "markers_meet", "scopes_meet", "set_deps", "source_scope"]

Scope = tuple[str, str] | None  # None: the base dependencies (and constraints)


def dep_scope(dep: Dep) -> Scope:
    if dep.scope in ("extra", "group") and dep.scope_name is not None:
        return (dep.scope, dep.scope_name)
    return None


def source_scope(src: Source) -> Scope:
    from packaging.utils import canonicalize_name

    for kind in ("extra", "group"):
        value = src.get(kind)
        if isinstance(value, str):
            return (kind, canonicalize_name(value))
    return None


def scopes_meet(project: Project, a: Scope, b: Scope) -> bool:
    if a is None or b is None or a == b:
        return True
    return not project.declared_conflict(a, b)


def markers_meet(a: Marker | None, b: Marker | None, envs: Sequence[Env]) -> bool:
    return any(holds(a, e) and holds(b, e) for e in envs)


def set_deps(project: Project, scope: Scope, _seen: frozenset[tuple[str, str]] = frozenset()) -> list[Dep]:
    """The direct requirements of one install: the base, or the base plus one extra or group (self-references
    such as ``proj[a,b]`` and ``{include-group = ...}`` followed). Kept in ``project.memo``."""
    if not _seen:
        key = ("set_deps", scope)
        if key not in project.memo:
            project.memo[key] = _set_deps(project, scope, _seen)
        return list(project.memo[key])
    return _set_deps(project, scope, _seen)


def _by_scope(project: Project) -> dict[Scope, list[Dep]]:
    """The requirements of the base, each extra and each group, indexed once per project."""
    if "by_scope" not in project.memo:
        index: dict[Scope, list[Dep]] = {}
        for dep in project.deps:
            if dep.scope in ("base", "extra", "group"):
                index.setdefault(dep_scope(dep), []).append(dep)
        project.memo["by_scope"] = index
    by: dict[Scope, list[Dep]] = project.memo["by_scope"]
    return by


def _set_deps(project: Project, scope: Scope, _seen: frozenset[tuple[str, str]]) -> list[Dep]:
    from packaging.utils import canonicalize_name

    index = _by_scope(project)
    seen = _seen | ({scope} if scope is not None else set())
    out: list[Dep] = []
    for dep in index.get(None, []) + (index.get(scope, []) if scope is not None else []):
        if project.name is not None and dep.name == project.name:
            for extra in sorted(canonicalize_name(e) for e in dep.requirement.extras):
                if ("extra", extra) not in seen:
                    out.extend(d for d in _set_deps(project, ("extra", extra), seen) if d.scope != "base")
            continue
        out.append(dep)
    if scope is not None and scope[0] == "group":
        for inc in project.group_includes.get(scope[1], ()):
            if ("group", inc) not in seen:
                out.extend(d for d in _set_deps(project, ("group", inc), seen) if d.scope != "base")
    unique: dict[int, Dep] = {}
    for d in out:
        unique.setdefault(id(d), d)
    return list(unique.values())
