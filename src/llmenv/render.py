"""Plan -> edits of a pyproject.toml, following the seed recipe, keeping every byte llmenv does not manage.

Managed: ``project.requires-python``; the ``project.dependencies`` entries of planned packages; in ``[tool.uv]``
``required-version``, ``environments``, ``required-environments``, ``python-install-mirror``, the index entries
and source entries llmenv writes, ``extra-build-dependencies`` / ``extra-build-variables`` entries of planned
packages; ``[dependency-groups]`` asked for with ``--groups``; and ``[tool.llmenv]``, which records the inputs
so that a re-run reproduces the same file. A value is only assigned when it differs, so a re-run with the same
inputs is byte-identical.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

from llmenv.errors import UsageError
from llmenv.indexes import IndexSpec
from llmenv.plan import TORCH_FAMILY, Plan
from llmenv.target import Target

__all__ = [
    "GROUPS",
    "MIN_UV",
    "ProjectOptions",
    "other_platforms_marker",
    "platform_marker",
    "render",
]

# The oldest uv that understands everything llmenv writes (extra-build-dependencies with match-runtime,
# extra-build-variables, required-environments, flat indexes, dependency-metadata).
MIN_UV = "0.9.0"
PBS_RELEASES = "https://github.com/astral-sh/python-build-standalone/releases/download"

# Optional dependency groups (--groups) and the tool settings that come with them.
GROUPS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "dev": (["pytest>=8", "ipykernel>=6"], {"pytest": {"ini_options": {"testpaths": ["tests"]}}}),
    "lint": (
        ["ruff>=0.6", "mypy>=1.11"],
        {"ruff": {"line-length": 120, "lint": {"select": ["E", "F", "I", "B", "UP"]}}},
    ),
    "format": (["ruff>=0.6"], {"ruff": {"format": {"quote-style": "double"}}}),
}


@dataclass(frozen=True, kw_only=True)
class ProjectOptions:
    name: str
    pypi_index: IndexSpec | None = None  # --mirror: the default index
    python_mirror: str | None = None
    github_proxy: str | None = None
    groups: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)  # written to [tool.llmenv]
    extra_indexes: tuple[IndexSpec, ...] = ()
    user_owned: tuple[str, ...] = ()  # planned dependencies that are the user's: never dropped by a later run
    # A folder of wheels (``llmenv wheelhouse``) for offline nodes: the first index, the planned sources of the
    # packages it holds point at it, and the lock covers the target platform only (all that the folder holds).
    wheelhouse: IndexSpec | None = None
    wheelhouse_names: frozenset[str] = frozenset()


def platform_marker(t: Target) -> str:
    return t.platform_marker()


def other_platforms_marker(t: Target) -> str:
    env = t.marker_environment()
    if t.os == "windows":
        return "sys_platform != 'win32'"
    return f"sys_platform != '{env['sys_platform']}' or platform_machine != '{env['platform_machine']}'"


def os_marker(t: Target) -> str:
    return f"sys_platform == '{t.marker_environment()['sys_platform']}'"


# ------------------------------------------------------------------------------------------ tomlkit helpers


def _plain(value: Any) -> Any:
    """tomlkit item -> plain Python value, for comparisons."""
    if hasattr(value, "unwrap"):
        return value.unwrap()
    return value


def _table(parent: Any, key: str, *, super_table: bool = False) -> Table:
    if key not in parent:
        t = tomlkit.table(is_super_table=super_table)
        parent[key] = t
    item = parent[key]
    if not isinstance(item, (Table, dict)):
        raise UsageError(f"{key} in pyproject.toml is not a table; llmenv cannot edit it")
    return item  # type: ignore[return-value]


def _set(container: Any, key: str, value: Any) -> None:
    """Assign only when the value differs, so unchanged items keep their formatting."""
    if key in container and _plain(container[key]) == value:
        return
    container[key] = _toml_value(value)


def _toml_value(value: Any) -> Any:
    if isinstance(value, list):
        arr = tomlkit.array()
        for v in value:
            arr.append(_toml_value(v) if isinstance(v, (dict, list)) else v)
        if len(value) > 1 or any(isinstance(v, dict) for v in value):
            arr.multiline(True)
        return arr
    if isinstance(value, dict):
        it = tomlkit.inline_table()
        for k, v in value.items():
            it[k] = _toml_value(v) if isinstance(v, (dict, list)) else v
        return it
    return value


def _delete(container: Any, key: str) -> None:
    if key in container:
        del container[key]


def _req_name(line: Any) -> str | None:
    try:
        return canonicalize_name(Requirement(str(line)).name)
    except InvalidRequirement:
        return None


# ------------------------------------------------------------------------------------------ the edits


def _dependencies(project: Table, plan: Plan, previously_managed: Iterable[str]) -> None:
    wanted: dict[str, str] = {}
    for line in plan.dependencies:
        n = _req_name(line)
        if n:
            wanted[n] = line
    drop = {canonicalize_name(n) for n in previously_managed} - set(wanted)
    if "dependencies" not in project:
        project["dependencies"] = _toml_value(list(wanted.values()))
        if len(wanted) == 1:
            project["dependencies"].multiline(True)
        return
    deps = project["dependencies"]
    if not isinstance(deps, Array):
        raise UsageError("project.dependencies in pyproject.toml is not an array; llmenv cannot edit it")
    present: set[str] = set()
    for i in reversed(range(len(deps))):
        n = _req_name(deps[i])
        if n in drop:
            del deps[i]
        elif n in wanted:
            present.add(n)
            if str(deps[i]) != wanted[n]:
                deps[i] = wanted[n]
    for n, line in wanted.items():
        if n not in present:
            deps.append(line)
    if len(deps) > 1:
        deps.multiline(True)


def _indexes(
    uv: Table, specs: Sequence[IndexSpec], previously_managed: Iterable[str], first: str | None = None
) -> None:
    _managed_aot(uv, "index", {s.name: s.to_toml() for s in specs}, previously_managed, first=first)


def _managed_aot(
    uv: Table,
    key: str,
    wanted: Mapping[str, Mapping[str, Any]],
    previously_managed: Iterable[str],
    *,
    first: str | None = None,
) -> None:
    """An array of tables keyed by ``name`` (``[[tool.uv.index]]``, ``[[tool.uv.dependency-metadata]]``): the
    entries llmenv wants are made to hold exactly their values, the ones it wrote before and no longer wants go,
    and every other entry is left alone. A new entry named ``first`` goes before all others (uv searches indexes
    in order)."""
    drop = set(previously_managed) - set(wanted)
    parsed = key in uv  # entries appended to a parsed array need their own blank line; new ones get tomlkit's
    if not parsed:
        if not wanted:
            return
        uv[key] = tomlkit.aot()
    aot = uv[key]
    if not isinstance(aot, AoT):
        raise UsageError(f"tool.uv.{key} in pyproject.toml is not an array of tables; llmenv cannot edit it")
    seen: set[str] = set()
    for i in reversed(range(len(aot))):
        name = str(aot[i].get("name", ""))
        if name in drop:
            del aot[i]
        elif name in wanted:
            seen.add(name)
            _set_table(aot[i], wanted[name])
    appended = False
    for name, values in wanted.items():
        if name in seen:
            continue
        if name == first and len(aot):
            t = tomlkit.table()
            for k, v in values.items():
                t[k] = _toml_value(v) if isinstance(v, (list, dict)) else v
            t.add(tomlkit.nl())  # the blank line between it and the entry that follows
            aot.insert(0, t)
            continue
        if parsed and len(aot) and not aot[-1].as_string().endswith("\n\n"):
            aot[-1].add(tomlkit.nl())  # a blank line before the entry appended after it
        t = tomlkit.table()
        for k, v in values.items():
            t[k] = _toml_value(v) if isinstance(v, (list, dict)) else v
        aot.append(t)
        appended = True
    if appended and not aot[-1].as_string().endswith("\n\n"):
        aot[-1].add(tomlkit.nl())  # and one before whatever table follows the array
    if len(aot) == 0:
        del uv[key]


def _optional(project: Table, *, plan: Plan, previously_managed: Iterable[str]) -> None:
    """The project's own extras for alternatives that cannot live together (one per engine)."""
    wanted: Mapping[str, list[str]] = plan.extra.get("optional-dependencies", {})
    drop = set(previously_managed) - set(wanted)
    if not wanted and not drop:
        return
    opt = _table(project, "optional-dependencies")
    for name in drop:
        _delete(opt, name)
    for name, lines in wanted.items():
        _set(opt, name, list(lines))
    if len(opt) == 0:
        del project["optional-dependencies"]


def write_dependency_metadata(doc: TOMLDocument, entries: Sequence[Mapping[str, Any]]) -> TOMLDocument:
    """Add or replace (by name) ``[[tool.uv.dependency-metadata]]`` entries, leaving every other byte alone."""
    before = tomlkit.dumps(doc)
    doc = _ensure_tables(doc, [("tool", "uv")])
    _dependency_metadata(doc["tool"]["uv"], entries, ())
    return _space_new_tables(before, doc)


def _dependency_metadata(
    uv: Table, entries: Sequence[Mapping[str, Any]], previously_managed: Iterable[str]
) -> None:
    """``[[tool.uv.dependency-metadata]]`` entries: relaxed frameworks (the seed's OpenRLHF recipe), and static
    metadata for packages built from source (flash-attn)."""
    _managed_aot(uv, "dependency-metadata", {e["name"]: e for e in entries}, previously_managed)


def _sources(uv: Table, entries: Mapping[str, Any], previously_managed: Iterable[str]) -> None:
    drop = set(previously_managed) - set(entries)
    if not entries and "sources" not in uv:
        return
    sources = _table(uv, "sources")
    for name in drop:
        _delete(sources, name)
    for name, value in entries.items():
        _set(sources, name, value)
    if len(sources) == 0:
        del uv["sources"]


def _to_wheelhouse(entries: Mapping[str, Any], index: str, held: frozenset[str]) -> dict[str, Any]:
    """Index and URL sources of packages the wheelhouse holds -> the wheelhouse (path and git sources stay)."""

    def movable(value: Any) -> bool:
        items = value if isinstance(value, list) else [value]
        return all(isinstance(i, Mapping) and ("index" in i or "url" in i) for i in items)

    return {
        name: {"index": index} if canonicalize_name(name) in held and movable(value) else value
        for name, value in entries.items()
    }


def _torch_sources(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    torch = plan.packages.get("torch")
    if torch is None or torch.index is None:
        return out
    by_extra: Mapping[str, str] = plan.extra.get("torch-by-extra", {})
    if len(set(by_extra.values())) > 1:
        # Alternatives on different CUDA variants: each extra routes torch & co. to its own index.
        cpu = next((i.name for i in plan.indexes if i.name.endswith("-cpu")), None)
        entries: list[dict[str, str]] = [
            {"index": idx, "marker": platform_marker(plan.target), "extra": e} for e, idx in by_extra.items()
        ]
        if cpu:
            entries.append({"index": cpu, "marker": other_platforms_marker(plan.target)})
        return {name: entries for name in TORCH_FAMILY if name in plan.packages}
    cuda = torch.variant != "cpu"
    for name in TORCH_FAMILY:
        if name not in plan.packages:
            continue
        if cuda:
            cpu = next((i.name for i in plan.indexes if i.name != torch.index), None)
            value: Any = [{"index": torch.index, "marker": platform_marker(plan.target)}]
            if cpu:
                value.append({"index": cpu, "marker": other_platforms_marker(plan.target)})
        else:
            value = {"index": torch.index}
        out[name] = value
    return out


def _groups(doc: TOMLDocument, groups: Sequence[str]) -> None:
    if not groups:
        return
    dg = _table(doc, "dependency-groups")
    tool = _table(doc, "tool", super_table=True)
    for g in groups:
        reqs, settings = GROUPS[g]
        if g not in dg:
            dg[g] = _toml_value(list(reqs))
        for tool_name, conf in settings.items():
            if tool_name not in tool:
                tool[tool_name] = _nested_table(conf)
            else:
                existing = tool[tool_name]
                for k, v in conf.items():
                    if k not in existing:
                        existing[k] = _nested_table(v) if isinstance(v, dict) else v


def _nested_table(conf: Mapping[str, Any]) -> Table:
    t = tomlkit.table()
    for k, v in conf.items():
        t[k] = _nested_table(v) if isinstance(v, dict) else v
    return t


def _ensure_tables(doc: TOMLDocument, paths: Sequence[tuple[str, ...]]) -> TOMLDocument:
    """Make sure each table exists. A table new to an existing ``[tool]`` goes at the end of the file (tomlkit
    would otherwise put it next to the first ``[tool.*]`` table, wherever that is)."""
    missing = []
    for path in paths:
        node: Any = doc
        for key in path:
            if not isinstance(node, (dict, Table)) or key not in node:
                missing.append(path)
                break
            node = node[key]
    if not missing:
        return doc
    text = tomlkit.dumps(doc)
    for path in missing:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + f"[{'.'.join(path)}]\n"
    return tomlkit.parse(text)


_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _headers(text: str) -> Counter[str]:
    return Counter(m.group(0).split("#")[0].strip() for line in text.splitlines() if (m := _HEADER.match(line)))


def _space_new_tables(before: str, doc: TOMLDocument) -> TOMLDocument:
    """A blank line before each table header llmenv added (only at those boundaries: no byte of the user's tables
    changes), as a person would write the file."""
    text = tomlkit.dumps(doc)
    old = _headers(before)
    seen: Counter[str] = Counter()
    out: list[str] = []
    changed = False
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line)
        if m:
            h = m.group(0).split("#")[0].strip()
            seen[h] += 1
            # Beyond the count the file had: an added table, or an entry appended to an array of tables.
            new = seen[h] > old[h]
            if new and out and out[-1].strip() and not out[-1].lstrip().startswith("#"):
                out.append("\n")
                changed = True
        out.append(line)
    return tomlkit.parse("".join(out)) if changed else doc


def render(doc: TOMLDocument, plan: Plan, options: ProjectOptions) -> TOMLDocument:
    """Apply the plan to ``doc``; returns the edited document (a new object when tables had to be added)."""
    before = tomlkit.dumps(doc)
    return _space_new_tables(before, _render(doc, plan, options))


def _render(doc: TOMLDocument, plan: Plan, options: ProjectOptions) -> TOMLDocument:
    paths: list[tuple[str, ...]] = [("project",), ("tool", "uv"), ("tool", "llmenv")]
    if options.groups:
        paths.append(("dependency-groups",))
    doc = _ensure_tables(doc, paths)
    prev: dict[str, Any] = {}
    tool_prev = doc.get("tool", {}).get("llmenv", {}) if isinstance(doc.get("tool"), (dict, Table)) else {}
    if isinstance(tool_prev, (dict, Table)):
        prev = _plain(tool_prev.get("managed", {})) or {}

    project = _table(doc, "project")
    if "name" not in project and "dynamic" not in project:
        project["name"] = options.name
        project["version"] = "0.1.0"
    _set(project, "requires-python", plan.requires_python)
    _dependencies(project, plan, prev.get("dependencies", []))
    _optional(project, plan=plan, previously_managed=prev.get("optional-dependencies", []))

    tool = _table(doc, "tool", super_table=True)
    uv = _table(tool, "uv")
    _set(uv, "required-version", f">={MIN_UV}")
    _set(uv, "environments", [platform_marker(plan.target) if options.wheelhouse else os_marker(plan.target)])
    _set(uv, "required-environments", [platform_marker(plan.target)])
    mirror = options.python_mirror or (
        f"{options.github_proxy.rstrip('/')}/{PBS_RELEASES}" if options.github_proxy else None
    )
    if mirror:
        _set(uv, "python-install-mirror", mirror)
    elif prev.get("python-install-mirror"):
        _delete(uv, "python-install-mirror")

    index_specs: list[IndexSpec] = [options.wheelhouse] if options.wheelhouse else []
    if options.pypi_index:
        index_specs.append(options.pypi_index)
    index_specs += list(plan.indexes) + list(options.extra_indexes)
    _indexes(
        uv,
        index_specs,
        prev.get("indexes", []),
        first=options.wheelhouse.name if options.wheelhouse else None,
    )

    source_entries = _torch_sources(plan)
    for name, value in plan.extra.get("sources", {}).items():
        source_entries[name] = value
    for name, choice in plan.packages.items():
        if choice.source == "path":
            source_entries[name] = {"path": plan.extra.get("paths", {}).get(name, name), "editable": True}
    if options.wheelhouse:
        source_entries = _to_wheelhouse(source_entries, options.wheelhouse.name, options.wheelhouse_names)
    _sources(uv, source_entries, prev.get("sources", []))

    for key in ("extra-build-dependencies", "extra-build-variables"):
        wanted = plan.extra.get(key, {})
        if wanted or key in uv:
            section = _table(uv, key)
            for name in set(prev.get(key, [])) - set(wanted):
                _delete(section, name)
            for name, value in wanted.items():
                _set(section, name, value)
            if len(section) == 0:
                del uv[key]
            elif key not in prev and not section.as_string().endswith("\n\n"):
                section.add(tomlkit.nl())  # a blank line before the table that follows a new one

    _dependency_metadata(uv, plan.extra.get("dependency-metadata", []), prev.get("dependency-metadata", []))
    conflicts = plan.extra.get("conflicts")
    if conflicts:
        _set(uv, "conflicts", conflicts)
    elif prev.get("conflicts"):
        _delete(uv, "conflicts")
    _groups(doc, options.groups)

    managed = {
        "dependencies": sorted(
            {n for n in (_req_name(d) for d in plan.dependencies) if n} - set(options.user_owned)
        ),
        "indexes": [s.name for s in index_specs],
        "sources": sorted(source_entries),
        "extra-build-dependencies": sorted(plan.extra.get("extra-build-dependencies", {})),
        "extra-build-variables": sorted(plan.extra.get("extra-build-variables", {})),
        "dependency-metadata": sorted(m["name"] for m in plan.extra.get("dependency-metadata", [])),
        "optional-dependencies": sorted(plan.extra.get("optional-dependencies", {})),
        "conflicts": ["conflicts"] if plan.extra.get("conflicts") else [],
    }
    if mirror:
        managed["python-install-mirror"] = [mirror]
    record = dict(options.record)
    record["managed"] = {k: v for k, v in managed.items() if v}
    llm = _table(tool, "llmenv")
    _set_table(llm, record)
    return doc


def _set_table(table: Any, values: Mapping[str, Any]) -> None:
    """Make ``table`` hold exactly ``values`` (dict values become sub-tables), touching only what differs."""
    for k, v in values.items():
        if isinstance(v, dict):
            if k in table and not isinstance(table[k], Table):
                del table[k]
            _set_table(_table(table, k), v)
        else:
            _set(table, k, v)
    for k in list(table.keys()):
        if k not in values:
            del table[k]
