"""What PyPI's wheels of some extensions were built with (``knowledge/data/extension_builds.json``, made by
``scripts/gen_extension_builds.py`` from the wheels themselves):

- xformers: each release's build record (``xformers/cpp_lib.json`` in the wheel): the CUDA it was compiled with,
  the torch build it was compiled against, and ``TORCH_CUDA_ARCH_LIST`` (``7.5 8.0+PTX 9.0a``);
- flash-attn-4: each release's Requires-Python and Requires-Dist (its ``nvidia-cutlass-dsl`` pin);
- the engines' own ``nvidia-cutlass-dsl`` requirements per release (the bundled pins snapshot keeps only lines
  naming a tracked package), copied from the facts' tables of PyPI metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion
from llmenv.knowledge import read_data

__all__ = [
    "BUILDS_NAME",
    "Fa4Release",
    "XformersBuild",
    "arch_codes",
    "engine_pins",
    "fa4_releases",
    "xformers_build",
]

BUILDS_NAME = "extension_builds.json"


def arch_codes(arch_list: str) -> tuple[str, ...]:
    """``TORCH_CUDA_ARCH_LIST`` (``7.5 8.0+PTX 9.0a``) -> option archs: ``75``, ``80``, ``compute_80``, ``90a``."""
    out: list[str] = []
    for item in arch_list.replace(";", " ").split():
        ptx = item.endswith("+PTX")
        cc = item.removesuffix("+PTX")
        major, _, rest = cc.partition(".")
        minor, suffix = rest[:1] or "0", rest[1:]
        code = f"{major}{minor}{suffix}"
        out.append(code)
        if ptx:
            out.append(f"compute_{major}{minor}")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, kw_only=True)
class XformersBuild:
    version: Version
    file: str
    cuda: CudaVersion | None  # the CUDA it was compiled with
    torch: str  # the torch build it was compiled against ("2.10.0+cu128")
    archs: tuple[str, ...]  # option archs (``arch_codes``)

    @property
    def torch_cuda_major(self) -> int | None:
        """The CUDA major of the torch it links (``+cu128`` -> 12)."""
        _, _, local = self.torch.partition("+")
        return int(local[2:4]) if local.startswith("cu") and len(local) >= 4 else None


@dataclass(frozen=True, kw_only=True)
class Fa4Release:
    version: Version
    requires_python: SpecifierSet | None
    requires_dist: tuple[str, ...]
    uploaded: str

    @property
    def has_cu13(self) -> bool:
        """Does it have the ``cu13`` extra (nvidia-cutlass-dsl's CUDA 13 libraries)?"""
        return any('extra == "cu13"' in r for r in self.requires_dist)


@cache
def _data() -> Mapping[str, Any]:
    data: Mapping[str, Any] = read_data(BUILDS_NAME)
    return data


@cache
def _xformers() -> Mapping[Version, XformersBuild]:
    out = {}
    for r in _data().get("xformers", ()):
        cuda = r.get("cuda")
        major, _, minor = (cuda or "").partition(".")
        out[Version(r["version"])] = XformersBuild(
            version=Version(r["version"]),
            file=r["file"],
            cuda=CudaVersion(int(major), int(minor)) if cuda else None,
            torch=r.get("torch") or "",
            archs=arch_codes(r.get("arch_list") or ""),
        )
    return out


def xformers_build(version: Version) -> XformersBuild | None:
    """The build record of xformers ``version``'s Linux x86_64 wheel; None when not read."""
    return _xformers().get(version)


@cache
def fa4_releases() -> tuple[Fa4Release, ...]:
    """flash-attn-4's releases, newest first."""
    out = []
    for r in _data().get("flash-attn-4", ()):
        rp = r.get("requires_python")
        out.append(
            Fa4Release(
                version=Version(r["version"]),
                requires_python=SpecifierSet(rp) if rp else None,
                requires_dist=tuple(r.get("requires_dist", ())),
                uploaded=r.get("uploaded", ""),
            )
        )
    return tuple(sorted(out, key=lambda x: x.version, reverse=True))


def engine_pins(engine: str, version: Version) -> tuple[Requirement, ...]:
    """The engine release's own requirements on ``nvidia-cutlass-dsl`` (PyPI metadata, from the facts)."""
    rows = _data().get("engine_cutlass_pins", {}).get(engine, {})
    for v, lines in rows.items():
        if Version(v) == version:
            return tuple(Requirement(line) for line in lines)
    return ()
