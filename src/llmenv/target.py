"""The machine a plan is made for, as data.

Detection fills a Target for this machine; command-line flags fill or override it for another machine (a
login node planning for the cluster's GPUs). Raw dicts stop here: ``Target.from_dict`` validates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from llmenv.amd import AmdGpu, parse_gfx
from llmenv.backend import CudaVersion, RocmVersion, parse_cuda_version, parse_rocm_version
from llmenv.errors import UsageError

if TYPE_CHECKING:
    from llmenv.base.model import BaseEnvironment

__all__ = [
    "PLATFORMS",
    "AmdGpu",
    "Gpu",
    "Target",
    "parse_arch",
    "parse_compute_capability",
    "parse_driver_version",
    "parse_platform",
    "parse_python_version",
    "split_gpu_flags",
]

# The platforms a lock can be made for (``--platform OS-ARCH``), as ``Target.platform`` names them.
PLATFORMS = ("linux-x86_64", "linux-aarch64", "darwin-arm64", "darwin-x86_64", "windows-x86_64")
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64"}

_CC_RE = re.compile(r"^(?:sm_?)?(\d{1,2})\.?(\d)$")
_DRIVER_RE = re.compile(r"^\d{3}(\.\d{1,3}){0,2}$")
# Compute capabilities of real NVIDIA GPUs, Kepler through Blackwell (CUDA programming guide, "Compute
# Capabilities" table).
KNOWN_CCS = frozenset(
    {
        (3, 5),
        (3, 7),
        (5, 0),
        (5, 2),
        (5, 3),
        (6, 0),
        (6, 1),
        (6, 2),
        (7, 0),
        (7, 2),
        (7, 5),
        (8, 0),
        (8, 6),
        (8, 7),
        (8, 9),
        (9, 0),
        (10, 0),
        (10, 1),
        (10, 3),
        (11, 0),
        (12, 0),
        (12, 1),
    }
)


def parse_compute_capability(text: str) -> tuple[int, int]:
    """``9.0``, ``90``, ``sm_90`` -> (9, 0). UsageError for anything no GPU has (``99``)."""
    s = text.strip().lower()
    m = _CC_RE.match(s)
    if not m or (int(m.group(1)), int(m.group(2))) not in KNOWN_CCS:
        raise UsageError(f"not a GPU compute capability: {text!r} (expected e.g. 8.0, 8.6, 9.0, 12.0)")
    return int(m.group(1)), int(m.group(2))


def parse_driver_version(text: str) -> str:
    """Validate an NVIDIA Linux driver version such as ``550.54.14``; returns it stripped."""
    s = text.strip()
    if not _DRIVER_RE.match(s):
        raise UsageError(f"not an NVIDIA driver version: {text!r} (expected e.g. 550.54.14)")
    return s


def parse_arch(text: str) -> str:
    """``x86_64`` / ``amd64`` -> ``x86_64``; ``aarch64`` / ``arm64`` -> ``aarch64`` (a Linux target's names)."""
    s = text.strip().lower()
    arch = _ARCH_ALIASES.get(s, s)
    if arch not in ("x86_64", "aarch64"):
        raise UsageError(f"not a CPU architecture llmenv plans for: {text!r} (expected x86_64 or aarch64)")
    return arch


def parse_platform(text: str) -> str:
    """``linux-aarch64``, ``linux_x86_64``, ``linux-arm64``, ``macos-arm64`` -> one of PLATFORMS."""
    s = text.strip().lower()
    os_, sep, arch = s.partition("-")
    if not sep:  # linux_x86_64, as wheel tags spell it
        os_, _, arch = s.partition("_")
    os_ = {"macos": "darwin", "mac": "darwin", "osx": "darwin", "win": "windows", "win32": "windows"}.get(
        os_, os_
    )
    arch = {"amd64": "x86_64", "x64": "x86_64"}.get(arch, arch)
    if os_ == "linux" and arch == "arm64":
        arch = "aarch64"
    if os_ == "darwin" and arch == "aarch64":
        arch = "arm64"
    key = f"{os_}-{arch}"
    if key not in PLATFORMS:
        raise UsageError(
            f"not a platform llmenv can lock for: {text!r} (expected one of {', '.join(PLATFORMS)})"
        )
    return key


def parse_python_version(text: str) -> str:
    """``3.12`` or ``3.12.3`` -> ``3.12`` (major.minor, what wheels and markers care about)."""
    try:
        v = Version(text.strip())
    except InvalidVersion:
        raise UsageError(f"not a Python version: {text!r} (expected e.g. 3.12)") from None
    if len(v.release) < 2:
        raise UsageError(f"not a Python version: {text!r} (expected e.g. 3.12)")
    if v.major != 3 or v.minor > 30:
        raise UsageError(f"not a Python version llmenv can plan for: {text!r}")
    return f"{v.major}.{v.minor}"


@dataclass(frozen=True, kw_only=True)
class Gpu:
    name: str
    capability: tuple[int, int]
    memory_mib: int | None = None

    @property
    def cc(self) -> str:
        return f"{self.capability[0]}.{self.capability[1]}"

    @property
    def sm(self) -> str:
        """``sm_90`` style name."""
        return f"sm_{self.capability[0]}{self.capability[1]}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compute_capability": self.cc, "memory_mib": self.memory_mib}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Gpu:
        return cls(
            name=str(d.get("name") or "GPU"),
            capability=parse_compute_capability(str(d["compute_capability"])),
            memory_mib=int(d["memory_mib"]) if d.get("memory_mib") is not None else None,
        )


@dataclass(frozen=True, kw_only=True)
class Target:
    """What a plan depends on. ``cuda`` is the highest CUDA the driver supports (None: no NVIDIA driver).

    An AMD target has ``amd_gpus`` (their gfx targets) and/or ``rocm`` (the host's ROCm release: its driver
    stack decides which ROCm builds run, facts H8); it is never a CPU target. ``platforms``: the platforms one
    lock covers (``--platform``, ``linux-x86_64`` ...); empty means this target's own."""

    os: str = "linux"  # linux | darwin | windows
    arch: str = "x86_64"  # x86_64 | aarch64 | arm64
    glibc: str | None = None
    python: str = "3.12"
    # None: unknown (a target described by flags takes no cores / memory / nvcc / glibc from this machine)
    cpus: int | None = 1
    memory_gib: float | None = 8.0
    driver: str | None = None
    cuda: CudaVersion | None = None
    gpus: tuple[Gpu, ...] = ()
    nvcc: str | None = None
    cuda_home: str | None = None
    rocm: RocmVersion | None = None
    amd_gpus: tuple[AmdGpu, ...] = ()
    platforms: tuple[str, ...] = ()
    # Where each value came from ("nvml", "nvidia-smi", "--driver", ...): shown by ``detect``.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The base environment whose torch and packages are fixed (a container's, --base-python): llmenv.base.
    base: BaseEnvironment | None = field(default=None, compare=False)

    @property
    def accelerator(self) -> str:
        """``cuda`` (an NVIDIA driver: it wins on a mixed host, as in uv), ``rocm`` (AMD GPUs or a ROCm
        release) or ``cpu``."""
        if self.cuda is not None:
            return "cuda"
        if self.rocm is not None or self.amd_gpus:
            return "rocm"
        return "cpu"

    @property
    def is_cpu(self) -> bool:
        return self.accelerator == "cpu"

    @property
    def is_rocm(self) -> bool:
        return self.accelerator == "rocm"

    @property
    def gfx(self) -> tuple[str, ...]:
        """Distinct gfx targets of the AMD GPUs, sorted."""
        return tuple(sorted({g.gfx for g in self.amd_gpus}))

    @property
    def lock_platforms(self) -> tuple[str, ...]:
        """The platforms the lock covers, this target's first."""
        return tuple(dict.fromkeys((self.platform, *self.platforms)))

    @property
    def capabilities(self) -> tuple[tuple[int, int], ...]:
        """Distinct compute capabilities of the target GPUs, sorted."""
        return tuple(sorted({g.capability for g in self.gpus}))

    @property
    def platform(self) -> str:
        return f"{self.os}-{self.arch}"

    def with_(self, **changes: Any) -> Target:
        return replace(self, **changes)

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker environment of this target (for ``Marker.evaluate``)."""
        sys_platform = {"linux": "linux", "darwin": "darwin", "windows": "win32"}[self.os]
        machine = {"arm64": "arm64" if self.os == "darwin" else "aarch64"}.get(self.arch, self.arch)
        if self.os == "windows":
            machine = {"x86_64": "AMD64", "amd64": "AMD64", "arm64": "ARM64"}.get(self.arch, self.arch)
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": "nt" if self.os == "windows" else "posix",
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": {"linux": "Linux", "darwin": "Darwin", "windows": "Windows"}[self.os],
            "platform_version": "",
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": sys_platform,
        }

    def platform_marker(self) -> str:
        """PEP 508 marker of this target's platform (``sys_platform == 'linux' and platform_machine == 'x86_64'``)."""
        env = self.marker_environment()
        if self.os == "windows":
            return "sys_platform == 'win32'"
        return f"sys_platform == '{env['sys_platform']}' and platform_machine == '{env['platform_machine']}'"

    def to_dict(self) -> dict[str, Any]:
        return {
            "os": self.os,
            "arch": self.arch,
            "glibc": self.glibc,
            "python": self.python,
            "cpus": self.cpus,
            "memory_gib": round(self.memory_gib, 1) if self.memory_gib is not None else None,
            "driver": self.driver,
            "cuda": str(self.cuda) if self.cuda else None,
            "gpus": [g.to_dict() for g in self.gpus],
            "nvcc": self.nvcc,
            "cuda_home": self.cuda_home,
            **({"rocm": str(self.rocm) if self.rocm else None} if self.is_rocm else {}),
            **({"amd_gpus": [g.to_dict() for g in self.amd_gpus]} if self.amd_gpus else {}),
            **({"platforms": list(self.lock_platforms)} if self.platforms else {}),
            **({"base": self.base.to_dict()} if self.base is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Target:
        cuda = d.get("cuda")
        driver = d.get("driver")
        return cls(
            os=str(d.get("os", "linux")),
            arch=str(d.get("arch", "x86_64")),
            glibc=d.get("glibc"),
            python=parse_python_version(str(d.get("python", "3.12"))),
            cpus=int(d["cpus"]) if d.get("cpus") is not None else None,
            memory_gib=float(d["memory_gib"]) if d.get("memory_gib") is not None else None,
            driver=parse_driver_version(str(driver)) if driver else None,
            cuda=parse_cuda_version(str(cuda)) if cuda else None,
            gpus=tuple(Gpu.from_dict(g) for g in d.get("gpus", ()) or ()),
            nvcc=d.get("nvcc"),
            cuda_home=d.get("cuda_home"),
            rocm=parse_rocm_version(str(d["rocm"])) if d.get("rocm") else None,
            amd_gpus=tuple(AmdGpu.from_dict(g) for g in d.get("amd_gpus", ()) or ()),
            platforms=tuple(parse_platform(str(p)) for p in d.get("platforms", ()) or ()),
        )


def gpus_from_capabilities(ccs: Iterable[str], name: str = "GPU") -> tuple[Gpu, ...]:
    """``["9.0", "8.6"]`` -> GPUs with those compute capabilities (names unknown)."""
    return tuple(Gpu(name=name, capability=parse_compute_capability(c)) for c in ccs if c.strip())


def split_gpu_flags(items: Iterable[str]) -> tuple[list[str], tuple[AmdGpu, ...]]:
    """``--gpu`` / ``LLMENV_GPU`` values -> (NVIDIA compute capabilities, AMD GPUs): ``9.0`` is an NVIDIA GPU,
    ``gfx942`` an AMD one (validated: UsageError for a name no GPU has)."""
    nvidia: list[str] = []
    amd: list[AmdGpu] = []
    for item in items:
        s = item.strip()
        if not s:
            continue
        if s.lower().startswith("gfx"):
            gfx = parse_gfx(s)
            amd.append(AmdGpu(name=f"AMD GPU ({gfx})", gfx=gfx))
        else:
            nvidia.append(s)
    return nvidia, tuple(amd)
