"""What PyPI's wheels of some extensions were built with: the ``extension-builds`` table
(``knowledge/data/extension_builds.json``, made by ``scripts/gen_extension_builds.py`` from the wheels
themselves; read through ``llmenv.knowledge.load().extension_builds``, a user copy winning when it parses):

- xformers: each release's build record (``xformers/cpp_lib.json`` in its Linux x86_64 wheel): the CUDA it was
  compiled with, the torch build it was compiled against, and ``TORCH_CUDA_ARCH_LIST`` (``7.5 8.0+PTX 9.0a``);
- flash-attn-4: each release's Requires-Python and Requires-Dist (its ``nvidia-cutlass-dsl`` pin);
- the engines' own ``nvidia-cutlass-dsl`` requirements per release, from the facts' tables of PyPI metadata (the
  bundled pins snapshot keeps only Requires-Dist lines naming a tracked package, so this table keeps them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion

__all__ = ["CUTLASS", "ExtensionBuilds", "Fa4Release", "XformersBuild", "arch_codes"]

CUTLASS = "nvidia-cutlass-dsl"


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


@dataclass(frozen=True, kw_only=True)
class ExtensionBuilds:
    """The table, parsed per part on first use."""

    raw: Mapping[str, Any] = field(repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExtensionBuilds:
        if not isinstance(d, Mapping) or not isinstance(d.get("xformers"), list):
            raise ValueError("not an extension builds table (no xformers list)")
        return cls(raw=d)

    def check(self) -> None:
        """Parse every part (the loader asks a user's copy: a malformed one is set aside)."""
        self.xformers()
        self.fa4_releases()
        for engine, rows in self.raw.get("engine_cutlass_pins", {}).items():
            for v in rows:
                self.engine_pins(engine, Version(v))

    def xformers(self) -> Mapping[Version, XformersBuild]:
        got: Mapping[Version, XformersBuild] | None = self._memo.get("xformers")
        if got is None:
            got = self._memo["xformers"] = {b.version: b for b in map(_xformers, self.raw.get("xformers", ()))}
        return got

    def xformers_build(self, version: Version) -> XformersBuild | None:
        """The build record of xformers ``version``'s Linux x86_64 wheel; None when not read."""
        return self.xformers().get(version)

    def fa4_releases(self) -> tuple[Fa4Release, ...]:
        """flash-attn-4's releases, newest first."""
        got: tuple[Fa4Release, ...] | None = self._memo.get("fa4")
        if got is None:
            rels = map(_fa4, self.raw.get("flash-attn-4", ()))
            got = self._memo["fa4"] = tuple(sorted(rels, key=lambda x: x.version, reverse=True))
        return got

    def engine_pins(self, engine: str, version: Version) -> tuple[Requirement, ...]:
        """The engine release's own requirements on ``nvidia-cutlass-dsl``."""
        rows = self.raw.get("engine_cutlass_pins", {}).get(engine, {})
        for v, lines in rows.items():
            if Version(v) == version:
                return tuple(Requirement(line) for line in lines)
        return ()


def _xformers(r: Mapping[str, Any]) -> XformersBuild:
    cuda = r.get("cuda")
    major, _, minor = (cuda or "").partition(".")
    return XformersBuild(
        version=Version(r["version"]),
        file=r["file"],
        cuda=CudaVersion(int(major), int(minor)) if cuda else None,
        torch=r.get("torch") or "",
        archs=arch_codes(r.get("arch_list") or ""),
    )


def _fa4(r: Mapping[str, Any]) -> Fa4Release:
    rp = r.get("requires_python")
    return Fa4Release(
        version=Version(r["version"]),
        requires_python=SpecifierSet(rp) if rp else None,
        requires_dist=tuple(r.get("requires_dist", ())),
        uploaded=r.get("uploaded", ""),
    )
