"""flash-attn without pain: a prebuilt wheel when one matches, else a source build tuned to the target.

Pure. The prebuilt wheel must match (flash-attn version, torch major.minor, the CUDA major of that torch build,
its C++ ABI, Python tag, linux x86_64) — that is what setup.py's own download guess keys on, and a wheel for
another torch or ABI fails at import with ``undefined symbol``. The wheel's build CUDA (the nvcc CI used) obeys
the same driver policy as torch's variant: under ``strict`` a CUDA 12.4 driver rules out the 2.8.x wheels built
with nvcc 12.9, which is the seed's advice (torch 2.6 -> flash-attn 2.7.4.post1). The wheel must also carry code
for every target GPU (2.7.x wheels have sm_80 + sm_90 only). Combinations known to break for other reasons are
data with sources (``known_bad`` in ``knowledge/data/flash_attn.json``).

A source build compiles only the target GPUs' architectures, with ``MAX_JOBS`` / ``NVCC_THREADS`` sized to the
target's cores and memory (see ``build_env``; measured in bench/flash_attn_build.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.errors import NoAnswer
from llmenv.knowledge import load
from llmenv.knowledge.flash_attn import FlashAttnRelease, FlashAttnTable, arch_for, load_flash_attn
from llmenv.target import Target

if TYPE_CHECKING:
    from llmenv.sources.user import UserWheels

__all__ = [
    "FlashAttnPlan",
    "FlashAttnRelease",
    "build_env",
    "build_settings",
    "flash_attn_releases",
    "plan_flash_attn",
    "source_entries",
]


def flash_attn_releases() -> tuple[FlashAttnRelease, ...]:
    """Every release llmenv knows, newest first."""
    return load_flash_attn().releases


@dataclass(frozen=True, kw_only=True)
class FlashAttnPlan:
    version: str
    source: str  # "prebuilt" | "build"
    wheels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # python -> (url, filename)
    index: str | None = None  # a wheelhouse / mirror / index (--wheels) instead of per-Python URLs
    index_flat: bool = True  # the index is a flat folder or page (a simple index: False)
    local: str | None = None  # the wheels' local version label, e.g. cu12torch2.6cxx11abiFALSE
    env: Mapping[str, str] = field(default_factory=dict)  # build variables (source == "build")
    build_requires: tuple[str, ...] = ()
    missing_pythons: tuple[str, ...] = ()  # requested Pythons the chosen release has no wheel for
    reasons: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (version, reason), newest first
    warnings: tuple[str, ...] = ()

    @property
    def pin(self) -> str:
        """The exact version for the project's requirement.

        From a wheelhouse it carries the local label: a wheelhouse may hold builds for several torch versions
        and ABIs under one version, and without the label uv takes the one whose label sorts highest.
        """
        return f"{self.version}+{self.local}" if self.index and self.local else self.version

    def to_dict(self, python: str) -> dict[str, Any]:
        """``packages["flash-attn"]`` of ``plan --json``: the URL is the wheel for the target's ``python``."""
        d: dict[str, Any] = {"version": self.version, "source": self.source}
        if self.source == "prebuilt" and python in self.wheels:
            d["url"] = self.wheels[python][0]
        if self.index:
            d["index"] = self.index
        return d


def _sm(archs: Sequence[str] | set[str]) -> str:
    return ", ".join(f"sm_{a}" for a in sorted(archs, key=int))


def _needed_archs(target: Target) -> set[str]:
    return {arch_for(cc) for cc in target.capabilities}


def _refuse(target: Target, torch_cuda: CudaVersion | None, table: FlashAttnTable) -> None:
    successors = _successors(target)
    if target.is_cpu or torch_cuda is None:
        raise NoAnswer(
            "flash-attn needs an NVIDIA GPU and a CUDA build of torch; this target has none",
            hint="use PyTorch's scaled_dot_product_attention (torch.nn.functional) instead",
        )
    old = sorted({g.sm for g in target.gpus if g.capability < table.min_capability})
    if old:
        raise NoAnswer(
            f"flash-attn (FlashAttention-2) needs an Ampere or newer GPU (sm_80+); the target has {', '.join(old)}",
            hint="use PyTorch SDPA (torch.nn.functional.scaled_dot_product_attention), or flash-attn 1.x on Turing"
            + (f"; {successors[0]}" if successors else ""),
        )


def _successors(target: Target) -> list[str]:
    out = []
    if any(g.capability[0] == 9 for g in target.gpus):
        out.append(
            "Hopper GPU: FlashAttention-3 (`flash-attn-3`, built from the hopper/ folder) and flash-attn-4 "
            "(`flash-attn-4`, pure Python CuTeDSL) are faster options; this plan uses FlashAttention-2"
        )
    elif any(g.capability[0] >= 10 for g in target.gpus):
        out.append(
            "Blackwell GPU: flash-attn-4 (`flash-attn-4`, CuTeDSL) also targets it; this plan uses FlashAttention-2"
        )
    return out


def _wheel_rejection(
    rel: FlashAttnRelease,
    *,
    table: FlashAttnTable,
    target: Target,
    torch_version: Version,
    torch_cuda: CudaVersion,
    cxx11_abi: bool,
    pythons: Sequence[str],
    policy: str,
) -> tuple[str | None, dict[str, str], str]:
    """Why ``rel`` has no usable prebuilt wheel (None: it has one), python -> nvcc of its wheels, their CUDA tag."""
    abi = "TRUE" if cxx11_abi else "FALSE"
    mm = f"{torch_version.major}.{torch_version.minor}"
    if not rel.builds:
        return "its release assets are not known to llmenv (no prebuilt wheel assumed)", {}, ""
    if rel.platform != f"{target.os}_{target.arch}":
        return f"its wheels are {rel.platform} only; the target is {target.os}-{target.arch}", {}, ""
    tag = rel.cuda_tag(torch_cuda)
    if tag is None:
        return (
            f"it names no wheel for a CUDA {torch_cuda.major} torch (setup.py knows {rel.cuda_naming} only)",
            {},
            "",
        )
    have: dict[str, str] = {}
    for py in pythons:
        b = rel.wheel_build(cuda_tag=tag, torch_mm=mm, python=py, cxx11_abi=cxx11_abi)
        if b is not None:
            have[py] = b.nvcc
    if not have:
        cps = "/".join(f"cp{py.replace('.', '')}" for py in pythons)
        return f"no prebuilt wheel for {tag} torch{mm} cxx11abi{abi} {cps}", {}, tag
    kb = load()
    nvcc = sorted(set(have.values()), key=Version)[-1]
    assert target.cuda is not None
    if not kb.cuda.runs(
        parse_cuda_version(nvcc), driver_cuda=target.cuda, driver=target.driver, policy=policy
    ):
        return (
            f"its {tag} wheels are built with nvcc {nvcc}; driver {target.driver or '?'} supports CUDA <= "
            f"{target.cuda} (--cuda-policy {policy})",
            have,
            tag,
        )
    missing = _needed_archs(target) - set(rel.wheel_archs)
    if missing:
        return (
            f"its wheels carry {_sm(rel.wheel_archs)} code only; the target needs {_sm(missing)}",
            have,
            tag,
        )
    for bad in table.known_bad:
        if bad.applies(version=rel.version, torch=torch_version, cxx11_abi=cxx11_abi, prebuilt=True):
            return f"{bad.reason} ({bad.source})", have, tag
    return None, have, tag


def plan_flash_attn(
    *,
    target: Target,
    torch_version: Version,
    torch_cuda: CudaVersion | None,
    cxx11_abi: bool,
    pythons: Sequence[str],
    specifier: SpecifierSet,
    policy: str,
    wheels: str | None = None,
    github_proxy: str | None = None,
    sdist_versions: Sequence[Version] = (),
    user_wheels: Sequence[UserWheels] | None = None,
    force_build: bool = False,
) -> FlashAttnPlan:
    """Choose the flash-attn release and how it arrives. Raises NoAnswer for targets FlashAttention-2 cannot run on.

    ``pythons``: every Python the project supports (the target's first matters most). ``sdist_versions``: the
    versions PyPI carries (the pins snapshot); empty means the table's ``pypi_sdist`` flags. ``user_wheels``:
    the listing of ``--wheels`` (searched first; when nothing there fits, it is not used). ``force_build``:
    ``--build flash-attn`` (no prebuilt wheel is considered).
    """
    table = load_flash_attn()
    _refuse(target, torch_cuda, table)
    assert torch_cuda is not None
    pythons = list(pythons) or [target.python]
    main_py = target.python if target.python in pythons else pythons[0]
    reasons = _successors(target)
    mm = f"{torch_version.major}.{torch_version.minor}"
    abi = "TRUE" if cxx11_abi else "FALSE"
    candidates = [r for r in table.releases if specifier.contains(r.version, prereleases=True)]
    rejected: list[tuple[str, str]] = []
    if force_build:
        reasons.append("--build flash-attn: the tuned source build was asked for; no prebuilt wheel is considered")
        candidates = []
    elif user_wheels:
        got = _from_users(user_wheels, target, torch_version, torch_cuda, cxx11_abi, pythons, main_py, specifier, reasons)
        if isinstance(got, FlashAttnPlan):
            return got
        rejected += got
        wheels = None  # their listings are known and nothing there fits: do not route flash-attn to them
    partial: tuple[FlashAttnRelease, dict[str, str], str] | None = None
    for rel in candidates:
        why, have, tag = _wheel_rejection(
            rel,
            table=table,
            target=target,
            torch_version=torch_version,
            torch_cuda=torch_cuda,
            cxx11_abi=cxx11_abi,
            pythons=pythons,
            policy=policy,
        )
        if why is None and len(have) == len(pythons):
            return _prebuilt(
                rel, have, tag, table, reasons, rejected, specifier, mm, abi, wheels, github_proxy, ()
            )
        if why is None:
            if partial is None and main_py in have:
                partial = (rel, have, tag)
            why = f"no prebuilt wheel for Python {', '.join(py for py in pythons if py not in have)}"
        rejected.append((str(rel.version), why))
    if partial is not None:
        rel, have, tag = partial
        lacking = tuple(py for py in pythons if py not in have)
        newer = [(v, w) for v, w in rejected if Version(v) > rel.version]
        return _prebuilt(
            rel, have, tag, table, reasons, newer, specifier, mm, abi, wheels, github_proxy, lacking
        )
    return _build(
        table=table,
        target=target,
        torch_version=torch_version,
        torch_cuda=torch_cuda,
        cxx11_abi=cxx11_abi,
        pythons=pythons,
        specifier=specifier,
        sdist_versions=sdist_versions,
        reasons=reasons,
        rejected=rejected,
    )


def _from_users(
    users: Sequence[UserWheels],
    target: Target,
    torch_version: Version,
    torch_cuda: CudaVersion,
    cxx11_abi: bool,
    pythons: Sequence[str],
    main_py: str,
    specifier: SpecifierSet,
    reasons: list[str],
) -> FlashAttnPlan | list[tuple[str, str]]:
    """The first --wheels source with a fitting flash-attn wheel gives the plan; else every wheel's reason."""
    from llmenv.sources.match import TorchBuild

    tb = TorchBuild(
        version=torch_version,
        cuda=torch_cuda,
        cxx11_abi=cxx11_abi,
        os=target.os,
        arch=target.arch,
        glibc=target.glibc,
        driver_cuda=target.cuda,
    )
    rejected: list[tuple[str, str]] = []
    for user in users:
        got = _from_user(user, tb, pythons, main_py, specifier, reasons)
        if isinstance(got, FlashAttnPlan):
            return got
        rejected += got
    return rejected


def _from_user(
    user: UserWheels,
    tb: Any,
    pythons: Sequence[str],
    main_py: str,
    specifier: SpecifierSet,
    reasons: list[str],
) -> FlashAttnPlan | list[tuple[str, str]]:
    """The newest flash-attn wheel of the user's source that fits (llmenv.sources.match), or why none does."""
    from llmenv.sources.match import best_fits

    torch_version, torch_cuda, cxx11_abi = tb.version, tb.cuda, tb.cxx11_abi
    mine = [w for w in user.of("flash-attn") if w.build and specifier.contains(w.build.public, prereleases=True)]
    fits, rejected = best_fits(mine, tb, [main_py, *(py for py in pythons if py != main_py)])
    if main_py not in fits:
        if not mine:
            within = f" within flash-attn{specifier}" if str(specifier) else ""
            return [("(any)", f"--wheels {user.location} holds no flash-attn wheel{within}")]
        return [(w.build.version if w.build else w.filename, f"in --wheels {user.location}: {why}") for w, why in rejected]
    chosen = fits[main_py]
    assert chosen.wheel.build is not None
    version, label = chosen.wheel.build.public, chosen.wheel.build.local.label
    same = {
        py: f
        for py, f in fits.items()
        if f.wheel.build is not None and (f.wheel.build.public, f.wheel.build.local.label) == (version, label)
    }
    lacking = tuple(py for py in pythons if py not in same)
    reasons.append(
        f"flash-attn {chosen.wheel.build.version} from --wheels {user.location} ({chosen.wheel.filename}) fits "
        f"torch {torch_version} (CUDA {torch_cuda}, cxx11abi{'TRUE' if cxx11_abi else 'FALSE'})"
        + "".join(f"; {n}" for n in chosen.notes)
    )
    warnings = []
    if chosen.wheel.build.local.dialect == "none":
        warnings.append(
            f"{chosen.wheel.filename} names no CUDA, torch or C++ ABI: llmenv cannot check it fits torch "
            f"{torch_version}; it is used because --wheels offers it"
        )
    if lacking:
        warnings.append(f"--wheels {user.location} has no flash-attn {version} wheel for Python {', '.join(lacking)}")
    return FlashAttnPlan(
        version=version,
        source="prebuilt",
        wheels={py: (f.wheel.url or f.wheel.filename, f.wheel.filename) for py, f in sorted(same.items(), key=lambda kv: Version(kv[0]))},
        index=user.location,
        index_flat=user.kind != "index",
        local=label or None,
        missing_pythons=lacking,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def _prebuilt(
    rel: FlashAttnRelease,
    have: Mapping[str, str],
    cuda_tag: str,
    table: FlashAttnTable,
    reasons: list[str],
    rejected: list[tuple[str, str]],
    specifier: SpecifierSet,
    mm: str,
    abi: str,
    wheels: str | None,
    github_proxy: str | None,
    lacking: tuple[str, ...],
) -> FlashAttnPlan:
    v = str(rel.version)
    filenames = {
        py: table.filename(v, cuda_tag=cuda_tag, torch_mm=mm, python=py, cxx11_abi=abi == "TRUE")
        for py in have
    }
    urls = {py: table.url(v, f) for py, f in filenames.items()}
    if github_proxy:
        urls = {py: f"{github_proxy.rstrip('/')}/{u}" for py, u in urls.items()}
    nvcc = sorted(set(have.values()), key=Version)[-1]
    reasons.append(
        f"flash-attn {v} is the newest release"
        + (f" within flash-attn{specifier}" if str(specifier) else "")
        + f" with a prebuilt wheel for torch {mm} ({cuda_tag}, cxx11abi{abi}), built with nvcc {nvcc}, "
        f"carrying {_sm(rel.wheel_archs)} code"
    )
    warnings = []
    if lacking:
        warnings.append(
            f"flash-attn {v} has no prebuilt wheel for Python {', '.join(lacking)}: "
            "narrow requires-python, or pin an older flash-attn"
        )
    return FlashAttnPlan(
        version=v,
        source="prebuilt",
        wheels={py: (urls[py], filenames[py]) for py in sorted(have, key=Version)},
        index=_wheelhouse(wheels),
        local=f"{cuda_tag}torch{mm}cxx11abi{abi}",
        missing_pythons=lacking,
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
    )


def _build(
    *,
    table: FlashAttnTable,
    target: Target,
    torch_version: Version,
    torch_cuda: CudaVersion,
    cxx11_abi: bool,
    pythons: Sequence[str],
    specifier: SpecifierSet,
    sdist_versions: Sequence[Version],
    reasons: list[str],
    rejected: list[tuple[str, str]],
) -> FlashAttnPlan:
    """No prebuilt wheel fits: the seed's source build of the newest sdist that can build for the target."""
    known = {r.version: r for r in table.releases}
    newest_known = table.releases[0]
    versions = sorted(
        set(sdist_versions) or {r.version for r in table.releases if r.pypi_sdist}, reverse=True
    )
    need = _needed_archs(target)
    chosen: tuple[Version, FlashAttnRelease] | None = None
    why_not: list[str] = []
    for v in versions:
        if not specifier.contains(v, prereleases=True):
            continue
        facts = known.get(v) or (newest_known if v > newest_known.version else None)
        if facts is None:
            why_not.append(f"{v}: not in llmenv's release table")
            continue
        bad = next(
            (
                b
                for b in table.known_bad
                if b.applies(version=v, torch=torch_version, cxx11_abi=cxx11_abi, prebuilt=False)
            ),
            None,
        )
        if bad is not None:
            why_not.append(f"{v}: {bad.reason} ({bad.source})")
            continue
        unbuildable = need - set(facts.buildable_archs(None))
        if unbuildable:
            why_not.append(f"{v}: its setup.py cannot compile {_sm(unbuildable)}")
            continue
        chosen = (v, facts)
        break
    if chosen is None:
        raise NoAnswer(
            f"no prebuilt flash-attn wheel fits torch {torch_version} and no flash-attn release"
            + (f" within flash-attn{specifier}" if str(specifier) else "")
            + " can be built for this target"
            + (f" ({'; '.join(why_not)})" if why_not else ""),
            hint="use PyTorch SDPA (torch.nn.functional.scaled_dot_product_attention), or relax the flash-attn pin",
        )
    version, facts = chosen
    env, warnings, sizing = _build_env(target, facts)
    if facts.version != version:
        reasons.append(
            f"flash-attn {version} is newer than llmenv's release table: its build facts are {facts.version}'s"
        )
    warnings += _nvcc_warnings(target, version, facts, torch_cuda, need)
    archs = env.get("FLASH_ATTN_CUDA_ARCHS", "80;90 (fixed in this release)")
    reasons.append(
        f"no prebuilt flash-attn wheel fits torch {torch_version} (cxx11abi{'TRUE' if cxx11_abi else 'FALSE'}, "
        f"Python {', '.join(pythons)}): build {version} from its PyPI sdist against the installed torch "
        f"(match-runtime), for {archs} only; {sizing}"
    )
    return FlashAttnPlan(
        version=str(version),
        source="build",
        env=env,
        build_requires=table.build_requires,
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
    )


def _nvcc_warnings(
    target: Target, version: Version, facts: FlashAttnRelease, torch_cuda: CudaVersion, need: set[str]
) -> list[str]:
    """What the build needs of nvcc: this machine's, when it is the target; else the building machine's."""
    nvcc = Version(target.nvcc) if target.nvcc else None
    out: list[str] = []
    if not _planned_here(target):
        out.append(
            f"the machine that runs `uv sync` builds flash-attn {version}: it needs nvcc >= {facts.min_nvcc} of CUDA "
            f"{torch_cuda.major}.x (torch's CUDA major)"
            + ("" if need <= {"80", "90"} else " and >= 12.8 for Blackwell")
        )
    elif nvcc is None:
        out.append(
            "no nvcc on the target: install the CUDA toolkit (or set CUDA_HOME) before `uv sync` builds flash-attn"
        )
    else:
        if nvcc.major != torch_cuda.major:
            out.append(
                f"nvcc {target.nvcc} and torch's CUDA {torch_cuda} differ in major version: the build will fail "
                f"or the module will not load; use a CUDA {torch_cuda.major}.x toolkit"
            )
        if nvcc < facts.min_nvcc:
            out.append(
                f"flash-attn {version} needs nvcc >= {facts.min_nvcc}; the target has {target.nvcc}"
            )
        short = need - set(facts.buildable_archs(nvcc))
        if short:
            out.append(
                f"compiling {_sm(short)} needs nvcc >= 12.8; the target has {target.nvcc}: "
                "install a newer CUDA toolkit before `uv sync`, or the module has no code for these GPUs"
            )
    return out


def _planned_here(target: Target) -> bool:
    """Is the target this machine? Not when its GPUs, driver or CUDA were given (flags or the project's record):
    then this machine's nvcc says nothing about the one that will build."""
    return not any(target.origins.get(k, "").startswith(("--", "[tool.llmenv]")) for k in ("gpus", "driver", "cuda"))


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
    cpus_given, mem_given = _given(target, "cpus"), _given(target, "memory_gib")
    if not (cpus_given or mem_given):
        note = (
            f"NVCC_THREADS={threads} for {n_archs} architecture(s); MAX_JOBS is left to flash-attn's setup.py on the "
            "machine that builds (it sizes jobs by that machine's cores and free memory); give --cpus / --memory "
            "of the build machine to size it here"
        )
        return None, threads, note, warnings
    usable = target.memory_gib - max(m.headroom_min_gib, m.headroom_fraction * target.memory_gib)
    if mem_given:
        while threads > 1 and usable < m.gib_per_nvcc_thread * threads:
            threads -= 1
    per_job = m.gib_per_nvcc_thread * threads
    jobs_mem = math.floor(max(usable, 0.0) / per_job) if mem_given else None
    jobs_cpu = max(1, target.cpus // threads) if cpus_given else None
    jobs = max(1, min(j for j in (jobs_cpu, jobs_mem) if j is not None))
    if jobs_mem is not None and jobs_mem < 1:
        warnings.append(
            f"{target.memory_gib:.0f} GiB of memory leaves {max(usable, 0):.0f} GiB for compiling, less than one "
            f"flash-attn compile job can take (~{per_job:.0f} GiB): the build may be killed for memory; build on a "
            "larger machine (then install the wheel) or add swap"
        )
    parts = [f"MAX_JOBS={jobs} NVCC_THREADS={threads}: {n_archs} architecture(s), ~{per_job:.0f} GiB a job"]
    if jobs_mem is not None:
        parts.append(f"{max(usable, 0):.0f} of {target.memory_gib:.0f} GiB usable (<= {jobs_mem} jobs)")
    else:
        parts.append("memory not given (no memory bound)")
    parts.append(f"{target.cpus} cores (<= {jobs_cpu} jobs)" if jobs_cpu is not None else "cores not given (no core bound)")
    return jobs, threads, ", ".join(parts), warnings


def build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str]]:
    """Build variables sized to the target: only its GPUs' architectures, and jobs that fit in its memory."""
    env, warnings, _ = _build_env(target, release)
    return env, warnings


def _build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str], str]:
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


def _wheelhouse(wheels: str | None) -> str | None:
    if wheels is None:
        return None
    return wheels if "://" in wheels else str(Path(wheels).expanduser())


def source_entries(plan: FlashAttnPlan, platform_marker: str) -> list[dict[str, str]]:
    """``[tool.uv.sources] flash-attn`` entries: one URL per Python (the lock then holds each wheel's hash)."""
    if plan.source != "prebuilt":
        return []
    if plan.index:
        return [{"index": "flash-attn-wheels", "marker": platform_marker}]
    return [
        {"url": url, "marker": f"{platform_marker} and python_version == '{py}'"}
        for py, (url, _) in sorted(plan.wheels.items(), key=lambda kv: Version(kv[0]))
    ]


def build_settings(plan: FlashAttnPlan) -> dict[str, Any]:
    """``[tool.uv]`` settings for a source build (the seed recipe) — empty for a prebuilt wheel."""
    if plan.source != "build":
        return {}
    table = load_flash_attn()
    return {
        "extra-build-dependencies": {
            "flash-attn": [{"requirement": "torch", "match-runtime": True}, *plan.build_requires]
        },
        "extra-build-variables": {"flash-attn": dict(plan.env)},
        # Static metadata, so `uv lock` needs no build and match-runtime can apply (uv docs; astral-sh/uv#18690).
        "dependency-metadata": {
            "name": "flash-attn",
            "version": plan.version,
            "requires-dist": list(table.requires_dist),
        },
    }
