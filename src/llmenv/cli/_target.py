"""The TARGET options shared by ``plan`` and ``init``: each one overrides what detection found."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from llmenv.backend import Backend
from llmenv.errors import UsageError
from llmenv.target import Target, gpus_from_capabilities, parse_driver_version, parse_python_version

__all__ = ["POLICIES", "add_target_arguments", "resolve_target", "target_flags"]

POLICIES = ("strict", "minor")


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target (each overrides detection; plan for another machine)")
    g.add_argument("--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 550.54.14")
    g.add_argument("--cuda", metavar="X.Y|cpu", help="highest CUDA the target driver supports, or cpu")
    g.add_argument(
        "--gpu", metavar="CC", action="append", help="GPU compute capability, e.g. 9.0 (repeatable)"
    )
    g.add_argument("--python", metavar="X.Y", help="target Python version, e.g. 3.12")
    g.add_argument("--cpus", metavar="N", type=int, help="CPU cores (sizes source builds)")
    g.add_argument("--memory", metavar="GIB", type=float, help="memory in GiB (sizes source builds)")
    g.add_argument(
        "--cuda-policy",
        choices=POLICIES,
        help="strict (default): no CUDA build newer than the driver's CUDA; "
        "minor: allow newer minors of the same major (CUDA minor-version compatibility)",
    )


def target_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The TARGET flags the user gave, as the plain values recorded in ``[tool.llmenv.target]``."""
    out: dict[str, Any] = {}
    for key in ("driver", "cuda", "python", "cpus", "memory"):
        v = getattr(args, key, None)
        if v is not None:
            out[key] = v
    if getattr(args, "gpu", None):
        out["gpu"] = list(args.gpu)
    return out


def resolve_target(detected: Target, flags: Mapping[str, Any]) -> Target:
    """Apply TARGET flags (validated: a bad value is a UsageError) on top of the detected target."""
    from llmenv.knowledge import load

    t = detected
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
    if flags.get("gpu"):
        ccs: list[str] = []
        for item in flags["gpu"]:
            ccs.extend(str(item).split(","))
        changes["gpus"] = gpus_from_capabilities(ccs)
    if flags.get("driver") is not None:
        driver = parse_driver_version(str(flags["driver"]))
        cuda = load().cuda.max_cuda(driver)
        if cuda is None:
            raise UsageError(
                f"driver {driver} is older than any CUDA llmenv knows (CUDA 11.8 needs 520.61.05)"
            )
        changes["driver"] = driver
        changes["cuda"] = cuda
    if flags.get("cuda") is not None:
        b = Backend.parse(str(flags["cuda"]))
        if b.is_cpu:
            changes.update(cuda=None, driver=None, gpus=())
        elif b.is_cuda:
            changes["cuda"] = b.cuda_version
            if "driver" not in changes:
                # The driver we report is the oldest that supports that CUDA (Table 3); outside that table
                # no driver can be named, so the target would be wrong.
                known = [c for c, _ in load().cuda.toolkits]
                if b.cuda_version < known[0]:
                    raise UsageError(
                        f"--cuda {flags['cuda']} is older than any CUDA llmenv knows (oldest: {known[0]})"
                    )
                # Newer than the table, or a CUDA whose floor is unknown (13.4): accepted, the driver stays
                # unknown (llmenv.knowledge.horizon.cuda_warnings says so).
                floor = load().cuda.min_driver(b.cuda_version)  # type: ignore[arg-type]
                changes["driver"] = str(floor) if floor else None
        else:
            raise UsageError(f"--cuda {flags['cuda']}: only NVIDIA CUDA or cpu targets are supported")
    if changes.get("gpus") and t.cuda is None and "cuda" not in changes and "driver" not in changes:
        raise UsageError("--gpu needs a driver: add --driver VERSION or --cuda X.Y (this machine has none)")
    origins = dict(t.origins)
    for key in flags:
        origins[{"memory": "memory_gib", "gpu": "gpus"}.get(key, key)] = f"--{key}"
    return t.with_(**changes, origins=origins)
