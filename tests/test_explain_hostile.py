"""explain never hangs (issue 18): hostile lines finish in bounded time, in a child process with a time limit, so
a regex that backtracks shows as a failure instead of a stuck suite. (Speed itself is measured by
bench/explain_speed.py, not here.) And the structure that keeps it linear: every pattern searched on every line
of a log carries a literal that gates it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

from llmenv.explain._scan import needles

_CHILD = r"""
import sys
from llmenv.explain import explain
unit, width, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = (unit * (width // len(unit) + 1))[:width]
explain("\n".join([line] * lines))
"""


@pytest.mark.parametrize("unit", ["a-", "Because a depends on b and ", "x.so: undefined symbol: _Z ", "Error x "])
def test_hostile_lines_do_not_hang(unit: str) -> None:
    p = subprocess.run([sys.executable, "-c", _CHILD, unit, "5000", "200"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]


# patterns that only ever see a bounded string or are anchored at the start of a line (one attempt per line)
_ANCHORED_OR_BOUNDED = {"_ANSI", "_TREE", "_PREFIXES", "_TERM_RE", "_BLOCK_END", "_COLLECTING", "_HINT_START",
                        "_EXC_RE", "_ERROR_START", "_UV_SIGNS", "_CACHED_SDIST"}


def test_every_line_pattern_is_gated_by_a_literal() -> None:
    mods = ["_parse"] + [f"rules.{m}" for m in ("_common", "build", "index", "network", "project", "resolution_pins",
                                               "resolution_python", "resolution_wheels", "resolution_sources",
                                               "runtime")]
    for m in mods:
        for name, v in vars(importlib.import_module(f"llmenv.explain.{m}")).items():
            rxs = [v] if isinstance(v, re.Pattern) else list(v) if isinstance(v, tuple) and v and all(
                isinstance(x, re.Pattern) for x in v) else []
            for rx in rxs:
                assert name in _ANCHORED_OR_BOUNDED or needles(rx) is not None, (m, name, rx.pattern[:80])
