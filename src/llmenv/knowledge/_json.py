"""How llmenv writes its tables: one object member per line, lists of plain values (and small flat objects) on
one line, so that a refresh reads as a small diff and a person can read the file."""

from __future__ import annotations

import json

__all__ = ["dumps"]


def _dump(value: object, indent: str) -> str:
    inner = indent + " "
    if isinstance(value, dict):
        if not value:
            return "{}"
        flat = json.dumps(value, ensure_ascii=False)
        if len(flat) <= 110 and not any(isinstance(v, dict) for v in value.values()):
            return flat
        body = ",\n".join(
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, inner)}" for k, v in value.items()
        )
        return "{\n" + body + "\n" + indent + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return json.dumps(value, ensure_ascii=False)
        return "[\n" + ",\n".join(inner + _dump(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def dumps(value: object) -> str:
    """The file's text (with a final newline)."""
    return _dump(value, "") + "\n"
