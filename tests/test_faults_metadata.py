"""The static setup.py reader is bounded: constant expressions that would explode in memory or time, or nest
deeper than Python's stack, are one line and exit 2 — computed never, in milliseconds (issue 18)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from llmenv.errors import UsageError
from llmenv.metadata import from_setup_py

SETUP = 'from setuptools import setup\n{body}\nsetup(name="a", version="1", install_requires={reqs})\n'
BOMBS = {
    "str * 10**10 (a literal)": ('x = "x" * 10000000000', "[x]"),
    "list * 10**10": ('x = ["a"] * 10000000000', "x"),
    "60 doublings": ('x = "ab"\n' + "x = x + x\n" * 60, "[x]"),
    "20,000 concatenations": ("x = " + " + ".join(['"a"'] * 20_000), "[x]"),
    "900 concatenations": ("x = " + " + ".join(['"a"'] * 900), "[x]"),
    "replace amplification": ('x = "ab" * 5000\nx = x.replace("a", x).replace("a", x)', "[x]"),
    "format width": ('x = "{:>999999999}".format("a")', "[x]"),
    "quadratic sum": ('x = ["a"] * 100000\ny = sum([x] * 1000, [])', "y"),
    "extend doubling": ('x = ["a"]\n' + "x.extend(x)\n" * 60, "x"),
    "join of a huge list": ('x = ",".join(["abc"] * 10000000)', "[x]"),
    "dict merge loop": ('d = {"a": "b" * 1000000}\nx = [str(d) for _ in [0] * 100]', "x"),
}


@pytest.mark.parametrize("case", list(BOMBS), ids=list(BOMBS))
def test_exploding_constants_are_refused_without_being_computed(tmp_path: Path, case: str) -> None:
    body, reqs = BOMBS[case]
    (tmp_path / "setup.py").write_text(SETUP.format(body=body, reqs=reqs))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(UsageError, match="static"):
            from_setup_py(tmp_path / "setup.py")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 60  # computed never: a real run of these takes hours or all memory
    assert peak < 300 << 20, f"{peak >> 20} MiB"


def test_a_huge_setup_py_is_not_parsed(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("# " + "x" * (9 << 20) + "\n")
    with pytest.raises(UsageError, match="too large"):
        from_setup_py(tmp_path / "setup.py")


def test_ordinary_computation_still_reads(tmp_path: Path) -> None:
    body = (
        'base = ["torch>=2", "numpy"]\n'
        'extra = [f"pkg{i}" for i in ["a", "b"]]\n'
        'long = open("README.md").read().replace("\\r", "")\n'
        'reqs = base + extra + ["{}>=1".format("rich")]\n'
    )
    (tmp_path / "README.md").write_text("hello\r\n" * 20000)
    (tmp_path / "setup.py").write_text(SETUP.format(body=body, reqs="reqs"))
    meta = from_setup_py(tmp_path / "setup.py")
    assert [str(r) for r in meta.requires_dist] == ["torch>=2", "numpy", "pkga", "pkgb", "rich>=1"]


def test_override_from_a_bomb_is_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    (src / "setup.py").write_text(SETUP.format(body='x = "x" * 10000000000', reqs="[x]"))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1"\ndependencies = ["a"]\n')
    r = run_cli("override", "a==1", "--drop", "b", "--from", "src")
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1 and "internal error" not in r.err
