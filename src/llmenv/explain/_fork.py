"""uv's resolution forks ("splits"): which Python versions a fork's marker covers, and the ``requires-python``
bound that removes a failing fork from the lock.

uv locks every Python its ``requires-python`` allows and forks the resolution on markers
(``python_full_version >= '3.13'``, ``sys_platform == 'linux'``). When one fork fails, uv names its marker:
"No solution found when resolving dependencies for split (markers: python_full_version >= '3.13')". A fork
that is a Python range disappears when ``requires-python`` excludes that range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PyRange", "bound_text", "python_bound", "python_range"]

_CLAUSE = re.compile(
    r"python_(?:full_)?version\s*(?P<op>===|==|!=|<=|>=|~=|<|>)\s*['\"](?P<v>\d{1,2}(?:\.\d{1,3}){0,2})(?P<star>\.\*)?['\"]"
)
_OTHER = re.compile(r"\b(?:sys_platform|platform_machine|platform_system|os_name|implementation_name|extra|"
                    r"platform_python_implementation|platform_release|platform_version)\b")

Minor = tuple[int, int]


@dataclass(frozen=True)
class PyRange:
    """The Python minors a fork covers: ``lower`` inclusive, ``upper`` exclusive (None: unbounded).
    ``only_python``: the marker names nothing but Python versions."""

    lower: Minor | None
    upper: Minor | None
    only_python: bool


def _minor(v: str) -> Minor:
    parts = [int(x) for x in v.split(".")]
    return (parts[0], parts[1] if len(parts) > 1 else 0)


def _next(m: Minor) -> Minor:
    return (m[0], m[1] + 1)


def python_range(marker: str | None) -> PyRange | None:
    """The Python range of a fork's marker, when its Python part is a conjunction of bounds; None when the
    marker says nothing about Python, or says it in a way one range cannot hold (``or``, ``!=``)."""
    if not marker:
        return None
    clauses = list(_CLAUSE.finditer(marker))
    if not clauses or re.search(r"\bor\b", marker):
        return None
    lower: Minor | None = None
    upper: Minor | None = None
    for c in clauses:
        op, v = c.group("op"), _minor(c.group("v"))
        full = c.group("v").count(".") >= 2
        if op in (">=",) or (op == ">" and full):
            lo, hi = v, None
        elif op == ">":
            lo, hi = _next(v), None
        elif op == "<":
            lo, hi = None, (v if not full or c.group("v").endswith(".0") else _next(v))
        elif op == "<=":
            lo, hi = None, _next(v)
        elif op in ("==", "===", "~="):
            lo, hi = v, (_next(v) if op != "~=" else (v[0] + 1, 0))
        else:
            return None
        if lo is not None:
            lower = lo if lower is None else max(lower, lo)
        if hi is not None:
            upper = hi if upper is None else min(upper, hi)
    rest = _CLAUSE.sub("", marker)
    return PyRange(lower=lower, upper=upper, only_python=not _OTHER.search(rest))


def bound_text(op: str, m: Minor) -> str:
    return f"{op}{m[0]}.{m[1]}"


def python_bound(marker: str | None, *, floor: str | None = None, active: str | None = None) -> str | None:
    """The ``requires-python`` bound that leaves the fork ``marker`` out of the lock: ``<3.13`` for a fork
    ``python_full_version >= '3.13'``, ``>=3.11`` for ``python_full_version < '3.11'``.

    A fork bounded on both sides (``== '3.10.*'``) is cut on the side away from the Python that resolved:
    ``floor`` (the project's lowest Python) or ``active`` (the interpreter uv ran, which uv says resolved when
    it hints that "the resolution failed for other Python versions")."""
    r = python_range(marker)
    if r is None:
        return None
    lo_floor = _minor(floor) if floor else None
    here = _minor(active) if active else None
    if r.lower is not None and r.upper is not None:
        if lo_floor is not None and r.lower <= lo_floor:
            return bound_text(">=", r.upper)
        if here is not None and here >= r.upper:
            return bound_text(">=", r.upper)
        return bound_text("<", r.lower)
    if r.lower is not None:
        if lo_floor is not None and r.lower <= lo_floor:
            return None  # the fork is every Python the project allows
        return bound_text("<", r.lower)
    if r.upper is not None:
        return bound_text(">=", r.upper)
    return None
