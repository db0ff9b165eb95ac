"""Rules on the shape of ``[project]`` and ``[tool.uv]`` themselves: values of the wrong type, a field both static
and dynamic, the deprecated ``tool.uv.dev-dependencies``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmenv.check._findings import Hit
from llmenv.check._project import Project, loc
from llmenv.check._registry import rule
from llmenv.check._toml import toml_value

__all__: list[str] = []


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _table(v: Any) -> bool:
    return isinstance(v, Mapping)


def _tables(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, Mapping) for x in v)


def _str_or_strs(v: Any) -> bool:
    return _str(v) or _strs(v)


def _table_of_strs(v: Any) -> bool:
    return _table(v) and all(_strs(x) for x in v.values())


def _groups(v: Any) -> bool:
    return _table(v) and all(
        isinstance(x, list) and all(_str(i) or (_table(i) and _str(i.get("include-group"))) for i in x)
        for x in v.values()
    )


def _sources(v: Any) -> bool:
    return _table(v) and all(_table(x) or _tables(x) for x in v.values())


def _conflicts(v: Any) -> bool:
    return isinstance(v, list) and all(_tables(x) for x in v)


# (path, check, what it must be) for the fields uv and every build backend read with a fixed type.
_FIELDS: tuple[tuple[tuple[str, ...], Callable[[Any], bool], str], ...] = (
    (("project", "name"), _str, "a string"),
    (("project", "version"), _str, "a string"),
    (("project", "requires-python"), _str, 'a string such as ">=3.10,<3.13"'),
    (("project", "dependencies"), _strs, "an array of requirement strings"),
    (("project", "optional-dependencies"), _table_of_strs, "a table of arrays of requirement strings"),
    (("project", "dynamic"), _strs, "an array of field names"),
    (
        ("dependency-groups",),
        _groups,
        'a table of arrays of requirement strings (or { include-group = "..." })',
    ),
    (("tool", "uv", "sources"), _sources, "a table of source tables (or arrays of them)"),
    (("tool", "uv", "index"), _tables, "an array of tables ([[tool.uv.index]])"),
    (("tool", "uv", "environments"), _str_or_strs, "an array of marker strings"),
    (("tool", "uv", "required-environments"), _str_or_strs, "an array of marker strings"),
    (
        ("tool", "uv", "conflicts"),
        _conflicts,
        "an array of arrays of { extra = ... } / { group = ... } tables",
    ),
    (("tool", "uv", "constraint-dependencies"), _strs, "an array of requirement strings"),
    (("tool", "uv", "override-dependencies"), _strs, "an array of requirement strings"),
    (("tool", "uv", "dev-dependencies"), _strs, "an array of requirement strings"),
    (("tool", "uv", "no-build-isolation-package"), _strs, "an array of package names"),
    (("tool", "uv", "required-version"), _str, 'a string such as ">=0.8"'),
    (("tool", "uv", "dependency-metadata"), _tables, "an array of tables"),
    (("tool", "uv", "extra-build-dependencies"), _table, "a table of arrays"),
)


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    cur: Any = data
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return False, None
        cur = cur[key]
    return True, cur


def _type_name(v: Any) -> str:
    for t, name in ((bool, "a boolean"), (str, "a string"), (int, "a number"), (float, "a number")):
        if isinstance(v, t):
            return name
    if isinstance(v, Mapping):
        return "a table"
    if isinstance(v, list):
        return "an array of other things"
    return type(v).__name__


def _type_fix(path: tuple[str, ...], value: Any) -> str:
    key = path[-1]
    if isinstance(value, str) and key.endswith(("dependencies", "environments", "package", "dynamic")):
        return f"{key} = {toml_value([value])}"
    if key == "requires-python" and isinstance(value, int | float):
        return f'{key} = ">={value}"'
    return f"write {loc(*path)} as the type it must be (https://docs.astral.sh/uv/reference/settings/)"


@rule("wrong-type", "error", "a [project] / [tool.uv] field whose value has the wrong type")
def wrong_type(project: Project) -> Iterator[Hit]:
    for path, ok, must in _FIELDS:
        present, value = _get(project.data, path)
        if not present or ok(value):
            continue
        shown = f" ({toml_value(value)})" if isinstance(value, str | int | float) else ""
        yield Hit(
            location=loc(*path),
            message=f"{loc(*path)} is {_type_name(value)}{shown}; it must be {must}",
            why=(
                'uv refuses to read the project ("TOML parse error ... invalid type"), and so does every build '
                "backend; check skips the field, so the rest of this report does not see what it was meant to say."
            ),
            fix=_type_fix(path, value),
        )


_DYNAMIC_FIELDS = {
    "version", "description", "readme", "requires-python", "license", "license-files", "authors", "maintainers",
    "keywords", "classifiers", "urls", "scripts", "gui-scripts", "entry-points", "dependencies",
    "optional-dependencies", "import-names", "import-namespaces",
}  # fmt: skip


@rule("dynamic-field-also-static", "error", "a [project] field listed in `dynamic` and also given a value")
def dynamic_field_also_static(project: Project) -> Iterator[Hit]:
    table = project.data.get("project")
    if not isinstance(table, Mapping) or not _strs(table.get("dynamic")):
        return
    for i, name in enumerate(table["dynamic"]):
        if name not in table or name not in _DYNAMIC_FIELDS:
            continue
        yield Hit(
            location=loc("project", name),
            message=f"`{name}` is listed in project.dynamic[{i}] and also given here",
            why=(
                "PEP 621 forbids a field to be both: the build backend refuses to build the project (setuptools: "
                f'"You cannot provide a value for `project.{name}` and list it under `project.dynamic` at the '
                'same time"), so `uv lock` and `uv sync`, which build it for its metadata, fail. `uv add` writes '
                "a static `dependencies` list into a dynamic project and fails the same way."
            ),
            fix=(
                f'keep one: remove "{name}" from project.dynamic (the value here is then the only one), or '
                f"remove project.{name} and keep it where the backend reads it "
                f"([tool.setuptools.dynamic] {name} = ...)"
            ),
        )


@rule(
    "deprecated-dev-dependencies", "warning", "[tool.uv] dev-dependencies, deprecated for [dependency-groups]"
)
def deprecated_dev_dependencies(project: Project) -> Iterator[Hit]:
    values = project.uv.get("dev-dependencies")
    if not isinstance(values, list) or not _strs(values):
        return
    groups = project.data.get("dependency-groups")
    existing = groups.get("dev") if isinstance(groups, Mapping) else None
    merged = list(existing) if isinstance(existing, list) else []
    merged += [v for v in values if v not in merged]
    body = ",\n".join(f"    {toml_value(v)}" for v in merged)
    yield Hit(
        location=loc("tool", "uv", "dev-dependencies"),
        message="`tool.uv.dev-dependencies` is deprecated",
        why=(
            'uv warns on every command ("The `tool.uv.dev-dependencies` field ... is deprecated and will be '
            'removed in a future release; use `dependency-groups.dev` instead"). uv merges both into the `dev` '
            "group today; a uv that drops the field installs neither."
        ),
        fix=f"remove tool.uv.dev-dependencies, then:\n[dependency-groups]\ndev = [\n{body},\n]",
    )
