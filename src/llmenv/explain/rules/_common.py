"""What every rule family uses: the Rule record, fix constructors, readings of terms and tags."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.explain import _toml as toml
from llmenv.explain._fork import python_bound
from llmenv.explain._model import Cause, Fix, Pin
from llmenv.explain._parse import Dep, Derivation, Log, Term


@dataclass(frozen=True)
class Rule:
    kind: str
    check: Callable[[Log], list[Cause]]
    doc: str


def fix_toml(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="pyproject")


def fix_cmd(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="command")


def uv_derivations(log: Log) -> list[Derivation]:
    return [d for d in log.derivations if d.tool == "uv"]


def requirer_text(dep: Dep) -> str:
    if dep.src is not None:
        return dep.src.text
    return {"installed": "the environment", "the user": "you"}.get(dep.root or "", dep.root or "your project")


def is_pre(t: Term) -> bool:
    """Does the requirement ask for a pre-release? An exclusive upper bound does not: uv writes ``==1.26.*`` as
    ``>=1.26, <1.27.dev0`` (below 1.27's first pre-release) and then calls that "a pre-release marker"."""
    try:
        clauses = list(SpecifierSet(t.spec))
    except InvalidSpecifier:
        return any(v.is_prerelease for v in t.versions)
    for c in clauses:
        if c.operator in ("<", "!="):
            continue
        try:
            if Version(c.version.rstrip(".*").rstrip(".")).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


def local_label(t: Term) -> str | None:
    for v in t.versions:
        if v.local:
            return v.local
    return None


def platform_marker(tag: str) -> str | None:
    """A wheel platform tag as a PEP 508 marker: ``manylinux_2_28_aarch64`` -> linux and aarch64."""
    t = tag.strip("`").lower()
    if t.startswith("win"):
        return "sys_platform == 'win32'" + (" and platform_machine == 'ARM64'" if t.endswith("arm64") else "")
    if t.startswith("macosx"):
        arch = "arm64" if t.endswith("arm64") else "x86_64"
        return f"sys_platform == 'darwin' and platform_machine == '{arch}'"
    if "linux" in t:
        for arch in ("x86_64", "aarch64", "ppc64le", "s390x", "armv7l"):
            if t.endswith(arch):
                return f"sys_platform == 'linux' and platform_machine == '{arch}'"
    return None


def is_version(v: str) -> bool:
    try:
        Version(v)
    except InvalidVersion:
        return False
    return True


def major_minor(v: str) -> str | None:
    m = re.search(r"(\d+)\.(\d+)", v)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def next_minor(v: str) -> str:
    major, minor = v.split(".")
    return f"{major}.{int(minor) + 1}"


def wheel_name(url: str) -> str | None:
    """The distribution a wheel file (or URL) is of: ``.../flash_attn-2.8.3%2Bcu12...whl`` -> ``flash-attn``."""
    from urllib.parse import unquote

    try:
        return str(parse_wheel_filename(unquote(url.rsplit("/", 1)[-1]))[0])
    except (InvalidWheelFilename, InvalidVersion):
        return None


def python_in(spec: str) -> str | None:
    """The newest of 3.9..3.14 inside a Requires-Python spec (e.g. ``>=3.9,<3.13`` -> 3.12)."""
    try:
        s = SpecifierSet(spec.replace(" ", "").rstrip("."))
    except Exception:
        return None
    for minor in range(14, 8, -1):
        if Version(f"3.{minor}.0") in s or Version(f"3.{minor}.99") in s:
            return f"3.{minor}"
    return None


def newest_version(versions: Sequence[str]) -> str:
    best: tuple[Version, str] | None = None
    for v in versions:
        try:
            pv = Version(v)
        except InvalidVersion:
            continue
        if best is None or pv > best[0]:
            best = (pv, v)
    return best[1] if best else versions[-1]


# --- what a resolution failure rests on: versions, pins, the fork ---------------------------------------------

_FLOOR = (
    re.compile(r"The `requires-python` value \((?P<rp>[^)]{1,100})\)"),
    re.compile(r"the requested Python version \((?P<rp>[^)]{1,100})\)"),
    re.compile(r"the project's Python requirement: `(?P<rp>[^`]{1,100})`"),
)
_ACTIVE = (
    re.compile(r"While the active Python version is (?P<v>\d+\.\d+)"),
    re.compile(r"^\s*Using (?:CPython|PyPy) (?P<v>\d+\.\d+)(?:\.\d+)?\S* interpreter at"),
)


def log_floor(log: Log) -> str | None:
    """The lowest Python the project allows (``3.10``), from the project or from what the log quotes of its
    ``requires-python``."""
    if log.project is not None and log.project.python_floor:
        return log.project.python_floor
    for rx in _FLOOR:
        for text in (*log.hints, *(d.text for d in log.derivations)):
            m = rx.search(text)
            if m:
                f = re.search(r">=?\s*(\d+\.\d+)", m.group("rp"))
                if f:
                    return f.group(1)
    return None


def active_python(log: Log) -> str | None:
    """The interpreter uv ran (``3.11``), which resolved when uv says the failure is in "other Python versions"."""
    for rx in _ACTIVE:
        for text in (*log.hints, *log.lines[:50]):
            m = rx.search(text)
            if m:
                return m.group("v")
    return None


def fork_fields(d: Derivation | None, log: Log) -> tuple[str | None, str | None]:
    """(split, python): the failing fork's marker as uv prints it, and the requires-python bound that leaves that
    fork out of the lock when the fork is a Python range."""
    if d is None or not d.split:
        return None, None
    return d.split, python_bound(d.split, floor=log_floor(log), active=active_python(log))


def version_of(t: Term, d: Derivation | None = None) -> str | None:
    """The one version a statement is about: an exact pin (``torch==2.5.1``), or the only version available."""
    if t.pinned is not None:
        return t.spec.lstrip("=")
    if d is not None:
        for a in d.available:
            if a.name == t.name and a.pinned is not None:
                return a.spec.lstrip("=")
    return None


def pin_of(dep: Dep, d: Derivation | None = None) -> Pin:
    """The requirement as data. A requirer named without a version ("all versions of vllm depend on ...") takes
    the version the derivation pins it to elsewhere ("your project depends on vllm==0.8.5")."""
    if dep.src is None:
        by = {"installed": "the environment", "the user": "you"}.get(dep.root or "", dep.root or "your project")
        return Pin(by=by, by_version=None, package=dep.dst.name, spec=dep.dst.spec)
    version = version_of(dep.src, d)
    if version is None and d is not None:
        version = next((version_of(x.dst) for x in d.deps if x.dst.name == dep.src.name and x.dst.pinned), None)
    return Pin(by=dep.src.name, by_version=version, package=dep.dst.name, spec=dep.dst.spec)


def pins_on(d: Derivation | None, names: Sequence[str]) -> tuple[Pin, ...]:
    """The requirements on ``names`` the derivation states (each once), requirers before roots."""
    if d is None:
        return ()
    out: dict[tuple[str, str, str], Pin] = {}
    for dep in sorted(d.deps, key=lambda x: x.src is None):
        if dep.dst.name in names and dep.dst.spec:
            p = pin_of(dep, d)
            out.setdefault((p.by, p.package, p.spec), p)
    return tuple(out.values())


def requires_python_with(log: Log, bound: str) -> str | None:
    """The project's requires-python with ``bound`` (``<3.13`` or ``>=3.11``) applied: the clauses it replaces
    dropped, the others kept as written. From the project when explain has it, else from the floor the log
    quotes; None when neither says what the project allows."""
    current = log.project.requires_python if log.project is not None else None
    if current is None:
        floor = log_floor(log)
        if floor is None:
            return None if bound.startswith("<") else bound
        current = f">={floor}"
    upper = bound.startswith("<")
    kept = []
    for clause in (c.strip() for c in current.split(",") if c.strip()):
        m = re.match(r"[<>=!~]+", clause)
        op = m.group(0) if m else ""
        is_upper = op in ("<", "<=")
        is_lower = op in (">=", ">", "~=", "==")
        if (upper and is_upper) or (not upper and is_lower):
            continue
        kept.append(clause)
    parts = [*kept, bound] if upper else [bound, *kept]
    if upper:
        cap = major_minor(bound)
        low = next((major_minor(c) for c in kept if re.match(r"(?:>=|~=|==)", c)), None)
        if cap and low and tuple(map(int, low.split("."))) >= tuple(map(int, cap.split("."))):
            # no Python is left below the cap: the floor comes down to the minor just below it
            major, minor = map(int, cap.split("."))
            parts = [f">={major}.{minor - 1}", *(c for c in kept if not re.match(r"(?:>=|>|~=|==)", c)), bound]
    return ",".join(parts)


def requires_python_fix(log: Log, bound: str, title: str) -> Fix:
    """The requires-python edit for ``bound``, on the project's own value when explain knows it."""
    new = requires_python_with(log, bound)
    if new is None:
        return fix_toml(title + " (keep your lower bound)", f"# in [project]: add \",{bound}\" to requires-python")
    where = log.project.path if log.project is not None else "pyproject.toml"
    current = log.project.requires_python if log.project is not None else None
    if current:
        title += f" ({where}: requires-python {current!r} -> {new!r})"
    return fix_toml(title, f"[project]\nrequires-python = {toml.q(new)}")


def _req_name(req: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(req).name)
    except InvalidRequirement:
        return None


def with_floor(req: str, floor: str) -> str:
    """``vllm`` -> ``vllm>=0.6.0``; ``vllm<1; sys_platform == 'linux'`` -> ``vllm<1,>=0.6.0; sys_platform == 'linux'``."""
    head, sep, marker = req.partition(";")
    head = head.rstrip()
    if " @ " in head:
        return req
    has_spec = bool(re.search(r"[<>=!~]", head))
    return f"{head}{',' if has_spec else ''}>={floor}" + (f"{sep}{marker}" if sep else "")


def with_spec(req: str, spec: str) -> str:
    """The requirement with ``spec`` (``==2.6.0``) in place of a version range that excludes it; extras, a URL and
    the marker kept. A requirement that already allows it is returned as is."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier

    try:
        r, want = Requirement(req), SpecifierSet(spec)
    except (InvalidRequirement, InvalidSpecifier):
        return req
    if r.url:
        return req
    pinned = next((Version(c.version) for c in want if c.operator in ("==", "===") and "*" not in c.version), None)
    if pinned is not None and (not r.specifier or r.specifier.contains(pinned, prereleases=True)):
        return req
    extras = f"[{','.join(sorted(r.extras))}]" if r.extras else ""
    marker = f"; {r.marker}" if r.marker else ""
    return f"{r.name}{extras}{spec}{marker}"


def with_marker(req: str, marker: str) -> str:
    """The requirement limited to ``marker`` (and-ed with a marker it already has)."""
    head, sep, old = req.partition(";")
    return f"{head.rstrip()}; ({old.strip()}) and ({marker})" if sep else f"{req}; {marker}"


def requirement_fix(log: Log, name: str, change: Callable[[str], str], title: str) -> Fix | None:
    """The edit of every list of the project that requires ``name``, each requirement on it changed by ``change``,
    written with the file's own table, key and other entries. None without a project or such a requirement."""
    p = log.project
    if p is None:
        return None
    tables: dict[str, list[str]] = {}
    for table, key, reqs in p.requirement_lists():
        if not any(_req_name(r) == name for r in reqs):
            continue
        new = [change(r) if _req_name(r) == name else r for r in reqs]
        if new == list(reqs):
            continue
        keytext = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml.q(key)
        tables.setdefault(table, []).append(f"{keytext} = [" + ", ".join(toml.q(r) for r in new) + "]")
    if not tables:
        return None
    return fix_toml(f"{title} (in {p.path})", "\n\n".join(f"[{t}]\n" + "\n".join(rows) for t, rows in tables.items()))
