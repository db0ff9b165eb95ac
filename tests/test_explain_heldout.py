"""The held-out evaluation logs (tests/fixtures/uv-errors/heldout/ and heldout2/, scored in
docs/explain-eval.md): real uv / pip failures from public threads that were not among the fixtures when the
rules were written. Each must get the cause written down in its folder's expected.toml from the thread's
resolution, state nothing the log does not support, and offer fixes that are valid edits. The quality bar of
issue 5 (8 in 10 right) is checked on each set."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmenv.explain import explain

from .explain_checks import check_cause, check_fixes, check_supported, first_kind, load_expected, read_log

BASE = Path(__file__).parent / "fixtures" / "uv-errors"
SETS = ("heldout", "heldout2", "heldout3")
EXPECTED = {s: load_expected(BASE / s / "expected.toml") for s in SETS}
LOGS = [f"{s}/{p.name}" for s in SETS for p in sorted((BASE / s).glob("*.txt"))]


def _want(log: str) -> dict[str, object]:
    folder, name = log.split("/")
    return EXPECTED[folder][name]


@pytest.mark.parametrize("folder", SETS)
def test_every_log_has_an_expectation_and_a_source(folder: str) -> None:
    names = sorted(p.name for p in (BASE / folder).glob("*.txt"))
    assert sorted(EXPECTED[folder]) == names
    for name in names:
        first = (BASE / folder / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# source: https://github.com/"), name


@pytest.mark.parametrize("log", LOGS)
def test_cause_is_named(log: str) -> None:
    check_cause(log, read_log(BASE / log), _want(log))


@pytest.mark.parametrize("log", LOGS)
def test_states_only_what_the_log_supports(log: str) -> None:
    check_supported(log, read_log(BASE / log))


@pytest.mark.parametrize("log", LOGS)
def test_fixes_are_valid_edits(log: str) -> None:
    check_fixes(read_log(BASE / log))


@pytest.mark.parametrize("folder", SETS)
def test_quality_bar(folder: str) -> None:
    """At least 8 in 10 first causes right (the issue's bar; the per-log expectations above are stricter)."""
    logs = [log for log in LOGS if log.startswith(folder + "/")]
    right = sum(1 for log in logs if first_kind(explain(read_log(BASE / log))) == _want(log)["kind"])
    assert right * 10 >= len(logs) * 8, f"{right}/{len(logs)}"
