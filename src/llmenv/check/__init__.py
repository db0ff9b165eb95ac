"""``llmenv check``: lint a uv configuration for the pitfalls that cost LLM users days.

Read, then validate, separately: ``load(path)`` reads and parses the file (a missing or malformed file is a
``UsageError``: one line, with the TOML error's line and column); ``check_document(data, file=...)`` runs every
rule of the registry on the parsed document and returns one ``Report`` with all findings, errors first.

    >>> report = check_text('[project]\\nname = "x"\\n', file="pyproject.toml")
    >>> report.codes()
    ['no-required-version']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError

from llmenv.check._findings import SEVERITIES, Finding, Report, Rule
from llmenv.check._project import Project, loc
from llmenv.check._releases import Catalog
from llmenv.check.rules import RULES, rule_for
from llmenv.errors import UsageError

__all__ = [
    "RULES",
    "SEVERITIES",
    "Catalog",
    "Finding",
    "Project",
    "Report",
    "Rule",
    "check_document",
    "check_path",
    "check_text",
    "load",
    "loc",
    "resolve_path",
    "rule_for",
]


def resolve_path(arg: str | None, cwd: Path) -> Path:
    """``llmenv check [PYPROJECT]``: default ./pyproject.toml; a directory means its pyproject.toml."""
    path = Path(arg).expanduser() if arg else Path("pyproject.toml")
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        path = path / "pyproject.toml"
    return path


def parse(text: str, *, file: str) -> dict[str, Any]:
    """Parse TOML; a syntax error becomes one line ``FILE:LINE:COL: invalid TOML: ...``."""
    try:
        data: dict[str, Any] = tomlkit.parse(text).unwrap()
    except ParseError as e:
        message = str(e).rsplit(" at line ", 1)[0]
        raise UsageError(f"{file}:{e.line}:{e.col + 1}: invalid TOML: {message}") from None
    except TOMLKitError as e:  # a key given twice
        raise UsageError(f"{file}: invalid TOML: {e}") from None
    return data


def load(path: Path) -> dict[str, Any]:
    """Read and parse a pyproject.toml (UsageError when missing, unreadable or not TOML)."""
    if not path.is_file():
        raise UsageError(
            f"{path}: no such file" + (" (give a pyproject.toml or its folder)" if not path.exists() else "")
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    return parse(text, file=str(path))


_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def check_document(
    data: Mapping[str, Any], *, file: str, rules: Sequence[Rule] = RULES, catalog: Catalog | None = None
) -> Report:
    """Run every rule, collect every finding, report once (errors, then warnings, then infos; rule order within).
    ``catalog`` says what is known of the dependencies' releases (default: the pins snapshot in use)."""
    project = Project.from_dict(data, catalog=catalog)
    found: list[tuple[int, int, Finding]] = []
    for order, r in enumerate(rules):
        for f in r.run(project):
            found.append((_RANK[f.severity], order, f))
    found.sort(key=lambda t: (t[0], t[1]))
    return Report(file=file, findings=tuple(f for _, _, f in found))


def check_text(
    text: str, *, file: str = "pyproject.toml", rules: Sequence[Rule] = RULES, catalog: Catalog | None = None
) -> Report:
    return check_document(parse(text, file=file), file=file, rules=rules, catalog=catalog)


def check_path(path: Path, *, rules: Sequence[Rule] = RULES, catalog: Catalog | None = None) -> Report:
    return check_document(load(path), file=str(path), rules=rules, catalog=catalog)
