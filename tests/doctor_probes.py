"""Probe outputs (what llmenv/doctor/probe.py prints) built as data, for the doctor's finding tests.

``h200()`` mirrors tests/fixtures/doctor/h200-ok.probe.json (one H200, driver 580.159.04, torch 2.11.0+cu130); each
test changes the one reading its finding depends on.
"""

from __future__ import annotations

import copy
from typing import Any

NVCC_13_0 = (
    "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2025 NVIDIA Corporation\n"
    "Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler.36424714_0\n"
)
MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.18.44",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}

_H200: dict[str, Any] = {
    "probe": 1,
    "python": {
        "version": "3.12.3",
        "executable": "/opt/torch/.venv/bin/python3",
        "prefix": "/opt/torch/.venv",
        "implementation": "cpython",
        "free_threaded": False,
    },
    "platform": {"system": "Linux", "machine": "x86_64", "glibc": "2.39"},
    "markers": MARKERS,
    "environ": {},
    "driver": {
        "files": {"/sys/module/nvidia/version": "580.159.04\n"},
        "nvml": {"version": "580.159.04"},
        "libcuda": {
            "cuda_driver_version": 13000,
            "gpus": [{"name": "NVIDIA H200", "capability": [9, 0], "memory_mib": 143771}],
        },
    },
    "torch": {
        "installed": True,
        "dist_version": "2.11.0+cu130",
        "location": "/opt/torch/.venv/lib/python3.12/site-packages/torch",
        "version": "2.11.0+cu130",
        "cuda": "13.0",
        "hip": None,
        "cxx11_abi": True,
        "arch_list": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
        "cuda_available": True,
        "cuda_warnings": [],
        "devices": [{"name": "NVIDIA H200", "capability": [9, 0]}],
        "nccl": "2.27.7",
    },
    "toolkit": {
        "cuda_home": "/usr/local/cuda",
        "cuda_home_source": "/usr/local/cuda",
        "cuda_home_exists": True,
        "nvcc": "/usr/local/cuda/bin/nvcc",
        "nvcc_version_text": NVCC_13_0,
        "cuobjdump": "/usr/local/cuda/bin/cuobjdump",
    },
    "binaries": [
        {
            "name": "numpy",
            "version": "2.5.2",
            "tags": ["cp312-cp312-manylinux_2_27_x86_64", "cp312-cp312-manylinux_2_28_x86_64"],
        },
        {"name": "nvidia-nccl-cu13", "version": "2.27.7", "tags": ["py3-none-manylinux_2_18_x86_64"]},
        {"name": "torch", "version": "2.11.0+cu130", "tags": ["cp312-cp312-manylinux_2_28_x86_64"]},
    ],
    "packages": {},
}


def h200() -> dict[str, Any]:
    return copy.deepcopy(_H200)


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
