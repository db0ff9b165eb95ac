"""vLLM's CUDA lines: the CUDA of PyPI's vllm wheel per release (``wheel_sources.json``, from
vllm_pypi_cuda.csv) and the other CUDA builds of a release on its per-version variant index
(``https://wheels.vllm.ai/{version}/{variant}/``, from the listings).

vLLM's compiled kernels link ``libcudart.so.N`` of the CUDA they were built with; torch brings the runtime of its
own variant. When the planned torch is of another CUDA major than PyPI's vllm wheel, the import fails
(``libcudart.so.13: cannot open shared object file``, vllm#44335): vllm must then come from the variant index of
torch's CUDA major, or the candidate is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from llmenv.backend import Backend, CudaVersion
from llmenv.sources.catalog import source
from llmenv.sources.listing import Listings, load_listings

__all__ = ["VllmVariant", "pypi_cuda", "route", "variants"]


@dataclass(frozen=True, kw_only=True)
class VllmVariant:
    version: Version
    tag: str  # "cu129"
    cuda: CudaVersion
    url: str  # the variant index
    platforms: tuple[str, ...]  # "linux-x86_64", ...

    @property
    def index_name(self) -> str:
        return f"vllm-{self.tag}"

    @property
    def pinned(self) -> str:
        """The exact version its wheels carry (``0.20.0+cu129``)."""
        return f"{self.version}+{self.tag}"


def pypi_cuda(version: Version) -> CudaVersion | None:
    """The CUDA of PyPI's vllm ``version`` wheel (None: not known)."""
    got = source("vllm").pypi_cuda(version)
    if got is None or got[0] is None:
        return None
    major, _, minor = got[0].partition(".")
    return CudaVersion(int(major), int(minor or 0))


_MADE: dict[int, tuple[Listings, dict[Version, tuple[VllmVariant, ...]]]] = {}


def _variants(listings: Listings) -> dict[Version, tuple[VllmVariant, ...]]:
    got = _MADE.get(id(listings))
    if got is None or got[0] is not listings:
        got = _MADE[id(listings)] = (listings, _read(listings))
    return got[1]


def _read(listings: Listings) -> dict[Version, tuple[VllmVariant, ...]]:
    src = source("vllm")
    found: dict[tuple[Version, str], set[str]] = {}
    for w in listings.wheels("vllm", source="vllm"):
        ver, _, tag = w.at.partition("/")
        b = w.build
        try:
            v = Version(ver)
        except InvalidVersion:
            continue
        if b is None or b.local.device != "cuda" or b.cuda is None or not tag:
            continue
        found.setdefault((v, tag), set()).add(f"{b.os}-{b.arch}")
    out: dict[Version, list[VllmVariant]] = {}
    for (v, tag), plats in found.items():
        cuda = Backend.parse(tag).cuda_version
        if cuda is None:
            continue
        out.setdefault(v, []).append(
            VllmVariant(
                version=v,
                tag=tag,
                cuda=cuda,
                url=src.index_url(tag, str(v)),
                platforms=tuple(sorted(plats)),
            )
        )
    return {v: tuple(sorted(vs, key=lambda x: x.cuda, reverse=True)) for v, vs in out.items()}


def variants(version: Version, listings: Listings | None = None) -> tuple[VllmVariant, ...]:
    """The CUDA builds of vllm ``version`` on its variant index, newest CUDA first."""
    return _variants(listings or load_listings()).get(version, ())


def route(
    version: Version, torch_cuda: CudaVersion, platform: str, listings: Listings | None = None
) -> VllmVariant | str | None:
    """How vllm ``version`` goes with a torch of ``torch_cuda``: None (PyPI's wheel, same CUDA major, or its
    CUDA is not known), the variant index build of torch's CUDA major for ``platform``, or why there is none."""
    pypi = pypi_cuda(version)
    if pypi is None or pypi.major == torch_cuda.major:
        return None
    same = [v for v in variants(version, listings) if v.cuda.major == torch_cuda.major and platform in v.platforms]
    if same:
        return same[0]
    return (
        f"PyPI's vllm {version} is built with CUDA {pypi} (libcudart.so.{pypi.major}); torch's CUDA "
        f"{torch_cuda} is CUDA {torch_cuda.major}, and no vllm {version} build of CUDA {torch_cuda.major} is known "
        f"on wheels.vllm.ai/{version}/ (vllm#44335)"
    )
