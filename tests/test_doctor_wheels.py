"""The probe's reading of real wheels from PyPI (marked `network`): xformers' _C.so is a torch operator library."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from llmenv.doctor import PROBE
from llmenv.doctor.findings import diagnose
from llmenv.doctor.probe import elf_dynamic, loader_for
from llmenv.knowledge import load

from .doctor_sites import real_torch

pytestmark = pytest.mark.network
XFORMERS = "xformers-0.0.35-py39-none-manylinux_2_28_x86_64.whl"  # 3.2 MB
XFORMERS_SHA256 = "ccc73c7db9890224ab05f5fb60e2034f9e6c8672a10be0cf00e95cbbae3eda7c"


def _download(name: str, filename: str) -> bytes:
    r = httpx.get(
        f"https://pypi.org/simple/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
        follow_redirects=True,
    )
    r.raise_for_status()
    f = next(f for f in r.json()["files"] if f["filename"] == filename)
    data = httpx.get(f["url"], timeout=300, follow_redirects=True).content
    assert hashlib.sha256(data).hexdigest() == f["hashes"]["sha256"]
    return data


@pytest.mark.slow
def test_network_xformers_wheel(tmp_path: Path) -> None:
    data = _download("xformers", XFORMERS)
    assert hashlib.sha256(data).hexdigest() == XFORMERS_SHA256  # the wheel tests/fixtures/doctor/wheels/ names
    wheel = tmp_path / XFORMERS
    wheel.write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        (tmp_path / "_C.so").write_bytes(z.read("xformers/_C.so"))
    lib = elf_dynamic(str(tmp_path / "_C.so"))
    assert lib["pyinit"] == []  # no PyInit__C: not a Python module ...
    assert {"libc10.so", "libtorch.so", "libcudart.so.12"} <= set(lib["needed"])
    assert loader_for(lib, "_C") == "torch.ops.load_library"  # ... so the probe loads it as xformers does

    # Installed next to a CPU-only torch, it cannot load: it was built for a CUDA torch, and the doctor says so.
    site = real_torch(tmp_path / "torch", tmp_path / "uv-cache")
    import uv

    subprocess.run(
        [str(uv.find_uv_bin()), "pip", "install", "--quiet", "--no-deps", "--offline", "--target", str(site),
         "--cache-dir", str(tmp_path / "uv-cache"), str(wheel)],
        check=True, timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=env, timeout=300, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    loaded = probe["packages"]["xformers"]["load"]
    assert loaded["loader"] == "torch.ops.load_library" and loaded["ok"] is False
    f = next(f for f in diagnose(probe, kb=load()).findings if f.check == "xformers")
    assert f.status == "fail"
    assert "built for a CUDA build of torch, but torch 2.13.0+cpu is a CPU-only build" in f.summary, f.summary
    assert "built for torch 2.10.0+cu128, Python 3.10.19 (xformers/cpp_lib.json)" in f.evidence
