"""The seed's cases for real, against PyPI (marked `network`; CI runs them: the machine reaches PyPI)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest
import tomlkit

pytestmark = pytest.mark.network


def _sdist(name: str, version: str, dest: Path) -> Path:
    """Download and unpack a release's sdist from PyPI; returns the unpacked folder."""
    r = httpx.get(
        f"https://pypi.org/simple/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
        follow_redirects=True,
    )
    r.raise_for_status()
    f = next(f for f in r.json()["files"] if f["filename"] == f"{name}-{version}.tar.gz")
    data = httpx.get(f["url"], timeout=120, follow_redirects=True).content
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest, filter="data")
    return dest / f"{name}-{version}"


@pytest.fixture(scope="module")
def verl_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sdist("verl", "0.5.0", tmp_path_factory.mktemp("verl-sdist"))


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


def test_seed_verl_workspace_fails_but_llmenv_path_source_locks(
    run_cli, tmp_path: Path, verl_tree: Path
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    # The seed's failure: `uv add --editable ./verl` makes verl a workspace member, so uv resolves every extra,
    # and verl[sglang]'s torch==2.6.0 pin clashes with the project's torch==2.8.0.
    ws = tmp_path / "workspace"
    ws.mkdir()
    shutil.copytree(verl_tree, ws / "verl")
    (ws / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11,<3.12"\ndependencies = ["torch==2.8.0"]\n'
        "\n[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n"
    )
    p = subprocess.run(
        [_uv(), "add", "--editable", "./verl"], cwd=ws, capture_output=True, text=True, timeout=600
    )
    assert p.returncode != 0
    assert "torch" in p.stderr and "sglang" in p.stderr

    # llmenv writes verl as an editable path source (not a workspace member): only the extras asked for count.
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copytree(verl_tree, proj / "verl")
    r = run_cli(
        "init",
        ".",
        "torch==2.8.0",
        "./verl",
        "--torch-index",
        "pypi",
        "--driver",
        "570.86.15",
        "--gpu",
        "9.0",
        "--python",
        "3.11",
        cwd=proj,
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()
    assert doc["tool"]["uv"]["sources"]["verl"] == {"path": "./verl", "editable": True}
    assert "workspace" not in doc["tool"]["uv"]
    r = run_cli("lock", cwd=proj)
    assert r.code == 0, r.err
    lock = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    assert [p["version"] for p in lock["package"] if p["name"] == "torch"] == ["2.8.0"]
