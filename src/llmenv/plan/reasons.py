"""Explanations: the rejections of the parts around the winner ("not chosen"), one line per release, and the
test of an extension option both the search and the explanation use.

The "why" lines of the chosen stack are written where the plan is assembled (``assemble.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend
from llmenv.knowledge.extension_builds import CUTLASS
from llmenv.plan import constraints as c
from llmenv.plan.candidates import Candidate, EnginePick, Requirements, TorchPick
from llmenv.plan.extensions import TUNED_BUILDS, ExtensionOption, TorchBuild
from llmenv.plan.model import Rejection
from llmenv.plan.problem import Problem

__all__ = [
    "TorchFail",
    "group_rejections",
    "held",
    "option_pins",
    "option_problem",
    "option_rejections",
    "requires_of",
    "torch_rejections",
]


@dataclass(frozen=True, kw_only=True)
class TorchFail:
    """Why one torch release x variant was not taken. ``code``: driver | archs | python | platform | pin |
    engine (CUDA major of the engine's kernels) | fact / uv / ranking (something below it failed)."""

    variant: Backend
    code: str
    reason: str
    ranking: bool = False
    build_of: str | None = None  # ranking: the compiled extension only a source build would give


_KIND = {"pin": "pin", "ranking": "ranking", "uv": "uv"}


def _driver_sentence(problem: Problem, fails: Sequence[TorchFail]) -> str:
    """``cu126 needs driver >= 560.28.03, cu128 >= 570.26; driver 550.54.14 supports CUDA <= 12.4``."""
    t, kb = problem.target, problem.kb
    parts = []
    for i, f in enumerate(fails):
        cuda = f.variant.cuda_version
        floor = (kb.cuda.min_driver(cuda) if cuda else None) or "a newer one"
        parts.append(f"{f.variant} needs driver >= {floor}" if i == 0 else f"{f.variant} >= {floor}")
    drv = f"driver {t.driver}" if t.driver else "the target driver"
    text = ", ".join(parts) + f"; {drv} supports CUDA <= {t.cuda}"
    if any("--cuda-policy minor" in f.reason for f in fails):
        text += " (--cuda-policy minor would allow some)"
    return text


def _release_reason(problem: Problem, version: str, fails: Sequence[TorchFail]) -> tuple[str, str]:
    """One sentence for the variants of a release that failed: a build it would need, else the driver floors
    together, then the rest."""
    builds = [f for f in fails if f.ranking]
    if builds:
        pkg = builds[0].build_of or "compiled extension"
        tags = "/".join(f.variant.tag for f in builds)
        return (
            f"needs a {pkg} source build here (no prebuilt {pkg} wheel fits torch {version}+{tags})",
            "ranking",
        )
    for f in fails:
        if f.code in ("python", "platform", "pin"):
            return f.reason, _KIND.get(f.code, "fact")
    driver = [f for f in fails if f.code == "driver"]
    rest = [f for f in fails if f.code != "driver"]
    parts = ([_driver_sentence(problem, driver)] if driver else []) + list(
        dict.fromkeys(f.reason for f in rest)
    )
    kind = "ranking" if any(f.ranking for f in rest) and not driver else "fact"
    if rest and all(f.code == "uv" for f in rest):
        kind = "uv"
    return "; ".join(parts), kind


def torch_rejections(
    problem: Problem,
    options: Sequence[TorchPick],
    tried: Mapping[int, TorchFail],
    winner: Candidate | None,
    test: Callable[[TorchPick], TorchFail | tuple[str, ...]],
) -> list[Rejection]:
    """The torch releases not chosen, newest first: each newer release than the winner's (all, without a
    winner) in one line; the winner's release's better variants one by one; a newer release that runs here
    only on an older CUDA major says how to take it."""
    chosen = winner.torch if winner is not None else None
    by_release: dict[Version, list[int]] = {}
    for i, o in enumerate(options):
        by_release.setdefault(o.version, []).append(i)
    out: list[Rejection] = []
    for version in sorted(by_release, reverse=True):
        if chosen is not None and version < chosen.version:
            continue
        idx = by_release[version]
        v = str(version)
        if chosen is not None and version == chosen.version:
            for i in idx:
                f = tried.get(i)
                if f is not None and options[i].variant > chosen.variant:
                    out.append(
                        Rejection(
                            package="torch",
                            version=v,
                            variant=f.variant.tag,
                            reason=f.reason,
                            kind=_KIND.get(f.code, "fact"),
                        )
                    )
            continue
        fails = [tried[i] for i in idx if i in tried]
        runs = [options[i] for i in idx if i not in tried and not isinstance(test(options[i]), TorchFail)]
        if runs and chosen is not None:
            better = [f for f in fails if f.variant > runs[0].variant]
            why = f" ({_release_reason(problem, v, better)[0]})" if better else ""
            out.append(
                Rejection(
                    package="torch",
                    version=v,
                    variant=runs[0].variant.tag,
                    reason=f"runs here only as {runs[0].variant}{why}, an older CUDA than {chosen.variant}",
                    kind="ranking",
                    take=f"ask for torch=={v} to take it",
                )
            )
        elif fails:
            reason, kind = _release_reason(problem, v, fails)
            take = None
            if kind == "ranking":
                builds = " ".join(f"--build {n}" for n in TUNED_BUILDS if f"a {n} source build" in reason)
                take = f"ask for torch=={v}" + (f", or {builds}" if builds else "")
            out.append(Rejection(package="torch", version=v, reason=reason, kind=kind, take=take))
    return out


def option_pins(
    problem: Problem,
    package: str,
    fw_reqs: Requirements,
    engine_reqs: Requirements,
    engine: EnginePick | None = None,
    requires: Iterable[str] = (),
) -> list[tuple[Requirement, str]]:
    """What is asked of ``package`` and of the packages its options require (``requires``), with who asks:
    you, the framework (``fw_reqs``: its requirements as held, a relaxed pin left out), the engine (its
    release's own; its ``nvidia-cutlass-dsl`` pin from the facts, a line the pins snapshot does not keep)."""
    pkg = canonicalize_name(package)
    names = dict.fromkeys((pkg, *(canonicalize_name(n) for n in requires)))
    pins: list[tuple[Requirement, str]] = []
    mine = problem.extensions.get(pkg)
    if mine is not None and str(mine):
        pins.append((Requirement(f"{pkg}{mine}"), "you"))
    pins += [(r, "you") for n, r in problem.user.items() if n in names and n != pkg]
    if problem.framework is not None:
        pins += [(r, problem.framework.name) for n in names for r in fw_reqs.get(n, ())]
    if problem.engine is not None:
        who = f"{problem.engine.name} {engine.version}" if engine is not None else problem.engine.name
        pins += [(r, who) for n in names for r in engine_reqs.get(n, ())]
        if engine is not None and CUTLASS in names and CUTLASS not in engine_reqs:
            # the bundled pins snapshot keeps no such line: the extension-builds table does
            own = problem.kb.extension_builds.engine_pins(problem.engine.name, engine.version)
            pins += [(r, who) for r in own]
    return pins


def requires_of(opt: ExtensionOption) -> tuple[str, ...]:
    """The packages an option's own metadata requires."""
    return _required_names(opt.requires_dist)


@cache
def _required_names(lines: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(canonicalize_name(Requirement(line).name) for line in lines))


def held(reqs: Requirements, relaxed: Container[str]) -> Requirements:
    """A framework's requirements without the pins being relaxed."""
    return {n: r for n, r in reqs.items() if n not in relaxed}


def option_problem(
    problem: Problem,
    opt: ExtensionOption,
    torch: TorchBuild,
    py: str,
    fw_reqs: Requirements,
    engine_reqs: Requirements,
    engine: EnginePick | None = None,
) -> str | None:
    """The first constraint an extension option fails for this torch build and Python, or None (``fw_reqs``:
    the framework's requirements as held, a relaxed pin left out; ``engine``: the engine pick)."""
    pins = option_pins(problem, opt.package, fw_reqs, engine_reqs, engine, requires_of(opt))
    return c.option_checks(
        opt,
        torch,
        py,
        target=problem.target,
        kb=problem.kb,
        policy=problem.policy,
        pins=pins,
        forced_build=opt.package in problem.builds,
        held=problem.held.bounds.get(canonicalize_name(opt.package), ()),
    )


def option_rejections(
    problem: Problem, winner: Candidate, options: Callable[[str, TorchBuild], Sequence[ExtensionOption]]
) -> list[Rejection]:
    """The options ranked before each chosen extension option, with the fact that ruled each out."""
    out: list[Rejection] = []
    if winner.torch is None:
        return out
    build = winner.torch.build
    fw_reqs = held(winner.framework_requirements, {r.package for r in winner.relaxed})
    for pkg, chosen in winner.options.items():
        seen: set[tuple[str, str]] = set()
        for opt in options(pkg, build):
            if opt is chosen or opt == chosen:
                break
            why = option_problem(
                problem, opt, build, winner.python, fw_reqs, winner.engine_requirements, winner.engine
            )
            if why is None or (opt.shown, why) in seen or why.startswith("--build"):
                continue  # a forced build considers no wheel: none is listed
            if c.option_platform(opt, problem.target) is not None:
                continue  # a wheel for another platform is no alternative here
            seen.add((opt.shown, why))
            out.append(Rejection(package=pkg, version=opt.shown, reason=why))
    return out


def group_rejections(rejected: Sequence[Rejection]) -> list[str]:
    """Consecutive releases rejected for the same reason become one line: ``torch 2.12.0–2.14.1: ...``."""
    out: list[tuple[str, str, str, str]] = []  # (package, newest, oldest, rest)
    for r in rejected:
        rest = f"+{r.variant}: {r.text}" if r.variant else f": {r.text}"
        if out and out[-1][0] == r.package and out[-1][3] == rest and r.version not in r.reason:
            out[-1] = (r.package, out[-1][1], r.version, rest)
        else:
            out.append((r.package, r.version, r.version, rest))
    return [f"{pkg} {old}–{new}{rest}" if new != old else f"{pkg} {new}{rest}" for pkg, new, old, rest in out]
