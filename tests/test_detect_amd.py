"""AMD GPUs, ROCm and aarch64 machines, detected from real captured outputs (tests/fixtures/detect/SOURCES.md)."""

from __future__ import annotations

import csv
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from llmenv.amd import (
    AmdGpu,
    gfx_from_override,
    gfx_from_target_version,
    kfd_gpu,
    parse_amd_smi_static,
    parse_amd_smi_version,
    parse_gfx,
    parse_kfd_properties,
    parse_rocm_smi_json,
    parse_rocm_version_file,
    parse_rocminfo,
)
from llmenv.backend import CudaVersion, RocmVersion
from llmenv.detect import NvmlReading, _real_nvml, detect, parse_nvidia_smi_header, parse_proc_driver_version
from llmenv.errors import UsageError
from llmenv.target import Gpu, Target

from .conftest import SHARED, fake_system

FIX = Path(__file__).parent / "fixtures" / "detect"
KFD = FIX / "amd" / "kfd" / "nodes"
TOOLS = FIX / "amd" / "tools"
NODES = "/sys/class/kfd/kfd/topology/nodes"


def node(n: int) -> dict[str, int]:
    return parse_kfd_properties((KFD / str(n) / "properties").read_text())


def bank(n: int) -> int | None:
    path = KFD / str(n) / "mem_banks" / "0" / "properties"
    return parse_kfd_properties(path.read_text())["size_in_bytes"] if path.exists() else None


def kfd_host(gpu_node: int, count: int) -> dict[str, str]:
    """A machine assembled from real node files: the CPU node 0 and ``count`` copies of one GPU node."""
    files = {f"{NODES}/0/properties": (KFD / "0" / "properties").read_text()}
    for i in range(1, count + 1):
        files[f"{NODES}/{i}/properties"] = (KFD / str(gpu_node) / "properties").read_text()
        mem = KFD / str(gpu_node) / "mem_banks" / "0" / "properties"
        if mem.exists():
            files[f"{NODES}/{i}/mem_banks/0/properties"] = mem.read_text()
    return files


# ------------------------------------------------------------------------------------------ parsers


@pytest.mark.parametrize(
    ("n", "gfx", "name", "mib"),
    [
        (1, "gfx906", "AMD GPU (gfx906)", None),
        (2, "gfx1102", "AMD GPU (gfx1102)", None),
        (4, "gfx942", "AMD Instinct MI300X", 206141652992 // 2**20),
        (5, "gfx950", "AMD Instinct MI350X", 309220868096 // 2**20),
        (6, "gfx1201", "AMD GPU (gfx1201)", None),
    ],
)
def test_kfd_nodes_of_real_gpus(n: int, gfx: str, name: str, mib: int | None) -> None:
    assert kfd_gpu(node(n), bank(n)) == AmdGpu(name=name, gfx=gfx, memory_mib=mib)


def test_the_cpu_node_is_no_gpu() -> None:
    assert node(0)["gfx_target_version"] == 0
    assert kfd_gpu(node(0)) is None


def test_gfx_target_versions_decode_as_the_kernel_table_says() -> None:
    with (SHARED / "facts" / "amd_gpu_gfx.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 20
    for row in rows:
        assert gfx_from_target_version(int(row["kfd_gfx_target_version"])) == row["llvm_target"], row["gpu"]
        assert parse_gfx(row["llvm_target"]) == row["llvm_target"]
    assert gfx_from_target_version(0) is None
    assert gfx_from_target_version(90416) is None  # a stepping over 15 is no target


def test_gfx_names_and_overrides() -> None:
    assert parse_gfx("gfx942:sramecc+:xnack-") == "gfx942"
    assert parse_gfx("amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-") == "gfx942"
    assert parse_gfx("GFX90A") == "gfx90a"
    for bad in ("gfx9420", "gfx943", "gfx11-generic", "942"):
        with pytest.raises(UsageError, match="AMD GPU architecture"):
            parse_gfx(bad)
    assert gfx_from_override("11.0.0") == "gfx1100"
    assert gfx_from_override("9.4.2") == "gfx942"
    assert gfx_from_override("10.3.0") == "gfx1030"
    assert gfx_from_override("gfx1100") is None


def test_rocminfo_of_a_four_mi300x_machine() -> None:
    gpus = parse_rocminfo((FIX / "mi300x" / "rocminfo.txt").read_text())
    # Two EPYC CPU agents and four GPU agents; the ISA lines (amdgcn-amd-amdhsa--gfx942:...) are not agents.
    assert gpus == [AmdGpu(name="AMD Instinct MI300X", gfx="gfx942")] * 4


def test_amd_smi_static_and_version() -> None:
    assert parse_amd_smi_static((TOOLS / "amd-smi-static-mi350x.txt").read_text()) == [
        AmdGpu(name="AMD Instinct MI350X", gfx="gfx950")
    ]
    assert parse_amd_smi_version((TOOLS / "amd-smi-version-na.txt").read_text()) is None
    assert parse_amd_smi_version((TOOLS / "amd-smi-header-rocm7.0.txt").read_text()) == RocmVersion(7, 0, 0)


def test_rocm_smi_gfx_version_is_the_decimal_kfd_number() -> None:
    # "GFX Version": "gfx9010" is 90010 = gfx90a (ROCm/rocm_smi_lib#159), not a target named gfx9010.
    gpus = parse_rocm_smi_json((TOOLS / "rocm-smi-productname-mi250x.json").read_text())
    assert gpus == [AmdGpu(name="AMD INSTINCT MI200 (MCM) OAM LC MBA HPE C2", gfx="gfx90a")]
    # The CSV form names the product only: no gfx target, nothing to plan with.
    assert parse_rocm_smi_json((TOOLS / "rocm-smi-productname-mi100.csv").read_text()) == []


def test_rocm_version_file() -> None:
    assert parse_rocm_version_file((TOOLS / "opt-rocm-info-version.txt").read_text()) == RocmVersion(6, 4, 0)
    assert parse_rocm_version_file("7.14.0\n") == RocmVersion(7, 14, 0)  # TheRock: 7.14, not 7.1.4
    assert parse_rocm_version_file("garbage\n") is None
    assert parse_rocm_version_file("") is None


# ------------------------------------------------------------------------------------------ detection


def test_detect_an_mi300x_host_from_kfd_and_opt_rocm() -> None:
    files = kfd_host(4, 8) | {"/opt/rocm/.info/version": (TOOLS / "opt-rocm-info-version.txt").read_text()}
    t = detect(fake_system(files=files))
    assert t.accelerator == "rocm" and not t.is_cpu and t.cuda is None
    assert t.gfx == ("gfx942",) and len(t.amd_gpus) == 8
    assert t.amd_gpus[0].name == "AMD Instinct MI300X" and t.amd_gpus[0].memory_mib == 196592
    assert t.rocm == RocmVersion(6, 4, 0)
    assert t.origins["amd_gpus"] == "KFD topology (gfx_target_version)"
    assert t.origins["rocm"] == "/opt/rocm/.info/version"
    d = t.to_dict()
    assert d["rocm"] == "6.4" and d["amd_gpus"][0]["gfx"] == "gfx942"
    assert Target.from_dict(d).amd_gpus == t.amd_gpus


def test_kfd_without_rocm_user_space_is_still_an_amd_target() -> None:
    # A pip-installed ROCm torch needs only the amdgpu kernel driver (facts H8 #2): no /opt/rocm at all.
    t = detect(fake_system(files=kfd_host(5, 8)))
    assert t.is_rocm and t.rocm is None and t.gfx == ("gfx950",)


def test_hsa_override_plans_for_the_target_the_runtime_loads() -> None:
    t = detect(fake_system(files=kfd_host(2, 1), environ={"HSA_OVERRIDE_GFX_VERSION": "11.0.0"}))
    assert t.gfx == ("gfx1100",)
    assert "runs as gfx1100" in t.amd_gpus[0].name
    assert "HSA_OVERRIDE_GFX_VERSION=11.0.0" in t.origins["amd_gpus"]


def test_unreadable_kfd_nodes_fall_back_to_amd_smi() -> None:
    files = {f"{NODES}/0/properties": (KFD / "0" / "properties").read_text()}
    commands = {
        "/usr/bin/amd-smi static --asic --vram": (0, (TOOLS / "amd-smi-static-mi350x.txt").read_text()),
        # the shape of the third-party captures facts H3 quotes (a ROCm 7.2.0 host)
        "/usr/bin/amd-smi version": (
            0,
            "AMDSMI Tool: 26.2.0 | ROCm version: 7.2.0 | amdgpu version: 6.16.6\n",
        ),
    }
    t = detect(fake_system(files=files, commands=commands))
    assert t.gfx == ("gfx950",) and t.origins["amd_gpus"] == "amd-smi"
    assert t.rocm == RocmVersion(7, 2, 0) and t.origins["rocm"] == "amd-smi version"


def test_no_kfd_runs_no_amd_tool() -> None:
    ran: list[str] = []
    base = fake_system()

    def run(argv: Any) -> tuple[int, str] | None:
        ran.append(" ".join(argv))
        return base.run(argv)

    from dataclasses import replace

    t = detect(replace(base, run=run))
    assert t.is_cpu and t.amd_gpus == () and t.rocm is None
    assert not any("amd-smi" in r or "rocminfo" in r or "rocm-smi" in r for r in ran)


def test_environment_names_an_amd_target() -> None:
    t = detect(fake_system(environ={"LLMENV_GPU": "gfx942", "LLMENV_ROCM": "6.4"}))
    assert t.is_rocm and t.gfx == ("gfx942",) and t.rocm == RocmVersion(6, 4)
    assert t.origins["amd_gpus"] == "environment" and t.origins["rocm"] == "environment"
    with pytest.raises(UsageError):
        detect(fake_system(environ={"LLMENV_ROCM": "six"}))
    with pytest.raises(UsageError):
        detect(fake_system(environ={"LLMENV_GPU": "gfx9999"}))


def test_nvidia_wins_on_a_mixed_host() -> None:
    nvml = NvmlReading(
        driver="580.95.05", cuda_driver_version=13000, gpus=(Gpu(name="NVIDIA H200", capability=(9, 0)),)
    )
    t = detect(fake_system(files=kfd_host(4, 1), nvml=nvml))
    assert t.accelerator == "cuda" and t.amd_gpus  # the AMD GPUs are still shown


# ------------------------------------------------------------------------------------------ aarch64


def test_gh200_is_a_linux_aarch64_cuda_target() -> None:
    smi = (FIX / "gh200" / "nvidia-smi.txt").read_text()
    assert parse_nvidia_smi_header(smi) == ("570.148.08", CudaVersion(12, 8))
    t = detect(fake_system(machine="aarch64", commands={"nvidia-smi": (0, smi)}))
    assert (t.os, t.arch, t.platform) == ("linux", "aarch64", "linux-aarch64")
    assert t.driver == "570.148.08" and t.cuda == CudaVersion(12, 8)
    assert t.marker_environment()["platform_machine"] == "aarch64"


def test_dgx_spark_nvml_without_memory_info_still_reads_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # GB10 shares the CPU's memory: nvmlDeviceGetMemoryInfo answers NOT_SUPPORTED (NVIDIA DGX Spark known
    # issues; snowflakedb/ArcticTraining#345). The GPU must not be lost with it.
    smi = (FIX / "gb10" / "nvidia-smi.txt").read_text()
    assert parse_nvidia_smi_header(smi) == ("580.95.05", CudaVersion(13, 0))

    class NotSupported(Exception):
        pass

    def memory(handle: object) -> object:
        raise NotSupported("Not Supported")

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: "580.95.05",
        nvmlSystemGetCudaDriverVersion_v2=lambda: 13000,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA GB10",
        nvmlDeviceGetCudaComputeCapability=lambda h: (12, 1),
        nvmlDeviceGetMemoryInfo=memory,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    r = _real_nvml()
    assert r == NvmlReading(
        driver="580.95.05", cuda_driver_version=13000, gpus=(Gpu(name="NVIDIA GB10", capability=(12, 1)),)
    )


def test_jetson_proc_version_is_no_driver_version() -> None:
    # L4T's 35.3.1 is not an NVIDIA driver version: Jetson (sm_87) has no PyTorch-index build (facts G1).
    text = (FIX / "jetson-orin" / "proc-driver-nvidia-version.txt").read_text()
    assert parse_proc_driver_version(text) is None


def test_llmenv_arch_overrides_the_machine() -> None:
    t = detect(fake_system(environ={"LLMENV_ARCH": "arm64"}))
    assert t.arch == "aarch64" and t.origins["arch"] == "environment"
    with pytest.raises(UsageError, match="CPU architecture"):
        detect(fake_system(environ={"LLMENV_ARCH": "riscv64"}))


def test_detect_cli_shows_the_amd_gpus(run_cli: Any) -> None:
    files = kfd_host(4, 2) | {"/opt/rocm/.info/version": "6.4.0-47\n"}
    r = run_cli("detect", system=fake_system(files=files))
    assert r.code == 0, r.err
    assert "rocm       6.4  (/opt/rocm/.info/version)" in r.out
    assert "AMD Instinct MI300X, gfx942, 192 GiB" in r.out
    assert "(an AMD ROCm target)" in r.out


def test_an_amd_host_is_never_planned_as_cpu_silently(run_cli: Any) -> None:
    r = run_cli("plan", "torch", "--json", system=fake_system(files=kfd_host(4, 8)))
    assert r.code == 0, r.err
    import json

    torch = json.loads(r.out)["packages"]["torch"]
    assert torch["variant"].startswith("rocm") and torch["index"] == f"pytorch-{torch['variant']}"
