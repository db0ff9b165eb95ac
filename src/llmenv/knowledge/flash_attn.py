"""flash-attn's release matrix and build facts, as typed data (``data/flash_attn.json``, read lazily).

The JSON stores each release's wheels by their dimensions (build lines of wheel CUDA tag, nvcc and torch
versions; Pythons; ABIs; excluded torch x Python pairs; single missing files), not the file names it expands to;
``wheels`` and ``filename`` expand it here. ``llmenv kb refresh`` rebuilds the dimensions from each GitHub
release's assets (``llmenv.knowledge.refresh.flash_attn``); the build facts (architectures, nvcc, setup.py's
naming rule, known breakages) are curated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion, parse_cuda_version

__all__ = [
    "BuildMemory",
    "FlashAttnBuild",
    "FlashAttnRelease",
    "FlashAttnTable",
    "KnownBad",
    "arch_for",
    "load_flash_attn",
]


def arch_for(cc: tuple[int, int]) -> str:
    """The flash-attn architecture value (``FLASH_ATTN_CUDA_ARCHS`` item, wheel SASS) whose code runs on ``cc``.

    SASS runs on GPUs of the same major with an equal or higher minor, so sm_80 covers 8.6 / 8.7 / 8.9 (Ampere
    and Ada), sm_100 covers 10.3 and sm_120 covers 12.1.
    """
    return f"{cc[0]}0"


@cache
def _mm(torch: str) -> str:
    v = Version(torch)
    return f"{v.major}.{v.minor}"


@dataclass(frozen=True, kw_only=True)
class FlashAttnBuild:
    """One build line of a release's CI: wheels named ``cuda`` (``cu12``), compiled with ``nvcc``, per torch."""

    cuda: str
    nvcc: str
    torch: tuple[
        str, ...
    ]  # the torch versions CI built against (a nightly appears as e.g. 2.6.0.dev20241010)

    @property
    def nvcc_cuda(self) -> CudaVersion:
        return parse_cuda_version(self.nvcc)

    def torch_for(self, torch_mm: str) -> str | None:
        """The torch version this line built the ``torch{torch_mm}`` wheels against, if any."""
        return next((t for t in self.torch if _mm(t) == torch_mm), None)


@dataclass(frozen=True, kw_only=True)
class FlashAttnRelease:
    version: Version
    date: str
    pypi_sdist: bool  # the sdist is on PyPI (a source build needs it)
    cuda_naming: str  # "cu118/cu123" | "cu11/cu12" | "cu11/cu12/cu13": setup.py's wheel-name rule
    builds: tuple[FlashAttnBuild, ...]
    python: tuple[str, ...]
    abis: tuple[bool, ...]
    platform: str
    exclude: frozenset[tuple[str, str]]  # (torch major.minor, python) pairs CI skips
    wheel_archs: tuple[str, ...]  # SASS in the prebuilt wheels ("80", "90", ...)
    build_archs: tuple[str, ...]  # what a source build compiles by default
    honours_archs: bool  # FLASH_ATTN_CUDA_ARCHS is read (2.7.3+); before, always sm_80 + sm_90
    nvcc_threads_default: int
    min_nvcc: Version
    status: str = "V"
    note: str | None = None
    missing: frozenset[tuple[str, str, str, bool]] = frozenset()  # (cuda, torch mm, python, abi) holes

    def cuda_tag(self, torch_cuda: CudaVersion) -> str | None:
        """The CUDA part of the wheel name setup.py derives from torch's CUDA; None if this release cannot name it.

        Before 2.8.3.post1 a CUDA 13 torch was named ``cu12`` (a wheel that cannot load); llmenv treats that
        as no wheel at all.
        """
        if self.cuda_naming == "cu118/cu123":
            return {11: "cu118", 12: "cu123"}.get(torch_cuda.major)
        majors = {int(t.removeprefix("cu")) for t in self.cuda_naming.split("/")}
        return f"cu{torch_cuda.major}" if torch_cuda.major in majors else None

    @property
    def built_with_nvcc(self) -> Mapping[str, str]:
        """Wheel CUDA tag -> the nvcc CI compiled those wheels with."""
        return {b.cuda: b.nvcc for b in self.builds}

    def wheel_build(
        self, *, cuda_tag: str, torch_mm: str, python: str, cxx11_abi: bool
    ) -> FlashAttnBuild | None:
        """The build line that produced the wheel for this combination, or None when CI builds no such wheel."""
        if python not in self.python or cxx11_abi not in self.abis or (torch_mm, python) in self.exclude:
            return None
        if (cuda_tag, torch_mm, python, cxx11_abi) in self.missing:
            return None
        return next((b for b in self.builds if b.cuda == cuda_tag and b.torch_for(torch_mm)), None)

    def iter_wheels(self) -> Iterator[tuple[str, str, str, bool]]:
        """Every (cuda tag, torch major.minor, python, cxx11 abi) CI builds for this release."""
        for b in self.builds:
            for t in b.torch:
                for py in self.python:
                    if (_mm(t), py) in self.exclude:
                        continue
                    for abi in self.abis:
                        if (b.cuda, _mm(t), py, abi) not in self.missing:
                            yield b.cuda, _mm(t), py, abi

    @property
    def wheels(self) -> frozenset[tuple[str, str, str, bool]]:
        return frozenset(self.iter_wheels())

    def buildable_archs(self, nvcc: Version | None) -> tuple[str, ...]:
        """Architectures a source build of this release can compile with ``nvcc`` (None: unknown, assume new)."""
        if not self.honours_archs:
            return ("80", "90")
        out = []
        for a in ("80", "90", "100", "120"):
            need = {"90": Version("11.8"), "100": Version("12.8"), "120": Version("12.8")}.get(a)
            if need is None or nvcc is None or nvcc >= need:
                out.append(a)
        return tuple(out)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlashAttnRelease:
        build = d["build"]
        return cls(
            version=Version(d["version"]),
            date=d["date"],
            pypi_sdist=bool(d["pypi_sdist"]),
            cuda_naming=d["cuda_naming"],
            builds=tuple(
                FlashAttnBuild(cuda=b["cuda"], nvcc=b["nvcc"], torch=tuple(b["torch"])) for b in d["builds"]
            ),
            python=tuple(d["python"]),
            abis=tuple(bool(a) for a in d["cxx11_abi"]),
            platform=d["platform"],
            exclude=frozenset((e["torch"], py) for e in d["exclude"] for py in e["python"]),
            wheel_archs=tuple(d["wheel_archs"]),
            build_archs=tuple(build["default_archs"]),
            honours_archs=bool(build["archs_variable"]),
            nvcc_threads_default=int(build["nvcc_threads_default"]),
            min_nvcc=Version(build["min_nvcc"]),
            status=d.get("status", "V"),
            note=d.get("note"),
            missing=frozenset((m[0], m[1], m[2], bool(m[3])) for m in d.get("missing", ())),
        )


@dataclass(frozen=True, kw_only=True)
class KnownBad:
    """A combination known to break for reasons the matrix does not show; ``scope`` is "wheel" or "any"."""

    flash_attn: SpecifierSet
    torch: SpecifierSet
    cxx11_abi: bool | None
    scope: str
    reason: str
    sources: tuple[str, ...]

    def applies(self, *, version: Version, torch: Version, cxx11_abi: bool, prebuilt: bool) -> bool:
        if self.scope == "wheel" and not prebuilt:
            return False
        if self.cxx11_abi is not None and self.cxx11_abi != cxx11_abi:
            return False
        return self.flash_attn.contains(version, prereleases=True) and self.torch.contains(
            torch, prereleases=True
        )

    @property
    def source(self) -> str:
        return (
            self.sources[0]
            if len(self.sources) == 1
            else f"{self.sources[0]} (+{len(self.sources) - 1} more)"
        )


@dataclass(frozen=True, kw_only=True)
class BuildMemory:
    """How much memory one compile job takes, and how much of the machine a build may use."""

    gib_per_nvcc_thread: float
    measured_gib_per_job: float
    headroom_fraction: float
    headroom_min_gib: float
    max_nvcc_threads: int


@dataclass(frozen=True, kw_only=True)
class FlashAttnTable:
    releases: tuple[FlashAttnRelease, ...]  # newest first
    known_bad: tuple[KnownBad, ...]
    url_template: str
    filename_template: str
    min_capability: tuple[int, int]
    build_memory: BuildMemory
    build_requires: tuple[str, ...]
    requires_dist: tuple[str, ...]
    sources: Mapping[str, str]
    verified: str

    def release(self, version: Version | str) -> FlashAttnRelease | None:
        v = Version(str(version))
        return next((r for r in self.releases if r.version == v), None)

    def filename(
        self, version: Version | str, *, cuda_tag: str, torch_mm: str, python: str, cxx11_abi: bool
    ) -> str:
        return self.filename_template.format(
            version=version,
            cuda=cuda_tag,
            torch=torch_mm,
            abi="TRUE" if cxx11_abi else "FALSE",
            py=python.replace(".", ""),
        )

    def url(self, version: Version | str, filename: str) -> str:
        return self.url_template.format(version=version, filename=filename)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlashAttnTable:
        major, minor = (int(p) for p in str(d["min_capability"]).split("."))
        mem = d["build_memory"]
        releases = sorted((FlashAttnRelease.from_dict(r) for r in d["releases"]), key=lambda r: r.version)
        return cls(
            releases=tuple(reversed(releases)),
            known_bad=tuple(
                KnownBad(
                    flash_attn=SpecifierSet(b["flash_attn"]),
                    torch=SpecifierSet(b["torch"]),
                    cxx11_abi=b.get("cxx11_abi"),
                    scope=b.get("scope", "any"),
                    reason=b["reason"],
                    sources=tuple(b["sources"]),
                )
                for b in d["known_bad"]
            ),
            url_template=d["url_template"],
            filename_template=d["filename_template"],
            min_capability=(major, minor),
            build_memory=BuildMemory(
                gib_per_nvcc_thread=float(mem["gib_per_nvcc_thread"]),
                measured_gib_per_job=float(mem["measured_gib_per_job"]),
                headroom_fraction=float(mem["headroom_fraction"]),
                headroom_min_gib=float(mem["headroom_min_gib"]),
                max_nvcc_threads=int(mem["max_nvcc_threads"]),
            ),
            build_requires=tuple(d["build_requires"]),
            requires_dist=tuple(d["requires_dist"]),
            sources=d["sources"],
            verified=d["verified"],
        )


def load_flash_attn() -> FlashAttnTable:
    """The flash-attn table in use (refreshed by ``kb refresh`` or bundled), read once per process."""
    from llmenv.knowledge import load

    return load().flash_attn
