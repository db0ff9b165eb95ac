"""The project's own requirements as constraints of the search: what ``init`` (and ``plan`` in a project folder)
must fit inside, each bound carrying the line of the user's pyproject.toml it comes from, so that a rejection
cites it (``excluded by project.dependencies[0]: vllm==0.8.5.post1 pins torch==2.6.0``).

``held(project, target, policy=..., kb=...)`` reads a ``llmenv.intent.ProjectConstraints`` (the user's file as
plan inputs, less what earlier llmenv runs wrote) into a ``Held``:

- every requirement of the base dependencies, extras, dependency groups and constraint-dependencies whose marker
  can hold on the target bounds that package's version — the framework's, the engine's, torch's and its
  companions', a compiled extension's, and any package a chosen release pins (a clash is that release's
  rejection); a requirement in an extra or group declared in ``[tool.uv] conflicts`` is one of alternatives
  installed one at a time, and bounds nothing;
- an override line replaces every other requirement on its package (uv's ``override-dependencies``); one whose
  marker cannot hold on the target removes the package there, so a plan that needs it is refused;
- an inference engine the project requires (and the request does not plan) pins torch: the torch releases its
  allowed versions pin, from the engine table (``knowledge/data/engine_torch_pins.json``);
- ``requires-python`` bounds the Pythons (the written range stays inside it, and starts at its floor when every
  chosen package has wheels there);
- the torch variants the project's own ``[tool.uv.sources]`` routing offers the target bound torch's variant,
  when the driver runs one of them (else routing refuses later, naming the entry).

The Pythons a marker is evaluated on: those the lock may cover (the user's requires-python, or from the
target's Python up when the project has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend
from llmenv.plan.candidates import RANGE_PYTHONS

if TYPE_CHECKING:
    from llmenv.intent import ProjectConstraints, ProjectRequirement, UserSource
    from llmenv.target import Target

__all__ = ["Bound", "Held", "Line", "held"]


@dataclass(frozen=True, kw_only=True)
class Bound:
    """One bound on a package from the project: ``spec`` the versions it allows, ``line`` where it is written
    (``project.dependencies[0]: vllm==0.8.5.post1``), ``via`` how a line on another package bounds this one
    (``pins torch==2.6.0``). ``removes``: an override whose marker cannot hold here (the package is dropped)."""

    package: NormalizedName
    spec: SpecifierSet
    line: str
    via: str = ""
    removes: bool = False

    @property
    def who(self) -> str:
        return f"{self.line} {self.via}" if self.via else self.line

    @property
    def reason(self) -> str:
        """What the bound says, as the reason of a rejection."""
        if self.removes:
            return (
                f"excluded by {self.line}, which removes {self.package} on this target (an override whose marker "
                "does not hold here replaces every requirement on it)"
            )
        return f"excluded by {self.who}"

    def excludes(self, version: Version | str) -> str | None:
        """Why the project excludes ``version`` of the package (None: it allows it)."""
        if not self.removes and self.spec.contains(version, prereleases=True):
            return None
        return self.reason


@dataclass(frozen=True, kw_only=True)
class Line:
    """One of the project's requirement lines that applies on the target: its package, versions and marker
    (``extra``: the extra it is in, for the marker), and where it is written."""

    package: NormalizedName
    spec: SpecifierSet
    location: str
    marker: Marker | None = None
    extra: str = ""

    def applies(self, env: Mapping[str, str]) -> bool:
        """Can its marker hold in this environment (one Python of the target)? Unknown counts as yes."""
        if self.marker is None:
            return True
        try:
            return bool(self.marker.evaluate({**env, "extra": self.extra}))
        except Exception:
            return True


@dataclass(frozen=True, kw_only=True)
class Held:
    """What the project holds the plan to (empty: no project, or one that requires nothing llmenv plans)."""

    bounds: Mapping[NormalizedName, tuple[Bound, ...]] = field(default_factory=dict)
    lines: tuple[Line, ...] = ()  # every requirement line that applies (for the Pythons binaries have wheels for)
    requires_python: SpecifierSet | None = None
    python_line: str = ""  # "project.requires-python = '>=3.9'"
    routed: tuple[
        tuple[Backend, str], ...
    ] = ()  # variants the project's routing offers the target, and where

    def __bool__(self) -> bool:
        return bool(self.bounds or self.lines or self.requires_python is not None or self.routed)

    def check(self, name: str, version: Version | str) -> str | None:
        """The first of the project's bounds on ``name`` that excludes ``version``."""
        for b in self.bounds.get(canonicalize_name(name), ()):
            why = b.excludes(version)
            if why is not None:
                return why
        return None

    def spec(self, name: str) -> SpecifierSet:
        """Every bound on ``name`` at once (what a relaxed framework pin is rewritten to)."""
        out = SpecifierSet()
        for b in self.bounds.get(canonicalize_name(name), ()):
            out &= b.spec
        return out

    def clash(self, name: str, spec: SpecifierSet) -> Bound | None:
        """The project's bound on ``name`` that cannot hold together with ``spec`` (an exact pin decides)."""
        from llmenv.plan.constraints import compatible

        for b in self.bounds.get(canonicalize_name(name), ()):
            if b.removes or not compatible(spec, b.spec):
                return b
        return None

    def cited(self, text: str) -> list[str]:
        """The project's lines ``text`` cites (a rejection's reason): bounds, requires-python, routing."""
        lines = [b.who for bs in self.bounds.values() for b in bs if b.line in text]
        lines += [self.python_line] if self.python_line and self.python_line in text else []
        lines += [where for _, where in self.routed if where in text]
        return list(dict.fromkeys(lines))

    def allows_python(self, minor: str) -> bool:
        return self.requires_python is None or _allows(self.requires_python, minor)

    def pythons(self, candidates: Sequence[str]) -> tuple[str, ...]:
        return tuple(p for p in candidates if self.allows_python(p))


def _allows(spec: SpecifierSet, minor: str) -> bool:
    return any(spec.contains(Version(f"{minor}.{micro}"), prereleases=True) for micro in (0, 99))


def _engine_torch(req: Requirement) -> list[Version]:
    """The torch releases that the versions of an inference engine ``req`` allows pin (empty: not an engine the
    table knows, or none of its versions is in the range)."""
    from llmenv.knowledge.engines import engine_torch_pin, engine_versions

    known = engine_versions(req.name)
    extras = sorted(req.extras) or None
    torches = {
        Version(t)
        for v, _ in known
        if req.specifier.contains(v, prereleases=True)
        and (t := engine_torch_pin(req.name, str(v), extras)) is not None
    }
    return sorted(torches)


def _exactly(versions: Sequence[Version]) -> SpecifierSet:
    """Exactly these releases (``==X`` each), as a specifier the constraint functions test (``!=`` for every
    known release between the first and the last that is not among them)."""
    if len(versions) == 1:
        return SpecifierSet(f"=={versions[0]}")
    from llmenv.knowledge import load

    spec = SpecifierSet(f">={versions[0]},<={versions[-1]}")
    for r in load().torch:
        if versions[0] < r.version < versions[-1] and r.version not in versions:
            spec &= SpecifierSet(f"!={r.version}")
    return spec


def _lock_pythons(project: ProjectConstraints, target: Target) -> tuple[tuple[str, ...], SpecifierSet | None]:
    spec: SpecifierSet | None = None
    if project.requires_python is not None:
        try:
            spec = SpecifierSet(project.requires_python)
        except InvalidSpecifier:
            from llmenv.errors import UsageError

            raise UsageError(
                f"project.requires-python = {project.requires_python!r} is not a version specifier"
            ) from None
        pythons = tuple(p for p in RANGE_PYTHONS if _allows(spec, p))
    else:
        pythons = tuple(p for p in RANGE_PYTHONS if Version(p) >= Version(target.python))
    return pythons or (target.python,), spec


def held(project: ProjectConstraints, target: Target, *, planned: Sequence[str] = ()) -> Held:
    """The project's bounds for a plan on ``target``. ``planned``: the framework / engine the request plans
    (an engine the request plans bounds torch through the search itself, not through the table)."""
    from llmenv.intent import target_envs
    from llmenv.routing import routed_variants

    pythons, spec = _lock_pythons(project, target)
    envs = target_envs(target, pythons)
    bounds: dict[NormalizedName, list[Bound]] = {}
    lines: list[Line] = []
    overridden: set[NormalizedName] = set()
    for r in project.requirements:
        if r.scope != "override":
            continue
        name = canonicalize_name(r.name)
        overridden.add(name)
        if r.applies(envs):
            bounds.setdefault(name, []).append(
                Bound(package=name, spec=r.requirement.specifier, line=_line(r))
            )
    for gone in sorted(overridden):  # an override whose marker holds nowhere on the target: the package is removed
        if gone not in bounds:
            line = next(_line(r) for r in project.requirements if r.scope == "override" and r.name == gone)
            bounds[gone] = [Bound(package=gone, spec=SpecifierSet(), line=line, removes=True)]
    for r in project.requirements:
        name = canonicalize_name(r.name)
        if r.scope == "override" or project.alternative(r) or not r.applies(envs) or name in overridden:
            continue
        extra = r.scope_name if r.scope == "extra" and r.scope_name else ""
        lines.append(
            Line(
                package=name,
                spec=r.requirement.specifier,
                location=r.location,
                marker=r.requirement.marker,
                extra=extra,
            )
        )
        line = _line(r)
        if str(r.requirement.specifier):
            bounds.setdefault(name, []).append(Bound(package=name, spec=r.requirement.specifier, line=line))
        if r.scope in ("base", "extra", "group") and name not in planned and "torch" not in overridden:
            torches = _engine_torch(r.requirement)
            if torches:
                pins = " or ".join(f"torch=={t}" for t in torches)
                bounds.setdefault(canonicalize_name("torch"), []).append(
                    Bound(
                        package=canonicalize_name("torch"),
                        spec=_exactly(torches),
                        line=line,
                        via=f"pins {pins}",
                    )
                )
    routed = tuple((v, _where(e)) for v, e in routed_variants(project, envs))
    return Held(
        bounds={k: tuple(v) for k, v in bounds.items()},
        lines=tuple(lines),
        requires_python=spec,
        python_line=f"project.requires-python = {project.requires_python!r}" if spec is not None else "",
        routed=routed,
    )


def _line(r: ProjectRequirement) -> str:
    """``project.dependencies[0]: vllm==0.8.5.post1``."""
    return f"{r.location}: {r.text}"


def _where(e: UserSource) -> str:
    scope = e.scope
    return f"{e.location} ({scope[0]} {scope[1]!r})" if scope else e.location
