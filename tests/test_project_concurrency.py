"""Two llmenv runs editing one project at once take turns (issue 18): neither loses the other's edits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import tomlkit

from llmenv.project import locked

from .wheelfactory import make_wheel


def _llmenv(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "llmenv", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_concurrent_runs_keep_every_edit(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1.0"\ndependencies = []\n')
    wheels = [make_wheel(tmp_path / "whl", f"fw{i}", "1.0", requires=["dep==1"]) for i in range(6)]
    runs = [_llmenv("override", f"fw{i}==1.0", "--from", str(w), "--set", "dep==2", cwd=proj) for i, w in enumerate(wheels)]
    runs.append(_llmenv("init", ".", "torch", "--cuda", "cpu", "--python", "3.11", cwd=proj))
    for p in runs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    doc = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()
    names = sorted(e["name"] for e in doc["tool"]["uv"]["dependency-metadata"])
    assert names == [f"fw{i}" for i in range(6)]  # all six overrides
    assert sorted(doc["tool"]["llmenv"]["overrides"]) == names
    assert "torch" in doc["project"]["dependencies"]  # and init's edit
    # no lock file or temporary left behind; init writes the planned Python for uv
    assert sorted(p.name for p in proj.iterdir()) == [".python-version", "pyproject.toml"]


def test_a_second_run_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "p"\nversion = "0.1.0"\ndependencies = []\n')
    with locked(path):
        p = _llmenv("init", ".", "torch", "--cuda", "cpu", "--python", "3.11", cwd=tmp_path)
        time.sleep(4)  # long enough to plan and write, were it not waiting
        assert p.poll() is None and "torch" not in path.read_text()
    _out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "waiting for another llmenv run" in err
    assert "torch" in tomlkit.parse(path.read_text()).unwrap()["project"]["dependencies"]
