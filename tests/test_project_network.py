"""Real projects whose own file locks against PyPI still lock after `llmenv init` (network: PyPI).

download.pytorch.org cannot be reached from here, so torch comes from PyPI (`--torch-index pypi`); everything else
of each project is resolved by the real uv against the real index, and the lock holds the planned torch on the
target while the project's own pins elsewhere stay (Open-LLM-VTuber keeps torch 2.2.2 on Intel macOS)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tomlkit

from .conftest import FIXTURES

PROJECTS = {  # the file, and the lock's torch versions besides the planned one (the project's own pins)
    "pytorch__torchtitan__pyproject.toml": set(),
    "Lightning-AI__litgpt__pyproject.toml": set(),
    "Open-LLM-VTuber__Open-LLM-VTuber__pyproject.toml": {"2.2.2"},
}
TARGET = ["--driver", "570.124.06", "--gpu", "9.0", "--python", "3.11", "--torch-index", "pypi"]


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROJECTS), ids=lambda n: n.split("__")[1])
def test_a_real_project_that_locks_still_locks_after_init(run_cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    original = tmp_path / "original"
    original.mkdir()
    shutil.copy(FIXTURES / "real_projects" / name, original / "pyproject.toml")
    assert run_cli("lock", "--project", str(original), cwd=tmp_path).code == 0  # theirs locks
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(FIXTURES / "real_projects" / name, proj / "pyproject.toml")
    r = run_cli("init", str(proj), "torch", *TARGET, "--json", cwd=tmp_path)
    assert r.code == 0, r.err
    planned = json.loads(r.out)["plan"]["packages"]["torch"]["version"]
    r = run_cli("lock", "--project", str(proj), cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    torches = {p["version"] for p in lock["package"] if p["name"] == "torch"}
    assert torches == {planned} | PROJECTS[name]
