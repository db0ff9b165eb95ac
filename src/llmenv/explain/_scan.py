"""Linear-time reading: what keeps ``explain`` fast on a 50 MB log and bounded on hostile lines.

- ``needles(rx)``: the literal text a pattern cannot match without (one per top-level alternative, lower-cased),
  so a line is searched only when it contains one (``in`` runs at memchr speed; most lines of a build log contain
  none).
- ``term_before`` / ``term_after``: the package term ("torch==2.6.0", "verl[sglang]", "torch{sys_platform ==
  'linux'}>=2.1,<2.5") ending or starting at a position, found by scanning characters instead of by a regex with
  nested quantifiers that backtracks at every position of a long line.
- ``occurrences``: the positions of a literal, at most ``limit`` of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from re import Match, Pattern
from typing import Any

try:  # the regex parser of the standard library: re._parser since Python 3.11, sre_parse before
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python 3.10
    _sre = importlib.import_module("sre_parse")

__all__ = ["needles", "occurrences", "search", "term_after", "term_before"]

_MIN_NEEDLE = 3


def _required_literals(items: list[tuple[Any, Any]]) -> list[str]:
    """Runs of literal characters a sequence of regex items must contain (items that may be absent end a run)."""
    runs: list[str] = []
    cur: list[str] = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            cur.append(chr(av))
            continue
        if name == "SUBPATTERN" and isinstance(av, tuple):
            inner = av[-1]
            sub = _required_literals(list(inner))
            if len(sub) == 1 and len(list(inner)) == sum(1 for o, _ in inner if str(o) == "LITERAL"):
                cur.append(sub[0])  # a group of plain literals continues the run
                continue
            if cur:
                runs.append("".join(cur))
                cur = []
            runs += sub
            continue
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and isinstance(av, tuple) and av[0] >= 1:
            if cur:
                runs.append("".join(cur))
                cur = []
            runs += _required_literals(list(av[2]))
            continue
        if name == "AT":
            continue  # ^ $ \b take no characters
        if cur:
            runs.append("".join(cur))
            cur = []
    if cur:
        runs.append("".join(cur))
    return runs


@dataclass(frozen=True)
class _Branch:
    needle: str  # lower-cased literal every match of this alternative contains
    lead: bool  # the alternative starts with it (after ^ / \b), so a match starts where it occurs
    anchored: bool  # the alternative starts with ^


def _branch(items: list[tuple[Any, Any]]) -> _Branch | None:
    runs = [r for r in _required_literals(items) if len(r) >= _MIN_NEEDLE]
    if not runs:
        return None
    anchored = bool(items) and str(items[0][0]) == "AT" and str(items[0][1]) == "AT_BEGINNING"
    body = [it for it in items if str(it[0]) != "AT"]
    lead_run = _required_literals(body[:1])[0] if body and str(body[0][0]) == "LITERAL" else ""
    if lead_run:  # the whole leading run of plain literals
        lead_run = "".join(chr(av) for op, av in _take_literals(body))
    best = max(runs, key=len)
    if lead_run and len(lead_run) >= _MIN_NEEDLE:
        return _Branch(needle=lead_run.lower(), lead=True, anchored=anchored)
    return _Branch(needle=best.lower(), lead=False, anchored=anchored)


def _take_literals(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    out = []
    for it in items:
        if str(it[0]) != "LITERAL":
            break
        out.append(it)
    return out


@lru_cache(maxsize=1024)
def _branches(pattern: str, flags: int) -> tuple[_Branch, ...] | None:
    try:
        tree = _sre.parse(pattern, flags)
    except Exception:  # an unparsable pattern is simply not prefiltered
        return None
    items = list(tree)
    alts = [list(b) for b in items[0][1][1]] if len(items) == 1 and str(items[0][0]) == "BRANCH" else [items]
    out = []
    for alt in alts:
        b = _branch(alt)
        if b is None:
            return None  # an alternative with no literal of its own: every line must be searched
        out.append(b)
    return tuple(out)


def needles(rx: Pattern[str]) -> tuple[str, ...] | None:
    """Lower-cased literals one of which every match contains; None when the pattern has no such literal."""
    bs = _branches(rx.pattern, rx.flags)
    return tuple(dict.fromkeys(b.needle for b in bs)) if bs is not None else None


_BACK = 300  # how far before its literal a match may start, for an alternative that does not start with it
_AHEAD = 1500
_PER_LINE = 8  # occurrences of one literal tried on one line


def search(rx: Pattern[str], line: str, lower: str | None = None) -> Match[str] | None:
    """``rx.search(line)`` in bounded time: only where one of the pattern's literals occurs (the leftmost match
    found there). A pattern without such literals is searched plainly."""
    bs = _branches(rx.pattern, rx.flags)
    if bs is None:
        return rx.search(line)
    low = line.lower() if lower is None else lower
    if len(low) != len(line):  # lower-casing changed offsets (rare scripts): search plainly
        return rx.search(line) if any(b.needle in low for b in bs) else None
    best: Match[str] | None = None
    for b in bs:
        if b.anchored:  # ^...: it can only match where the line starts
            if b.needle in low and (m := rx.match(line)) is not None:
                return m
            continue
        for pos in occurrences(low, b.needle, limit=_PER_LINE if b.lead else 2):
            if best is not None and pos >= best.start() + _BACK:
                break
            if b.lead:
                m = rx.match(line, pos)
            else:
                m = rx.search(line, max(0, pos - _BACK), min(len(line), pos + len(b.needle) + _AHEAD))
            if m is not None:
                if best is None or m.start() < best.start():
                    best = m
                break
    return best


def occurrences(text: str, literal: str, *, start: int = 0, end: int | None = None, limit: int = 500) -> Iterator[int]:
    """The positions of ``literal`` in ``text[start:end]``, at most ``limit`` of them."""
    stop = len(text) if end is None else end
    i = text.find(literal, start, stop)
    n = 0
    while i >= 0 and n < limit:
        yield i
        n += 1
        i = text.find(literal, i + len(literal), stop)


_TERM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*+!<>=~,:")
_OPS = frozenset("<>=!~")
_MAX_TERM = 700


def term_before(text: str, end: int) -> tuple[int, str]:
    """The term that ends at ``end``: (its start, its text). Bracketed extras and a marker in braces may hold
    spaces; a range may be written ``>=2.1, <2.5``."""
    lo = max(0, end - _MAX_TERM)
    k = end
    while k > lo:
        c = text[k - 1]
        if c in "]}":
            j = text.rfind("[" if c == "]" else "{", lo, k - 1)
            if j < 0:
                break
            k = j
            continue
        if c in _TERM_CHARS:
            k -= 1
            continue
        if c == " " and k - 2 >= lo and text[k - 2] == "," and k < end and text[k] in _OPS:
            k -= 1
            continue
        break
    while k < end and not text[k].isalnum():
        k += 1
    return k, text[k:end]


def term_after(text: str, start: int) -> tuple[int, str]:
    """The term that starts at ``start``: (its end, its text), without a sentence's final period or comma."""
    hi = min(len(text), start + _MAX_TERM)
    k = start
    while k < hi:
        c = text[k]
        if c in "[{" and k > start:
            j = text.find("]" if c == "[" else "}", k + 1, hi)
            if j < 0:
                break
            k = j + 1
            continue
        if c in _TERM_CHARS:
            k += 1
            continue
        if c == " " and k > start and text[k - 1] == "," and k + 1 < hi and text[k + 1] in _OPS:
            k += 1
            continue
        break
    while k > start and text[k - 1] in ".,:":
        k -= 1
    return k, text[start:k]
