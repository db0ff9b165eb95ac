"""The real probe, run by this test environment's interpreter (CPU only, no torch unless a fake one is put first).

Fake torch packages (tests/fixtures/doctor/fake_torch, broken_torch) and fake flash-attn / vllm distributions with
real shared libraries compiled here (tests/fixtures/doctor/fakes) exercise the probe's reading end to end:
the ELF reader, the extension load in a child process, the `undefined symbol` explanation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmenv.doctor import PROBE, Environment, doctor, real_runner
from llmenv.doctor.findings import Finding
from llmenv.doctor.probe import elf_dynamic

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
FAKES = FIXTURES / "fakes"


def run_probe(*path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    env.pop("CUDA_HOME", None)
    p = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    data = json.loads(p.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def checks(probe: dict[str, Any]) -> dict[str, Finding]:
    from llmenv.doctor.findings import diagnose
    from llmenv.knowledge import load

    return {f.check: f for f in diagnose(probe, kb=load()).findings}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fake extension modules, compiled with this machine's C/C++ compiler."""
    cxx, cc = shutil.which("g++") or shutil.which("c++"), shutil.which("gcc") or shutil.which("cc")
    if not cxx or not cc:
        pytest.skip("needs a C and a C++ compiler")
    d = tmp_path_factory.mktemp("fakes")
    subprocess.run(
        [
            cxx,
            "-shared",
            "-fPIC",
            "-D_GLIBCXX_USE_CXX11_ABI=0",
            "-o",
            str(d / "fa.so"),
            str(FAKES / "fake_flash_attn.cpp"),
        ],
        check=True,
    )
    subprocess.run(
        [
            cc,
            "-shared",
            "-fPIC",
            "-Wl,-soname,libcudart.so.12",
            "-o",
            str(d / "libcudart.so.12"),
            str(FAKES / "cudart_stub.c"),
        ],
        check=True,
    )
    subprocess.run(
        [
            cc,
            "-shared",
            "-fPIC",
            "-o",
            str(d / "vllm_C.so"),
            str(FAKES / "fake_vllm.c"),
            f"-L{d}",
            "-l:libcudart.so.12",
        ],
        check=True,
    )
    site = d / "site"
    subprocess.run(
        [sys.executable, str(FAKES / "make_fakes.py"), str(site), str(d / "fa.so"), str(d / "vllm_C.so")],
        check=True,
    )
    return {"dir": d, "site": site}


def test_probe_prints_one_json_object_of_the_documented_shape() -> None:
    probe = run_probe()
    assert probe["probe"] == 2
    assert set(probe) >= {
        "python",
        "platform",
        "markers",
        "environ",
        "driver",
        "torch",
        "toolkit",
        "binaries",
        "packages",
    }
    assert probe["python"]["executable"] == sys.executable
    assert probe["python"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert probe["markers"]["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.skipif(
    bool(__import__("importlib.util").util.find_spec("torch")), reason="torch is installed here"
)
def test_without_torch_the_probe_reports_it_and_the_doctor_warns() -> None:
    probe = run_probe()
    assert probe["torch"] == {"installed": False}
    found = checks(probe)
    assert found["torch"].status == "warn"
    assert "torch.cuda" not in found


def test_a_torch_that_fails_to_import_is_a_failing_finding_not_a_crash() -> None:
    probe = run_probe(FIXTURES / "broken_torch")
    assert "libcudnn.so.9" in probe["torch"]["import_error"]
    f = checks(probe)["torch"]
    assert f.status == "fail" and "libcudnn.so.9 is missing" in (f.fix or "")


def test_the_probe_reads_torch_through_its_public_attributes() -> None:
    probe = run_probe(FIXTURES / "fake_torch")
    t = probe["torch"]
    assert (t["version"], t["cuda"], t["cxx11_abi"], t["cuda_available"]) == (
        "2.6.0+cu124",
        "12.4",
        True,
        False,
    )
    assert t["arch_list"] == ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    assert t["cuda_warnings"] == ["CUDA initialization: Found no NVIDIA driver on your system."]
    assert t["nccl"] == "2.21.5"


def test_elf_reader(compiled: dict[str, Path]) -> None:
    d = compiled["dir"]
    assert elf_dynamic(str(d / "vllm_C.so"))["needed"] == ["libcudart.so.12"]
    assert elf_dynamic(str(d / "libcudart.so.12"))["soname"] == "libcudart.so.12"
    fa = elf_dynamic(str(d / "fa.so"))
    assert "libstdc++.so.6" in fa["needed"] and fa["glibc"] is not None
    assert elf_dynamic(str(FAKES / "fake_vllm.c")) == {"error": "not an ELF file"}


def test_flash_attn_built_with_the_old_abi_is_caught_and_explained(compiled: dict[str, Path]) -> None:
    probe = run_probe(compiled["site"], FIXTURES / "fake_torch")
    fa = probe["packages"]["flash-attn"]
    assert fa["load"]["ok"] is False
    assert "undefined symbol: _ZN3c105ErrorC1ENS_14SourceLocationESs" in fa["load"]["error"]
    assert fa["direct_url"].endswith("+cu12torch2.6cxx11abiFALSE-" + fa["tags"][0] + ".whl")
    found = checks(probe)
    f = found["flash-attn"]
    assert f.status == "fail"
    assert (
        "C++ ABI mismatch: it was compiled with _GLIBCXX_USE_CXX11_ABI=0, torch 2.6.0+cu124 with 1"
        in f.summary
    )
    v = found["vllm"]
    assert v.status == "fail"
    assert "libcudart.so.12" in v.summary  # not installed here: the load fails on it
    assert "links libcudart.so.12: vllm/_C.abi3.so" in v.evidence
    assert "requires torch==2.6.0" in v.evidence  # the pin matches the (fake) torch 2.6.0


def test_doctor_runs_the_probe_in_the_given_interpreter() -> None:
    report, probe = doctor(Environment(python=sys.executable, project=None, reason="test"), run=real_runner())
    assert probe is not None and probe["python"]["executable"] == sys.executable
    assert report.python == sys.executable
    assert {"python", "torch", "driver", "nvcc", "glibc"} <= {f.check for f in report.findings}


def test_an_interpreter_that_does_not_exist_is_a_finding(tmp_path: Path) -> None:
    missing = str(tmp_path / "bin" / "python")
    report, probe = doctor(Environment(python=missing, project=None, reason="test"), run=real_runner())
    assert probe is None
    assert [(f.check, f.status) for f in report.findings] == [("probe", "fail")]
