"""Replays of `llmenv doctor --json` runs captured on an NVIDIA H200 machine (tests/fixtures/doctor/README.md).

Each capture holds the probe's raw output (``*.probe.json``, written by ``--save-probe``) and the report printed
there (``*.json``): the findings computed here from the probe output must be exactly those printed on the device.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmenv.doctor.findings import diagnose
from llmenv.knowledge import load

from .conftest import Result, fake_system

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"


def read(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# Every capture committed: h200-ok and h200-mismatch (2026-11-26), and those tests/fixtures/doctor/capture.sh makes.
CAPTURES = sorted(p.name.removesuffix(".probe.json") for p in FIXTURES.glob("*.probe.json"))


def test_the_captures_are_there() -> None:
    assert {"h200-ok", "h200-mismatch"} <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_replayed_probe_gives_the_report_printed_on_the_device(name: str) -> None:
    probe, printed = read(f"{name}.probe.json"), read(f"{name}.json")
    report = diagnose(probe, kb=load(), python=printed["python"])
    assert report.to_dict() == printed


@pytest.mark.parametrize("name", CAPTURES)
def test_replay_through_the_cli(name: str, run_cli: Callable[..., Result]) -> None:
    printed = read(f"{name}.json")
    r = run_cli(
        "doctor", "--json", "--from-probe", str(FIXTURES / f"{name}.probe.json"), system=fake_system()
    )
    assert json.loads(r.out) == printed
    assert r.code == (1 if printed["fail"] else 0)


def test_h200_is_all_ok_with_cc_9_0_driver_580_and_torch_cu130_covering_sm_90() -> None:
    probe, printed = read("h200-ok.probe.json"), read("h200-ok.json")
    assert (printed["warn"], printed["fail"]) == (0, 0) and printed["ok"] == len(printed["findings"])
    assert probe["driver"]["libcuda"]["gpus"][0]["capability"] == [9, 0]
    assert probe["driver"]["libcuda"]["gpus"][0]["name"] == "NVIDIA H200"
    assert probe["driver"]["nvml"]["version"] == "580.159.04"
    assert probe["torch"]["version"] == "2.11.0+cu130" and "sm_90" in probe["torch"]["arch_list"]
    by_check = {f["check"]: f for f in printed["findings"]}
    assert by_check["torch.arch"]["summary"] == "torch has SASS for every GPU (sm_90)"
    assert by_check["driver"]["summary"].startswith(
        "driver 580.159.04 supports CUDA 13.0; torch's CUDA 13.0 runs"
    )


def test_mismatched_flash_attn_fails_with_the_explanation() -> None:
    printed = read("h200-mismatch.json")
    by_check = {f["check"]: f for f in printed["findings"]}
    fa = by_check["flash-attn"]
    assert fa["status"] == "fail"
    assert (
        "C++ ABI mismatch: it was compiled with _GLIBCXX_USE_CXX11_ABI=0, torch 2.11.0+cu130 with 1"
        in fa["summary"]
    )
    assert by_check["flash-attn.arch"]["status"] == "fail"  # the fake carries sm_80 code only
    vllm = by_check["vllm"]
    assert vllm["status"] == "fail"
    assert "requires torch==2.6.0, but torch 2.11.0+cu130 is installed" in vllm["summary"]
    assert "link the CUDA 12 runtime, torch uses CUDA 13.0" in vllm["summary"]


def test_extensions_on_the_gpu_machine() -> None:
    """capture.sh's second run: stand-ins built there against the machine's CUDA torch and driver."""
    if not (FIXTURES / "h200-v2-extensions.json").exists():
        pytest.skip("the capture of tests/fixtures/doctor/capture.sh is not committed yet")
    probe, printed = read("h200-v2-extensions.probe.json"), read("h200-v2-extensions.json")
    by_check = {f["check"]: f for f in printed["findings"]}
    assert probe["probe"] == 2 and probe["torch"]["cuda"] and probe["driver"]["libcuda"]["gpus"]
    assert by_check["xformers"]["status"] == "ok"  # torch.ops.load_library on a CUDA torch
    assert probe["packages"]["xformers"]["load"]["loader"] == "torch.ops.load_library"
    assert by_check["flash-attn"]["status"] == "fail" and "`import flash_attn` fails" in by_check["flash-attn"]["summary"]
    if "vllm" in by_check:  # built where Python's headers are there
        assert by_check["vllm"]["status"] == "ok"  # the driver's libcuda.so.1 is there
