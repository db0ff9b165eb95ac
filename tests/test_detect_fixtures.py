"""Detection replayed from outputs captured on an NVIDIA H200 machine (tests/fixtures/detect/h200/, 2026-11-26).

Files: nvidia-smi.txt, nvidia-smi-query.txt (`--query-gpu=name,driver_version,compute_cap,memory.total
--format=csv,noheader`), proc-driver-nvidia-version.txt, sys-module-nvidia-version.txt, nvcc-version.txt,
meminfo.txt (`head -3 /proc/meminfo`), nproc.txt, env.txt, and detect.json (`python3 -m llmenv detect --json`
there, which read NVML).
"""

from __future__ import annotations

import json
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
from llmenv.target import Gpu

from .conftest import fake_system

H200 = Path(__file__).parent / "fixtures" / "detect" / "h200"
QUERY = "nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader"


def read(name: str) -> str:
    return (H200 / name).read_text()


CPUS = int(read("nproc.txt"))


def captured() -> dict[str, object]:
    d = json.loads(read("detect.json"))
    assert isinstance(d, dict)
    return d


def test_parsers_read_the_captured_outputs() -> None:
    assert parse_nvidia_smi_header(read("nvidia-smi.txt")) == ("580.159.04", CudaVersion(13, 0))
    rows = parse_nvidia_smi_query(read("nvidia-smi-query.txt"))
    assert rows == [
        {"driver": "580.159.04", "gpu": Gpu(name="NVIDIA H200", capability=(9, 0), memory_mib=143771)}
    ]
    assert (
        parse_proc_driver_version(read("proc-driver-nvidia-version.txt")) == "580.159.04"
    )  # the open module
    assert parse_proc_driver_version(read("sys-module-nvidia-version.txt")) == "580.159.04"
    assert parse_nvcc_version(read("nvcc-version.txt")) == "13.0.88"
    assert parse_meminfo(read("meminfo.txt")) == pytest.approx(131981020 / 1024**2)
    assert read("nproc.txt").strip() == "16"


def _files() -> dict[str, str]:
    return {
        "/proc/meminfo": read("meminfo.txt"),
        "/proc/driver/nvidia/version": read("proc-driver-nvidia-version.txt"),
        "/sys/module/nvidia/version": read("sys-module-nvidia-version.txt"),
    }


def _nvcc() -> dict[str, tuple[int, str]]:
    return {"/usr/local/cuda/bin/nvcc --version": (0, read("nvcc-version.txt"))}


def test_detect_through_nvml_gives_what_detect_printed_there() -> None:
    nvml = NvmlReading(
        driver="580.159.04",
        cuda_driver_version=13000,
        gpus=(Gpu(name="NVIDIA H200", capability=(9, 0), memory_mib=143771),),
    )
    system = fake_system(
        environ={"CUDA_HOME": "/usr/local/cuda"}, commands=_nvcc(), files=_files(), nvml=nvml
    )
    t = detect(system)
    assert {**t.to_dict(), "origins": dict(t.origins)} == captured()


def test_detect_through_nvidia_smi() -> None:
    commands = {
        "nvidia-smi": (0, read("nvidia-smi.txt")),
        QUERY: (0, read("nvidia-smi-query.txt")),
        **_nvcc(),
    }
    t = detect(
        fake_system(environ={"CUDA_HOME": "/usr/local/cuda"}, commands=commands, files=_files(), cpus=CPUS)
    )
    assert t.to_dict() == {k: v for k, v in captured().items() if k != "origins"}
    assert (t.driver, str(t.cuda), t.nvcc) == ("580.159.04", "13.0", "13.0.88")
    assert [(g.name, g.cc) for g in t.gpus] == [("NVIDIA H200", "9.0")]
    assert dict(t.origins) == {"driver": "nvidia-smi", "gpus": "nvidia-smi", "cuda": "nvidia-smi"}


def test_detect_from_the_kernel_module_alone() -> None:
    t = detect(fake_system(files=_files()))
    assert t.driver == "580.159.04"
    assert t.cuda == CudaVersion(13, 0)  # from the driver's version (CUDA release notes, Table 3)
    assert t.origins["driver"] == "/proc/driver/nvidia"
    assert t.gpus == ()  # neither NVML nor nvidia-smi: GPUs unknown
