"""Reading a base interpreter: its site folders (run isolated, or from its layout), its packages and its torch's
build facts, statically; on a real fake base (a venv holding an NGC-versioned stub torch) and on edge cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmenv.base import Files, probe_interpreter, read_base, read_packages, static_interpreter
from llmenv.base.model import BaseTorch, nvidia_build, nvidia_release, torch_linked
from llmenv.base.read import parse_torch_version_file, read_nccl, read_torch
from llmenv.errors import UsageError

from .fake_base import NCCL, NGC_TORCH, FakeBase, make_fake_base, torch_files
from .wheelfactory import make_wheel


@pytest.fixture(scope="module")
def fake_base(tmp_path_factory: pytest.TempPathFactory) -> FakeBase:
    return make_fake_base(tmp_path_factory.mktemp("fakebase"))


def test_the_base_interpreter_says_where_its_packages_are(fake_base: FakeBase) -> None:
    interp = probe_interpreter(fake_base.python)
    assert interp.site[0] == str(fake_base.site)
    assert interp.version.count(".") == 2 and interp.version.startswith("3.")
    assert interp.how == "ran it (python -I)"
    # The layout alone gives the same folder for a venv base (what detection uses: nothing is run).
    static = static_interpreter(fake_base.python)
    assert static is not None and static.site == (str(fake_base.site),)
    assert static.version.rsplit(".", 1)[0] == interp.version.rsplit(".", 1)[0]


def test_the_base_torch_is_read_from_its_files_not_imported(fake_base: FakeBase) -> None:
    base = read_base(probe_interpreter(fake_base.python), environ={}, origin="--base-python")
    t = base.torch
    assert t is not None
    assert t.version == NGC_TORCH
    assert str(t.release) == "2.6.0" and t.mm == "2.6" and t.parsed.is_prerelease
    assert str(t.cuda) == "12.8" and t.variant == "cu128"
    assert t.cxx11_abi and "TorchConfig.cmake" in t.abi_fact
    assert t.nvidia
    assert base.image == "NGC 25.01"
    assert base.nccl == NCCL and "nvidia-nccl-cu12" in (base.nccl_fact or "")
    assert {"torch", "nvidia-nccl-cu12", "sympy", "filelock"} <= set(base.names())
    assert base.packages["torch"].requires == ("sympy>=1.13.1", "filelock")
    # Nothing was imported: no bytecode was written next to the base's torch.
    assert not list((fake_base.site / "torch").rglob("__pycache__"))


@pytest.mark.parametrize(
    ("version", "release", "nvidia"),
    [
        ("2.6.0a0+ecf3bae40a.nv25.01", "25.01", True),
        ("2.8.0a0+5228986c39.nv25.5", "25.05", True),
        ("2.11.0a0+a6c236b9fd.nv26.3.46836102", "26.03", True),
        ("2.3.0a0+ebedce2", None, True),  # NGC 24.02: no .nv part yet (facts J1)
        ("1.11.0a0+b6df043", None, True),
        ("2.6.0+cu124", None, False),
        ("2.6.0", None, False),
        ("2.11.0.dev20260107+cu130", None, False),
        ("not a version", None, False),
    ],
)
def test_nvidia_builds_are_told_from_their_version(version: str, release: str | None, nvidia: bool) -> None:
    assert nvidia_release(version) == release
    assert nvidia_build(version) is nvidia


def test_torch_version_file_formats() -> None:
    new = "__version__ = '2.11.0.dev20260107+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n"
    assert parse_torch_version_file(new) == {
        "__version__": "2.11.0.dev20260107+cu130",
        "cuda": "13.0",
        "hip": None,
    }
    old = "__version__ = '1.13.1+cu117'\ndebug = False\ncuda = '11.7'\ngit_version = 'abc'\nhip = None\n"
    assert parse_torch_version_file(old)["cuda"] == "11.7"
    assert parse_torch_version_file("def broken(:\n") == {}
    assert parse_torch_version_file("cuda = compute()\n") == {}


def _torch_site(root: Path, version: str, cuda: str | None, abi: int | None) -> Path:
    site = root / "site"
    make_wheel(root / "w", "torch", version, files=torch_files(version, cuda, abi), local_in_dist_info=True)
    import zipfile

    with zipfile.ZipFile(next((root / "w").glob("torch-*.whl"))) as z:
        z.extractall(site)
    return site


@pytest.mark.parametrize(
    ("version", "cuda", "abi", "expect_abi", "fact"),
    [
        ("2.6.0+cu124", "12.4", 0, False, "-D_GLIBCXX_USE_CXX11_ABI=0"),
        ("2.6.0+cu124", "12.4", None, False, "PyPI torch <= 2.6"),
        ("2.7.1+cu128", "12.8", None, True, "PyPI torch >= 2.7"),
        ("2.6.0a0+ecf3bae40a.nv25.01", "12.8", None, True, "NVIDIA"),
        ("2.9.1", None, 1, True, "-D_GLIBCXX_USE_CXX11_ABI=1"),
    ],
)
def test_abi_and_cuda_of_a_torch(
    tmp_path: Path, version: str, cuda: str | None, abi: int | None, expect_abi: bool, fact: str
) -> None:
    site = _torch_site(tmp_path, version, cuda, abi)
    pkg = read_packages([str(site)])["torch"]
    t = read_torch(pkg)
    assert isinstance(t, BaseTorch)
    assert t.cxx11_abi is expect_abi and fact in t.abi_fact
    assert (str(t.cuda) if t.cuda else None) == cuda
    assert t.variant == (f"cu{cuda.replace('.', '')}" if cuda else "cpu")


def test_packages_first_folder_wins_and_egg_info_counts(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "numpy-1.26.4.dist-info").mkdir(parents=True)
    (a / "numpy-1.26.4.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: numpy\nVersion: 1.26.4\n"
    )
    (b / "numpy-2.0.0.dist-info").mkdir(parents=True)
    (b / "numpy-2.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: numpy\nVersion: 2.0.0\n"
    )
    (b / "apex.egg-info").mkdir()
    (b / "apex.egg-info" / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: apex\nVersion: 0.1\n")
    (b / "Transformer_Engine-1.13.0+e5edd6c.egg-info").write_text(
        "Metadata-Version: 2.1\nName: transformer_engine\nVersion: 1.13.0+e5edd6c\n"
    )
    (b / "broken.dist-info").mkdir()  # no METADATA: skipped
    got = read_packages([str(a), str(b), str(tmp_path / "missing")])
    assert got["numpy"].version == "1.26.4" and got["numpy"].location == str(a)
    assert got["apex"].version == "0.1"
    assert got["transformer-engine"].version == "1.13.0+e5edd6c"
    assert "broken" not in got


def test_nccl_from_wheel_else_system_library_else_environment(tmp_path: Path) -> None:
    lib = tmp_path / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libnccl.so.2.25.1").write_text("")
    os.symlink("libnccl.so.2.25.1", lib / "libnccl.so.2")
    files = Files(root=str(tmp_path))
    assert read_nccl({}, {}, files) == (
        "2.25.1",
        "/usr/lib/x86_64-linux-gnu/libnccl.so.2 -> libnccl.so.2.25.1",
    )
    assert read_nccl({}, {"NCCL_VERSION": "2.21.5-1"}, Files(root=str(tmp_path / "none")))[0] == "2.21.5"
    assert read_nccl({}, {}, Files(root=str(tmp_path / "none"))) == (None, None)


def test_a_bad_base_python_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such executable"):
        probe_interpreter(str(tmp_path / "python"))
    script = tmp_path / "notpython"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    with pytest.raises(UsageError, match="not a Python interpreter llmenv can read"):
        probe_interpreter(str(script))
    with pytest.raises(UsageError, match="timed out"):
        probe_interpreter(str(script), run=lambda argv, timeout: (124, f"timed out after {timeout:.0f} s"))


def test_torch_linked_names() -> None:
    assert all(
        torch_linked(n) for n in ("torch", "TorchVision", "triton", "nvidia-nccl-cu12", "nvidia_cudnn_cu12")
    )
    assert not any(torch_linked(n) for n in ("numpy", "vllm", "transformers"))


def test_a_torch_module_from_another_distribution_excludes_its_other_names(tmp_path: Path) -> None:
    """NGC's triton may come as ``pytorch-triton``: PyPI's ``triton`` (xgrammar requires it) must be excluded
    too, or uv installs a second triton module over the base's."""
    from llmenv.base.interpreter import Interpreter

    site = tmp_path / "site"
    (site / "pytorch_triton-3.1.0+cf34004b8.dist-info").mkdir(parents=True)
    (site / "pytorch_triton-3.1.0+cf34004b8.dist-info" / "METADATA").write_text(
        "Name: pytorch-triton\nVersion: 3.1.0+cf34004b8\n"
    )
    (site / "triton").mkdir()
    (site / "triton" / "__init__.py").write_text("")
    (site / "nvidia" / "cudnn").mkdir(parents=True)  # a namespace package: not a module of its own
    interp = Interpreter(python="/usr/bin/python3", version="3.12", prefix="/usr", site=(str(site),), how="x")
    base = read_base(interp, environ={}, origin="test")
    assert base.modules == ("triton",)
    assert {"pytorch-triton", "triton", "pytorch-triton-rocm", "triton-rocm"} <= set(base.names())
