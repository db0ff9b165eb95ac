"""GPU architectures: is there code (SASS, or PTX the driver can JIT) in torch and in the extensions for every GPU."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmenv.cuda_arch import ArchCode, covers, parse_arch_list
from llmenv.doctor.findings.facts import (
    MachineFacts,
    amd_list,
    as_dict,
    as_list,
    codes_text,
    gpu_list,
)
from llmenv.doctor.findings.model import Finding
from llmenv.doctor.findings.packages import rebuild_fix
from llmenv.knowledge import Knowledge
from llmenv.target import Gpu

# FlashAttention-2 runs on Ampere, Ada and Hopper and newer (README; facts C3): sm_80 is the floor.
FA2_MIN_CC = (8, 0)


def check_torch_arch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    if facts.torch_ok and facts.torch_hip:
        return [_rocm_arch(facts)]
    if not facts.torch_ok or facts.torch_cuda is None:
        return []
    names = [str(a) for a in as_list(facts.torch.get("arch_list"))]
    codes = parse_arch_list(names)
    evidence = [f"compiled for: {codes_text(names)}"]
    if not codes:
        return [
            Finding(
                check="torch.arch",
                status="warn",
                summary="torch reports no compiled GPU architectures",
                evidence=tuple(evidence),
            )
        ]
    if not facts.gpus:
        return [
            Finding(
                check="torch.arch",
                status="ok",
                summary=f"torch is compiled for {codes_text(names)}; no GPU here to check against",
                evidence=tuple(evidence),
            )
        ]
    return [
        coverage(
            "torch.arch",
            "torch",
            codes,
            facts.gpus,
            evidence,
            fix_fail=lambda ccs: (
                "install a torch build compiled for "
                + ", ".join(ccs)
                + ": `llmenv plan "
                + " ".join(f"--gpu {c}" for c in ccs)
                + " torch` picks the variant"
            ),
        )
    ]


def _rocm_arch(facts: MachineFacts) -> Finding:
    """A ROCm torch carries code for a list of gfx targets (``torch.cuda.get_arch_list()``, e.g. gfx90a gfx942):
    every AMD GPU must be one of them, exactly (no cross-target compatibility as between CUDA minors), or the one
    HSA_OVERRIDE_GFX_VERSION makes the runtime take it for."""
    names = sorted(
        {str(a).split(":")[0] for a in as_list(facts.torch.get("arch_list")) if str(a).startswith("gfx")}
    )
    evidence = [f"compiled for: {codes_text(names)}"]
    if not facts.amd_gpus:
        summary = f"torch is compiled for {codes_text(names)}; no AMD GPU here to check against"
        return Finding(check="torch.arch", status="ok", summary=summary, evidence=tuple(evidence))
    if not names:
        return Finding(
            check="torch.arch",
            status="warn",
            summary="torch reports no compiled GPU architectures (gfx targets)",
            evidence=tuple(evidence),
        )
    missing = []
    for g in facts.amd_gpus:
        runs_as = facts.gfx_override or g.gfx
        note = f" (as {runs_as}, HSA_OVERRIDE_GFX_VERSION)" if facts.gfx_override else ""
        if runs_as in names:
            evidence.append(f"{g.name} ({g.gfx}){note}: code for {runs_as}")
        else:
            missing.append(g)
            evidence.append(f"{g.name} ({g.gfx}){note}: no code for {runs_as}")
    if missing:
        gfx = sorted({facts.gfx_override or g.gfx for g in missing})
        return Finding(
            check="torch.arch",
            status="fail",
            summary=f"torch has no code for {', '.join(gfx)} ({amd_list(missing)})",
            evidence=tuple(evidence),
            fix=f"install a torch ROCm variant built for {', '.join(gfx)} (each ROCm release of torch lists its gfx "
            "targets; newer ROCm variants add targets), or build torch with PYTORCH_ROCM_ARCH="
            + ";".join(gfx),
        )
    targets = ", ".join(sorted({facts.gfx_override or g.gfx for g in facts.amd_gpus}))
    return Finding(
        check="torch.arch",
        status="ok",
        summary=f"torch has code for every GPU ({targets})",
        evidence=tuple(evidence),
    )


def coverage(
    check: str,
    what: str,
    codes: Sequence[ArchCode],
    gpus: Sequence[Gpu],
    evidence: list[str],
    *,
    fix_fail: Callable[[list[str]], str],
) -> Finding:
    sass = [c for c in codes if not c.ptx]
    missing, jit = [], []
    for g in gpus:
        if covers(sass, g.capability):
            evidence.append(
                f"{g.name} (cc {g.cc}): SASS {', '.join(c.name for c in sass if c.runs_on(g.capability))}"
            )
        elif covers(codes, g.capability):
            jit.append(g)
            evidence.append(f"{g.name} (cc {g.cc}): only PTX, JIT-compiled by the driver at first use")
        else:
            missing.append(g)
            evidence.append(f"{g.name} (cc {g.cc}): no SASS for {g.sm} and no PTX it can JIT")
    if missing:
        ccs = sorted({g.cc for g in missing})
        return Finding(
            check=check,
            status="fail",
            summary=f"{what} has no code for {', '.join('cc ' + c for c in ccs)} ({gpu_list(missing)})",
            evidence=tuple(evidence),
            fix=fix_fail(ccs),
        )
    if jit:
        return Finding(
            check=check,
            status="warn",
            summary=f"{what} runs on {gpu_list(jit)} only through PTX JIT (slow first start; fails if the "
            "driver is older than the toolkit that wrote the PTX)",
            evidence=tuple(evidence),
            fix=fix_fail(sorted({g.cc for g in jit})).replace("install", "prefer", 1),
        )
    sms = ", ".join(sorted({g.sm for g in gpus}))
    return Finding(
        check=check, status="ok", summary=f"{what} has SASS for every GPU ({sms})", evidence=tuple(evidence)
    )


def check_flash_attn_arch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    info = as_dict(as_dict(probe.get("packages")).get("flash-attn"))
    if not info:
        return []
    if as_dict(info.get("load")).get("ok") is None and "cuobjdump" not in info:
        return []  # no compiled extension to look into: the flash-attn finding says so
    dump = as_dict(info.get("cuobjdump"))
    gpus = facts.gpus
    old = [g for g in gpus if g.capability < FA2_MIN_CC]
    evidence = []
    if old:
        evidence.append("FlashAttention-2 supports Ampere (cc 8.0) and newer")
        return [
            Finding(
                check="flash-attn.arch",
                status="fail",
                summary=f"FlashAttention-2 does not run on {gpu_list(old)}",
                evidence=tuple(evidence),
                fix="use PyTorch's SDPA attention (attn_implementation='sdpa') on these GPUs",
            )
        ]
    if not dump or (dump.get("error") and not dump.get("sass") and not dump.get("ptx")):
        why = "cuobjdump not found" if not dump else f"cuobjdump: {dump.get('error')}"
        return [
            Finding(
                check="flash-attn.arch",
                status="ok",
                summary=f"flash-attn's compiled architectures are unknown ({why})",
                evidence=(why,),
            )
        ]
    sass = [str(x) for x in as_list(dump.get("sass"))]
    ptx = [str(x).replace("sm_", "compute_", 1) for x in as_list(dump.get("ptx"))]
    codes = parse_arch_list(sass + ptx)
    evidence.append(f"cuobjdump: SASS {codes_text(sass)}; PTX {codes_text(ptx)}")
    if not codes:
        return [
            Finding(
                check="flash-attn.arch",
                status="fail" if gpus else "warn",
                summary="flash-attn's extension contains no GPU code",
                evidence=tuple(evidence),
                fix=rebuild_fix("flash-attn", facts),
            )
        ]
    if not gpus:
        return [
            Finding(
                check="flash-attn.arch",
                status="ok",
                summary=f"flash-attn is compiled for {codes_text(sass + ptx)}; no GPU here to check against",
                evidence=tuple(evidence),
            )
        ]
    return [
        coverage(
            "flash-attn.arch",
            "flash-attn",
            codes,
            gpus,
            evidence,
            fix_fail=lambda ccs: (
                "build flash-attn for "
                + ", ".join(ccs)
                + ": FLASH_ATTN_CUDA_ARCHS="
                + ";".join(c.replace(".", "") for c in ccs)
                + " FLASH_ATTENTION_FORCE_BUILD=TRUE `uv pip install flash-attn --no-build-isolation`"
            ),
        )
    ]
