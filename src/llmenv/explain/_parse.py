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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.explain._project import ProjectFacts

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
_TREE = re.compile(r"^(\s*)(?:×|│|├─+▶|╰─+▶|├─+>|╰─+>|└─+>)\s?")
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


_ROOT_ALT = r"your project|your workspace|the requirements?|you"
_DEP_RE = re.compile(
    rf"(?:(?P<root>{_ROOT_ALT})|(?:all versions of |only )?(?P<src>{TERM}))\s+(?:depends|depend)\s+on\s+(?P<dst>{TERM})"
)
_REQ_RE = re.compile(
    rf"(?P<root>your project|your workspace|you)\s+(?:requires?|require)\s+(?P<terms>{TERM}(?:(?:,\s*|\s+and\s+)(?!we\b|and\b|because\b){TERM})*)"
)
_NOVER_RE = re.compile(rf"there (?:is|are) no versions? of (?P<t>{TERM})")
_NOTFOUND_RE = re.compile(
    rf"(?P<t>{TERM}) was not found in the (?P<where>package registry|provided package locations|cache)"
)
_NOWHEEL_RE = re.compile(
    rf"(?P<t>{TERM}) (?:has|have) no (?:wheels (?:are available )?with a matching (?P<what>Python ABI tag|Python implementation tag|Python version tag|platform tag|Python ABI)"
    rf"|wheels with a (?P<ft>free-threading) compatible ABI tag"
    rf"|(?P<env>`[^`]{{1,400}}`|Linux|macOS|Windows|Android|iOS|FreeBSD|[A-Z][A-Za-z]{{1,20}})-compatible wheels"
    rf"|compatible wheels|usable wheels|available distributions?|source distributions? or wheels?)"
)
# "Requirements contain conflicting URLs for package `flash-attn` in split `python_full_version == '3.11.*'`:"
_CONFLICTING_URLS = re.compile(
    r"Requirements contain conflicting (?P<what>URLs|indexes) for package `(?P<pkg>[^`]{1,200})`"
    r"(?: in (?:split `(?P<split>[^`]{1,2000})`|(?P<all>all marker environments)))?(?::\s*(?P<pair>`[^`]{1,2000}` vs\. `[^`]{1,2000}`))?"
)
_ONLY_AVAILABLE = re.compile(rf"only (?P<t>{TERM}) (?:is|are) available")
_PYVER_RE = re.compile(
    r"the (?P<which>current|requested|active) Python version \((?P<have>[^)]*)\) does not satisfy Python\s?(?P<need>[^\s,]+)"
)
_PYDEP_RE = re.compile(rf"(?P<t>{TERM}) (?:depends on|depend on|requires|require) Python\s?(?P<need>[^\s,]+(?:,\s?[<>=!~]+[^\s,]+)*)")
_INCOMPAT_RE = re.compile(
    rf"(?P<a>{_ROOT_ALT}|{TERM}) and (?P<b>{_ROOT_ALT}|{TERM}) are incompatible"
)
_UNUSABLE_RE = re.compile(rf"(?P<t>{TERM}) cannot be used")
_YANKED_RE = re.compile(rf"(?P<t>{TERM}) (?:was|were) yanked")
_TERM_LIST_SPLIT = re.compile(r",\s*|\s+and\s+")


def _terms(text: str) -> list[Term]:
    out = []
    for part in _TERM_LIST_SPLIT.split(text):
        t = parse_term(part)
        if t:
            out.append(t)
    return out


def _matches(rx: re.Pattern[str], text: str) -> list[tuple[Term, re.Match[str]]]:
    """Each match of ``rx`` whose group ``t`` parses as a term."""
    out = []
    for m in rx.finditer(text):
        t = parse_term(m.group("t"))
        if t is not None:
            out.append((t, m))
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


def _uv_derivation(text: str, split: str | None) -> Derivation:
    text = re.sub(r"\(\d+\)", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    statements = tuple(
        s.strip() for s in re.split(r"(?<=[.:])\s+(?=(?:And because|Because)\b)", text) if s.strip()
    )
    deps: list[Dep] = []
    requires: list[tuple[str, Term]] = []
    for st in statements:
        # facts come from the premises; a conclusion ("we can conclude that you require torch==2.6.0") only
        # restates them as derived
        premise = re.split(r",? we can conclude that", st)[0]
        for m in _DEP_RE.finditer(premise):
            dst = parse_term(m.group("dst"))
            if dst is None or dst.name == "python":
                continue
            if m.group("root"):
                deps.append(Dep(src=None, dst=dst, root=_norm_root(m.group("root")), text=m.group(0)))
            else:
                src = parse_term(m.group("src"))
                if src is not None and src.name not in ("version", "versions"):
                    deps.append(Dep(src=src, dst=dst, text=m.group(0)))
        for m in _REQ_RE.finditer(premise):
            for t in _terms(m.group("terms")):
                root = _norm_root(m.group("root"))
                requires.append((root, t))
                if t.spec:  # "you require torch==2.7.1" constrains torch like "your project depends on" does
                    deps.append(Dep(src=None, dst=t, root=root, text=m.group(0)))
    no_version = [t for t, _ in _matches(_NOVER_RE, text)]
    not_found = [(t, m.group("where")) for t, m in _matches(_NOTFOUND_RE, text)]
    no_wheels = [(t, _no_wheel_what(m)) for t, m in _matches(_NOWHEEL_RE, text)]
    python = [(m.group("which"), m.group("have"), m.group("need").rstrip(".")) for m in _PYVER_RE.finditer(text)]
    python_deps = [(t, m.group("need").rstrip(".")) for t, m in _matches(_PYDEP_RE, text)]
    incompatible = [(m.group("a"), m.group("b")) for m in _INCOMPAT_RE.finditer(text)]
    unusable = [t for t, _ in _matches(_UNUSABLE_RE, text)]
    yanked = [t for t, _ in _matches(_YANKED_RE, text)]
    available = [t for t, _ in _matches(_ONLY_AVAILABLE, text)]
    return Derivation(
        tool="uv",
        text=text,
        statements=statements,
        split=split,
        deps=tuple(deps),
        requires=tuple(requires),
        no_version=tuple(no_version),
        not_found=tuple(not_found),
        no_wheels=tuple(no_wheels),
        python=tuple(python),
        python_deps=tuple(python_deps),
        incompatible=tuple(incompatible),
        unusable=tuple(unusable),
        yanked=tuple(yanked),
        available=tuple(available),
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


def _uv_derivations(lines: Sequence[str]) -> list[Derivation]:
    out: list[Derivation] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        at = ln.find("Because ")
        if at < 0:
            i += 1
            continue
        block = [ln[at:]]
        j = i + 1
        while j < len(lines) and lines[j].strip() and not _BLOCK_END.match(lines[j]):
            block.append(lines[j].strip())
            j += 1
        text = " ".join(block)
        above = " ".join(lines[max(0, i - 4) : i + 1])
        if "we can conclude" in text or "unsatisfiable" in text or "No solution found" in above:
            # the header ("No solution found ... for split (markers: ...):") sits just above, maybe wrapped
            head = " ".join(s.strip() for s in [*lines[max(0, i - 4) : i], ln[:at]])
            out.append(_uv_derivation(text, split_marker(re.sub(r"\s+", " ", head))))
        i = j
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


def _pip_derivations(lines: Sequence[str]) -> list[Derivation]:
    out: list[Derivation] = []
    for i, ln in enumerate(lines):
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
    for ln in lines:
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


def _pip_missing(lines: Sequence[str]) -> list[PipMissing]:
    out: list[PipMissing] = []
    seen: set[str] = set()
    for ln in lines:
        m = _PIP_NOTFOUND_RE.search(ln)
        if m:
            t = _pip_term(m.group("req"))
            raw = m.group("versions").strip()
            avail = () if raw in ("", "none") else tuple(v.strip() for v in raw.split(",") if v.strip())
            if t and t.text not in seen:
                seen.add(t.text)
                out.append(PipMissing(term=t, available=avail, line=ln.strip()))
    for ln in lines:
        m = _PIP_NOMATCH_RE.search(ln)
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


def _url_conflicts(lines: Sequence[str]) -> list[UrlConflict]:
    out: list[UrlConflict] = []
    for i, ln in enumerate(lines):
        if "conflicting" not in ln:
            continue
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


def _builds(lines: Sequence[str]) -> list[BuildFailure]:
    out: list[BuildFailure] = []
    last_collected: tuple[str, str | None] | None = None
    for ln in lines:
        c = _CACHED_SDIST.search(ln)
        if c:
            last_collected = (canonicalize_name(c.group("name")), c.group("ver"))
        else:
            m = _COLLECTING.match(ln)
            if m:
                last_collected = (canonicalize_name(m.group("name")), None)
        u = _UV_BUILD_RE.search(ln)
        if u and "prepare distributions" not in u.group(0):
            name, ver = _split_dist(u.group("dist"))
            out.append(BuildFailure(name=name, version=ver, line=ln.strip()))
            continue
        for rx in _PIP_BUILD_RE:
            p = rx.search(ln)
            if p:
                for raw in p.group("name").split(","):
                    ver = (p.groupdict().get("ver") or "").rstrip(".") or None
                    out.append(BuildFailure(name=canonicalize_name(raw.strip()), version=ver, line=ln.strip()))
                break
        else:
            if _PIP_STEP_FAILED.search(ln):
                name, ver = last_collected if last_collected else (None, None)
                out.append(BuildFailure(name=name, version=ver, line=ln.strip()))
    if not out:
        # a compiler line inside pip's temporary build folder names the package: .../pip-install-xyz/flash-attn_<hash>/
        for ln in lines:
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


def _hints(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _HINT_START.match(lines[i])
        if not m:
            i += 1
            continue
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
        out.append(" ".join(p for p in parts if p))
        i = j
    return out


_ERROR_LINE = re.compile(
    r"^\s*(?:error|ERROR|fatal|FATAL|cause|Caused by|×)\s*:?|(?:Error|Exception)\b.*:|\bfailed\b|\bKilled\b|undefined symbol",
)


@dataclass(frozen=True, kw_only=True)
class Symbol:
    library: str  # the .so path or file name as written
    symbol: str
    line: str


_UNDEF_RE = re.compile(r"(?P<lib>[^\s:'\"]{1,500}\.so(?:\.[0-9]+)*)\s*:\s*undefined symbol:\s*(?P<sym>[A-Za-z0-9_$.@]+)")
_UNDEF_BARE = re.compile(r"undefined symbol:\s*(?P<sym>[A-Za-z0-9_$.@]+)")


def _symbols(lines: Sequence[str]) -> list[Symbol]:
    out: list[Symbol] = []
    for ln in lines:
        m = _UNDEF_RE.search(ln)
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

    def find(self, pattern: str | re.Pattern[str], flags: int = 0) -> list[re.Match[str]]:
        """Every match of ``pattern`` in the cleaned lines (one search per line)."""
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return [m for ln in self.lines if (m := rx.search(ln))]

    def first(self, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str] | None:
        found = self.find(pattern, flags)
        return found[0] if found else None

    def lines_matching(self, pattern: str | re.Pattern[str], flags: int = 0) -> list[str]:
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return [ln.strip() for ln in self.lines if rx.search(ln)]

    def hint(self, pattern: str, flags: int = 0) -> re.Match[str] | None:
        rx = re.compile(pattern, flags)
        for h in self.hints:
            m = rx.search(h)
            if m:
                return m
        return None

    @property
    def error_lines(self) -> list[str]:
        """The lines that matter when nothing else is known: errors, causes, hints, the last exceptions."""
        out: list[str] = []
        for ln in self.lines:
            s = ln.strip()
            if not s or s.startswith(("File \"", "^", "~")):
                continue
            if _ERROR_LINE.search(s) or _HINT_START.match(s):
                out.append(s)
        return list(dict.fromkeys(out))


def _exceptions(lines: Sequence[str]) -> list[tuple[str, str, str]]:
    out = []
    for ln in lines:
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


def _interpreter(lines: Sequence[str]) -> Interpreter | None:
    for ln in lines:
        for rx in _INTERPRETER:
            m = rx.search(ln)
            if m:
                return Interpreter(version=m.group("v"), line=ln.strip(), end_of_life="end of its life" in ln)
    return None


def _tool(text: str) -> str:
    if re.search(r"No solution found when resolving|\buv (?:pip|sync|lock|add|run)\b|uv\.lock|tool\.uv|"
                 r"^\s*(?:×|cause:|hint:)|Failed to (?:download and )?build `", text, re.MULTILINE):
        return "uv"
    if re.search(r"ResolutionImpossible|^\s*ERROR: |pip subprocess|Collecting \S+|\bpip install\b", text, re.MULTILINE):
        return "pip"
    return ""


def parse(text: str) -> Log:
    lines = clean_lines(text)
    cleaned = "\n".join(lines)
    return Log(
        text=cleaned,
        lines=tuple(lines),
        tool=_tool(cleaned),
        derivations=tuple(_uv_derivations(lines) + _pip_derivations(lines)),
        hints=tuple(_hints(lines)),
        builds=tuple(_builds(lines)),
        exceptions=tuple(_exceptions(lines)),
        symbols=tuple(_symbols(lines)),
        missing=tuple(_pip_missing(lines)),
        interpreter=_interpreter(lines),
        url_conflicts=tuple(_url_conflicts(lines)),
    )


def uniq(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
