"""A fake base interpreter standing in for an NGC container's Python: a venv (made from a pyenv Python, or the
test interpreter's own base Python) holding a stub torch with NVIDIA's version ``2.6.0a0+ecf3bae40a.nv25.01``
and the files torch's build facts are read from, a stub ``nvidia-nccl-cu12`` and sympy, all real wheels
installed by the real uv (offline, from a folder).

``hashes(site)`` records every file of every RECORD in the base, so a test proves the base was not touched.
"""

from __future__ import annotations

import base64
import csv
import glob
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .wheelfactory import make_wheel

__all__ = ["NGC_TORCH", "FakeBase", "base_python", "hashes", "make_fake_base", "torch_files", "uv_binary"]

NGC_TORCH = "2.6.0a0+ecf3bae40a.nv25.01"
NCCL = "2.25.1"


def uv_binary() -> str:
    from llmenv.uvrun import find_uv

    return find_uv(os.environ)


def base_python() -> str:
    """A CPython >= 3.10 to build the base from: a pyenv 3.12 (as on the dev machine), else this one's base."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")))
    if found:
        return found[-1]
    return getattr(sys, "_base_executable", sys.executable)


def torch_files(version: str, cuda: str | None, abi: int | None) -> dict[str, str]:
    """The files of a torch install that its build facts come from, in the format torch's build writes them
    (``tools/generate_torch_version.py``; ``cmake/TorchConfig.cmake.in`` configured)."""
    out = {
        "torch/version.py": (
            "from typing import Optional\n\n"
            "__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n"
            f"__version__ = '{version}'\n"
            "debug = False\n"
            f"cuda: Optional[str] = {cuda!r}\n"
            "git_version = 'ecf3bae40a6f2f0f3b237bbed4b9da2f5b4a6d7c'\n"
            "hip: Optional[str] = None\n"
        ),
        "torch/lib/libtorch_cuda.so": "not really a shared library\n",
    }
    if abi is not None:
        out["torch/share/cmake/Torch/TorchConfig.cmake"] = (
            "# FindTorch\n"
            'if ("${CMAKE_CXX_COMPILER_ID}" STREQUAL "GNU")\n'
            f'  set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI={abi}")\n'
            "endif()\n"
        )
    return out


@dataclass(frozen=True)
class FakeBase:
    python: str  # the base interpreter
    prefix: Path
    site: Path
    wheels: Path  # the folder the base was installed from


def make_fake_base(root: Path, *, torch_version: str = NGC_TORCH) -> FakeBase:
    wheels = root / "base-wheels"
    make_wheel(
        wheels,
        "torch",
        torch_version,
        requires=["sympy>=1.13.1", "filelock"],
        files=torch_files(torch_version, "12.8", 1),
        local_in_dist_info=True,
        tag="py3-none-any",
    )
    make_wheel(
        wheels,
        "nvidia-nccl-cu12",
        NCCL,
        module=False,
        files={
            "nvidia/nccl/lib/libnccl.so.2": "stub\n",
            "nvidia/nccl/include/nccl.h": "#define NCCL_MAJOR 2\n",
        },
    )
    make_wheel(wheels, "sympy", "1.13.1")
    make_wheel(wheels, "filelock", "3.16.1")
    prefix = root / "base"
    uv = uv_binary()
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    subprocess.run([uv, "venv", "-q", "--python", base_python(), str(prefix)], check=True, env=env)
    python = prefix / "bin" / "python"
    install = [uv, "pip", "install", "-q", "--python", str(python), "--no-index", "--find-links", str(wheels)]
    subprocess.run([*install, "torch", "nvidia-nccl-cu12"], check=True, env=env)
    site = next((prefix / "lib").glob("python3.*/site-packages"))
    return FakeBase(python=str(python), prefix=prefix, site=site, wheels=wheels)


def hashes(site: Path) -> dict[str, str]:
    """sha256 of every file every RECORD in ``site`` lists (RECORD files themselves included), and the set of
    metadata folders: the base's installed state, for before/after comparisons."""
    out: dict[str, str] = {}
    for record in sorted(site.glob("*.dist-info/RECORD")):
        out[f"dist:{record.parent.name}"] = ""
        with record.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if not row:
                    continue
                path = (site / row[0]).resolve()
                data = path.read_bytes() if path.is_file() else b"<missing>"
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                out[row[0]] = digest
    return out
