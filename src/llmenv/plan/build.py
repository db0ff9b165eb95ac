"""Source builds sized to the target: which GPU architectures to compile, and how many jobs fit.

A flash-attn source build compiles only the target GPUs' architectures (``FLASH_ATTN_CUDA_ARCHS``, read by
2.7.3+), with ``MAX_JOBS`` / ``NVCC_THREADS`` sized to the target's cores and memory (measured in
bench/flash_attn_build.md). ``build_settings`` is the seed's recipe for uv: the build sees the installed torch
(``match-runtime``), the variables above, and static metadata so that ``uv lock`` needs no build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from llmenv.knowledge.flash_attn import FlashAttnRelease, FlashAttnTable, arch_for, load_flash_attn
from llmenv.target import Target

__all__ = ["build_env", "build_settings", "release_facts", "sized_build_env"]


def _needed_archs(target: Target) -> set[str]:
    return {arch_for(cc) for cc in target.capabilities}


def release_facts(version: str) -> FlashAttnRelease:
    """The release table's facts for a flash-attn version (a version newer than the table: the newest's)."""
    from packaging.version import Version

    table = load_flash_attn()
    return table.release(version) or (
        table.releases[0] if Version(version) > table.releases[0].version else table.releases[-1]
    )


def _build_archs(target: Target, release: FlashAttnRelease) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    if not release.honours_archs:
        return list(release.build_archs), warnings
    need = _needed_archs(target)
    if not need:
        warnings.append(
            "no target GPU known: building for every architecture flash-attn supports "
            f"({';'.join(release.build_archs)}: about 4x the time of one); pass --gpu CC to build for yours only"
        )
        return list(release.build_archs), warnings
    return sorted(need & set(release.buildable_archs(None)), key=int), warnings


def _sizing(target: Target, n_archs: int, table: FlashAttnTable) -> tuple[int, int, str, list[str]]:
    """MAX_JOBS and NVCC_THREADS for ``n_archs`` architectures on the target's cores and memory.

    nvcc's ``--threads`` runs the per-architecture compilations of one file in parallel, so more threads than
    architectures only sit idle: NVCC_THREADS = min(4, archs). Each nvcc thread can take ~5 GB at its peak
    (flash-attn PR #2079; measured 4.3 GiB a single-architecture job on an H200 machine), and a margin of the
    memory (15%, at least 4 GiB) stays for the OS and the linker: MAX_JOBS = min(cores // threads,
    usable GiB // (5 x threads)), at least 1.
    """
    assert target.cpus is not None and target.memory_gib is not None
    m = table.build_memory
    warnings: list[str] = []
    usable = target.memory_gib - max(m.headroom_min_gib, m.headroom_fraction * target.memory_gib)
    threads = max(1, min(m.max_nvcc_threads, n_archs))
    while threads > 1 and usable < m.gib_per_nvcc_thread * threads:
        threads -= 1
    per_job = m.gib_per_nvcc_thread * threads
    jobs_mem = math.floor(max(usable, 0.0) / per_job)
    jobs_cpu = max(1, target.cpus // threads)
    jobs = max(1, min(jobs_cpu, jobs_mem))
    if jobs_mem < 1:
        warnings.append(
            f"{target.memory_gib:.0f} GiB of memory leaves {max(usable, 0):.0f} GiB for compiling, less than one "
            f"flash-attn compile job can take (~{per_job:.0f} GiB): the build may be killed for memory; build on a "
            "larger machine (then install the wheel) or add swap"
        )
    note = (
        f"MAX_JOBS={jobs} NVCC_THREADS={threads}: {n_archs} architecture(s), ~{per_job:.0f} GiB a job, "
        f"{max(usable, 0):.0f} of {target.memory_gib:.0f} GiB usable (<= {jobs_mem} jobs), {target.cpus} cores "
        f"(<= {jobs_cpu} jobs)"
    )
    return jobs, threads, note, warnings


def build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str]]:
    """Build variables sized to the target: only its GPUs' architectures, and jobs that fit in its memory."""
    env, warnings, _ = sized_build_env(target, release)
    return env, warnings


def sized_build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str], str]:
    """(variables, warnings, the sizing in words). A target whose cores or memory are unknown (described by
    flags without --cpus / --memory) gets no MAX_JOBS: nothing of this machine is assumed for it."""
    table = load_flash_attn()
    archs, warnings = _build_archs(target, release)
    env = {"FLASH_ATTENTION_FORCE_BUILD": "TRUE"}
    if release.honours_archs:
        env["FLASH_ATTN_CUDA_ARCHS"] = ";".join(archs)
    if target.cpus is None or target.memory_gib is None:
        warnings.append(
            "the target's cores and memory are unknown (give --cpus and --memory): MAX_JOBS is not set, and a "
            "parallel nvcc build can run out of memory"
        )
        return env, warnings, "MAX_JOBS not set (cores and memory unknown)"
    jobs, threads, note, more = _sizing(target, len(archs), table)
    warnings += more
    env["MAX_JOBS"] = str(jobs)
    env["NVCC_THREADS"] = str(threads)
    return env, warnings, note


def build_settings(version: str, env: Mapping[str, str], requires_dist: Sequence[str]) -> dict[str, Any]:
    """``[tool.uv]`` settings for a flash-attn source build (the seed recipe)."""
    table = load_flash_attn()
    return {
        "extra-build-dependencies": {
            "flash-attn": [{"requirement": "torch", "match-runtime": True}, *table.build_requires]
        },
        "extra-build-variables": {"flash-attn": dict(env)},
        # Static metadata, so `uv lock` needs no build and match-runtime can apply (uv docs; astral-sh/uv#18690).
        "dependency-metadata": {
            "name": "flash-attn",
            "version": version,
            "requires-dist": list(requires_dist or table.requires_dist),
        },
    }
