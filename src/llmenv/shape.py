"""The types of the pyproject.toml fields llmenv reads or edits, checked once where the file is read.

A wrong type (``dependencies = 3``, ``project = "x"``, ``tool = 3``, ``[tool.llmenv] specs = 3``,
``memory_gib = nan``) is bad input: one line naming the field and what it should be, exit 2 — never an internal
error halfway through an edit, never a value silently recorded. Fields llmenv neither reads nor edits are not
checked (uv validates its own settings); unknown keys are allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from llmenv.errors import UsageError

__all__ = ["check_pyproject", "problems"]

Check = Callable[[Any], str | None]  # None when the value is fine, else what it should be


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, Mapping):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return f"a {type(v).__name__}"


def _table(v: Any) -> str | None:
    return None if isinstance(v, Mapping) else "a table"


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else "a string"


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _strings(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(x, str) for x in v) else "an array of strings"


def _string_or_strings(v: Any) -> str | None:
    return None if isinstance(v, str) or _strings(v) is None else "a string or an array of strings"


def _array(v: Any) -> str | None:
    return None if isinstance(v, list) else "an array"


def _tables(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(x, Mapping) for x in v) else "an array of tables"


def _table_of(inner: Check, what: str) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, Mapping):
            return "a table"
        return None if all(inner(x) is None for x in v.values()) else f"a table of {what}"

    return check


def _group(v: Any) -> str | None:  # PEP 735: requirement strings and {include-group = "..."} tables
    ok = isinstance(v, list) and all(isinstance(x, (str, Mapping)) for x in v)
    return None if ok else "an array of strings and {include-group = ...} tables"


def _source(v: Any) -> str | None:
    return None if isinstance(v, Mapping) or _tables(v) is None else "a table or an array of tables"


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in choices else f"one of {', '.join(map(repr, choices))}"

    return check


def _positive_int(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    return None if ok else "a whole number >= 1"


def _positive_number(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return None if ok else "a finite number > 0"


def _gpus(v: Any) -> str | None:
    if _tables(v) is not None:
        return "an array of tables"
    for g in v:
        cc = g.get("compute_capability")
        if isinstance(cc, bool) or not isinstance(cc, (str, int, float)):
            return 'an array of tables with compute_capability = "X.Y"'
    return None


_PROJECT: dict[str, Check] = {
    "name": _string,
    "version": _string,
    "requires-python": _string,
    "dependencies": _strings,
    "optional-dependencies": _table_of(_strings, "arrays of strings"),
    "dynamic": _strings,
}
_UV: dict[str, Check] = {
    "required-version": _string,
    "environments": _string_or_strings,
    "required-environments": _string_or_strings,
    "index": _tables,
    "sources": _table_of(_source, "tables (or arrays of tables)"),
    "dependency-metadata": _tables,
    "extra-build-dependencies": _table,
    "extra-build-variables": _table,
    "conflicts": _array,
    "override-dependencies": _strings,
    "constraint-dependencies": _strings,
    "exclude-dependencies": _strings,
    "python-install-mirror": _string,
}
_TARGET: dict[str, Check] = {
    "os": _string,
    "arch": _string,
    "python": _string,
    "glibc": _string,
    "driver": _string,
    "cuda": _string,
    "nvcc": _string,
    "cuda_home": _string,
    "cpus": _positive_int,
    "memory_gib": _positive_number,
    "gpus": _gpus,
}
_LLMENV: dict[str, Check] = {
    "specs": _strings,
    "policy": _one_of("strict", "minor"),
    "target": _table,
    "mirror": _strings,
    "torch-index": _string,
    "github-proxy": _string,
    "flash-attn-wheels": _string,
    "python-mirror": _string,
    "groups": _strings,
    "wheelhouse": _string,
    "allow-overrides": _boolean,
    "follow": _strings,
    "name": _string,
    "managed": _table_of(_strings, "arrays of strings"),
    "base": _table,
}
# [tool.llmenv.base]: the base environment a project reuses (llmenv.base.model.BaseRecord)
_BASE: dict[str, Check] = {
    "python": _string,
    "python-version": _string,
    "site": _strings,
    "torch": _string,
    "image": _string,
}
# path -> (the check of the value there, the checks of its keys)
_SCHEMA: dict[tuple[str, ...], tuple[Check, Mapping[str, Check]]] = {
    (): (_table, {"project": _table, "tool": _table, "dependency-groups": _table_of(_group, "arrays (PEP 735 groups)")}),
    ("project",): (_table, _PROJECT),
    ("tool",): (_table, {"uv": _table, "llmenv": _table}),
    ("tool", "uv"): (_table, _UV),
    ("tool", "llmenv"): (_table, _LLMENV),
    ("tool", "llmenv", "target"): (_table, _TARGET),
    ("tool", "llmenv", "base"): (_table, _BASE),
}


def problems(doc: Mapping[str, Any]) -> list[str]:
    """Every wrong-typed field llmenv uses, as ``"project.dependencies must be an array of strings, not an
    integer"`` (plain data: a tomlkit document's ``unwrap()`` or tomllib's result)."""
    out: list[str] = []
    for path, (_check, keys) in _SCHEMA.items():
        node: Any = doc
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            continue  # absent, or already reported as not a table
        for key, check in keys.items():
            if key not in node:
                continue
            want = check(node[key])
            if want is not None:
                name = ".".join((*path, _quote(key)))
                out.append(f"{name} must be {want}, not {_describe(node[key])}")
    return out


def _quote(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else f'"{key}"'


def _describe(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 40):
        return f"{_kind(v)} ({v!r})"
    return _kind(v)


def check_pyproject(doc: Mapping[str, Any], where: str) -> None:
    """UsageError naming the first wrong-typed field (and how many more there are)."""
    found = problems(doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(f"{where}: {found[0]}{more}")
