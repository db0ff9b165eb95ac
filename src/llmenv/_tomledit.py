"""Edits of a parsed ``pyproject.toml`` that keep the user's bytes around them.

tomlkit keeps every byte it parsed; what it adds follows its own habits. These helpers add in the file's habits
instead: a key goes after the table's last key (never below a comment that heads the next table), an array item
takes the indentation, trailing-comma habit and line layout (one line or one item a line) of its array, an inline
table the spacing of the file's other inline tables, and the line endings of the file (CRLF stays CRLF).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.container import Container, OutOfOrderTableProxy
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table, Whitespace

__all__ = [
    "add_key",
    "array_append",
    "detach_trailing",
    "match_newlines",
    "plain",
    "spaced_inline_tables",
    "to_item",
]


def plain(value: Any) -> Any:
    """tomlkit item -> plain Python value, for comparisons."""
    if hasattr(value, "unwrap"):
        return value.unwrap()
    return value


# ------------------------------------------------------------------------------------------ line endings


def match_newlines(text: str, original: str) -> str:
    """``text`` with the line endings of ``original``: a file written with CRLF throughout gets CRLF on the lines
    llmenv added too (a mixed or LF file is left as it is)."""
    lf = original.count("\n")
    if not lf or original.count("\r\n") != lf:
        return text
    return re.sub(r"(?<!\r)\n", "\r\n", text)


# ------------------------------------------------------------------------------------------ values


def spaced_inline_tables(text: str) -> bool:
    """Whether the file writes inline tables as ``{ a = 1 }`` (the uv docs' habit) rather than ``{a = 1}``."""
    spaced = len(re.findall(r"\{ [A-Za-z0-9_\"'-]", text))
    tight = len(re.findall(r"\{[A-Za-z0-9_\"'-]", text))
    return spaced >= tight


def _inline(value: Mapping[str, Any], spaced: bool) -> InlineTable:
    parts = [
        f"{_key(k)} = {to_item(v, spaced=spaced, multiline=False).as_string()}" for k, v in value.items()
    ]
    body = ", ".join(parts)
    text = f"x = {{ {body} }}" if spaced and parts else f"x = {{{body}}}"
    item = tomlkit.parse(text + "\n")["x"]
    assert isinstance(item, InlineTable)
    return item


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else tomlkit.item(k).as_string()


def to_item(value: Any, *, spaced: bool = True, multiline: bool | None = None, indent: str = "    ") -> Item:
    """A plain value as a tomlkit item: a list of two or more items, or of tables, one item a line (unless
    ``multiline`` says otherwise); a mapping as an inline table."""
    if isinstance(value, Item):
        return value
    if isinstance(value, Mapping):
        return _inline(value, spaced)
    if isinstance(value, list):
        arr = tomlkit.array()
        many = len(value) > 1 or any(isinstance(v, Mapping) for v in value)
        if multiline if multiline is not None else many:
            for v in value:
                arr.add_line(to_item(v, spaced=spaced, multiline=False), indent=indent)
            arr.add_line(indent="")
        else:
            for v in value:
                arr.append(to_item(v, spaced=spaced, multiline=False))
        return arr
    out: Item = tomlkit.item(value)
    return out


# ------------------------------------------------------------------------------------------ arrays


def _groups(arr: Array) -> list[Any]:
    return list(arr._value)  # tomlkit's item groups: value, indent, comma, comment


def array_append(arr: Array, value: Any, *, spaced: bool = True) -> None:
    """Append ``value`` in the array's own layout."""
    item = to_item(value, spaced=spaced, multiline=False)
    groups = [g for g in _groups(arr) if g.value is not None and not _is_null(g.value)]
    if not groups:
        if "\n" in arr.as_string():
            arr.add_line(item, indent=_comment_indent(arr))
        else:
            arr.append(item)
        return
    if "\n" not in arr.as_string():
        arr.append(item)
        return
    last = groups[-1]
    indent = str(last.indent.as_string() if last.indent is not None else "").rsplit("\n", 1)[-1]
    if indent.strip(" \t"):
        indent = "    "
    trailing_comma = last.comma is not None
    arr.add_line(item, indent=indent or "    ", add_comma=trailing_comma)


def _comment_indent(arr: Array) -> str:
    for g in _groups(arr):
        if g.comment is not None and g.indent is not None:
            return str(g.indent.as_string()).rsplit("\n", 1)[-1] or "    "
    return "    "


def _is_null(v: Any) -> bool:
    return type(v).__name__ == "Null"


# ------------------------------------------------------------------------------------------ tables


def _holder(table: Any, key: str) -> Table | None:
    """The concrete table whose body holds ``key`` (a table split over the file is a proxy of several)."""
    if isinstance(table, OutOfOrderTableProxy):
        for t in table._tables:
            if key in t.value:
                return t
        return None
    return table if isinstance(table, Table) else None


def _body(container: Container) -> list[tuple[Any, Any]]:
    return container.body


def add_key(table: Any, key: str, value: Any, *, spaced: bool = True) -> None:
    """Add ``key`` right after the table's last key: tomlkit appends after whatever comments and blank lines end
    the table, which separates a comment from the table header below it."""
    item = to_item(value, spaced=spaced)
    table[key] = item
    holder = _holder(table, key)
    if holder is None:
        return
    container = holder.value
    body = _body(container)
    pos = next((i for i, (k, _) in enumerate(body) if k is not None and k.key == key), None)
    if pos is None:
        return
    last_kv = max(
        (i for i, (k, v) in enumerate(body[:pos]) if k is not None and not isinstance(v, (Table, AoT))),
        default=None,
    )
    if last_kv is None or last_kv + 1 == pos:
        return
    between = body[last_kv + 1 : pos]
    if not all(isinstance(v, (Whitespace, Comment)) for _, v in between):
        return
    moved = container.item(key)
    container.remove(key)
    container._insert_at(last_kv + 1, key, moved)


def detach_trailing(table: Table) -> list[Item]:
    """Remove and return the comments and blank lines that end ``table`` (they belong to what follows it)."""
    body = _body(table.value)
    cut = len(body)
    while cut and body[cut - 1][0] is None and isinstance(body[cut - 1][1], (Whitespace, Comment)):
        cut -= 1
    tail = [v for _, v in body[cut:]]
    if not any(isinstance(v, Comment) for v in tail):
        return []
    del body[cut:]
    return tail


def attach_trailing(table: Table, tail: list[Item]) -> None:
    for v in tail:
        table.value.body.append((None, v))
