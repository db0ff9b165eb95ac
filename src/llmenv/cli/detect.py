"""``llmenv detect``: show what llmenv sees of this machine."""

from __future__ import annotations

import argparse

from llmenv.cli._context import Context
from llmenv.target import Target

HELP = (
    "Show what llmenv sees of this machine: OS, Python, CPUs, memory, NVIDIA driver and its CUDA, AMD GPUs and "
    "ROCm, GPUs, nvcc."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def render_target(t: Target) -> list[str]:
    """Human lines describing a target (shared by detect and plan)."""
    o = t.origins
    lines = [
        f"platform   {t.os} {t.arch}" + (f", glibc {t.glibc}" if t.glibc else ""),
        f"python     {t.python}",
        f"cpus       {t.cpus}",
        f"memory     {t.memory_gib:.1f} GiB",
    ]
    if t.driver:
        lines.append(f"driver     {t.driver}" + (f"  ({o['driver']})" if "driver" in o else ""))
    elif t.is_rocm:
        lines.append("driver     no NVIDIA driver (an AMD ROCm target)")
    else:
        lines.append("driver     none (CPU target)")
    if t.cuda:
        lines.append(f"cuda       {t.cuda}  (the newest CUDA this driver supports)")
    for i, g in enumerate(t.gpus):
        mem = f", {g.memory_mib / 1024:.0f} GiB" if g.memory_mib else ""
        lines.append(f"gpu {i:<6} {g.name}, compute capability {g.cc}{mem}")
    if t.is_rocm or t.rocm:
        where = f"  ({o['rocm']})" if t.rocm and "rocm" in o else ""
        lines.append(f"rocm       {t.rocm or 'unknown (no ROCm user space found)'}{where}")
    for i, a in enumerate(t.amd_gpus, start=len(t.gpus)):
        mem = f", {a.memory_mib / 1024:.0f} GiB" if a.memory_mib else ""
        lines.append(
            f"gpu {i:<6} {a.name}, {a.gfx}{mem}"
            + (f"  ({o['amd_gpus']})" if i == len(t.gpus) and "amd_gpus" in o else "")
        )
    lines.append(
        f"nvcc       {t.nvcc or 'not found'}" + (f"  (CUDA_HOME {t.cuda_home})" if t.cuda_home else "")
    )
    b = t.base
    if b is not None and b.torch is not None:
        lines.append(
            f"base       torch {b.torch.version} ({b.torch.variant}) and {len(b.packages) - 1} more packages in "
            f"{b.python} (Python {b.python_version}); {b.origin}"
        )
    return lines


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.detect import detect

    t = detect(ctx.system)
    if args.json:
        d = t.to_dict()
        d["origins"] = dict(t.origins)
        ctx.ui.json(d)
    else:
        for line in render_target(t):
            ctx.ui.print(line)
    return 0
