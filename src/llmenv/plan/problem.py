"""What is asked, normalized: the request split into roles (framework, engine, torch family, compiled
extensions, the rest), the target, the knowledge, and what the closed loop has learnt from uv (``Feedback``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from llmenv.indexes import TorchSource
from llmenv.knowledge import Knowledge
from llmenv.plan.candidates import (
    ENGINES,
    FRAMEWORKS,
    KNOWN_PYTHONS,
    PinSource,
    ReleaseLike,
    engine_from_extras,
)
from llmenv.plan.extensions import EXTENSIONS, ExtensionProvider
from llmenv.plan.held import Held
from llmenv.plan.model import TORCH_FAMILY
from llmenv.plan.ranking import order_pythons
from llmenv.request import LocalSpec, Request
from llmenv.target import Target

__all__ = ["EngineAsk", "Feedback", "FrameworkAsk", "Problem", "roles"]


@dataclass(frozen=True, kw_only=True)
class FrameworkAsk:
    name: NormalizedName
    spec: SpecifierSet
    extras: tuple[str, ...]
    releases: Sequence[ReleaseLike]
    local: LocalSpec | None = None


@dataclass(frozen=True, kw_only=True)
class EngineAsk:
    name: NormalizedName
    spec: SpecifierSet  # the user's own requirement (empty when it comes through a framework's extra)
    extras: tuple[str, ...]
    given: bool  # named as a requirement of its own (it then constrains the framework like its extra does)


@dataclass(frozen=True, kw_only=True)
class Feedback:
    """What ``uv lock`` said about earlier candidates. ``excluded``: candidate key -> uv's reason;
    ``python_caps``: candidate key without the Python -> the highest Python minor to allow; ``relax``:
    package -> why (under ``--allow-overrides``, the framework's pin of that package is relaxed); ``banned``:
    (package, version) -> why (no candidate with that release: uv named it, e.g. no index has it);
    ``python_floors``: candidate key without the Python -> the lowest Python minor to allow (uv failed below)."""

    excluded: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    python_caps: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    relax: Mapping[str, str] = field(default_factory=dict)
    banned: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (package, version) -> uv's reason
    python_floors: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    # ("cap" | "floor", candidate key without the Python) -> uv's reason, for the range's "why"
    python_reasons: Mapping[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    platform_only: str | None = None  # uv failed a fork of another architecture: lock the target's only (why)


@dataclass(frozen=True, kw_only=True)
class Problem:
    target: Target
    policy: str
    source: TorchSource
    kb: Knowledge
    pins: PinSource
    framework: FrameworkAsk | None
    engine: EngineAsk | None
    torch_spec: SpecifierSet
    companions: Mapping[str, SpecifierSet]  # torchvision / torchaudio asked for, with their specs
    wants_torch: bool
    extensions: Mapping[str, SpecifierSet]  # compiled extensions asked for, with their specs
    builds: frozenset[str]  # --build PKG: a source build, whatever wheels exist
    user: Mapping[NormalizedName, Requirement]  # your requirements (and the project's), by name
    allow_overrides: bool
    pythons: tuple[str, ...]  # candidate Pythons in preference order
    preferred_python: str | None  # the one --python or this machine gives (None: the highest wins)
    providers: Mapping[str, Sequence[ExtensionProvider]]
    request: Request
    held: Held = field(default_factory=Held)  # the project's own requirements (plan/held.py)
    listings: Any = None  # the wheel sources' listings (None: the refreshed snapshot, else the bundled one)


def _python_candidates(target: Target, fixed: bool, from_machine: bool) -> tuple[tuple[str, ...], str | None]:
    if fixed:
        return (target.python,), target.python
    preferred = target.python if from_machine else None
    pool = set(KNOWN_PYTHONS) | ({target.python} if from_machine else set())
    return tuple(order_pythons(pool, preferred)), preferred


def roles(
    *,
    target: Target,
    request: Request,
    policy: str,
    source: TorchSource,
    kb: Knowledge,
    pins: PinSource,
    allow_overrides: bool,
    providers: Mapping[str, Sequence[ExtensionProvider]],
    python_fixed: bool = True,
    python_from_machine: bool = True,
    local_release: object = None,
    builds: Sequence[str] = (),
    constraints: Sequence[Requirement] = (),
    listings: Any = None,
) -> Problem:
    """Split the request into roles. ``local_release(LocalSpec) -> ReleaseLike`` reads a local framework tree."""
    names = request.names()
    fw_req = next((r for r in request.requirements if canonicalize_name(r.name) in FRAMEWORKS), None)
    framework: FrameworkAsk | None = None
    if fw_req is not None:
        n = canonicalize_name(fw_req.name)
        framework = FrameworkAsk(
            name=n, spec=fw_req.specifier, extras=tuple(sorted(fw_req.extras)), releases=pins(n)
        )
    else:
        loc = next((x for x in request.locals if x.name in FRAMEWORKS), None)
        if loc is not None and callable(local_release):
            framework = FrameworkAsk(
                name=loc.name,
                spec=SpecifierSet(),
                extras=tuple(loc.extras),
                releases=[local_release(loc)],
                local=loc,
            )
    eng_req = next((r for r in request.requirements if canonicalize_name(r.name) in ENGINES), None)
    engine: EngineAsk | None = None
    if eng_req is not None:
        engine = EngineAsk(
            name=canonicalize_name(eng_req.name),
            spec=eng_req.specifier,
            extras=tuple(sorted(eng_req.extras)),
            given=True,
        )
    elif framework is not None and (e := engine_from_extras(framework.extras)) is not None:
        engine = EngineAsk(name=canonicalize_name(e), spec=SpecifierSet(), extras=(), given=False)
    user = {canonicalize_name(r.name): r for r in (*constraints, *request.requirements)}
    companions = {n: request.specifier(n) for n in ("torchvision", "torchaudio") if n in names}
    extensions = {n: request.specifier(n) for n in EXTENSIONS if n in names}
    wants_torch = (
        bool(names & set(TORCH_FAMILY)) or bool(extensions) or framework is not None or engine is not None
    )
    pythons, preferred = _python_candidates(target, python_fixed, python_from_machine)
    return Problem(
        target=target,
        policy=policy,
        source=source,
        kb=kb,
        pins=pins,
        framework=framework,
        engine=engine,
        torch_spec=request.specifier("torch")
        & (u.specifier if (u := user.get(canonicalize_name("torch"))) else SpecifierSet()),
        companions=companions,
        wants_torch=wants_torch,
        extensions=extensions,
        builds=frozenset(canonicalize_name(b) for b in builds),
        user=user,
        allow_overrides=allow_overrides,
        pythons=pythons,
        preferred_python=preferred,
        providers=providers,
        request=request,
        listings=listings,
    )
