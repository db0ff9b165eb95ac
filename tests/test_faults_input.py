"""Hostile input is one line on stderr and exit 2, with the file untouched: duplicate keys, wrong types, NaN,
a FIFO where the pyproject.toml belongs, URLs that are not URLs, an ascii-only terminal (issue 18)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmenv.shape import problems

from .faults import spawn

BASE = '[project]\nname = "p"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = []\n'


def _cpu(torch_indexes: Path) -> tuple[str, ...]:
    return ("--cuda", "cpu", "--python", "3.11", "--torch-index", f"{torch_indexes}/{{variant}}")


def _one_line_exit_2(r, *must: str) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 2, (r.code, r.out, r.err)
    lines = [line for line in r.err.strip().splitlines() if not line.startswith("hint: ")]
    assert len(lines) == 1, r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
    for m in must:
        assert m in r.err, r.err


WRONG = {
    "duplicate key": (BASE + 'name = "q"\n', 'Key "name" already exists'),
    "dependencies = 3": (BASE.replace("dependencies = []", "dependencies = 3"), "project.dependencies must be an array of strings, not an integer (3)"),
    "project = 'x'": ('project = "x"\n', "project must be a table, not a string ('x')"),
    "tool = 3": ("tool = 3\n" + BASE, "tool must be a table, not an integer (3)"),
    "tool.uv = 3": (BASE + "[tool]\nuv = 3\n", "tool.uv must be a table"),
    "specs = 3": (BASE + "[tool.llmenv]\nspecs = 3\n", "tool.llmenv.specs must be an array of strings"),
    "target = 'x'": (BASE + "[tool.llmenv]\ntarget = 'x'\n", "tool.llmenv.target must be a table"),
    "mirror = 3": (BASE + "[tool.llmenv]\nmirror = 3\n", "tool.llmenv.mirror must be an array of strings"),
    "groups = 3": (BASE + "[tool.llmenv]\ngroups = 3\n", "tool.llmenv.groups"),
    "follow = 3": (BASE + "[tool.llmenv]\nfollow = 3\n", "tool.llmenv.follow"),
    "managed = 3": (BASE + "[tool.llmenv]\nmanaged = 3\n", "tool.llmenv.managed must be a table"),
    "torch-index = 3": (BASE + "[tool.llmenv]\ntorch-index = 3\n", 'tool.llmenv.torch-index must be a string'),
    "policy = 3": (BASE + "[tool.llmenv]\npolicy = 3\n", "tool.llmenv.policy must be one of 'strict', 'minor'"),
    "wheelhouse = 3": (BASE + "[tool.llmenv]\nwheelhouse = 3\n", "tool.llmenv.wheelhouse must be a string"),
    "memory_gib = nan": (BASE + "[tool.llmenv.target]\nos = 'linux'\narch = 'x86_64'\npython = '3.11'\nmemory_gib = nan\n", "memory_gib must be a finite number > 0, not nan"),
    "cpus = true": (BASE + "[tool.llmenv.target]\ncpus = true\n", "cpus must be a whole number >= 1"),
    "python = 3.10 (a float)": (BASE + "[tool.llmenv.target]\npython = 3.10\n", "python must be a string"),
}


@pytest.mark.parametrize("case", list(WRONG), ids=list(WRONG))
def test_a_wrong_typed_field_is_one_line_and_the_file_is_untouched(
    run_cli, tmp_path: Path, torch_indexes: Path, case: str
) -> None:  # type: ignore[no-untyped-def]
    text, message = WRONG[case]
    (tmp_path / "pyproject.toml").write_text(text)
    for args in (("init", ".", "torch", *_cpu(torch_indexes)), ("override", "torch==2.6.0", "--drop", "x")):
        r = run_cli(*args)
        _one_line_exit_2(r)
        assert message in r.err, r.err
        assert (tmp_path / "pyproject.toml").read_text() == text


def test_duplicate_keys_say_where_and_check_says_so_too(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys

    (tmp_path / "pyproject.toml").write_text(BASE + 'name = "q"\n')
    r = run_cli("init", ".", "--cuda", "cpu")
    _one_line_exit_2(r, 'Key "name" already exists')
    if sys.version_info >= (3, 11):
        assert "line 6" in r.err
    _one_line_exit_2(run_cli("check"), "invalid TOML")


def test_wheelhouse_reads_the_same_shape(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(BASE + "[tool]\nuv = 3\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    _one_line_exit_2(run_cli("wheelhouse", "wh"), "tool.uv must be a table")


@pytest.mark.parametrize("value", ["nan", "inf", "NaN", "1e400"])
@pytest.mark.parametrize("command", ["plan", "init"])
def test_memory_must_be_a_finite_number(run_cli, tmp_path: Path, torch_indexes: Path, value: str, command: str) -> None:  # type: ignore[no-untyped-def]
    args = ("init", ".") if command == "init" else ("plan",)
    r = run_cli(*args, "torch", *_cpu(torch_indexes), "--memory", value)
    _one_line_exit_2(r, "--memory must be a positive number of GiB")
    assert not (tmp_path / "pyproject.toml").exists()


def test_a_recorded_nan_is_not_written_back(run_cli, tmp_path: Path, torch_indexes: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("init", ".", "torch", *_cpu(torch_indexes), "--memory", "64")
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text())
    assert doc["tool"]["llmenv"]["target"]["memory_gib"] == 64.0
    doc["tool"]["llmenv"]["target"]["memory_gib"] = math.nan
    text = tomlkit.dumps(doc)
    (tmp_path / "pyproject.toml").write_text(text)
    _one_line_exit_2(run_cli("init", "."), "memory_gib must be a finite number > 0, not nan")
    assert (tmp_path / "pyproject.toml").read_text() == text


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--torch-index", "javascript:alert(1)"),
        ("--torch-index", "data:text/html,x"),
        ("--torch-index", "ftp://mirror/whl/{variant}"),
        ("--github-proxy", "javascript:alert(1)"),
        ("--github-proxy", "file:///etc"),
        ("--python-mirror", "javascript:alert(1)"),
    ],
)
def test_locations_are_http_file_or_a_folder(run_cli, tmp_path: Path, flag: str, value: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--python", "3.11", flag, value)
    _one_line_exit_2(r, repr(value))
    assert not (tmp_path / "pyproject.toml").exists()


def test_a_torch_index_folder_and_a_file_url_still_work(run_cli, tmp_path: Path, torch_indexes: Path) -> None:  # type: ignore[no-untyped-def]
    for value in (f"{torch_indexes}/{{variant}}", f"{torch_indexes.as_uri()}/{{variant}}"):
        r = run_cli("plan", "torch", "--cuda", "cpu", "--python", "3.11", "--torch-index", value)
        assert r.code == 0, r.err


@pytest.mark.parametrize("command", [("init", "."), ("override", "torch==2.6.0", "--drop", "x"), ("lock",), ("wheelhouse", "wh"), ("ray-env",)])
def test_a_fifo_named_pyproject_toml_is_refused_not_read(tmp_path: Path, command: tuple[str, ...]) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    p = spawn([*command, "--cuda", "cpu"] if command[0] == "init" else list(command), cwd=tmp_path)
    try:
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 2, err
    assert "internal error" not in err


def test_a_fifo_named_uv_lock_is_refused_not_read(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(BASE)
    os.mkfifo(tmp_path / "uv.lock")
    for command in (("ray-env",), ("wheelhouse", "wh")):
        _one_line_exit_2(run_cli(*command), "uv.lock")


@pytest.mark.parametrize(
    "args",
    [("plan", "torch", "--cuda", "cpu", "--python", "3.11"), ("plan", "torch", "--cuda", "cpu", "--json"), ("detect",)],
)
def test_an_ascii_only_terminal_gets_output_not_an_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    p = spawn(list(args), cwd=tmp_path, env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    out, err = p.communicate(timeout=60)
    assert p.returncode in (0, 1), err
    assert "internal error" not in err and "codec" not in err
    if "--json" in args:
        import json

        assert json.loads(out)["packages"]["torch"]


def test_explain_reads_a_utf8_log_on_an_ascii_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = "  × No solution found when resolving dependencies:\n  ╰─▶ Because foo==1.0 depends on bar>=2 and bar<2 ...\n"
    p = subprocess.run(
        [sys.executable, "-m", "llmenv", "explain", "-"],
        input=log.encode(),
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "NO_COLOR": "1"},
        cwd=tmp_path,
        check=False,
    )
    assert p.returncode in (0, 1), p.stderr
    assert b"internal error" not in p.stderr and b"codec" not in p.stderr


# ---------------------------------------------------------------------------------------------- property


_TOML_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(max_value=3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)
_FIELDS = [
    ("project", "dependencies"), ("project", "requires-python"), ("project", "optional-dependencies"),
    ("project", "name"), ("tool", "uv", "sources"), ("tool", "uv", "index"), ("tool", "uv", "environments"),
    ("tool", "llmenv", "specs"), ("tool", "llmenv", "policy"), ("tool", "llmenv", "mirror"),
    ("tool", "llmenv", "target", "memory_gib"), ("tool", "llmenv", "target", "cpus"),
    ("tool", "llmenv", "target", "python"), ("tool", "llmenv", "groups"), ("tool", "llmenv", "managed"),
    ("project",), ("tool",), ("tool", "uv"), ("tool", "llmenv"),
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_TOML_VALUES)
def test_any_value_in_any_field_is_an_answer_or_one_line(
    run_cli, tmp_path: Path, torch_indexes: Path, field: tuple[str, ...], value: object
) -> None:  # type: ignore[no-untyped-def]
    """Whatever a hand-edited field holds, init answers (exit 0) or refuses in one line (exit 2) and the file
    keeps its bytes; never an internal error, never a NaN written back."""
    doc: dict = tomlkit.parse(BASE).unwrap()  # type: ignore[type-arg]
    node = doc
    for part in field[:-1]:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else node
    node[field[-1]] = value
    try:
        text = tomlkit.dumps(doc)
        tomlkit.parse(text)
    except Exception:
        return  # not expressible as TOML (e.g. a key path through a scalar)
    proj = tmp_path / "p"
    proj.mkdir(exist_ok=True)
    (proj / "pyproject.toml").write_text(text)
    r = run_cli("init", str(proj), "torch", *_cpu(torch_indexes), "--dry-run")
    assert r.code in (0, 2), (field, value, r.err)
    assert "internal error" not in r.err, (field, value, r.err)
    if r.code == 2:
        assert len([ln for ln in r.err.strip().splitlines() if not ln.startswith("hint: ")]) == 1, r.err
    assert (proj / "pyproject.toml").read_text() == text
    if problems(tomlkit.parse(text).unwrap()):
        assert r.code == 2, (field, value)
