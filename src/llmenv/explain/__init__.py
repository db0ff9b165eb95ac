"""Explain a failed uv or pip run: the cause in plain words, the chain of pins that led there, ranked fixes.

``explain(text, project)`` is pure (a log and, when known, the project's facts in, a ``Diagnosis`` out); ``render_lines(diagnosis)`` turns it into plain
lines for people. ``llmenv lock`` / ``sync`` call both after uv fails; ``llmenv explain`` reads a saved log.

The cause kinds form a documented, stable set (``KINDS``, docs/explain.md). A log no rule recognizes is
reported as unknown with the lines that matter; explain never guesses a cause.
"""

from __future__ import annotations

from dataclasses import replace

from llmenv.explain._model import Cause, Diagnosis, Fix, Pin
from llmenv.explain._parse import Log, parse
from llmenv.explain._project import ProjectFacts, read_project
from llmenv.explain.rules import KINDS, RULES, rank
from llmenv.explain.rules._common import fork_fields

__all__ = ["KINDS", "Cause", "Diagnosis", "Fix", "Pin", "ProjectFacts", "explain", "read_project", "render_lines"]

_MAX_LINES = 15


_FAILED = ("error", "Error", "ERROR", "failed", "Failed", "×", "unsatisfiable", "No solution found", "Killed",
           "undefined symbol", "can't be installed", "Traceback", "fatal")


def _failed(text: str) -> bool:
    return any(k in text for k in _FAILED)


def explain(text: str, project: ProjectFacts | None = None) -> Diagnosis:
    """Diagnose a uv/pip log (or a Python traceback from an environment uv built). ``project``: the facts of the
    pyproject.toml the log came from (``read_project``), so that fixes build on what it already has."""
    log = parse(text)
    if project is not None:
        log = replace(log, project=project)
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
    causes = rank(log, [_with_fork(log, c) for c in causes])
    lines = tuple(log.error_lines[-_MAX_LINES:])
    return Diagnosis(causes=tuple(causes), unknown=not causes, lines=lines, failed=bool(causes) or _failed(log.text))


def _with_fork(log: Log, c: Cause) -> Cause:
    """A cause read from uv's report of one fork carries that fork's marker and the requires-python bound that
    leaves the fork out (when the rule did not set them itself)."""
    if c.split is not None or not c.evidence:
        return c
    ev = set(c.evidence)
    d = next((d for d in log.derivations if d.split and ev & set(d.statements)), None)
    if d is None:
        return c
    split, python = fork_fields(d, log)
    return replace(c, split=split, python=c.python or python)


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
