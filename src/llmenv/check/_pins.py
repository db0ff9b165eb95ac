"""Requirement sets of a project and whether two pins on one package can both hold.

A *set* is what one install asks for: the base dependencies (with constraints), or the base plus one extra or
group. Each requirement becomes an ``Item``; an exact pin may imply more items through knowledge
(``vllm==0.8.5`` -> ``torch==2.6.0``; a pinned release's own Requires-Dist). Packages named in
``override-dependencies`` are left out: uv replaces every requirement on them.

``can_both_hold`` decides whether two specifier sets intersect by testing candidate versions built from the
versions they mention (each one, its neighbours, the next release at every position): no version satisfies both
``~=0.15.4`` and ``~=0.18.0``, while ``~=0.13`` and ``~=0.14.0`` meet at 0.14.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.check._envs import Env, holds
from llmenv.check._project import Dep, Project
from llmenv.knowledge.engines import engine_torch_pin, pinned_requirements

__all__ = ["Clash", "Item", "can_both_hold", "clashes", "exact_version", "own_items", "scopes"]

Scope = tuple[str, str]  # ("extra" | "group", name)


@dataclass(frozen=True, kw_only=True)
class Cond:
    """A marker, and the extras under which it is evaluated (a pinned release's ``extra == 'finetune'``)."""

    marker: Marker
    extras: tuple[str, ...] = ("",)


@dataclass(frozen=True, kw_only=True)
class Item:
    name: str
    spec: SpecifierSet
    text: str  # how to show the requirement: "torch==2.6.0"
    dep: Dep  # the line of the file it comes from
    kind: str  # "direct" | "engine" | "metadata"
    via: str | None = None  # "vllm==0.8.5" for implied items
    conds: tuple[Cond, ...] = ()

    def spec_version(self) -> str:
        """The version of an exact pin (``==2.6.0`` -> ``2.6.0``), else the specifier as written."""
        specs = list(self.spec)
        return specs[0].version if len(specs) == 1 else str(self.spec)

    def applies(self, env: Env) -> bool:
        return all(holds(c.marker, env, c.extras) for c in self.conds)

    @property
    def origin(self) -> str:
        """``"deepspeed~=0.18.0" (project.dependencies[3])`` or ``"torch==2.6.0" (pinned by vllm==0.8.5, ...)``."""
        if self.via is None:
            return f'"{self.text}" ({self.dep.location})'
        why = "PyPI metadata" if self.kind == "metadata" else "its torch pin"
        return f'"{self.text}" (required by {self.via}, {why}; {self.dep.location})'


@dataclass(frozen=True, kw_only=True)
class Clash:
    a: Item
    b: Item

    @property
    def key(self) -> frozenset[tuple[str, str]]:
        return frozenset({(self.a.dep.location, self.a.text), (self.b.dep.location, self.b.text)})


def exact_version(req: Requirement) -> str | None:
    """``vllm==0.8.5`` -> ``0.8.5``; None for ranges, wildcards and URLs."""
    specs = list(req.specifier)
    if (
        req.url
        or len(specs) != 1
        or specs[0].operator not in ("==", "===")
        or specs[0].version.endswith(".*")
    ):
        return None
    return specs[0].version


def _candidates(specs: Iterable[SpecifierSet]) -> set[Version]:
    out: set[Version] = {Version("0")}
    for ss in specs:
        for sp in ss:
            text = sp.version.removesuffix(".*")
            try:
                v = Version(text)
            except InvalidVersion:
                continue
            out.add(v)
            rel = v.release
            for i in range(len(rel)):
                out.add(Version(".".join(str(x) for x in (*rel[:i], rel[i] + 1))))
                if rel[i] > 0:  # just below: for "<V" and "!=V"
                    below: tuple[int, ...]
                    for below in ((), (999,)):
                        out.add(Version(".".join(str(x) for x in (*rel[:i], rel[i] - 1, *below))))
            after: tuple[int, ...]
            for after in ((1,), (0, 1)):
                out.add(Version(".".join(str(x) for x in (*rel, *after))))
            if v.local is None and v.post is None and v.dev is None:
                out.add(Version(f"{v.public}.post1"))
    return out


def can_both_hold(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Is there a version that satisfies both? (Arbitrary equality ``===`` is never judged: True.)"""
    if not a or not b:
        return True
    return _can_both_hold(str(a), str(b))


@lru_cache(maxsize=4096)
def _can_both_hold(a_text: str, b_text: str) -> bool:
    a, b = SpecifierSet(a_text), SpecifierSet(b_text)
    if any(s.operator == "===" for s in (*a, *b)):
        return True
    return any(
        a.contains(v, prereleases=True) and b.contains(v, prereleases=True) for v in _candidates((a, b))
    )


def _dep_conds(dep: Dep) -> tuple[Cond, ...]:
    return (Cond(marker=dep.requirement.marker),) if dep.requirement.marker else ()


def _expand(dep: Dep) -> list[Item]:
    """The item of one requirement line plus what knowledge says its exact pin implies."""
    req = dep.requirement
    name = canonicalize_name(req.name)
    conds = _dep_conds(dep)
    items = []
    if req.specifier:
        items.append(
            Item(name=name, spec=req.specifier, text=_text(req), dep=dep, kind="direct", conds=conds)
        )
    version = exact_version(req)
    if version is None:
        return items
    pinned = f"{req.name}{_extras(req)}=={version}"
    torch = engine_torch_pin(name, version, extras=req.extras)
    if torch is not None:
        items.append(
            Item(
                name="torch",
                spec=SpecifierSet(f"=={torch}"),
                text=f"torch=={torch}",
                dep=dep,
                kind="engine",
                via=pinned,
                conds=conds,
            )
        )
    for line in pinned_requirements(name, version) or ():
        try:
            child = Requirement(line)
        except InvalidRequirement:
            continue
        if not child.specifier:
            continue
        child_conds = conds
        if child.marker is not None:
            extras = tuple(canonicalize_name(e) for e in req.extras) or ("",)
            child_conds = (*conds, Cond(marker=child.marker, extras=extras))
        child_name = canonicalize_name(child.name)
        items.append(
            Item(
                name=child_name,
                spec=child.specifier,
                text=f"{child.name}{child.specifier}",
                dep=dep,
                kind="metadata",
                via=pinned,
                conds=child_conds,
            )
        )
    return items


def _text(req: Requirement) -> str:
    return f"{req.name}{_extras(req)}{req.specifier}"


def _extras(req: Requirement) -> str:
    return f"[{','.join(sorted(req.extras))}]" if req.extras else ""


def own_items(
    project: Project, scope: str, name: str | None, _seen: frozenset[Scope] = frozenset()
) -> list[Item]:
    """Items of one scope: ``("base", None)`` (dependencies and constraints), ``("extra", x)``, ``("group", g)``.

    A self-reference (``proj[a,b]`` inside an extra) and ``{include-group = ...}`` pull in those scopes' items.
    Top-level answers are kept in ``project.memo`` (several rules ask for every scope).
    """
    if not _seen:
        key = ("own_items", scope, name)
        if key not in project.memo:
            project.memo[key] = _own_items(project, scope, name, _seen)
        return list(project.memo[key])
    return _own_items(project, scope, name, _seen)


def _own_items(project: Project, scope: str, name: str | None, _seen: frozenset[Scope]) -> list[Item]:
    overridden = {d.name for d in project.deps if d.scope == "override"}
    seen = _seen | ({(scope, name)} if name is not None else set())
    items: list[Item] = []
    for dep in project.deps:
        if scope == "base":
            if dep.scope not in ("base", "constraint"):
                continue
        elif dep.scope != scope or dep.scope_name != name:
            continue
        if project.name is not None and dep.name == project.name:
            for extra in sorted(canonicalize_name(e) for e in dep.requirement.extras):
                if ("extra", extra) not in seen:
                    items.extend(own_items(project, "extra", extra, seen))
            continue
        items.extend(_expand(dep))
    if scope == "group" and name is not None:
        for inc in project.group_includes.get(name, ()):
            if ("group", inc) not in seen:
                items.extend(own_items(project, "group", inc, seen))
    return [i for i in items if i.name not in overridden]


def scopes(project: Project) -> list[Scope]:
    """Every extra and group, in file order."""
    out: list[Scope] = []
    for d in project.deps:
        if d.scope in ("extra", "group") and d.scope_name is not None and (d.scope, d.scope_name) not in out:
            out.append((d.scope, d.scope_name))
    for g in project.group_includes:
        if ("group", g) not in out:
            out.append(("group", g))
    return out


def clashes(left: Sequence[Item], right: Sequence[Item], envs: Sequence[Env]) -> list[Clash]:
    """Pairs (one from each side) on the same package that no version satisfies on a machine where both apply."""
    out = []
    for a in left:
        for b in right:
            if a is b or a.name != b.name or a.dep.location == b.dep.location:
                continue
            if can_both_hold(a.spec, b.spec):
                continue
            if any(a.applies(e) and b.applies(e) for e in envs):
                out.append(Clash(a=a, b=b))
    return out
