"""`llmenv check` on the command line: exit codes, the human blocks, and the frozen JSON shape."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Result

FIXTURES = Path(__file__).parent / "fixtures"
Run = Callable[..., Result]


def test_json_contract(run_cli: Run, tmp_path: Path) -> None:
    src = FIXTURES / "check" / "engine-torch-mismatch.bad.toml"
    target = tmp_path / "pyproject.toml"
    shutil.copy(src, target)
    r = run_cli("check", "--json")
    assert r.code == 1 and r.err == ""
    d = json.loads(r.out)
    assert list(d) == ["file", "findings", "errors", "warnings"]
    assert d["file"] == str(target)
    assert isinstance(d["errors"], int) and isinstance(d["warnings"], int)
    assert d["errors"] == sum(f["severity"] == "error" for f in d["findings"]) >= 1
    assert d["warnings"] == sum(f["severity"] == "warning" for f in d["findings"])
    for f in d["findings"]:
        assert list(f) == ["severity", "code", "location", "message", "why", "fix"]
        assert f["severity"] in ("error", "warning", "info")
        assert all(isinstance(v, str) and v for v in f.values())
    first = d["findings"][0]
    assert (first["severity"], first["code"], first["location"]) == (
        "error",
        "engine-torch-mismatch",
        "project.dependencies[0]",
    )


def test_human_blocks_and_summary(run_cli: Run, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "pyprojects" / "NovaSky-AI__SkyRL__pyproject.toml", tmp_path / "pyproject.toml")
    r = run_cli("check", str(tmp_path))  # a folder means its pyproject.toml
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[-1] == "1 errors, 5 warnings"  # + ray 2.57.0 and torch 2.11.0 have no cp315 wheel
    i = lines.index("error[flat-index-declared-as-simple]")
    assert lines[i + 1] == "  location: tool.uv.index[2].format"
    assert lines[i + 2].startswith("  message:  index 'jax-tpu'")
    assert lines[i + 3].startswith("  why:      ")
    assert lines[i + 4] == "  fix:      [[tool.uv.index]]"
    assert lines[i + 5] == '            name = "jax-tpu"'
    assert all(line == line.rstrip() for line in lines)


def test_clean_file_exits_zero(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\n[tool.uv]\nrequired-version = ">=0.9"\n', encoding="utf-8"
    )
    r = run_cli("check")
    assert (r.code, r.out) == (0, "0 errors, 0 warnings\n")


def test_warnings_only_exit_zero(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\n[tool.uv]\ndev-dependencies = ["pytest"]\n', encoding="utf-8"
    )
    r = run_cli("check", "x.toml", "--json")
    assert r.code == 0
    d = json.loads(r.out)
    assert (d["errors"], d["warnings"]) == (0, 1)
    assert [f["severity"] for f in d["findings"]] == ["warning", "info"]  # no-required-version is advice


def test_missing_file_is_usage_error(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("check")
    assert r.code == 2 and r.out == ""
    assert r.err.splitlines() == [
        f"llmenv: error: {tmp_path / 'pyproject.toml'}: no such file (give a pyproject.toml or its folder)"
    ]


def test_malformed_toml_names_line_and_column(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.uv]\nenvironments = [\n  "a",,\n]\n', encoding="utf-8"
    )
    r = run_cli("check", "--json")
    assert r.code == 2 and r.out == ""
    (line,) = r.err.splitlines()
    assert line.startswith(f"llmenv: error: {tmp_path / 'pyproject.toml'}:5:")
    assert "invalid TOML" in line and "Traceback" not in r.err


def test_listed_in_help(run_cli: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--help").code == 0  # argparse prints help to the real stdout
    assert "  check " in capsys.readouterr().out


def test_online_reads_the_index_and_offline_says_not_checked(run_cli: Run, tmp_path: Path) -> None:
    """simpleRL-reason's pins: offline, math-verify is unknown (an info); --online against a PEP 691 index (a
    loopback one serving PyPI's captured pages) finds the floor it needs."""
    from .check_index import stub_index

    shutil.copy(FIXTURES / "check" / "requires-python-below-package.bad.toml", tmp_path / "pyproject.toml")
    env = {"LLMENV_DATA_DIR": str(tmp_path / "data"), "LLMENV_CACHE_DIR": str(tmp_path / "cache")}
    r = run_cli("check", "--json", environ=env)
    offline = json.loads(r.out)
    assert r.code == 0 and "python-not-checked" in [f["code"] for f in offline["findings"]]
    server = stub_index(tmp_path / "stubs", {"ray", "math-verify"})
    try:
        r = run_cli("check", "--json", "--online", "--index", server.url, environ=env)
    finally:
        server.stop()
    online = {f["code"]: f for f in json.loads(r.out)["findings"]}
    assert r.code == 1
    assert online["requires-python-below-package"]["location"] == "project.dependencies[1]"
    assert server.url in online["requires-python-below-package"]["message"]
    assert online["python-without-wheels"]["fix"].startswith('[project]\nrequires-python = ">=3.8,<3.12"')


def test_index_without_online_is_a_usage_error(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n', encoding="utf-8")
    r = run_cli("check", "--index", "https://pypi.org/simple")
    assert r.code == 2 and "--index is read with --online only" in r.err
    r = run_cli("check", "--online", "--index", "ftp://x")
    assert r.code == 2 and "an http(s) URL" in r.err
