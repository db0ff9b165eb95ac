"""Which interpreter doctor inspects (--python, the project, VIRTUAL_ENV, the python on PATH; never llmenv's own
silently), and that `check` and `plan` never run a project's interpreter (doctor does: it says so)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from llmenv.doctor import PROBE
from llmenv.doctor.environment import find_environment

from .conftest import Result, fake_system
from .doctor_probes import h200

RunCli = Callable[..., Result]


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def answering(*pythons: Path | str) -> object:
    """A machine whose interpreters all answer the probe with the H200 capture."""
    out = json.dumps(h200()) + "\n"
    return fake_system(commands={f"{p} {PROBE}": (0, out) for p in pythons})


def test_the_activated_virtual_environment_comes_before_the_python_on_path(run_cli: RunCli, tmp_path: Path) -> None:
    venv_python = executable(tmp_path / "venv" / "bin" / "python")
    path_python = executable(tmp_path / "bin" / "python")
    system = answering(venv_python, path_python)
    r = run_cli("doctor", system=system, environ={"VIRTUAL_ENV": str(tmp_path / "venv"), "PATH": str(tmp_path / "bin")})
    assert r.code == 0, r.out + r.err
    assert r.out.startswith(f"inspecting {venv_python} (the activated virtual environment (VIRTUAL_ENV))")
    r = run_cli("doctor", system=system, environ={"VIRTUAL_ENV": "", "PATH": str(tmp_path / "bin")})
    assert r.out.startswith(f"inspecting {path_python} (the `python` on PATH)")


def test_python3_on_path_when_there_is_no_python(run_cli: RunCli, tmp_path: Path) -> None:
    python3 = executable(tmp_path / "bin" / "python3")
    r = run_cli("doctor", system=answering(python3), environ={"VIRTUAL_ENV": "", "PATH": str(tmp_path / "bin")})
    assert r.out.startswith(f"inspecting {python3} (the `python3` on PATH)")


def test_llmenv_own_interpreter_is_never_taken_silently(tmp_path: Path) -> None:
    own = Path(sys.prefix) / "bin" / "python"
    env = find_environment(None, cwd=tmp_path, environ={"VIRTUAL_ENV": sys.prefix, "PATH": ""})
    assert env.python == str(own)
    assert "it is llmenv's own interpreter: pass --python or --project to inspect another one" in env.reason
    other = executable(tmp_path / "bin" / "python")
    env = find_environment(None, cwd=tmp_path, environ={"PATH": str(other.parent)})
    assert "llmenv's own" not in env.reason


def test_nothing_to_inspect_says_how_to_name_one(run_cli: RunCli, tmp_path: Path) -> None:
    r = run_cli("doctor", environ={"VIRTUAL_ENV": "", "PATH": str(tmp_path / "empty")})
    assert r.code == 1 and "no Python to inspect" in r.err and "--python PATH" in r.err


def test_python_flag(run_cli: RunCli, tmp_path: Path) -> None:
    venv_python = executable(tmp_path / "env" / "bin" / "python")
    system = answering(venv_python)
    # a virtual environment's folder, or its interpreter, relative to the working directory
    for given in ("env", "env/bin/python"):
        r = run_cli("doctor", "--python", given, "--json", system=system)
        assert r.code == 0 and json.loads(r.out)["python"] == str(venv_python), r.err
    # it wins over a project in the working directory; the project's lock and build settings still apply
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    executable(tmp_path / ".venv" / "bin" / "python")
    r = run_cli("doctor", "--python", "env", system=system)
    assert r.out.startswith(f"inspecting {venv_python} (--python (the project at {tmp_path}))"), r.out
    # bad values: one line, exit 2
    for bad, why in (("nowhere/python", "no such file"), ("no-such-python-here", "not found on PATH")):
        r = run_cli("doctor", "--python", bad)
        assert r.code == 2 and why in r.err and "Traceback" not in r.err
    (tmp_path / "plain").write_text("")
    r = run_cli("doctor", "--python", "plain")
    assert r.code == 2 and "not an executable" in r.err
    r = run_cli("doctor", "--python", str(venv_python), "--from-probe", "x.json")
    assert r.code == 2 and "--python does not go with --from-probe" in r.err


def test_the_help_says_doctor_runs_the_interpreter(run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("doctor", "--help").code == 0  # argparse prints help to the real stdout
    text = " ".join(capsys.readouterr().out.split())
    assert "doctor RUNS that interpreter" in text
    assert "`check` and `plan` never run it" in text


# ---------------------------------------------------------------------------------------------- check and plan


@pytest.fixture
def trap(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose .venv interpreter leaves a mark when anything runs it."""
    mark = tmp_path / "ran"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        "[project]\nname = 'x'\nversion = '0'\nrequires-python = '>=3.10'\ndependencies = ['torch']\n\n[tool.llmenv]\n"
    )
    executable(proj / ".venv" / "bin" / "python", f"#!/bin/sh\necho \"$@\" >> {mark}\nexit 0\n")
    return proj, mark


def recording() -> tuple[object, list[Sequence[str]]]:
    seen: list[Sequence[str]] = []
    base = fake_system()

    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        seen.append(list(argv))
        return None

    return replace(base, run=run, run_long=run), seen


@pytest.mark.parametrize("argv", [("check",), ("check", "pyproject.toml"), ("plan", "torch"), ("plan", "--json")])
def test_check_and_plan_never_run_the_projects_interpreter(
    run_cli: RunCli, trap: tuple[Path, Path], argv: tuple[str, ...]
) -> None:
    proj, mark = trap
    system, seen = recording()
    r = run_cli(*argv, system=system, cwd=proj, environ={"VIRTUAL_ENV": str(proj / ".venv")})
    assert r.code in (0, 1), r.err
    assert not mark.exists()
    assert not [a for a in seen if str(a[0]).startswith(str(proj))], seen
    # doctor does run it: that is what it is for
    system, seen = recording()
    run_cli("doctor", system=system, cwd=proj)
    assert [a[0] for a in seen] == [str(proj / ".venv" / "bin" / "python")]
    assert os.path.exists(proj / ".venv" / "bin" / "python")
