"""Bugs found by a new user's pass over the CLI, each pinned by the command that showed it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        # `--python 3` was read as Python 3.0 and planned for ("the target has 3.0").
        (["plan", "torch", "--python", "3"], "not a Python version: '3' (expected e.g. 3.12)"),
        # `--cuda 10.2` reported "driver 520.61.05 supports CUDA <= 10.2" (520.61.05 is CUDA 11.8's floor).
        (["plan", "torch", "--cuda", "10.2"], "--cuda 10.2 is older than any CUDA llmenv knows"),
        # A `--cuda` newer than the CUDA table, or one whose floor is unknown (13.4, 13.5), is accepted with a
        # warning that the driver is unknown (issue 13): tests/test_horizon.py.
    ],
)
def test_target_flags_outside_the_knowledge_are_exit_2(run_cli, argv: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(*argv)
    assert r.code == 2, (r.out, r.err)
    assert needle in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err


def test_cuda_newer_than_known_is_fine_with_the_driver_given(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "--cuda", "13.5", "--driver", "610.43.02")
    assert r.code == 0, r.err
    assert "driver 610.43.02 (CUDA <= 13.5)" in r.out
    assert "None" not in r.out


def test_new_pyproject_honours_the_umask(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `llmenv init ./p torch` wrote pyproject.toml as -rw------- (mkstemp's mode), unreadable to the group.
    old = os.umask(0o022)
    try:
        r = run_cli("init", "./p", "torch", "--cuda", "cpu", cwd=tmp_path)
    finally:
        os.umask(old)
    assert r.code == 0, r.err
    assert stat.S_IMODE((tmp_path / "p" / "pyproject.toml").stat().st_mode) == 0o644


def test_existing_pyproject_keeps_its_mode(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "pyproject.toml"
    f.write_text('[project]\nname = "x"\nversion = "0.1.0"\n')
    f.chmod(0o664)
    r = run_cli("init", ".", "torch", "--cuda", "cpu", cwd=tmp_path)
    assert r.code == 0, r.err
    assert stat.S_IMODE(f.stat().st_mode) == 0o664


def test_plan_shows_the_dependencies_it_does_not_plan(run_cli) -> None:  # type: ignore[no-untyped-def]
    # `llmenv plan requests` printed no package and an empty "why", although init writes "requests".
    r = run_cli("plan", "requests", "torch", "--cuda", "cpu")
    assert r.code == 0, r.err
    rows = r.out.split("\n\n")[1]
    assert "requests" in rows and "default index" in rows.split("requests", 1)[1].splitlines()[0]
    r = run_cli("plan", "requests", "--cuda", "cpu")
    assert r.code == 0, r.err
    assert "requests" in r.out
    why = r.out.split("why\n", 1)[1].split("\n\n", 1)[0]
    assert why.strip().startswith("- Python 3.12")  # nothing else is planned: only the Python


def test_doctor_in_an_unsynced_llmenv_project_says_sync_first(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Not llmenv's own interpreter, and not "add torch": the project exists, its environment does not yet."""
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--python", "3.12", cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("doctor", cwd=tmp_path)
    assert r.code == 1
    assert "no environment to inspect" in r.err and "llmenv sync" in r.err


def test_an_extra_no_release_provides_is_a_typo_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "verl[vlm]", "--driver", "550.54.14", "--python", "3.12")
    assert r.code == 2
    assert "verl has no extra 'vlm'; did you mean verl[vllm]?" in r.err
    assert len(r.err.strip().splitlines()) == 1
