"""A base environment as data: the interpreter, where its packages are, the packages, and its torch.

A base is what a container image (NGC ``nvcr.io/nvidia/pytorch``, ``pytorch/pytorch``) or any interpreter named
by ``--base-python`` already has installed. Its packages are fixed facts of the target: the plan fits around
them, the project never installs them again (see ``llmenv.base.link``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.errors import UsageError

__all__ = [
    "BaseEnvironment",
    "BasePackage",
    "BaseRecord",
    "BaseTorch",
    "admits",
    "nvidia_build",
    "nvidia_release",
    "torch_linked",
]

# Packages whose second copy in a project's environment breaks the base torch (or is the base torch):
# the torch family, its compiler and the CUDA libraries it loads (``nvidia-*`` wheels).
TORCH_LINKED = frozenset({"torch", "torchvision", "torchaudio", "triton", "pytorch-triton"})

# NVIDIA's builds: ``2.6.0a0+ecf3bae40a.nv25.01``, ``2.8.0a0+5228986c39.nv25.5``,
# ``2.11.0a0+a6c236b9fd.nv26.3.46836102`` (facts J1). The ``.nvYY.MM`` part names the container release.
_NV_LOCAL = re.compile(r"(?:^|\.)nv(\d{2})\.(\d{1,2})(?:\.\d+)?$")
_NGC_VERSION = re.compile(r"^\d+\.\d+\.\d+a0\+[0-9a-f]{7,}(?:\.nv\d+\.\d+(?:\.\d+)?)?$")


# The distributions that install each torch-linked module: a base with the module from any of them must get
# none of the others (PyPI's ``triton`` over NGC's or the PyTorch index's ``pytorch-triton``).
MODULE_DISTS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "torchaudio": ("torchaudio",),
    "triton": ("triton", "pytorch-triton", "pytorch-triton-rocm", "triton-rocm"),
}


def torch_linked(name: str) -> bool:
    """Is ``name`` torch, part of its family, its triton or one of the CUDA library wheels it loads?"""
    n = canonicalize_name(name)
    return n in TORCH_LINKED or n.startswith("nvidia-")


def nvidia_release(version: str) -> str | None:
    """``2.6.0a0+ecf3bae40a.nv25.01`` -> ``25.01`` (the NGC container release in a torch's local label)."""
    try:
        local = Version(version).local
    except InvalidVersion:
        return None
    m = _NV_LOCAL.search(local or "")
    return f"{m.group(1)}.{int(m.group(2)):02d}" if m else None


def nvidia_build(version: str) -> bool:
    """Built by NVIDIA from a commit (NGC): a pre-release of the next release with the commit (and the container
    release) in its local label."""
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    return bool(_NGC_VERSION.match(str(v))) or nvidia_release(version) is not None


def admits(spec: SpecifierSet, installed: str) -> tuple[bool, str | None]:
    """Does a requirement's specifier admit the base's installed version? (ok, why it was relaxed).

    PEP 440 orders NVIDIA's ``2.6.0a0+…`` before ``2.6.0``, so an engine's ``torch==2.6.0`` rejects it although
    it is NVIDIA's build of 2.6. For an NVIDIA build the release it is of (``2.6.0``) is tested too, and when
    only that fits, the pin is relaxed, and the second value says why."""
    try:
        v = Version(installed)
    except InvalidVersion:
        return False, None
    if spec.contains(v, prereleases=True):
        return True, None
    release = Version(v.base_version)
    if nvidia_build(installed) and spec.contains(release, prereleases=True):
        return True, f"NVIDIA's pre-release build of {release} (PEP 440 orders {v.public} before {release})"
    return False, None


@dataclass(frozen=True, kw_only=True)
class BasePackage:
    name: str  # normalized
    version: str  # as its metadata says it
    location: str  # the site directory holding it
    dist: str = ""  # its metadata folder in there (``torch-2.6.0.dist-info``)
    requires: tuple[str, ...] = ()  # Requires-Dist, as written

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "location": self.location}


@dataclass(frozen=True, kw_only=True)
class BaseTorch:
    """The base's torch: its version as installed, the CUDA (or ROCm) it was built with, its C++ ABI."""

    version: str  # e.g. 2.6.0a0+ecf3bae40a.nv25.01
    cuda: CudaVersion | None
    hip: str | None = None
    cxx11_abi: bool
    abi_fact: str  # where the ABI comes from
    cuda_fact: str  # where the CUDA comes from
    location: str  # the torch package folder
    # The GPU architectures it was compiled for ("8.0", "9.0", "12.0+PTX"), when the image says so (NGC's
    # TORCH_CUDA_ARCH_LIST); () unknown.
    archs: tuple[str, ...] = ()
    archs_fact: str | None = None

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    @property
    def release(self) -> Version:
        """The release this build is of: ``2.6.0`` for NVIDIA's ``2.6.0a0+…`` pre-release."""
        return Version(self.parsed.base_version)

    @property
    def mm(self) -> str:
        r = self.release.release
        return f"{r[0]}.{r[1] if len(r) > 1 else 0}"

    @property
    def nvidia(self) -> bool:
        return nvidia_build(self.version)

    @property
    def variant(self) -> str:
        if self.cuda is not None:
            return f"cu{self.cuda.major}{self.cuda.minor}"
        return f"rocm{self.hip}" if self.hip else "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "release": str(self.release),
            "variant": self.variant,
            "cuda": str(self.cuda) if self.cuda else None,
            "hip": self.hip,
            "cxx11_abi": self.cxx11_abi,
            "nvidia_build": self.nvidia,
            "location": self.location,
            "archs": list(self.archs),
            "facts": {"cuda": self.cuda_fact, "cxx11_abi": self.abi_fact, "archs": self.archs_fact},
        }


@dataclass(frozen=True, kw_only=True)
class BaseEnvironment:
    """What a base interpreter has. ``site``: the folders its packages are imported from, in order.
    ``origin``: how it was found (``--base-python /usr/bin/python3``, ``NGC image 25.01``...)."""

    python: str
    python_version: str  # 3.12.8, or 3.12 when read from the layout only
    site: tuple[str, ...]
    packages: Mapping[str, BasePackage] = field(default_factory=dict)
    torch: BaseTorch | None = None
    nccl: str | None = None
    nccl_fact: str | None = None
    origin: str = ""
    image: str | None = None  # e.g. "NGC 25.01", "pytorch/pytorch"
    modules: tuple[
        str, ...
    ] = ()  # the torch-linked modules it has (MODULE_DISTS keys), whatever installed them

    @property
    def minor(self) -> str:
        v = Version(self.python_version)
        return f"{v.major}.{v.minor}"

    def has(self, name: str) -> bool:
        return canonicalize_name(name) in self.packages

    def version_of(self, name: str) -> str | None:
        p = self.packages.get(canonicalize_name(name))
        return p.version if p else None

    def names(self) -> tuple[str, ...]:
        """Every distribution the base has, and every other distribution that installs a torch-linked module
        it has, normalized and sorted: what the project must not install again."""
        aliases = {d for m in self.modules for d in MODULE_DISTS.get(m, ())}
        return tuple(sorted(set(self.packages) | aliases))

    def to_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "python_version": self.python_version,
            "site": list(self.site),
            "origin": self.origin,
            "image": self.image,
            "torch": self.torch.to_dict() if self.torch else None,
            "nccl": self.nccl,
            "packages": {n: p.version for n, p in sorted(self.packages.items())},
        }

    def record(self) -> dict[str, Any]:
        """What a project keeps of its base (``[tool.llmenv.base]``): enough for ``llmenv sync`` to link a new
        environment to it and for ``doctor`` to notice that the image changed, without reading it again."""
        out: dict[str, Any] = {"python": self.python, "python-version": self.minor, "site": list(self.site)}
        if self.torch:
            out["torch"] = self.torch.version
        if self.image:
            out["image"] = self.image
        return out


@dataclass(frozen=True, kw_only=True)
class BaseRecord:
    """``[tool.llmenv.base]`` of a project, read back."""

    python: str
    python_version: str
    site: tuple[str, ...]
    torch: str | None = None
    image: str | None = None

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], where: str = "[tool.llmenv.base]") -> BaseRecord:
        """UsageError (one line, naming the key) for a malformed record."""
        python, minor, site = record.get("python"), record.get("python-version"), record.get("site")
        if not isinstance(python, str) or not python:
            raise UsageError(f"{where}.python must be the path of the base interpreter")
        if not isinstance(minor, str) or not re.fullmatch(r"3\.\d+", minor):
            raise UsageError(f'{where}.python-version must be the base\'s Python, e.g. "3.12"')
        if not isinstance(site, list) or not all(isinstance(s, str) and s for s in site):
            raise UsageError(f"{where}.site must be a list of folders")
        torch, image = record.get("torch"), record.get("image")
        if torch is not None and not isinstance(torch, str):
            raise UsageError(f"{where}.torch must be a version string")
        return cls(
            python=python,
            python_version=minor,
            site=tuple(site),
            torch=torch,
            image=image if isinstance(image, str) else None,
        )


def cuda_or_none(text: str | None) -> CudaVersion | None:
    if not text:
        return None
    try:
        return parse_cuda_version(text)
    except UsageError:
        return None
