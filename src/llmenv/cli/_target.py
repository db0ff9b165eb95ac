"""The TARGET options shared by ``plan`` and ``init``: each one overrides what detection found."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from llmenv.backend import Backend, parse_rocm_version
from llmenv.errors import UsageError
from llmenv.target import (
    Target,
    gpus_from_capabilities,
    parse_arch,
    parse_driver_version,
    parse_platform,
    parse_python_version,
    split_gpu_flags,
)

__all__ = [
    "POLICIES",
    "add_target_arguments",
    "described_by_flags",
    "flags_target",
    "resolve_target",
    "target_flags",
]

POLICIES = ("strict", "minor")


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target (each overrides detection; plan for another machine)")
    g.add_argument("--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 550.54.14")
    g.add_argument("--cuda", metavar="X.Y|cpu", help="highest CUDA the target driver supports, or cpu")
    g.add_argument(
        "--gpu",
        metavar="CC|gfxNNN",
        action="append",
        help="NVIDIA compute capability (9.0) or AMD architecture (gfx942); repeatable",
    )
    g.add_argument(
        "--python",
        metavar="X.Y",
        help="target Python version, e.g. 3.12 (without it: this machine's when the stack works there, else the "
        "highest every chosen package has wheels for)",
    )
    g.add_argument(
        "--arch", choices=("x86_64", "aarch64"), help="target CPU architecture (default: this machine's)"
    )
    g.add_argument(
        "--rocm", metavar="X.Y", help="the ROCm release of an AMD target (its driver stack), e.g. 6.4"
    )
    g.add_argument(
        "--platform",
        metavar="OS-ARCH",
        action="append",
        help="lock for this platform (linux-x86_64, linux-aarch64, darwin-arm64, windows-x86_64); repeatable: "
        "one lock for several platforms (default: the target's)",
    )
    g.add_argument("--cpus", metavar="N", type=int, help="CPU cores (sizes source builds)")
    g.add_argument("--memory", metavar="GIB", type=float, help="memory in GiB (sizes source builds)")
    g.add_argument(
        "--cuda-policy",
        choices=POLICIES,
        help="strict (default): no CUDA build newer than the driver's CUDA; "
        "minor: allow newer minors of the same major (CUDA minor-version compatibility)",
    )
    from llmenv.cli._base import add_base_argument

    add_base_argument(g)


def target_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The TARGET flags the user gave, as the plain values recorded in ``[tool.llmenv.target]``."""
    out: dict[str, Any] = {}
    for key in ("driver", "cuda", "python", "cpus", "memory", "arch", "rocm"):
        v = getattr(args, key, None)
        if v is not None:
            out[key] = v
    if getattr(args, "gpu", None):
        out["gpu"] = list(args.gpu)
    if getattr(args, "platform", None):
        out["platform"] = list(args.platform)
    return out


def _rocm_flags(flags: Mapping[str, Any], changes: dict[str, Any], amd: tuple[Any, ...]) -> None:
    """``--rocm X.Y`` (or ``--cuda rocmX.Y``) and ``--gpu gfxNNN``: an AMD target, which has no NVIDIA driver."""
    rocm = flags.get("rocm")
    cuda = str(flags.get("cuda") or "")
    if cuda.lower().startswith("rocm"):
        if rocm is not None:
            raise UsageError(f"--cuda {cuda} and --rocm {rocm}: give the ROCm release once (--rocm X.Y)")
        rocm = cuda[4:]
    if rocm is None and not amd:
        if flags.get("driver") is not None or cuda:  # an NVIDIA (or CPU) target: no AMD GPU of this machine
            changes.update(rocm=None, amd_gpus=())
        return
    if cuda.lower() == "cpu":
        raise UsageError("--cuda cpu and --rocm / --gpu gfxNNN contradict each other")
    nvidia = (
        flags.get("driver") is not None
        or (cuda and not cuda.lower().startswith("rocm"))
        or changes.get("gpus")
    )
    if nvidia:
        raise UsageError(
            "--rocm / --gpu gfxNNN (an AMD target) and --driver / --cuda / --gpu CC (an NVIDIA one) describe "
            "different machines: plan them apart"
        )
    if rocm is not None:
        changes["rocm"] = parse_rocm_version(str(rocm))
    if amd:
        changes["amd_gpus"] = amd
    changes.update(cuda=None, driver=None, gpus=())


def _platform_flags(flags: Mapping[str, Any], changes: dict[str, Any], detected: Target) -> None:
    """``--arch`` and ``--platform``: the target's own platform and the platforms the lock covers."""
    if flags.get("arch") is not None:
        changes["arch"] = parse_arch(str(flags["arch"]))
        if detected.os == "darwin":
            changes["os"] = "linux"  # x86_64 / aarch64 name a Linux machine (a Mac plans for its cluster)
    if not flags.get("platform"):
        return
    platforms = tuple(dict.fromkeys(parse_platform(str(p)) for p in flags["platform"]))
    own = f"{changes.get('os', detected.os)}-{changes.get('arch', detected.arch)}"
    if own not in platforms:
        if flags.get("arch") is not None:
            raise UsageError(
                f"--arch {flags['arch']} is not among the --platform values ({', '.join(platforms)})"
            )
        os_, _, arch = platforms[0].partition("-")
        changes.update(os=os_, arch=arch)
    changes["platforms"] = platforms


def described_by_flags(flags: Mapping[str, Any]) -> bool:
    """``--driver``, ``--cuda``, ``--rocm`` or an AMD ``--gpu gfxNNN`` describe another machine: nothing of this
    one (GPUs, cores, memory, nvcc, glibc, Python) goes into the target unless given too."""
    amd = any(
        str(g).strip().lower().startswith("gfx")
        for item in flags.get("gpu") or ()
        for g in str(item).split(",")
    )
    return (
        flags.get("driver") is not None
        or flags.get("cuda") is not None
        or flags.get("rocm") is not None
        or amd
    )


def flags_target(machine_os: str, machine_arch: str, flags: Mapping[str, Any]) -> Target:
    """The base of a target described by flags: this machine's OS and architecture at most (an NVIDIA driver
    means Linux when this machine is a Mac), nothing else (the caller may add this machine's Python as the
    preferred one)."""
    os_ = (
        machine_os
        if machine_os in ("linux", "windows") or str(flags.get("cuda", "")).lower() == "cpu"
        else "linux"
    )
    return Target(os=os_, arch=machine_arch, glibc=None, python="3.12", cpus=None, memory_gib=None)


def _cuda_for(flags: Mapping[str, Any], changes: dict[str, Any]) -> None:
    """``--cuda X.Y`` (with or without ``--driver``): the driver's CUDA. Alone it invents no driver; with a
    driver that supports another CUDA it is bad input."""
    from llmenv.knowledge import load

    b = Backend.parse(str(flags["cuda"]))
    if b.is_cpu:
        if "driver" in changes:
            raise UsageError(f"--driver {changes['driver']} and --cuda cpu contradict each other")
        changes.update(cuda=None, driver=None, gpus=())
        return
    if not b.is_cuda:
        raise UsageError(f"--cuda {flags['cuda']}: expected X.Y, cuXYZ or cpu (an AMD target: --rocm X.Y)")
    cuda = b.cuda_version
    assert cuda is not None
    known = [c for c, _ in load().cuda.toolkits]
    if cuda < known[0]:
        raise UsageError(f"--cuda {flags['cuda']} is older than any CUDA llmenv knows (oldest: {known[0]})")
    if "driver" in changes:
        drv_cuda = changes["cuda"]
        newer = cuda > known[-1] and drv_cuda == known[-1]  # a driver at least as new as the table's newest
        if cuda != drv_cuda and not newer:
            raise UsageError(
                f"--driver {changes['driver']} supports CUDA {drv_cuda} (NVIDIA release notes, Table 3), not "
                f"--cuda {flags['cuda']}: give one of them, or both for the same machine"
            )
    # A --cuda newer than the CUDA table, or one whose floor is unknown (13.4, 13.5), is accepted: the driver
    # stays unknown, and llmenv.knowledge.horizon.cuda_warnings says what is unknown (issue 13).
    changes["cuda"] = cuda


def resolve_target(detected: Target, flags: Mapping[str, Any]) -> Target:
    """Apply TARGET flags (validated: a bad value is a UsageError) on top of the base target."""
    from llmenv.knowledge import load

    changes: dict[str, Any] = {}
    if flags.get("cpus") is not None:
        if int(flags["cpus"]) < 1:
            raise UsageError(f"--cpus must be at least 1, not {flags['cpus']}")
        changes["cpus"] = int(flags["cpus"])
    if flags.get("memory") is not None:
        if not math.isfinite(float(flags["memory"])) or float(flags["memory"]) <= 0:  # nan, inf: bad input
            raise UsageError(f"--memory must be a positive number of GiB, not {flags['memory']}")
        changes["memory_gib"] = float(flags["memory"])
    if flags.get("python") is not None:
        changes["python"] = parse_python_version(str(flags["python"]))
    amd: tuple[Any, ...] = ()
    if flags.get("gpu"):
        ccs: list[str] = []
        for item in flags["gpu"]:
            ccs.extend(str(item).split(","))
        nvidia, amd = split_gpu_flags(ccs)
        if nvidia:
            changes["gpus"] = gpus_from_capabilities(nvidia)
    _platform_flags(flags, changes, detected)
    _rocm_flags(flags, changes, amd)
    if flags.get("driver") is not None:
        driver = parse_driver_version(str(flags["driver"]))
        cuda = load().cuda.max_cuda(driver)
        if cuda is None:
            raise UsageError(
                f"driver {driver} is older than any CUDA llmenv knows (CUDA 11.8 needs 520.61.05)"
            )
        changes["driver"] = driver
        changes["cuda"] = cuda
    if flags.get("cuda") is not None and not str(flags["cuda"]).lower().startswith("rocm"):
        _cuda_for(flags, changes)
    if changes.get("gpus") and detected.cuda is None and changes.get("cuda") is None:
        raise UsageError("--gpu needs a driver: add --driver VERSION or --cuda X.Y (this machine has none)")
    origins = dict(detected.origins)
    for key in flags:
        name = {"memory": "memory_gib", "gpu": "amd_gpus" if "amd_gpus" in changes else "gpus"}.get(key, key)
        origins[{"platform": "platforms"}.get(name, name)] = f"--{key}"
    return detected.with_(**changes, origins=origins)
