"""Values as TOML source, for the fixes check prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tomlkit

__all__ = ["toml_value"]


def toml_value(value: Any) -> str:
    """A value as TOML source (inline tables and arrays on one line)."""
    if isinstance(value, Mapping):
        t = tomlkit.inline_table()
        t.update(value)
        return t.as_string()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text: str = tomlkit.item(value).as_string()
    return text
