"""The planner: Target + Request + Knowledge -> Plan, with the reasons for each choice and the alternatives it
rejected (each with the fact that rejected it). Pure and fast: no I/O beyond the bundled knowledge.

torch rule (``--cuda-policy strict`` by default): the CUDA variant is chosen first — the newest CUDA build the
target driver can run that covers every target GPU's architecture — then the newest torch release that has a
build on that variant, within the user's pins and the target Python. ``minor`` also admits newer minor versions
of the driver's CUDA major (CUDA minor-version compatibility, as uv's ``--torch-backend=auto``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from llmenv.backend import Backend
from llmenv.errors import NoAnswer
from llmenv.indexes import IndexSpec, TorchSource
from llmenv.knowledge import Knowledge, TorchRelease, load
from llmenv.request import Request
from llmenv.target import Target

__all__ = [
    "TORCH_FAMILY",
    "Choice",
    "Plan",
    "Rejection",
    "TorchOption",
    "make_plan",
    "plan_torch",
    "torch_options",
]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
POLICY_TEXT = {
    "strict": "strict: no CUDA build newer than the driver's CUDA",
    "minor": "minor: newer CUDA minors of the driver's CUDA major are allowed (minor-version compatibility)",
}


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One planned package."""

    name: str
    version: str
    source: str  # index | pypi | prebuilt | build | path | default
    variant: str | None = None
    url: str | None = None
    index: str | None = None
    extras: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "source": self.source}
        if self.variant:
            d["variant"] = self.variant
        if self.url:
            d["url"] = self.url
        if self.index:
            d["index"] = self.index
        if self.extras:
            d["extras"] = list(self.extras)
        return d


@dataclass(frozen=True, kw_only=True)
class Rejection:
    package: str
    version: str
    reason: str
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"package": self.package, "version": self.version}
        if self.variant:
            d["variant"] = self.variant
        d["reason"] = self.reason
        return d

    def __str__(self) -> str:
        v = f"{self.version}+{self.variant}" if self.variant else self.version
        return f"{self.package} {v}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class Plan:
    target: Target
    policy: str
    pythons: tuple[str, ...]  # Python minors the project supports, ascending (first = target's)
    packages: Mapping[str, Choice]
    dependencies: tuple[str, ...]  # PEP 508 lines for [project] dependencies
    torch_source: TorchSource
    indexes: tuple[IndexSpec, ...] = ()
    build: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    overrides: tuple[Mapping[str, Any], ...] = ()
    reasons: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(
        default_factory=dict
    )  # planner sections for the renderer (flash-attn, ...)

    @property
    def requires_python(self) -> str:
        lo = self.pythons[0]
        hi_major, hi_minor = (int(p) for p in self.pythons[-1].split("."))
        return f">={lo},<{hi_major}.{hi_minor + 1}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "policy": self.policy,
            "requires-python": self.requires_python,
            "packages": {name: c.to_dict() for name, c in self.packages.items()},
            "dependencies": list(self.dependencies),
            "build": {k: dict(v) for k, v in self.build.items()},
            "overrides": [dict(o) for o in self.overrides],
            "reasons": list(self.reasons),
            "rejected": [r.to_dict() for r in self.rejected],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, kw_only=True)
class TorchOption:
    release: TorchRelease
    variant: Backend
    source: str  # "index" | "pypi"


def _driver_blocks(kb: Knowledge, target: Target, tag: str, policy: str) -> str | None:
    """The minimum driver a CUDA variant needs, when the target driver cannot run it (policy applied)."""
    cuda = Backend.parse(tag).cuda_version
    assert cuda is not None and target.cuda is not None
    if kb.cuda.runs(cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
        return None
    return kb.cuda.min_driver(cuda) or "a newer driver"


def _arch_blocks(target: Target, release: TorchRelease, tag: str) -> str | None:
    var = release.variants.get(tag)
    if var is None:
        return None
    missing = [g for g in target.gpus if not var.covers(g.capability)]
    if not missing:
        return None
    names = ", ".join(sorted({f"{g.sm} ({g.name})" if g.name != "GPU" else g.sm for g in missing}))
    return f"the {tag} build has no code for {names} (it has {var.arch_names})"


def _driver_sentence(kb: Knowledge, target: Target, blocked: Sequence[tuple[str, str]], policy: str) -> str:
    """``cu126 needs driver >= 560.28.03, cu130 >= 580.65.06; driver 550.54.14 supports CUDA <= 12.4``."""
    parts = [
        f"{tag} needs driver >= {floor}" if i == 0 else f"{tag} >= {floor}"
        for i, (tag, floor) in enumerate(blocked)
    ]
    drv = f"driver {target.driver}" if target.driver else "the target driver"
    text = ", ".join(parts) + f"; {drv} supports CUDA <= {target.cuda}"
    if policy == "strict" and any(_driver_blocks(kb, target, tag, "minor") is None for tag, _ in blocked):
        text += " (--cuda-policy minor would allow some)"
    return text


def _blocked_summary(
    kb: Knowledge, target: Target, release: TorchRelease, tags: Sequence[str], policy: str
) -> str:
    """One sentence for the variants of a release the target cannot run: driver floors first, then archs."""
    driver_blocked: list[tuple[str, str]] = []
    arch_blocked: list[str] = []
    for tag in tags:
        floor = _driver_blocks(kb, target, tag, policy)
        if floor:
            driver_blocked.append((tag, floor))
        elif (arch := _arch_blocks(target, release, tag)) is not None:
            arch_blocked.append(arch)
    parts = ([_driver_sentence(kb, target, driver_blocked, policy)] if driver_blocked else []) + arch_blocked
    return "; ".join(parts)


def _variant_problem(
    kb: Knowledge, target: Target, release: TorchRelease, tag: str, policy: str
) -> str | None:
    """Why this CUDA variant of the release cannot run on the target, or None when it can."""
    floor = _driver_blocks(kb, target, tag, policy)
    if floor is not None:
        return _driver_sentence(kb, target, [(tag, floor)], policy)
    return _arch_blocks(target, release, tag)


def torch_options(
    kb: Knowledge,
    target: Target,
    policy: str,
    source: TorchSource,
    spec: SpecifierSet,
    companions: Mapping[str, SpecifierSet] | None = None,
    cuda_major: int | None = None,
) -> tuple[list[TorchOption], list[Rejection], list[Rejection]]:
    """Every (release, variant) that runs on the target, newest release first.

    Returns (options, rejected: releases ruled out by a fact, excluded: releases ruled out by the user's pins).
    """
    options: list[TorchOption] = []
    rejected: list[Rejection] = []
    excluded: list[Rejection] = []
    companions = companions or {}
    for r in kb.torch:
        v = str(r.version)
        if not spec.contains(r.version, prereleases=True):
            excluded.append(Rejection(package="torch", version=v, reason=f"excluded by torch{spec}"))
            continue
        companion_problem = None
        for name, cspec in companions.items():
            cv = getattr(r, name)
            if cv is None:
                companion_problem = f"{name} has no release for torch {v}"
                break
            if not cspec.contains(cv, prereleases=True):
                excluded.append(
                    Rejection(package="torch", version=v, reason=f"goes with {name} {cv}, not {name}{cspec}")
                )
                companion_problem = ""
                break
        if companion_problem == "":
            continue
        if companion_problem:
            rejected.append(Rejection(package="torch", version=v, reason=companion_problem))
            continue
        if target.python not in r.python:
            rejected.append(
                Rejection(
                    package="torch",
                    version=v,
                    reason=f"no wheels for Python {target.python} (has {r.python[0]}–{r.python[-1]})",
                )
            )
            continue
        if not r.has_platform(target.os, target.arch):
            rejected.append(
                Rejection(package="torch", version=v, reason=f"no wheels for {target.os} {target.arch}")
            )
            continue
        if target.is_cpu:
            options.append(
                TorchOption(release=r, variant=Backend("cpu"), source="pypi" if source.is_pypi else "index")
            )
            continue
        if source.is_pypi:
            tags = [Backend.cuda(r.pypi_cuda).tag]
        else:
            tags = sorted(r.variants, key=Backend.parse, reverse=True)
        if cuda_major is not None:
            tags = [t for t in tags if Backend.parse(t).major == cuda_major]
        runnable = [t for t in tags if _variant_problem(kb, target, r, t, policy) is None]
        kind = "pypi" if source.is_pypi else "index"
        options += [TorchOption(release=r, variant=Backend.parse(t), source=kind) for t in runnable]
        if not runnable:
            pypi_note = " (PyPI ships only this CUDA build)" if source.is_pypi else ""
            reason = _blocked_summary(kb, target, r, tags, policy) + pypi_note
            rejected.append(Rejection(package="torch", version=v, reason=reason))
    return options, rejected, excluded


def _choose(options: Sequence[TorchOption]) -> TorchOption:
    best = max(o.variant for o in options)
    return next(o for o in options if o.variant == best)


def _no_plan_message(
    kb: Knowledge,
    target: Target,
    policy: str,
    source: TorchSource,
    spec: SpecifierSet,
    rejected: Sequence[Rejection],
    excluded: Sequence[Rejection],
) -> NoAnswer:
    if target.is_cpu:
        where = f"{target.os} {target.arch}, Python {target.python}"
    else:
        where = f"CUDA <= {target.cuda}" + (
            f" ({', '.join(g.sm for g in target.gpus)})" if target.gpus else ""
        )
        where += f", Python {target.python}"
    asked = f"torch{spec}" if str(spec) else "torch"
    first = rejected[0] if rejected else None
    detail = f": {first.version} — {first.reason}" if first else ""
    message = f"{asked} has no build for {where}{detail}"
    hint = None
    if str(spec):
        alt, _, _ = torch_options(kb, target, policy, source, SpecifierSet())
        if alt:
            best = _choose(alt)
            message += f"; the newest that has is {best.release.version} ({best.variant})"
            hint = f"drop the pin, or ask for torch=={best.release.version}"
    if hint is None and policy == "strict" and not target.is_cpu:
        alt, _, _ = torch_options(kb, target, "minor", source, spec)
        if alt:
            hint = "--cuda-policy minor would allow a newer CUDA minor of the same major"
    del excluded
    return NoAnswer(message, hint=hint)


def plan_torch(
    kb: Knowledge,
    target: Target,
    policy: str,
    source: TorchSource,
    request: Request,
    cuda_major: int | None = None,
) -> tuple[dict[str, Choice], list[str], list[Rejection], tuple[str, ...], TorchOption]:
    """Plan torch (+ torchvision / torchaudio when requested). Raises NoAnswer with what would work."""
    spec = request.specifier("torch")
    companions = {n: request.specifier(n) for n in ("torchvision", "torchaudio") if request.get(n)}
    options, rejected, excluded = torch_options(kb, target, policy, source, spec, companions, cuda_major)
    if not options:
        raise _no_plan_message(kb, target, policy, source, spec, rejected, excluded)
    chosen = _choose(options)
    r = chosen.release
    reasons: list[str] = []
    if target.is_cpu and source.is_pypi and target.os == "linux" and target.arch == "x86_64":
        reasons.append(
            f"no NVIDIA driver on the target; torch from the default index: PyPI's Linux x86_64 torch {r.version} "
            f"bundles the CUDA {r.pypi_cuda} libraries (several GB) and also runs on the CPU — the PyTorch cpu "
            "index (drop --torch-index pypi) gives the small CPU-only build"
        )
    elif target.is_cpu:
        reasons.append(
            "no NVIDIA driver on the target: the CPU build of torch"
            + (" from the default index" if source.is_pypi else f" from the {source.label} (cpu)")
        )
    else:
        floor = kb.cuda.min_driver(target.cuda) if target.cuda else None
        reasons.append(
            f"driver {target.driver} supports CUDA <= {target.cuda}"
            + (f" (CUDA {target.cuda} needs >= {floor}, NVIDIA release notes Table 3)" if floor else "")
            + f"; policy {POLICY_TEXT[policy]}"
        )
        arch = ""
        if target.gpus:
            var = r.variants.get(chosen.variant.tag)
            arch = f"; it covers {', '.join(sorted({g.sm for g in target.gpus}))}" + (
                f" (build archs: {var.arch_names})" if var else ""
            )
        if source.is_pypi:
            reasons.append(
                f"torch from the default index: PyPI's torch {r.version} is built for CUDA {r.pypi_cuda}{arch}"
            )
        else:
            reasons.append(
                f"{chosen.variant} is the newest CUDA variant with a torch build for this target{arch}"
            )
    pinned = f" within torch{spec}" if str(spec) else ""
    reasons.append(
        f"torch {r.version} is the newest release{pinned} with a {chosen.variant} build; "
        f"Python {r.python[0]}–{r.python[-1]} (target {target.python}); "
        f"C++ ABI {'cxx11' if r.abi_of(chosen.variant) else 'pre-cxx11'}"
    )
    # What was passed over: newer releases, and better variants of the chosen one.
    passed: list[Rejection] = [x for x in rejected if x.version and _newer(x.version, str(r.version))]
    for o in options:
        if o.release.version > r.version and not any(p.version == str(o.release.version) for p in passed):
            better = [
                t
                for t in sorted(o.release.variants, key=Backend.parse, reverse=True)
                if Backend.parse(t) > o.variant
            ]
            summary = _blocked_summary(kb, target, o.release, better, policy)
            why = f" ({summary})" if summary else ""
            passed.append(
                Rejection(
                    package="torch",
                    version=str(o.release.version),
                    variant=o.variant.tag,
                    reason=f"runs here only as {o.variant}{why}, an older CUDA than {chosen.variant}; "
                    f"ask for torch=={o.release.version} to take it",
                )
            )
    if not target.is_cpu and not source.is_pypi:
        for tag in sorted(r.variants, key=Backend.parse, reverse=True):
            if Backend.parse(tag) > chosen.variant:
                problem = _variant_problem(kb, target, r, tag, policy)
                if problem:
                    passed.append(
                        Rejection(package="torch", version=str(r.version), variant=tag, reason=problem)
                    )
    passed.sort(key=lambda x: _vkey(x.version), reverse=True)

    variant = chosen.variant.tag
    index = None if source.is_pypi else (source.index_for(chosen.variant) or IndexSpec(name="", url="")).name
    choices = {
        "torch": Choice(
            name="torch", version=str(r.version), variant=variant, source=chosen.source, index=index
        )
    }
    for name in ("torchvision", "torchaudio"):
        if request.get(name):
            cv = getattr(r, name)
            choices[name] = Choice(name=name, version=cv, variant=variant, source=chosen.source, index=index)
            reasons.append(f"{name} {cv} is the release built for torch {r.version}")
    pythons = tuple(p for p in r.python if _vkey(p) >= _vkey(target.python))
    return choices, reasons, passed, pythons, chosen


def _vkey(v: str) -> tuple[int, ...]:
    from packaging.version import Version

    return Version(v).release


def _newer(a: str, b: str) -> bool:
    return _vkey(a) > _vkey(b)


def lazy_pins(environ: Mapping[str, str] | None = None) -> Any:
    """The framework pins (the user's `llmenv kb refresh` snapshot, else the bundled one), read on first use."""
    loaded: list[Any] = []

    def releases(name: str) -> Any:
        if not loaded:
            from llmenv.knowledge.pins import load_pins, user_data_dir

            loaded.append(load_pins(user_data_dir(environ)))
        return loaded[0].releases(name)

    return releases


def _engine_from_extras(extras: Iterable[str]) -> str | None:
    from llmenv.stack import ENGINES

    for e in extras:
        for engine in ENGINES:
            if canonicalize_name(e).startswith(engine):
                return engine
    return None


def make_plan(
    target: Target,
    request: Request,
    *,
    policy: str = "strict",
    source: TorchSource,
    kb: Knowledge | None = None,
    pins: Any = None,
    allow_overrides: bool = False,
    local_release: Any = None,
    flash_attn_wheels: str | None = None,
    github_proxy: str | None = None,
    user_wheels: Any = None,
    build: frozenset[str] = frozenset(),
) -> Plan:
    """Plan the request for the target. Raises NoAnswer (exit 1) with what would work.

    ``local_release(LocalSpec) -> ReleaseLike`` reads a local framework tree's metadata (statically); with it, a
    local ``./verl[vllm]`` is planned like a release: its extras' pins choose the engine and torch."""
    from llmenv.stack import ENGINES, FRAMEWORKS, plan_stack

    kb = kb or load()
    if target.is_rocm:
        # Never a CPU plan for an AMD machine without a word: until the ROCm variants are planned, say so.
        gfx = ", ".join(target.gfx) or "GPUs not named"
        raise NoAnswer(
            f"this is an AMD ROCm target ({gfx}; ROCm {target.rocm or 'unknown'}): llmenv does not plan torch's "
            "ROCm builds yet",
            hint="plan a CPU-only environment with --cuda cpu",
        )
    if len(target.lock_platforms) > 1:
        raise NoAnswer(
            f"one lock for {', '.join(target.lock_platforms)}: llmenv does not plan several platforms yet",
            hint="plan each platform apart (--platform once)",
        )
    names = request.names()
    choices: dict[str, Choice] = {}
    reasons: list[str] = []
    rejected: list[Rejection] = []
    pythons: tuple[str, ...] = (target.python,)
    indexes: list[IndexSpec] = []
    deps: list[str] = []
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    overrides: list[Mapping[str, Any]] = []
    fixed: dict[str, str] = {}  # name -> exact version chosen by the stack planner
    cuda_major: int | None = None
    framework_release: tuple[str, Any, SpecifierSet | None] | None = None

    framework_req = next((r for r in request.requirements if canonicalize_name(r.name) in FRAMEWORKS), None)
    if framework_req is not None:
        engine_extras = [e for e in sorted(framework_req.extras) if _engine_from_extras([e])]
        if len({_engine_from_extras([e]) for e in engine_extras}) >= 2:
            return _plan_alternatives(
                target,
                request,
                framework_req,
                engine_extras,
                policy=policy,
                source=source,
                kb=kb,
                pins=pins or lazy_pins(),
                allow_overrides=allow_overrides,
            )
    local_fw = None
    if framework_req is None and local_release is not None:
        local_fw = next((loc for loc in request.locals if loc.name in FRAMEWORKS), None)
    engine_req = next((r for r in request.requirements if canonicalize_name(r.name) in ENGINES), None)
    engine_name: str | None = canonicalize_name(engine_req.name) if engine_req else None
    if engine_name is None and framework_req is not None:
        engine_name = _engine_from_extras(framework_req.extras)
    if engine_name is None and local_fw is not None:
        engine_name = _engine_from_extras(local_fw.extras)
    if framework_req is not None or engine_name is not None or local_fw is not None:
        pins = pins or lazy_pins()
        user = {canonicalize_name(r.name): r for r in request.requirements}
        framework = None
        if framework_req is not None:
            fname = canonicalize_name(framework_req.name)
            framework = (fname, pins(fname), tuple(sorted(framework_req.extras)))
        elif local_fw is not None:
            framework = (local_fw.name, [local_release(local_fw)], tuple(sorted(local_fw.extras)))
        stack = plan_stack(
            kb=kb,
            pins=pins,
            target=target,
            policy=policy,
            source=source,
            framework=framework,
            engine=(engine_name, tuple(sorted(engine_req.extras)) if engine_req else ())
            if engine_name
            else None,
            user=user,
            allow_overrides=allow_overrides,
        )
        reasons += stack.reasons
        rejected += [Rejection(package=p, version=v, reason=why) for p, v, why in stack.rejected]
        overrides += stack.overrides
        fixed.update(stack.pins)
        extra_reqs: list[Requirement] = []
        if "torch" not in names:
            extra_reqs.append(Requirement(f"torch{stack.torch_spec}"))
        else:
            torch_user = request.get("torch")
            assert torch_user is not None
            torch_user.specifier &= stack.torch_spec
        if stack.engine is not None:
            cuda_major = stack.engine.build_cuda.major if stack.engine.build_cuda else None
            for comp in ("torchvision", "torchaudio"):
                if comp in stack.engine.requirements and comp not in names:
                    extra_reqs.append(Requirement(comp))
            if engine_req is None:
                extra_reqs.append(Requirement(f"{stack.engine.name}=={stack.engine.release.version}"))
        if stack.flash_attn_spec is not None and "flash-attn" not in names:
            extra_reqs.append(Requirement(f"flash-attn{stack.flash_attn_spec}"))
        if stack.framework is not None:
            _, frel, _ = stack.framework
            pythons_ok = frel.requires_python
            extra["framework-python"] = str(pythons_ok) if pythons_ok else ""
            framework_release = (stack.framework[0], frel, stack.framework_flash_attn)
        request = Request(requirements=request.requirements + tuple(extra_reqs), locals=request.locals)
        names = request.names()
    if "flash-attn" in names and not names & set(TORCH_FAMILY):
        # flash-attn is built for one torch: plan that torch too, so its wheel (or build) can match it.
        request = Request(requirements=(*request.requirements, Requirement("torch")), locals=request.locals)
        names = request.names()
    wants_torch = bool(names & set(TORCH_FAMILY))
    if wants_torch:
        tchoices, treasons, trejected, pythons, chosen = plan_torch(
            kb, target, policy, source, request, cuda_major
        )
        choices.update(tchoices)
        reasons += treasons
        rejected += trejected
        if not source.is_pypi:
            idx = source.index_for(chosen.variant)
            if idx:
                indexes.append(idx)
            if not chosen.variant.is_cpu:
                cpu = source.index_for(Backend("cpu"))
                if cpu and cpu.name != (idx.name if idx else None):
                    indexes.append(cpu)
    fa: Any = None
    if "flash-attn" in names:
        fa = _plan_flash_attn_stage(
            kb=kb,
            target=target,
            policy=policy,
            request=request,
            chosen=chosen,
            pythons=pythons,
            pins=pins,
            flash_attn_wheels=flash_attn_wheels,
            github_proxy=github_proxy,
            user_wheels=user_wheels,
            force_build="flash-attn" in build,
            choices=choices,
            reasons=reasons,
            rejected=rejected,
            warnings=warnings,
            indexes=indexes,
            extra=extra,
        )
        if fa.source == "prebuilt":
            pythons = tuple(p for p in pythons if p in fa.wheels)
        if framework_release is not None and overrides:
            fw_spec = framework_release[2]
            if fw_spec is not None and not fw_spec.contains(fa.version, prereleases=True):
                relaxed = list(overrides[0]["relaxed"])
                relaxed.append(
                    {
                        "package": "flash-attn",
                        "from": f"flash-attn{fw_spec}",
                        "to": f"flash-attn=={fa.version}",
                        "requirements": [
                            str(r)
                            for r in framework_release[1].requires_dist
                            if canonicalize_name(r.name) == "flash-attn"
                        ],
                    }
                )
                overrides[0] = {**overrides[0], "relaxed": relaxed}
    overrides = [o for o in overrides if o.get("relaxed")]
    if framework_release is not None and overrides:
        extra.setdefault("dependency-metadata", []).insert(
            0, _dependency_metadata(framework_release[1], framework_release[0], overrides[0])
        )
    for req in request.requirements:
        n = canonicalize_name(req.name)
        extras_s = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        marker = f" ; {req.marker}" if req.marker else ""
        if n == "flash-attn" and not req.marker:
            marker = f" ; {target.platform_marker()}"  # GPU-only: other platforms do not install it
        if n in choices:
            c = choices[n]
            pin = fa.pin if n == "flash-attn" and fa is not None else c.version
            deps.append(f"{c.name}{extras_s}=={pin}{marker}")
        elif n in fixed:
            deps.append(f"{req.name}{extras_s}=={fixed[n]}{marker}")
            choices[n] = Choice(name=n, version=fixed[n], source="default", extras=tuple(sorted(req.extras)))
        else:
            deps.append(str(req))
    if extra.get("framework-python"):
        fspec = SpecifierSet(extra["framework-python"])
        pythons = tuple(p for p in pythons if fspec.contains(p + ".0", prereleases=True)) or pythons
    for loc in request.locals:
        extras_s = f"[{','.join(loc.extras)}]" if loc.extras else ""
        deps.append(f"{loc.name}{extras_s}")
        choices[loc.name] = Choice(name=loc.name, version="local", source="path", extras=loc.extras)
        reasons.append(
            f"{loc.name} from {loc.path} as an editable path source (not a workspace member, so uv "
            "resolves only the extras you asked for)"
            + (" — its pins read statically from the tree" if loc is local_fw else "")
        )
    return Plan(
        target=target,
        policy=policy,
        pythons=pythons,
        packages=choices,
        dependencies=tuple(deps),
        torch_source=source,
        indexes=tuple(indexes),
        overrides=tuple(overrides),
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
        build=extra.pop("build", {}),
        extra=extra,
    )


def _plan_flash_attn_stage(
    *,
    kb: Knowledge,
    target: Target,
    policy: str,
    request: Request,
    chosen: TorchOption,
    pythons: tuple[str, ...],
    pins: Any,
    flash_attn_wheels: str | None,
    github_proxy: str | None,
    user_wheels: Any,
    force_build: bool,
    choices: dict[str, Choice],
    reasons: list[str],
    rejected: list[Rejection],
    warnings: list[str],
    indexes: list[IndexSpec],
    extra: dict[str, Any],
) -> Any:
    """flash-attn for the planned torch: a prebuilt wheel routed by URL, or the tuned source build."""
    from llmenv.flashattn import build_settings, plan_flash_attn, source_entries

    pins = pins or lazy_pins()
    try:
        sdists = [r.version for r in pins("flash-attn")]
    except Exception:  # a snapshot without flash-attn: the release matrix's versions are used
        sdists = []
    fa = plan_flash_attn(
        target=target,
        torch_version=chosen.release.version,
        torch_cuda=chosen.variant.cuda_version,
        cxx11_abi=chosen.release.abi_of(chosen.variant),
        pythons=pythons,
        specifier=request.specifier("flash-attn"),
        policy=policy,
        wheels=flash_attn_wheels,
        github_proxy=github_proxy,
        sdist_versions=sdists,
        user_wheels=user_wheels,
        force_build=force_build,
    )
    url = fa.wheels[target.python][0] if fa.source == "prebuilt" and target.python in fa.wheels else None
    choices["flash-attn"] = Choice(
        name="flash-attn",
        version=fa.version,
        source=fa.source,
        url=url,
        index=fa.index and "flash-attn-wheels",
    )
    reasons += fa.reasons
    rejected += [Rejection(package="flash-attn", version=v, reason=why) for v, why in fa.rejected]
    warnings += fa.warnings
    entries = source_entries(fa, target.platform_marker())
    if entries:
        extra.setdefault("sources", {})["flash-attn"] = entries
    if fa.index:
        indexes.append(IndexSpec(name="flash-attn-wheels", url=fa.index, explicit=True, flat=fa.index_flat))
    settings = build_settings(fa)
    if settings:
        extra.setdefault("extra-build-dependencies", {}).update(settings["extra-build-dependencies"])
        extra.setdefault("extra-build-variables", {}).update(settings["extra-build-variables"])
        extra.setdefault("dependency-metadata", []).append(settings["dependency-metadata"])
        extra.setdefault("build", {})["flash-attn"] = {"env": dict(fa.env)}
    return fa


def _dependency_metadata(release: Any, name: str, override: Mapping[str, Any]) -> dict[str, Any]:
    """The framework's metadata with its relaxed pins replaced: a ``[[tool.uv.dependency-metadata]]`` entry."""
    # Only the requirement lines that applied to this target and these extras are rewritten.
    relaxed = {line: r["to"] for r in override["relaxed"] for line in r.get("requirements", ())}
    lines = []
    for req in release.requires_dist:
        if str(req) in relaxed:
            new = Requirement(relaxed[str(req)])
            new.extras = req.extras
            new.marker = req.marker
            lines.append(str(new))
        else:
            lines.append(str(req))
    entry: dict[str, Any] = {"name": name, "version": str(release.version), "requires-dist": lines}
    extras = getattr(release, "provides_extras", None) or getattr(release, "extras", None)
    if extras:
        entry["provides-extras"] = list(extras)
    if release.requires_python:
        entry["requires-python"] = str(release.requires_python)
    return entry


def _plan_alternatives(
    target: Target,
    request: Request,
    framework_req: Requirement,
    engine_extras: Sequence[str],
    **kw: Any,
) -> Plan:
    """A framework asked for with extras that cannot live together (``verl[vllm,sglang]``): one plan per engine
    extra, written as the project's own extras declared in ``[tool.uv] conflicts`` (uv resolves each apart)."""
    from dataclasses import replace

    name = canonicalize_name(framework_req.name)
    common = [e for e in sorted(framework_req.extras) if e not in engine_extras]
    subs: dict[str, Plan] = {}
    warnings: list[str] = []
    for extra in engine_extras:
        fr = Requirement(str(framework_req))
        fr.extras = {*common, extra}
        if subs:  # later alternatives use the framework release the first one chose
            fr.specifier = SpecifierSet(f"=={next(iter(subs.values())).packages[name].version}")
        others = tuple(r for r in request.requirements if r is not framework_req)
        try:
            subs[extra] = make_plan(target, replace(request, requirements=(fr, *others)), **kw)
        except NoAnswer as e:
            if not subs and extra == engine_extras[-1]:
                raise
            warnings.append(f"{name}[{extra}] left out: {e.message}")
    if not subs:
        raise NoAnswer(f"no extra of {framework_req} fits this target")
    first = next(iter(subs.values()))
    if len(subs) == 1:
        return replace(first, warnings=first.warnings + tuple(warnings))
    base = [d for d in first.dependencies if all(d in p.dependencies for p in subs.values())]
    base_names = {Requirement(d.split(" ;")[0]).name for d in base}
    fw_base = f"{name}=={first.packages[name].version}"
    optional = {extra: [d for d in p.dependencies if d not in base] for extra, p in subs.items()}
    if name not in base_names:
        base.append(fw_base)
    indexes: dict[str, IndexSpec] = {}
    for p in subs.values():
        for idx in p.indexes:
            indexes.setdefault(idx.name, idx)
    reasons: list[str] = [
        f"{name} extras {', '.join(subs)} pin different engines: each becomes an extra of this project, declared "
        "in [tool.uv] conflicts, so uv resolves them apart (install one with `uv sync --extra NAME`)"
    ]
    rejected: list[Rejection] = []
    packages: dict[str, Choice] = {}
    for extra, p in subs.items():
        reasons += [f"[{extra}] {r}" for r in p.reasons]
        rejected += p.rejected
        for pkg, c in p.packages.items():
            packages.setdefault(pkg, c)
    extra_sections = dict(first.extra)
    extra_sections["optional-dependencies"] = optional
    extra_sections["conflicts"] = [[{"extra": e} for e in subs]]
    extra_sections["torch-by-extra"] = {
        e: p.packages["torch"].index
        for e, p in subs.items()
        if "torch" in p.packages and p.packages["torch"].index
    }
    pythons = tuple(py for py in first.pythons if all(py in p.pythons for p in subs.values()))
    return replace(
        first,
        pythons=pythons or first.pythons,
        packages=packages,
        dependencies=tuple(base),
        indexes=tuple(indexes.values()),
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(w for p in subs.values() for w in p.warnings) + tuple(warnings),
        extra=extra_sections,
    )
