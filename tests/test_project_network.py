"""Real projects whose own file locks against PyPI still lock after `llmenv init` (network: PyPI).

download.pytorch.org cannot be reached from here, so torch comes from PyPI (`--torch-index pypi`); everything else
of each project is resolved by the real uv against the real index, and the lock holds the planned torch on the
target while the project's own pins elsewhere stay (Open-LLM-VTuber keeps torch 2.2.2 on Intel macOS). The
project's requires-python floor stays (litgpt, Open-LLM-VTuber, nano-aha-moment: >=3.10 with a plan for Python
3.11, every chosen package having wheels for 3.10), so uv locks Python 3.10 as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tomlkit
from packaging.specifiers import SpecifierSet

from .conftest import FIXTURES

PROJECTS = {  # the file (real_projects/ or the corpus' pyprojects/), the lock's torch versions besides the planned one
    "pytorch__torchtitan__pyproject.toml": set(),
    "Lightning-AI__litgpt__pyproject.toml": set(),
    "Open-LLM-VTuber__Open-LLM-VTuber__pyproject.toml": {"2.2.2"},
    "McGill-NLP__nano-aha-moment__pyproject.toml": set(),  # torch==2.6.0, vllm==0.8.5: an A100 on driver 550
}
TARGET = ["--python", "3.11", "--torch-index", "pypi"]
MACHINES = {"McGill-NLP__nano-aha-moment__pyproject.toml": ["--driver", "550.54.14", "--gpu", "8.0"]}
H100 = ["--driver", "570.124.06", "--gpu", "9.0"]
# nano-aha-moment says python-preference = "only-managed"; uv cannot download a Python here: an installed one
ENVIRON = {"McGill-NLP__nano-aha-moment__pyproject.toml": {"UV_PYTHON_PREFERENCE": "managed"}}


def _file(name: str) -> Path:
    real = FIXTURES / "real_projects" / name
    return real if real.is_file() else FIXTURES / "pyprojects" / name


def _floor(requires_python: str) -> str | None:
    """The lowest Python minor (3.8-3.14) a requires-python allows."""
    spec = SpecifierSet(requires_python)
    return next((f"3.{m}" for m in range(8, 15) if spec.contains(f"3.{m}.99") or spec.contains(f"3.{m}.0")), None)


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROJECTS), ids=lambda n: n.split("__")[1])
def test_a_real_project_that_locks_still_locks_after_init(run_cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    original = tmp_path / "original"
    original.mkdir()
    shutil.copy(_file(name), original / "pyproject.toml")
    environ = ENVIRON.get(name, {})
    assert run_cli("lock", "--project", str(original), cwd=tmp_path, environ=environ).code == 0  # theirs locks
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(_file(name), proj / "pyproject.toml")
    target = [*MACHINES.get(name, H100), *TARGET]
    r = run_cli("init", str(proj), "torch", *target, "--json", cwd=tmp_path)
    assert r.code == 0, r.err
    planned = json.loads(r.out)["plan"]["packages"]["torch"]["version"]
    theirs = tomlkit.parse(_file(name).read_text()).unwrap()["project"]["requires-python"]
    ours = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()["project"]["requires-python"]
    assert _floor(ours) == _floor(theirs), (theirs, ours)  # the user's floor is kept
    r = run_cli("lock", "--project", str(proj), cwd=tmp_path, environ=environ)
    assert r.code == 0, r.err
    lock = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    torches = {p["version"] for p in lock["package"] if p["name"] == "torch"}
    assert torches == {planned} | PROJECTS[name]
