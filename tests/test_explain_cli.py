"""`llmenv explain [FILE | -] [--json]`: reading the log, exit codes, the JSON contract."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Result

LOGS = Path(__file__).parent / "fixtures" / "uv-errors"


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_file(run_cli: Callable[..., Result]) -> None:
    r = run_cli("explain", str(LOGS / "produced" / "engine_pin.txt"))
    assert r.code == 0, r.err
    assert r.out.startswith(
        "cause [pin-conflict]: vllm requires torch==2.6.0, but your project requires torch==2.7.0"
    )
    assert '      $ uv add "torch==2.6.0"' in r.out.splitlines()


def test_file_relative_to_cwd(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "uv.log").write_text((LOGS / "produced" / "local_version.txt").read_text())
    r = run_cli("explain", "uv.log", cwd=tmp_path)
    assert r.code == 0 and "[local-version]" in r.out


def test_stdin_dash_and_piped(run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    text = (LOGS / "produced" / "extras_conflict.txt").read_text()
    monkeypatch.setattr("sys.stdin", _Stdin(text))
    assert "[extra-conflict]" in run_cli("explain", "-").out
    monkeypatch.setattr("sys.stdin", _Stdin(text))
    assert "[extra-conflict]" in run_cli("explain").out


def test_no_input_on_a_terminal_is_exit_2(
    run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=True))
    r = run_cli("explain")
    assert r.code == 2 and "no log given" in r.err and "Traceback" not in r.err


def test_missing_empty_and_directory_are_exit_2(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    assert run_cli("explain", str(tmp_path / "nope.log")).code == 2
    (tmp_path / "empty.log").write_text("  \n")
    r = run_cli("explain", str(tmp_path / "empty.log"))
    assert r.code == 2 and "empty" in r.err
    assert run_cli("explain", str(tmp_path)).code == 2


def test_json_contract(run_cli: Callable[..., Result]) -> None:
    r = run_cli("explain", str(LOGS / "produced" / "build_needs_torch.txt"), "--json")
    assert r.code == 0
    d = json.loads(r.out)
    assert set(d) == {"causes", "unknown", "lines", "failed"}
    assert d["unknown"] is False and d["failed"] is True
    c = d["causes"][0]
    assert set(c) == {"kind", "packages", "summary", "chain", "reason", "fixes", "evidence", "version", "split", "python", "pins"}
    assert c["kind"] == "build-needs-torch" and c["packages"] == ["flash-attn", "torch"]
    assert all(
        set(f) == {"title", "edit", "kind"} and f["kind"] in ("pyproject", "command") for f in c["fixes"]
    )


def test_unknown_log(run_cli: Callable[..., Result]) -> None:
    r = run_cli("explain", str(LOGS / "produced" / "unknown_build_error.txt"))
    assert r.code == 0
    assert r.out.startswith("llmenv explain: no known cause matches this log; it is not guessing one.")
    assert "  ValueError: unsupported configuration: foo" in r.out.splitlines()
    d = json.loads(run_cli("explain", str(LOGS / "produced" / "unknown_build_error.txt"), "--json").out)
    assert (
        d["unknown"] is True
        and d["causes"] == []
        and "ValueError: unsupported configuration: foo" in d["lines"]
    )


def test_listed_in_help(run_cli: Callable[..., Result], capsys: pytest.CaptureFixture[str]) -> None:
    run_cli("--help")  # argparse prints the top-level help itself
    assert "  explain " in capsys.readouterr().out


def test_project_makes_fixes_edit_its_own_file(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\ndependencies = ["torch==2.5.1"]\n'
    )
    log = str(LOGS / "produced" / "python_fork_no_wheels.txt")
    r = run_cli("explain", log, "--project", "proj", "--json")
    assert r.code == 0, r.err
    fix = json.loads(r.out)["causes"][0]["fixes"][0]
    assert fix["edit"] == '[project]\nrequires-python = ">=3.10,<3.14"'
    assert "proj/pyproject.toml" in fix["title"] or "pyproject.toml" in fix["title"]


def test_project_that_is_missing_or_not_toml_is_exit_2(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    log = str(LOGS / "produced" / "engine_pin.txt")
    r = run_cli("explain", log, "--project", str(tmp_path / "nowhere"))
    assert r.code == 2 and "no pyproject.toml" in r.err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pyproject.toml").write_text("[project\n")
    r = run_cli("explain", log, "--project", str(tmp_path / "bad"))
    assert r.code == 2 and "not valid TOML" in r.err


def test_lock_explains_with_the_project_uv_ran_on(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    """`llmenv lock` passes the project to explain: the requires-python fix keeps its own floor (3.10)."""
    from .explain_scenarios import _python_fork_no_wheels

    d = tmp_path / "proj"
    _python_fork_no_wheels(d, tmp_path / "index")
    import sys

    r = run_cli("lock", "--project", str(d), "--", "--python", sys.executable,
                environ={"UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"})
    assert r.code == 1
    assert "cause [python-version]: torch 2.5.1 has no" in r.err
    assert 'requires-python = ">=3.10,<3.14"' in r.err
