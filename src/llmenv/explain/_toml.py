"""TOML snippets for fixes. Every snippet is a complete, valid TOML document a user can merge into
pyproject.toml (tests parse each one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

__all__ = [
    "conflicts",
    "dependency_metadata",
    "extra_build_dependencies",
    "extra_build_variables",
    "index",
    "q",
    "sources",
    "tool_uv",
]


def q(s: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these)."""
    return json.dumps(s, ensure_ascii=False)


def _inline(d: Mapping[str, object]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, bool):
            val = "true" if v else "false"
        elif isinstance(v, str):
            val = q(v)
        else:
            val = str(v)
        key = k if k.replace("-", "").replace("_", "").isalnum() else q(k)
        parts.append(f"{key} = {val}")
    return "{ " + ", ".join(parts) + " }"


def _key(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else q(name)


def tool_uv(**settings: str | bool | Sequence[str]) -> str:
    """``[tool.uv]`` with simple keys: ``tool_uv(prerelease="allow")``."""
    lines = ["[tool.uv]"]
    for k, v in settings.items():
        key = k.replace("_", "-")
        if isinstance(v, bool):
            lines.append(f"{key} = {'true' if v else 'false'}")
        elif isinstance(v, str):
            lines.append(f"{key} = {q(v)}")
        else:
            lines.append(f"{key} = [" + ", ".join(q(x) for x in v) + "]")
    return "\n".join(lines)


def conflicts(groups: Sequence[Sequence[Mapping[str, str]]]) -> str:
    """``[tool.uv] conflicts`` with one line per set: ``[{ extra = "a" }, { extra = "b" }]``."""
    rows = ["    [" + ", ".join(_inline(item) for item in group) + "]," for group in groups]
    return "[tool.uv]\nconflicts = [\n" + "\n".join(rows) + "\n]"


def index(name: str, url: str, *, explicit: bool = True, flat: bool = False) -> str:
    lines = ["[[tool.uv.index]]", f"name = {q(name)}", f"url = {q(url)}"]
    if flat:
        lines.append('format = "flat"')
    if explicit:
        lines.append("explicit = true")
    return "\n".join(lines)


def sources(entries: Mapping[str, Mapping[str, object] | Sequence[Mapping[str, object]]]) -> str:
    lines = ["[tool.uv.sources]"]
    for pkg, src in entries.items():
        if isinstance(src, Mapping):
            lines.append(f"{_key(pkg)} = {_inline(src)}")
        else:
            lines.append(f"{_key(pkg)} = [" + ", ".join(_inline(s) for s in src) + "]")
    return "\n".join(lines)


def extra_build_dependencies(pkg: str, requirement: str = "torch", *, match_runtime: bool = False) -> str:
    dep = _inline({"requirement": requirement, "match-runtime": True}) if match_runtime else q(requirement)
    return f"[tool.uv.extra-build-dependencies]\n{_key(pkg)} = [{dep}]"


def extra_build_variables(pkg: str, variables: Mapping[str, str]) -> str:
    return f"[tool.uv.extra-build-variables]\n{_key(pkg)} = {_inline(variables)}"


def dependency_metadata(name: str, version: str | None, requires_dist: Sequence[str]) -> str:
    lines = ["[[tool.uv.dependency-metadata]]", f"name = {q(name)}"]
    if version:
        lines.append(f"version = {q(version)}")
    lines.append("requires-dist = [" + ", ".join(q(r) for r in requires_dist) + "]")
    return "\n".join(lines)
