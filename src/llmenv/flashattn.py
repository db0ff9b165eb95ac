"""flash-attn without pain: a prebuilt wheel when one matches, else a source build tuned to the target.

Pure. The prebuilt wheel must match (flash-attn version, torch major.minor, the CUDA major of that torch build,
its C++ ABI, Python tag, linux x86_64) — that is what setup.py's own download guess keys on, and a wheel for
another torch or ABI fails at import with ``undefined symbol``. The wheel's build CUDA (the nvcc CI used) obeys
the same driver policy as torch's variant: under ``strict`` a CUDA 12.4 driver rules out the 2.8.x wheels built
with nvcc 12.9, which is the seed's advice (torch 2.6 -> flash-attn 2.7.4.post1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.errors import NoAnswer
from llmenv.knowledge import load, read_data
from llmenv.target import Target

__all__ = [
    "FlashAttnPlan",
    "FlashAttnRelease",
    "build_env",
    "build_settings",
    "flash_attn_releases",
    "plan_flash_attn",
    "source_entries",
]

BUILD_REQUIRES = ("setuptools", "wheel", "packaging", "psutil", "ninja", "einops")
GB_PER_NVCC_THREAD = 2.5  # flash-attn's setup.py: ~9 GB per job at NVCC_THREADS=4; kept on the safe side
MEMORY_HEADROOM = 0.85  # leave room for the OS, the linker and the rest of the build


@dataclass(frozen=True, kw_only=True)
class FlashAttnRelease:
    version: Version
    date: str
    built_with_nvcc: Mapping[str, str]  # wheel CUDA tag -> nvcc version CI built it with
    wheels: frozenset[tuple[str, str, str, bool]]  # (cuda tag, torch major.minor, python, cxx11 abi)
    cuda_naming: str
    build_archs: tuple[str, ...]
    honours_archs: bool

    def cuda_tag(self, torch_cuda: CudaVersion) -> str:
        """The CUDA part of the wheel name for a torch built with ``torch_cuda`` (setup.py's rule per version)."""
        if self.cuda_naming == "cu118/cu123":
            return "cu118" if torch_cuda.major == 11 else "cu123"
        if self.cuda_naming == "cu11/cu12" and torch_cuda.major > 12:
            return "cu12"  # before 2.8.3.post1 a CUDA 13 torch was mapped to cu12 (the guess always missed)
        return f"cu{torch_cuda.major}"


@dataclass(frozen=True, kw_only=True)
class _KnownBad:
    flash_attn: SpecifierSet
    torch: SpecifierSet
    reason: str
    source: str


@cache
def _data() -> tuple[tuple[FlashAttnRelease, ...], tuple[_KnownBad, ...], str, str]:
    d = read_data("flash_attn.json")
    releases = []
    for r in d["releases"]:
        wheels = set()
        for w in r["wheels"]:
            cu, mm, py, abi = w.split()
            wheels.add((cu, mm, py, abi == "TRUE"))
        releases.append(
            FlashAttnRelease(
                version=Version(r["version"]),
                date=r["date"],
                built_with_nvcc=r["built_with_nvcc"],
                wheels=frozenset(wheels),
                cuda_naming=r["cuda_naming"],
                build_archs=tuple(r["build_archs"]["default"]),
                honours_archs=bool(r["build_archs"]["honours_FLASH_ATTN_CUDA_ARCHS"]),
            )
        )
    bad = tuple(
        _KnownBad(
            flash_attn=SpecifierSet(b["flash_attn"]),
            torch=SpecifierSet(b["torch"]),
            reason=b["reason"],
            source=b["source"],
        )
        for b in d["known_bad"]
    )
    releases.sort(key=lambda r: r.version, reverse=True)
    return tuple(releases), bad, d["url_template"], d["filename_template"]


def flash_attn_releases() -> tuple[FlashAttnRelease, ...]:
    return _data()[0]


@dataclass(frozen=True, kw_only=True)
class FlashAttnPlan:
    version: str
    source: str  # "prebuilt" | "build"
    wheels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # python -> (url, filename)
    index: str | None = None  # a wheelhouse / mirror (--flash-attn-wheels) instead of per-Python URLs
    env: Mapping[str, str] = field(default_factory=dict)
    build_requires: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (version, reason)
    warnings: tuple[str, ...] = ()

    def to_dict(self, python: str) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "source": self.source}
        if self.source == "prebuilt" and python in self.wheels:
            d["url"] = self.wheels[python][0]
        if self.index:
            d["index"] = self.index
        return d


def _arch_value(cc: tuple[int, int]) -> str:
    """The FLASH_ATTN_CUDA_ARCHS value whose code runs on a GPU (sm80 SASS covers 8.6 / 8.9)."""
    major = cc[0]
    return {8: "80", 9: "90", 10: "100", 11: "110", 12: "120"}.get(major, f"{major}0")


def build_env(target: Target, release: FlashAttnRelease) -> tuple[dict[str, str], list[str]]:
    """Build variables sized to the target: only its GPUs' architectures, and jobs that fit in its memory."""
    warnings: list[str] = []
    archs = sorted({_arch_value(g.capability) for g in target.gpus}, key=int) or list(release.build_archs)
    if not target.gpus:
        warnings.append(
            "no target GPU known: building for every architecture flash-attn supports (slow); "
            "pass --gpu CC to build for yours only"
        )
    unknown = [a for a in archs if a not in release.build_archs and a != "110"]
    if unknown:
        warnings.append(f"flash-attn {release.version} cannot build for sm_{', sm_'.join(unknown)}")
    nvcc = target.nvcc
    if nvcc and any(a in ("100", "120") for a in archs) and Version(nvcc) < Version("12.8"):
        warnings.append(f"building for Blackwell (sm_100/sm_120) needs nvcc >= 12.8; the target has {nvcc}")
    if not release.honours_archs:
        warnings.append(f"flash-attn {release.version} ignores FLASH_ATTN_CUDA_ARCHS (fixed sm80 + sm90)")
    budget = target.memory_gib * MEMORY_HEADROOM
    threads = 4 if budget >= 4 * GB_PER_NVCC_THREAD * 2 else 2 if budget >= 2 * GB_PER_NVCC_THREAD else 1
    per_job = GB_PER_NVCC_THREAD * threads
    jobs = max(1, min(max(1, target.cpus // 2), math.floor(budget / per_job)))
    env = {
        "FLASH_ATTENTION_FORCE_BUILD": "TRUE",
        "FLASH_ATTN_CUDA_ARCHS": ";".join(archs),
        "MAX_JOBS": str(jobs),
        "NVCC_THREADS": str(threads),
    }
    return env, warnings


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
) -> FlashAttnPlan:
    """Choose the flash-attn release and how it arrives. Raises NoAnswer for targets FlashAttention-2 cannot run on."""
    kb = load()
    releases, known_bad, url_template, filename_template = _data()
    if target.is_cpu or torch_cuda is None:
        raise NoAnswer(
            "flash-attn needs an NVIDIA GPU and a CUDA build of torch; this target has none",
            hint="use PyTorch's scaled_dot_product_attention (torch.nn.functional) instead",
        )
    old = sorted({g.sm for g in target.gpus if g.capability < (8, 0)})
    if old:
        raise NoAnswer(
            f"flash-attn (FlashAttention-2) needs an Ampere or newer GPU (sm_80+); the target has {', '.join(old)}",
            hint="use PyTorch SDPA (torch.nn.functional.scaled_dot_product_attention), or flash-attn 1.x on Turing",
        )
    reasons: list[str] = []
    if any(g.capability[0] == 9 for g in target.gpus):
        reasons.append(
            "Hopper GPU: FlashAttention-3 (`flash-attn-3`, built from the hopper/ folder) and flash-attn-4 "
            "(`flash-attn-4`, pure Python CuTeDSL) are faster options; this plan uses FlashAttention-2"
        )
    elif any(g.capability[0] >= 10 for g in target.gpus):
        reasons.append(
            "Blackwell GPU: flash-attn-4 (`flash-attn-4`, CuTeDSL) also targets it; this plan uses FlashAttention-2"
        )
    mm = f"{torch_version.major}.{torch_version.minor}"
    torch_rel = kb.torch_release(torch_version)
    rejected: list[tuple[str, str]] = []
    candidates = [r for r in releases if specifier.contains(r.version, prereleases=True)]
    if not candidates:
        raise NoAnswer(f"no flash-attn release known to llmenv satisfies flash-attn{specifier}")
    assert target.cuda is not None
    for rel in candidates:
        v = str(rel.version)
        tag = rel.cuda_tag(torch_cuda)
        have = [py for py in pythons if (tag, mm, py, cxx11_abi) in rel.wheels]
        if not have or pythons[0] not in have:
            abi = "TRUE" if cxx11_abi else "FALSE"
            rejected.append(
                (v, f"no prebuilt wheel for {tag} torch{mm} cxx11abi{abi} cp{pythons[0].replace('.', '')}")
            )
            continue
        nvcc = parse_cuda_version(rel.built_with_nvcc[tag])
        if not kb.cuda.runs(nvcc, driver_cuda=target.cuda, driver=target.driver, policy=policy):
            rejected.append(
                (
                    v,
                    f"its {tag} wheels are built with nvcc {rel.built_with_nvcc[tag]}; driver "
                    f"{target.driver} supports CUDA <= {target.cuda} (--cuda-policy {policy})",
                )
            )
            continue
        bad = next(
            (b for b in known_bad if b.flash_attn.contains(rel.version) and b.torch.contains(torch_version)),
            None,
        )
        if bad is not None:
            rejected.append((v, f"{bad.reason} ({bad.source})"))
            continue
        filenames = {
            py: filename_template.format(
                version=v, cuda=tag, torch=mm, abi="TRUE" if cxx11_abi else "FALSE", py=py.replace(".", "")
            )
            for py in have
        }
        urls = {py: url_template.format(version=v, filename=f) for py, f in filenames.items()}
        if github_proxy:
            urls = {py: f"{github_proxy.rstrip('/')}/{u}" for py, u in urls.items()}
        missing = [py for py in pythons if py not in have]
        warnings = []
        if missing:
            warnings.append(f"flash-attn {v} has no wheel for Python {', '.join(missing)}")
        reasons.append(
            f"flash-attn {v} is the newest release"
            + (f" within flash-attn{specifier}" if str(specifier) else "")
            + f" with a prebuilt wheel for torch {mm} ({tag}, cxx11abi{'TRUE' if cxx11_abi else 'FALSE'}"
            + f"{', the ABI of torch ' + str(torch_version) if torch_rel else ''}), built with nvcc {rel.built_with_nvcc[tag]}"
        )
        return FlashAttnPlan(
            version=v,
            source="prebuilt",
            wheels={py: (urls[py], filenames[py]) for py in have},
            index=_wheelhouse(wheels),
            reasons=tuple(reasons),
            rejected=tuple(rejected),
            warnings=tuple(warnings),
        )

    # No prebuilt wheel fits: the seed's source build, sized to the target. The newest release on PyPI (sdist)
    # within the pins and not known to break with this torch.
    def fine(v: Version) -> bool:
        return specifier.contains(v, prereleases=True) and not any(
            b.flash_attn.contains(v) and b.torch.contains(torch_version) for b in known_bad
        )

    build_version = max((v for v in sdist_versions if fine(v)), default=None)
    rel = next((r for r in candidates if fine(r.version)), candidates[0])
    env, warnings = build_env(target, rel)
    version = str(build_version or rel.version)
    if target.nvcc is None:
        warnings.append(
            "no nvcc on the target: install the CUDA toolkit (or set CUDA_HOME) before `uv sync` builds flash-attn"
        )
    elif Version(target.nvcc).major != torch_cuda.major:
        warnings.append(
            f"nvcc {target.nvcc} and torch's CUDA {torch_cuda} differ in major version: the build will fail "
            f"or the module will not load; use a CUDA {torch_cuda.major}.x toolkit"
        )
    reasons.append(
        f"no prebuilt flash-attn wheel fits torch {torch_version} ({', '.join(pythons)}): build {version} from source "
        f"with torch matched to the runtime, only for {env['FLASH_ATTN_CUDA_ARCHS']}, MAX_JOBS={env['MAX_JOBS']} "
        f"NVCC_THREADS={env['NVCC_THREADS']} (fits {target.memory_gib:.0f} GiB, {target.cpus} cores)"
    )
    return FlashAttnPlan(
        version=version,
        source="build",
        env=env,
        build_requires=BUILD_REQUIRES,
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
    )


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
    return {
        "extra-build-dependencies": {
            "flash-attn": [{"requirement": "torch", "match-runtime": True}, *plan.build_requires]
        },
        "extra-build-variables": {"flash-attn": dict(plan.env)},
        # Static metadata, so `uv lock` needs no build and match-runtime can apply (uv docs; astral-sh/uv#18690).
        "dependency-metadata": {
            "name": "flash-attn",
            "version": plan.version,
            "requires-dist": ["torch", "einops"],
        },
    }
