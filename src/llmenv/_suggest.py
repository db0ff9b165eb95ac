"""Suggest the likely typo: ``llmenv plna`` -> ``plan``; ``[tool.uv] enviroments`` -> ``environments``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest"]


def closest(word: str, choices: Iterable[str], cutoff: float = 0.75) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None
