"""The knowledge explain's fixes use: torch releases (variants, Python, ABI) from ``llmenv.knowledge`` and the
build table ``knowledge/data/builds.json``. Read lazily, once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.knowledge import Knowledge, TorchRelease, load, read_data

__all__ = [
    "BuildInfo",
    "Builds",
    "builds",
    "knowledge",
    "newest_torch_for_cuda",
    "torch_for_gpu",
    "torch_release",
    "torch_variant_url",
]

TORCH_INDEX = "https://download.pytorch.org/whl"
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True, kw_only=True)
class BuildInfo:
    requires_dist: tuple[str, ...] | None
    jobs_variable: str
    archs_variable: str
    prebuilt: bool


@dataclass(frozen=True, kw_only=True)
class Builds:
    build_with_torch: Mapping[str, BuildInfo]
    torch_abi_pinned: frozenset[str]
    modules: Mapping[str, str]
    wheels_since: Mapping[str, Version]

    def distribution_of(self, module: str) -> str:
        """The distribution that provides an import name (``yaml`` -> ``pyyaml``); the name itself otherwise."""
        if module in self.modules:
            return self.modules[module]
        top = module.split(".")[0]
        return self.modules.get(top, canonicalize_name(top.replace("_", "-")))


@cache
def builds() -> Builds:
    d = read_data("builds.json")
    table = {
        name: BuildInfo(
            requires_dist=tuple(v["requires_dist"]) if v.get("requires_dist") else None,
            jobs_variable=v.get("jobs_variable", "MAX_JOBS"),
            archs_variable=v.get("archs_variable", "TORCH_CUDA_ARCH_LIST"),
            prebuilt=bool(v.get("prebuilt", False)),
        )
        for name, v in d["build_with_torch"].items()
    }
    return Builds(
        build_with_torch=table,
        torch_abi_pinned=frozenset(d["torch_abi_pinned"]),
        modules=dict(d["modules"]),
        wheels_since={k: Version(v) for k, v in d["wheels_since"].items()},
    )


def knowledge() -> Knowledge:
    return load()


def torch_release(version: Version | str | None) -> TorchRelease | None:
    if version is None:
        return None
    v = Version(str(version))
    return knowledge().torch_release(Version(v.public))


def torch_variant_url(tag: str) -> str:
    return f"{TORCH_INDEX}/{tag}"


def newest_torch_for_cuda(cuda: CudaVersion, *, same_major: bool = False) -> tuple[TorchRelease, Backend] | None:
    """The newest torch release with a CUDA variant no newer than ``cuda`` (of the same major, if asked), and its
    newest such variant."""
    for rel in knowledge().torch:  # newest first
        fits = []
        for v in rel.variants.values():
            c = v.backend.cuda_version
            if c is not None and c <= cuda and (not same_major or c.major == cuda.major):
                fits.append(v.backend)
        if fits:
            return rel, max(fits)
    return None


def torch_for_gpu(cc: tuple[int, int]) -> tuple[TorchRelease, Backend] | None:
    """The oldest torch release (and its oldest variant) whose kernels run on a GPU of compute capability ``cc``."""
    for rel in reversed(knowledge().torch):  # oldest first
        fits = sorted(v.backend for v in rel.variants.values() if v.backend.is_cuda and v.covers(cc))
        if fits:
            return rel, fits[0]
    return None


def first_torch_with_python(python: str) -> TorchRelease | None:
    for rel in reversed(knowledge().torch):
        if python in rel.python:
            return rel
    return None


def last_torch_with_python(python: str) -> TorchRelease | None:
    for rel in knowledge().torch:
        if python in rel.python:
            return rel
    return None
