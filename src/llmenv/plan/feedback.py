"""uv's verdict on a candidate -> what the search learns (the closed loop's only way back).

``explain`` parses a failed ``uv lock`` into Causes (kind, packages, version, split, python, pins); ``learn``
turns the first cause about the candidate into a change of ``Feedback``:

- a Python fork without wheels / a dependency's Requires-Python (``python`` "<3.13", or a ``split`` on
  ``python_full_version >= '3.13'``): the candidate's Python cap goes below it (requires-python narrows);
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
_SPLIT_PY = re.compile(r"python_(?:full_)?version\s*>=?\s*'(\d+)\.(\d+)")
_CAP = re.compile(r"^<\s*(\d+)\.(\d+)")


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
            return Learnt(feedback=replace(fb, relax={**fb.relax, pkg: cause.summary}), reason=reason)
    if (
        cause is not None
        and cause.kind == "no-wheel-for-platform"
        and "platform_machine" in str(cause.split or "")
        and fb.platform_only is None
        and not plan.extra.get("platform-only")
    ):
        return Learnt(feedback=replace(fb, platform_only=cause.summary), reason=reason)
    cap = _cap_of(cause) if cause is not None else None
    narrows = cap is not None and Version(plan.python) <= Version(cap) < Version(plan.python_cap)
    if (
        narrows
        and cause is not None
        and cause.kind in ("python-version", "no-wheel-for-platform", "pin-conflict")
    ):
        assert cap is not None
        return Learnt(feedback=_lower_cap(fb, plan.key, cap), reason=reason)
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
