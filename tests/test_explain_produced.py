"""The real uv, offline, on small broken projects: explain must name the right cause, and the fix it ranks for
the scenario must make uv succeed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from llmenv.explain import explain, read_project

from .explain_scenarios import (
    PRODUCED,
    PYPI_SCENARIOS,
    SCENARIOS,
    PypiScenario,
    Scenario,
    mask,
    merge_snippet,
    run,
    run_pip_compile,
    run_uv,
    static_and_dynamic_project,
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_real_uv_failure_is_explained_and_fixed(scenario: Scenario, tmp_path: Path) -> None:
    r = run(scenario, tmp_path)
    assert r.code != 0, r.out
    # as `llmenv lock` does: explain knows the project uv ran in
    d = explain(r.out, read_project((r.project / "pyproject.toml").read_text(encoding="utf-8")))

    # the stored fixture is this same failure (regenerate: `.venv/bin/python -m tests.explain_scenarios`)
    stored = (PRODUCED / f"{scenario.name}.txt").read_text(encoding="utf-8")
    assert mask(r.out, tmp_path).strip().splitlines()[-1] == stored.strip().splitlines()[-1]

    if scenario.kind is None:
        assert d.unknown, d
        assert any("ValueError: unsupported configuration" in ln for ln in d.lines)
        return
    first = d.causes[0]
    assert first.kind == scenario.kind, (first, r.out)
    assert set(scenario.packages) <= set(first.packages)
    for key, want in scenario.fields.items():
        assert getattr(first, key) == want, (key, first)

    if scenario.fix is None:
        return
    fix = first.fixes[scenario.fix - 1]
    if fix.kind == "pyproject":
        merge_snippet(r.project / "pyproject.toml", fix.edit)
    else:
        argv = shlex.split(fix.edit)
        assert argv[0] == "uv", fix.edit
        code, out = run_uv([*argv[1:], "--no-index", "--find-links", str(r.index)], r.project, tmp_path)
        assert code == 0, out
        if argv[1] == r.args[0]:
            return  # the fix is the command itself, run another way (`uv lock --no-sources-package x`)
    if scenario.after_fix:
        scenario.after_fix(r.project)
    code, out = run_uv(r.args, r.project, tmp_path)
    assert code == 0, f"fix {fix.title!r} did not make uv succeed:\n{fix.edit}\n{out}"


@pytest.mark.network
@pytest.mark.parametrize("scenario", PYPI_SCENARIOS, ids=lambda s: s.name)
def test_real_pypi_failure_is_explained(scenario: PypiScenario, tmp_path: Path) -> None:
    code, out = run_pip_compile(scenario, tmp_path)
    assert code != 0, out
    first = explain(out).causes[0]
    assert first.kind == scenario.kind, out
    assert set(scenario.packages) <= set(first.packages)


@pytest.mark.network
def test_static_and_dynamic_dependencies_with_real_setuptools(tmp_path: Path) -> None:
    """setuptools (from PyPI) refuses a field both static and dynamic; the top fix, applied, makes uv lock."""
    d = tmp_path / "project"
    args = static_and_dynamic_project(d)
    code, out = run_uv(args, d, tmp_path)
    assert code != 0, out
    first = explain(out, read_project((d / "pyproject.toml").read_text(encoding="utf-8"))).causes[0]
    assert first.kind == "config" and "dynamic" in first.summary
    merge_snippet(d / "pyproject.toml", first.fixes[0].edit)
    code, out = run_uv(args, d, tmp_path)
    assert code == 0, out
