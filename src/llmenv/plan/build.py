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

__all__ = ["build_env", "build_settings", "planned_here", "release_facts", "rocm_build", "sized_build_env"]


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


def _given(target: Target, key: str) -> bool:
    """Was the target's ``key`` (``cpus`` / ``memory_gib``) given for the build machine (a flag or the record)?"""
    return target.origins.get(key, "").startswith(("--", "[tool.llmenv]"))


def _sizing(target: Target, n_archs: int, table: FlashAttnTable) -> tuple[int | None, int, str, list[str]]:
    """MAX_JOBS and NVCC_THREADS for ``n_archs`` architectures on the build machine.

    nvcc's ``--threads`` runs the per-architecture compilations of one file in parallel, so more threads than
    architectures only sit idle: NVCC_THREADS = min(4, archs) — whatever machine builds. MAX_JOBS depends on
    that machine, so it is written only from what was said of it (``--cpus`` / ``--memory``, or the project's
    record of them): each nvcc thread can take ~5 GB at its peak (flash-attn PR #2079; measured 4.3 GiB a
    single-architecture job on an H200 machine), and a margin of the memory (15%, at least 4 GiB) stays for the
    OS and the linker: MAX_JOBS = min(cores // threads, usable GiB // (5 x threads)), at least 1, each bound
    applied when its number was given. Otherwise MAX_JOBS is None: flash-attn's setup.py sizes it at build time
    from the building machine's own cores and free memory (facts D5) — never this machine's numbers frozen in.
    """
    m = table.build_memory
    warnings: list[str] = []
    threads = max(1, min(m.max_nvcc_threads, n_archs))
    cpus_given = _given(target, "cpus") and target.cpus is not None
    mem_given = _given(target, "memory_gib") and target.memory_gib is not None
    if not (cpus_given or mem_given):
        note = (
            f"NVCC_THREADS={threads} for {n_archs} architecture(s); MAX_JOBS is left to flash-attn's setup.py on the "
            "machine that builds (it sizes jobs by that machine's cores and free memory); give --cpus / --memory "
            "of the build machine to size it here"
        )
        return None, threads, note, warnings
    memory = target.memory_gib or 0.0
    usable = memory - max(m.headroom_min_gib, m.headroom_fraction * memory)
    if mem_given:
        while threads > 1 and usable < m.gib_per_nvcc_thread * threads:
            threads -= 1
    per_job = m.gib_per_nvcc_thread * threads
    jobs_mem = math.floor(max(usable, 0.0) / per_job) if mem_given else None
    jobs_cpu = max(1, (target.cpus or 1) // threads) if cpus_given else None
    jobs = max(1, min(j for j in (jobs_cpu, jobs_mem) if j is not None))
    if jobs_mem is not None and jobs_mem < 1:
        warnings.append(
            f"{memory:.0f} GiB of memory leaves {max(usable, 0):.0f} GiB for compiling, less than one "
            f"flash-attn compile job can take (~{per_job:.0f} GiB): the build may be killed for memory; build on a "
            "larger machine (then install the wheel) or add swap"
        )
    parts = [f"MAX_JOBS={jobs} NVCC_THREADS={threads}: {n_archs} architecture(s), ~{per_job:.0f} GiB a job"]
    if jobs_mem is not None:
        parts.append(f"{max(usable, 0):.0f} of {memory:.0f} GiB usable (<= {jobs_mem} jobs)")
    else:
        parts.append("memory not given (no memory bound)")
    parts.append(
        f"{target.cpus} cores (<= {jobs_cpu} jobs)"
        if jobs_cpu is not None
        else "cores not given (no core bound)"
    )
    return jobs, threads, ", ".join(parts), warnings


def build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str]]:
    """Build variables sized to the target: only its GPUs' architectures, and jobs that fit in its memory."""
    env, warnings, _ = sized_build_env(target, release)
    return env, warnings


def sized_build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str], str]:
    """(variables, warnings, the sizing in words): the target's architectures only; MAX_JOBS only from what was
    said of the build machine (``--cpus`` / ``--memory`` or the project's record), never from this machine."""
    table = load_flash_attn()
    archs, warnings = _build_archs(target, release)
    jobs, threads, note, more = _sizing(target, len(archs), table)
    warnings += more
    env = {"FLASH_ATTENTION_FORCE_BUILD": "TRUE"}
    if release.honours_archs:
        env["FLASH_ATTN_CUDA_ARCHS"] = ";".join(archs)
    if jobs is not None:
        env["MAX_JOBS"] = str(jobs)
    env["NVCC_THREADS"] = str(threads)
    return env, warnings, note


def planned_here(target: Target) -> bool:
    """Is the target this machine? Not when its GPUs, driver or CUDA were given (flags or the project's record):
    then this machine's nvcc says nothing about the one that will build."""
    return not any(
        target.origins.get(k, "").startswith(("--", "[tool.llmenv]")) for k in ("gpus", "driver", "cuda")
    )


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


def rocm_build(target: Target, version: str, rocm: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(uv settings, build variables, warnings) of flash-attn's ROCm source build for ``target``'s GPUs: the CK
    backend for its gfx targets (``GPU_ARCHS``), or the Triton backend (``FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE``
    at build and at run time; its setup.py runs pip, so pip is a build requirement). facts H6."""
    from llmenv.rocm import FlashAttnRocmBuild, flash_attn_backend

    b = flash_attn_backend(target)
    assert isinstance(b, FlashAttnRocmBuild), b  # extension_target refused the target otherwise
    env = dict(b.build_env)
    if _given(target, "cpus") and target.cpus:
        env["MAX_JOBS"] = str(target.cpus)
    settings = build_settings(version, env, ("torch", "einops"))
    warnings = [
        f"the machine that runs `uv sync` compiles flash-attn {version} for ROCm ({b.backend.upper()} backend, "
        f"{';'.join(target.gfx)}): it needs the ROCm {rocm} toolchain (hipcc, in /opt/rocm) of the torch build"
    ]
    if b.run_env:
        settings["extra-build-dependencies"]["flash-attn"] = [
            *settings["extra-build-dependencies"]["flash-attn"],
            "pip",
        ]
        run = " ".join(f"{k}={v}" for k, v in b.run_env.items())
        warnings.append(
            f"set {run} where flash-attn runs too: flash_attn_interface reads it at import (facts H6)"
        )
    return settings, env, warnings
