"""torch and CUDA: does torch import, can it use the GPU, does the driver run its CUDA, NCCL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmenv.doctor.findings.facts import (
    MachineFacts,
    amd_list,
    as_dict,
    as_list,
    driver_str,
    gpu_list,
)
from llmenv.doctor.findings.model import Finding
from llmenv.knowledge import Knowledge


def check_torch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    t = facts.torch
    if not t.get("installed"):
        return [
            Finding(
                check="torch",
                status="warn",
                summary="torch is not installed in this environment: nothing to check against",
                fix="add it to the project with `llmenv init . torch` (picks the build for this machine), then "
                "`llmenv sync`; if the project has it already, `llmenv sync` installs it",
            )
        ]
    if t.get("import_error") or "version" not in t:
        err = str(t.get("import_error") or as_dict(probe.get("torch")).get("error") or "unknown error")
        evidence = [f"import torch: {err}"]
        if t.get("dist_version"):
            evidence.insert(0, f"installed distribution: torch {t['dist_version']}")
        missing = re.search(r"(lib[\w.+-]+\.so[\d.]*): cannot open shared object file", err)
        fix = "reinstall it: `uv sync --reinstall-package torch`"
        if missing:
            fix = (
                f"{missing.group(1)} is missing: torch's CUDA libraries come from the nvidia-* packages it requires; "
                "reinstall them with `uv sync --reinstall-package torch`, and do not point LD_LIBRARY_PATH at another CUDA"
            )
        return [
            Finding(
                check="torch",
                status="fail",
                summary="torch is installed but cannot be imported",
                evidence=tuple(evidence),
                fix=fix,
            )
        ]
    build = (
        f"CUDA {t.get('cuda')}"
        if t.get("cuda")
        else ("ROCm " + str(t["hip"]) if t.get("hip") else "CPU only")
    )
    evidence = [
        f"torch.__version__ = {t.get('version')}",
        f"torch.version.cuda = {t.get('cuda')}",
        f"torch._C._GLIBCXX_USE_CXX11_ABI = {t.get('cxx11_abi')}",
    ]
    if t.get("location"):
        evidence.append(f"at {t['location']}")
    return [
        Finding(
            check="torch",
            status="ok",
            summary=f"torch {t.get('version')} ({build}, "
            f"C++11 ABI {'TRUE' if t.get('cxx11_abi') else 'FALSE'})",
            evidence=tuple(evidence),
        )
    ]


def check_torch_cuda(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    """Can torch use this machine's GPUs: a CUDA build on NVIDIA GPUs, a ROCm build on AMD GPUs."""
    if not facts.torch_ok:
        return []
    t = facts.torch
    evidence = [f"torch.cuda.is_available() = {bool(t.get('cuda_available'))}"]
    if facts.gpus:
        evidence.append(f"GPUs ({facts.gpus_from}): {gpu_list(facts.gpus)}")
    if facts.amd_gpus:
        evidence.append(f"AMD GPUs ({facts.amd_gpus_from}): {amd_list(facts.amd_gpus)}")
    evidence += [f"warning: {w}" for w in as_list(t.get("cuda_warnings"))]
    if t.get("cuda_error"):
        evidence.append(f"error: {t['cuda_error']}")
    if facts.torch_hip:
        return [_rocm_build(facts, evidence)]
    if facts.torch_cuda is None:
        return [_cpu_build(facts, evidence)]
    return [_cuda_build(facts, evidence)]


def _cpu_build(facts: MachineFacts, evidence: list[str]) -> Finding:
    t = facts.torch
    if facts.gpus:
        fix = (
            "install a CUDA build of torch: `llmenv init . torch` routes torch to the PyTorch index of the right CUDA "
            "variant (or `uv pip install torch --torch-backend=auto`)"
        )
        v = facts.torch_version
        if facts.machine == "aarch64" and v is not None and v.release[:2] < (2, 11):
            evidence.append("PyPI's torch wheels for aarch64 are CPU-only before 2.11 (facts G1)")
            fix = (
                f"on aarch64, take torch {v.public} from the PyTorch index's CUDA builds (e.g. "
                "https://download.pytorch.org/whl/cu126), or torch >= 2.11, whose PyPI wheels for aarch64 are "
                "CUDA 13 builds: `llmenv init . torch` routes it"
            )
        return Finding(
            check="torch.cuda",
            status="fail",
            summary=f"torch {t.get('version')} is a CPU-only build, but this machine has {len(facts.gpus)} NVIDIA GPU(s)",
            evidence=tuple(evidence),
            fix=fix,
        )
    if facts.amd_gpus:
        return Finding(
            check="torch.cuda",
            status="fail",
            summary=f"torch {t.get('version')} is a CPU-only build, but this machine has {len(facts.amd_gpus)} AMD "
            f"GPU(s) ({', '.join(sorted({g.gfx for g in facts.amd_gpus}))})",
            evidence=tuple(evidence),
            fix=_ROCM_FIX,
        )
    return Finding(
        check="torch.cuda",
        status="ok",
        summary="CPU-only torch on a machine with no GPU",
        evidence=tuple(evidence),
    )


_ROCM_FIX = (
    "install torch's ROCm build, from the PyTorch index of a ROCm variant built for these GPUs "
    "(https://download.pytorch.org/whl/rocmX.Y; Linux x86_64 only), e.g. `uv pip install torch "
    "--torch-backend=auto`, which picks it from the GPU architecture"
)


def _rocm_build(facts: MachineFacts, evidence: list[str]) -> Finding:
    t = facts.torch
    head = f"torch {t.get('version')} is a ROCm build (HIP {facts.torch_hip})"
    if t.get("cuda_available"):
        n = len(as_list(t.get("devices")))
        return Finding(
            check="torch.cuda",
            status="ok",
            summary=f"ROCm is available to torch ({n} device(s){': ' + amd_list(facts.amd_gpus) if facts.amd_gpus else ''})",
            evidence=tuple(evidence),
        )
    if facts.gpus and not facts.amd_gpus:
        return Finding(
            check="torch.cuda",
            status="fail",
            summary=f"{head}, but this machine's GPUs are NVIDIA ({gpu_list(facts.gpus)})",
            evidence=tuple(evidence),
            fix="install a CUDA build of torch: `llmenv init . torch` picks the variant for this driver",
        )
    if facts.amd_gpus:
        return Finding(
            check="torch.cuda",
            status="fail",
            summary=f"torch cannot use the AMD GPU(s): torch.cuda.is_available() is False ({head})",
            evidence=tuple(evidence),
            fix="check that /dev/kfd and /dev/dri/renderD* are readable (the `render` and `video` groups; containers "
            "need --device=/dev/kfd --device=/dev/dri), HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES, and the amdgpu "
            "kernel driver",
        )
    return Finding(
        check="torch.cuda",
        status="warn",
        summary=f"{head}, but no AMD GPU is visible here",
        evidence=tuple(evidence),
        fix="nothing to do on a login or build node; on a GPU node, check the amdgpu driver and /dev/kfd",
    )


def _cuda_build(facts: MachineFacts, evidence: list[str]) -> Finding:
    t = facts.torch
    if t.get("cuda_available"):
        n = len(as_list(t.get("devices")))
        return Finding(
            check="torch.cuda",
            status="ok",
            summary=f"CUDA is available to torch ({n} device(s))",
            evidence=tuple(evidence),
        )
    if facts.amd_gpus and not facts.gpus and not facts.driver:
        return Finding(
            check="torch.cuda",
            status="fail",
            summary=f"torch {t.get('version')} is a CUDA {facts.torch_cuda} build, but this machine's GPUs are AMD "
            f"({amd_list(facts.amd_gpus)})",
            evidence=tuple(evidence),
            fix=_ROCM_FIX,
        )
    if facts.gpus or facts.driver:
        return Finding(
            check="torch.cuda",
            status="fail",
            summary="torch cannot use the GPU: torch.cuda.is_available() is False",
            evidence=tuple(evidence),
            fix="see the `driver` finding; also check CUDA_VISIBLE_DEVICES and that /dev/nvidia* is visible "
            "(containers need the NVIDIA runtime)",
        )
    return Finding(
        check="torch.cuda",
        status="warn",
        summary=f"torch is a CUDA {facts.torch_cuda} build, but no NVIDIA GPU or driver is visible here",
        evidence=tuple(evidence),
        fix="nothing to do on a login or build node; on a GPU node, check the driver and CUDA_VISIBLE_DEVICES",
    )


def check_driver(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    evidence = []
    if facts.driver:
        evidence.append(f"driver {facts.driver} (from {facts.driver_from})")
    if facts.driver_cuda:
        evidence.append(f"driver's CUDA {facts.driver_cuda} (from {facts.driver_cuda_from})")
    errors = [
        f"{k}: {v['error']}"
        for k, v in as_dict(as_dict(probe.get("driver"))).items()
        if isinstance(v, dict) and v.get("error")
    ]
    torch_cuda = facts.torch_cuda
    if torch_cuda:
        evidence.append(f"torch.version.cuda = {torch_cuda}")
    if not facts.driver and not facts.driver_cuda:
        return [_no_nvidia_driver(probe, facts, evidence + errors)]
    if facts.driver_cuda is None:
        return [
            Finding(
                check="driver",
                status="warn",
                summary=f"driver {facts.driver} is older than any CUDA llmenv knows (11.8 needs 520.61.05)",
                evidence=tuple(evidence),
                fix="upgrade the NVIDIA driver",
            )
        ]
    head = f"driver {facts.driver or '?'} supports CUDA {facts.driver_cuda}"
    if torch_cuda is None:
        return [Finding(check="driver", status="ok", summary=head, evidence=tuple(evidence))]
    table = kb.cuda
    if table.runs(torch_cuda, driver_cuda=facts.driver_cuda, driver=facts.driver, policy="strict"):
        return [
            Finding(
                check="driver",
                status="ok",
                summary=f"{head}; torch's CUDA {torch_cuda} runs on it (strict rule)",
                evidence=tuple(evidence),
            )
        ]
    need = driver_str(table.min_driver(torch_cuda))
    floor = driver_str(table.major_floors.get(torch_cuda.major))
    if table.runs(torch_cuda, driver_cuda=facts.driver_cuda, driver=facts.driver, policy="minor"):
        evidence.append(f"CUDA {torch_cuda.major}.x minor-version compatibility needs driver >= {floor}")
        return [
            Finding(
                check="driver",
                status="warn",
                summary=f"{head}; torch's CUDA {torch_cuda} runs only through minor-version compatibility",
                evidence=tuple(evidence),
                fix=f"works for most code, but PTX JIT and features that need a newer driver fail; upgrade the driver to "
                f">= {need} or install torch's cu{facts.driver_cuda.major}{facts.driver_cuda.minor} build "
                f"(`llmenv plan torch` picks it)",
            )
        ]
    evidence.append(f"CUDA {torch_cuda} needs driver >= {need} (minor-version compatibility: >= {floor})")
    return [
        Finding(
            check="driver",
            status="fail",
            summary=f"{head}, but torch was built with CUDA {torch_cuda}: its kernels cannot run",
            evidence=tuple(evidence),
            fix=f"install a torch build for CUDA <= {facts.driver_cuda} (`llmenv plan torch` picks the variant), or "
            f"upgrade the driver to >= {need}",
        )
    ]


def _no_nvidia_driver(probe: Mapping[str, Any], facts: MachineFacts, evidence: list[str]) -> Finding:
    amd = as_dict(as_dict(probe.get("driver")).get("amd"))
    if amd and (facts.amd_gpus or facts.torch_hip):
        return _amd_driver(amd, facts, evidence)
    if facts.torch_cuda:
        return Finding(
            check="driver",
            status="warn",
            summary=f"no NVIDIA driver found: torch's CUDA {facts.torch_cuda} build cannot use a GPU here",
            evidence=tuple(evidence),
            fix="on a GPU node install the NVIDIA driver (or run the container with the NVIDIA runtime)",
        )
    return Finding(
        check="driver", status="ok", summary="no NVIDIA driver (nothing to check)", evidence=tuple(evidence)
    )


def _amd_driver(amd: Mapping[str, Any], facts: MachineFacts, evidence: list[str]) -> Finding:
    """An AMD machine: the amdgpu kernel driver and the ROCm user space, as read (a ROCm torch wheel carries its
    own HIP runtime and needs only the kernel driver, facts H8; there is no compatibility table to judge by)."""
    kernel = amd.get("amdgpu_version")
    rocm = amd.get("rocm_version")
    evidence = [
        *evidence,
        f"amdgpu kernel driver: {kernel or 'version not readable (/sys/module/amdgpu/version)'}",
        f"ROCm user space (/opt/rocm/.info/version): {rocm or 'none'}",
    ]
    if facts.gfx_override:
        evidence.append(f"HSA_OVERRIDE_GFX_VERSION makes the runtime treat every GPU as {facts.gfx_override}")
    if not facts.amd_gpus:
        return Finding(
            check="driver",
            status="warn",
            summary="no AMD GPU in the KFD topology: the amdgpu driver is not loaded, or the GPUs are not visible",
            evidence=tuple(evidence),
            fix="on a GPU node, load the amdgpu kernel driver; containers need --device=/dev/kfd --device=/dev/dri",
        )
    summary = f"AMD GPU driver amdgpu {kernel or '(version unknown)'}"
    if rocm:
        summary += f"; ROCm {rocm} in /opt/rocm"
    return Finding(check="driver", status="ok", summary=summary, evidence=tuple(evidence))


def check_nccl(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    if not facts.torch_ok or (facts.torch_cuda is None and facts.torch_hip is None):
        return []
    if facts.torch_hip:  # torch.cuda.nccl is RCCL on ROCm
        t = facts.torch
        if t.get("nccl"):
            return [Finding(check="nccl", status="ok", summary=f"RCCL {t['nccl']} (torch.cuda.nccl on ROCm)")]
        return [
            Finding(
                check="nccl",
                status="warn",
                summary="torch reports no RCCL: multi-GPU communication will fail",
                evidence=(f"torch.cuda.nccl.version(): {t['nccl_error']}",) if t.get("nccl_error") else (),
                fix="reinstall torch: `uv sync --reinstall-package torch`",
            )
        ]
    assert facts.torch_cuda is not None
    t = facts.torch
    evidence = []
    nccl_dists = [
        b
        for b in as_list(probe.get("binaries"))
        if str(as_dict(b).get("name", "")).startswith("nvidia-nccl-")
    ]
    for b in nccl_dists:
        evidence.append(f"{b.get('name')} {b.get('version')} installed")
    if not t.get("nccl"):
        if t.get("nccl_error"):
            evidence.append(f"torch.cuda.nccl.version(): {t['nccl_error']}")
        return [
            Finding(
                check="nccl",
                status="warn",
                summary="torch reports no NCCL: multi-GPU communication will fail",
                evidence=tuple(evidence),
                fix="reinstall torch: `uv sync --reinstall-package torch`",
            )
        ]
    evidence.insert(0, f"torch.cuda.nccl.version() = {t['nccl']}")
    wrong = [
        b
        for b in nccl_dists
        if re.fullmatch(r"nvidia-nccl-cu(\d+)", str(b.get("name")))
        and str(b["name"]).rsplit("cu", 1)[1] != str(facts.torch_cuda.major)
    ]
    if wrong:
        return [
            Finding(
                check="nccl",
                status="warn",
                summary=f"NCCL {t['nccl']}; {wrong[0].get('name')} is for another CUDA major than torch's "
                f"CUDA {facts.torch_cuda}",
                evidence=tuple(evidence),
                fix=f"remove it or pin the nvidia-nccl-cu{facts.torch_cuda.major} torch requires",
            )
        ]
    return [Finding(check="nccl", status="ok", summary=f"NCCL {t['nccl']}", evidence=tuple(evidence))]
