"""The hard constraints: one small function per rule, each returning None (it holds) or a cited Rejection.

A constraint never prints and never chooses; the search (``search.py``) calls them on each part of a candidate
as it is built, and keeps the first Rejection as the reason that part is not chosen. The facts they cite:
NVIDIA's driver table and compatibility rules (``knowledge/data/cuda.json``), the torch builds' architectures
(``torch.json``), the releases' metadata and wheel tags (the pins snapshot), flash-attn's release matrix
(``flash_attn.json``), and the user's own requirements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
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
    "exact_pin",
    "extension_target",
    "gpu_driver",
    "option_archs",
    "option_available",
    "option_checks",
    "option_driver",
    "option_known_bad",
    "option_pin",
    "option_platform",
    "option_python",
    "option_torch",
    "pin_clash",
    "python_range",
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


def extension_target(package: str, target: Target, torch: TorchBuild | None) -> tuple[str, str] | None:
    """(why, hint) when ``package`` cannot run on the target at all (flash-attn: CPU, pre-Ampere GPUs)."""
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
    kb: Knowledge, target: Target, name: str, version: str, torch: TorchRelease, policy: str
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
    if str(opt.torch) and not opt.torch.contains(torch.version, prereleases=True):
        return f"its wheels are built for torch{opt.torch}, not {torch.version}"
    if opt.cuda_major is not None and torch.cuda is not None and opt.cuda_major != torch.cuda.major:
        return f"its wheels link CUDA {opt.cuda_major}, torch {torch.variant} is CUDA {torch.cuda.major}"
    if opt.cxx11_abi is not None and opt.cxx11_abi != torch.cxx11_abi:
        return f"its wheels use cxx11abi{'TRUE' if opt.cxx11_abi else 'FALSE'}, torch uses the other C++ ABI"
    return None


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


def option_driver(kb: Knowledge, target: Target, opt: ExtensionOption, policy: str) -> str | None:
    """Prebuilt wheels are compiled with some nvcc: the driver must run that CUDA (the same policy as torch)."""
    if opt.cuda is None or target.cuda is None:
        return None
    if kb.cuda.runs(opt.cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy):
        return None
    return (
        f"its wheels are built with nvcc {opt.cuda}; {_drv(target)} supports CUDA <= {target.cuda} "
        f"(--cuda-policy {policy})"
    )


def option_archs(opt: ExtensionOption, target: Target) -> str | None:
    """The option must carry (a build: be able to compile) code for every target GPU."""
    from llmenv.knowledge.flash_attn import arch_for

    if opt.archs is None:
        return None  # the source does not say: no claim either way
    need = {arch_for(g.capability) for g in target.gpus}
    missing = need - set(opt.archs)
    if not missing:
        return None
    names = ", ".join(f"sm_{a}" for a in sorted(missing, key=int))
    if opt.prebuilt:
        have = ", ".join(f"sm_{a}" for a in sorted(opt.archs, key=int))
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
    """``who`` (you, or a framework) asked for ``spec`` of the package."""
    if spec.contains(opt.version, prereleases=True):
        return None
    return f"excluded by {who} {opt.package}{spec}"


def option_checks(
    opt: ExtensionOption,
    torch: TorchBuild,
    python: str,
    *,
    target: Target,
    kb: Knowledge,
    policy: str,
    pins: Sequence[tuple[SpecifierSet, str]],
    forced_build: bool,
    held: Sequence[Bound] = (),
) -> str | None:
    """Every rule an extension option must pass, in order; the first that fails is its reason. ``held``: the
    project's own bounds on the package (``llmenv.plan.held``)."""
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
    pins: Sequence[tuple[SpecifierSet, str]],
    forced_build: bool,
    held: Sequence[Bound],
) -> Iterator[str | None]:
    for spec, who in pins:  # outside the pins an option is no candidate at all
        yield option_pin(opt, spec, who)
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
