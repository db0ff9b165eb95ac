"""Whole stacks: frameworks (verl, OpenRLHF) and engines (vLLM, SGLang) planned together with torch.

The chain, for any driver, GPU and framework: target -> CUDA variants the driver runs -> torch releases with a
build there -> engine releases whose exact torch pin has such a build, and whose own compiled code (built against
the CUDA of the PyPI torch it pins) the driver can run -> framework releases whose extras' pins fit -> Python.
Preference, newest first: the user's pins, then the framework, then the engine, then the CUDA variant, then torch.

Every newer release passed over is listed with the pin that blocked it. With ``allow_overrides`` the newest
framework is kept and its conflicting pins are relaxed (written as ``[[tool.uv.dependency-metadata]]``).
Pure: pins come from the knowledge snapshot through ``PinSource``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.errors import NoAnswer
from llmenv.indexes import TorchSource
from llmenv.knowledge import Knowledge
from llmenv.target import Target

__all__ = [
    "ENGINES",
    "FRAMEWORKS",
    "EngineOption",
    "LocalRelease",
    "PinSource",
    "ReleaseLike",
    "StackChoice",
    "exact_pin",
    "plan_stack",
    "release_requirements",
]

ENGINES = ("vllm", "sglang")
FRAMEWORKS = ("verl", "openrlhf")


class ReleaseLike(Protocol):
    @property
    def version(self) -> Version: ...
    @property
    def requires_python(self) -> SpecifierSet | None: ...
    @property
    def requires_dist(self) -> tuple[Requirement, ...]: ...
    @property
    def yanked(self) -> bool: ...


PinSource = Callable[[str], Sequence[ReleaseLike]]


@dataclass(frozen=True, kw_only=True)
class LocalRelease:
    """A local source tree's metadata (read statically) in the shape the planner walks."""

    version: Version
    requires_python: SpecifierSet | None
    requires_dist: tuple[Requirement, ...]
    provides_extras: tuple[str, ...] = ()
    yanked: bool = False

    @classmethod
    def from_metadata(cls, meta: Any) -> LocalRelease:
        """From ``llmenv.metadata.StaticMetadata`` (a version it could not read statically counts as 0)."""
        try:
            rp = SpecifierSet(meta.requires_python) if meta.requires_python else None
        except InvalidSpecifier:
            rp = None
        return cls(
            version=Version(meta.version or "0"),
            requires_python=rp,
            requires_dist=tuple(Requirement(line) for line in meta.requires_dist),
            provides_extras=tuple(meta.provides_extras),
        )


def release_requirements(
    release: ReleaseLike, extras: Iterable[str], env: Mapping[str, str]
) -> dict[NormalizedName, list[Requirement]]:
    """The release's requirements that apply on the target with these extras, by package name."""
    from llmenv.knowledge.pins import requirements_for

    out: dict[NormalizedName, list[Requirement]] = {}
    for req in requirements_for(release, extras, env):  # type: ignore[arg-type]
        out.setdefault(canonicalize_name(req.name), []).append(req)
    return out


def _spec(reqs: Mapping[NormalizedName, list[Requirement]], name: str) -> SpecifierSet:
    s = SpecifierSet()
    for r in reqs.get(canonicalize_name(name), []):
        s &= r.specifier
    return s


def exact_pin(spec: SpecifierSet) -> Version | None:
    for s in spec:
        if s.operator in ("==", "===") and "*" not in s.version:
            return Version(s.version)
    return None


def _compatible(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Can both hold? Decided where one side pins an exact version; otherwise left to the resolver."""
    for x, y in ((a, b), (b, a)):
        v = exact_pin(x)
        if v is not None and not y.contains(v, prereleases=True):
            return False
    return True


@dataclass(frozen=True, kw_only=True)
class EngineOption:
    name: str
    release: ReleaseLike
    torch_version: Version
    variant: Backend
    build_cuda: CudaVersion | None
    requirements: Mapping[NormalizedName, list[Requirement]]


@dataclass(frozen=True, kw_only=True)
class StackChoice:
    framework: tuple[str, ReleaseLike, tuple[str, ...]] | None  # (name, release, extras)
    engine: EngineOption | None
    torch_spec: SpecifierSet
    flash_attn_spec: SpecifierSet | None
    reasons: tuple[str, ...]
    rejected: tuple[tuple[str, str, str], ...]  # (package, version, reason)
    overrides: tuple[Mapping[str, Any], ...] = ()
    pins: Mapping[str, str] = field(default_factory=dict)  # name -> exact version chosen here
    framework_flash_attn: SpecifierSet | None = (
        None  # the framework's own flash-attn pin (relaxed if it must be)
    )


def _engine_options(
    *,
    name: str,
    extras: Sequence[str],
    pins: PinSource,
    kb: Knowledge,
    target: Target,
    policy: str,
    source: TorchSource,
    specs: Sequence[SpecifierSet],
    torch_specs: Sequence[SpecifierSet],
    env: Mapping[str, str],
    rejected: list[tuple[str, str, str]],
    limit: int = 1,
) -> list[EngineOption]:
    from llmenv.plan import torch_options

    found: list[EngineOption] = []
    for rel in pins(name):
        v = str(rel.version)
        if rel.yanked or not all(s.contains(rel.version, prereleases=True) for s in specs):
            continue
        if rel.version.is_prerelease and not any(str(s) for s in specs):
            continue
        if (why := _python_problem(rel, target)) is not None:
            rejected.append((name, v, why))
            continue
        reqs = release_requirements(rel, extras, env)
        tspec = _spec(reqs, "torch")
        known = [r for r in kb.torch if tspec.contains(r.version, prereleases=True)]
        ok = [r for r in known if all(s.contains(r.version, prereleases=True) for s in torch_specs)]
        if not known:
            rejected.append((name, v, f"pins torch{tspec}, which llmenv's knowledge does not list"))
            continue
        if not ok:
            want = " and ".join(str(s) for s in torch_specs if str(s))
            rejected.append((name, v, f"pins torch{tspec}, but torch{want} is required"))
            continue
        torch_rel = ok[0]
        build_cuda = torch_rel.pypi_cuda
        if target.is_cpu:
            rejected.append((name, v, "needs an NVIDIA GPU (its PyPI wheels are CUDA builds)"))
            continue
        assert target.cuda is not None
        if not kb.cuda.runs(build_cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
            floor = kb.cuda.min_driver(build_cuda)
            rejected.append(
                (
                    name,
                    v,
                    f"pins torch=={torch_rel.version}, and its compiled code is built with CUDA {build_cuda} "
                    f"(the CUDA of PyPI's torch {torch_rel.version}): needs driver >= {floor}; "
                    f"driver {target.driver} supports CUDA <= {target.cuda}",
                )
            )
            continue
        options, trej, _ = torch_options(kb, target, policy, source, SpecifierSet(f"=={torch_rel.version}"))
        same_major = [o for o in options if o.variant.is_cuda and o.variant.major == build_cuda.major]
        if not same_major:
            why = (
                trej[0].reason
                if trej
                else f"no CUDA {build_cuda.major}.x variant of torch {torch_rel.version} runs here"
            )
            rejected.append((name, v, f"pins torch=={torch_rel.version}: {why}"))
            continue
        best = max(same_major, key=lambda o: o.variant)
        found.append(
            EngineOption(
                name=name,
                release=rel,
                torch_version=torch_rel.version,
                variant=best.variant,
                build_cuda=build_cuda,
                requirements=reqs,
            )
        )
        if len(found) >= limit:
            break
    return found


def _python_problem(rel: ReleaseLike, target: Target) -> str | None:
    """Why the release cannot run on the target's Python, or None."""
    if rel.requires_python is None or rel.requires_python.contains(target.python + ".0", prereleases=True):
        return None
    return f"requires Python {rel.requires_python}; the target has {target.python}"


def _conflicts(
    a: Mapping[NormalizedName, list[Requirement]],
    b: Mapping[NormalizedName, list[Requirement]],
    skip: Iterable[str] = (),
) -> list[tuple[str, SpecifierSet, SpecifierSet]]:
    skipped = {canonicalize_name(s) for s in skip}
    out: list[tuple[str, SpecifierSet, SpecifierSet]] = []
    for n in set(a) & set(b):
        if n in skipped:
            continue
        sa, sb = _spec(a, n), _spec(b, n)
        if not _compatible(sa, sb):
            out.append((n, sa, sb))
    return out


def plan_stack(
    *,
    kb: Knowledge,
    pins: PinSource,
    target: Target,
    policy: str,
    source: TorchSource,
    framework: tuple[str, Sequence[ReleaseLike], tuple[str, ...]] | None,
    engine: tuple[str, tuple[str, ...]] | None,
    user: Mapping[NormalizedName, Requirement],
    allow_overrides: bool = False,
) -> StackChoice:
    """Choose framework, engine and torch together. Raises NoAnswer naming the pin that blocked the newest."""
    env = target.marker_environment()
    rejected: list[tuple[str, str, str]] = []
    reasons: list[str] = []
    user_torch = user.get(canonicalize_name("torch"))
    user_torch_spec = user_torch.specifier if user_torch else SpecifierSet()

    if framework is None:
        assert engine is not None
        name, extras = engine
        uspec = user[canonicalize_name(name)].specifier if canonicalize_name(name) in user else SpecifierSet()
        opts = _engine_options(
            name=name,
            extras=extras,
            pins=pins,
            kb=kb,
            target=target,
            policy=policy,
            source=source,
            specs=[uspec],
            torch_specs=[user_torch_spec],
            env=env,
            rejected=rejected,
        )
        if not opts:
            raise _no_stack(name, uspec, rejected)
        only = opts[0]
        reasons.append(_engine_reason(only, target))
        return StackChoice(
            framework=None,
            engine=only,
            torch_spec=SpecifierSet(f"=={only.torch_version}"),
            flash_attn_spec=None,
            reasons=tuple(reasons),
            rejected=tuple(rejected),
            pins={name: str(only.release.version), "torch": str(only.torch_version)},
        )

    fname, releases, fextras = framework
    fcanon = canonicalize_name(fname)
    uspec = user[fcanon].specifier if fcanon in user else SpecifierSet()
    engine_name = engine[0] if engine else None
    engine_extras = engine[1] if engine else ()
    candidates = [
        r
        for r in releases
        if not r.yanked
        and uspec.contains(r.version, prereleases=True)
        and (not r.version.is_prerelease or str(uspec))
    ]
    _check_extras(fname, releases, fextras)
    for rel in candidates:
        v = str(rel.version)
        provided = {canonicalize_name(e) for e in getattr(rel, "provides_extras", ()) or ()}
        lacking = [e for e in fextras if provided and canonicalize_name(e) not in provided]
        if lacking:
            rejected.append((fname, v, f"has no extra {', '.join(lacking)}"))
            continue
        if (why := _python_problem(rel, target)) is not None:
            rejected.append((fname, v, why))
            continue
        freqs = release_requirements(rel, fextras, env)
        # The user's own pins against the framework's.
        clash = [
            (n, a, b)
            for n, a, b in _conflicts(freqs, {n: [r] for n, r in user.items()})
            if n not in (engine_name, "torch") or not allow_overrides
        ]
        if clash and not allow_overrides:
            n, fw_spec, user_spec = clash[0]
            rejected.append((fname, v, f"requires {n}{fw_spec} (you asked for {n}{user_spec})"))
            continue
        fw_torch = _spec(freqs, "torch")
        fw_engine = _spec(freqs, engine_name) if engine_name else SpecifierSet()
        if engine_name and canonicalize_name(engine_name) not in freqs and not allow_overrides:
            rejected.append((fname, v, f"has no {engine_name} dependency for extras {list(fextras)}"))
            continue
        e: EngineOption | None = None
        if engine_name:
            user_engine = user.get(canonicalize_name(engine_name))
            especs = [user_engine.specifier if user_engine else SpecifierSet()]
            tspecs = [user_torch_spec]
            if not allow_overrides:
                especs.append(fw_engine)
                tspecs.append(fw_torch)
            erej: list[tuple[str, str, str]] = []
            opts = _engine_options(
                name=engine_name,
                extras=engine_extras,
                pins=pins,
                kb=kb,
                target=target,
                policy=policy,
                source=source,
                specs=especs,
                torch_specs=tspecs,
                env=env,
                rejected=erej,
                limit=3,
            )
            good = [
                o for o in opts if allow_overrides or not _conflicts(freqs, o.requirements, skip=("torch",))
            ]
            if not good:
                if opts:
                    n, a, b = _conflicts(freqs, opts[0].requirements, skip=("torch",))[0]
                    why = f"requires {n}{a}, but {engine_name} {opts[0].release.version} requires {n}{b}"
                elif erej:
                    pkg, ev, ereason = erej[0] if exact_pin(fw_engine) else erej[-1]
                    why = f"needs {engine_name}{fw_engine} → {pkg} {ev} {ereason}"
                else:
                    why = f"needs {engine_name}{fw_engine}, and no such release is known"
                rejected.append((fname, v, why))
                continue
            e = good[0]
            torch_spec = SpecifierSet(f"=={e.torch_version}")
        else:
            torch_spec = fw_torch & user_torch_spec if not allow_overrides else user_torch_spec
        fa = _spec(freqs, "flash-attn") if canonicalize_name("flash-attn") in freqs else None
        overrides: list[Mapping[str, Any]] = []
        chosen_pins: dict[str, str] = {fname: v}
        if e is not None:
            chosen_pins[e.name] = str(e.release.version)
            chosen_pins["torch"] = str(e.torch_version)
        fw_fa = fa
        if allow_overrides:
            relaxed = _relax(freqs, chosen_pins, user, e)
            overrides.append({"package": fname, "version": v, "relaxed": relaxed})
            # flash-attn is chosen later, on the user's pins only; its framework pin is relaxed then if it must be.
            fa = SpecifierSet() if fa is not None else None
        local = isinstance(rel, LocalRelease)
        reasons.append(
            (f"{fname} {v} from the local tree" if local else f"{fname} {v} is the newest release")
            + (f" within {fname}{uspec}" if str(uspec) else "")
            + (
                (": its pins fit this target" if local else " whose pins fit this target")
                if not allow_overrides
                else " (its conflicting pins relaxed: --allow-overrides)"
            )
            + (f"; extras {', '.join(fextras)}" if fextras else "")
        )
        if e is not None:
            reasons.append(
                _engine_reason(
                    e,
                    target,
                    via=f"{fname} {v} asks for {engine_name}{fw_engine}" if str(fw_engine) else None,
                )
            )
        return StackChoice(
            framework=(fname, rel, fextras),
            engine=e,
            torch_spec=torch_spec,
            flash_attn_spec=fa,
            reasons=tuple(reasons),
            rejected=tuple(rejected),
            overrides=tuple(overrides),
            pins=chosen_pins,
            framework_flash_attn=fw_fa,
        )
    raise _no_stack(fname, uspec, rejected)


def _check_extras(name: str, releases: Sequence[ReleaseLike], extras: Sequence[str]) -> None:
    """An extra that no known release provides is a typo, not a planning question: say so (exit 2)."""
    from llmenv._suggest import closest
    from llmenv.errors import UsageError

    known = {canonicalize_name(e) for r in releases for e in (getattr(r, "provides_extras", ()) or ())}
    if not known:
        return  # metadata without Provides-Extra: nothing to check against
    for e in extras:
        if canonicalize_name(e) not in known:
            guess = closest(canonicalize_name(e), sorted(known), cutoff=0.6)
            tip = f"; did you mean {name}[{guess}]?" if guess else ""
            raise UsageError(f"{name} has no extra {e!r}{tip} (its extras: {', '.join(sorted(known))})")


def _relax(
    freqs: Mapping[NormalizedName, list[Requirement]],
    chosen: Mapping[str, str],
    user: Mapping[NormalizedName, Requirement],
    engine: EngineOption | None,
) -> list[dict[str, Any]]:
    """The framework requirements that must change for the chosen versions (and the user's pins) to hold."""
    relaxed = []
    for n, reqs in freqs.items():
        spec = _spec(freqs, n)
        lines = [str(r) for r in reqs]
        if n in chosen and not spec.contains(chosen[n], prereleases=True):
            relaxed.append(
                {"package": n, "from": f"{n}{spec}", "to": f"{n}=={chosen[n]}", "requirements": lines}
            )
        elif n in user and not _compatible(spec, user[n].specifier):
            relaxed.append(
                {"package": n, "from": f"{n}{spec}", "to": f"{n}{user[n].specifier}", "requirements": lines}
            )
        elif engine is not None and n in engine.requirements and n not in chosen:
            espec = _spec(engine.requirements, n)
            if not _compatible(spec, espec):
                relaxed.append(
                    {"package": n, "from": f"{n}{spec}", "to": f"{n}{espec}", "requirements": lines}
                )
    return relaxed


def _engine_reason(e: EngineOption, target: Target, via: str | None = None) -> str:
    head = f"{e.name} {e.release.version}" + (f" ({via})" if via else "")
    return (
        f"{head} is the newest that runs here: it pins torch=={e.torch_version}, built with CUDA {e.build_cuda} "
        f"(driver {target.driver} supports CUDA <= {target.cuda}); torch variant {e.variant}"
    )


def _no_stack(name: str, spec: SpecifierSet, rejected: Sequence[tuple[str, str, str]]) -> NoAnswer:
    asked = f"{name}{spec}" if str(spec) else name
    mine = [r for r in rejected if r[0] == name]
    first = mine[0] if mine else (rejected[0] if rejected else None)
    detail = f": {first[0]} {first[1]} {first[2]}" if first else ""
    hint = None
    if any("you asked for" in r[2] for r in mine):
        hint = f"relax the pin with --allow-overrides, or write an override: llmenv override {name}==VERSION --set REQ"
    elif mine:
        hint = "--allow-overrides keeps the newest release and relaxes its pins; --cuda-policy minor may allow more"
    return NoAnswer(f"no release of {asked} fits this target{detail}", hint=hint)
