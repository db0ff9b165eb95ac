"""doctor compares the environment with uv.lock, on a project really locked and synced by the bundled uv against a
local index of generated wheels; the severity rule is the one doctor --ray uses (tests/test_cluster.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .conftest import Result, fake_system
from .wheelfactory import make_wheel

RunCli = Callable[..., Result]


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    wheels = tmp_path / "wheels"
    for name, version in (("torch", "2.6.0"), ("setuptools", "75.1.0"), ("setuptools", "80.9.0"), ("smallpkg", "1.0"),
                          ("smallpkg", "2.0"), ("devtool", "1.0"), ("extra-pkg", "1.0")):
        make_wheel(wheels, name, version)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        f"""[project]
name = "lockproj"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["torch==2.6.0", "setuptools==75.1.0", "smallpkg<2"]

[dependency-groups]
dev = ["devtool"]

[[tool.uv.index]]
name = "local"
url = "{wheels}"
format = "flat"
"""
    )
    env = {"UV_PYTHON": getattr(sys, "_base_executable", sys.executable), "UV_OFFLINE": "1"}
    import os

    full = {**os.environ, **env}
    subprocess.run([_uv(), "lock", "--quiet"], cwd=proj, env=full, check=True, timeout=120)
    subprocess.run([_uv(), "sync", "--quiet"], cwd=proj, env=full, check=True, timeout=120)
    return proj, wheels, full


def _doctor(run_cli: RunCli, proj: Path) -> tuple[int, dict[str, Any]]:
    system = replace(fake_system(), run_long=None)  # the real probe, in the project's .venv
    r = run_cli("doctor", "--project", str(proj), "--json", system=system)
    lock = next(f for f in json.loads(r.out)["findings"] if f["check"] == "lock")
    return r.code, lock


def test_the_environment_against_its_lock(run_cli: RunCli, synced: tuple[Path, Path, dict[str, str]]) -> None:
    proj, wheels, env = synced
    code, lock = _doctor(run_cli, proj)
    assert lock["status"] == "ok", lock
    assert lock["summary"] == "the environment has the 4 locked package(s) at their locked versions"

    python = str(proj / ".venv" / "bin" / "python")
    uv_pip = [_uv(), "pip", "--quiet"]
    subprocess.run([*uv_pip, "uninstall", "--python", python, "torch"], env=env, check=True, timeout=60)
    subprocess.run(
        [*uv_pip, "install", "--python", python, "--find-links", str(wheels), "setuptools==80.9.0", "smallpkg==2.0",
         "extra-pkg"],
        env=env, check=True, timeout=60,
    )
    code, lock = _doctor(run_cli, proj)
    assert code == 1 and lock["status"] == "fail", lock
    assert lock["summary"] == (
        "the environment differs from uv.lock: 1 locked package(s) not installed: torch; 1 package(s) at another "
        "version than the lock: smallpkg 2.0 (locked: 1.0); 1 installer or build tool(s) at another version than "
        "the lock: setuptools 80.9.0 (locked: 75.1.0); 1 installed package(s) the lock does not have: extra-pkg 1.0"
    )
    assert lock["fix"].startswith("`llmenv sync` (uv sync) installs exactly what uv.lock has")

    # synced without the dev group: exact again, the group's package absent is not a problem
    subprocess.run([_uv(), "sync", "--quiet", "--no-dev"], cwd=proj, env=env, check=True, timeout=120)
    code, lock = _doctor(run_cli, proj)
    assert lock["status"] == "ok", lock
    assert "1 package(s) only dependency groups or extras need are not installed: devtool" in lock["evidence"]

    # a saved probe is compared with a project's lock only when the project is named
    system = replace(fake_system(), run_long=None)
    run_cli("doctor", "--project", str(proj), "--save-probe", "probe.json", system=system)
    r = run_cli("doctor", "--from-probe", "probe.json", "--project", str(proj), "--json")
    assert [f["status"] for f in json.loads(r.out)["findings"] if f["check"] == "lock"] == ["ok"]
    r = run_cli("doctor", "--from-probe", "probe.json", "--json")
    assert "lock" not in [f["check"] for f in json.loads(r.out)["findings"]]


def test_a_lock_that_cannot_be_exported_is_a_warning_not_a_crash(run_cli: RunCli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / ".venv" / "bin").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    (proj / "uv.lock").write_text("this is not a lock\n")
    python = proj / ".venv" / "bin" / "python"
    python.symlink_to(sys.executable)
    _, lock = _doctor(run_cli, proj)
    assert lock["status"] == "warn" and lock["summary"] == "the project's uv.lock could not be compared with the environment"
    assert "uv export failed" in lock["evidence"][0]
