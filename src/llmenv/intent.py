"""The user's pyproject.toml as plan inputs: what the project already requires, allows and routes.

``ProjectConstraints.read(data, record=...)`` reads a parsed file (through ``llmenv.check.Project``, so every
piece keeps its dotted location) and leaves out what an earlier llmenv run wrote (``[tool.llmenv]``): the rest
is the user's intent, and the plan must fit inside it. This value is the one input through which the project
reaches the planner:

- ``requirements``: every requirement of the base dependencies, extras, dependency groups, constraint- and
  override-dependencies, with its scope and location (``project.optional-dependencies.cpu[1]``).
- ``requires_python``, ``environments``, ``required_environments``, ``required_version``: the user's values
  (the ones the file had before llmenv narrowed them, when the file still holds what llmenv wrote).
- ``dynamic``, ``has_project``, ``build_script``: fields llmenv must never write, a ``setup.py`` it must not
  shadow.
- ``sources`` / ``indexes``: the user's routing (``[tool.uv.sources]`` entries per package, ``[[tool.uv.index]]``).

Until the planner takes these as constraint functions, ``narrow_request`` folds what today's planner can use into
the request (the project's specifiers of the requested packages, an engine's exact torch pin) and
``incompatibilities`` checks a finished plan against the rest: a refusal names the requirement and its location.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.check import Project
from llmenv.request import Request
from llmenv.target import Target

__all__ = [
    "NARROWABLE",
    "ProjectConstraints",
    "ProjectRequirement",
    "Recorded",
    "UserSource",
    "applies",
    "incompatibilities",
    "narrow_request",
    "releases_with_variant",
    "target_envs",
]

# Keys llmenv may narrow (never widen); ``[tool.llmenv] narrowed`` records the user's value and llmenv's.
NARROWABLE = {
    "requires-python": ("project", "requires-python"),
    "environments": ("tool", "uv", "environments"),
    "required-environments": ("tool", "uv", "required-environments"),
    "required-version": ("tool", "uv", "required-version"),
}
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


def _table(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _get(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = data
    for k in path:
        if not isinstance(node, Mapping) or k not in node:
            return None
        node = node[k]
    return node


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What earlier llmenv runs wrote, from ``[tool.llmenv]``: its ``managed`` names and lines, and for each key
    it narrowed (or created) the value it wrote (``now``) and the user's value before (``was``, absent = none)."""

    dependencies: frozenset[str] = frozenset()
    constraints: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    indexes: frozenset[str] = frozenset()
    narrowed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    scope: tuple[str, str] | None = None  # the extra / group llmenv added for the planned variant
    source_entries: Mapping[str, tuple[Mapping[str, Any], ...]] = field(
        default_factory=dict
    )  # appended by llmenv

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Recorded:
        managed = _table(record.get("managed"))

        def names(key: str) -> frozenset[str]:
            v = managed.get(key)
            return frozenset(str(x) for x in v) if isinstance(v, list) else frozenset()

        narrowed = {k: dict(v) for k, v in _table(record.get("narrowed")).items() if isinstance(v, Mapping)}
        scope = managed.get("scope")
        entries: dict[str, tuple[Mapping[str, Any], ...]] = {
            str(canonicalize_name(k)): tuple(dict(e) for e in v if isinstance(e, Mapping))
            for k, v in _table(record.get("added-sources")).items()
            if isinstance(v, list)
        }
        return cls(
            dependencies=frozenset(canonicalize_name(n) for n in names("dependencies")),
            constraints=names("constraint-dependencies"),
            sources=frozenset(canonicalize_name(n) for n in names("sources")),
            indexes=names("indexes"),
            narrowed=narrowed,
            scope=(str(scope[0]), canonicalize_name(str(scope[1])))
            if isinstance(scope, list) and len(scope) == 2 and scope[0] in ("extra", "group")
            else None,
            source_entries=entries,
        )

    def users(self, key: str, current: Any) -> tuple[Any, bool]:
        """The user's value of a narrowable key, and whether llmenv owns the key (it created it).

        When the file still holds what llmenv wrote, the user's value is the one recorded before; when the user
        changed it since, the current value is theirs."""
        state = self.narrowed.get(key)
        if state is not None and "now" in state and current == state["now"]:
            return state.get("was"), "was" not in state
        return current, False


@dataclass(frozen=True, kw_only=True)
class ProjectRequirement:
    requirement: Requirement
    location: str  # project.dependencies[3], project.optional-dependencies.cpu[1], tool.uv.constraint-dependencies[0]
    scope: str  # base | extra | group | constraint | override
    scope_name: str | None = None  # the extra or group

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def text(self) -> str:
        return str(self.requirement)

    def applies(self, envs: Sequence[Mapping[str, str]]) -> bool:
        extra = self.scope_name if self.scope == "extra" and self.scope_name else ""
        return applies(self.requirement.marker, envs, extra=extra)

    def __str__(self) -> str:
        return f"{self.text} ({self.location})"


@dataclass(frozen=True, kw_only=True)
class UserSource:
    """One ``[tool.uv.sources]`` entry of the user's."""

    package: str
    key: str  # the package's key as written
    location: str
    table: Mapping[str, Any]

    @property
    def marker(self) -> Marker | None:
        m = self.table.get("marker")
        try:
            return Marker(m) if isinstance(m, str) else None
        except Exception:
            return None

    @property
    def scope(self) -> tuple[str, str] | None:
        """("extra", name) or ("group", name) when the entry applies with an extra or a group only."""
        for kind in ("extra", "group"):
            if isinstance(self.table.get(kind), str):
                return kind, canonicalize_name(self.table[kind])
        return None

    @property
    def index(self) -> str | None:
        v = self.table.get("index")
        return v if isinstance(v, str) else None


@dataclass(frozen=True, kw_only=True)
class ProjectConstraints:
    requirements: tuple[ProjectRequirement, ...] = ()
    requires_python: str | None = None
    environments: tuple[str, ...] | None = None
    required_environments: tuple[str, ...] | None = None
    required_version: str | None = None
    owned: frozenset[str] = frozenset()  # narrowable keys llmenv created (a new file, or absent before)
    dynamic: frozenset[str] = frozenset()
    has_project: bool = False
    build_script: str | None = None  # "setup.py" when the project folder has one
    sources: Mapping[str, tuple[UserSource, ...]] = field(default_factory=dict)
    indexes: tuple[Mapping[str, Any], ...] = ()  # the user's [[tool.uv.index]] entries (plain tables)
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    default_groups: tuple[str, ...] | None = None
    conflicting: frozenset[tuple[str, str]] = frozenset()  # extras / groups in a declared conflict set
    recorded: Recorded = field(default_factory=Recorded)

    @classmethod
    def read(
        cls, data: Mapping[str, Any], *, new_file: bool = False, build_script: str | None = None
    ) -> ProjectConstraints:
        """``data``: the parsed file (plain values). ``new_file``: llmenv creates it (every key is llmenv's)."""
        record = _table(_table(data.get("tool")).get("llmenv"))
        rec = Recorded.from_record(record)
        view = Project.from_dict(data)
        reqs: list[ProjectRequirement] = []
        for d in view.deps:
            if d.scope == "base" and d.name in rec.dependencies:
                continue  # a line an earlier run wrote
            if rec.scope is not None and (d.scope, d.scope_name) == rec.scope:
                continue  # the extra / group an earlier run added
            if d.scope == "constraint" and d.text in rec.constraints:
                continue
            reqs.append(
                ProjectRequirement(
                    requirement=d.requirement, location=d.location, scope=d.scope, scope_name=d.scope_name
                )
            )
        values: dict[str, Any] = {}
        owned: set[str] = set()
        for key, path in NARROWABLE.items():
            current = _get(data, path)
            user, mine = rec.users(key, current)
            if new_file or mine:
                owned.add(key)
            values[key] = None if new_file else user
        project = _table(data.get("project"))
        uv = _table(_table(data.get("tool")).get("uv"))
        dynamic = project.get("dynamic")
        sources: dict[str, tuple[UserSource, ...]] = {}
        for name, entries in view.sources.items():
            if name in rec.sources:
                continue
            theirs = [
                UserSource(package=name, key=s.key, location=s.location, table=dict(s.table))
                for s in entries
                if dict(s.table) not in rec.source_entries.get(name, ())
            ]
            if theirs:
                sources[name] = tuple(theirs)
        dg = uv.get("default-groups")
        return cls(
            requirements=tuple(reqs),
            requires_python=_str(values["requires-python"]),
            environments=_strs(values["environments"]),
            required_environments=_strs(values["required-environments"]),
            required_version=_str(values["required-version"]),
            owned=frozenset(owned),
            dynamic=frozenset(str(x) for x in dynamic) if isinstance(dynamic, list) else frozenset(),
            has_project="project" in data,
            build_script=build_script,
            sources=sources,
            indexes=tuple(
                dict(e)
                for e in (uv.get("index") or [])
                if isinstance(e, Mapping) and str(e.get("name", "")) not in rec.indexes
            )
            if isinstance(uv.get("index"), list)
            else (),
            extras=tuple(
                n
                for n in (canonicalize_name(e) for e in _table(project.get("optional-dependencies")))
                if ("extra", n) != rec.scope
            ),
            groups=tuple(
                n
                for n in (canonicalize_name(g) for g in _table(data.get("dependency-groups")))
                if ("group", n) != rec.scope
            ),
            default_groups=tuple(str(g) for g in dg) if isinstance(dg, list) else None,
            conflicting=frozenset(
                m for c in view.conflicts if len(c - {rec.scope}) >= 2 for m in c if m != rec.scope
            ),
            recorded=rec,
        )

    # ---- queries -----------------------------------------------------------------------------------------
    def requiring(
        self, name: str, *, scopes: Iterable[str] = ("base", "extra", "group")
    ) -> list[ProjectRequirement]:
        n = canonicalize_name(name)
        wanted = set(scopes)
        return [r for r in self.requirements if r.name == n and r.scope in wanted]

    def alternative(self, r: ProjectRequirement) -> bool:
        """Is ``r`` in an extra or group declared conflicting with another (one of alternatives the target
        installs one at a time, each with its own pins)?"""
        return r.scope in ("extra", "group") and (r.scope, r.scope_name or "") in self.conflicting

    def required_names(self) -> set[str]:
        return {r.name for r in self.requirements if r.scope in ("base", "extra", "group")}

    def index_named(self, name: str) -> Mapping[str, Any] | None:
        return next((i for i in self.indexes if i.get("name") == name), None)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _strs(v: Any) -> tuple[str, ...] | None:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list):
        return tuple(str(x) for x in v)
    return None


# ---------------------------------------------------------------------------------------------- markers


def target_envs(target: Target, pythons: Iterable[str] | None = None) -> list[dict[str, str]]:
    """The target's marker environment, once per Python minor the lock may use there."""
    base = target.marker_environment()
    out = []
    for py in dict.fromkeys(pythons or (target.python,)):
        env = dict(base)
        env["python_version"] = py
        env["python_full_version"] = f"{py}.0"
        env["implementation_version"] = f"{py}.0"
        out.append(env)
    return out


def applies(marker: Marker | None, envs: Sequence[Mapping[str, str]], *, extra: str = "") -> bool:
    """Can ``marker`` hold on one of ``envs``? A marker that cannot be evaluated counts as true (no guessing)."""
    if marker is None:
        return True
    for env in envs:
        try:
            if marker.evaluate({**env, "extra": extra}):
                return True
        except Exception:
            return True
    return False


# ---------------------------------------------------------------------------------------------- the planner


def _engine_torch(req: Requirement) -> set[str] | None:
    """The torch releases the versions of an inference engine that ``req`` allows pin (None: not an engine, or
    no known version in the range)."""
    from llmenv.knowledge.engines import engine_torch_pin, engine_versions

    known = engine_versions(req.name)
    if not known:
        return None
    extras = sorted(req.extras) or None
    torches = {
        t
        for v, _ in known
        if req.specifier.contains(v, prereleases=True)
        and (t := engine_torch_pin(req.name, str(v), extras)) is not None
    }
    return torches or None


def releases_with_variant(tag: str) -> SpecifierSet:
    """The torch releases the knowledge has a ``tag`` (``cu128``) build of, as a specifier."""
    from llmenv.knowledge import load

    return _as_specifier({str(r.version) for r in load().torch if tag in r.variants} or {"0"})


def _as_specifier(torches: set[str]) -> SpecifierSet:
    """Exactly these torch releases, as a specifier: ``==X`` for one; else the range between them less the
    releases the knowledge has in it that are not among them."""
    from llmenv.knowledge import load

    versions = sorted(Version(t) for t in torches)
    if len(versions) == 1:
        return SpecifierSet(f"=={versions[0]}")
    spec = SpecifierSet(f">={versions[0]},<={versions[-1]}")
    for r in load().torch:
        if versions[0] < r.version < versions[-1] and str(r.version) not in torches:
            spec &= SpecifierSet(f"!={r.version}")
    return spec


def narrow_request(
    request: Request, project: ProjectConstraints, envs: Sequence[Mapping[str, str]]
) -> tuple[Request, list[ProjectRequirement]]:
    """The request with the project's own specifiers of each requested package added (and torch's when the
    project pins an engine to one torch). Returns the requirements that narrowed it, for messages."""
    used: list[ProjectRequirement] = []
    out: list[Requirement] = []
    live = [
        r
        for r in project.requirements
        if r.scope != "override" and not project.alternative(r) and r.applies(envs)
    ]
    engine_pins: list[tuple[SpecifierSet, ProjectRequirement]] = []
    for r in live:
        if r.scope in ("base", "extra", "group"):
            torches = _engine_torch(r.requirement)
            if torches:
                engine_pins.append((_as_specifier(torches), r))
    for req in request.requirements:
        n = canonicalize_name(req.name)
        new = Requirement(str(req))
        for r in live:
            if r.name == n and str(r.requirement.specifier):
                new.specifier &= r.requirement.specifier
                used.append(r)
        if n == "torch":
            for spec, pinned_by in engine_pins:
                new.specifier &= spec
                used.append(pinned_by)
        out.append(new)
    return replace(request, requirements=tuple(out)), used


def _planned(plan: Any) -> dict[str, Version]:
    out: dict[str, Version] = {}
    for name, choice in plan.packages.items():
        try:
            out[canonicalize_name(name)] = Version(choice.version)
        except InvalidVersion:
            continue  # a local path source ("local")
    return out


def incompatibilities(plan: Any, project: ProjectConstraints, envs: Sequence[Mapping[str, str]]) -> list[str]:
    """Every way the plan breaks the project's own requirements on the target (empty: it fits)."""
    planned = _planned(plan)
    problems: list[str] = []
    for r in project.requirements:
        if project.alternative(r) or not r.applies(envs):
            continue  # an alternative extra / group keeps its own pins (llmenv does not pin over them)
        v = planned.get(r.name)
        if (
            v is not None
            and r.scope != "override"
            and not r.requirement.specifier.contains(v, prereleases=True)
        ):
            problems.append(f"{r} excludes the planned {r.requirement.name} {v}")
        if r.scope in ("base", "extra", "group") and "torch" in planned:
            torches = _engine_torch(r.requirement)
            if torches is not None and str(planned["torch"]) not in torches:
                pins = " or ".join(f"torch=={t}" for t in sorted(torches, key=Version))
                problems.append(f"{r} pins {pins}, not the planned torch {planned['torch']}")
    for name, v in planned.items():
        overrides = project.requiring(name, scopes=("override",))
        if not overrides:
            continue
        live = [o for o in overrides if o.applies(envs)]
        if not live:
            problems.append(
                f"{overrides[0]} removes {name} on this target (an override whose marker does not hold here "
                f"replaces every requirement on it), so the planned {name} {v} would never be installed"
            )
        elif not any(o.requirement.specifier.contains(v, prereleases=True) for o in live):
            problems.append(f"{live[0]} overrides every requirement on {name} and excludes the planned {v}")
    return problems
