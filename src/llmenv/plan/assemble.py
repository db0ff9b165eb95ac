"""The winner of the search -> a Plan: the packages, the dependency lines, the indexes and sources, a source
build's settings, the relaxed framework metadata, and the reasons ("why") for each choice.

A renderer never decides a version: everything ``render.py`` writes comes from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend
from llmenv.indexes import IndexSpec
from llmenv.plan.build import build_settings, planned_here, release_facts, rocm_build, sized_build_env
from llmenv.plan.candidates import Candidate, installable_pythons, release_of, spec_of
from llmenv.plan.constraints import exact_pin
from llmenv.plan.extensions import TUNED_BUILDS, ExtensionOption
from llmenv.plan.model import TORCH_FAMILY, Choice, Plan, Rejection
from llmenv.plan.overrides import dependency_metadata
from llmenv.plan.problem import Feedback, Problem
from llmenv.sources.sections import FA_INDEX, index_for, option_sources, untuned_build, vllm_index
from llmenv.target import Target

__all__ = ["FA_INDEX", "assemble", "vllm_route"]

POLICY_TEXT = {
    "strict": "strict: no CUDA build newer than the driver's CUDA",
    "minor": "minor: newer CUDA minors of the driver's CUDA major are allowed (minor-version compatibility)",
}


def _span(pythons: tuple[str, ...]) -> str:
    return pythons[0] if len(pythons) == 1 else f"{pythons[0]}–{pythons[-1]}"


def _choices(problem: Problem, cand: Candidate) -> dict[str, Choice]:
    out: dict[str, Choice] = {}
    if cand.framework is not None:
        fw = cand.framework
        source = "path" if fw.local else "default"
        out[fw.name] = Choice(
            name=fw.name, version="local" if fw.local else str(fw.version), source=source, extras=fw.extras
        )
    if cand.engine is not None:
        e = cand.engine
        route = vllm_route(problem, cand)
        out[e.name] = (
            Choice(name=e.name, version=route.pinned, source="index", index=route.index_name, extras=e.extras)
            if route is not None
            else Choice(name=e.name, version=str(e.version), source="default", extras=e.extras)
        )
        rocm = _rocm_engine_index(problem, e.name, e.version)
        if rocm is not None:
            out[e.name] = Choice(
                name=e.name, version=str(e.version), source="index", index=rocm.name, extras=e.extras
            )
    base = problem.target.base
    if cand.torch is not None:
        t = cand.torch
        idx = problem.source.index_for(t.variant)
        index = None if problem.source.is_pypi or idx is None or t.source == "base" else idx.name
        # A base's torch is named as installed (``…nv25.01``), not PEP 440-normalized (``…nv25.1``).
        version = base.torch.version if t.source == "base" and base and base.torch else str(t.version)
        out["torch"] = Choice(name="torch", version=version, variant=t.variant.tag, source=t.source, index=index)
        needed = set(problem.companions) | {n for n in TORCH_FAMILY[1:] if n in cand.engine_requirements}
        needed |= {n for n in TORCH_FAMILY[1:] if n in cand.framework_requirements}
        for name in TORCH_FAMILY[1:]:
            cv = t.release.companion(name, companion_spec(problem, cand, name))
            if name in needed and cv:
                source, variant = t.source, t.variant.tag
                if base is not None and not base.has(name):
                    source, variant = "default", ""  # not in the base: uv takes it from an index
                out[name] = Choice(name=name, version=cv, variant=variant or None, source=source, index=index)
    for name, opt in cand.options.items():
        if not opt.pinned:
            continue  # uv resolves it (a PyPI sdist without a tuned recipe)
        idx = index_for(opt, problem.source)
        out[name] = Choice(
            name=name,
            version=str(opt.version),
            source="base" if opt.source == "base" else opt.kind,
            url=opt.url_for(cand.python),
            index=idx.name if idx and opt.source != "base" else None,
            extras=opt.extras,
        )
        for pkg, version in opt.together:
            out[pkg] = Choice(name=pkg, version=version, source=opt.kind, index=idx.name if idx else None)
    return out


def vllm_route(problem: Problem, cand: Candidate) -> Any:
    """vLLM's variant-index build when torch's CUDA major is not that of PyPI's vllm wheel (else None)."""
    e, t = cand.engine, cand.torch
    if e is None or e.name != "vllm" or t is None or t.variant.cuda_version is None:
        return None
    from llmenv.sources.vllm import route

    got = route(e.version, t.variant.cuda_version, problem.target.platform, problem.listings)
    return None if got is None or isinstance(got, str) else got


def companion_spec(problem: Problem, cand: Candidate, name: str) -> Any:
    """What the user, the engine and the framework (unless its pins are relaxed) ask of torchvision /
    torchaudio: the search tested the companion against the same (search.Search.torch_reject)."""
    from packaging.specifiers import SpecifierSet

    spec = problem.companions.get(name, SpecifierSet()) & spec_of(cand.engine_requirements, name)
    return spec if problem.allow_overrides else spec & spec_of(cand.framework_requirements, name)


def _rocm_engine_index(problem: Problem, name: str, version: Version) -> IndexSpec | None:
    """vLLM's ROCm release wheel (``vllm==0.18.0+rocm700``) comes from its own index (facts H5)."""
    if not problem.target.is_rocm or name != "vllm":
        return None
    from llmenv.rocm import vllm_wheel

    w = vllm_wheel(version)
    if w is None:
        return None
    return IndexSpec(name=f"vllm-{w.variant}", url=w.index_for(str(version)), explicit=True)


def _pin(name: str, choice: Choice, opt: ExtensionOption | None) -> str:
    """The exact version for a dependency line; an option from a wheelhouse carries its local label (a
    wheelhouse may hold builds for several torch versions and ABIs under one version)."""
    if opt is not None and opt.index and opt.local:
        return f"{choice.version}+{opt.local}"
    return choice.version


def _dependencies(problem: Problem, cand: Candidate, choices: dict[str, Choice]) -> tuple[str, ...]:
    t = problem.target
    lines: list[str] = []
    seen: set[str] = set()
    # GPU-only lines (the target's platform marker): wheels from a source of their own, and builds
    gpu = {n for o in cand.options.values() if not o.default_index for n in (o.package, *(p for p, _ in o.together))}
    if vllm_route(problem, cand) is not None:
        gpu.add("vllm")  # its variant build on the target; PyPI's release elsewhere
    for req in problem.request.requirements:
        n = canonicalize_name(req.name)
        seen.add(n)
        lines.append(_line(n, choices.get(n), req, cand, t, gpu))
    for name, choice in choices.items():
        if name in seen or choice.source == "path" or not choice.version:
            continue  # no version: a companion written with its own line (a ROCm torch's Triton)
        opt = cand.options.get(name)
        if opt is not None and opt.default_index:
            continue  # from PyPI as the framework / engine pins it: checked, not written
        req = Requirement(name)
        if name == cand.framework_name:
            req.extras = set(choice.extras)
        lines.append(_line(name, choice, req, cand, t, gpu))
    for loc in problem.request.locals:
        lines.append(f"{loc.name}[{','.join(loc.extras)}]" if loc.extras else loc.name)
    return tuple(lines)


def _line(
    n: str, choice: Choice | None, req: Requirement, cand: Candidate, t: Target, gpu: set[str]
) -> str:
    if choice is None or choice.source in ("path", "base"):
        return str(req)  # a base package is the base's: uv never resolves it (exclude-dependencies)
    opt = cand.options.get(n)
    wanted = set(req.extras) | set(opt.extras if opt is not None else ())
    extras = f"[{','.join(sorted(wanted))}]" if wanted else ""
    marker = f" ; {req.marker}" if req.marker else ""
    if n in gpu and not req.marker:
        marker = f" ; {t.platform_marker()}"  # GPU-only: other platforms do not install it
    return f"{req.name}{extras}=={_pin(n, choice, opt)}{marker}"


def _indexes(problem: Problem, cand: Candidate) -> list[IndexSpec]:
    out: list[IndexSpec] = []
    if cand.engine is not None:
        rocm = _rocm_engine_index(problem, cand.engine.name, cand.engine.version)
        if rocm is not None:
            out.append(rocm)
    if cand.torch is not None and not problem.source.is_pypi and cand.torch.source != "base":
        idx = problem.source.index_for(cand.torch.variant)
        if idx:
            out.append(idx)
        if not cand.torch.variant.is_cpu:
            cpu = problem.source.index_for(Backend("cpu"))
            if cpu and cpu.name != (idx.name if idx else None):
                out.append(cpu)
    for opt in cand.options.values():
        idx = index_for(opt, problem.source)
        if idx is not None and all(i.name != idx.name for i in out):
            out.append(idx)
    route = vllm_route(problem, cand)
    if route is not None:
        out.append(vllm_index(route))
    return out


def _extension_sections(
    problem: Problem, cand: Candidate, target: Target, extra: dict[str, Any], warnings: list[str]
) -> dict[str, Any]:
    """Sources of prebuilt options; the settings of a source build (and its sizing: ``build``)."""
    build: dict[str, Any] = {}
    marker = target.platform_marker()
    route = vllm_route(problem, cand)
    if route is not None:
        extra.setdefault("sources", {})["vllm"] = [{"index": route.index_name, "marker": marker}]
    for name, opt in cand.options.items():
        if opt.source == "base":
            continue  # installed in the base
        if opt.prebuilt:
            entries = option_sources(opt, index_for(opt, problem.source), marker, cand.pythons)
            if entries:
                extra.setdefault("sources", {}).update(entries)
            continue
        if opt.package not in TUNED_BUILDS:
            major = cand.torch.variant.cuda_version if cand.torch else None
            deps, more = untuned_build(opt, major.major if major else None)
            extra.setdefault("extra-build-dependencies", {}).update(deps)
            warnings += more
            build[next(iter(deps))] = {
                "env": {},
                "from": "its PyPI sdist against the installed torch (no tuned recipe)",
            }
            continue
        if cand.torch is not None and cand.torch.variant.is_rocm:
            rocm = str(cand.torch.variant.rocm_version)
            settings, env, more = rocm_build(target, str(opt.version), rocm)
            warnings += more
        else:
            facts = release_facts(str(opt.version))
            env, more, _ = sized_build_env(target, facts)
            warnings += more + _nvcc_warnings(target, cand, opt)
            settings = build_settings(str(opt.version), env, opt.requires_dist)
        extra.setdefault("extra-build-dependencies", {}).update(settings["extra-build-dependencies"])
        extra.setdefault("extra-build-variables", {}).update(settings["extra-build-variables"])
        extra.setdefault("dependency-metadata", []).append(settings["dependency-metadata"])
        build[name] = {"env": dict(env)}
    return build


def _nvcc_warnings(target: Target, cand: Candidate, opt: ExtensionOption) -> list[str]:
    """What the build needs of nvcc: this machine's, when it is the target; else the building machine's."""
    facts = release_facts(str(opt.version))
    torch_cuda = cand.torch.variant.cuda_version if cand.torch else None
    if not planned_here(target):
        from llmenv.knowledge.flash_attn import arch_for

        need = {arch_for(cc) for cc in target.capabilities}
        major = f" of CUDA {torch_cuda.major}.x (torch's CUDA major)" if torch_cuda else ""
        return [
            f"the machine that runs `uv sync` builds {opt.package} {opt.version}: it needs nvcc >= "
            f"{facts.min_nvcc}{major}" + ("" if need <= {"80", "90"} else " and >= 12.8 for Blackwell")
        ]
    if target.nvcc is None:
        return [
            "no nvcc on the target: install the CUDA toolkit (or set CUDA_HOME) before `uv sync` builds "
            f"{opt.package}"
        ]
    out = []
    nvcc = Version(target.nvcc)
    if torch_cuda is not None and nvcc.major != torch_cuda.major:
        out.append(
            f"nvcc {target.nvcc} and torch's CUDA {torch_cuda} differ in major version: the build will "
            f"fail or the module will not load; use a CUDA {torch_cuda.major}.x toolkit"
        )
    if nvcc < facts.min_nvcc:
        out.append(
            f"{opt.package} {opt.version} needs nvcc >= {facts.min_nvcc}; the target has {target.nvcc}"
        )
    from llmenv.knowledge.flash_attn import arch_for

    short = {arch_for(cc) for cc in target.capabilities} - set(facts.buildable_archs(nvcc))
    if short:
        names = ", ".join(f"sm_{a}" for a in sorted(short, key=int))
        out.append(
            f"compiling {names} needs nvcc >= 12.8; the target has {target.nvcc}: install a newer CUDA "
            "toolkit before `uv sync`, or the module has no code for these GPUs"
        )
    return out


def _rocm_triton(
    cand: Candidate, choices: dict[str, Choice], target: Target, extra: dict[str, Any]
) -> tuple[str, ...]:
    """A ROCm torch's Triton comes from the same PyTorch index, as a dependency of the project (uv applies a
    source to direct dependencies only; torch's exact Triton pin is not on PyPI)."""
    torch = choices.get("torch")
    if cand.torch is None or not cand.torch.variant.is_rocm or torch is None or torch.index is None:
        return ()
    marker = target.platform_marker()
    for pkg, c in choices.items():
        if c.index and c.index.startswith("vllm-rocm"):
            extra.setdefault("sources", {})[pkg] = [{"index": c.index, "marker": marker}]
    from llmenv.knowledge.rocm import load_rocm

    triton = load_rocm().triton_for(cand.torch.version)
    if triton is None:
        return ()
    extra.setdefault("sources", {})[triton] = [{"index": torch.index, "marker": marker}]
    choices[triton] = Choice(
        name=triton, version="", source="index", index=torch.index, variant=torch.variant
    )
    return (f"{triton} ; {marker}",)


def _required(lines: Sequence[Requirement], env: Mapping[str, str], extras: Sequence[str]) -> bool:
    return any(r.marker is None or any(r.marker.evaluate({**env, "extra": e}) for e in extras) for r in lines)


def _blocked(problem: Problem, cand: Candidate, there: Target, unless: Target | None = None) -> str | None:
    """The first chosen release (framework, engine, or an exact pin of theirs) required on ``there``'s platform
    with neither a wheel nor an sdist for it. ``unless``: skip releases also required on that platform (uv's
    fork of "every other machine" is satisfied by their wheels there)."""
    for pick in (cand.framework, cand.engine):
        if (
            unless is None
            and pick is not None
            and not installable_pythons(pick.release, there, (cand.python,))
        ):
            return f"{pick.name} {pick.version}"
    env = there.marker_environment()
    other = unless.marker_environment() if unless is not None else None
    extras = ["", *(cand.framework.extras if cand.framework else ())]
    for reqs in (cand.framework_requirements, cand.engine_requirements):
        for name, lines in reqs.items():
            if not _required(lines, env, extras) or (other is not None and _required(lines, other, extras)):
                continue
            pinned = exact_pin(spec_of(reqs, name))
            rel = release_of(problem.pins, name, pinned) if pinned else None
            if (
                rel is not None
                and getattr(rel, "files_known", False)
                and not installable_pythons(rel, there, (cand.python,))
            ):
                return f"{name} {pinned}"
    return None


# The platforms a lock without ``environments`` covers, as uv forks it: each main one, and "every other
# machine" (ppc64le, s390x, ...), where a release installs only from a pure wheel or an sdist.
_MAIN_PLATFORMS = (("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"), ("windows", "x86_64"))


def platform_gap(
    problem: Problem, cand: Candidate, target: Target, feedback: Feedback | None
) -> tuple[str, tuple[str, ...]] | None:
    """(why, the platform markers the lock can cover) when a chosen release (the framework, the engine, an exact
    pin of theirs) has neither a wheel nor an sdist for one of the platforms a universal lock forks on — uv would
    fail that fork — or when uv said so. None: nothing narrows the lock."""
    if feedback is not None and feedback.platform_only:
        return f"uv: {feedback.platform_only}", (target.platform_marker(),)
    why: str | None = None
    supported: list[str] = [target.platform_marker()]
    for os_, arch in _MAIN_PLATFORMS:
        there = target.with_(os=os_, arch=arch)
        if (os_, arch) == (target.os, target.arch):
            continue
        stop = _blocked(problem, cand, there)
        if stop is None:
            supported.append(there.platform_marker())
        else:
            why = why or f"{stop} has no wheel (and no sdist) for {os_} {arch}"
    rare = _blocked(
        problem,
        cand,
        target.with_(os="linux", arch="ppc64le"),
        unless=target.with_(os="linux", arch="aarch64"),
    )
    if why is None and rare is not None:
        why = f"{rare} has wheels for some Linux machines only (no sdist)"
    return (why, tuple(supported)) if why is not None else None


def assemble(
    problem: Problem,
    cand: Candidate,
    rejected: tuple[Rejection, ...],
    *,
    build_facts: Callable[[Target], Target] | None = None,
    feedback: Feedback | None = None,
) -> Plan:
    """The plan for the winning candidate. ``build_facts`` fills in the target's nvcc, cores and memory when a
    source build is planned (detection of this machine runs only then)."""
    from llmenv.plan.why import reasons

    target = problem.target.with_(python=cand.python)
    if cand.builds and build_facts is not None:
        target = build_facts(target)
    choices = _choices(problem, cand)
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    build = _extension_sections(problem, cand, target, extra, warnings)
    rocm_deps = _rocm_triton(cand, choices, target, extra)
    gap = platform_gap(problem, cand, target, feedback)
    if gap:
        why, markers = gap
        extra["platform-only"] = why
        extra["environments"] = list(markers)
        warnings.append(f"{why}: the lock covers {len(markers)} platform(s) only ({'; '.join(markers)})")
    overrides: list[dict[str, Any]] = []
    if cand.relaxed and cand.framework is not None:
        fw = cand.framework
        overrides.append(
            {"package": fw.name, "version": str(fw.version), "relaxed": [r.to_dict() for r in cand.relaxed]}
        )
        extra.setdefault("dependency-metadata", []).insert(
            0, dependency_metadata(fw.name, fw.release, cand.relaxed)
        )
    if target.base is not None and target.base.torch is not None:
        from llmenv.plan.base import base_warnings, plan_extra

        extra.update(plan_extra(target.base))
        warnings += base_warnings(cand, target.base, target, problem.kb, problem.policy)
    return Plan(
        target=target,
        policy=problem.policy,
        pythons=cand.pythons,
        packages=choices,
        dependencies=_dependencies(problem, cand, choices) + rocm_deps,
        torch_source=problem.source,
        indexes=tuple(_indexes(problem, cand)),
        build=build,
        overrides=tuple(overrides),
        reasons=tuple(reasons(problem, cand, target)),
        rejected=rejected,
        warnings=tuple(warnings),
        extra=extra,
        candidate=cand.describe(),
        key=cand.key,
        related=_related(cand, choices),
        framework=cand.framework.name if cand.framework else None,
        framework_pins=frozenset(
            n for n in cand.framework_requirements if exact_pin(spec_of(cand.framework_requirements, n))
        ),
        python_cap_reason=cand.python_limit,
        python_floor_reason=cand.python_floor_limit,
    )


def _related(cand: Candidate, choices: dict[str, Choice]) -> frozenset[str]:
    names = set(choices) | set(cand.framework_requirements) | set(cand.engine_requirements)
    return frozenset(canonicalize_name(n) for n in names)
