"""The inference engines (vLLM, SGLang): the checks every compiled package gets, and the CUDA build of an engine
beside torch's ROCm build (vLLM's ROCm wheels come from its own index, for Python 3.12 only: facts H5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmenv.doctor.findings.facts import MachineFacts, as_dict
from llmenv.doctor.findings.model import Finding
from llmenv.doctor.findings.packages import check_package, cudart
from llmenv.knowledge import Knowledge

__all__ = ["ENGINES", "check_engine"]

ENGINES = ("vllm", "sglang")

_ROCM_FIX = {
    "vllm": "install vLLM's ROCm build from its own index (`uv pip install vllm --extra-index-url "
    "https://wheels.vllm.ai/rocm/`; its ROCm wheels are for Python 3.12 only, and with another Python the "
    "installer falls back to PyPI's CUDA wheel), which brings the ROCm torch it was built with",
}


def check_engine(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge, name: str) -> list[Finding]:
    found = check_package(probe, facts, kb, name)
    info = as_dict(as_dict(probe.get("packages")).get(name))
    links = sorted(cudart(info))
    if not found or not facts.torch_hip or not links:
        return found
    f = found[0]
    problem = (
        f"the CUDA build of {name} (its binaries link libcudart.so.{'/'.join(str(m) for m in links)}) beside "
        f"torch's ROCm build (HIP {facts.torch_hip})"
    )
    head = f"{name} {info.get('version')}"
    rest = f.summary.removeprefix(f"{head}: ") if f.status != "ok" else ""
    fix = _ROCM_FIX.get(name, f"install the ROCm build of {name}, built for torch's ROCm")
    return [
        Finding(
            check=name,
            status="fail",
            summary=f"{head}: {problem}" + (f"; {rest}" if rest else ""),
            evidence=f.evidence,
            fix=fix,
        )
    ]
