"""AMD targets: the rules that decide a ROCm torch build, vLLM's ROCm wheels and flash-attn on ROCm.

Each rule is a small function returning ``None`` (fine) or the reason, citing the fact (``llmenv.knowledge.rocm``):

- ``torch_problem``: a PyTorch-index ROCm build runs on the target when the platform is Linux x86_64 (ROCm wheels
  exist for nothing else), its ROCm is within AMD's +/- 2 releases of the host's ROCm (the wheel carries its own
  user space; the host's driver stack must support it), and it carries code for every GPU's gfx target.
- ``vllm_problem``: vLLM's ROCm release wheels (``rocm700``) are Python 3.12 only, need glibc >= 2.35 and a
  listed GPU; elsewhere pip / uv would fall back to the CUDA wheel from PyPI (facts H5).
- ``flash_attn_backend``: flash-attn has no ROCm wheels anywhere: a source build with the CK backend
  (``GPU_ARCHS``) where CK supports every GPU, else the Triton backend (``FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE``,
  which must also be set where it runs), else a refusal (facts H6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.version import Version

from llmenv.backend import Backend
from llmenv.knowledge.rocm import RocmTable, VllmRocmWheel, load_rocm
from llmenv.target import Target

__all__ = [
    "FlashAttnRocmBuild",
    "flash_attn_backend",
    "rank_key",
    "torch_problem",
    "vllm_problem",
    "vllm_wheel",
]


def _names(gfx: tuple[str, ...], target: Target) -> str:
    named = {g.gfx: g.name for g in target.amd_gpus}
    return ", ".join(f"{g} ({named[g]})" if named.get(g, "").startswith("AMD Instinct") else g for g in gfx)


def torch_problem(tag: str, target: Target, table: RocmTable | None = None) -> str | None:
    """Why the PyTorch index's ROCm build ``tag`` (``rocm6.4``) cannot run on ``target``; None when it can."""
    table = table or load_rocm()
    if target.platform != "linux-x86_64":
        return f"PyTorch builds ROCm wheels for Linux x86_64 only, not {target.platform} (facts H1)"
    build = Backend.parse(tag).rocm_version
    assert build is not None, tag
    if target.rocm is not None:
        ok = table.compatible(build, target.rocm)
        if ok is False:
            return (
                f"a ROCm {build} build on a ROCm {target.rocm} host: AMD supports user space within "
                f"+/- {table.window} releases of the kernel driver's (ROCm user and kernel-space support matrix)"
            )
        if ok is None:
            newest = table.newest_known
            return (
                f"whether a ROCm {build} build runs on a ROCm {target.rocm} host is unknown (AMD's support matrix "
                f"is known up to ROCm {newest})"
            )
    gfx = table.gfx(tag)
    if target.gfx:
        if gfx is None:
            return f"the gfx targets of the {tag} build are unknown, so {_names(target.gfx, target)} may not be covered"
        missing = tuple(g for g in target.gfx if g not in gfx)
        if missing:
            return f"the {tag} build has no code for {_names(missing, target)} (it has {' '.join(gfx)})"
    return None


def rank_key(tag: str) -> tuple[int, int, int]:
    """Newest ROCm first (``rocm7.14`` > ``rocm7.2`` > ``rocm6.2.4``)."""
    v = Backend.parse(tag).rocm_version
    assert v is not None
    return v.major, v.minor, v.patch


def vllm_wheel(version: Version, table: RocmTable | None = None) -> VllmRocmWheel | None:
    """The ROCm release wheel vLLM ``version`` has, if any."""
    table = table or load_rocm()
    return next((w for w in table.vllm if w.versions.contains(version, prereleases=True)), None)


def vllm_problem(version: Version, target: Target, table: RocmTable | None = None) -> str | None:
    """Why vLLM ``version`` has no ROCm wheel for ``target``; None when its ROCm wheel fits."""
    table = table or load_rocm()
    wheel = vllm_wheel(version, table)
    if wheel is None:
        ranges = ", ".join(f"{w.variant}: vllm{w.versions}" for w in table.vllm)
        return (
            f"no ROCm release wheel (there are {ranges}; newer ROCm builds are nightlies only); build vLLM from "
            "source for ROCm (facts H5)"
        )
    if target.platform != "linux-x86_64":
        return f"vLLM's ROCm wheels are Linux x86_64 only, not {target.platform}"
    if target.python not in wheel.python:
        return (
            f"vLLM's {wheel.variant} wheel is for Python {', '.join(wheel.python)} only (the target's is "
            f"{target.python}); with another Python the installer falls back to the CUDA wheel from PyPI (facts H5)"
        )
    if target.glibc is not None and Version(target.glibc) < wheel.glibc:
        return f"vLLM's {wheel.variant} wheel needs glibc >= {wheel.glibc} (the target has {target.glibc})"
    missing = tuple(g for g in target.gfx if g not in wheel.gfx)
    if missing:
        return f"vLLM's ROCm wheels do not support {_names(missing, target)} (they support {' '.join(wheel.gfx)})"
    if target.rocm is not None and table.compatible(wheel.rocm, target.rocm) is False:
        return (
            f"vLLM's {wheel.variant} wheel is built for ROCm {wheel.rocm}; the host's ROCm {target.rocm} is more "
            f"than {table.window} releases away (AMD's support matrix)"
        )
    return None


@dataclass(frozen=True, kw_only=True)
class FlashAttnRocmBuild:
    """How flash-attn is built for ROCm: its backend and the variables of the build (and of the run)."""

    backend: str  # "ck" | "triton"
    build_env: Mapping[str, str] = field(default_factory=dict)
    run_env: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


def flash_attn_backend(target: Target, table: RocmTable | None = None) -> FlashAttnRocmBuild | str:
    """The ROCm build of flash-attn for ``target``, or the reason there is none."""
    table = table or load_rocm()
    fa = table.flash_attn
    if target.rocm is not None and target.rocm < fa.min_rocm:
        return f"flash-attn needs ROCm >= {fa.min_rocm} (the target has {target.rocm}; facts H6)"
    gfx = target.gfx
    if not gfx:
        return "flash-attn's ROCm build compiles for named GPUs: give them (--gpu gfx942)"
    backend = fa.backend_for(gfx)
    if backend == "ck":
        return FlashAttnRocmBuild(
            backend="ck",
            build_env={"BUILD_TARGET": "rocm", "GPU_ARCHS": ";".join(gfx)},
            reason=f"flash-attn has no ROCm wheels: built from source with its CK backend for {';'.join(gfx)} "
            "(GPU_ARCHS; facts H6)",
        )
    if backend == "triton":
        env = dict(fa.triton_env)
        return FlashAttnRocmBuild(
            backend="triton",
            build_env={"BUILD_TARGET": "rocm", **env},
            run_env=env,
            reason=f"flash-attn's CK backend does not support {', '.join(g for g in gfx if g not in fa.ck_gfx)}: "
            "built with its Triton backend, which reads FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE (exactly) at "
            "import too, so set it where it runs (facts H6)",
        )
    unsupported = ", ".join(g for g in gfx if g not in fa.ck_gfx)
    return (
        f"flash-attn supports neither {unsupported} with its CK backend (it has {' '.join(fa.ck_gfx)}) nor with "
        "its Triton backend (CDNA MI200/MI300 and RDNA; facts H6)"
    )
