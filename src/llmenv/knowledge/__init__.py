"""Cited compatibility facts bundled with llmenv, as typed, frozen data.

Every table is a JSON file under ``knowledge/data/`` carrying its sources and the date it was verified. The
files are read lazily, once per process (``load()`` is cached), so commands that need no knowledge pay nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from packaging.version import Version

from llmenv.backend import Backend, CudaVersion, parse_cuda_version
from llmenv.cuda_arch import ArchCode, covers

__all__ = [
    "CudaTable",
    "Knowledge",
    "TorchRelease",
    "TorchVariant",
    "load",
    "read_data",
]


def read_data(name: str) -> Any:
    """Parse one bundled JSON table."""
    text = resources.files("llmenv.knowledge").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True, kw_only=True)
class CudaTable:
    """CUDA toolkit -> minimum driver (strict), and per-major floors (minor-version compatibility)."""

    toolkits: tuple[tuple[CudaVersion, str], ...]  # (CUDA, minimum driver as NVIDIA writes it), ascending
    major_floors: Mapping[int, Version]
    dropped_below: Mapping[int, tuple[int, int]]  # CUDA major -> lowest compute capability it can build
    sources: Mapping[str, str]
    verified: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CudaTable:
        toolkits = tuple(sorted((parse_cuda_version(t["cuda"]), str(t["min_driver"])) for t in d["toolkits"]))
        floors = {int(f["major"]): Version(f["min_driver"]) for f in d["minor_compat"]}
        dropped = {}
        for x in d.get("dropped_archs", ()):
            major, minor = (int(p) for p in str(x["below"]).split("."))
            dropped[int(x["cuda_major"])] = (major, minor)
        return cls(
            toolkits=toolkits,
            major_floors=floors,
            dropped_below=dropped,
            sources=d["sources"],
            verified=d["verified"],
        )

    def max_cuda(self, driver: str) -> CudaVersion | None:
        """The newest CUDA toolkit whose minimum driver (Table 3) is <= ``driver``; None below CUDA 11.8."""
        v = Version(driver)
        best = None
        for cuda, floor in self.toolkits:
            if v >= Version(floor):
                best = cuda
        return best

    def min_driver(self, cuda: CudaVersion) -> str | None:
        """Table 3's minimum driver for this CUDA minor (or the next listed minor when it is absent)."""
        for c, floor in self.toolkits:
            if c >= cuda:
                return floor
        return None

    def runs(self, cuda: CudaVersion, *, driver_cuda: CudaVersion, driver: str | None, policy: str) -> bool:
        """Can a driver whose own CUDA version is ``driver_cuda`` run binaries built with ``cuda``?

        strict: only if ``cuda <= driver_cuda``. minor: also any newer minor of the same major, when the driver
        is at least that major's minor-version-compatibility floor (what uv's ``--torch-backend=auto`` does).
        """
        if cuda <= driver_cuda:
            return True
        if policy != "minor" or cuda.major != driver_cuda.major:
            return False
        floor = self.major_floors.get(cuda.major)
        if floor is None:
            return False
        return driver is None or Version(driver) >= floor


@dataclass(frozen=True, kw_only=True)
class TorchVariant:
    backend: Backend
    archs: tuple[tuple[int, int], ...]  # SASS compute capabilities compiled in
    ptx: bool
    status: str
    cxx11_abi: bool | None = None  # set where it differs from the release's (2.6.0+cu126 is cxx11)

    def covers(self, cc: tuple[int, int]) -> bool:
        """Does this build run on a GPU of compute capability ``cc``?

        SASS runs on the same major with an equal or higher minor (sm_80 code runs on 8.6 and 8.9); embedded PTX
        of the newest architecture (``+PTX``) is JIT-compiled for any newer GPU.
        """
        return covers(self.codes, cc)

    @property
    def codes(self) -> tuple[ArchCode, ...]:
        """The compiled targets: SASS for each arch, plus PTX of the newest when ``+PTX``."""
        sass = tuple(ArchCode(capability=a) for a in self.archs)
        ptx = (ArchCode(capability=max(self.archs), ptx=True),) if self.ptx and self.archs else ()
        return sass + ptx

    @property
    def arch_names(self) -> str:
        return " ".join(f"sm_{a}{b}" for a, b in self.archs) + (" +PTX" if self.ptx else "")


@dataclass(frozen=True, kw_only=True)
class TorchRelease:
    version: Version
    python: tuple[str, ...]
    cxx11_abi: bool
    pypi_cuda: CudaVersion
    platforms: tuple[str, ...]
    variants: Mapping[str, TorchVariant]
    torchvision: str | None
    torchaudio: str | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TorchRelease:
        variants = {}
        for tag, v in d["variants"].items():
            archs = []
            ptx = False
            for a in v["archs"]:
                if a.endswith("+PTX"):
                    ptx = True
                    a = a.removesuffix("+PTX")
                major, minor = a.split(".")
                archs.append((int(major), int(minor)))
            variants[tag] = TorchVariant(
                backend=Backend.parse(tag),
                archs=tuple(archs),
                ptx=ptx,
                status=v.get("status", "V"),
                cxx11_abi=v.get("cxx11_abi"),
            )
        return cls(
            version=Version(d["version"]),
            python=tuple(d["python"]),
            cxx11_abi=bool(d["cxx11_abi"]),
            pypi_cuda=parse_cuda_version(d["pypi_cuda"]),
            platforms=tuple(d["platforms"]),
            variants=variants,
            torchvision=d.get("torchvision"),
            torchaudio=d.get("torchaudio"),
        )

    def abi_of(self, variant: str | Backend) -> bool:
        """The C++ ABI (``torch._C._GLIBCXX_USE_CXX11_ABI``) of this release's ``variant`` build."""
        v = self.variants.get(str(variant))
        return self.cxx11_abi if v is None or v.cxx11_abi is None else v.cxx11_abi

    def has_platform(self, os: str, arch: str) -> bool:
        """Does PyPI carry a wheel of this release for the platform (manylinux / macosx / win tag)?"""
        tests = {
            ("linux", "x86_64"): lambda p: p.startswith("manylinux") and p.endswith("_x86_64"),
            ("linux", "aarch64"): lambda p: p.startswith("manylinux") and p.endswith("_aarch64"),
            ("darwin", "arm64"): lambda p: p.startswith("macosx_") and p.endswith("_arm64"),
            ("darwin", "x86_64"): lambda p: p.startswith("macosx_") and p.endswith("_x86_64"),
            ("windows", "x86_64"): lambda p: p == "win_amd64",
        }
        test = tests.get((os, arch))
        return test is not None and any(test(p) for p in self.platforms)


@dataclass(frozen=True, kw_only=True)
class Knowledge:
    cuda: CudaTable
    torch: tuple[TorchRelease, ...]  # newest first
    torch_sources: Mapping[str, str]

    def torch_release(self, version: Version | str) -> TorchRelease | None:
        v = Version(str(version))
        for r in self.torch:
            if r.version == v:
                return r
        return None


@cache
def load() -> Knowledge:
    """The bundled knowledge, read once per process."""
    torch = read_data("torch.json")
    releases = sorted((TorchRelease.from_dict(r) for r in torch["releases"]), key=lambda r: r.version)
    return Knowledge(
        cuda=CudaTable.from_dict(read_data("cuda.json")),
        torch=tuple(reversed(releases)),
        torch_sources=torch["sources"],
    )
