"""Resolution: Python versions (requires-python, the interpreter, a Python fork of the lock)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.explain._facts import (
    first_torch_with_python,
    torch_release,
)
from llmenv.explain._fork import python_range
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Derivation, Log, Term, parse_term, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fork_fields,
    is_version,
    major_minor,
    pins_on,
    python_in,
    requires_python_fix,
    uv_derivations,
    version_of,
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


_PY_TAGS = ("Python version tag", "Python ABI tag", "free-threading ABI tag")
_WHEEL_TAGS = re.compile(
    r"(?:Wheels are available for|we only found wheels for) `(?P<pkg>[^`]+)` \(v(?P<ver>[^)]+)\) with the following "
    r"Python (?:ABI|implementation) tags?: (?P<tags>.+)$"
)
_EG_TAG = re.compile(r"has no wheels with a matching Python (?:version|ABI) tag \(e\.g\., `(?P<tag>[^`]+)`\)")


def _tags_hint(log: Log, name: str) -> tuple[str | None, tuple[str, ...]]:
    """uv's hint on the wheels a package does have: (the hint, their Python tags)."""
    for h in log.hints:
        m = _WHEEL_TAGS.search(h)
        if m and canonicalize_name(m.group("pkg")) == name:
            return h, tuple(re.findall(r"`([^`]+)`", m.group("tags")))
    return None, ()


def _newest_cp(tags: Sequence[str]) -> tuple[int, int] | None:
    found = [(3, int(m.group(1))) for t in tags if (m := re.fullmatch(r"cp3(\d+)[a-z]*", t))]
    return max(found) if found else None


def _fork_desc(split: str | None) -> str | None:
    """The Python versions of a fork, in the split's own numbers: "3.13 and later", "below 3.11", "3.10"."""
    r = python_range(split)
    if r is None:
        return None
    clause = re.search(r"python_(?:full_)?version\s*(?P<op>>=|<|==)\s*'(?P<v>\d+\.\d+)", split or "")
    if clause and r.upper is None:
        return f"{clause.group('v')} and later" if clause.group("op") == ">=" else None
    if clause and r.lower is None and clause.group("op") == "<":
        return f"below {clause.group('v')}"
    if clause and clause.group("op") == "==":
        return clause.group("v")
    return f"in the fork {split}"


def _fork_python(log: Log) -> Cause | None:
    """A package has no usable wheel for some of the Pythons requires-python allows: uv's "no wheels with a
    matching Python version tag", or "no Linux-compatible wheels" in a fork that is a Python range."""
    for d in uv_derivations(log):
        rng = python_range(d.split)
        tagged = [(t, w) for t, w in d.no_wheels if w in _PY_TAGS]
        env = [(t, w) for t, w in d.no_wheels if w not in _PY_TAGS and w != "platform tag"] if rng else []
        if not (tagged or env):
            continue
        t, what = (tagged or env)[0]
        version = version_of(t, d)
        label = f"{t.display} {version}" if version else t.display
        split, python = fork_fields(d, log)
        hint, tags = _tags_hint(log, t.name)
        eg = _EG_TAG.search(d.text)
        newest = _newest_cp(tags)
        desc = _fork_desc(split)
        if desc is None and eg and re.fullmatch(r"cp3\d+", eg.group("tag")):
            desc = f"{eg.group('tag')[2]}.{eg.group('tag')[3:]} (`{eg.group('tag')}`)"
        if python is None and newest is not None:
            python = f"<{newest[0]}.{newest[1] + 1}"
        if python is None and eg and re.fullmatch(r"cp3\d+", eg.group("tag")):
            python = f"<3.{eg.group('tag')[3:]}"
        kind = "" if what in _PY_TAGS else f"{what}-compatible " if not what.count(" ") else f"`{what}`-compatible "
        summary = f"{label} has no {kind}wheels for Python {desc or 'versions requires-python allows'}"
        if split and rng is not None:
            summary += f" (uv's fork {split})"
        have = f" (its wheels: {', '.join(tags)})" if tags else ""
        reason = (f"uv locks every Python that requires-python allows, forking the resolution by Python version. "
                  f"For Python {desc or 'in this range'}, {label} has no wheel uv can use{have} and no source "
                  "distribution, so the lock fails there even when the Python you run resolves. A requires-python "
                  "bound that leaves those Pythons out removes the failure.")
        fixes: list[Fix] = []
        if python:
            fixes.append(requires_python_fix(log, python, f"Leave Python {desc or 'versions without wheels'} out "
                                             f"of the lock: requires-python {python}"))
        low = f"{rng.lower[0]}.{rng.lower[1]}" if rng is not None and rng.lower is not None else None
        first = first_torch_with_python(low) if low and t.name == "torch" else None
        if first is not None and (t.pinned is None or first.version > Version(t.pinned.public)):
            fixes.append(fix_cmd(f"Or move to a torch with wheels for Python {low} (from {first.version})",
                                 f"uv add \"torch>={first.version}\""))
        fixes.append(fix_cmd(f"Or let llmenv pick versions of {t.display} with wheels for every Python you allow",
                             f"llmenv plan {t.name}"))
        disjoint = next((h for h in log.hints if "the resolution failed for other Python versions" in h), None)
        ev = uniq([*d.statements, *(x for x in (disjoint, hint) if x)])
        return Cause(kind="python-version", packages=(t.name,), summary=summary, chain=tuple(d.statements),
                     reason=reason, fixes=tuple(fixes), evidence=ev, version=version, split=split, python=python,
                     pins=pins_on(d, [t.name]))
    return None


def check_python_version(log: Log) -> list[Cause]:
    """The Python version (or the project's requires-python range) is outside what a dependency supports."""
    pip_torch = _pip_torch_python(log) or _fork_python(log)
    if pip_torch is not None:
        return [pip_torch]
    ev: list[str] = []
    need: str | None = None
    pkg: Term | None = None
    have: str | None = None
    which: str | None = None
    found: Derivation | None = None
    for d in uv_derivations(log):
        found = d
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
        found = None
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
            fixes.append(requires_python_fix(log, like.replace(" ", ""), "Narrow the project's supported Python "
                                             "versions to what it supports"))
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
    split, _ = fork_fields(found, log)
    bound = (like.replace(" ", "") if like else None) or (_lower_bound(need) if need else None)
    return [Cause(kind="python-version", packages=(pkg.name,) if pkg else (), summary=summary,
                  chain=tuple(uniq(ev))[:4], reason=reason, fixes=tuple(fixes), evidence=uniq(ev),
                  version=version_of(pkg, found) if pkg else None, split=split, python=bound,
                  pins=pins_on(found, [pkg.name]) if pkg else ())]


def _lower_bound(spec: str) -> str | None:
    """``>=3.11`` (or ``>=3.9,<3.13``) -> a requires-python that keeps only what the dependency supports."""
    m = re.search(r">=\s*(\d+\.\d+)", spec)
    return f">={m.group(1)}" if m else None
