"""The Python range of a project as uv reads it, and edits of ``requires-python``.

uv checks a dependency's Requires-Python against the *lower bound* of the project's range only (an upper bound
in a dependency's metadata is ignored), and narrows that bound by a requirement's own marker
(``pkg ; python_version >= '3.10'`` only needs pkg on 3.10+). ``MINORS`` are the CPython minors considered: what
uv 0.13.9 can install, 3.8 to 3.15.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.check._envs import Env, holds

__all__ = ["MINORS", "floor_allows", "lower_bound", "marker_boundaries", "minors", "rewrite"]

MINORS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
_LOWER = (">=", ">", "~=", "==", "===")


def _key(minor: str) -> tuple[int, ...]:
    return tuple(int(x) for x in minor.split("."))


def lower_bound(spec: SpecifierSet | None) -> Version | None:
    """The lowest Python ``spec`` admits, as a version (``>=3.9.2`` -> 3.9.2, ``==3.12.*`` -> 3.12); None when it
    has no lower bound."""
    best: Version | None = None
    for s in spec or ():
        if s.operator not in _LOWER:
            continue
        try:
            v = Version(s.version.removesuffix(".*"))
        except ValueError:
            continue
        if best is None or v > best:
            best = v
    return best


def floor_allows(requires_python: SpecifierSet | None, python: Version) -> bool:
    """Does a release's Requires-Python accept a project whose lowest Python is ``python``? Only its lower
    bounds count, as in uv (``<3.13`` in a dependency never fails a lock)."""
    floor = lower_bound(requires_python)
    return floor is None or python >= floor


def minors(spec: SpecifierSet | None, candidates: Sequence[str] = MINORS) -> list[str]:
    """The minors among ``candidates`` with some release ``spec`` admits (x.y.0 or a late patch)."""
    if spec is None:
        return list(candidates)
    return [m for m in candidates if any(spec.contains(f"{m}.{p}", prereleases=True) for p in (0, 30))]


def marker_boundaries(markers: Iterable[Marker | None], envs: Sequence[Env]) -> set[str]:
    """Minors at which some marker's truth changes from the minor below it on one platform: where uv splits the
    resolution by Python (``numpy>=2.5 ; python_version >= '3.12'`` -> {"3.12"})."""
    by_platform: dict[tuple[str, str], list[Env]] = {}
    for e in envs:
        by_platform.setdefault(e.platform, []).append(e)
    out: set[str] = set()
    for m in markers:
        if m is None or "python" not in str(m):
            continue
        for group in by_platform.values():
            ordered = sorted(group, key=lambda e: _key(e.python))
            truth = [holds(m, e) for e in ordered]
            out.update(ordered[i].python for i in range(1, len(ordered)) if truth[i] != truth[i - 1])
    return out


def rewrite(spec: SpecifierSet | None, *, floor: str | None = None, cap: str | None = None) -> str:
    """``requires-python`` with a new lower bound and / or upper bound, keeping the rest of what was written."""
    keep = [
        s
        for s in spec or ()
        if not (floor and s.operator in (">=", ">", "~="))
        and not (cap and s.operator in ("<", "<="))
        and not (floor and s.operator in ("==", "===") and s.version.endswith(".*"))
    ]
    lower = [f">={floor}"] if floor else [str(s) for s in keep if s.operator in _LOWER]
    upper = [f"<{cap}"] if cap else [str(s) for s in keep if s.operator in ("<", "<=")]
    rest = [str(s) for s in keep if s.operator not in (*_LOWER, "<", "<=")]
    return ",".join(lower + upper + rest)
