"""Read a uv or pip log into facts: the resolver's derivation, hints, build failures, exceptions, symbols.

Pure text in, typed facts out; no rule lives here. The parsers follow the general shape of the messages
(uv's PubGrub report "Because A depends on B and ..., we can conclude that ...", its hints, its
"Failed to build" chain; pip's ResolutionImpossible report and "No matching distribution"; Python
tracebacks; the dynamic loader's "undefined symbol") rather than any one log.

Logs arrive in many wrappings: ANSI colours, uv's old tree drawing (``×``, ``╰─▶``, ``│``) or its newer
``error: ... / cause: ...`` layout, terminal-width wrapping, Docker/CI timestamp prefixes. ``clean`` removes
the wrapping so one set of patterns reads them all.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.explain._project import ProjectFacts
from llmenv.explain._scan import needles, occurrences, search, term_after, term_before

__all__ = [
    "BuildFailure",
    "Dep",
    "Interpreter",
    "Log",
    "Term",
    "UrlConflict",
    "clean_lines",
    "parse",
    "parse_term",
]

# --- cleaning -----------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
# uv's old report tree and pip's subprocess box: "  × ", "╰─▶ ", "├─▶ ", "│ ", "╰─> "
# ... and its ASCII form (Windows consoles): "  x ", "  | ", "  `-> ", "  |-> "
_TREE = re.compile(r"^(\s*)(?:×|│|├─+▶|╰─+▶|├─+>|╰─+>|└─+>|x(?= [A-Z])|\|(?= |$)|`-+>|\|-+>)\s?")
# "#24 5.773 " (BuildKit), "54.11 " (docker build --progress=plain), "2025-01-01T00:00:00.1234567Z " (CI)
_PREFIXES = (
    re.compile(r"^#\d+ \d+(?:\.\d+)? ?"),
    re.compile(r"^\d{1,5}\.\d{1,4}(?: |$)"),
    re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?"),
    re.compile(r"^\[\d\d:\d\d:\d\d(?:\.\d+)?\] ?"),
    re.compile(r"^> ?"),  # quoted in a Markdown comment
)


_MAX_LINE = 5000  # real log lines are far shorter; longer ones are binary noise


def clean_lines(text: str) -> list[str]:
    """The log's lines without colours, report-tree glyphs, or per-line timestamp prefixes."""
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [ln.rstrip().expandtabs(4)[:_MAX_LINE] for ln in text.split("\n")]
    nonblank = [ln for ln in lines if ln.strip()]
    for prefix in _PREFIXES:
        hits = sum(1 for ln in nonblank if prefix.match(ln))
        if nonblank and hits * 2 >= len(nonblank):
            lines = [prefix.sub("", ln, count=1) for ln in lines]
            nonblank = [ln for ln in lines if ln.strip()]
    out = []
    for ln in lines:
        prev = None
        while prev != ln:
            prev = ln
            ln = _TREE.sub(r"\1", ln)
        out.append(ln.replace("\u00a0", " ").rstrip())
    return out


# --- terms: "torch==2.6.0", "rfdetr[xla]", "torch{sys_platform == 'linux'}==2.9.*", "myproj:dev" ---------------

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"  # bounded: no quadratic scans of long lines
_VER = r"[A-Za-z0-9.*+!_-]{1,64}"
_OP = r"(?:===|==|!=|<=|>=|~=|<|>)"
_SPEC = rf"{_OP}\s?{_VER}(?:,\s?{_OP}\s?{_VER})*"
TERM = rf"{_NAME}(?:\[[A-Za-z0-9._,\s-]{{0,200}}\])?(?::[A-Za-z0-9._-]{{1,64}})?(?:\{{[^{{}}]{{0,400}}\}})?(?:{_SPEC})?"
_TERM_RE = re.compile(
    rf"^(?P<name>{_NAME})(?:\[(?P<extras>[A-Za-z0-9._,\s-]{{0,200}})\])?(?::(?P<group>[A-Za-z0-9._-]{{1,64}}))?"
    rf"(?:\{{(?P<marker>[^{{}}]{{0,400}})\}})?(?P<spec>{_SPEC})?$"
)


@dataclass(frozen=True, kw_only=True)
class Term:
    """A package (with extras, group, marker) and the versions a statement is about."""

    name: str  # normalized
    display: str  # the name as written
    extras: tuple[str, ...] = ()
    group: str | None = None
    marker: str | None = None
    spec: str = ""  # e.g. "==2.6.0", ">=2.1,<2.5"; "" means any version

    @property
    def text(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        group = f":{self.group}" if self.group else ""
        return f"{self.display}{extras}{group}{self.spec}"

    @property
    def label(self) -> str:
        """The name with extras or group, without versions: ``verl[sglang]``."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        group = f":{self.group}" if self.group else ""
        return f"{self.display}{extras}{group}"

    @property
    def specifier(self) -> SpecifierSet | None:
        try:
            return SpecifierSet(self.spec)
        except InvalidSpecifier:
            return None

    @property
    def pinned(self) -> Version | None:
        """The version of an exact ``==X`` pin (no wildcard), else None."""
        m = re.fullmatch(r"===?\s?([^,*\s]+)", self.spec)
        if not m:
            return None
        try:
            return Version(m.group(1))
        except InvalidVersion:
            return None

    @property
    def versions(self) -> tuple[Version, ...]:
        """Every concrete version named in the spec (for pre-release and local-label checks)."""
        out = []
        for raw in re.findall(rf"{_OP}\s?({_VER})", self.spec):
            try:
                out.append(Version(raw.rstrip(".*").rstrip(".")))
            except InvalidVersion:
                continue
        return tuple(out)


def parse_term(text: str) -> Term | None:
    s = text.strip().rstrip(".").strip()
    m = _TERM_RE.match(s)
    if not m:
        return None
    extras = tuple(e.strip() for e in (m.group("extras") or "").split(",") if e.strip())
    spec = re.sub(r"\s+", "", m.group("spec") or "")
    return Term(
        name=canonicalize_name(m.group("name")),
        display=m.group("name"),
        extras=extras,
        group=m.group("group"),
        marker=m.group("marker"),
        spec=spec,
    )


# --- the resolver's derivation ------------------------------------------------------------------------------

ROOTS = ("your project", "your workspace", "you", "the requirements", "the user")


@dataclass(frozen=True, kw_only=True)
class Dep:
    """``src depends on dst``. ``src`` is None for the root (your project, your workspace, you)."""

    src: Term | None
    dst: Term
    root: str | None = None  # which root, when src is None
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class Derivation:
    """One resolver failure: uv's PubGrub report or pip's ResolutionImpossible report, as facts."""

    tool: str  # "uv" | "pip"
    text: str  # the report joined into one paragraph
    statements: tuple[str, ...]  # its sentences (uv) or "caused by" lines (pip)
    split: str | None  # uv's "for split (markers: ...)"
    deps: tuple[Dep, ...]
    requires: tuple[tuple[str, Term], ...]  # (root label, term) from "your project requires X and Y"
    no_version: tuple[Term, ...]  # "there is no version of X==1"
    not_found: tuple[tuple[Term, str], ...]  # ("X was not found in the ...", where)
    no_wheels: tuple[tuple[Term, str], ...]  # ("X has no wheels with a matching platform tag", what)
    python: tuple[tuple[str, str, str], ...]  # (which, have, need): "the requested Python version (>=3.8) does not satisfy Python>=3.9"
    python_deps: tuple[tuple[Term, str], ...]  # ("X depends on Python>=3.9", ">=3.9")
    incompatible: tuple[tuple[str, str], ...]  # "A and B are incompatible" (labels or root names)
    unusable: tuple[Term, ...]  # "X cannot be used"
    yanked: tuple[Term, ...]
    available: tuple[Term, ...] = ()  # "only X==1.0 is available"

    @property
    def root_labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([r for r, _ in self.requires] + [d.root for d in self.deps if d.root]))


# The resolver's report is read by finding each statement's literal words ("depends on", "has no", "cannot be
# used") and scanning the terms on either side (llmenv.explain._scan): a regex that starts with a term would
# backtrack at every position of a long line.
_NOWHEEL_TAIL = re.compile(
    r" (?:has|have) no (?:wheels (?:are available )?with a matching (?P<what>Python ABI tag|Python implementation tag|Python version tag|platform tag|Python ABI)"
    r"|wheels with a (?P<ft>free-threading) compatible ABI tag"
    r"|(?P<env>`[^`]{1,400}`|Linux|macOS|Windows|Android|iOS|FreeBSD|[A-Z][A-Za-z]{1,20})-compatible wheels"
    r"|compatible wheels|usable wheels|available distributions?|source distributions? or wheels?)"
)
# "Requirements contain conflicting URLs for package `flash-attn` in split `python_full_version == '3.11.*'`:"
_CONFLICTING_URLS = re.compile(
    r"Requirements contain conflicting (?P<what>URLs|indexes) for package `(?P<pkg>[^`]{1,200})`"
    r"(?: in (?:split `(?P<split>[^`]{1,2000})`|(?P<all>all marker environments)))?(?::\s*(?P<pair>`[^`]{1,2000}` vs\. `[^`]{1,2000}`))?"
)
_PYVER_RE = re.compile(
    r"the (?P<which>current|requested|active) Python version \((?P<have>[^)]{0,200})\) does not satisfy Python\s?(?P<need>[^\s,]{1,60})"
)
_PY_NEED = re.compile(r" Python\s?(?P<need>[^\s,]{1,60}(?:,\s?[<>=!~]{1,3}[^\s,]{1,60}){0,6})")
_NOTFOUND_WHERE = ("package registry", "provided package locations", "cache")
_ROOTS_BEFORE = ("your project", "your workspace", "the requirements", "the requirement", "you")
_REQ_PHRASES = (("your project requires ", "your project"), ("your workspace requires ", "your workspace"),
                ("you require ", "you"), ("you requires ", "you"))
_PY_VERBS = (" depends on", " depend on", " requires", " require")
_MAX_STATEMENTS = 500  # uv's reports have tens; more is not a report


def _root_before(text: str, end: int) -> tuple[int, str] | None:
    """A root ("your project", "you", ...) that ends at ``end``: (its start, its name)."""
    for r in _ROOTS_BEFORE:
        start = end - len(r)
        if start >= 0 and text.startswith(r, start) and (start == 0 or not text[start - 1].isalnum()):
            return start, r
    return None


def _term_or_root_before(text: str, end: int) -> tuple[int, str]:
    root = _root_before(text, end)
    return root if root is not None else term_before(text, end)


def _terms_before(text: str, literal: str) -> list[tuple[Term, int]]:
    """Each term directly before an occurrence of ``literal``, with the occurrence's position."""
    out = []
    for i in occurrences(text, literal):
        t = parse_term(term_before(text, i)[1])
        if t is not None:
            out.append((t, i))
    return out


def _terms_after(text: str, literal: str) -> list[tuple[Term, int]]:
    """Each term directly after an occurrence of ``literal``, with the position where the term ends."""
    out = []
    for i in occurrences(text, literal):
        end, raw = term_after(text, i + len(literal))
        t = parse_term(raw)
        if t is not None:
            out.append((t, end))
    return out


def _term_list(text: str, pos: int) -> list[Term]:
    """"torch==2.6.0, vllm==0.8.5 and sglang" from ``pos`` (up to "and we", "and because", a period)."""
    out: list[Term] = []
    while len(out) < 100:
        end, raw = term_after(text, pos)
        t = parse_term(raw)
        if t is None:
            break
        out.append(t)
        if text.startswith(", ", end):
            pos = end + 2
        elif text.startswith(" and ", end) and not re.match(r"(?:we|and|because)\b", text[end + 5 : end + 13]):
            pos = end + 5
        else:
            break
    return out


def _no_wheel_what(m: re.Match[str]) -> str:
    """What the wheels lack: a tag ("Python version tag"), or the environment uv names ("Linux", a marker)."""
    if m.group("what"):
        return m.group("what")
    if m.group("ft"):
        return "free-threading ABI tag"
    if m.group("env"):
        return m.group("env").strip("`")
    return "platform"


def _norm_root(s: str) -> str:
    s = s.lower()
    return "the requirements" if s.startswith("the requirement") else s


def _premise_facts(premise: str) -> tuple[list[Dep], list[tuple[str, Term]]]:
    """``X depends on Y`` and ``your project requires X and Y`` in one premise, in the order they are stated."""
    found: list[tuple[int, Dep]] = []
    for lit in (" depends on ", " depend on "):
        for i in occurrences(premise, lit):
            end, raw = term_after(premise, i + len(lit))
            dst = parse_term(raw)
            if dst is None or dst.name == "python":
                continue
            at_root = _root_before(premise, i)
            if at_root is not None:
                found.append((i, Dep(src=None, dst=dst, root=_norm_root(at_root[1]), text=premise[at_root[0] : end])))
                continue
            start, raw_src = term_before(premise, i)
            src = parse_term(raw_src)
            if src is not None and src.name not in ("version", "versions"):
                found.append((i, Dep(src=src, dst=dst, text=premise[start:end])))
    requires: list[tuple[str, Term]] = []
    for phrase, root_name in _REQ_PHRASES:
        for i in occurrences(premise, phrase):
            if i > 0 and premise[i - 1].isalnum():
                continue
            root = _norm_root(root_name)
            for term in _term_list(premise, i + len(phrase)):
                requires.append((root, term))
                if term.spec:  # "you require torch==2.7.1" constrains torch like "your project depends on" does
                    found.append((i, Dep(src=None, dst=term, root=root, text=f"{root_name} requires {term.text}")))
    found.sort(key=lambda x: x[0])
    return [d for _, d in found], requires


def _uv_derivation(text: str, split: str | None) -> Derivation:
    text = re.sub(r"\(\d+\)", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    statements = tuple(
        s.strip() for s in re.split(r"(?<=[.:])\s(?=(?:And because|Because)\b)", text)[:_MAX_STATEMENTS] if s.strip()
    )
    deps: list[Dep] = []
    requires: list[tuple[str, Term]] = []
    for st in statements:
        # facts come from the premises; a conclusion ("we can conclude that you require torch==2.6.0") only
        # restates them as derived
        cut = st.find(" we can conclude that")
        premise = st[:cut].rstrip(",") if cut >= 0 else st
        d, r = _premise_facts(premise)
        deps += d
        requires += r
    no_wheels = []
    for lit in (" has no ", " have no "):
        for t, i in _terms_before(text, lit):
            m = _NOWHEEL_TAIL.match(text, i)
            if m:
                no_wheels.append((i, t, _no_wheel_what(m)))
    not_found = [(t, where) for t, i in _terms_before(text, " was not found in the ")
                 for where in _NOTFOUND_WHERE if text.startswith(where, i + len(" was not found in the "))]
    python_deps = []
    for i in occurrences(text, " Python"):
        verb = next((v for v in _PY_VERBS if text.endswith(v, 0, i)), None)
        need = _PY_NEED.match(text, i) if verb else None
        who = parse_term(term_before(text, i - len(verb))[1]) if verb and need else None
        if who is not None and need is not None:
            python_deps.append((who, need.group("need").rstrip(".")))
    incompatible = []
    for i in occurrences(text, " are incompatible"):
        b_start, b = _term_or_root_before(text, i)
        if text.endswith(" and ", 0, b_start):
            a = _term_or_root_before(text, b_start - 5)[1]
            if a and b:
                incompatible.append((a, b))
    python = ([(m.group("which"), m.group("have"), m.group("need").rstrip(".")) for m in _PYVER_RE.finditer(text)]
              if "Python version (" in text else [])
    return Derivation(
        tool="uv",
        text=text,
        statements=statements,
        split=split,
        deps=tuple(deps),
        requires=tuple(requires),
        no_version=tuple(t for lit in ("there is no version of ", "there are no versions of ")
                         for t, _ in _terms_after(text, lit)),
        not_found=tuple(not_found),
        no_wheels=tuple((t, what) for _, t, what in sorted(no_wheels, key=lambda x: x[0])),
        python=tuple(python),
        python_deps=tuple(python_deps),
        incompatible=tuple(incompatible),
        unusable=tuple(t for t, _ in _terms_before(text, " cannot be used")),
        yanked=tuple(t for lit in (" was yanked", " were yanked") for t, _ in _terms_before(text, lit)),
        available=tuple(t for t, end in _terms_after(text, "only ")
                        if text.startswith((" is available", " are available"), end)),
    )


_BLOCK_END = re.compile(r"^\s*(?:hint|help|error|warning|note|ERROR|WARNING)\s*:", re.IGNORECASE)
def split_marker(text: str) -> str | None:
    """The fork's marker in uv's "... for split (markers: M):" (older) or "... for split (markers: M)" (newer);
    the marker itself may hold parentheses, so the end is where they balance."""
    at = text.find("for split (")
    if at < 0:
        return None
    start = at + len("for split (")
    depth = 1
    for k in range(start, min(len(text), start + 4000)):
        ch = text[k]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                inner = text[start:k].strip()
                return inner.removeprefix("markers:").strip() or None
    return None


_MAX_DERIVATION = 200_000  # characters of one report; uv's longest are a few tens of thousands
_MAX_DERIVATIONS = 50


def _uv_derivations(ix: LineIndex) -> list[Derivation]:
    out: list[Derivation] = []
    lines = ix.lines
    done = -1
    for i in ix.hits(("because ",)):
        ln = lines[i]
        at = ln.find("Because ")
        if i <= done or at < 0:
            continue
        if len(out) >= _MAX_DERIVATIONS:
            break
        block = [ln[at:]]
        size = len(block[0])
        j = i + 1
        while j < len(lines) and lines[j].strip() and not _BLOCK_END.match(lines[j]):
            if size < _MAX_DERIVATION:
                block.append(lines[j].strip())
                size += len(block[-1]) + 1
            j += 1
        done = j
        text = " ".join(block)[:_MAX_DERIVATION]
        above = " ".join(lines[max(0, i - 4) : i + 1])
        if "we can conclude" in text or "unsatisfiable" in text or "No solution found" in above:
            # the header ("No solution found ... for split (markers: ...):") sits just above, maybe wrapped
            head = " ".join(s.strip() for s in [*lines[max(0, i - 4) : i], ln[:at]])
            out.append(_uv_derivation(text, split_marker(re.sub(r"\s+", " ", head))))
    return out


# pip: "    openrlhf[vllm] 0.7.0 depends on transformers==4.50.0" / "    The user requested transformers==4.50"
_PIP_DEP_RE = re.compile(
    rf"^\s*(?P<src>{_NAME}(?:\[[^\]]*\])?) (?P<ver>[A-Za-z0-9.+!_-]+) depends on (?P<dst>.+?)\s*$"
)
_PIP_USER_RE = re.compile(r"^\s*The user requested (?:\(constraint\) )?(?P<req>.+?)\s*$")
# "torch-npu 2.7.1.dev20250724 requires torch==2.7.1, but you have torch 2.8.0+cpu which is incompatible."
_PIP_HAVE_RE = re.compile(
    rf"^\s*(?P<src>{_NAME}) (?P<ver>\S+) requires (?P<dst>.+?), but you have (?P<have>{_NAME}) (?P<hver>\S+) which is incompatible"
)


def _pip_term(req: str) -> Term | None:
    req = req.split(";")[0].strip()
    req = re.sub(r"\s+", "", req)
    return parse_term(req)


def _pip_derivations(ix: LineIndex) -> list[Derivation]:
    out: list[Derivation] = []
    lines = ix.lines
    for i in ix.hits(("the conflict is caused by:",))[:_MAX_DERIVATIONS]:
        ln = lines[i]
        if "The conflict is caused by:" not in ln:
            continue
        deps: list[Dep] = []
        statements: list[str] = []
        j = i + 1
        while j < len(lines) and (lines[j].strip() or j == i + 1):
            s = lines[j].strip()
            if not s:
                j += 1
                continue
            m = _PIP_DEP_RE.match(s)
            u = _PIP_USER_RE.match(s)
            if m:
                src = parse_term(f"{m.group('src')}=={m.group('ver')}")
                dst = _pip_term(m.group("dst"))
                if src and dst:
                    deps.append(Dep(src=src, dst=dst, text=s))
                    statements.append(s)
            elif u:
                dst = _pip_term(u.group("req"))
                if dst:
                    deps.append(Dep(src=None, dst=dst, root="the user", text=s))
                    statements.append(s)
            else:
                break
            j += 1
        head = " ".join(x.strip() for x in lines[max(0, i - 3) : i])
        out.append(
            Derivation(
                tool="pip",
                text=" ".join([head, *statements]),
                statements=tuple(statements),
                split=None,
                deps=tuple(deps),
                requires=(),
                no_version=(),
                not_found=(),
                no_wheels=(),
                python=(),
                python_deps=(),
                incompatible=(),
                unusable=(),
                yanked=(),
            )
        )
    have = []
    for ln in (lines[i] for i in ix.hits((", but you have ",))):
        m = _PIP_HAVE_RE.match(ln)
        if m:
            src = parse_term(f"{m.group('src')}=={m.group('ver')}")
            dst = _pip_term(m.group("dst"))
            inst = parse_term(f"{m.group('have')}=={m.group('hver')}")
            if src and dst and inst:
                have.append((Dep(src=src, dst=dst, text=ln.strip()), Dep(src=None, dst=inst, root="installed", text=ln.strip())))
    if have:
        deps2 = tuple(d for pair in have for d in pair)
        out.append(
            Derivation(
                tool="pip",
                text=" ".join(d.text for d, _ in have),
                statements=tuple(d.text for d, _ in have),
                split=None,
                deps=deps2,
                requires=(),
                no_version=(),
                not_found=(),
                no_wheels=(),
                python=(),
                python_deps=(),
                incompatible=(),
                unusable=(),
                yanked=(),
            )
        )
    return out


# --- pip's "Could not find a version that satisfies the requirement X (from versions: ...)" -------------------

_PIP_NOTFOUND_RE = re.compile(
    r"Could not find a version that satisfies the requirement (?P<req>.+?) \(from versions: (?P<versions>[^)]*)\)"
)
_PIP_NOMATCH_RE = re.compile(r"No matching distribution found for (?P<req>\S+(?:\s*;\s*[^\n]+)?)")


@dataclass(frozen=True, kw_only=True)
class PipMissing:
    term: Term
    available: tuple[str, ...]  # as listed by pip ("none" -> empty)
    line: str


def _pip_missing(ix: LineIndex) -> list[PipMissing]:
    out: list[PipMissing] = []
    seen: set[str] = set()
    for _, m in ix.search(_PIP_NOTFOUND_RE):
        ln = m.string
        if m:
            t = _pip_term(m.group("req"))
            raw = m.group("versions").strip()
            avail = () if raw in ("", "none") else tuple(v.strip() for v in raw.split(",") if v.strip())
            if t and t.text not in seen:
                seen.add(t.text)
                out.append(PipMissing(term=t, available=avail, line=ln.strip()))
    for _, m in ix.search(_PIP_NOMATCH_RE):
        ln = m.string
        if m:
            t = _pip_term(m.group("req"))
            if t and t.text not in seen:
                seen.add(t.text)
                out.append(PipMissing(term=t, available=(), line=ln.strip()))
    return out


# --- "Requirements contain conflicting URLs for package `x` in split `m`:" and its "- url" lines ---------------


@dataclass(frozen=True, kw_only=True)
class UrlConflict:
    """uv found two URLs (or indexes) for one package in one fork. ``split`` is the fork's marker (None: every
    environment); ``requirer`` the package whose dependencies were being resolved, when uv names it."""

    package: str  # normalized
    what: str  # "URLs" | "indexes"
    split: str | None
    urls: tuple[str, ...]
    requirer: Term | None
    lines: tuple[str, ...]


_RESOLVING_FOR = re.compile(r"Failed to resolve dependencies for (?:package )?`(?P<t>[^`]{1,300})`")


def _url_conflicts(ix: LineIndex) -> list[UrlConflict]:
    out: list[UrlConflict] = []
    lines = ix.lines
    for i in ix.hits(("requirements contain conflicting",))[:_MAX_DERIVATIONS]:
        ln = lines[i]
        m = _CONFLICTING_URLS.search(ln)
        if not m:
            continue
        urls: list[str] = []
        if m.group("pair"):
            urls = [u.strip("`") for u in m.group("pair").split(" vs. ")]
        j = i + 1
        while j < len(lines) and j < i + 50 and lines[j].lstrip().startswith("- "):
            urls.append(lines[j].strip()[2:].strip())
            j += 1
        requirer = None
        for back in range(i, max(-1, i - 3), -1):
            r = _RESOLVING_FOR.search(lines[back])
            if r:
                requirer = parse_term(r.group("t").replace(" (v", "==").rstrip(")"))
                break
        out.append(UrlConflict(
            package=canonicalize_name(m.group("pkg")), what=m.group("what"), split=m.group("split"),
            urls=tuple(urls), requirer=requirer,
            lines=tuple(x.strip() for x in lines[max(0, i - 1 if requirer else i) : j]),
        ))
    return out


# --- builds -------------------------------------------------------------------------------------------------

_UV_BUILD_RE = re.compile(
    r"Failed to (?:download and build|build|fetch wheel|prepare distributions|build editable)[:\s]*`?(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]{0,100}(?:\s?(?:==|@)\s?[^`\s]{1,300})?)`?"
)
_PIP_BUILD_RE = (
    re.compile(r"Building wheel for (?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100}) \(.*\) \.\.\. error"),
    re.compile(r"Failed (?:building|to build) wheel for (?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100})"),
    re.compile(r"Failed to build installable wheels for some pyproject\.toml based projects \((?P<name>[^)]+)\)"),
    re.compile(r"Could not build wheels for (?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100})"),
    re.compile(r"while building (?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100})(?:==(?P<ver>[A-Za-z0-9.+!_-]+))?"),
    # old pip, legacy `setup.py install`: "Running setup.py install for apex ... error"
    re.compile(r"Running setup\.py (?:install|develop|bdist_wheel) for (?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100}) \.\.\. error"),
)
_PIP_STEP_FAILED = re.compile(
    r"(?:Getting requirements to build (?:wheel|editable)|Preparing metadata \((?:setup\.py|pyproject\.toml)\)|"
    r"Installing build dependencies|Building editable for \S+ \(pyproject\.toml\)) \.\.\. error"
    r"|python setup\.py (?:egg_info|bdist_wheel|develop) did not run successfully"
    r"|subprocess-exited-with-error"
)
_PIP_TMP_DIR = re.compile(r"pip-(?:install|req-build)-[a-z0-9_]+[/\\](?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100}?)_[0-9a-f]{32}")
_COLLECTING = re.compile(r"^\s*(?:Collecting|Processing|Obtaining)\s+(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,100})")
_CACHED_SDIST = re.compile(
    r"(?:Using cached|Downloading)\s+(?:\S{0,300}/)?(?P<name>[A-Za-z0-9][A-Za-z0-9._]{0,100}?)-(?P<ver>\d[A-Za-z0-9.+!_]{0,64})\.(?:tar\.gz|zip)"
)
_EXC_RE = re.compile(
    r"^\s*(?P<exc>(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt))(?::\s*(?P<msg>.*))?$"
)


@dataclass(frozen=True, kw_only=True)
class BuildFailure:
    """A source build that failed: which distribution, and the line that says so."""

    name: str | None  # normalized, None when the log does not say
    version: str | None
    line: str

    @property
    def label(self) -> str:
        if self.name and self.version:
            return f"{self.name}=={self.version}"
        return self.name or "a package"


def _split_dist(dist: str) -> tuple[str | None, str | None]:
    dist = dist.strip().strip("`").rstrip(":")
    if " @ " in dist or "@" in dist:
        name = dist.split("@")[0].strip()
        return (canonicalize_name(name) if name else None, None)
    if "==" in dist:
        name, ver = dist.split("==", 1)
        return canonicalize_name(name.strip()), ver.strip().rstrip(".")
    return (canonicalize_name(dist) if dist else None, None)


_BUILD_KEYS = ("failed to ", "building wheel for", "failed building", "could not build", "while building",
               "running setup.py", "... error", "did not run successfully", "subprocess-exited-with-error",
               "collecting", "processing", "obtaining", "using cached", "downloading")


def _builds(ix: LineIndex) -> list[BuildFailure]:
    out: list[BuildFailure] = []
    last_collected: tuple[str, str | None] | None = None
    for n in bounded(ix.hits(_BUILD_KEYS)):
        ln, low = ix.lines[n], ix.lower[n]
        c = search(_CACHED_SDIST, ln, low)
        if c:
            last_collected = (canonicalize_name(c.group("name")), c.group("ver"))
        else:
            m = _COLLECTING.match(ln)
            if m:
                last_collected = (canonicalize_name(m.group("name")), None)
        u = search(_UV_BUILD_RE, ln, low)
        if u and "prepare distributions" not in u.group(0):
            name, ver = _split_dist(u.group("dist"))
            out.append(BuildFailure(name=name, version=ver, line=ln.strip()))
            continue
        for rx in _PIP_BUILD_RE:
            p = search(rx, ln, low)
            if p:
                for raw in p.group("name").split(","):
                    ver = (p.groupdict().get("ver") or "").rstrip(".") or None
                    out.append(BuildFailure(name=canonicalize_name(raw.strip()), version=ver, line=ln.strip()))
                break
        else:
            if search(_PIP_STEP_FAILED, ln, low):
                name, ver = last_collected if last_collected else (None, None)
                out.append(BuildFailure(name=name, version=ver, line=ln.strip()))
    if not out:
        # a compiler line inside pip's temporary build folder names the package: .../pip-install-xyz/flash-attn_<hash>/
        for ln in (ix.lines[n] for n in ix.hits(("pip-install-", "pip-req-build-"))):
            m = _PIP_TMP_DIR.search(ln)
            # ... on a compiler command, or on a source file it names (an include trace: "from .../x.cu:7:")
            if m and re.search(r"\b(?:c\+\+|gcc|g\+\+|nvcc|cc1plus|ninja|setup\.py)\b|\.(?:c|cc|cpp|cu|cuh|h|hpp)\b", ln):
                out.append(BuildFailure(name=canonicalize_name(m.group("name")), version=None, line=ln.strip()[:200]))
                break
    # keep the most informative entry per name
    best: dict[str | None, BuildFailure] = {}
    for b in out:
        cur = best.get(b.name)
        if cur is None or (cur.version is None and b.version is not None):
            best[b.name] = b
    named = [b for k, b in best.items() if k is not None]
    return named or list(best.values())


# --- hints, errors, exceptions, symbols -------------------------------------------------------------------

_HINT_START = re.compile(r"^\s*(?:hint|help)\s*:\s*", re.IGNORECASE)


_MAX_HINTS = 200


def _hints(ix: LineIndex) -> list[str]:
    out: list[str] = []
    lines = ix.lines
    done = -1
    for i in ix.hits(("hint", "help")):
        m = _HINT_START.match(lines[i]) if i > done else None
        if not m:
            continue
        if len(out) >= _MAX_HINTS:
            break
        parts = [lines[i][m.end() :].strip()]
        j = i + 1
        # a hint runs on through indented continuation lines, TOML snippets and "or ..." lines
        while j < len(lines):
            nxt = lines[j]
            if _HINT_START.match(nxt) or _BLOCK_END.match(nxt):
                break
            if not nxt.strip():
                # uv puts a TOML snippet after a blank line inside the build-dependency hint
                if j + 1 < len(lines) and lines[j + 1].startswith(("[tool.", "or `", "or ")):
                    j += 1
                    continue
                if j + 1 < len(lines) and re.match(r"^[A-Za-z0-9_-]+ = ", lines[j + 1]):
                    j += 1
                    continue
                break
            parts.append(nxt.strip())
            j += 1
        out.append(" ".join(p for p in parts[:200] if p)[:20_000])
        done = j - 1
    return out


_ERROR_START = re.compile(r"^\s*(?:error|ERROR|fatal|FATAL|cause|Caused by|×)\s*:?")
_ERROR_LINE = re.compile(r"Error\b[^:\n]{0,300}:|Exception\b[^:\n]{0,300}:|\bfailed\b|\bKilled\b|undefined symbol")


@dataclass(frozen=True, kw_only=True)
class Symbol:
    library: str  # the .so path or file name as written
    symbol: str
    line: str


_UNDEF_RE = re.compile(r"(?P<lib>[^\s:'\"]{1,500}\.so(?:\.[0-9]+)*)\s*:\s*undefined symbol:\s*(?P<sym>[A-Za-z0-9_$.@]+)")
_UNDEF_BARE = re.compile(r"undefined symbol:\s*(?P<sym>[A-Za-z0-9_$.@]+)")


def _symbols(ix: LineIndex) -> list[Symbol]:
    out: list[Symbol] = []
    for n in bounded(ix.hits(("undefined symbol",))):
        ln = ix.lines[n]
        m = search(_UNDEF_RE, ln, ix.lower[n])
        if m:
            out.append(Symbol(library=m.group("lib"), symbol=m.group("sym"), line=ln.strip()))
            continue
        b = _UNDEF_BARE.search(ln)
        if b:
            out.append(Symbol(library="", symbol=b.group("sym"), line=ln.strip()))
    seen: set[tuple[str, str]] = set()
    uniq = []
    for s in out:
        if (s.library, s.symbol) not in seen:
            seen.add((s.library, s.symbol))
            uniq.append(s)
    return uniq


_HEAD_HITS, _TAIL_HITS = 500, 1500


def bounded(found: Sequence[int]) -> Sequence[int]:
    if len(found) <= _HEAD_HITS + _TAIL_HITS:
        return found
    return [*found[:_HEAD_HITS], *found[-_TAIL_HITS:]]


class LineIndex:
    """The log's lines, lower-cased once, with the line numbers where a literal occurs (found with ``str.find``
    over the whole text, which skips the lines of a build log that hold none of them)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = tuple(lines)
        self.lower = tuple(ln.lower() for ln in self.lines)
        self._text = self.joined = "\n".join(self.lower)
        starts = [0]
        for ln in self.lower[:-1]:
            starts.append(starts[-1] + len(ln) + 1)
        self._starts = starts
        self._cache: dict[tuple[str, ...], list[int]] = {}
        self._one: dict[str, list[int]] = {}

    def hits(self, keys: Sequence[str]) -> list[int]:
        """The numbers of the lines that contain one of ``keys`` (lower-case), in order."""
        key = tuple(keys)
        if key in self._cache:
            return self._cache[key]
        found: set[int] = set()
        for k in key:
            found.update(self._lines_with(k))
        out = sorted(found)
        self._cache[key] = out
        return out

    def _lines_with(self, k: str) -> list[int]:
        got = self._one.get(k)
        if got is None:
            got = []
            text, starts = self._text, self._starts
            i = text.find(k)
            while i >= 0:
                n = bisect_right(starts, i) - 1
                got.append(n)
                nxt = starts[n + 1] if n + 1 < len(starts) else len(text)
                i = text.find(k, max(nxt, i + 1))
            self._one[k] = got
        return got

    def candidates(self, rx: re.Pattern[str], keys: Sequence[str] | None = None) -> Sequence[int]:
        """The lines a pattern is tried on: those holding one of its literals; of a great many, the first and the
        last ones (a log that repeats one message fifty thousand times says it in those too)."""
        k = keys if keys is not None else needles(rx)
        found: Sequence[int] = self.hits(k) if k is not None else range(len(self.lines))
        return bounded(found)

    def search(self, rx: re.Pattern[str], keys: Sequence[str] | None = None) -> Iterator[tuple[int, re.Match[str]]]:
        """(line number, match) for each line where ``rx`` matches, in bounded time per line."""
        for n in self.candidates(rx, keys):
            m = search(rx, self.lines[n], self.lower[n])
            if m is not None:
                yield n, m


def _compiled(pattern: str | re.Pattern[str], flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags) if isinstance(pattern, str) else pattern


@dataclass(frozen=True, kw_only=True)
class Log:
    """Everything the rules may look at. ``text`` is the cleaned log; ``lines`` its lines."""

    text: str
    lines: tuple[str, ...]
    tool: str  # "uv", "pip", or "" when neither is recognizable
    derivations: tuple[Derivation, ...]
    hints: tuple[str, ...]
    builds: tuple[BuildFailure, ...]
    exceptions: tuple[tuple[str, str, str], ...]  # (exception type, message, line)
    symbols: tuple[Symbol, ...]
    missing: tuple[PipMissing, ...]
    interpreter: Interpreter | None = None
    url_conflicts: tuple[UrlConflict, ...] = ()
    project: ProjectFacts | None = None  # the project the log came from, when explain was given it
    index: LineIndex | None = field(default=None, compare=False, repr=False)

    def _index(self) -> LineIndex:
        return self.index if self.index is not None else LineIndex(self.lines)

    def find(self, pattern: str | re.Pattern[str], flags: int = 0) -> list[re.Match[str]]:
        """Every match of ``pattern`` in the cleaned lines (one search per line, only on lines holding one of
        its literals)."""
        return [m for _, m in self._index().search(_compiled(pattern, flags))]

    def first(self, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str] | None:
        return next((m for _, m in self._index().search(_compiled(pattern, flags))), None)

    def lines_matching(self, pattern: str | re.Pattern[str], flags: int = 0) -> list[str]:
        return [m.string.strip() for _, m in self._index().search(_compiled(pattern, flags))]

    def hint(self, pattern: str, flags: int = 0) -> re.Match[str] | None:
        rx = re.compile(pattern, flags)
        for h in self.hints:
            m = search(rx, h)
            if m:
                return m
        return None

    def flat(self, needle: str, pattern: str | re.Pattern[str], *, before: int = 300, after: int = 700
             ) -> re.Match[str] | None:
        """The first match of ``pattern`` in the log joined into one line (for messages a terminal wrapped), looked
        for only around the occurrences of ``needle``."""
        rx = _compiled(pattern)
        text = self.text
        low = self._index().joined if len(self._index().joined) == len(text) else text
        for i in occurrences(low, needle.lower() if low is not text else needle, limit=50):
            window = re.sub(r"\s+", " ", text[max(0, i - before) : i + after])
            m = search(rx, window)
            if m is not None:
                return m
        return None

    @property
    def error_lines(self) -> list[str]:
        """The lines that matter when nothing else is known: errors, causes, hints, the last exceptions."""
        out: list[str] = []
        ix = self._index()
        for n in bounded(ix.hits(_ERROR_KEYS)):
            s = ix.lines[n].strip()
            if not s or s.startswith(("File \"", "^", "~")):
                continue
            if _ERROR_START.match(s) or search(_ERROR_LINE, s) or _HINT_START.match(s):
                out.append(s)
        return list(dict.fromkeys(out))


_ERROR_KEYS = ("error", "fatal", "cause", "×", "exception", "failed", "killed", "undefined symbol", "hint", "help")


def _exceptions(ix: LineIndex) -> list[tuple[str, str, str]]:
    out = []
    for ln in (ix.lines[n] for n in bounded(ix.hits(("error", "exception", "exit", "interrupt")))):
        m = _EXC_RE.match(ln)
        if m and (m.group("msg") is not None or m.group("exc").endswith(("Error", "Exception"))):
            out.append((m.group("exc"), (m.group("msg") or "").strip(), ln.strip()))
    return out


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """The Python the log says it runs (``3.12``), the line that says so, and whether the line calls it
    end-of-life (pip's deprecation notice)."""

    version: str
    line: str
    end_of_life: bool


_INTERPRETER = (
    re.compile(r"DEPRECATION: Python (?P<v>\d+\.\d+) (?:reached|has reached|is reaching) the end of its life"),
    re.compile(r"^\s*Using (?:CPython|Python|PyPy) (?P<v>\d+\.\d+)(?:\.\d+)?\S* (?:interpreter|environment)\b"),
    re.compile(r"^\s*Using (?:CPython|Python|PyPy) (?P<v>\d+\.\d+)(?:\.\d+)?\s*$"),
)


def _interpreter(ix: LineIndex) -> Interpreter | None:
    for ln in (ix.lines[n] for n in ix.hits(("deprecation: python", "using cpython", "using python", "using pypy"))):
        for rx in _INTERPRETER:
            m = rx.search(ln)
            if m:
                return Interpreter(version=m.group("v"), line=ln.strip(), end_of_life="end of its life" in ln)
    return None


_UV_SIGNS = re.compile(r"No solution found when resolving|\buv (?:pip|sync|lock|add|run)\b|uv\.lock|tool\.uv|"
                       r"^\s*(?:×|cause:|hint:)|Failed to (?:download and )?build `")
_UV_KEYS = ("no solution found when resolving", "uv ", "uv.lock", "tool.uv", "×", "cause:", "hint:", "failed to ")
_PIP_SIGNS = re.compile(r"ResolutionImpossible|^\s*ERROR: |pip subprocess|Collecting \S+|\bpip install\b")
_PIP_KEYS = ("resolutionimpossible", "error: ", "pip subprocess", "collecting ", "pip install")


def _tool(ix: LineIndex) -> str:
    if any(True for _ in ix.search(_UV_SIGNS, _UV_KEYS)):
        return "uv"
    if any(True for _ in ix.search(_PIP_SIGNS, _PIP_KEYS)):
        return "pip"
    return ""


_FULL = 4_000_000  # a log up to this many characters is read whole
_HEAD = 250_000
_TAIL = 3_000_000
_MIDDLE = 750_000
_SIGNALS = ("because ", "error:", "hint:", "cause:", "caused by", "undefined symbol", "killed", "traceback",
            "failed to build", "failed building", "no module named", "cuda_home", "could not find a version",
            "no matching distribution", "conflict", "timed out", "out of memory", "requires-python")


def _line_span(text: str, i: int, before: int = 4, after: int = 40) -> tuple[int, int]:
    start = i
    for _ in range(before + 1):
        start = text.rfind("\n", 0, max(0, start - 1)) + 1 if start > 0 else 0
    end = i
    for _ in range(after + 1):
        nxt = text.find("\n", end + 1)
        end = len(text) if nxt < 0 else nxt
    return start, end


def select(text: str) -> str:
    """A log longer than ``_FULL`` characters, cut to what explain reads: its head, its tail (where uv and pip
    report the failure) and, from the middle, the lines around strong signals ("error:", "Because ", "Killed",
    a traceback), the latest first, within a budget. Time then stays linear in the log's size."""
    if len(text) <= _FULL:
        return text
    head_end = text.rfind("\n", 0, _HEAD) + 1 or _HEAD
    tail_start = text.find("\n", len(text) - _TAIL) + 1 or len(text) - _TAIL
    middle = text[head_end:tail_start].lower()
    spans: list[tuple[int, int]] = []
    for needle in _SIGNALS:
        spans += [_line_span(middle, i) for i in occurrences(middle, needle, limit=200)]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    kept: list[tuple[int, int]] = []
    budget = _MIDDLE
    for a, b in reversed(merged):
        if budget <= 0:
            break
        a = max(a, b - budget)
        kept.append((a, b))
        budget -= b - a
    chunks = [text[head_end + a : head_end + b] for a, b in reversed(kept)]
    return "\n".join([text[:head_end].rstrip("\n"), *chunks, text[tail_start:]])


def parse(text: str) -> Log:
    lines = clean_lines(select(text))
    ix = LineIndex(lines)
    return Log(
        text="\n".join(lines),
        lines=ix.lines,
        tool=_tool(ix),
        derivations=tuple(_uv_derivations(ix) + _pip_derivations(ix)),
        hints=tuple(_hints(ix)),
        builds=tuple(_builds(ix)),
        exceptions=tuple(_exceptions(ix)),
        symbols=tuple(_symbols(ix)),
        missing=tuple(_pip_missing(ix)),
        interpreter=_interpreter(ix),
        url_conflicts=tuple(_url_conflicts(ix)),
        index=ix,
    )


def uniq(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
