"""The doctor's probe reads ``LLMENV_DRIVER`` / ``LLMENV_GPU`` / ``LLMENV_CUDA`` like ``llmenv detect`` does, and
lists every installed distribution (``doctor --ray`` compares them with the lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

from llmenv.doctor import PROBE
from llmenv.doctor.findings import diagnose
from llmenv.knowledge import load
from tests.doctor_probes import h200

KB = load()


def _driver(probe: dict) -> str:  # type: ignore[type-arg]
    return next(f for f in diagnose(probe, kb=KB).findings if f.check == "driver").summary


def test_llmenv_driver_wins_over_nvml_and_its_cuda_comes_from_the_table() -> None:
    p = h200()  # NVML says 580.159.04, cuDriverGetVersion 13.0; torch is cu130
    p["driver"]["override"] = {"driver": "550.54.14"}
    report = diagnose(p, kb=KB)
    f = next(f for f in report.findings if f.check == "driver")
    # 550.54.14 supports CUDA 12.4 (the table), not the 13.0 libcuda reported for the real driver.
    assert f.summary.startswith("driver 550.54.14 supports CUDA 12.4, but torch was built with CUDA 13.0")
    assert f.status == "fail"
    assert any("LLMENV_DRIVER" in e for e in f.evidence)


def test_llmenv_cuda_and_gpu_override_the_readings() -> None:
    p = h200()
    p["driver"]["override"] = {"driver": "580.159.04", "cuda": "12.8", "gpu": "8.0,8.0"}
    assert _driver(p).startswith("driver 580.159.04 supports CUDA 12.8")
    arch = next(f for f in diagnose(p, kb=KB).findings if f.check == "torch.arch")
    assert arch.summary == "torch has SASS for every GPU (sm_80)"  # the H200's 9.0 is overridden away


def test_a_malformed_override_is_ignored_not_fatal() -> None:
    p = h200()
    p["driver"]["override"] = {"driver": "not-a-driver", "gpu": "x"}
    assert _driver(p).startswith("driver 580.159.04 supports CUDA 13.0")


def test_the_real_probe_records_the_overrides_and_every_distribution() -> None:
    env = {**os.environ, "LLMENV_DRIVER": " 535.104.05 ", "LLMENV_GPU": "9.0", "LLMENV_CUDA": ""}
    out = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=120, check=True
    ).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["driver"]["override"] == {"driver": "535.104.05", "gpu": "9.0"}
    assert probe["distributions"]["packaging"] == metadata.version("packaging")
    assert _driver(probe).startswith("driver 535.104.05 supports CUDA 12.2")


def test_without_overrides_the_probe_records_none() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMENV_")}
    out = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=120, check=True
    ).stdout
    assert "override" not in json.loads(out.strip().splitlines()[-1])["driver"]
