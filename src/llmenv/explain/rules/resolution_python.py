"""Resolution: Python versions (requires-python, the interpreter, a Python fork of the lock)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.version import Version

from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    first_torch_with_python,
    torch_release,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, Term, parse_term, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    is_version,
    major_minor,
    python_in,
    uv_derivations,
)

_PYTHONS = tuple(f"3.{m}" for m in range(8, 15))


def _pip_torch_python(log: Log) -> Cause | None:
    """pip found no wheel of the torch asked for because this Python has none. pip names the interpreter (its
    end-of-life notice) or lists only the releases it can install on it: a list that starts exactly at the
    first torch with wheels for a newer Python, without the release asked for, tells which Python it is."""
    for m in log.missing:
        t = m.term
        if t.name != "torch" or t.pinned is None:
            continue
        want = Version(t.pinned.public)
        rel = torch_release(want)
        avail = sorted({Version(v).public for v in m.available if is_version(v)}, key=Version)
        asked_listed = str(want) in avail
        py = log.interpreter
        if py is not None and not asked_listed:
            if rel is not None and py.version not in rel.python:
                why = f"torch {want} publishes wheels for Python {rel.python[0]}–{rel.python[-1]} only."
                return _python_cause(t, py.version, rel.python, [py.line, m.line],
                                     f"the Python in use ({py.version}) is one torch {want} has no wheels for", why)
            if rel is None and py.end_of_life:
                why = (f"pip itself reports Python {py.version} as end-of-life; packages stop publishing wheels for "
                       "such versions, the likely reason no index offered this one for it.")
                return _python_cause(t, py.version, None, [py.line, m.line],
                                     f"the Python in use ({py.version}) is end-of-life, and pip found no {t.text} for it",
                                     why)
        if rel is not None and avail and not asked_listed and Version(avail[0]) > want:
            for p in reversed(_PYTHONS):
                first = first_torch_with_python(p)
                if first is not None and str(first.version) == avail[0] and p not in rel.python:
                    why = (f"pip lists only the releases it can install on this interpreter. torch {avail[0]} is the "
                           f"first with wheels for Python {p}, and torch {want} has wheels for Python "
                           f"{rel.python[0]}–{rel.python[-1]} only: this interpreter is most likely Python {p}.")
                    return _python_cause(t, p, rel.python, [m.line],
                                         f"pip finds torch only from {avail[0]} on for this Python, so {t.text} "
                                         "has no wheel for it", why)
    return None




def _python_cause(t: Term, have: str, supported: Sequence[str] | None, ev: list[str], summary: str,
                  reason: str) -> Cause:
    fixes: list[Fix] = []
    if supported:
        fixes.append(fix_cmd(f"Use a Python that torch {t.pinned} supports", f"uv python pin {supported[-1]}"))
    first = first_torch_with_python(have)
    if first is not None:
        fixes.append(fix_cmd(f"Or move to a torch that has wheels for Python {have} (from {first.version})",
                              f"uv add \"torch>={first.version}\""))
    if not fixes:
        fixes.append(fix_cmd("Use a maintained Python, then let llmenv pick the torch for it", "llmenv plan torch"))
    return Cause(kind="python-version", packages=(t.name,), summary=summary, chain=tuple(uniq(ev)), reason=reason,
                 fixes=tuple(fixes), evidence=uniq(ev))


def check_python_version(log: Log) -> list[Cause]:
    """The Python version (or the project's requires-python range) is outside what a dependency supports."""
    pip_torch = _pip_torch_python(log)
    if pip_torch is not None:
        return [pip_torch]
    ev: list[str] = []
    need: str | None = None
    pkg: Term | None = None
    have: str | None = None
    which: str | None = None
    for d in uv_derivations(log):
        if d.python:
            which, have, need = d.python[0]
            pkg = d.python_deps[0][0] if d.python_deps else None
            ev += list(d.statements)
            break
        if d.python_deps:
            pkg, need = d.python_deps[0]
            ev += list(d.statements)
            disjoint = log.hint(r"While the active Python version is (?P<py>[\d.]+), the resolution failed for other Python versions")
            split_py = re.search(r"python_(?:full_)?version\s*==\s*'(?P<v>[\d.]+)", d.split or "")
            if disjoint:
                ev.append(next(h for h in log.hints if disjoint.group(0) in h))
            which = "requested" if (disjoint or split_py) else "current"
            if split_py:
                have = split_py.group("v").rstrip(".*")
            break
    hint = log.hint(r"The `requires-python` value \((?P<rp>[^)]*)\) includes Python versions that are not supported by your dependencies \(e\.g\., (?P<pkg>\S+) only supports (?P<sup>[^)]*)\)(?:\. Consider using a more restrictive `requires-python` value \(like (?P<like>[^)]*)\))?")
    interp = log.hint(r"The Python interpreter uses a Python version that is not supported by your dependencies \(e\.g\., (?P<pkg>\S+) only supports (?P<sup>[^)]*)\)")
    pip_py = log.first(r"(?:requires a different Python: (?P<have>\S+) not in '(?P<need>[^']+)'|Ignored the following versions that require a different python version)")
    if not (ev or hint or interp or pip_py):
        return []
    fixes: list[Fix] = []
    like = None
    if hint:
        ev.append(next(h for h in log.hints if hint.group(0) in h))
        pkg = pkg or parse_term(hint.group("pkg"))
        like = hint.group("like") or hint.group("sup")
        need = need or hint.group("sup")
        which = which or "requested"
    if interp:
        ev.append(next(h for h in log.hints if interp.group(0) in h))
        pkg = pkg or parse_term(interp.group("pkg"))
        need = need or interp.group("sup")
        which = which or "current"
    if pip_py:
        ev += log.lines_matching(r"require a different python|requires a different Python")
        have = have or pip_py.group("have")
        need = need or pip_py.group("need")
        which = which or "current"
    label = pkg.text if pkg else "a dependency"
    if which == "requested" and need and not like:
        like = _lower_bound(need)
    if which == "requested" or hint:
        summary = f"requires-python allows Python versions that {label} does not support ({need})"
        reason = ("A project's lock must work for every Python its `requires-python` allows; a dependency that "
                  "supports fewer Python versions makes the lock fail for the rest.")
        if like:
            fixes.append(fix_toml("Narrow the project's supported Python versions",
                                   f"[project]\nrequires-python = {toml.q(like.replace(' ', ''))}"))
    else:
        summary = f"the Python in use ({have or 'this interpreter'}) is outside what {label} supports ({need})"
        reason = "Every version of the requirement that could be used declares a Requires-Python that excludes this Python."
    if need and which == "current" and not hint:
        pick = python_in(need)
        if pick:
            fixes.append(fix_cmd(f"Use a Python that {label} supports", f"uv python pin {pick}"))
    if pkg and pkg.name == "torch" and have and which == "current" and not hint:
        first = first_torch_with_python(major_minor(have) or "")
        if first:
            fixes.append(fix_cmd(f"Or move to a torch that supports Python {major_minor(have)} (from {first.version})",
                                  f"uv add \"torch>={first.version}\""))
    return [Cause(kind="python-version", packages=(pkg.name,) if pkg else (), summary=summary,
                  chain=tuple(uniq(ev))[:4], reason=reason, fixes=tuple(fixes), evidence=uniq(ev))]


def _lower_bound(spec: str) -> str | None:
    """``>=3.11`` (or ``>=3.9,<3.13``) -> a requires-python that keeps only what the dependency supports."""
    m = re.search(r">=\s*(\d+\.\d+)", spec)
    return f">={m.group(1)}" if m else None
