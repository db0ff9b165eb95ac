"""ROCm (AMD) and aarch64 findings, from probe outputs built as data on the facts in ../shared/facts (H_rocm.md,
G_aarch64.md, amd_gpu_gfx.csv), and the probe's reading of AMD's KFD topology in a sysfs tree made here."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from llmenv.amd import gfx_from_override
from llmenv.amd import gfx_from_target_version as gfx_name
from llmenv.doctor.findings import Finding, diagnose
from llmenv.doctor.probe import amd_info
from llmenv.knowledge import load

from .conftest import SHARED
from .doctor_probes import h200

KB = load()
# PYTORCH_ROCM_ARCH of PyTorch's ROCm wheels in older stored versions of .ci/docker/manywheel/build.sh (facts H1;
# which torch release got which list is not known: this stands for one without gfx1103)
ROCM_ARCHS = ["gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101", "gfx1102", "gfx1200",
              "gfx1201"]
NO_NVIDIA = {"files": {}, "nvml": {"error": "OSError: libnvidia-ml.so.1: cannot open shared object file"},
             "libcuda": {"error": "OSError: libcuda.so.1: cannot open shared object file", "gpus": []}}


def by_check(probe: dict[str, Any]) -> dict[str, Finding]:
    return {f.check: f for f in diagnose(probe, kb=KB).findings}


def amd_machine(target: int = 90402, *, name: str = "AMD Instinct MI300X", n: int = 8) -> dict[str, Any]:
    return {
        **NO_NVIDIA,
        "amd": {
            "kfd": [{"node": str(i + 1), "gfx_target_version": target, "name": None} for i in range(n)],
            "amdgpu_version": "6.10.5",
            "rocm_version": "6.4.0-47",
            "hsa_override_gfx_version": None,
        },
    }


def rocm_torch(gcn: str | None = "gfx942:sramecc+:xnack-", n: int = 8) -> dict[str, Any]:
    available = gcn is not None
    return {
        "installed": True,
        "version": "2.5.1+rocm6.2",
        "cuda": None,
        "hip": "6.2.41133-dd7f95766",  # torch.version.hip of 2.5.1+rocm6.2 (facts H1)
        "cxx11_abi": False,
        "arch_list": ROCM_ARCHS,
        "cuda_available": available,
        "cuda_warnings": [],
        # On ROCm, torch.cuda reports the gfx target's major/minor as the "capability": never an NVIDIA GPU.
        "devices": [{"name": "AMD Instinct MI300X", "capability": [9, 4], "gcn_arch": gcn}] * n if available else [],
        "nccl": "2.20.5",
    }


def amd(probe_driver: dict[str, Any], torch: dict[str, Any]) -> dict[str, Any]:
    p = h200()
    p["driver"], p["torch"] = probe_driver, torch
    p["toolkit"] = {"cuda_home": None, "nvcc": None}
    p["environ"] = {}
    return p


def test_gfx_targets_decode_as_the_kernel_table_says() -> None:
    with (SHARED / "facts" / "amd_gpu_gfx.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 20
    for row in rows:
        assert gfx_name(int(row["kfd_gfx_target_version"])) == row["llvm_target"], row["gpu"]
    assert gfx_from_override("11.0.0") == "gfx1100" and gfx_from_override("9.4.2") == "gfx942"
    assert gfx_from_override("x") is None


def test_rocm_torch_on_a_rocm_machine_is_ok() -> None:
    f = by_check(amd(amd_machine(), rocm_torch()))
    assert f["torch"].summary.startswith("torch 2.5.1+rocm6.2 (ROCm 6.2.41133-dd7f95766")
    assert f["torch.cuda"].status == "ok" and "ROCm is available to torch (8 device(s)" in f["torch.cuda"].summary
    assert f["torch.arch"].status == "ok" and f["torch.arch"].summary == "torch has code for every GPU (gfx942)"
    assert f["driver"].status == "ok" and f["driver"].summary == "AMD GPU driver amdgpu 6.10.5; ROCm 6.4.0-47 in /opt/rocm"
    assert f["nccl"].summary.startswith("RCCL 2.20.5")
    assert "torch.cuda" in f and {x.status for x in f.values()} == {"ok"}, [x for x in f.values() if x.status != "ok"]


def test_a_gpu_the_rocm_build_has_no_code_for_fails_unless_overridden() -> None:
    p = amd(amd_machine(110003, name="AMD Radeon 780M", n=1), rocm_torch("gfx1103", n=1))
    arch = by_check(p)["torch.arch"]
    assert arch.status == "fail" and "torch has no code for gfx1103" in arch.summary
    assert "PYTORCH_ROCM_ARCH=gfx1103" in (arch.fix or "")
    p["driver"]["amd"]["hsa_override_gfx_version"] = "11.0.0"  # the runtime takes it for a gfx1100
    arch = by_check(p)["torch.arch"]
    assert arch.status == "ok" and "(as gfx1100, HSA_OVERRIDE_GFX_VERSION): code for gfx1100" in " ".join(arch.evidence)


def test_cuda_torch_on_an_amd_machine_fails_and_names_the_rocm_build() -> None:
    p = amd(amd_machine(), h200()["torch"])  # torch 2.11.0+cu130
    p["torch"].update(cuda_available=False, devices=[])
    f = by_check(p)["torch.cuda"]
    assert f.status == "fail"
    assert "is a CUDA 13.0 build, but this machine's GPUs are AMD (AMD GPU (gfx942)" in f.summary
    assert "ROCm build" in (f.fix or "") and "rocmX.Y" in (f.fix or "")


def test_cpu_torch_on_an_amd_machine_fails() -> None:
    t = {**h200()["torch"], "version": "2.11.0+cpu", "cuda": None, "arch_list": [], "cuda_available": False,
         "devices": [], "nccl": None}
    f = by_check(amd(amd_machine(), t))["torch.cuda"]
    assert f.status == "fail" and "CPU-only build, but this machine has 8 AMD GPU(s) (gfx942)" in f.summary


def test_rocm_torch_on_an_nvidia_machine_fails() -> None:
    p = h200()
    p["torch"] = rocm_torch(None)
    f = by_check(p)["torch.cuda"]
    assert f.status == "fail" and "is a ROCm build (HIP 6.2.41133-dd7f95766), but this machine's GPUs are NVIDIA" in f.summary
    # the ROCm torch's devices are never taken for NVIDIA GPUs
    p = amd(amd_machine(), rocm_torch())
    assert not any("NVIDIA" in e for e in by_check(p)["torch.cuda"].evidence)


def test_rocm_torch_without_a_visible_gpu() -> None:
    found = by_check(amd(NO_NVIDIA, rocm_torch(None)))
    assert found["torch.cuda"].status == "warn" and "no AMD GPU is visible here" in found["torch.cuda"].summary
    found = by_check(amd(amd_machine(), rocm_torch(None)))  # the GPUs are there, torch cannot use them
    assert found["torch.cuda"].status == "fail" and "/dev/kfd" in (found["torch.cuda"].fix or "")


def test_flash_attn_on_rocm_without_its_extension() -> None:
    p = amd(amd_machine(), rocm_torch())
    p["packages"]["flash-attn"] = {
        "version": "2.7.4.post1",
        "requires": ["torch", "einops"],
        "tags": ["py3-none-any"],
        "libraries": [],
        "load": {"module": "flash_attn_2_cuda", "ok": None, "error": "no such extension file in the RECORD"},
        "import": {"module": "flash_attn", "ok": False, "error": "ModuleNotFoundError: No module named 'flash_attn_2_cuda'"},
    }
    f = by_check(p)["flash-attn"]
    assert f.status == "fail" and "FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE" in (f.fix or "")
    # With the Triton backend asked for (facts H6), the package imports without a compiled extension: ok.
    p["environ"]["FLASH_ATTENTION_TRITON_AMD_ENABLE"] = "TRUE"
    p["packages"]["flash-attn"]["import"] = {"module": "flash_attn", "ok": True}
    f = by_check(p)["flash-attn"]
    assert f.status == "ok" and any("Triton backend on ROCm" in e for e in f.evidence)


def test_the_probe_reads_the_kfd_topology_and_rocm(tmp_path: Path) -> None:
    nodes = tmp_path / "sys/class/kfd/kfd/topology/nodes"
    (nodes / "0").mkdir(parents=True)
    (nodes / "0/properties").write_text("cpu_cores_count 96\nsimd_count 0\ngfx_target_version 0\n")
    for i in (1, 2):
        (nodes / str(i)).mkdir()
        (nodes / f"{i}/properties").write_text("cpu_cores_count 0\nsimd_count 1216\ngfx_target_version 90402\n")
        (nodes / f"{i}/name").write_text("ip discovery\n")
    (tmp_path / "opt/rocm/.info").mkdir(parents=True)
    (tmp_path / "opt/rocm/.info/version").write_text("6.4.0-47\n")
    (tmp_path / "sys/module/amdgpu").mkdir(parents=True)
    (tmp_path / "sys/module/amdgpu/version").write_text("6.10.5\n")
    got = amd_info(str(tmp_path))
    assert got is not None
    assert [n["gfx_target_version"] for n in got["kfd"]] == [90402, 90402]  # the CPU node (0) is left out
    assert got["rocm_version"] == "6.4.0-47" and got["amdgpu_version"] == "6.10.5"
    assert amd_info(str(tmp_path / "nothing")) is None  # not an AMD machine: nothing recorded


# ---------------------------------------------------------------------------------------------- aarch64


def gh200(torch_version: str, cuda: str | None, arch: list[str], cc: tuple[int, int] = (9, 0)) -> dict[str, Any]:
    p = h200()
    p["platform"]["machine"] = p["markers"]["platform_machine"] = "aarch64"
    p["driver"]["libcuda"]["gpus"] = [{"name": "NVIDIA GH200 480GB", "capability": list(cc), "memory_mib": 97871}]
    p["torch"].update(version=torch_version, cuda=cuda, arch_list=arch, cxx11_abi=True)
    if cuda is None:
        p["torch"].update(cuda_available=False, devices=[], nccl=None)
    return p


# torch >= 2.11's PyPI wheels for aarch64 are CUDA 13 builds for these (facts G1, measured in libtorch_cuda.so)
AARCH64_13 = ["sm_80", "sm_90", "sm_100", "sm_110", "sm_120"]


def test_pypi_torch_before_2_11_on_an_aarch64_gpu_machine_is_cpu_only() -> None:
    f = by_check(gh200("2.6.0", None, []))["torch.cuda"]
    assert f.status == "fail" and "CPU-only build" in f.summary
    assert "PyPI's torch wheels for aarch64 are CPU-only before 2.11 (facts G1)" in f.evidence
    assert "on aarch64, take torch 2.6.0 from the PyTorch index's CUDA builds" in (f.fix or "")
    # on x86_64 the fix is the general one
    p = gh200("2.6.0", None, [])
    p["platform"]["machine"] = "x86_64"
    assert "aarch64" not in (by_check(p)["torch.cuda"].fix or "")


@pytest.mark.parametrize(
    ("name", "cc", "status", "sass"),
    [
        ("NVIDIA GH200 480GB", (9, 0), "ok", "sm_90"),
        ("NVIDIA GB10", (12, 1), "ok", "sm_120"),  # DGX Spark: same-major SASS (facts G1)
        ("NVIDIA A10", (8, 6), "ok", "sm_80"),  # no sm_86 in aarch64 builds (facts G3): sm_80 SASS runs
        ("Tesla V100-SXM2-16GB", (7, 0), "fail", None),  # Volta is not in any aarch64 list
    ],
)
def test_aarch64_sass_lists(name: str, cc: tuple[int, int], status: str, sass: str | None) -> None:
    p = gh200("2.11.0+cu130", "13.0", AARCH64_13, cc)
    p["driver"]["libcuda"]["gpus"][0]["name"] = name
    f = by_check(p)["torch.arch"]
    assert f.status == status, f
    if sass:
        assert f"{name} (cc {cc[0]}.{cc[1]}): SASS {sass}" in f.evidence


def test_the_cuda_build_of_vllm_beside_a_rocm_torch_fails() -> None:
    """vLLM's ROCm wheels are for Python 3.12 only; with another Python the installer falls back to PyPI's CUDA
    wheel (facts H5)."""
    p = amd(amd_machine(), rocm_torch())
    p["packages"]["vllm"] = {
        "version": "0.8.5.post1",
        "requires": ["torch==2.5.1"],
        "tags": ["cp38-abi3-manylinux1_x86_64"],
        "libraries": [{"file": "vllm/_C.abi3.so", "needed": ["libcudart.so.12", "libc10.so"]}],
        "load": {"module": "vllm._C", "loader": "module", "ok": False,
                 "error": "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory"},
    }
    f = by_check(p)["vllm"]
    assert f.status == "fail"
    assert f.summary.startswith("vllm 0.8.5.post1: the CUDA build of vllm (its binaries link libcudart.so.12) beside "
                                "torch's ROCm build (HIP 6.2.41133-dd7f95766)")
    assert "https://wheels.vllm.ai/rocm/" in (f.fix or "") and "Python 3.12 only" in (f.fix or "")
