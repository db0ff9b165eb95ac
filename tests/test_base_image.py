"""Detecting the image llmenv runs in (NGC, pytorch/pytorch, another container with a system torch) from
environment variables and paths, on injected environments and image trees; nothing is run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmenv.base import Files, detect_image, find_base, static_interpreter

from .fake_base import torch_files


def _tree(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Files:
    for path, text in files.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for path, target in (links or {}).items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
    return Files(root=str(root))


def _torch(site: str, version: str, cuda: str | None = "12.8", abi: int | None = 1) -> dict[str, str]:
    dist = f"{site}/torch-{version}.dist-info"
    out = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\nRequires-Dist: sympy\n"
    }
    out.update({f"{site}/{k}": v for k, v in torch_files(version, cuda, abi).items()})
    return out


NGC_SITE = "/usr/local/lib/python3.12/dist-packages"
DEBIAN_PY = {"/usr/bin/python3.12": "ELF", "/usr/lib/python3.12/os.py": ""}


def _ngc(
    root: Path, version: str = "2.6.0a0+ecf3bae40a.nv25.1", extra: dict[str, str] | None = None
) -> Files:
    files = {
        **DEBIAN_PY,
        **_torch(NGC_SITE, version),
        f"{NGC_SITE}/numpy-1.26.4.dist-info/METADATA": "Name: numpy\nVersion: 1.26.4\n",
        "/usr/lib/python3/dist-packages/six-1.16.0.egg-info": "Name: six\nVersion: 1.16.0\n",
        "/usr/lib/x86_64-linux-gnu/libnccl.so.2.25.1": "",
        **(extra or {}),
    }
    return _tree(
        root,
        files,
        {"/usr/bin/python3": "python3.12", "/usr/lib/x86_64-linux-gnu/libnccl.so.2": "libnccl.so.2.25.1"},
    )


def test_ngc_by_its_environment(tmp_path: Path) -> None:
    files = _ngc(tmp_path)
    env = {"NVIDIA_PYTORCH_VERSION": "25.01", "PYTORCH_VERSION": "2.6.0a0+ecf3bae", "NCCL_VERSION": "2.25.1"}
    image = detect_image(env, files)
    assert (
        image is not None and image.kind == "ngc" and image.release == "25.01" and image.name == "NGC 25.01"
    )
    assert image.evidence[0] == "NVIDIA_PYTORCH_VERSION=25.01"
    base = find_base(env, files)
    assert base is not None and base.torch is not None
    assert base.python == "/usr/bin/python3" and base.python_version == "3.12"
    assert base.site == (NGC_SITE, "/usr/lib/python3/dist-packages")
    assert base.torch.version == "2.6.0a0+ecf3bae40a.nv25.1" and str(base.torch.cuda) == "12.8"
    assert base.torch.cxx11_abi
    assert base.version_of("numpy") == "1.26.4" and base.version_of("six") == "1.16.0"
    assert base.nccl == "2.25.1" and "libnccl.so.2" in (base.nccl_fact or "")
    assert base.image == "NGC 25.01" and "NVIDIA_PYTORCH_VERSION=25.01" in base.origin


def test_ngc_without_its_variables_by_its_torch_or_its_files(tmp_path: Path) -> None:
    image = detect_image({}, _ngc(tmp_path / "a"))
    assert image is not None and image.kind == "ngc" and image.release == "25.01"
    assert "is NVIDIA's build" in image.evidence[0]
    # NGC >= 25.03 keeps its pip constraints and torch's source even when the torch is a plain version.
    files = _ngc(
        tmp_path / "b",
        version="2.7.0",
        extra={"/etc/pip/constraint.txt": "torch==2.7.0\n", "/opt/pytorch/README": ""},
    )
    image = detect_image({}, files)
    assert image is not None and image.kind == "ngc" and image.release is None and image.name == "NGC"


def test_pytorch_image_with_conda(tmp_path: Path) -> None:
    site = "/opt/conda/lib/python3.11/site-packages"
    files = _tree(
        tmp_path,
        {
            "/opt/conda/bin/python3.11": "ELF",
            **_torch(site, "2.5.1+cu124", "12.4", None),
            "/usr/bin/python3.10": "",
        },
        {"/opt/conda/bin/python3": "python3.11", "/usr/bin/python3": "python3.10"},
    )
    image = detect_image({"PYTORCH_VERSION": "2.5.1"}, files)
    assert image is not None and image.kind == "pytorch" and image.release == "2.5.1"
    assert image.pythons[0] == "/opt/conda/bin/python3"
    base = find_base({"PYTORCH_VERSION": "2.5.1"}, files)
    assert base is not None and base.torch is not None
    assert base.python == "/opt/conda/bin/python3" and base.site == (site,) and base.python_version == "3.11"
    assert not base.torch.cxx11_abi and "<= 2.6" in base.torch.abi_fact
    assert not base.torch.nvidia and base.image == "pytorch/pytorch 2.5.1"


def test_a_container_with_a_system_torch(tmp_path: Path) -> None:
    """pytorch/pytorch >= 2.10 keeps torch in dist-packages (uv#18062); the variables may be gone."""
    files = _tree(
        tmp_path,
        {"/.dockerenv": "", **DEBIAN_PY, **_torch(NGC_SITE, "2.10.0+cu128")},
        {"/usr/bin/python3": "python3.12"},
    )
    image = detect_image({}, files)
    assert image is not None and image.kind == "container" and image.evidence[0] == "/.dockerenv"
    base = find_base({}, files)
    assert base is not None and base.torch is not None and base.torch.version == "2.10.0+cu128"


@pytest.mark.parametrize("case", ["bare metal with a system torch", "an image without torch", "nothing"])
def test_no_base_where_there_is_none(tmp_path: Path, case: str) -> None:
    if case == "bare metal with a system torch":
        files = _tree(
            tmp_path, {**DEBIAN_PY, **_torch(NGC_SITE, "2.6.0+cu124")}, {"/usr/bin/python3": "python3.12"}
        )
        assert detect_image({}, files) is None
    elif case == "an image without torch":
        files = _tree(tmp_path, DEBIAN_PY, {"/usr/bin/python3": "python3.12"})
        assert detect_image({"NVIDIA_PYTORCH_VERSION": "25.01"}, files) is not None
        assert find_base({"NVIDIA_PYTORCH_VERSION": "25.01"}, files) is None
    else:
        files = _tree(tmp_path, {})
        assert detect_image({}, files) is None and find_base({"PYTORCH_VERSION": "2.5.1"}, files) is None


def test_layouts_read_without_running(tmp_path: Path) -> None:
    # A venv that includes its system site: the venv's folder, then its home interpreter's.
    files = _tree(
        tmp_path,
        {
            "/venv/pyvenv.cfg": "home = /usr/bin\ninclude-system-site-packages = true\nversion_info = 3.12.3\n",
            "/venv/lib/python3.12/site-packages/x.txt": "",
            **DEBIAN_PY,
            f"{NGC_SITE}/x.txt": "",
        },
        {"/venv/bin/python": "/usr/bin/python3", "/usr/bin/python3": "python3.12"},
    )
    interp = static_interpreter("/venv/bin/python", files)
    assert interp is not None and interp.version == "3.12.3"
    assert interp.site == ("/venv/lib/python3.12/site-packages", NGC_SITE)
    assert static_interpreter("/nowhere/python", files) is None
