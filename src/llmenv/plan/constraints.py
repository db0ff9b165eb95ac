"""The hard constraints: one small function per rule, each returning None (it holds) or a cited Rejection.

A constraint never prints and never chooses; the search (``search.py``) calls them on each part of a candidate
as it is built, and keeps the first Rejection as the reason that part is not chosen. The facts they cite:
NVIDIA's driver table and compatibility rules (``knowledge/data/cuda.json``), the torch builds' architectures
(``torch.json``), the releases' metadata and wheel tags (the pins snapshot), flash-attn's release matrix
(``flash_attn.json``), and the user's own requirements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.cuda_arch import ArchCode, covers
from llmenv.knowledge import Knowledge, TorchRelease
from llmenv.plan.extensions import ExtensionOption, TorchBuild
from llmenv.plan.model import Rejection
from llmenv.target import Target

if TYPE_CHECKING:
    from llmenv.plan.held import Bound

__all__ = [
    "GPU_MIN_CUDA",
    "compatible",
    "engine_build_cuda",
    "engine_cuda_major",
    "engine_line",
    "engine_variant_runs",
    "exact_pin",
    "extension_target",
    "gpu_driver",
    "option_archs",
    "option_available",
    "option_checks",
    "option_codes",
    "option_compat_note",
    "option_driver",
    "option_known_bad",
    "option_pin",
    "option_platform",
    "option_python",
    "option_requirements",
    "option_torch",
    "pin_clash",
    "python_range",
    "sass_compatible",
    "torch_admits",
    "torch_archs",
    "torch_companion",
    "torch_driver",
    "torch_platform",
    "torch_python",
    "wheel_python",
]

# The first CUDA toolkit (and so the first driver branch: NVIDIA release notes, Table 3) that supports a GPU
# architecture: a driver older than that cannot run any code on the GPU, whatever the build and the policy.
# CUDA 12.8 release notes ("added support for Blackwell: sm_100, sm_101, sm_120"); CUDA 12.9 (sm_103, sm_121);
# CUDA 13.0 (sm_101 renamed sm_110, Thor). Older architectures predate every CUDA llmenv plans for (11.8+).
GPU_MIN_CUDA: Mapping[tuple[int, int], CudaVersion] = {
    (10, 0): CudaVersion(12, 8),
    (10, 1): CudaVersion(12, 8),
    (12, 0): CudaVersion(12, 8),
    (10, 3): CudaVersion(12, 9),
    (12, 1): CudaVersion(12, 9),
    (11, 0): CudaVersion(13, 0),
}


def exact_pin(spec: SpecifierSet) -> Version | None:
    """The version ``==X`` pins (None for a range or a wildcard)."""
    for s in spec:
        if s.operator in ("==", "===") and "*" not in s.version:
            return Version(s.version)
    return None


def compatible(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Can both hold? Decided where one side pins an exact version; two ranges are left to the resolver."""
    for x, y in ((a, b), (b, a)):
        v = exact_pin(x)
        if v is not None and not y.contains(v, prereleases=True):
            return False
    return True


def _sms(ccs: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"sm_{a}{b}" for a, b in sorted(set(ccs)))


def _drv(target: Target) -> str:
    return f"driver {target.driver}" if target.driver else "the target driver"


# ------------------------------------------------------------------------------------------------ target


def gpu_driver(kb: Knowledge, target: Target) -> Rejection | None:
    """Every GPU needs a driver that knows its architecture (Blackwell: R570+), under any CUDA policy."""
    if target.cuda is None:
        return None
    for gpu in target.gpus:
        need = GPU_MIN_CUDA.get(gpu.capability)
        if need is not None and target.cuda < need:
            floor = kb.cuda.min_driver(need) or "a newer driver"
            return Rejection(
                package="driver",
                version=target.driver or str(target.cuda),
                reason=f"{gpu.sm} ({gpu.name}) needs a driver of CUDA {need} or newer (>= {floor}, NVIDIA release "
                f"notes Table 3); {_drv(target)} supports CUDA <= {target.cuda} — no --cuda-policy changes that",
            )
    return None


# Extensions that run on some GPU generations only: package -> (the compute capability majors, in words, hint).
# flash-attn-3: "Requirements: H100 / H800 GPU" (README; hopper/setup.py builds sm_90a); flash-attn-4: "Hopper
# and Blackwell (H100, B200)" (README, facts C3).
GPU_ONLY: Mapping[str, tuple[tuple[int, ...], str, str]] = {
    "flash-attn-3": ((9,), "Hopper (sm_90a: H100, H200, GH200)", "use flash-attn (FlashAttention-2)"),
    "flash-attn-4": ((9, 10, 11, 12), "Hopper or Blackwell", "use flash-attn (FlashAttention-2)"),
}


def extension_target(package: str, target: Target, torch: TorchBuild | None) -> tuple[str, str] | None:
    """(why, hint) when ``package`` cannot run on the target at all (flash-attn: CPU, pre-Ampere GPUs;
    flash-attn-3: not Hopper; flash-attn-4: older than Hopper)."""
    if package in GPU_ONLY:
        majors, words, hint = GPU_ONLY[package]
        if target.is_cpu or (torch is not None and torch.cuda is None):
            return f"{package} needs an NVIDIA GPU and a CUDA build of torch; this target has none", hint
        other = [g.capability for g in target.gpus if g.capability[0] not in majors]
        if other:
            return f"{package} runs on {words} GPUs only; the target has {_sms(other)}", hint
        return None
    if package != "flash-attn":
        return None
    from llmenv.knowledge.flash_attn import load_flash_attn

    sdpa = "use PyTorch SDPA (torch.nn.functional.scaled_dot_product_attention) instead"
    if target.is_rocm:
        from llmenv.rocm import flash_attn_backend

        got = flash_attn_backend(target)
        return (got, sdpa) if isinstance(got, str) else None
    if target.is_cpu or (torch is not None and torch.cuda is None):
        return "flash-attn needs an NVIDIA GPU and a CUDA build of torch; this target has none", sdpa
    floor = load_flash_attn().min_capability
    old = [g.capability for g in target.gpus if g.capability < floor]
    if old:
        return (
            f"flash-attn (FlashAttention-2) needs an Ampere or newer GPU (sm_80+); the target has {_sms(old)}",
            f"{sdpa}, or flash-attn 1.x on Turing",
        )
    return None


# ------------------------------------------------------------------------------------------- releases


def python_range(name: str, version: str, requires: SpecifierSet | None, python: str) -> Rejection | None:
    """The release's Requires-Python must allow the Python (its metadata)."""
    if requires is None or requires.contains(f"{python}.0", prereleases=True):
        return None
    return Rejection(
        package=name, version=version, reason=f"requires Python {requires}; the target has {python}"
    )


def wheel_python(
    name: str, version: str, have: Sequence[str], python: str, target: Target
) -> Rejection | None:
    """A release whose wheels (and no sdist) cover other Pythons only cannot be installed on this one."""
    if python in have:
        return None
    where = f"{target.os} {target.arch}"
    if not have:
        return Rejection(package=name, version=version, reason=f"has no wheel for {where} and no sdist")
    return Rejection(
        package=name,
        version=version,
        reason=f"ships wheels for Python {_span(have)} only on {where} (no sdist); the target has {python}",
    )


def _span(pythons: Sequence[str]) -> str:
    if not pythons:
        return "none"
    ordered = sorted(pythons, key=lambda p: Version(p))
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def pin_clash(
    name: str,
    version: str,
    theirs: Mapping[NormalizedName, SpecifierSet],
    yours: Mapping[NormalizedName, Requirement],
) -> Rejection | None:
    """A release that requires a version of a package you pinned otherwise (your requirement wins)."""
    for n, spec in theirs.items():
        mine = yours.get(n)
        if mine is not None and not compatible(spec, mine.specifier):
            return Rejection(
                package=name,
                version=version,
                reason=f"requires {n}{spec} (you asked for {n}{mine.specifier})",
                kind="pin",
            )
    return None


# ---------------------------------------------------------------------------------------------- engines


def engine_build_cuda(
    kb: Knowledge,
    target: Target,
    name: str,
    version: str,
    torch: TorchRelease,
    policy: str,
    listings: Any = None,
) -> Rejection | None:
    """An engine's compiled kernels are built with the CUDA of the PyPI torch it pins: the driver must run it.
    On an AMD target only vLLM's ROCm release wheels can serve (``llmenv.rocm``); its Python is narrowed apart."""
    if target.is_rocm:
        return _engine_rocm(target, name, version)
    if target.cuda is None:
        return Rejection(
            package=name, version=version, reason="needs an NVIDIA GPU (its PyPI wheels are CUDA builds)"
        )
    cuda = torch.pypi_cuda
    if kb.cuda.runs(cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
        return None
    if engine_variant_runs(kb, target, name, Version(version), listings) is not None:
        return None  # a build of another CUDA line on its variant index runs here (the torch level routes it)
    return Rejection(
        package=name,
        version=version,
        reason=f"pins torch=={torch.version}, and its compiled code is built with CUDA {cuda} (the CUDA of PyPI's "
        f"torch {torch.version}): needs driver >= {kb.cuda.min_driver(cuda) or 'a newer one'}; {_drv(target)} "
        f"supports CUDA <= {target.cuda}",
    )


def _engine_rocm(target: Target, name: str, version: str) -> Rejection | None:
    from packaging.version import Version

    from llmenv.rocm import vllm_problem

    if name != "vllm":
        why = f"{name}'s PyPI wheels are CUDA builds and llmenv knows no ROCm wheel of it (build it from source, or use AMD's {name} images)"
        return Rejection(package=name, version=version, reason=why)
    problem = vllm_problem(Version(version), target.with_(python="3.12"))  # its Python: a constraint apart
    return Rejection(package=name, version=version, reason=problem) if problem else None


def engine_rocm_variant(engine: str | None, version: Version | None, variant: Backend) -> str | None:
    """vLLM's ROCm wheel is built for one ROCm: torch must be that ROCm's build (rocm700 -> rocm7.0)."""
    if engine != "vllm" or version is None or not variant.is_rocm:
        return None
    from llmenv.rocm import vllm_wheel

    wheel = vllm_wheel(version)
    if wheel is None or Backend.rocm(wheel.rocm) == variant:
        return None
    return f"vLLM {version}'s {wheel.variant} wheel is built for ROCm {wheel.rocm}: torch's rocm{wheel.rocm} build goes with it"


def engine_cuda_major(build_cuda: CudaVersion | None, variant: Backend) -> str | None:
    """An engine's kernels link libcudart.so.N: torch's variant must be of the same CUDA major."""
    if build_cuda is None or not variant.is_cuda or variant.major == build_cuda.major:
        return None
    return f"the engine's kernels are built with CUDA {build_cuda.major}.x; a {variant} torch would not load them"


def engine_line(
    name: str,
    version: Version,
    build_cuda: CudaVersion | None,
    variant: Backend,
    platform: str,
    listings: Any = None,
) -> str | None:
    """The engine's kernels must link torch's CUDA major. vLLM: PyPI's wheel of another major is replaced by
    the release's build of torch's major on its variant index (wheels.vllm.ai/{version}/{variant}) when one is
    known; else the reason (vllm#44335)."""
    cuda = variant.cuda_version
    if name == "vllm" and cuda is not None:
        from llmenv.sources.vllm import pypi_cuda, route

        if pypi_cuda(version) is None:
            return engine_cuda_major(build_cuda, variant)
        got = route(version, cuda, platform, listings)
        if got is None or not isinstance(got, str):
            return None
        return got
    return engine_cuda_major(build_cuda, variant)


def engine_variant_runs(
    kb: Knowledge, target: Target, name: str, version: Version, listings: Any = None
) -> CudaVersion | None:
    """vLLM: the CUDA of a build of the release on its variant index that the driver runs (its major the
    driver's, as PyPI's wheel of a newer minor is taken), or None."""
    if name != "vllm" or target.cuda is None:
        return None
    from llmenv.sources.vllm import variants

    for v in variants(version, listings):
        if target.platform in v.platforms and (
            v.cuda.major == target.cuda.major
            or kb.cuda.runs(v.cuda, driver_cuda=target.cuda, driver=target.driver, policy="strict")
        ):
            return v.cuda
    return None


# ------------------------------------------------------------------------------------------------ torch


def torch_driver(kb: Knowledge, target: Target, variant: Backend, policy: str) -> str | None:
    """A CUDA build runs when the driver supports its CUDA (strict), or its major (minor-version compatibility)."""
    cuda = variant.cuda_version
    if cuda is None or target.cuda is None:
        return None
    if kb.cuda.runs(cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
        return None
    text = f"{variant} needs driver >= {kb.cuda.min_driver(cuda) or 'a newer one'}; {_drv(target)} supports CUDA <= {target.cuda}"
    if policy == "strict" and kb.cuda.runs(
        cuda, driver_cuda=target.cuda, driver=target.driver, policy="minor"
    ):
        text += " (--cuda-policy minor would allow it)"
    return text


def torch_archs(target: Target, release: TorchRelease, variant: Backend) -> str | None:
    """The build must carry code for every target GPU: SASS of the same major, or PTX, of an NVIDIA GPU (on the
    target's platform: aarch64 builds have their own lists); every gfx target of an AMD GPU, with a ROCm the
    host's driver stack runs (``llmenv.rocm``). An arch list nobody read is not a reason."""
    if variant.is_rocm:
        from llmenv.rocm import torch_problem

        return torch_problem(variant.tag, target)
    from llmenv.plan.platform import variant_of

    var = variant_of(release, target, variant)
    if var is None or not var.archs_known:
        return None
    missing = {g.capability for g in target.gpus if not var.covers(g.capability)}
    if not missing:
        return None
    return f"the {variant} build has no code for {_sms(missing)} (it has {var.arch_names})"


def torch_python(release: TorchRelease, python: str, pythons: tuple[str, ...] | None = None) -> str | None:
    """``pythons``: the release's Pythons on the target's platform (default: Linux x86_64's)."""
    have = pythons or release.python
    if python in have:
        return None
    return f"no wheels for Python {python} (has {have[0]}–{have[-1]})"


def torch_platform(release: TorchRelease, target: Target) -> str | None:
    if release.has_platform(target.os, target.arch):
        return None
    return f"no wheels for {target.os} {target.arch}"


def torch_companion(release: TorchRelease, name: str, spec: SpecifierSet) -> str | None:
    """torchvision / torchaudio (asked for, or pinned) come as the release built for this torch, or — pinned
    by someone — a release whose metadata admits this torch (``TorchRelease.companion``): one must exist."""
    if release.companion(name, spec) is not None:
        return None
    cv = getattr(release, name)
    if cv is None:
        return f"{name} has no release for torch {release.version}"
    return f"goes with {name} {cv}, not {name}{spec}"


# ------------------------------------------------------------------------------------------- extensions


def option_available(opt: ExtensionOption) -> str | None:
    return opt.unavailable


def option_torch(opt: ExtensionOption, torch: TorchBuild) -> str | None:
    """The wheels were built against this torch (version, CUDA major, C++ ABI): anything else fails at import."""
    if not opt.prebuilt:
        return None
    if str(opt.torch) and not torch_admits(opt.torch, torch.version):
        return f"its wheels are built for torch{opt.torch}, not {torch.version}"
    if opt.cuda_major is not None and torch.cuda is None:
        return f"its wheels are CUDA {opt.cuda_major} builds; torch {torch.version}+{torch.variant} has no CUDA"
    if opt.cuda_major is not None and torch.cuda is not None and opt.cuda_major != torch.cuda.major:
        return f"its wheels link CUDA {opt.cuda_major}, torch {torch.variant} is CUDA {torch.cuda.major}"
    if opt.cxx11_abi is not None and opt.cxx11_abi != torch.cxx11_abi:
        return f"its wheels use cxx11abi{'TRUE' if opt.cxx11_abi else 'FALSE'}, torch uses the other C++ ABI"
    return None


def torch_admits(spec: SpecifierSet, version: Version) -> bool:
    """The spec holds for that torch — NVIDIA's ``2.6.0a0+…`` (a base image's) counting as the 2.6.0 it is."""
    if spec.contains(version, prereleases=True):
        return True
    from llmenv.base.model import admits

    return admits(spec, str(version))[0]


def option_platform(opt: ExtensionOption, target: Target) -> str | None:
    if opt.platform in ("any", target.platform):
        return None
    return f"its wheels are {opt.platform} only; the target is {target.platform}"


def option_python(opt: ExtensionOption, python: str) -> str | None:
    if not opt.prebuilt or python in opt.pythons:
        return None
    if not opt.pythons and opt.fits is not None:
        return None  # no wheel of it fits this torch: the provider's own test says why
    return f"no prebuilt wheel for Python {python} (has {_span(opt.pythons)})"


def option_codes(opt: ExtensionOption) -> tuple[ArchCode, ...] | None:
    """The compiled targets of an option's ``archs`` (``80`` SASS, ``90a`` arch-specific, ``compute_80`` PTX;
    ``ptx``: PTX of the newest too); None when unknown."""
    if opt.archs is None:
        return None
    codes = []
    for a in opt.archs:
        code = ArchCode.parse(a if a.startswith(("sm_", "compute_")) else f"sm_{a}")
        if code is not None:
            codes.append(code)
    if opt.ptx and codes:
        top = max(c for c in codes if not c.ptx)
        codes.append(ArchCode(capability=top.capability, ptx=True))
    return tuple(codes)


def _sass_for(codes: Sequence[ArchCode], cc: tuple[int, int]) -> bool:
    return any(not c.ptx and c.runs_on(cc) for c in codes)


def _ptx_only(opt: ExtensionOption, target: Target) -> list[tuple[int, int]]:
    """The target GPUs the option reaches through PTX only (JIT-compiled by the driver)."""
    codes = option_codes(opt)
    if not codes:
        return []
    return [g.capability for g in target.gpus if not _sass_for(codes, g.capability) and covers(codes, g.capability)]


def option_driver(kb: Knowledge, target: Target, opt: ExtensionOption, policy: str) -> str | None:
    """Prebuilt wheels are compiled with some CUDA; the driver must run it. SASS for every target GPU runs on an
    older driver of the same CUDA major (minor-version compatibility, whatever the policy) when the wheels link
    that major; PTX is JIT-compiled by the driver, which then needs the build CUDA or newer; wheels whose
    architectures are unknown follow the policy."""
    if opt.cuda is None or target.cuda is None:
        return None
    runs = kb.cuda.runs(opt.cuda, driver_cuda=target.cuda, driver=target.driver, policy="strict")
    if runs:
        return None
    drv = f"{_drv(target)} supports CUDA <= {target.cuda}"
    jit = _ptx_only(opt, target)
    if jit:
        return (
            f"its wheels reach {_sms(jit)} through PTX only, built with CUDA {opt.cuda}: the driver JIT-compiles "
            f"it and must be of CUDA {opt.cuda} or newer; {drv}"
        )
    if sass_compatible(opt, target):
        return None
    if policy == "minor" and kb.cuda.runs(opt.cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
        return None
    known = "" if option_codes(opt) is not None else " (its GPU architectures are unknown, so no SASS is assumed)"
    return f"its wheels are built with nvcc {opt.cuda}; {drv} (--cuda-policy {policy}){known}"


def sass_compatible(opt: ExtensionOption, target: Target) -> bool:
    """Does the option run on the target's driver by CUDA minor-version compatibility: built with a newer minor
    of the driver's CUDA major, linking that major, with SASS for every target GPU?"""
    codes = option_codes(opt)
    if opt.cuda is None or target.cuda is None or not codes or not target.gpus:
        return False
    if opt.cuda.major != target.cuda.major or (opt.cuda_major is not None and opt.cuda_major != opt.cuda.major):
        return False
    return all(_sass_for(codes, g.capability) for g in target.gpus)


def option_compat_note(opt: ExtensionOption, target: Target) -> str | None:
    """The "why" clause of an option that runs by minor-version compatibility."""
    if opt.cuda is None or target.cuda is None or opt.cuda <= target.cuda or not sass_compatible(opt, target):
        return None
    return (
        f"built with CUDA {opt.cuda}, newer than the driver's {target.cuda}: its SASS runs under CUDA "
        "minor-version compatibility"
    )


def option_archs(opt: ExtensionOption, target: Target) -> str | None:
    """The option must carry (a build: be able to compile) code for every target GPU. Unknown architectures:
    no claim, except that a wheel built with a CUDA older than a GPU's architecture carries no code for it."""
    codes = option_codes(opt)
    if codes is None:
        if not opt.prebuilt or opt.cuda is None:
            return None
        young = [g.capability for g in target.gpus if (need := GPU_MIN_CUDA.get(g.capability)) and opt.cuda < need]
        if young:
            return (
                f"its wheels are built with CUDA {opt.cuda}, which cannot compile {_sms(young)} code (CUDA "
                f"{GPU_MIN_CUDA[young[0]]} added it), and its listing says nothing of PTX"
            )
        return None
    missing = sorted({g.capability for g in target.gpus if not covers(codes, g.capability)})
    if not missing:
        return None
    names = _sms(missing)
    if opt.prebuilt:
        have = ", ".join(c.name for c in codes)
        return f"its wheels carry {have} code only; the target needs {names}"
    return f"its setup.py cannot compile {names}"


def option_known_bad(opt: ExtensionOption, torch: TorchBuild, kb: Knowledge | None = None) -> str | None:
    """Combinations known to break for reasons the matrix does not show (data with sources). ``kb``: the
    knowledge in use (default: ``load()``; the search passes its own, so the table is not looked up per option)."""
    if opt.package != "flash-attn" or opt.source == "base":
        return None  # the base's own build is none of the release wheels the data speaks of
    if kb is None:
        from llmenv.knowledge import load

        kb = load()
    for bad in kb.flash_attn.known_bad:
        if bad.applies(
            version=opt.version, torch=torch.version, cxx11_abi=torch.cxx11_abi, prebuilt=opt.prebuilt
        ):
            return f"{bad.reason} ({bad.source})"
    return None


def option_pin(opt: ExtensionOption, spec: SpecifierSet, who: str) -> str | None:
    """``who`` (you, or a framework) asked for ``spec`` of the package (an option uv resolves itself takes the
    requirement as it is)."""
    if not opt.pinned or spec.contains(opt.version, prereleases=True):
        return None
    return f"excluded by {who} {opt.package}{spec}"


def option_requirements(
    opt: ExtensionOption, env: Mapping[str, str], pins: Sequence[tuple[Requirement, str]]
) -> str | None:
    """The option's own requirements (flash-attn-4's nvidia-cutlass-dsl) must fit what the engine, the framework
    or you pin of those packages."""
    for line in opt.requires_dist:
        mine = Requirement(line)
        extras = opt.extras or ("",)
        if mine.marker is not None and not any(mine.marker.evaluate({**env, "extra": e}) for e in extras):
            continue
        name = canonicalize_name(mine.name)
        for theirs, who in pins:
            if canonicalize_name(theirs.name) == name and not compatible(mine.specifier, theirs.specifier):
                return f"requires {mine.name}{mine.specifier}; {who} pins {theirs}"
    return None


def _whose(who: str) -> str:
    return "your" if who == "you" else f"{who}'s"


def option_checks(
    opt: ExtensionOption,
    torch: TorchBuild,
    python: str,
    *,
    target: Target,
    kb: Knowledge,
    policy: str,
    pins: Sequence[tuple[Requirement, str]],
    forced_build: bool,
    held: Sequence[Bound] = (),
) -> str | None:
    """Every rule an extension option must pass, in order; the first that fails is its reason. ``pins``: what
    is asked of the option's package and of the packages it requires, with who asks ("you", "verl",
    "sglang 0.5.13"); the latter are held against its own requirements last (``option_requirements``).
    ``held``: the project's own bounds on the package (``llmenv.plan.held``)."""
    return next(
        (why for why in _option_rules(opt, torch, python, target, kb, policy, pins, forced_build, held) if why),
        None,
    )


def _option_rules(
    opt: ExtensionOption,
    torch: TorchBuild,
    python: str,
    target: Target,
    kb: Knowledge,
    policy: str,
    pins: Sequence[tuple[Requirement, str]],
    forced_build: bool,
    held: Sequence[Bound],
) -> Iterator[str | None]:
    others: list[tuple[Requirement, str]] = []
    for req, who in pins:  # outside the pins an option is no candidate at all
        if canonicalize_name(req.name) == opt.package:
            yield option_pin(opt, req.specifier, _whose(who))
        else:
            others.append((req, who))
    for b in held:
        yield b.excludes(opt.version)
    yield f"--build {opt.package} asks for a source build" if forced_build and opt.prebuilt else None
    yield option_available(opt)
    yield option_platform(opt, target)
    yield option_torch(opt, torch)
    yield option_python(opt, python)
    yield option_driver(kb, target, opt, policy)
    yield option_archs(opt, target)
    yield option_known_bad(opt, torch, kb)
    yield opt.fits(torch, target, python) if opt.fits is not None else None
    if others and opt.prebuilt and opt.requires_dist:
        yield option_requirements(opt, target.with_(python=python).marker_environment(), others)
