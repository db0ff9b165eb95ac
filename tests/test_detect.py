from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmenv.backend import CudaVersion
from llmenv.detect import (
    NvmlReading,
    detect,
    parse_meminfo,
    parse_nvcc_version,
    parse_nvidia_smi_header,
    parse_nvidia_smi_query,
    parse_proc_driver_version,
)
from llmenv.errors import UsageError
from llmenv.target import Gpu

from .conftest import FIXTURES, fake_system

CAPTURE = (FIXTURES / "detect" / "h200-capture.txt").read_text()


def _section(command: str) -> str:
    """The output of one command in the captured session."""
    parts = re.split(r"^\$ ", CAPTURE, flags=re.MULTILINE)
    for p in parts:
        if p.startswith(command):
            return p.split("\n", 1)[1]
    raise KeyError(command)


def test_nvidia_smi_header_from_real_h200() -> None:
    assert parse_nvidia_smi_header(_section("nvidia-smi\n")) == ("580.159.04", CudaVersion(13, 0))


def test_nvidia_smi_header_of_r610_drivers() -> None:
    # sgl-project/sglang#27487 (8xB200, Linux) and a WSL capture (facts I2): "KMD Version" / "CUDA UMD Version"
    linux = "| NVIDIA-SMI 610.43.02              KMD Version: 610.43.02     CUDA UMD Version: 13.3     |"
    assert parse_nvidia_smi_header(linux) == ("610.43.02", CudaVersion(13, 3))
    wsl = "| NVIDIA-SMI 615.78.02    KMD Version: 617.14    CUDA UMD Version: 13.4    |"
    assert parse_nvidia_smi_header(wsl) == ("617.14", CudaVersion(13, 4))


def test_nvidia_smi_query_from_real_h200() -> None:
    rows = parse_nvidia_smi_query(_section("nvidia-smi --query-gpu"))
    assert len(rows) == 1
    assert rows[0]["driver"] == "580.159.04"
    assert rows[0]["gpu"] == Gpu(name="NVIDIA H200", capability=(9, 0), memory_mib=143771)


def test_nvcc_from_real_h200() -> None:
    assert parse_nvcc_version(_section("nvcc --version")) == "13.0.88"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\nGCC version:",
            "550.54.14",
        ),
        ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build", "580.159.04"),
        ("570.86.15\n", "570.86.15"),
        ("garbage", None),
    ],
)
def test_proc_driver_version(text: str, want: str | None) -> None:
    assert parse_proc_driver_version(text) == want


def test_meminfo() -> None:
    assert parse_meminfo("MemTotal:       131072000 kB\nMemFree: 1 kB\n") == pytest.approx(125.0, rel=1e-3)


def test_detect_h200_through_nvidia_smi_chain() -> None:
    sys_ = fake_system(
        commands={
            "nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader": (
                0,
                "NVIDIA H200, 580.159.04, 9.0, 143771 MiB\n",
            ),
            "nvidia-smi": (0, _section("nvidia-smi\n")),
            "/usr/bin/nvcc --version": (0, _section("nvcc --version")),
        }
    )
    t = detect(sys_)
    assert t.driver == "580.159.04"
    assert t.cuda == CudaVersion(13, 0)
    assert [g.cc for g in t.gpus] == ["9.0"]
    assert t.nvcc == "13.0.88"
    assert t.origins["driver"] == "nvidia-smi"


def test_nvml_wins_over_nvidia_smi_and_env_wins_over_nvml() -> None:
    nvml = NvmlReading(
        driver="570.86.15", cuda_driver_version=12080, gpus=(Gpu(name="A100", capability=(8, 0)),)
    )
    t = detect(fake_system(nvml=nvml))
    assert (t.driver, t.cuda, t.origins["driver"]) == ("570.86.15", CudaVersion(12, 8), "nvml")
    t = detect(fake_system(nvml=nvml, environ={"LLMENV_DRIVER": "550.54.14", "LLMENV_GPU": "9.0,8.6"}))
    assert t.driver == "550.54.14"
    assert t.cuda == CudaVersion(12, 4)  # from Table 3, since the override names no CUDA
    assert [g.cc for g in t.gpus] == ["9.0", "8.6"]


def test_proc_only_gives_driver_and_table_cuda() -> None:
    t = detect(
        fake_system(
            files={
                "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  560.35.03  x"
            }
        )
    )
    assert t.driver == "560.35.03" and t.cuda == CudaVersion(12, 6) and t.gpus == ()


def test_broken_probe_is_skipped_and_no_gpu_is_cpu() -> None:
    def boom() -> NvmlReading:
        raise RuntimeError("NVML exploded")

    from dataclasses import replace

    t = detect(replace(fake_system(), nvml=boom))
    assert t.is_cpu and t.driver is None and t.gpus == ()


def test_bad_environment_override_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        detect(fake_system(environ={"LLMENV_DRIVER": "abc"}))


def test_detect_cli_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    r = run_cli(
        "detect", "--json", system=fake_system(environ={"LLMENV_DRIVER": "550.54.14", "LLMENV_GPU": "8.0"})
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["driver"] == "550.54.14" and d["cuda"] == "12.4" and d["gpus"][0]["compute_capability"] == "8.0"
    assert set(d) >= {"os", "arch", "glibc", "python", "cpus", "memory_gib", "nvcc", "cuda_home"}


def test_h200_capture_fixture_present() -> None:
    assert Path(FIXTURES / "detect" / "h200-capture.txt").stat().st_size > 1000
