"""What `llmenv init` must keep of a user's pyproject.toml, as checks of (old file, new file, notes).

Each function raises AssertionError with what broke. They compare the user's file with the file init wrote, for
every property of issue 12: requirement text and positions, requires-python (intersected, never widened),
environments / required-environments (kept, only extended), required-version (never lowered), sources (the
user's entries kept, the torch family on one index), dynamic fields (never written), every other table and
comment (untouched), and the bytes around the edits (no line of theirs removed, line endings kept).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

FAMILY = ("torch", "torchvision", "torchaudio")
# Lines of the user's file init may rewrite (a value it narrows or an array it appends to on one line).
MANAGED_LINE = re.compile(
    r"^\s*(requires-python|required-version|environments|required-environments|dependencies|"
    r"constraint-dependencies|conflicts|torch|torchvision|torchaudio|[a-z0-9_-]+)\s*=\s*[\[{\"']"
)


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    node: Any = doc
    for k in path:
        if not isinstance(node, Mapping) or k not in node:
            return None
        node = node[k]
    return node


def _minors(spec: str | None) -> set[str]:
    s = SpecifierSet(spec or "")
    return {
        f"3.{m}" for m in range(0, 41) if any(s.contains(Version(f"3.{m}.{p}"), prereleases=True) for p in (0, 99))
    }


def _floor(spec: str | None) -> Version | None:
    if not spec:
        return None
    floors = [Version(c.version.replace(".*", "")) for c in SpecifierSet(spec) if c.operator in (">=", ">", "==", "~=")]
    return max(floors) if floors else None


def requirement_lists(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every requirement array of the file, by location."""
    out: dict[str, list[Any]] = {}
    project = _get(doc, "project") or {}
    if isinstance(project.get("dependencies"), list):
        out["project.dependencies"] = project["dependencies"]
    for k, v in (project.get("optional-dependencies") or {}).items():
        out[f"project.optional-dependencies.{k}"] = v
    for k, v in (_get(doc, "dependency-groups") or {}).items():
        out[f"dependency-groups.{k}"] = v
    for k in ("constraint-dependencies", "override-dependencies", "dev-dependencies"):
        v = _get(doc, "tool", "uv", k)
        if isinstance(v, list):
            out[f"tool.uv.{k}"] = v
    return out


def check_requirements(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Each of the user's requirement arrays is still there with its items, in order, at the same positions (init
    only appends)."""
    olds, news = requirement_lists(old), requirement_lists(new)
    for where, items in olds.items():
        assert where in news, f"{where} is gone"
        assert news[where][: len(items)] == items, f"{where} changed: {items} -> {news[where]}"


def check_python(old: Mapping[str, Any], new: Mapping[str, Any], notes: Sequence[str]) -> None:
    o, n = _get(old, "project", "requires-python"), _get(new, "project", "requires-python")
    dynamic = _get(old, "project", "dynamic") or []
    if "requires-python" in dynamic:
        assert n is None, "requires-python written although dynamic"
        return
    assert n is not None, "no requires-python"
    assert _minors(n) <= _minors(o), f"requires-python widened: {o!r} -> {n!r}"
    if o is not None and n != o:
        assert any("requires-python" in x for x in notes), f"requires-python narrowed silently: {o!r} -> {n!r}"


def check_environments(old: Mapping[str, Any], new: Mapping[str, Any], notes: Sequence[str]) -> None:
    for key in ("environments", "required-environments"):
        o, n = _get(old, "tool", "uv", key), _get(new, "tool", "uv", key)
        if o is None:
            assert n is None, f"tool.uv.{key} added to a project that had none: {n}"
            continue
        o = [o] if isinstance(o, str) else o
        n = [n] if isinstance(n, str) else n
        assert n[: len(o)] == o, f"tool.uv.{key} changed: {o} -> {n}"
        if len(n) > len(o):
            assert any(x.startswith(f"{key}:") for x in notes), f"tool.uv.{key} extended silently"


def check_required_version(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    o, n = _get(old, "tool", "uv", "required-version"), _get(new, "tool", "uv", "required-version")
    if o is None:
        return
    fo, fn = _floor(o), _floor(n)
    assert fn is not None and (fo is None or fn >= fo), f"required-version lowered: {o!r} -> {n!r}"


def _entries(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_sources(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """The user's source entries all stay; what init adds to the torch family it adds to every member."""
    os_, ns = _get(old, "tool", "uv", "sources") or {}, _get(new, "tool", "uv", "sources") or {}
    for name, value in os_.items():
        assert name in ns, f"tool.uv.sources.{name} is gone"
        for e in _entries(value):
            assert e in _entries(ns[name]), f"tool.uv.sources.{name}: {e} is gone"
    family = [n for n in FAMILY if n in ns]
    added = {n: [e for e in _entries(ns[n]) if e not in _entries(os_.get(n, []))] for n in family}
    for a in family:
        for b in family:
            if a in os_ and b in os_ and added[a] and added[b]:
                assert added[a] == added[b], f"torch family routed apart: {a} += {added[a]}, {b} += {added[b]}"
            elif a not in os_ and b not in os_:
                assert _entries(ns[a]) == _entries(ns[b]), f"torch family routed apart: {ns[a]} vs {ns[b]}"


def check_dynamic(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    for field in _get(old, "project", "dynamic") or []:
        assert field not in (_get(new, "project") or {}), f"project.{field} written although dynamic"
    assert _get(new, "project", "dynamic") == _get(old, "project", "dynamic")


def _strip(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Everything of the file that init never edits (what it may edit is compared by the checks above)."""
    d: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    project = d.get("project", {})
    for k in ("requires-python", "dependencies", "optional-dependencies", "name", "version"):
        project.pop(k, None)
    d.pop("dependency-groups", None)
    uv = d.get("tool", {}).get("uv", {})
    for k in (
        "required-version",
        "environments",
        "required-environments",
        "index",
        "sources",
        "constraint-dependencies",
        "conflicts",
        "extra-build-dependencies",
        "extra-build-variables",
        "dependency-metadata",
    ):
        uv.pop(k, None)
    tool = d.get("tool", {})
    tool.pop("llmenv", None)
    if tool.get("uv") == {}:
        tool.pop("uv")
    if d.get("tool") == {}:
        d.pop("tool")
    if d.get("project") == {}:
        d.pop("project")
    return d


def check_rest(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    assert _strip(old) == _strip(new), "a table or key init does not manage changed"
    for key in ("index", "dependency-metadata"):
        o = _get(old, "tool", "uv", key) or []
        n = _get(new, "tool", "uv", key) or []
        for e in o:
            assert e in n, f"tool.uv.{key}: {e.get('name')} changed or is gone"
    for key in ("extra-build-dependencies", "extra-build-variables"):
        o = _get(old, "tool", "uv", key) or {}
        n = _get(new, "tool", "uv", key) or {}
        for k, v in o.items():
            assert n.get(k) == v, f"tool.uv.{key}.{k} changed"
    for kind, path in (("extra", ("project", "optional-dependencies")), ("group", ("dependency-groups",))):
        o = _get(old, *path) or {}
        n = _get(new, *path) or {}
        assert all(k in n for k in o), f"an {kind} is gone"
    oc, nc = _get(old, "tool", "uv", "conflicts") or [], _get(new, "tool", "uv", "conflicts") or []
    for group in oc:
        assert any(all(m in g for m in group) for g in nc), f"conflict set {group} lost members"


def check_bytes(old_text: str, new_text: str) -> None:
    """No line of the user's file is removed except one init rewrites (a narrowed value, a one-line array it
    appends to, an array item that gains a comma), every comment stays, and the line endings are the file's."""
    removed = [
        line[1:]
        for line in difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), lineterm="", n=0)
        if line.startswith("-") and not line.startswith("---")
    ]
    added = set(new_text.splitlines())
    for line in removed:
        ok = MANAGED_LINE.match(line) or (line.rstrip() + "," in added) or (line.rstrip(",") in added)
        assert ok, f"a line of the user's file was removed: {line!r}"
    for line in old_text.splitlines():
        if line.strip().startswith("#"):
            assert line in added, f"comment lost: {line!r}"
    if "\r\n" in old_text and old_text.count("\r\n") == old_text.count("\n"):
        assert new_text.count("\r\n") == new_text.count("\n"), "line endings mixed"
    else:
        assert "\r\n" not in new_text.replace(old_text, "") or "\r\n" in old_text


def check_all(old_text: str, new_text: str, notes: Iterable[str]) -> None:
    notes = list(notes)
    old, new = tomlkit.parse(old_text).unwrap(), tomlkit.parse(new_text).unwrap()
    check_requirements(old, new)
    check_python(old, new, notes)
    check_environments(old, new, notes)
    check_required_version(old, new)
    check_sources(old, new)
    check_dynamic(old, new)
    check_rest(old, new)
    check_bytes(old_text, new_text)
