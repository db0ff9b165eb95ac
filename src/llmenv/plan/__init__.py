"""The planner: a search over whole stacks (framework, engine, torch x variant, compiled extensions, Python)
under cited constraints, ordered by one ranking, explained part by part.

    target + request + knowledge -> roles (problem.py) -> search (candidates x constraints, ranking)
        -> assemble -> Plan (with "why" and "not chosen")

``make_plan`` is pure: no I/O beyond the bundled knowledge (and the user's pins snapshot). The closed loop with
uv (``llmenv.verify``) calls it again with ``feedback`` when ``uv lock`` rejects a candidate. See
docs/planning.md for the constraints and the ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import TorchSource
from llmenv.knowledge import Knowledge, load
from llmenv.plan.candidates import (
    ENGINES,
    FRAMEWORKS,
    KNOWN_PYTHONS,
    LocalRelease,
    PinSource,
    ReleaseLike,
    engine_from_extras,
    extras_of,
)
from llmenv.plan.constraints import exact_pin
from llmenv.plan.extensions import (
    EXTENSIONS,
    TUNED_BUILDS,
    ExtensionOption,
    ExtensionProvider,
    TorchBuild,
    default_providers,
)
from llmenv.plan.model import TORCH_FAMILY, Attempt, Choice, Plan, Rejection
from llmenv.plan.problem import Feedback, Problem, roles
from llmenv.request import Request
from llmenv.target import Target

if TYPE_CHECKING:
    from llmenv.intent import ProjectConstraints

__all__ = [
    "ENGINES",
    "EXTENSIONS",
    "FRAMEWORKS",
    "TORCH_FAMILY",
    "Attempt",
    "Choice",
    "ExtensionOption",
    "ExtensionProvider",
    "Feedback",
    "LocalRelease",
    "Plan",
    "Rejection",
    "TorchBuild",
    "exact_pin",
    "lazy_pins",
    "make_plan",
]


class _LazyPins:
    """The framework pins (the user's `llmenv kb refresh` snapshot, else the bundled one), read on first use:
    called with a name, a package's releases; ``release(name, version)`` one of them."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self._environ = environ
        self._pins: Any = None

    def _load(self) -> Any:
        if self._pins is None:
            from llmenv.knowledge.pins import load_pins, user_data_dir

            self._pins = load_pins(user_data_dir(self._environ))
        return self._pins

    def __call__(self, name: str) -> Sequence[ReleaseLike]:
        return self._load().releases(name)  # type: ignore[no-any-return]

    def release(self, name: str, version: Version) -> ReleaseLike | None:
        return self._load().release(name, version)  # type: ignore[no-any-return]


def lazy_pins(environ: Mapping[str, str] | None = None) -> PinSource:
    """The framework pins (the user's `llmenv kb refresh` snapshot, else the bundled one), read on first use."""
    return _LazyPins(environ)


def _check_extras(name: str, releases: Sequence[ReleaseLike], extras: Sequence[str]) -> None:
    """An extra that no known release provides is a typo, not a planning question: say so (exit 2)."""
    wanted = {canonicalize_name(e) for e in extras}
    known: set[str] = set()
    for r in releases:  # newest first; stop once every extra asked for is found (most often: the newest)
        known.update(canonicalize_name(e) for e in extras_of(r))
        if wanted <= known:
            return
    if not known:
        return  # metadata without Provides-Extra: nothing to check against
    from llmenv._suggest import closest

    for e in extras:
        if canonicalize_name(e) not in known:
            guess = closest(canonicalize_name(e), sorted(known), cutoff=0.6)
            tip = f"; did you mean {name}[{guess}]?" if guess else ""
            raise UsageError(f"{name} has no extra {e!r}{tip} (its extras: {', '.join(sorted(known))})")


_LIKELY = (
    *FRAMEWORKS,
    *ENGINES,
    *TORCH_FAMILY,
    *EXTENSIONS,
    "deepspeed",
    "transformers",
    "xformers",
    "flashinfer-python",
    "tensordict",
)


def _one_edit(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` one insertion, deletion, substitution or transposition apart?"""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def check_names(request: Request, pins: PinSource) -> None:
    """A requirement one edit away from a package llmenv plans (``flash-atn``) is a typo: exit 2 with the name."""
    for req in request.requirements:
        n = canonicalize_name(req.name)
        if n in _LIKELY or len(n) < 5:
            continue
        guess = next((k for k in _LIKELY if _one_edit(n, k)), None)
        if guess is not None and not pins(n):
            raise UsageError(f"{req.name!r} is not a package llmenv knows; did you mean {guess!r}?")


def _sdists(pins: PinSource) -> list[Version]:
    try:
        releases = pins("flash-attn")
    except Exception:  # a snapshot without flash-attn: the release table's flags are used
        return []
    facts = getattr(releases, "facts", None)
    if callable(facts):  # the snapshot's flags alone, no release parsed
        return [v for v, sdist in facts("sdist") if sdist is not False]
    return [r.version for r in releases if getattr(r, "sdist", True) is not False]


def _why_not_there(kb: Knowledge, release: Any, t: Target, policy: str, source: TorchSource) -> str | None:
    """None when ``release`` has a build the target (on its platform) runs — its driver and its GPUs'
    architectures —, else why not."""
    from llmenv.plan import constraints as c
    from llmenv.plan.platform import torch_variants

    variants = torch_variants(release, t, source)
    if not variants:
        return f"no {t.platform} GPU build of torch {release.version} is known to llmenv"
    why = ""
    for var in variants:
        why = c.torch_driver(kb, t, var, policy) or c.torch_archs(t, release, var) or ""
        if not why:
            return None
    return why


def make_plan(
    target: Target,
    request: Request,
    *,
    policy: str = "strict",
    source: TorchSource,
    kb: Knowledge | None = None,
    pins: PinSource | None = None,
    allow_overrides: bool = False,
    local_release: Callable[[Any], ReleaseLike] | None = None,
    flash_attn_wheels: str | None = None,
    github_proxy: str | None = None,
    python_fixed: bool = True,
    python_from_machine: bool = True,
    builds: Sequence[str] = (),
    constraints: Sequence[Requirement] = (),
    project: ProjectConstraints | None = None,
    providers: Mapping[str, Sequence[ExtensionProvider]] | None = None,
    feedback: Feedback | None = None,
    build_facts: Callable[[Target], Target] | None = None,
    user_wheels: Sequence[Any] | None = None,
    listings: Any = None,
) -> Plan:
    """Plan the request for the target. Raises NoAnswer (exit 1) with what would work, UsageError (exit 2) for
    a typo. ``python_fixed``: the target's Python is the user's (--python), else the search may choose another
    (``python_from_machine``: the target's Python is this machine's, preferred when it works). ``builds``:
    packages to build from source (--build). ``constraints``: requirements held like yours (not written).
    ``project``: the project's pyproject.toml as plan inputs (``llmenv.intent``): its requirements, overrides,
    requires-python and torch routing bound the search, each rejection citing the line (``plan/held.py``).
    ``feedback``: what uv said of earlier candidates (the closed loop). ``user_wheels``: the listings
    of --wheels sources (``llmenv.sources.user.UserWheels``), searched first. ``listings``: the wheel sources'
    listings (``llmenv.sources.listing.Listings``; default: the refreshed snapshot, else the bundled one)."""
    kb = kb or load()
    pins = pins or lazy_pins()
    check_names(request, pins)
    if target.is_rocm and target.platform != "linux-x86_64":
        raise NoAnswer(
            f"an AMD ROCm target on {target.platform}: PyTorch builds ROCm wheels for Linux x86_64 only (facts H1)",
            hint="plan a CPU build with --cuda cpu, or an x86_64 AMD machine with --arch x86_64",
        )
    for b in builds:
        if canonicalize_name(b) not in TUNED_BUILDS:
            raise UsageError(f"--build {b}: llmenv has a tuned source build for {', '.join(TUNED_BUILDS)} only")
    # The same inputs again, for the plan of each platform of the lock or of each engine extra.
    again: dict[str, Any] = dict(
        policy=policy,
        source=source,
        kb=kb,
        pins=pins,
        allow_overrides=allow_overrides,
        local_release=local_release,
        flash_attn_wheels=flash_attn_wheels,
        github_proxy=github_proxy,
        python_fixed=python_fixed,
        python_from_machine=python_from_machine,
        builds=builds,
        constraints=constraints,
        project=project,
        providers=providers,
        feedback=feedback,
        build_facts=build_facts,
        user_wheels=user_wheels,
        listings=listings,
    )
    if len(target.lock_platforms) > 1:
        from llmenv.plan.multiplatform import newest_everywhere, plan_platforms

        cap, skipped = newest_everywhere(
            target, kb.torch, lambda r, t: _why_not_there(kb, r, t, policy, source)
        )
        return plan_platforms(target, request, lambda t, r: make_plan(t, r, **again), cap=cap, skipped=skipped)
    fw_req = next((r for r in request.requirements if canonicalize_name(r.name) in FRAMEWORKS), None)
    if fw_req is not None:
        _check_extras(fw_req.name, pins(canonicalize_name(fw_req.name)), sorted(fw_req.extras))
        engine_extras = [e for e in sorted(fw_req.extras) if engine_from_extras([e])]
        if len({engine_from_extras([e]) for e in engine_extras}) >= 2:
            from llmenv.plan.alternatives import plan_alternatives

            return plan_alternatives(request, fw_req, engine_extras, lambda r: make_plan(target, r, **again))
    providers = providers or _Later(
        lambda: default_providers(
            github_proxy=github_proxy,
            wheelhouse=_wheelhouse(flash_attn_wheels),
            sdists=lambda: _sdists(pins),
            users=user_wheels or (),
            pins=pins,
            listings=listings,
            kb=kb,
        )
    )
    if target.base is not None and target.base.torch is not None:
        from llmenv.plan.base import base_providers

        providers = base_providers(target.base, providers)  # what the base has is the base's
    problem = roles(
        target=target,
        request=request,
        policy=policy,
        source=source,
        kb=kb,
        pins=pins,
        allow_overrides=allow_overrides,
        providers=providers,
        python_fixed=python_fixed,
        python_from_machine=python_from_machine,
        local_release=local_release,
        builds=builds,
        constraints=constraints,
        listings=listings,
    )
    if project is not None:
        problem = _within(problem, project)
    return plan_problem(problem, feedback=feedback, build_facts=build_facts)


class _Later(Mapping[str, Sequence[ExtensionProvider]]):
    """The default providers, made when the search first asks for one (a stack with no compiled extension
    never imports the wheel sources nor reads their listings)."""

    def __init__(self, make: Callable[[], Mapping[str, Sequence[ExtensionProvider]]]) -> None:
        self._make = make
        self._got: Mapping[str, Sequence[ExtensionProvider]] | None = None

    def _all(self) -> Mapping[str, Sequence[ExtensionProvider]]:
        if self._got is None:
            self._got = self._make()
        return self._got

    def __getitem__(self, key: str) -> Sequence[ExtensionProvider]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _nearest(pythons: Sequence[str], target: str) -> str:
    """The Python of ``pythons`` closest to ``target`` (the lower one on a tie)."""
    minor = int(target.split(".")[1])
    return min(pythons, key=lambda p: (abs(int(p.split(".")[1]) - minor), p))


def _within(problem: Problem, project: ProjectConstraints) -> Problem:
    """The problem held to the project's own requirements; NoAnswer when its requires-python leaves none of the
    Pythons the search could take."""
    from dataclasses import replace

    from llmenv.plan.held import held

    planned = [a.name for a in (problem.framework, problem.engine) if a is not None]
    h = held(project, problem.target, planned=planned)
    pythons = h.pythons(problem.pythons)
    if not pythons:
        one = len(problem.pythons) == 1
        asked = f"the target's Python {problem.pythons[0]}" if one else "every Python llmenv plans for"
        allowed = h.pythons(KNOWN_PYTHONS)
        hint = (
            f"plan for a Python it allows: --python {allowed[-1] if not one else _nearest(allowed, problem.pythons[0])}"
            if allowed
            else "change requires-python: it allows no Python llmenv plans for"
        )
        raise NoAnswer(f"{h.python_line} excludes {asked}", hint=hint)
    preferred = problem.preferred_python if problem.preferred_python in pythons else None
    return replace(problem, held=h, pythons=pythons, preferred_python=preferred)


def plan_problem(
    problem: Problem,
    *,
    feedback: Feedback | None = None,
    build_facts: Callable[[Target], Target] | None = None,
    user_wheels: Sequence[Any] | None = None,
) -> Plan:
    from llmenv.plan.answer import no_plan
    from llmenv.plan.assemble import assemble
    from llmenv.plan.constraints import extension_target
    from llmenv.plan.search import search

    for pkg in problem.extensions:
        refusal = extension_target(pkg, problem.target, None)
        if refusal is not None:
            raise NoAnswer(refusal[0], hint=refusal[1])
    outcome = search(problem, feedback)
    if outcome.winner is None:
        raise no_plan(problem, outcome)
    return assemble(problem, outcome.winner, outcome.rejected, build_facts=build_facts, feedback=feedback)


def _wheelhouse(wheels: str | None) -> str | None:
    if wheels is None:
        return None
    from pathlib import Path

    return wheels if "://" in wheels else str(Path(wheels).expanduser())


__all__ += ["Problem", "check_names", "plan_problem"]
