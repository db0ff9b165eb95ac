"""uv's verdict on a candidate -> what the search learns (the closed loop's only way back).

``explain`` parses a failed ``uv lock`` into Causes (kind, packages, version, split, python, pins); ``learn``
turns the first cause about the candidate into a change of ``Feedback``:

- a Python fork without wheels / a dependency's Requires-Python (``python`` "<3.13", or a ``split`` on
  ``python_full_version >= '3.13'``): the candidate's Python cap goes below it (requires-python narrows); a
  fork below the planned Python (``python_full_version < '3.10'``, ``python`` ">=3.10": a project whose floor
  was kept) raises the floor above it instead;
- a pin conflict, under ``--allow-overrides``, where the framework pins one of the packages exactly: that pin
  is relaxed (whichever package uv names; written as ``[[tool.uv.dependency-metadata]]``);
- anything else about the candidate's packages: the candidate is excluded, and the next one is tried;
- a failure the candidate cannot change (the network, uv's configuration, a requirement of your own that no
  index has): ``stop`` — another candidate would fail the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.plan.model import Plan
from llmenv.plan.problem import Feedback

__all__ = ["Learnt", "learn"]

# Causes no other candidate changes: uv, its configuration, the network, the lock file.
_STOP_KINDS = frozenset({"network", "config", "uv-version", "lockfile"})
# Causes that a narrower requires-python removes when uv names a Python fork (or bound).
_FORK_KINDS = frozenset({"python-version", "no-wheel-for-platform", "pin-conflict"})
_SPLIT_PY = re.compile(r"python_(?:full_)?version\s*>=?\s*'(\d+)\.(\d+)")
_CAP = re.compile(r"^<\s*(\d+)\.(\d+)")
_FLOOR = re.compile(r"^>=\s*(\d+)\.(\d+)")
_FORK_NOTE = re.compile(r"\s*\(uv's fork [^)]*\)$")


@dataclass(frozen=True, kw_only=True)
class Learnt:
    """The new feedback (None: stop), and the attempt's reason in one line."""

    feedback: Feedback | None
    reason: str


def _cap_of(cause: Any) -> str | None:
    """The highest Python minor the cause allows: from ``python`` ("<3.13" -> "3.12") or the split."""
    m = _CAP.match(str(cause.python or ""))
    if m is None:
        m = _SPLIT_PY.search(str(cause.split or ""))
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    return f"{major}.{minor - 1}" if minor > 0 else None


def _bound(cause: Any, plan: Plan) -> tuple[str, str] | None:
    """Which side of the planned Python uv's failing fork lies on: ("cap", the highest minor to keep) or
    ("floor", the lowest). The fork's marker decides when it is a Python range; else the cause's bound."""
    from llmenv.explain._fork import python_range

    major, minor = (int(x) for x in plan.python.split("."))
    rng = python_range(cause.split) if cause.split else None
    if rng is not None and rng.only_python:
        if rng.lower is not None and rng.lower > (major, minor):
            return ("cap", f"{rng.lower[0]}.{rng.lower[1] - 1}") if rng.lower[1] > 0 else None
        if rng.upper is not None and rng.upper <= (major, minor):
            return "floor", f"{rng.upper[0]}.{rng.upper[1]}"
    m = _FLOOR.match(str(cause.python or ""))
    if m is not None:
        return "floor", f"{m.group(1)}.{m.group(2)}"
    cap = _cap_of(cause)
    return ("cap", cap) if cap is not None else None


_CONCLUDE = re.compile(r",\s*we can conclude that .*$", re.IGNORECASE)


def uv_line(cause: Any, package: str) -> str:
    """uv's own line a relaxation reacts to, shortened: the evidence line that names ``package``, without
    "Because" and uv's conclusion (``ray[default]==2.43.0 depends on opentelemetry-sdk>=1.30 and vllm==0.8.5.post1
    depends on opentelemetry-sdk<1.27``); the cause's summary when the log has no such line."""
    for line in getattr(cause, "evidence", ()) or ():
        text = " ".join(str(line).split())
        if package not in canonicalize_name(text) and package not in text.lower():
            continue
        text = _CONCLUDE.sub("", text)
        text = re.sub(r"^(?:and\s+)?because\s+", "", text, flags=re.IGNORECASE)
        return text if len(text) <= 200 else text[:199].rstrip() + "…"
    return str(cause.summary)


def _names(cause: Any) -> set[str]:
    out: set[str] = {canonicalize_name(p) for p in cause.packages}
    for pin in getattr(cause, "pins", ()) or ():
        out.add(canonicalize_name(pin.package))
        if pin.by_version is not None:
            out.add(canonicalize_name(pin.by))
    return out


def _relaxable(cause: Any, plan: Plan) -> str | None:
    """The package whose exact framework pin uv names in the conflict, if the plan has a framework."""
    if plan.framework is None:
        return None
    for pin in getattr(cause, "pins", ()) or ():
        if canonicalize_name(pin.by) == plan.framework and pin.exact is not None:
            return canonicalize_name(pin.package)
    for name in cause.packages:
        if canonicalize_name(name) in plan.framework_pins:
            return canonicalize_name(name)
    return None


def _lower_cap(fb: Feedback, key: tuple[str, ...], cap: str) -> Feedback:
    caps = dict(fb.python_caps)
    old = caps.get(key[:3])
    caps[key[:3]] = cap if old is None or Version(cap) < Version(old) else old
    return replace(fb, python_caps=caps)


def _raise_floor(fb: Feedback, key: tuple[str, ...], floor: str) -> Feedback:
    floors = dict(fb.python_floors)
    old = floors.get(key[:3])
    floors[key[:3]] = floor if old is None or Version(floor) > Version(old) else old
    return replace(fb, python_floors=floors)


def learn(causes: Iterable[Any], plan: Plan, fb: Feedback, *, allow_overrides: bool, log_line: str) -> Learnt:
    """What the failed lock of ``plan`` teaches: the first cause about one of its packages decides."""
    causes = list(causes)
    related = set(plan.related)
    about = [c for c in causes if _names(c) & related]
    for cause in causes:
        if cause.kind in _STOP_KINDS:
            return Learnt(feedback=None, reason=cause.summary)
    if causes and not about:
        return Learnt(feedback=None, reason=causes[0].summary)  # your own requirements, not the plan's
    cause = about[0] if about else None
    reason = cause.summary if cause is not None else log_line
    if cause is not None and cause.kind == "pin-conflict" and allow_overrides:
        pkg = _relaxable(cause, plan)
        if pkg is not None and pkg not in fb.relax:
            return Learnt(feedback=replace(fb, relax={**fb.relax, pkg: uv_line(cause, pkg)}), reason=reason)
    if (
        cause is not None
        and cause.kind == "no-wheel-for-platform"
        and "platform_machine" in str(cause.split or "")
        and fb.platform_only is None
        and not plan.extra.get("platform-only")
    ):
        return Learnt(feedback=replace(fb, platform_only=cause.summary), reason=reason)
    bound = _bound(cause, plan) if cause is not None else None
    if bound is not None and cause is not None and cause.kind in _FORK_KINDS:
        side, at = bound
        py, v = Version(plan.python), Version(at)
        said = {**fb.python_reasons, (side, plan.key[:3]): _FORK_NOTE.sub("", reason)}
        if side == "cap" and py <= v < Version(plan.python_cap):
            return Learnt(feedback=replace(_lower_cap(fb, plan.key, at), python_reasons=said), reason=reason)
        if side == "floor" and Version(plan.python_floor) < v <= py:
            return Learnt(feedback=replace(_raise_floor(fb, plan.key, at), python_reasons=said), reason=reason)
    ban = _ban(cause, plan) if cause is not None else None
    if ban is not None and ban not in fb.banned:
        return Learnt(feedback=replace(fb, banned={**fb.banned, ban: reason}), reason=reason)
    return Learnt(feedback=replace(fb, excluded={**fb.excluded, plan.key: reason}), reason=reason)


def _ban(cause: Any, plan: Plan) -> tuple[str, str] | None:
    """(package, version) when uv's cause is about a release the plan chose (its version named, or none)."""
    if not cause.packages:
        return None
    name = canonicalize_name(cause.packages[0])
    choice = plan.packages.get(name)
    if choice is None or choice.source == "path":
        return None
    if cause.version is None or str(cause.version).split("+")[0] == choice.version:
        return name, choice.version
    return None
