"""Probe outputs (what llmenv/doctor/probe.py prints) as data, for the doctor's finding tests.

``h200()`` is tests/fixtures/doctor/h200-ok.probe.json, captured on the H200 machine (driver 580.159.04, torch
2.11.0+cu130); each test changes the one reading its finding depends on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NVCC_13_0 = (
    "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2025 NVIDIA Corporation\n"
    "Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler.36424714_0\n"
)

CAPTURED = Path(__file__).parent / "fixtures" / "doctor" / "h200-ok.probe.json"


def h200() -> dict[str, Any]:
    """The probe output captured on the H200 machine (a fresh copy to change)."""
    data = json.loads(CAPTURED.read_text())
    assert isinstance(data, dict)
    return data


def flash_attn(
    *,
    version: str = "2.8.3",
    url: str | None = None,
    load: dict[str, Any] | None = None,
    needed: tuple[str, ...] = ("libc10.so", "libtorch.so", "libcudart.so.13"),
    sass: tuple[str, ...] = ("sm_80", "sm_90", "sm_100", "sm_120"),
    ptx: tuple[str, ...] = (),
    cuobjdump: bool = True,
) -> dict[str, Any]:
    """flash-attn as the probe reports it (a good build for the H200 environment unless told otherwise)."""
    ext = "flash_attn_2_cuda.cpython-312-x86_64-linux-gnu.so"
    info: dict[str, Any] = {
        "version": version,
        "requires": ["torch", "einops"],
        "tags": ["cp312-cp312-linux_x86_64"],
        "direct_url": url,
        "libraries": [
            {"file": ext, "needed": list(needed), "soname": None, "runpath": None, "glibc": "2.32"}
        ],
        "load": load or {"module": "flash_attn_2_cuda", "file": f"/site/{ext}", "ok": True},
    }
    if cuobjdump:
        info["cuobjdump"] = {"sass": list(sass), "ptx": list(ptx)}
    return info
