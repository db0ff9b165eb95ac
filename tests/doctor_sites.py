"""Site folders (for PYTHONPATH) holding installed distributions, for running the doctor's real probe on them.

``install`` writes files and a ``.dist-info`` whose RECORD lists them, as an installer does; ``compile_so`` builds a
shared library from tests/fixtures/doctor/fakes with this machine's C/C++ compiler; ``real_torch`` installs the CPU
build of PyTorch that lies on this machine's disk (/opt/wheels), when there is one for this Python.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
FAKES = FIXTURES / "fakes"
WHEELS = FIXTURES / "wheels"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install(site: Path, name: str, version: str, files: Mapping[str, bytes], meta: Mapping[str, str | bytes]) -> None:
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    everything = {**files, **{f"{dist_info}/{k}": v if isinstance(v, bytes) else v.encode() for k, v in meta.items()}}
    record = []
    for rel, data in everything.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{rel},{_hash(data)},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    (site / dist_info / "RECORD").write_text("\n".join(record) + "\n")


def compile_so(out: Path, source: str, *flags: str, cxx: bool = False, libs: Sequence[str] = ()) -> Path:
    """``source`` (a file in fakes/) compiled into the shared library ``out``; ``libs``: -L/-l flags, every one
    kept in DT_NEEDED (--no-as-needed)."""
    compiler = (shutil.which("g++") or shutil.which("c++")) if cxx else (shutil.which("gcc") or shutil.which("cc"))
    if not compiler:
        pytest.skip("needs a C/C++ compiler")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-shared", "-fPIC", *flags, "-o", str(out), str(FAKES / source), "-Wl,--no-as-needed", *libs],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def torch_wheel() -> str | None:
    """The CPU torch wheel on this machine's disk for the running Python, if any."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = sorted(glob.glob(f"/opt/wheels/torch-*+cpu-{tag}-{tag}-*.whl"))
    return found[-1] if found else None


def real_torch(target: Path, cache: Path) -> Path:
    """Install the real CPU torch into ``target`` (a site folder) with the bundled uv; skip when there is none."""
    wheel = torch_wheel()
    if wheel is None:
        pytest.skip("no CPU torch wheel for this Python in /opt/wheels")
    import uv

    subprocess.run(
        [str(uv.find_uv_bin()), "pip", "install", "--quiet", "--no-deps", "--offline", "--target", str(target),
         "--cache-dir", str(cache), wheel],
        check=True,
        timeout=300,
    )
    return target
