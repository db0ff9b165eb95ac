"""Detect the machine: a chain of probes, each with a pure parser, every edge injected.

Order (the first probe that knows a value wins): environment overrides (``LLMENV_DRIVER``, ``LLMENV_GPU``,
``LLMENV_CUDA``, ``LLMENV_ARCH``), NVML, ``nvidia-smi``, ``/proc/driver/nvidia/version`` and
``/sys/module/nvidia/version``. AMD GPUs and the ROCm release come from ``llmenv.amd.probe`` (KFD topology, AMD's
tools, ``/opt/rocm/.info/version``; ``LLMENV_ROCM`` and gfx names in ``LLMENV_GPU`` override). A probe that fails
is skipped, never fatal. No NVIDIA driver and no AMD GPU means a CPU target.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmenv import amd
from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.errors import UsageError
from llmenv.target import (
    Gpu,
    Target,
    gpus_from_capabilities,
    parse_arch,
    parse_driver_version,
    split_gpu_flags,
)

__all__ = [
    "NvmlReading",
    "System",
    "detect",
    "machine_platform",
    "parse_meminfo",
    "parse_nvcc_version",
    "parse_nvidia_smi_header",
    "parse_nvidia_smi_query",
    "parse_proc_driver_version",
    "with_build_facts",
]

Runner = Callable[[Sequence[str]], "tuple[int, str] | None"]


@dataclass(frozen=True, kw_only=True)
class NvmlReading:
    driver: str
    cuda_driver_version: int | None  # cuDriverGetVersion(), e.g. 13000
    gpus: tuple[Gpu, ...]


def _real_run(argv: Sequence[str]) -> tuple[int, str] | None:
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.returncode, p.stdout


def _real_read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _real_listdir(path: str) -> list[str] | None:
    try:
        return os.listdir(path)
    except OSError:
        return None


def _nvml_memory(pynvml: Any, handle: Any) -> int | None:
    """Total memory in MiB; None where NVML cannot say (DGX Spark's GB10 shares the CPU's memory, and
    nvmlDeviceGetMemoryInfo answers NOT_SUPPORTED: NVIDIA DGX Spark known issues, snowflakedb/ArcticTraining#345)."""
    try:
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024)
    except Exception:
        return None


def _real_nvml() -> NvmlReading | None:
    try:
        import pynvml  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: no NVIDIA driver here
        return None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        try:
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
        except Exception:
            cuda = None
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            gpus.append(
                Gpu(name=name, capability=(int(major), int(minor)), memory_mib=_nvml_memory(pynvml, h))
            )
        return NvmlReading(driver=driver, cuda_driver_version=cuda, gpus=tuple(gpus))
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _glibc() -> str | None:
    try:
        v = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    if v and v.startswith("glibc "):
        return v.split()[1]
    return None


@dataclass(frozen=True, kw_only=True)
class System:
    """Every edge detection touches. ``System()`` is this machine; tests pass fakes."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    run: Runner = _real_run
    read_text: Callable[[str], str | None] = _real_read
    listdir: Callable[[str], list[str] | None] = _real_listdir
    which: Callable[[str], str | None] = shutil.which
    nvml: Callable[[], NvmlReading | None] = _real_nvml
    os_name: str = field(default_factory=lambda: {"win32": "windows"}.get(sys.platform, sys.platform))
    machine: str = field(default_factory=platform.machine)
    python: str = field(default_factory=lambda: f"{sys.version_info.major}.{sys.version_info.minor}")
    cpus: Callable[[], int] = _cpus
    glibc: Callable[[], str | None] = _glibc
    # Runs long programs (the doctor's probe: a cold torch import can take minutes); None: the real runner.
    run_long: Runner | None = None
    # Where an image's files are read from (llmenv.base: NGC / pytorch images); tests point it at a fake tree.
    root: str = "/"


# ---------------------------------------------------------------------------------------------- parsers

# R610+ drivers print ``KMD Version:`` / ``CUDA UMD Version:`` where older ones print ``Driver Version:`` /
# ``CUDA Version:`` (facts I2): both are read, or a new driver would look like no driver at all.
_SMI_HEADER = re.compile(r"(?:Driver|KMD) Version:\s*([\d.]+)\s+CUDA(?: UMD)? Version:\s*([\d.]+)")
_PROC_DRIVER = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+([\d]{3}(?:\.[\d]+){1,2})")
_NVCC = re.compile(r"release\s+(\d+\.\d+),\s*V(\d+\.\d+\.\d+)")


def parse_nvidia_smi_header(text: str) -> tuple[str, CudaVersion] | None:
    """``Driver Version: 580.159.04     CUDA Version: 13.0`` -> ("580.159.04", 13.0); the R610+ banner
    ``KMD Version: 610.43.02     CUDA UMD Version: 13.3`` -> ("610.43.02", 13.3)."""
    m = _SMI_HEADER.search(text)
    if not m:
        return None
    return m.group(1), parse_cuda_version(m.group(2))


def parse_nvidia_smi_query(text: str) -> list[dict[str, Any]]:
    """Rows of ``nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv[,noheader]``."""
    rows = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or parts[0] == "name":
            continue
        name, driver, cc, mem = parts[:4]
        try:
            driver = parse_driver_version(driver)
            gpu = gpus_from_capabilities([cc], name=name)[0]
        except UsageError:
            continue
        m = re.match(r"(\d+)", mem)
        rows.append(
            {
                "driver": driver,
                "gpu": Gpu(name=name, capability=gpu.capability, memory_mib=int(m.group(1)) if m else None),
            }
        )
    return rows


def parse_proc_driver_version(text: str) -> str | None:
    """``/proc/driver/nvidia/version`` (or ``/sys/module/nvidia/version``) -> the driver version."""
    s = text.strip()
    if re.fullmatch(r"\d{3}(\.\d+){1,2}", s):
        return s
    m = _PROC_DRIVER.search(text)
    return m.group(1) if m else None


def parse_nvcc_version(text: str) -> str | None:
    """``nvcc --version`` -> ``13.0.88``."""
    m = _NVCC.search(text)
    return m.group(2) if m else None


def parse_meminfo(text: str) -> float | None:
    """``/proc/meminfo`` -> total memory in GiB."""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) / (1024 * 1024) if m else None


# ---------------------------------------------------------------------------------------------- probes


def _env_probe(sys_: System) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env = sys_.environ
    if env.get("LLMENV_DRIVER"):
        out["driver"] = parse_driver_version(env["LLMENV_DRIVER"])
    if env.get("LLMENV_GPU"):
        nvidia, amd_gpus = split_gpu_flags(env["LLMENV_GPU"].split(","))
        if nvidia:
            out["gpus"] = gpus_from_capabilities(nvidia)
        if amd_gpus:
            out["amd_gpus"] = amd_gpus
    if env.get("LLMENV_CUDA"):
        out["cuda"] = (
            None if env["LLMENV_CUDA"].strip().lower() == "cpu" else parse_cuda_version(env["LLMENV_CUDA"])
        )
    return out


def _nvml_probe(sys_: System) -> dict[str, Any]:
    r = sys_.nvml()
    if r is None:
        return {}
    out: dict[str, Any] = {"driver": r.driver, "gpus": r.gpus}
    if r.cuda_driver_version:
        out["cuda"] = CudaVersion(r.cuda_driver_version // 1000, (r.cuda_driver_version % 1000) // 10)
    return out


def _smi_probe(sys_: System) -> dict[str, Any]:
    if sys_.which("nvidia-smi") is None:
        return {}
    out: dict[str, Any] = {}
    q = sys_.run(
        [
            "nvidia-smi",
            "--query-gpu=name,driver_version,compute_cap,memory.total",
            "--format=csv,noheader",
        ]
    )
    if q and q[0] == 0:
        rows = parse_nvidia_smi_query(q[1])
        if rows:
            out["driver"] = rows[0]["driver"]
            out["gpus"] = tuple(r["gpu"] for r in rows)
    h = sys_.run(["nvidia-smi"])
    if h and h[0] == 0:
        parsed = parse_nvidia_smi_header(h[1])
        if parsed:
            out.setdefault("driver", parsed[0])
            out["cuda"] = parsed[1]
    return out


def _proc_probe(sys_: System) -> dict[str, Any]:
    for path in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
        text = sys_.read_text(path)
        if text:
            v = parse_proc_driver_version(text)
            if v:
                return {"driver": v}
    return {}


PROBES: tuple[tuple[str, Callable[[System], dict[str, Any]]], ...] = (
    ("environment", _env_probe),
    ("nvml", _nvml_probe),
    ("nvidia-smi", _smi_probe),
    ("/proc/driver/nvidia", _proc_probe),
)


_VERSION_JSON = re.compile(r'"cuda_nvcc"\s*:\s*\{[^}]*"version"\s*:\s*"(\d+\.\d+\.\d+)"')


def _nvcc_from_home(sys_: System, home: str) -> str | None:
    """``$CUDA_HOME/version.json`` (CUDA 11.1+) names nvcc's version: a file read instead of running nvcc."""
    text = sys_.read_text(os.path.join(home, "version.json"))
    m = _VERSION_JSON.search(text) if text else None
    return m.group(1) if m else None


def _nvcc(sys_: System) -> tuple[str | None, str | None]:
    env = sys_.environ
    home = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    candidates = []
    if home:
        candidates.append(os.path.join(home, "bin", "nvcc"))
    found = sys_.which("nvcc")
    if found:
        candidates.append(found)
    candidates.append("/usr/local/cuda/bin/nvcc")
    for c in candidates:
        quick = _nvcc_from_home(sys_, os.path.dirname(os.path.dirname(c)))
        if quick:
            return quick, home or os.path.dirname(os.path.dirname(c))
        r = sys_.run([c, "--version"])
        if r and r[0] == 0:
            v = parse_nvcc_version(r[1])
            if v:
                if not home:
                    home = os.path.dirname(os.path.dirname(os.path.realpath(c)))
                return v, home
    return None, home


def _amd_values(sys_: System, values: dict[str, Any], origins: dict[str, str]) -> None:
    """AMD GPUs and the ROCm release (``llmenv.amd.probe``) into ``values``; an ``LLMENV_GPU`` gfx override wins.
    A probe that breaks is skipped; a malformed ``LLMENV_ROCM`` is the user's input (UsageError)."""
    try:
        found = amd.probe(sys_)
    except UsageError:
        raise
    except Exception:
        return
    for key in ("amd_gpus", "rocm"):
        if key in found and key not in values:
            values[key] = found[key]
            origins[key] = found["origins"].get(key, "amd")


def _arch(sys_: System, origins: dict[str, str]) -> str:
    """This machine's CPU architecture in Target's names; ``LLMENV_ARCH`` overrides it."""
    if sys_.environ.get("LLMENV_ARCH"):
        arch = parse_arch(sys_.environ["LLMENV_ARCH"])
        origins["arch"] = "environment"
        return "arm64" if arch == "aarch64" and sys_.os_name == "darwin" else arch
    machine = sys_.machine.lower()
    return {"amd64": "x86_64", "arm64": "arm64" if sys_.os_name == "darwin" else "aarch64"}.get(
        machine, machine
    )


def _gpu_values(sys_: System) -> tuple[dict[str, Any], dict[str, str]]:
    """The driver, its CUDA and the GPUs: the first probe that knows each wins; probing stops once all three
    are known (NVML alone answers them, so nvidia-smi is never started on a machine with NVML)."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, probe in PROBES:
        if {"driver", "cuda", "gpus"} <= set(values):
            break
        try:
            found = probe(sys_)
        except UsageError:
            if name == "environment":
                raise  # a malformed LLMENV_* override is the user's input: say so
            continue
        except Exception:  # a probe that breaks is skipped, never fatal
            continue
        for key, value in found.items():
            if key not in values:
                values[key] = value
                origins[key] = name
    return values, origins


def _memory(sys_: System) -> float:
    mem_text = sys_.read_text("/proc/meminfo")
    memory = parse_meminfo(mem_text) if mem_text else None
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
        except (ValueError, OSError, AttributeError):
            memory = 8.0
    return memory


def machine_platform(sys_: System) -> tuple[str, str]:
    """This machine's OS and architecture in a Target's names (``linux``, ``aarch64``)."""
    return (sys_.os_name if sys_.os_name in ("linux", "darwin", "windows") else "linux"), _arch(sys_, {})


def with_build_facts(target: Target, sys_: System | None = None) -> Target:
    """Fill in what a source build on this machine is checked against: its nvcc (and CUDA_HOME), probed only
    now that a build is planned. Cores and memory are not: MAX_JOBS is sized only from what was said of the
    build machine (``--cpus`` / ``--memory``); without them flash-attn's setup.py sizes it when it builds."""
    if target.nvcc is not None:
        return target
    nvcc, home = _nvcc(sys_ or System())
    return target.with_(nvcc=nvcc, cuda_home=home)


def _base(sys_: System) -> Any:
    """The base environment of the image llmenv runs in (NGC, pytorch/pytorch), read from files; None."""
    from llmenv.base import Files, find_base

    try:
        return find_base(sys_.environ, Files(root=sys_.root))
    except Exception:  # a probe that breaks is skipped, never fatal
        return None


def detect(sys_: System | None = None, *, gpu: bool = True, build: bool = True) -> Target:
    """Detect this machine (or the one ``sys_`` fakes). ``gpu=False`` skips the driver / GPU probes (the
    target's GPU side comes from flags); ``build=False`` skips what only ``detect`` shows and a source build
    checks (nvcc, cores, memory: ``with_build_facts`` probes nvcc later, when a build is planned)."""
    sys_ = sys_ or System()
    values, origins = _gpu_values(sys_) if gpu else ({}, {})
    if gpu:
        _amd_values(sys_, values, origins)
    driver = values.get("driver")
    if origins.get("cuda") not in (origins.get("driver"), "environment"):
        # The driver's CUDA must come from the probe that found the driver (an LLMENV_DRIVER override wins
        # over NVML's driver, so NVML's CUDA no longer applies).
        values.pop("cuda", None)
    if "cuda" not in values and driver:
        from llmenv.knowledge import load

        values["cuda"] = load().cuda.max_cuda(driver)
        origins["cuda"] = "driver (CUDA release notes, Table 3)"
    os_name, arch = machine_platform(sys_)
    _arch(sys_, origins)  # records where the architecture came from (LLMENV_ARCH)
    target = Target(
        os=os_name,
        arch=arch,
        glibc=sys_.glibc(),
        python=sys_.python,
        cpus=None,
        memory_gib=None,
        driver=driver,
        # Without a driver the target is a CPU one, unless LLMENV_CUDA says otherwise.
        cuda=values.get("cuda") if driver or origins.get("cuda") == "environment" else None,
        gpus=tuple(values.get("gpus", ())),
        rocm=values.get("rocm"),
        amd_gpus=tuple(values.get("amd_gpus", ())),
        origins=origins,
    )
    base = _base(sys_)
    if base is not None:
        target = target.with_(base=base, origins={**origins, "base": base.origin})
    if not build:
        return target
    return with_build_facts(target, sys_).with_(cpus=sys_.cpus(), memory_gib=_memory(sys_))
