"""The Python range a plan writes (``requires-python``): every Python the chosen parts install on, contiguous
around the planned one, and — said plainly — what ends it on each side.

Upward the range runs to the first Python some chosen part has no wheels for (its Requires-Python, its wheel
tags, uv's verdict) or the project's requires-python leaves out. Downward it runs only in a project with a
requires-python of its own: to that floor, or to the first Python some chosen part lacks — so an existing
project's floor rises only when a chosen package needs it, and the reason names that package. A new project
(no requires-python) starts at the planned Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["Part", "span", "walk"]


def span(pythons: Iterable[str]) -> str:
    """``3.10–3.11`` (or ``3.11``) for a set of minors."""
    ordered = sorted(set(pythons), key=Version)
    if not ordered:
        return "none"
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


@dataclass(frozen=True, kw_only=True)
class Part:
    """One chosen part's Pythons. ``have``: the Pythons (among those asked) it installs on; ``every``: all of
    them, read only to word the reason; ``requires``: its Requires-Python (a release's metadata); ``kind``:
    wheels (a release or requirement), prebuilt (an extension's wheel set), uv (the closed loop's verdict)."""

    label: str  # "openrlhf 0.8.3", "ray==2.43.0 (project.dependencies[2])", "flash-attn 2.7.4"
    have: frozenset[str]
    every: Callable[[], Iterable[str]] | None = None
    requires: SpecifierSet | None = None
    kind: str = "wheels"

    def lacks(self, python: str) -> str:
        """Why this part ends the range at ``python``: ``openrlhf 0.8.3 ships wheels for Python 3.10–3.11 only``."""
        if self.kind == "uv":
            return f"uv could not lock Python {python}" + (f" ({self.label})" if self.label != "uv" else "")
        if self.requires is not None and not self.requires.contains(f"{python}.0", prereleases=True):
            return f"{self.label} requires Python {self.requires}"
        have = span(self.every() if self.every is not None else self.have)
        if self.kind == "prebuilt":
            return f"{self.label}'s prebuilt wheels cover Python {have} only"
        return f"{self.label} ships wheels for Python {have} only"


def walk(
    order: Sequence[str], parts: Sequence[Part], allowed: Callable[[str], bool]
) -> tuple[list[str], Part | None, str | None]:
    """The Pythons of ``order`` kept in turn until one is not ``allowed`` (the project's requires-python) or some
    part lacks it: (kept, the part that stopped it — None for the project or the end —, the Python it stopped at)."""
    kept: list[str] = []
    for q in order:
        if not allowed(q):
            return kept, None, q
        stop = next((p for p in parts if q not in p.have), None)
        if stop is not None:
            return kept, stop, q
        kept.append(q)
    return kept, None, None
