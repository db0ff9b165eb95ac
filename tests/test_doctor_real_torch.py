"""The doctor's real probe against the real PyTorch (the CPU build on this machine's disk) and packages made from
real wheels (tests/fixtures/doctor/wheels/README.md): xformers' _C is a torch operator library, flash-attn's
CUDA-less wheel from its own setup.py, vLLM's _C on a machine without the NVIDIA driver.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from llmenv.doctor import PROBE
from llmenv.doctor.findings import Finding, diagnose
from llmenv.knowledge import load

from .doctor_sites import WHEELS, compile_so, install, real_torch

pytestmark = pytest.mark.slow
XFORMERS = WHEELS / "xformers-0.0.35"


@pytest.fixture(scope="module")
def torch_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("real-torch")
    return real_torch(base / "site", base / "uv-cache")


@pytest.fixture(scope="module")
def torch_lib(torch_site: Path) -> list[str]:
    return [f"-L{torch_site / 'torch' / 'lib'}", "-lc10", "-ltorch"]


def run_probe(*path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    p = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    data = json.loads(p.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def checks(probe: dict[str, Any]) -> dict[str, Finding]:
    return {f.check: f for f in diagnose(probe, kb=load()).findings}


def xformers_site(site: Path, c_so: Path) -> Path:
    """xformers 0.0.35 as installed from its wheel (its own METADATA, WHEEL and cpp_lib.json), with ``c_so`` for
    its 11 MB xformers/_C.so."""
    install(
        site,
        "xformers",
        "0.0.35",
        {
            "xformers/__init__.py": b"",
            "xformers/cpp_lib.json": (XFORMERS / "cpp_lib.json").read_bytes(),
            "xformers/_C.so": c_so.read_bytes(),
        },
        {"METADATA": (XFORMERS / "METADATA").read_bytes(), "WHEEL": (XFORMERS / "WHEEL").read_bytes()},
    )
    return site


def _has_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def healthy(torch_site: Path, torch_lib: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One environment, probed once: a healthy xformers, flash-attn's CUDA-less wheel, and a vLLM whose _C links the
    driver's libcuda.so.1."""
    import uv

    d = tmp_path_factory.mktemp("site-a")
    site = xformers_site(d / "site", compile_so(d / "_C.so", "fake_torch_library.cpp", cxx=True, libs=torch_lib))
    wheel = WHEELS / "flash_attn-2.7.4.post1-py3-none-any.whl"
    subprocess.run(
        [str(uv.find_uv_bin()), "pip", "install", "--quiet", "--no-deps", "--offline", "--target", str(site),
         "--cache-dir", str(d / "uv-cache"), str(wheel)],
        check=True, timeout=120,
    )
    stub = compile_so(d / "stub" / "libcuda.so.1", "libcuda_stub.c", "-Wl,-soname,libcuda.so.1")
    include = f"-I{sysconfig.get_paths()['include']}"
    vllm_c = compile_so(d / "vllm_C.so", "fake_vllm_driver.c", include, libs=[f"-L{stub.parent}", "-l:libcuda.so.1"])
    install(
        site,
        "vllm",
        "0.8.5.post1",
        {"vllm/__init__.py": b"", "vllm/_C.abi3.so": vllm_c.read_bytes()},
        {
            "METADATA": "Metadata-Version: 2.1\nName: vllm\nVersion: 0.8.5.post1\nRequires-Dist: torch\n",
            "WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp38-abi3-manylinux1_x86_64\n",
        },
    )
    return {"site": site, "probe": run_probe(site, torch_site)}


def test_xformers_torch_operator_library_is_loaded_as_xformers_does_and_is_ok(
    healthy: dict[str, Any], torch_site: Path
) -> None:
    probe = healthy["probe"]
    x = probe["packages"]["xformers"]
    assert x["libraries"][0]["pyinit"] == []  # no PyInit__C: not a Python module
    assert x["load"]["loader"] == "torch.ops.load_library" and x["load"]["ok"] is True, x["load"]
    f = checks(probe)["xformers"]
    assert f.status == "ok", f
    assert any(e.startswith("torch.ops.load_library(xformers._C") and e.endswith(": ok") for e in f.evidence)
    assert "built for torch 2.10.0+cu128, Python 3.10.19 (xformers/cpp_lib.json)" in f.evidence
    assert "requires torch>=2.10" in f.evidence
    # The old way, importing it as a Python module, fails on every healthy install: the false FAIL of issue 17.
    so = str(healthy["site"] / "xformers" / "_C.so")
    old = subprocess.run(
        [sys.executable, "-c", "import torch, importlib.util as u; s = u.spec_from_file_location('xformers._C', "
         f"{so!r}); m = u.module_from_spec(s); s.loader.exec_module(m)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(torch_site)}, timeout=120, check=False,
    )
    assert old.returncode != 0 and "PyInit__C" in old.stderr, old.stderr


def test_flash_attn_without_its_cuda_extension_fails(healthy: dict[str, Any]) -> None:
    """The wheel flash-attn 2.7.4.post1's setup.py builds when its CUDA build is skipped and no prebuilt wheel is
    downloaded: its Python files only. `import flash_attn` fails; the doctor used to say ok."""
    probe = healthy["probe"]
    fa = probe["packages"]["flash-attn"]
    assert fa["load"]["ok"] is None and fa["libraries"] == []
    assert fa["import"]["ok"] is False and "flash_attn_2_cuda" in fa["import"]["error"], fa["import"]
    f = checks(probe)["flash-attn"]
    assert f.status == "fail", f
    assert "installed without its compiled extension (flash_attn_2_cuda): `import flash_attn` fails" in f.summary
    assert "FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE" in (f.fix or "")


@pytest.mark.skipif(_has_driver(), reason="this machine has the NVIDIA driver")
def test_vllm_needing_the_drivers_libcuda_on_a_machine_without_a_driver_is_not_a_failure(
    healthy: dict[str, Any],
) -> None:
    probe = healthy["probe"]
    load = probe["packages"]["vllm"]["load"]
    assert load["loader"] == "module" and "libcuda.so.1: cannot open shared object file" in load["error"]
    found = checks(probe)
    f = found["vllm"]
    assert f.status == "warn", f
    assert "the NVIDIA driver's library, and this machine has no driver" in f.summary
    assert found["torch.cuda"].status == "ok"  # a CPU torch on a machine without a GPU


def test_xformers_built_for_another_torch_fails_with_the_reason_torch_hides(
    torch_site: Path, torch_lib: list[str], tmp_path: Path
) -> None:
    c_so = compile_so(
        tmp_path / "_C.so", "fake_torch_library.cpp", "-DWRONG_ABI", "-D_GLIBCXX_USE_CXX11_ABI=0", cxx=True,
        libs=torch_lib,
    )
    probe = run_probe(xformers_site(tmp_path / "site", c_so), torch_site)
    err = probe["packages"]["xformers"]["load"]["error"]
    # torch.ops.load_library wraps dlopen's message; the probe keeps the cause.
    assert err.startswith("OSError: Could not load this library") and "undefined symbol" in err, err
    f = checks(probe)["xformers"]
    assert f.status == "fail"
    assert "C++ ABI mismatch: it was compiled with _GLIBCXX_USE_CXX11_ABI=0" in f.summary, f.summary
