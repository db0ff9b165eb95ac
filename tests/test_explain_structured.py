"""The cause as data for the planner's closed loop: version, split, python and pins, on logs of uv's general shape
(old tree layout, wrapped markers, the newer error/cause layout) with packages other than the produced fixtures'."""

from __future__ import annotations

import pytest

from llmenv.explain import Pin, explain, read_project
from llmenv.explain._fork import python_bound, python_range


@pytest.mark.parametrize(
    ("marker", "floor", "active", "bound"),
    [
        ("python_full_version >= '3.13'", None, None, "<3.13"),
        ("python_full_version >= '3.13' and sys_platform == 'linux'", "3.10", None, "<3.13"),
        ("python_full_version < '3.11'", None, None, ">=3.11"),
        ("python_full_version == '3.10.*'", "3.10", None, ">=3.11"),
        ("python_full_version == '3.10.*'", None, "3.12", ">=3.11"),
        ("python_full_version == '3.13.*'", "3.10", None, "<3.13"),
        ("python_full_version >= '3.11' and python_full_version < '3.13'", "3.10", None, "<3.11"),
        ("python_full_version >= '3.12'", "3.12", None, None),  # the fork is every Python the project allows
        ("sys_platform == 'darwin'", None, None, None),
        ("python_full_version < '3.11' or sys_platform == 'win32'", None, None, None),
    ],
)
def test_python_bound_of_a_fork(marker: str, floor: str | None, active: str | None, bound: str | None) -> None:
    assert python_bound(marker, floor=floor, active=active) == bound


def test_python_range_says_whether_only_python() -> None:
    r = python_range("python_full_version >= '3.13' and sys_platform == 'linux'")
    assert r is not None and r.lower == (3, 13) and r.upper is None and not r.only_python


OLD_LAYOUT_FORK = """\
  × No solution found when resolving dependencies for split (markers: python_full_version >= '3.14' and
  │ sys_platform == 'win32'):
  ╰─▶ Because llama-cpp-python==0.3.19 has no wheels with a matching Python version tag (e.g., `cp313`) and only
      llama-cpp-python==0.3.19 is available, we can conclude that all versions of llama-cpp-python cannot be used.
      And because your project depends on llama-cpp-python, we can conclude that your project's requirements are
      unsatisfiable.

      hint: While the active Python version is 3.13, the resolution failed for other Python versions supported by
      your project. Consider limiting your project's supported Python versions using `requires-python`.
"""


def test_python_fork_in_the_old_wrapped_layout() -> None:
    c = explain(OLD_LAYOUT_FORK).causes[0]
    assert c.kind == "python-version" and c.packages == ("llama-cpp-python",)
    assert c.version == "0.3.19"
    assert c.split == "python_full_version >= '3.14' and sys_platform == 'win32'"
    assert c.python == "<3.14"


NEW_LAYOUT_LINUX = """\
error: No solution found when resolving dependencies for split (markers: python_full_version >= '3.13')
  cause: Because onnxruntime==1.19.2 has no Linux-compatible wheels and your project depends on onnxruntime==1.19.2, we can conclude that your project's requirements are unsatisfiable.

hint: While the active Python version is 3.12, the resolution failed for other Python versions supported by your project. Consider limiting your project's supported Python versions using `requires-python`.
"""


def test_linux_wheels_missing_in_a_python_fork_is_a_python_cause_not_a_platform_one() -> None:
    c = explain(NEW_LAYOUT_LINUX).causes[0]
    assert c.kind == "python-version"
    assert (c.version, c.split, c.python) == ("1.19.2", "python_full_version >= '3.13'", "<3.13")
    assert c.pins == (Pin(by="your project", by_version=None, package="onnxruntime", spec="==1.19.2"),)


def test_the_python_fix_edits_the_projects_own_requires_python() -> None:
    project = read_project('[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.9, !=3.9.1"\n')
    c = explain(NEW_LAYOUT_LINUX, project).causes[0]
    assert c.fixes[0].edit == '[project]\nrequires-python = ">=3.9,!=3.9.1,<3.13"'
    # without the project, and with no floor in the log, the edit says what to add
    assert "add \",<3.13\"" in explain(NEW_LAYOUT_LINUX).causes[0].fixes[0].edit


def test_whole_range_without_wheels_lowers_the_floor_below_the_cap() -> None:
    log = """\
error: No solution found when resolving dependencies
  cause: Because spacy==3.8.2 has no wheels with a matching Python version tag (e.g., `cp314`) and your project depends on spacy==3.8.2, we can conclude that your project's requirements are unsatisfiable.

hint: Wheels are available for `spacy` (v3.8.2) with the following Python ABI tags: `cp39`, `cp310`, `cp311`, `cp312`, `cp313`
"""
    project = read_project('[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.14"\n')
    c = explain(log, project).causes[0]
    assert (c.kind, c.version, c.split, c.python) == ("python-version", "3.8.2", None, "<3.14")
    assert c.fixes[0].edit == '[project]\nrequires-python = ">=3.13,<3.14"'


def test_pin_conflict_says_which_package_pins_which_version() -> None:
    log = """\
  × No solution found when resolving dependencies for split (markers: python_full_version >= '3.12'):
  ╰─▶ Because all versions of sglang depend on torch==2.5.1 and your project depends on
      torch{python_full_version >= '3.12'}==2.6.0, we can conclude that your project and all versions of sglang
      are incompatible.
      And because your project depends on sglang==0.4.1, we can conclude that your project's requirements are
      unsatisfiable.
"""
    c = explain(log).causes[0]
    assert c.kind == "pin-conflict" and c.packages == ("torch", "sglang")
    assert c.version == "2.5.1"
    assert Pin(by="sglang", by_version="0.4.1", package="torch", spec="==2.5.1") in c.pins
    assert Pin(by="your project", by_version=None, package="torch", spec="==2.6.0") in c.pins
    assert (c.split, c.python) == ("python_full_version >= '3.12'", "<3.12")


def test_conflicting_urls_old_layout() -> None:
    log = """\
  × Failed to resolve dependencies for `a` (v0.1.0)
  ╰─▶ Requirements contain conflicting URLs for package `iniconfig` in split `python_full_version == '3.11.*'`:
      - https://files.example/iniconfig-1.1.1-py2.py3-none-any.whl
      - https://files.example/iniconfig-2.0.0-py3-none-any.whl
"""
    c = explain(log).causes[0]
    assert c.kind == "conflicting-urls" and c.packages == ("iniconfig",)
    assert c.split == "python_full_version == '3.11.*'" and c.version is None
    assert "override-dependencies" in c.fixes[0].edit


def test_local_version_in_a_platform_fork() -> None:
    log = """\
error: No solution found when resolving dependencies for split (markers: sys_platform == 'linux')
  cause: Because there is no version of torch{sys_platform == 'linux'}==2.5.1+cu121 and your project depends on torch{sys_platform == 'linux'}==2.5.1+cu121, we can conclude that your project's requirements are unsatisfiable.
"""
    c = explain(log).causes[0]
    assert (c.kind, c.version, c.split, c.python) == ("local-version", "2.5.1+cu121", "sys_platform == 'linux'", None)


def test_platform_fork_with_project_environments_drops_the_failing_one() -> None:
    log = """\
error: No solution found when resolving dependencies for split (markers: sys_platform == 'win32')
  cause: Because triton==3.1.0 has no Windows-compatible wheels and your project depends on triton==3.1.0, we can conclude that your project's requirements are unsatisfiable.

hint: The resolution failed for an environment that is not the current one, consider limiting the environments with `tool.uv.environments`.
"""
    project = read_project(
        '[project]\nname = "x"\nversion = "1"\n\n[tool.uv]\n'
        "environments = [\"sys_platform == 'linux'\", \"sys_platform == 'win32'\"]\n"
    )
    c = explain(log, project).causes[0]
    assert (c.kind, c.version, c.split) == ("no-wheel-for-platform", "3.1.0", "sys_platform == 'win32'")
    assert c.fixes[0].edit == "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]"
    # without the project: uv's own suggestion, the environments outside the failing one
    assert explain(log).causes[0].fixes[0].edit == "[tool.uv]\nenvironments = [\"sys_platform != 'win32'\"]"
