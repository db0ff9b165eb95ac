"""The ROCm table (``data/rocm.json``): which ROCm builds of torch run where, as typed, frozen data.

- ``compatible(build, host)``: AMD supports a kernel driver with ROCm user space of +/- ``window`` (2) releases
  (AMD's user and kernel-space support matrix). A torch ROCm wheel carries its own user space (HIP runtime), so
  what must fit is the build's ROCm and the host's driver stack, counted in the table's list of ROCm releases.
  A release outside that list (7.14, 10.0: TheRock-based, not in the published matrix) is *unknown*, said so.
- ``gfx(tag)``: the gfx targets a PyTorch-index ROCm build serves (uv's table); None = unknown.
- ``vllm``: vLLM's ROCm release wheels (variant, ROCm, Python, glibc, versions, GPUs); ``flash_attn``: its ROCm
  backends (CK and Triton) and their GPUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import RocmVersion, parse_rocm_version

__all__ = ["FlashAttnRocm", "RocmTable", "VllmRocmWheel", "load_rocm"]


@dataclass(frozen=True, kw_only=True)
class VllmRocmWheel:
    """One vLLM ROCm wheel variant (``rocm700``) and what it needs."""

    variant: str
    rocm: RocmVersion
    python: tuple[str, ...]
    glibc: Version
    versions: SpecifierSet
    gfx: tuple[str, ...]
    index: str  # with {version}
    status: str

    def index_for(self, version: str) -> str:
        return self.index.replace("{version}", version)


@dataclass(frozen=True, kw_only=True)
class FlashAttnRocm:
    min_rocm: RocmVersion
    prebuilt: bool
    ck_gfx: tuple[str, ...]
    triton_gfx: tuple[str, ...]
    triton_rdna: bool
    triton_env: Mapping[str, str]
    notes: str

    def backend_for(self, gfx: tuple[str, ...]) -> str | None:
        """``ck`` when every target is in CK's allowed list, else ``triton`` when the Triton backend covers them
        all, else None."""
        if gfx and all(g in self.ck_gfx for g in gfx):
            return "ck"
        if gfx and all(g in self.triton_gfx or (self.triton_rdna and g.startswith("gfx1")) for g in gfx):
            return "triton"
        return None


@dataclass(frozen=True, kw_only=True)
class RocmTable:
    releases: tuple[tuple[int, int], ...]  # ROCm minor releases, oldest first
    window: int
    variants: Mapping[str, tuple[tuple[str, ...], str, str | None]]  # tag -> (gfx, status, source)
    vllm: tuple[VllmRocmWheel, ...]
    vllm_notes: Mapping[str, str]
    flash_attn: FlashAttnRocm
    sources: Mapping[str, str]
    verified: str
    triton: tuple[tuple[str, SpecifierSet], ...] = ()  # (package, torch versions whose ROCm builds need it)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RocmTable:
        releases = tuple(parse_rocm_version(r).release for r in d["releases"])
        variants = {
            tag: (tuple(v["gfx"]), str(v.get("status", "V")), v.get("source"))
            for tag, v in d["variants"].items()
        }
        vllm = tuple(
            VllmRocmWheel(
                variant=w["variant"],
                rocm=parse_rocm_version(w["rocm"]),
                python=tuple(w["python"]),
                glibc=Version(w["glibc"]),
                versions=SpecifierSet(w["versions"]),
                gfx=tuple(w["gfx"]),
                index=w["index"],
                status=str(w.get("status", "V")),
            )
            for w in d.get("vllm", ())
        )
        fa = d["flash_attn"]
        return cls(
            releases=releases,
            window=int(d["window"]),
            variants=variants,
            vllm=vllm,
            vllm_notes=dict(d.get("vllm_notes", {})),
            flash_attn=FlashAttnRocm(
                min_rocm=parse_rocm_version(fa["min_rocm"]),
                prebuilt=bool(fa["prebuilt"]),
                ck_gfx=tuple(fa["ck_gfx"]),
                triton_gfx=tuple(fa["triton_gfx"]),
                triton_rdna=bool(fa.get("triton_rdna", False)),
                triton_env=dict(fa["triton_env"]),
                notes=str(fa.get("notes", "")),
            ),
            sources=d["sources"],
            verified=str(d["verified"]),
            triton=tuple((t["package"], SpecifierSet(t["torch"])) for t in d.get("triton", ())),
        )

    def triton_for(self, torch: Version) -> str | None:
        """The Triton package a torch release's ROCm builds depend on (from the same PyTorch index)."""
        return next((name for name, spec in self.triton if spec.contains(torch, prereleases=True)), None)

    def distance(self, a: RocmVersion, b: RocmVersion) -> int | None:
        """How many ROCm releases apart ``a`` and ``b`` are (0 for the same minor release); None when either is
        not in the table's list of releases (unknown)."""
        if a.release == b.release:
            return 0
        if a.release not in self.releases or b.release not in self.releases:
            return None
        return abs(self.releases.index(a.release) - self.releases.index(b.release))

    def compatible(self, build: RocmVersion, host: RocmVersion) -> bool | None:
        """Does a ROCm ``build`` run with the host's ROCm ``host``? None: unknown."""
        d = self.distance(build, host)
        return None if d is None else d <= self.window

    def gfx(self, tag: str) -> tuple[str, ...] | None:
        v = self.variants.get(tag)
        return v[0] if v is not None else None

    @property
    def newest_known(self) -> RocmVersion:
        major, minor = self.releases[-1]
        return RocmVersion(major, minor)


def load_rocm() -> RocmTable:
    """The ROCm table of the knowledge in use (``llmenv.knowledge.load``: parsed once, listed by ``kb show``)."""
    from llmenv.knowledge import load

    return load().rocm
