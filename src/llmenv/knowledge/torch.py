"""The torch table (``data/torch.json``, schema 2): every release x platform x variant, as typed, frozen data.

Per release and platform (``linux-x86_64``, ``linux-aarch64``, ``darwin-arm64``, ...): the PyPI wheels (their
platform tags, Python versions, C++ ABI and the build PyPI ships — a CUDA build with its SASS architectures, or a
CPU-only one), and the PyTorch index's variants for that platform (``cu126`` ... with their architectures and ABI;
``rocmX.Y`` with their gfx targets). ``TorchRelease`` keeps the flat fields the planner has always read
(``python``, ``cxx11_abi``, ``pypi_cuda``, ``platforms``, ``variants``) as the Linux x86_64 view, advertised
CUDA variants only; ``TorchRelease.on(os, arch)`` gives any platform's.

Unknown stays unknown: an arch list nobody read is ``archs_known=False``; a platform whose variant list is not
known to be complete says ``complete=False``; a ROCm build's gfx list nobody read is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.cuda_arch import ArchCode, covers

__all__ = [
    "PLATFORMS",
    "SCHEMA",
    "RocmVariant",
    "TorchPlatform",
    "TorchRelease",
    "TorchTable",
    "TorchVariant",
    "platform_key",
]

SCHEMA = 2
# os-arch keys of the table, and the wheel platform tags each one installs.
PLATFORMS = ("linux-x86_64", "linux-aarch64", "darwin-arm64", "darwin-x86_64", "windows-x86_64")


def platform_key(os: str, arch: str) -> str:
    """``("linux", "x86_64")`` -> ``"linux-x86_64"`` (``amd64`` and ``arm64`` on Linux normalised)."""
    arch = {"amd64": "x86_64", "arm64": "aarch64" if os == "linux" else "arm64"}.get(arch, arch)
    return f"{os}-{arch}"


def wheel_tag_platform(tag: str) -> str | None:
    """The table's platform key a wheel platform tag installs on, or None (``any``, 32-bit, other OSes)."""
    if tag.startswith(("manylinux", "musllinux", "linux_")):
        for arch in ("x86_64", "aarch64"):
            if tag.endswith(f"_{arch}"):
                return f"linux-{arch}"
        return None
    if tag.startswith("macosx_"):
        for arch in ("arm64", "x86_64"):
            if tag.endswith(f"_{arch}"):
                return f"darwin-{arch}"
        return None
    return "windows-x86_64" if tag == "win_amd64" else None


def _archs(names: list[str] | None) -> tuple[tuple[tuple[int, int], ...], bool, bool]:
    """``["8.0", "9.0", "12.0+PTX"]`` -> (((8, 0), (9, 0), (12, 0)), ptx, known); None -> unknown."""
    if names is None:
        return (), False, False
    archs, ptx = [], False
    for a in names:
        if a.endswith("+PTX"):
            ptx = True
            a = a.removesuffix("+PTX")
        major, minor = a.split(".")
        archs.append((int(major), int(minor)))
    return tuple(archs), ptx, True


@dataclass(frozen=True, kw_only=True)
class TorchVariant:
    """One CUDA build of a release (a PyTorch-index variant, or the build PyPI ships) on one platform."""

    backend: Backend
    archs: tuple[tuple[int, int], ...]  # SASS compute capabilities compiled in
    ptx: bool
    status: str  # V verified from the artifact, S secondary, U inferred
    cxx11_abi: bool | None = None  # set where it differs from the platform's (2.6.0+cu126 is cxx11)
    archs_known: bool = True  # False: nobody read this build's arch list (archs is then empty)
    python: tuple[str, ...] = ()  # the index's wheels' Python minors, where they differ from PyPI's
    advertised: bool = (
        True  # False: built and published, but outside PyTorch's advertised matrix (cu129 2.9+)
    )
    source: str | None = None  # where this variant's facts come from, when not the table's general sources

    def covers(self, cc: tuple[int, int]) -> bool:
        """Does this build run on a GPU of compute capability ``cc``?

        SASS runs on the same major with an equal or higher minor (sm_80 code runs on 8.6 and 8.9); embedded PTX
        of the newest architecture (``+PTX``) is JIT-compiled for any newer GPU.
        """
        return covers(self.codes, cc)

    @property
    def tag(self) -> str:
        return self.backend.tag

    @property
    def codes(self) -> tuple[ArchCode, ...]:
        """The compiled targets: SASS for each arch, plus PTX of the newest when ``+PTX``."""
        sass = tuple(ArchCode(capability=a) for a in self.archs)
        ptx = (ArchCode(capability=max(self.archs), ptx=True),) if self.ptx and self.archs else ()
        return sass + ptx

    @property
    def arch_names(self) -> str:
        if not self.archs_known:
            return "unknown architectures"
        return " ".join(f"sm_{a}{b}" for a, b in self.archs) + (" +PTX" if self.ptx else "")

    @classmethod
    def from_dict(cls, tag: str, d: Mapping[str, Any]) -> TorchVariant:
        archs, ptx, known = _archs(d.get("archs"))
        return cls(
            backend=Backend.parse(tag),
            archs=archs,
            ptx=ptx,
            status=str(d.get("status", "V")),
            cxx11_abi=d.get("cxx11_abi"),
            archs_known=known,
            python=tuple(d.get("python", ())),
            advertised=bool(d.get("advertised", True)),
            source=d.get("source"),
        )


class RocmVariant(NamedTuple):
    """One ROCm build of a release (``rocm6.2.4``: the index name and the wheels' local version)."""

    tag: str
    rocm: tuple[int, ...]  # (6, 2, 4); "rocm7.14" is ROCm 7.14, not 7.1.4
    gfx: tuple[str, ...] | None  # the gfx targets compiled in; None: unknown
    status: str
    cxx11_abi: bool | None = None
    python: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, tag: str, d: Mapping[str, Any]) -> RocmVariant:
        if not tag.startswith("rocm"):
            raise ValueError(f"{tag!r} is not a ROCm variant")
        gfx = d.get("gfx")
        return cls(
            tag=tag,
            rocm=tuple(int(p) for p in tag.removeprefix("rocm").split(".")),
            gfx=tuple(gfx) if gfx is not None else None,
            status=str(d.get("status", "V")),
            cxx11_abi=d.get("cxx11_abi"),
            python=tuple(d.get("python", ())),
        )


@dataclass(frozen=True, kw_only=True)
class TorchPlatform:
    """A release on one platform: PyPI's wheels, and the PyTorch index's builds."""

    platform: str  # "linux-x86_64"
    wheels: tuple[str, ...]  # PyPI's wheel platform tags ("manylinux_2_28_x86_64")
    python: tuple[str, ...]  # Python minors PyPI has wheels for (free-threaded ones apart)
    free_threaded: tuple[str, ...]  # Python minors with a free-threaded (cp313t) wheel
    cxx11_abi: bool | None  # of the PyPI wheels (None: not checked)
    pypi: TorchVariant | None  # the CUDA build PyPI ships; None: a CPU-only (or no) PyPI wheel
    variants: Mapping[str, TorchVariant]  # the PyTorch index's CUDA variants for this platform
    rocm: Mapping[str, RocmVariant] = field(default_factory=dict)
    complete: bool = True  # False: more variants may exist than the table lists

    @property
    def pypi_cuda(self) -> CudaVersion | None:
        return self.pypi.backend.cuda_version if self.pypi is not None else None

    def abi_of(self, variant: str | Backend) -> bool | None:
        v = self.variants.get(str(variant))
        return self.cxx11_abi if v is None or v.cxx11_abi is None else v.cxx11_abi

    @classmethod
    def from_dict(cls, key: str, d: Mapping[str, Any]) -> TorchPlatform:
        pypi = d.get("pypi")
        return cls(
            platform=key,
            wheels=tuple(d.get("wheels", ())),
            python=tuple(d.get("python", ())),
            free_threaded=tuple(d.get("free_threaded", ())),
            cxx11_abi=d.get("cxx11_abi"),
            pypi=TorchVariant.from_dict(f"cu{pypi['cuda'].replace('.', '')}", pypi) if pypi else None,
            variants={tag: TorchVariant.from_dict(tag, v) for tag, v in d.get("variants", {}).items()},
            rocm={tag: RocmVariant.from_dict(tag, v) for tag, v in d.get("rocm", {}).items()},
            complete=bool(d.get("complete", True)),
        )


@dataclass(frozen=True, kw_only=True)
class TorchRelease:
    """One torch release. The flat fields are the Linux x86_64 view the planner reads; ``builds`` has every
    platform."""

    version: Version
    python: tuple[str, ...]
    cxx11_abi: bool
    pypi_cuda: CudaVersion
    platforms: tuple[str, ...]  # every PyPI wheel platform tag, all platforms
    variants: Mapping[str, TorchVariant]  # Linux x86_64, advertised CUDA variants
    torchvision: str | None
    torchaudio: str | None
    uploaded: date | None = None
    # torchvision / torchaudio releases whose Requires-Dist admits this torch (built-for first): what a pin of
    # someone else's may take (vLLM 0.33 pins torchaudio==2.11.0, which names no torch, next to torch 2.14.0)
    compatible: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    raw_platforms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    _parsed: dict[str, TorchPlatform] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TorchRelease:
        """Parses the Linux x86_64 part (the flat fields); the other platforms on first ``on()``."""
        raw = d["platforms"]
        if "linux-x86_64" not in raw:
            raise ValueError(f"torch {d['version']}: no Linux x86_64 wheel on PyPI")
        x86 = TorchPlatform.from_dict("linux-x86_64", raw["linux-x86_64"])
        if x86.pypi_cuda is None:
            raise ValueError(f"torch {d['version']}: no Linux x86_64 CUDA build on PyPI")
        return cls(
            version=Version(d["version"]),
            python=x86.python,
            cxx11_abi=bool(x86.cxx11_abi),
            pypi_cuda=x86.pypi_cuda,
            platforms=tuple(sorted({t for p in raw.values() for t in p.get("wheels", ())})),
            variants={tag: v for tag, v in x86.variants.items() if v.advertised},
            torchvision=d.get("torchvision"),
            torchaudio=d.get("torchaudio"),
            uploaded=date.fromisoformat(d["uploaded"]) if d.get("uploaded") else None,
            compatible={k: tuple(v) for k, v in d.get("compatible", {}).items()},
            raw_platforms=raw,
            _parsed={"linux-x86_64": x86},
        )

    @property
    def builds(self) -> Mapping[str, TorchPlatform]:
        """Every platform of the release (all parsed)."""
        return {key: p for key in self.raw_platforms if (p := self._platform(key)) is not None}

    def _platform(self, key: str) -> TorchPlatform | None:
        got = self._parsed.get(key)
        if got is None and key in self.raw_platforms:
            got = self._parsed[key] = TorchPlatform.from_dict(key, self.raw_platforms[key])
        return got

    def companion(self, name: str, spec: SpecifierSet | None = None) -> str | None:
        """The torchvision / torchaudio to install with this torch. Unpinned (``spec`` empty): the release built
        for it, or None. Pinned (by the user, an engine or a framework): the built-for release when it fits the
        pin, else the newest release that fits and whose metadata admits this torch — the pinner's choice."""
        built = getattr(self, name)
        if not spec or not str(spec):
            return built  # type: ignore[no-any-return]
        if built is not None and spec.contains(built, prereleases=True):
            return built  # type: ignore[no-any-return]
        fits = [v for v in self.compatible.get(name, ()) if spec.contains(v, prereleases=True)]
        return max(fits, key=Version) if fits else None

    def on(self, os: str, arch: str) -> TorchPlatform | None:
        """This release on a platform (``on("linux", "aarch64")``); None when PyPI and the index have nothing."""
        return self._platform(platform_key(os, arch))

    def abi_of(self, variant: str | Backend) -> bool:
        """The C++ ABI (``torch._C._GLIBCXX_USE_CXX11_ABI``) of this release's Linux x86_64 ``variant`` build."""
        v = self.variants.get(str(variant))
        return self.cxx11_abi if v is None or v.cxx11_abi is None else v.cxx11_abi

    def has_platform(self, os: str, arch: str) -> bool:
        """Does PyPI carry a wheel of this release for the platform (manylinux / macosx / win tag)?"""
        key = platform_key(os, arch)
        return any(wheel_tag_platform(p) == key for p in self.platforms)


class TorchTable(NamedTuple):
    """The table: releases newest first, its sources and date (a NamedTuple: one fewer class to build at start)."""

    releases: tuple[TorchRelease, ...]  # newest first
    sources: Mapping[str, str]
    verified: str  # the date the table was read (or, for curated parts, checked)
    torch_index: str | None = None  # the PyTorch index it was read from

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TorchTable:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"schema is {d.get('schema')!r}, llmenv reads torch tables of schema {SCHEMA}")
        releases = sorted((TorchRelease.from_dict(r) for r in d["releases"]), key=lambda r: r.version)
        if not releases:
            raise ValueError("the table lists no release")
        return cls(
            releases=tuple(reversed(releases)),
            sources=d["sources"],
            verified=str(d["verified"]),
            torch_index=d.get("index"),
        )

    def release(self, version: Version | str) -> TorchRelease | None:
        v = Version(str(version))
        return next((r for r in self.releases if r.version == v), None)

    def check(self) -> None:
        """Parse every platform of every release now (platforms are otherwise parsed on first use): a table
        written by someone else fails here, at load, rather than in the middle of a plan."""
        for r in self.releases:
            _ = r.builds
