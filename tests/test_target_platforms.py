"""TARGET flags for other platforms and AMD machines: --arch, --platform (repeatable), --rocm, --gpu gfxNNN."""

from __future__ import annotations

from typing import Any

import pytest

from llmenv.amd import AmdGpu
from llmenv.backend import CudaVersion, RocmVersion
from llmenv.cli._target import resolve_target
from llmenv.errors import UsageError
from llmenv.target import Gpu, Target, parse_platform

X86 = Target(os="linux", arch="x86_64")
H200 = Target(
    os="linux",
    arch="x86_64",
    driver="580.95.05",
    cuda=CudaVersion(13, 0),
    gpus=(Gpu(name="H200", capability=(9, 0)),),
)
MI300X = Target(amd_gpus=(AmdGpu(name="AMD Instinct MI300X", gfx="gfx942"),), rocm=RocmVersion(6, 4))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("linux-x86_64", "linux-x86_64"),
        ("linux_x86_64", "linux-x86_64"),
        ("Linux-AMD64", "linux-x86_64"),
        ("linux-aarch64", "linux-aarch64"),
        ("linux-arm64", "linux-aarch64"),
        ("macos-arm64", "darwin-arm64"),
        ("darwin-aarch64", "darwin-arm64"),
        ("windows-amd64", "windows-x86_64"),
    ],
)
def test_platform_names(text: str, key: str) -> None:
    assert parse_platform(text) == key


@pytest.mark.parametrize("bad", ["linux", "plan9-mips", "linux-riscv64", "windows-arm64", ""])
def test_bad_platform_names(bad: str) -> None:
    with pytest.raises(UsageError, match="platform"):
        parse_platform(bad)


def test_arch_flag_moves_the_target() -> None:
    t = resolve_target(H200, {"arch": "aarch64"})
    assert t.platform == "linux-aarch64" and t.cuda == CudaVersion(13, 0) and t.origins["arch"] == "--arch"
    assert t.marker_environment()["platform_machine"] == "aarch64"
    mac = Target(os="darwin", arch="arm64")
    assert resolve_target(mac, {"arch": "aarch64", "driver": "580.95.05"}).platform == "linux-aarch64"


def test_several_platforms_in_one_lock() -> None:
    t = resolve_target(H200, {"platform": ["linux-x86_64", "linux-arm64"]})
    assert t.platform == "linux-x86_64"
    assert t.lock_platforms == ("linux-x86_64", "linux-aarch64")
    assert t.to_dict()["platforms"] == ["linux-x86_64", "linux-aarch64"]
    assert Target.from_dict(t.to_dict()).lock_platforms == t.lock_platforms
    # A login node (x86_64) planning for GH200 nodes only: the target becomes that platform.
    t = resolve_target(H200, {"platform": ["linux-aarch64"]})
    assert t.platform == "linux-aarch64" and t.lock_platforms == ("linux-aarch64",)
    with pytest.raises(UsageError, match="not among the --platform"):
        resolve_target(H200, {"arch": "aarch64", "platform": ["linux-x86_64"]})


def test_rocm_flags_describe_an_amd_target() -> None:
    t = resolve_target(X86, {"rocm": "6.4", "gpu": ["gfx942"]})
    assert t.accelerator == "rocm" and t.rocm == RocmVersion(6, 4) and t.gfx == ("gfx942",)
    assert t.origins["rocm"] == "--rocm" and t.origins["amd_gpus"] == "--gpu"
    # --cuda rocmX.Y reads as --rocm X.Y (it used to be refused)
    assert resolve_target(X86, {"cuda": "rocm6.2.4"}).rocm == RocmVersion(6, 2, 4)
    # ROCm 7.14 is a release of its own, newer than 7.2
    assert resolve_target(X86, {"rocm": "7.14"}).rocm > RocmVersion(7, 2)
    # An NVIDIA machine planning for its AMD cluster: the NVIDIA side goes
    t = resolve_target(H200, {"gpu": ["gfx950,gfx950"]})
    assert t.accelerator == "rocm" and t.cuda is None and t.gpus == () and t.driver is None
    # An AMD machine planning for an NVIDIA cluster: the AMD side goes
    t = resolve_target(MI300X, {"driver": "580.95.05", "gpu": ["9.0"]})
    assert t.accelerator == "cuda" and t.amd_gpus == () and t.rocm is None
    assert resolve_target(MI300X, {"cuda": "cpu"}).is_cpu


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"rocm": "6.4", "driver": "550.54.14"}, "different machines"),
        ({"gpu": ["gfx942", "9.0"]}, "different machines"),
        ({"rocm": "6.4", "cuda": "12.4"}, "different machines"),
        ({"rocm": "6.4", "cuda": "cpu"}, "contradict"),
        ({"rocm": "6.4", "cuda": "rocm6.4"}, "once"),
        ({"rocm": "six"}, "ROCm version"),
        ({"gpu": ["gfx9999"]}, "AMD GPU architecture"),
        ({"cuda": "xpu"}, "unknown variant"),
    ],
)
def test_contradictions_are_bad_input(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_target(X86, flags)


@pytest.mark.parametrize(
    "argv",
    [
        ["--arch", "riscv64"],
        ["--platform", "plan9-mips"],
        ["--rocm", "6.4", "--driver", "550.54.14"],
        ["--gpu", "gfx9999"],
    ],
)
def test_cli_says_one_line_and_exits_2(run_cli: Any, argv: list[str]) -> None:
    r = run_cli("plan", "torch", *argv)
    assert r.code == 2
    assert "Traceback" not in r.err and r.err.strip()
