"""Explain a failed uv or pip run: the cause in plain words, the chain of pins that led there, ranked fixes.

``explain(text)`` is pure (a log in, a ``Diagnosis`` out); ``render_lines(diagnosis)`` turns it into plain
lines for people. ``llmenv lock`` / ``sync`` call both after uv fails; ``llmenv explain`` reads a saved log.

The cause kinds form a documented, stable set (``KINDS``, docs/explain.md). A log no rule recognizes is
reported as unknown with the lines that matter; explain never guesses a cause.
"""

from __future__ import annotations

from dataclasses import replace

from llmenv.explain._model import Cause, Diagnosis, Fix
from llmenv.explain._parse import parse
from llmenv.explain.rules import KINDS, RULES, rank

__all__ = ["KINDS", "Cause", "Diagnosis", "Fix", "explain", "render_lines"]

_MAX_LINES = 15


def _failed(text: str) -> bool:
    import re

    return bool(re.search(
        r"error|Error|ERROR|failed|Failed|×|unsatisfiable|No solution found|Killed|undefined symbol|"
        r"can't be installed|Traceback|fatal",
        text,
    ))


def explain(text: str) -> Diagnosis:
    """Diagnose a uv/pip log (or a Python traceback from an environment uv built)."""
    log = parse(text)
    causes: list[Cause] = []
    claimed: set[str] = set()
    for rule in RULES:
        for cause in map(_first_fix_plain, rule.check(log)):
            ev = set(cause.evidence)
            if ev and ev <= claimed:
                continue  # a more specific cause already explains these lines
            if any(c.kind == cause.kind and c.packages == cause.packages for c in causes):
                continue  # the same cause, found again by a less specific reading of the log
            causes.append(cause)
            claimed |= ev
    causes = rank(log, causes)
    lines = tuple(log.error_lines[-_MAX_LINES:])
    return Diagnosis(causes=tuple(causes), unknown=not causes, lines=lines, failed=bool(causes) or _failed(log.text))


def _first_fix_plain(c: Cause) -> Cause:
    """Fix titles are written to follow one another ("Or ..."); the first one reads on its own."""
    if not c.fixes or not c.fixes[0].title.startswith(("Or ", "And ")):
        return c
    first = c.fixes[0]
    title = first.title.split(" ", 1)[1]
    return replace(c, fixes=(replace(first, title=title[:1].upper() + title[1:]), *c.fixes[1:]))


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + ln if ln else prefix.rstrip() for ln in text.splitlines()]


def render_lines(d: Diagnosis) -> list[str]:
    """Plain lines for people: each cause, its chain, why, and the fixes, best first."""
    out: list[str] = []
    if d.unknown:
        if not d.failed:
            return ["llmenv explain: this log shows no failure."]
        out.append("llmenv explain: no known cause matches this log; it is not guessing one.")
        if d.lines:
            out.append("The lines that matter:")
            out += [f"  {ln}" for ln in d.lines]
        return out
    n = len(d.causes)
    for i, c in enumerate(d.causes, 1):
        if i > 1:
            out.append("")
        head = f"cause {i} of {n}" if n > 1 else "cause"
        out.append(f"{head} [{c.kind}]: {c.summary}")
        if c.chain:
            out.append("  from the log:")
            out += [f"    {step}" for step in c.chain]
        if c.reason:
            out.append(f"  why: {c.reason}")
        for j, f in enumerate(c.fixes, 1):
            if f.kind == "pyproject":
                out.append(f"  fix {j}: {f.title}. In pyproject.toml:")
                out += _indent(f.edit, "      ")
            else:
                out.append(f"  fix {j}: {f.title}:")
                out += _indent(f.edit, "      $ ")
    return out
