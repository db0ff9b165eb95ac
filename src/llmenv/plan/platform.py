"""A torch release seen from the target's platform: which builds exist there, their architectures, ABI and
Pythons. The torch table keeps every platform (``TorchRelease.on(os, arch)``); the flat fields of a release are
Linux x86_64's, and applying them to a GH200 planned ``torch==2.8.0`` as cu128 (PyTorch built only cu129 for
linux-aarch64 in 2.8) and called PyPI's CPU-only aarch64 wheels CUDA builds (facts G).

- ``torch_variants``: the builds to try: the CPU build for a CPU target; the ROCm variants for an AMD target
  (Linux x86_64 only); PyPI's build with ``--torch-index pypi`` (none for a GPU target where PyPI's wheel is
  CPU-only: aarch64 up to 2.10); else the PyTorch index's advertised CUDA variants *of this platform*.
- ``variant_of`` / ``abi_of`` / ``pythons_of``: that build's facts on this platform.
"""

from __future__ import annotations

from llmenv.backend import Backend
from llmenv.indexes import TorchSource
from llmenv.knowledge import TorchPlatform, TorchRelease, TorchVariant
from llmenv.target import Target

__all__ = ["abi_of", "pypi_gpu_problem", "pythons_of", "torch_variants", "variant_of", "view"]


def view(release: TorchRelease, target: Target) -> TorchPlatform | None:
    return release.on(target.os, target.arch)


def torch_variants(release: TorchRelease, target: Target, source: TorchSource) -> list[Backend]:
    """The builds of ``release`` to try for ``target`` (the search orders them)."""
    b = view(release, target)
    if target.is_cpu:
        return [Backend("cpu")]
    if b is None:
        return []
    if target.is_rocm:
        return [Backend.parse(tag) for tag in b.rocm] if not source.is_pypi else []
    if source.is_pypi:
        return [b.pypi.backend] if b.pypi is not None else []
    return [Backend.parse(tag) for tag, v in b.variants.items() if v.advertised]


def variant_of(release: TorchRelease, target: Target, variant: Backend) -> TorchVariant | None:
    """The CUDA build ``variant`` of ``release`` on the target's platform (the index's, or PyPI's)."""
    if not variant.is_cuda:
        return None
    b = view(release, target)
    if b is None:  # a release without per-platform builds (a base's own torch): its flat view
        return release.variants.get(variant.tag)
    v = b.variants.get(variant.tag)
    if v is None and b.pypi is not None and b.pypi.backend == variant:
        return b.pypi
    return v


def abi_of(release: TorchRelease, target: Target, variant: Backend) -> bool:
    """The C++ ABI of that build on the target's platform (aarch64 wheels are cxx11 from 2.6, x86_64 from 2.7)."""
    if variant.is_rocm:
        b = view(release, target)
        rv = b.rocm.get(variant.tag) if b is not None else None
        if rv is not None and rv.cxx11_abi is not None:
            return rv.cxx11_abi
    b = view(release, target)
    if b is None:
        return release.abi_of(variant)
    abi = b.abi_of(variant.tag)
    return release.abi_of(variant) if abi is None else abi


def pythons_of(release: TorchRelease, target: Target) -> tuple[str, ...]:
    """The Python minors torch has wheels for on the target's platform."""
    b = view(release, target)
    return b.python if b is not None and b.python else release.python


def pypi_gpu_problem(release: TorchRelease, target: Target) -> str | None:
    """With torch from the default index, a GPU target needs PyPI's wheel to be a GPU build there."""
    b = view(release, target)
    if target.is_cpu or b is None or b.pypi is not None:
        return None
    if target.platform == "linux-aarch64":
        return (
            f"PyPI's linux-aarch64 torch {release.version} is CPU-only (PyPI's aarch64 wheels carry CUDA from "
            "2.11; facts G1): take it from the PyTorch index (drop --torch-index pypi)"
        )
    return f"PyPI's {target.platform} torch {release.version} is CPU-only"
