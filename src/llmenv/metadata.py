"""A package's requirements read statically, for ``llmenv override`` — no code from the internet ever runs.

Sources, each returning a :class:`StaticMetadata` (Requires-Dist form; extras as ``extra == "x"`` markers):

* :func:`from_pyproject` — PEP 621 ``[project]`` (dynamic fields reported; setuptools' ``dynamic`` files read);
* :func:`from_setup_py` — ``setup.py`` read with :mod:`ast`, never executed: literals, simple assignments, list
  concatenation, comprehensions, the requirements files it reads (``open(...).read().splitlines()``,
  ``parse_requirements("...")`` helpers, small functions defined in the file). What it cannot follow — a call
  into another module, an environment variable, a condition on the running machine — is an error naming the
  line, and what to do instead;
* :func:`from_tree` — a source tree: ``pyproject.toml``, then ``setup.py`` / ``setup.cfg`` for what is dynamic;
* :func:`from_wheel` — a wheel's METADATA (a local file, or a URL read with HTTP range requests);
* :func:`from_pypi` — the metadata of a release on the index.
"""

from __future__ import annotations

import ast
import configparser
import os
import posixpath
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.errors import NoAnswer, UsageError
from llmenv.pypi import (
    BadDistribution,
    CoreMetadata,
    DistFile,
    PyPIClient,
    PyPIError,
    candidates,
    read_wheel_metadata,
    with_markers,
)

__all__ = [
    "StaticMetadata",
    "from_pypi",
    "from_pyproject",
    "from_setup_py",
    "from_tree",
    "from_wheel",
    "read_requirements_file",
]

_FIX = "pass --from a built wheel, or --set REQ for each requirement"


@dataclass(frozen=True, kw_only=True)
class StaticMetadata:
    """What ``[[tool.uv.dependency-metadata]]`` needs of a package."""

    name: str | None
    version: str | None
    requires_dist: tuple[str, ...]  # Requires-Dist form; an extra's lines carry `extra == "x"`
    provides_extras: tuple[str, ...]
    requires_python: str | None = None
    dynamic: tuple[str, ...] = ()  # PEP 621 fields still dynamic after reading what could be read
    source: str = ""  # "pyproject.toml" | "setup.py" | "setup.cfg" | "wheel" | "pypi"
    notes: tuple[str, ...] = ()  # what was left out and why (e.g. a version computed at build time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires_dist": list(self.requires_dist),
            "provides_extras": list(self.provides_extras),
            "requires_python": self.requires_python,
            "dynamic": list(self.dynamic),
            "source": self.source,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StaticMetadata:
        return cls(
            name=d.get("name"),
            version=d.get("version"),
            requires_dist=tuple(d.get("requires_dist", ())),
            provides_extras=tuple(d.get("provides_extras", ())),
            requires_python=d.get("requires_python"),
            dynamic=tuple(d.get("dynamic", ())),
            source=str(d.get("source", "")),
            notes=tuple(d.get("notes", ())),
        )

    @classmethod
    def from_core(cls, meta: CoreMetadata, *, source: str) -> StaticMetadata:
        return cls(
            name=meta.name,
            version=meta.version,
            requires_dist=tuple(str(Requirement(line)) for line in meta.requires_dist),  # one spelling
            provides_extras=tuple(dict.fromkeys(_extra_name(e) for e in meta.provides_extras)),
            requires_python=meta.requires_python,
            source=source,
        )


def _extra_name(extra: str) -> str:
    """PEP 685: extras compare normalized; written normalized."""
    return canonicalize_name(extra)


def _requires_dist(
    install: Iterable[str], extras: Mapping[str, Iterable[str]], where: Callable[[str], str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Plain requirement strings (+ setuptools' ``"extra:marker"`` keys) -> Requires-Dist lines and extras."""
    out: list[str] = []
    names: list[str] = []
    for line in install:
        out.append(with_markers(_requirement(line, where("install_requires")), None, None))
    for key, lines in extras.items():
        extra, _, marker = str(key).partition(":")
        extra = _extra_name(extra.strip()) if extra.strip() else ""
        if extra and extra not in names:
            names.append(extra)
        for line in lines:
            req = _requirement(line, where(f"extras_require[{key!r}]"))
            out.append(with_markers(req, marker.strip() or None, extra or None))
    return tuple(out), tuple(names)


def _requirement(line: str, where: str) -> Requirement:
    try:
        return Requirement(line)
    except InvalidRequirement as e:
        reason = str(e).splitlines()[0] if str(e) else "invalid"
        raise UsageError(f"{where}: {line!r} is not a requirement ({reason})") from e


# ------------------------------------------------------------------------------- requirements files


def read_requirements_file(path: Path, *, root: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """A pip requirements file as requirement strings: comments, blank lines and options skipped,
    ``-r other.txt`` followed, line continuations joined. Editable / URL-only lines cannot be Requires-Dist.
    ``path`` is relative to ``root`` unless absolute; files outside ``root`` are refused."""
    root = root.resolve()
    path = _inside(path, root)
    if path in _seen:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {_rel(path, root)} ({e.strerror or e})") from e
    out: list[str] = []
    for lineno, line in _logical_lines(text):
        where = f"{_rel(path, root)} line {lineno}"
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            target = line.split("=", 1)[1] if line.startswith("--requirement=") else line.split(None, 1)[-1]
            if line.startswith("-r") and not line.startswith("-r "):
                target = line[2:]
            out += read_requirements_file(path.parent / target.strip(), root=root, _seen=_seen | {path})
        elif line.startswith(("-e", "--editable")):
            raise UsageError(
                f"{where}: an editable requirement ({line}) cannot be a Requires-Dist line; {_FIX}"
            )
        elif line.startswith("-"):
            continue  # options: --index-url, -c constraints, --hash, --pre ...
        else:
            _requirement(line, where)
            out.append(line)
    return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with comments stripped and backslash continuations joined."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0]
        if line.lstrip().startswith("#"):
            line = ""
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1]
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def _clean_lines(lines: Iterable[Any], root: Path, where: str) -> list[str]:
    """install_requires as setuptools sees it: strings (or one string of lines), blank and # lines dropped.
    Lines read raw from a requirements file get the pip reading: ``-r`` followed, other options skipped."""
    out: list[str] = []
    # setuptools joins the items' lines, drops comments and joins backslash continuations across items
    for _, line in _logical_lines("\n".join(str(item) for item in lines)):
        if line.startswith(("-r ", "--requirement ")):
            out += read_requirements_file(root / line.split(None, 1)[1].strip(), root=root)
        elif line.startswith(("-e", "--editable")):
            raise UsageError(
                f"{where}: an editable requirement ({line}) cannot be a Requires-Dist line; {_FIX}"
            )
        elif not line.startswith("-"):
            out.append(line)
    return out


def _inside(path: Path, root: Path) -> Path:
    p = (root / path).resolve()  # an absolute path stays itself
    if not p.is_relative_to(root.resolve()):
        raise UsageError(f"{path} is outside {root}; llmenv only reads files of the project")
    return p


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------ pyproject


def _toml(path: Path) -> dict[str, Any]:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror or e})") from e
    except TOMLKitError as e:
        raise UsageError(f"{path}: not valid TOML ({e})") from e


def from_pyproject(path: Path) -> StaticMetadata:
    """PEP 621 ``[project]``: name, version, dependencies, optional-dependencies, requires-python.

    Fields listed in ``dynamic`` are reported there, except those setuptools reads from files
    (``[tool.setuptools.dynamic] dependencies = {file = [...]}``, ``version = {file | attr}``), which are read.
    """
    path = Path(path).resolve()
    doc = _toml(path)
    project = doc.get("project")
    if not isinstance(project, dict):
        raise UsageError(f"{path}: no [project] table")
    root = path.parent
    dynamic = [str(x) for x in project.get("dynamic", [])]
    st_dynamic = doc.get("tool", {}).get("setuptools", {}).get("dynamic", {})
    notes: list[str] = []

    def where(field_: str) -> str:
        return f"{path.name} project.{field_}"

    version = project.get("version")
    if "version" in dynamic and isinstance(st_dynamic.get("version"), dict):
        version = _setuptools_version(st_dynamic["version"], root)
        if version is not None:
            dynamic.remove("version")
    deps = project.get("dependencies", [])
    if "dependencies" in dynamic and isinstance(st_dynamic.get("dependencies"), dict):
        deps = _files_requirements(st_dynamic["dependencies"], root)
        dynamic.remove("dependencies")
    optional = project.get("optional-dependencies", {})
    if "optional-dependencies" in dynamic and isinstance(st_dynamic.get("optional-dependencies"), dict):
        optional = {k: _files_requirements(v, root) for k, v in st_dynamic["optional-dependencies"].items()}
        dynamic.remove("optional-dependencies")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise UsageError(f"{where('dependencies')}: not a list of strings")
    if not isinstance(optional, dict):
        raise UsageError(f"{where('optional-dependencies')}: not a table")
    for i, line in enumerate(deps):
        _requirement(line, f"{where('dependencies')}[{i}]")
    requires, extras = _requires_dist(deps, optional, where)
    for f in ("version", "dependencies", "optional-dependencies"):
        if f in dynamic:
            notes.append(f"{f} is dynamic in {path.name} (computed by the build backend)")
    name = project.get("name")
    return StaticMetadata(
        name=str(name) if name else None,
        version=str(version) if version else None,
        requires_dist=requires,
        provides_extras=extras,
        requires_python=project.get("requires-python"),
        dynamic=tuple(dynamic),
        source="pyproject.toml",
        notes=tuple(notes),
    )


def _files_requirements(spec: Mapping[str, Any], root: Path) -> list[str]:
    files = spec.get("file", [])
    files = [files] if isinstance(files, str) else list(files)
    out: list[str] = []
    for f in files:
        out += read_requirements_file(root / f, root=root)
    return out


def _setuptools_version(spec: Mapping[str, Any], root: Path) -> str | None:
    if "file" in spec:
        files = spec["file"] if isinstance(spec["file"], list) else [spec["file"]]
        try:
            return _inside(root / files[0], root).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    attr = spec.get("attr")
    if isinstance(attr, str) and "." in attr:
        module, _, name = attr.rpartition(".")
        rel = Path(*module.split("."))
        for base in (root, root / "src"):
            for candidate in (base / rel / "__init__.py", base / rel.with_suffix(".py")):
                if candidate.is_file():
                    return _module_constant(candidate, name)
    return None


def _module_constant(path: Path, name: str) -> str | None:
    """A top-level ``name = "literal"`` in a module, read without importing it (what setuptools tries first)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        )
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        for t in targets:
            if isinstance(t, ast.Name) and t.id == name and isinstance(value, ast.Constant):
                return str(value.value)
    return None


# --------------------------------------------------------------------------------------------- setup.py


class _Unfollowable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class _Unknown:
    """A value static reading could not compute; using it is an error at the line that made it."""

    line: int
    reason: str


@dataclass(frozen=True)
class _Ref:
    """A name from an import (a module or something in it), e.g. ``os.path.join``, ``setuptools.setup``."""

    qualname: str


@dataclass
class _File:
    """An opened text file (for ``read``, ``readlines``, iteration)."""

    text: str


@dataclass(frozen=True)
class _Req:
    """What pip's / pkg_resources' ``parse_requirements`` yields: ``.req`` / ``.requirement`` / ``str()``."""

    line: str

    def __str__(self) -> str:
        return self.line


@dataclass
class _Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class _Bound:
    """A method of a value (``"x".strip``, ``lst.append``), called later."""

    obj: Any
    name: str
    line: int


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_SETUP = {"setuptools.setup", "distutils.core.setup", "setuptools._distutils.core.setup", "skbuild.setup"}
_REQUIREMENTS_HELPERS = ("requirement", "reqs", "deps", "dependencies")
_MAX_STEPS = 200_000
_MAX_DEPTH = 30
# Work is what a step costs beyond itself: the characters and items it copies, scans or builds. Charged
# *before* the operation, from its predicted size, so `'x' * 10**10` or 60 doublings fail without allocating.
_MAX_WORK = 10_000_000
_MAX_NESTING = 100  # expressions inside expressions (Python's own stack must never be the limit)
_MAX_FILE = 8 << 20  # setup.py and the files it reads


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 1


def _weight(value: Any, cap: int) -> int:
    """How many characters ``str(value)`` writes, roughly (containers: their items' weights); stops past ``cap``."""
    total, stack = 0, [value]
    while stack and total <= cap:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 24
    return total


def _describe(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class _SetupReader:
    """Interprets the small, pure part of Python that setup.py files use to list requirements."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.parent.resolve()
        self.globals: dict[str, Any] = {"__file__": str(path.resolve()), "__name__": "__main__"}
        self.setup_kwargs: dict[str, Any] | None = None
        self.setup_line = 0
        self.hidden_setup: tuple[int, str] | None = None
        self.notes: list[str] = []
        self.steps = 0
        self.work = 0
        self.depth = 0
        self.nesting = 0

    # -- errors -----------------------------------------------------------------------------------------

    def fail(self, node: ast.AST, reason: str) -> NoReturn:
        raise _Unfollowable(getattr(node, "lineno", 0), reason)

    def tick(self, node: ast.AST) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            self.fail(node, "more computation than static reading follows")

    def charge(self, node: ast.AST, units: int) -> None:
        """Pay for copying, scanning or building ``units`` characters or items, before doing it."""
        self.work += max(0, units)
        if self.work > _MAX_WORK:
            self.fail(node, f"more computation than static reading follows (`{_describe(node)}`)")

    # -- statements -------------------------------------------------------------------------------------

    def run(self, tree: ast.Module) -> None:
        self.block(tree.body, self.globals)

    def block(self, body: Sequence[ast.stmt], env: dict[str, Any]) -> None:
        for stmt in body:
            self.stmt(stmt, env)

    def stmt(self, node: ast.stmt, env: dict[str, Any]) -> None:
        self.tick(node)
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    env[a.asname] = _Ref(a.name)
                else:
                    top = a.name.split(".")[0]
                    env[top] = _Ref(top)
        elif isinstance(node, ast.ImportFrom):
            mod = "." * node.level + (node.module or "")
            for a in node.names:
                if a.name == "*":
                    continue
                env[a.asname or a.name] = _Ref(f"{mod}.{a.name}")
        elif isinstance(node, ast.Assign):
            value = self.lazy(node.value, env)
            for target in node.targets:
                self.assign(target, value, env, node)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.assign(node.target, self.lazy(node.value, env), env, node)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                cur: Any = None
                try:
                    cur = self.name(node.target, env)
                    new = self.binop(node.op, cur, self.expr(node.value, env), node)
                except _Unfollowable as e:
                    new = _Unknown(e.line, e.reason)
                if isinstance(cur, list) and isinstance(new, list):
                    cur[:] = new  # += mutates a list in place
                    new = cur
                env[node.target.id] = new
            else:
                self.taint(node, env, [node.target], f"an augmented assignment ({_describe(node)})")
        elif isinstance(node, ast.Expr):
            try:
                self.expr(node.value, env)
            except _Unfollowable as e:
                # a call we cannot follow may change the lists it is given: they become unknown
                if isinstance(node.value, ast.Call):
                    touched = list(node.value.args) + [k.value for k in node.value.keywords]
                    if isinstance(node.value.func, ast.Attribute):
                        touched.append(node.value.func.value)
                    for t in touched:
                        if isinstance(t, ast.Name) and isinstance(
                            env.get(t.id, self.globals.get(t.id)), (list, dict)
                        ):
                            env[t.id] = _Unknown(e.line, e.reason)
        elif isinstance(node, ast.If):
            try:
                test = self.truth(node.test, env)
            except _Unfollowable as e:
                reason = f"a condition (`if {_describe(node.test)}`)"
                if e.line != node.lineno:
                    reason += f", which depends on line {e.line}"
                self.taint(node, env, [*node.body, *node.orelse], reason)
                return
            self.block(node.body if test else node.orelse, env)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.lazy(item.context_expr, env)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, value, env, node)
            self.block(node.body, env)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            try:
                items = self.iterate(self.expr(node.iter, env), node.iter)
            except _Unfollowable as e:
                self.taint(node, env, node.body, e.reason, line=e.line)
                return
            for item in items:
                self.assign(node.target, item, env, node)
                try:
                    self.block(node.body, env)
                except _Break:
                    break
                except _Continue:
                    continue
            else:
                self.block(node.orelse, env)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            env[node.name] = _Func(node)
        elif isinstance(node, ast.ClassDef):
            env[node.name] = _Unknown(node.lineno, f"the class {node.name}")
        elif isinstance(node, ast.Return):
            raise _Return(self.lazy(node.value, env) if node.value is not None else None)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        elif isinstance(node, ast.Try):
            self.block(node.body, env)
            self.block(node.orelse, env)
            self.block(node.finalbody, env)
        elif isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal, ast.Assert, ast.Delete, ast.Raise)):
            pass
        else:  # while, match, ...: what they assign is unknown
            self.taint(node, env, [node], f"a `{type(node).__name__.lower()}` statement")

    def lazy(self, node: ast.expr, env: dict[str, Any]) -> Any:
        """Evaluate, or remember why not (the error surfaces only if the value is used)."""
        try:
            return self.expr(node, env)
        except _Unfollowable as e:
            return _Unknown(e.line, e.reason)

    def assign(self, target: ast.expr, value: Any, env: dict[str, Any], node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (list, tuple)) and len(value) == len(target.elts):
                for t, v in zip(target.elts, value, strict=True):
                    self.assign(t, v, env, node)
            else:
                unknown = (
                    value
                    if isinstance(value, _Unknown)
                    else _Unknown(
                        node.lineno if hasattr(node, "lineno") else 0, f"an unpacking ({_describe(target)})"
                    )
                )
                for t in target.elts:
                    self.assign(t, unknown, env, node)
        elif isinstance(target, ast.Subscript):
            try:
                obj = self.expr(target.value, env)
                key = self.expr(target.slice, env)
                if isinstance(obj, dict) or (isinstance(obj, list) and isinstance(key, int)):
                    obj[key] = value
            except _Unfollowable as e:
                if isinstance(target.value, ast.Name):
                    env[target.value.id] = _Unknown(e.line, e.reason)
        # attributes: nothing we read

    def taint(
        self,
        node: ast.AST,
        env: dict[str, Any],
        body: Sequence[ast.AST],
        reason: str,
        line: int | None = None,
    ) -> None:
        """Everything ``body`` may assign or change becomes unknown, because of ``node`` (at ``line``)."""
        at = line if line is not None else getattr(node, "lineno", 0)
        for sub in body:
            for n in ast.walk(sub):
                names: list[ast.expr] = []
                if isinstance(n, ast.Assign):
                    names = list(n.targets)
                elif isinstance(n, (ast.AugAssign, ast.AnnAssign, ast.For)):
                    names = [n.target]
                elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                    names = [n.func.value]
                    if self.is_setup_call(n, env) and self.setup_kwargs is None:
                        self.hidden_setup = (at, reason)
                elif isinstance(n, ast.Call) and self.is_setup_call(n, env) and self.setup_kwargs is None:
                    self.hidden_setup = (at, reason)
                for t in names:
                    for leaf in ast.walk(t):
                        if isinstance(leaf, ast.Name):
                            env[leaf.id] = _Unknown(at, reason)

    def is_setup_call(self, node: ast.Call, env: dict[str, Any]) -> bool:
        try:
            func = self.expr(node.func, env)
        except _Unfollowable:
            return False
        return isinstance(func, _Ref) and self.is_setup(func)

    @staticmethod
    def is_setup(ref: _Ref) -> bool:
        parts = ref.qualname.split(".")
        return ref.qualname in _SETUP or (parts[-1] == "setup" and parts[0] in ("setuptools", "distutils"))

    # -- expressions ------------------------------------------------------------------------------------

    def name(self, node: ast.Name, env: dict[str, Any]) -> Any:
        if node.id in env:
            value = env[node.id]
        elif node.id in self.globals:
            value = self.globals[node.id]
        elif node.id in _BUILTIN_NAMES:
            return _Ref(node.id)
        else:
            self.fail(node, f"`{node.id}`, which is not defined in the file")
        if isinstance(value, _Unknown):
            raise _Unfollowable(value.line, value.reason)
        return value

    def truth(self, node: ast.expr, env: dict[str, Any]) -> bool:
        value = self.expr(node, env)
        if isinstance(value, (_Ref, _Func, _Bound, _File)):
            self.fail(node, f"`{_describe(node)}`")
        return bool(value)

    def expr(self, node: ast.expr, env: dict[str, Any]) -> Any:
        self.nesting += 1
        try:
            if self.nesting > _MAX_NESTING:
                self.fail(node, "an expression nested too deeply")
            return self._expr(node, env)
        finally:
            self.nesting -= 1

    def _expr(self, node: ast.expr, env: dict[str, Any]) -> Any:
        self.tick(node)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node, env)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            out: list[Any] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    out += self.iterate(self.expr(elt.value, env), elt)
                else:
                    out.append(self.expr(elt, env))
            if isinstance(node, ast.Tuple):
                return tuple(out)
            return list(dict.fromkeys(out)) if isinstance(node, ast.Set) else out
        if isinstance(node, ast.Dict):
            d: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    inner = self.expr(v, env)
                    if not isinstance(inner, dict):
                        self.fail(v, f"`**{_describe(v)}`")
                    self.charge(v, len(inner))
                    d.update(inner)
                else:
                    d[self.expr(k, env)] = self.lazy(v, env)
            return d
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue) and v.format_spec is None:
                    x = self.expr(v.value, env)
                    if not isinstance(x, (str, int, float)):
                        self.fail(v, f"an f-string (`{_describe(node)}`)")
                    self.charge(v, _size(x) if isinstance(x, str) else 24)
                    parts.append(str(x))
                else:
                    self.fail(node, f"an f-string (`{_describe(node)}`)")
            return "".join(parts)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left, env), self.expr(node.right, env), node)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for v in node.values:
                    result = self.expr(v, env)
                    if not self.plain_truth(result, v):
                        return result
                return result
            result = False
            for v in node.values:
                result = self.expr(v, env)
                if self.plain_truth(result, v):
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand, env)
            if isinstance(node.op, ast.Not):
                return not self.plain_truth(operand, node.operand)
            if isinstance(node.op, ast.USub) and isinstance(operand, (int, float)):
                return -operand
            self.fail(node, f"`{_describe(node)}`")
        if isinstance(node, ast.Compare):
            return self.compare(node, env)
        if isinstance(node, ast.IfExp):
            return self.expr(node.body if self.truth(node.test, env) else node.orelse, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value, env), node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self.comprehension(node, env)
        self.fail(node, f"an expression static reading does not follow (`{_describe(node)}`)")

    def plain_truth(self, value: Any, node: ast.AST) -> bool:
        if isinstance(value, (_Ref, _Func, _Bound, _File, _Unknown)):
            self.fail(node, f"`{_describe(node)}`")
        return bool(value)

    def binop(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any:
        if (
            isinstance(op, ast.Add)
            and type(left) is type(right)
            and isinstance(left, (str, int, float, list, tuple))
        ):
            if isinstance(left, (str, list, tuple)):
                self.charge(node, len(left) + len(right))
            return _add(left, right)
        if isinstance(op, ast.Div) and isinstance(left, Path) and isinstance(right, (str, Path)):
            return left / right
        if isinstance(op, ast.Mult) and isinstance(left, (list, str)) and isinstance(right, int):
            self.charge(node, len(left) * max(0, right))
            return left * right
        if isinstance(op, ast.BitOr) and isinstance(left, dict) and isinstance(right, dict):
            self.charge(node, len(left) + len(right))
            return {**left, **right}
        self.fail(node, f"an operation static reading does not follow (`{_describe(node)}`)")

    def compare(self, node: ast.Compare, env: dict[str, Any]) -> bool:
        left = self.expr(node.left, env)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.expr(comp, env)
            for v in (left, right):
                if not isinstance(v, (str, int, float, bool, tuple, list, dict, type(None))):
                    self.fail(node, f"a comparison (`{_describe(node)}`)")
            self.charge(node, _size(left) + _size(right))
            try:
                ok = _COMPARE[type(op)](left, right)
            except (KeyError, TypeError):
                self.fail(node, f"a comparison (`{_describe(node)}`)")
            if not ok:
                return False
            left = right
        return True

    def subscript(self, node: ast.Subscript, env: dict[str, Any]) -> Any:
        obj = self.expr(node.value, env)
        if isinstance(node.slice, ast.Slice):
            bounds = [
                self.expr(b, env) if b is not None else None
                for b in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            if isinstance(obj, (str, list, tuple)) and all(b is None or isinstance(b, int) for b in bounds):
                self.charge(node, len(obj))
                return obj[slice(*bounds)]
            self.fail(node, f"`{_describe(node)}`")
        key = self.expr(node.slice, env)
        try:
            if isinstance(obj, dict) or (isinstance(obj, (str, list, tuple)) and isinstance(key, int)):
                value = obj[key]
            else:
                self.fail(node, f"`{_describe(node)}`")
        except (KeyError, IndexError):
            self.fail(node, f"`{_describe(node)}`, which has no such item")
        if isinstance(value, _Unknown):
            raise _Unfollowable(value.line, value.reason)
        return value

    def attribute(self, obj: Any, node: ast.Attribute) -> Any:
        attr = node.attr
        if isinstance(obj, _Ref):
            return _Ref(f"{obj.qualname}.{attr}")
        if isinstance(obj, Path) and attr in ("parent", "name", "stem", "suffix"):
            return getattr(obj, attr)
        if isinstance(obj, _Req) and attr in ("req", "requirement"):
            return obj.line
        if isinstance(obj, _Req) and attr == "name":
            return Requirement(obj.line).name
        if isinstance(obj, (str, list, dict, Path, _File)):
            return _Bound(obj, attr, node.lineno)
        self.fail(node, f"`{_describe(node)}`")

    def iterate(self, value: Any, node: ast.AST) -> list[Any]:
        if isinstance(value, (list, tuple, str, dict, _File)):
            self.charge(node, len(value.text) if isinstance(value, _File) else len(value))
        if isinstance(value, (list, tuple, str, dict)):
            items = list(value)
            for item in items:
                known(item)
            return items
        if isinstance(value, _File):
            return value.text.splitlines(keepends=True)
        self.fail(node, f"a loop over `{_describe(node)}`")

    def comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, env: dict[str, Any]
    ) -> Any:
        results: list[Any] = []
        local = dict(env) if env is not self.globals else {}

        def loop(i: int, scope: dict[str, Any]) -> None:
            if i == len(node.generators):
                if isinstance(node, ast.DictComp):
                    results.append((self.expr(node.key, scope), self.expr(node.value, scope)))
                else:
                    results.append(self.expr(node.elt, scope))
                return
            gen = node.generators[i]
            for item in self.iterate(self.expr(gen.iter, scope), gen.iter):
                inner = dict(scope)
                self.assign(gen.target, item, inner, gen.iter)
                if all(self.plain_truth(self.expr(cond, inner), cond) for cond in gen.ifs):
                    loop(i + 1, inner)

        loop(0, local)
        if isinstance(node, ast.DictComp):
            return dict(results)
        return list(dict.fromkeys(results)) if isinstance(node, ast.SetComp) else results

    # -- calls ------------------------------------------------------------------------------------------

    def call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        func = self.expr(node.func, env)
        if isinstance(func, _Ref) and self.is_setup(func):
            self.record_setup(node, env)
            return None
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args += self.iterate(self.expr(a.value, env), a)
            else:
                args.append(self.expr(a, env))
        kwargs: dict[str, Any] = {}
        for k in node.keywords:
            if k.arg is None:
                extra = self.expr(k.value, env)
                if not isinstance(extra, dict):
                    self.fail(k.value, f"`**{_describe(k.value)}`")
                kwargs.update(extra)
            else:
                kwargs[k.arg] = self.expr(k.value, env)
        if isinstance(func, _Func):
            return self.call_function(func, args, kwargs, node)
        if isinstance(func, _Bound):
            return self.method(func, args, kwargs, node)
        if isinstance(func, _Ref):
            return self.builtin(func.qualname, args, kwargs, node)
        self.fail(node, f"a function call (`{_describe(node)}`)")

    def record_setup(self, node: ast.Call, env: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {}
        for k in node.keywords:
            if k.arg is None:
                try:
                    extra = self.expr(k.value, env)
                except _Unfollowable as e:
                    kwargs["**"] = _Unknown(e.line, e.reason)
                    continue
                if isinstance(extra, dict):
                    kwargs.update(extra)
            else:
                kwargs[k.arg] = self.lazy(k.value, env)
        self.setup_kwargs = kwargs
        self.setup_line = node.lineno

    def call_function(self, func: _Func, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        fn = func.node
        if self.depth >= _MAX_DEPTH:
            self.fail(node, "deep recursion")
        params = fn.args
        names = [a.arg for a in (*params.posonlyargs, *params.args)]
        local: dict[str, Any] = {}
        defaults = list(params.defaults)
        for i, name in enumerate(names):
            if i < len(args):
                local[name] = args[i]
            elif name in kwargs:
                local[name] = kwargs.pop(name)
            elif i >= len(names) - len(defaults):
                local[name] = self.lazy(defaults[i - (len(names) - len(defaults))], self.globals)
            else:
                self.fail(node, f"a call of {fn.name}() without its argument {name!r}")
        for a, d in zip(params.kwonlyargs, params.kw_defaults, strict=True):
            if a.arg in kwargs:
                local[a.arg] = kwargs.pop(a.arg)
            elif d is not None:
                local[a.arg] = self.lazy(d, self.globals)
        if params.vararg:
            local[params.vararg.arg] = tuple(args[len(names) :])
        if params.kwarg:
            local[params.kwarg.arg] = dict(kwargs)
        self.depth += 1
        try:
            try:
                self.block(fn.body, local)
                value = None
            except _Return as r:
                value = r.value
            if isinstance(value, _Unknown):
                raise _Unfollowable(value.line, value.reason)
            return value
        except _Unfollowable as e:
            # a helper such as `_fetch_requirements("requirements.txt")` we could not follow line by line
            helper = fn.name.lower().strip("_")
            if helper.startswith(("get", "read", "load", "fetch", "parse")) and any(
                h in helper for h in _REQUIREMENTS_HELPERS
            ):
                return self.helper_requirements(fn.name, args, node, e)
            raise
        finally:
            self.depth -= 1

    def helper_requirements(
        self, name: str, args: list[Any], node: ast.Call, error: _Unfollowable | None = None
    ) -> list[str]:
        """``parse_requirements("requirements.txt")`` & co: read the file as a pip requirements file."""
        if len(args) >= 1 and isinstance(args[0], (str, Path)):
            path = self.file(args[0], node)
            self.notes.append(
                f"read {_rel(path, self.root)} as a requirements file for {name}() (line {node.lineno})"
            )
            return read_requirements_file(path, root=self.root)
        if error is not None:
            raise error
        self.fail(node, f"a function call (`{_describe(node)}`)")

    def file(self, value: Any, node: ast.AST) -> Path:
        p = Path(str(value))
        p = p if p.is_absolute() else self.root / p
        p = p.resolve()
        if not p.is_relative_to(self.root):
            self.fail(node, f"a file outside the project ({value})")
        if not p.is_file():
            self.fail(node, f"a file that does not exist ({_rel(p, self.root)})")
        return p

    def read(self, value: Any, node: ast.AST) -> str:
        path = self.file(value, node)
        try:
            if path.stat().st_size > _MAX_FILE:
                self.fail(node, f"a file too large to read statically ({_rel(path, self.root)})")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.fail(node, f"a file that cannot be read ({value}: {e})")
        self.charge(node, len(text))
        return text

    def builtin(self, qual: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        last = qual.rsplit(".", 1)[-1]
        if qual in ("open", "io.open", "codecs.open"):
            mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
            if not isinstance(mode, str) or any(c in mode for c in "wax+"):
                self.fail(node, f"a file written by setup.py (`{_describe(node)}`)")
            return _File(self.read(args[0], node))
        if qual in ("pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath") and all(
            isinstance(a, (str, Path)) for a in args
        ):
            return Path(*[str(a) for a in args]) if args else self.root
        if qual.startswith("os.path.") and args and all(isinstance(a, (str, Path)) for a in args):
            strs = [str(a) for a in args]
            self.charge(node, sum(map(len, strs)))
            if last in ("abspath", "realpath"):  # relative to the project: setup.py runs in its folder
                return os.path.normpath(os.path.join(self.root, strs[0]))
            if last in ("exists", "isfile"):
                p = (self.root / strs[0]).resolve()
                return p.is_relative_to(self.root) and p.is_file()
            fn = _OS_PATH.get(last)
            if fn is not None:
                return fn(*strs)
        if qual in ("os.getcwd",):
            return str(self.root)
        if qual.startswith(("os.environ", "os.getenv")) or qual in ("os.getenv",):
            self.fail(node, f"an environment variable (`{_describe(node)}`)")
        if qual in _BUILTINS:
            self.charge(node, self.builtin_cost(qual, args))
            try:
                return _BUILTINS[qual](*args, **kwargs)
            except (TypeError, ValueError) as e:
                self.fail(node, f"`{_describe(node)}` ({e})")
        if last in ("parse_requirements", "parse_requirements_file", "read_requirements"):
            # pip's parse_requirements(FILE), pkg_resources' parse_requirements(TEXT or lines), or a helper
            arg = args[0] if args else None
            if isinstance(arg, Path) or (
                isinstance(arg, str) and "\n" not in arg and arg.strip() and (self.root / arg).is_file()
            ):
                reqs = self.helper_requirements(last, args, node)
            elif isinstance(arg, (str, list, tuple)):
                reqs = _clean_lines(
                    [arg] if isinstance(arg, str) else arg, self.root, f"{self.path.name} line {node.lineno}"
                )
            else:
                self.fail(node, f"a function call (`{_describe(node)}`)")
            objects = qual.split(".")[0] in ("pip", "pkg_resources", "setuptools")
            return [_Req(r) for r in reqs] if objects else reqs
        if qual.split(".")[0] in ("setuptools", "distutils") and last.startswith("find_"):
            self.fail(node, "setuptools' package discovery")  # only `packages=` uses it
        self.fail(node, f"a function call (`{_describe(node)}`)")

    def builtin_cost(self, qual: str, args: list[Any]) -> int:
        if not args:
            return 1
        if qual == "str":
            return _weight(args[0], _MAX_WORK)
        if qual == "sum" and isinstance(args[0], (list, tuple)):
            start = args[1] if len(args) > 1 else 0
            if isinstance(start, (str, list, tuple)):  # each partial sum is a new copy: quadratic
                total, cost = len(start), 0
                for v in args[0]:
                    total += _size(v)
                    cost += total
                    if cost > _MAX_WORK:
                        break
                return cost
        return sum(_size(a) for a in args) * (2 if qual == "sorted" else 1)

    def str_method_cost(self, obj: str, name: str, args: list[Any], node: ast.Call) -> int:
        if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            n = len(obj) + 1 if args[0] == "" else obj.count(args[0])
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                n = min(n, args[2])
            return len(obj) + n * max(0, len(args[1]) - len(args[0]))
        if name == "join" and args and isinstance(args[0], (list, tuple)):
            return sum(_size(x) for x in args[0]) + len(obj) * len(args[0])
        if name == "format":
            import string

            try:
                fields = [spec or conv for _lit, field, spec, conv in string.Formatter().parse(obj) if field is not None]
            except ValueError:
                self.fail(node, f"`{_describe(node)}`")
            if any(fields):
                self.fail(node, f"a format specification (`{_describe(node)}`)")
            widest = max((_weight(a, _MAX_WORK) for a in args), default=0)
            return len(obj) + len(fields) * widest
        return 3 * len(obj) + sum(_size(a) for a in args)

    def method(self, bound: _Bound, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        obj, name = bound.obj, bound.name
        if isinstance(obj, _File):
            if name == "read":
                return obj.text
            if name == "readlines":
                return obj.text.splitlines(keepends=True)
            if name in ("__enter__", "close"):
                return obj
        elif isinstance(obj, Path):
            if name in ("resolve", "absolute"):
                return (obj if obj.is_absolute() else self.root / obj).resolve()
            if name == "joinpath" and all(isinstance(a, (str, Path)) for a in args):
                return obj.joinpath(*[str(a) for a in args])
            if name == "read_text":
                return self.read(obj, node)
            if name == "open":
                return self.builtin("open", [obj, *args], kwargs, node)
            if name in ("exists", "is_file"):
                p = obj if obj.is_absolute() else self.root / obj
                return p.resolve().is_relative_to(self.root) and p.is_file()
        elif (
            isinstance(obj, str)
            and name in _STR_METHODS
            and all(isinstance(a, (str, int, list, tuple)) for a in args)
            and not kwargs
        ):
            self.charge(node, self.str_method_cost(obj, name, args, node))
            try:
                return getattr(obj, name)(*args)
            except (TypeError, ValueError) as e:
                self.fail(node, f"`{_describe(node)}` ({e})")
        elif isinstance(obj, list):
            self.charge(node, len(obj) if name in ("insert", "remove", "copy") else 1)
            if name == "append" and len(args) == 1:
                obj.append(args[0])
                return None
            if name == "extend" and len(args) == 1:
                obj.extend(self.iterate(args[0], node))
                return None
            if name == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
                return None
            if name == "remove" and len(args) == 1 and args[0] in obj:
                obj.remove(args[0])
                return None
            if name == "copy" and not args:
                return list(obj)
        elif isinstance(obj, dict):
            self.charge(node, len(obj) + sum(_size(a) for a in args))
            if name in ("keys", "values", "items") and not args:
                for v in obj.values():
                    known(v)
                return [tuple(kv) for kv in obj.items()] if name == "items" else list(getattr(obj, name)())
            if name == "get" and 1 <= len(args) <= 2:
                return known(obj.get(args[0], args[1] if len(args) == 2 else None))
            if name == "update" and len(args) <= 1:
                obj.update(*(args or []), **kwargs)
                return None
            if name == "copy" and not args:
                return dict(obj)
            if name == "setdefault" and len(args) == 2:
                return obj.setdefault(args[0], args[1])
            if name == "pop" and 1 <= len(args) <= 2:
                return obj.pop(*args)
        self.fail(node, f"a function call (`{_describe(node)}`)")


def known(value: Any) -> Any:
    """The value, or the error of the line that left it unknown."""
    if isinstance(value, _Unknown):
        raise _Unfollowable(value.line, value.reason)
    if isinstance(value, tuple):
        for v in value:
            known(v)
    return value


def _unique(values: Iterable[Any] = ()) -> list[Any]:
    return list(dict.fromkeys(values))


def _add(left: Any, right: Any) -> Any:
    return left + right


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    total = start
    for v in values:
        total = total + v
    return total


_BUILTINS: dict[str, Callable[..., Any]] = {
    "str": str,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "set": _unique,
    "frozenset": _unique,
    "sorted": sorted,
    "len": len,
    "sum": _sum,
    "reversed": lambda x: list(reversed(x)),
    "print": lambda *a, **k: None,
}
_BUILTIN_NAMES = frozenset({*_BUILTINS, "open"})
_OS_PATH: dict[str, Callable[..., Any]] = {
    "join": os.path.join,
    "dirname": os.path.dirname,
    "basename": os.path.basename,
    "normpath": posixpath.normpath,
}
_STR_METHODS = frozenset(
    {
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "splitlines",
        "startswith",
        "endswith",
        "lower",
        "upper",
        "replace",
        "join",
        "partition",
        "rpartition",
        "format",
        "removeprefix",
        "removesuffix",
        "isspace",
        "isdigit",
    }
)
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


def _settle(value: Any, what: str, file: str) -> Any:
    """A setup() argument with nothing unknown inside, or the error naming the line that made it unknown."""
    if isinstance(value, _Unknown):
        raise UsageError(
            f"{file} line {value.line} computes {what} with {value.reason}; static reading cannot "
            f"follow it (setup.py is never run); {_FIX}"
        )
    if isinstance(value, dict):
        return {
            k: _settle(v, f"{what}[{k!r}]" if what == "extras_require" else what, file)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_settle(v, what, file) for v in value]
    if isinstance(value, _Req):
        return value.line
    if isinstance(value, (_Ref, _Func, _Bound, _File)):
        raise UsageError(f"{file}: {what} is not a list of requirements; {_FIX}")
    return value


def from_setup_py(path: Path, *, name: str | None = None) -> StaticMetadata:
    """Read ``setup.py`` statically (``ast``; it is never executed). ``setup.cfg`` next to it fills in what
    ``setup()`` leaves out. Raises UsageError naming the line when the requirements cannot be followed."""
    path = Path(path).resolve()
    try:
        if path.stat().st_size > _MAX_FILE:
            raise UsageError(f"{path.name} is {path.stat().st_size >> 20} MiB: too large to read statically; {_FIX}")
        source = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror or e})") from e
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        raise UsageError(f"{path.name} line {e.lineno}: not valid Python ({e.msg})") from e
    except (RecursionError, MemoryError):  # e.g. 20,000 `+` in one expression
        raise UsageError(f"{path.name}: nested too deeply to read statically; {_FIX}") from None
    reader = _SetupReader(path)
    try:
        reader.run(tree)
    except _Unfollowable as e:  # a module-level statement we had to evaluate (a call that may be setup())
        raise UsageError(
            f"{path.name} line {e.line}: {e.reason} cannot be followed statically; {_FIX}"
        ) from e
    except (_Return, _Break, _Continue):
        pass
    except (RecursionError, MemoryError):  # the bounds above should come first; this is the last guard
        raise UsageError(f"{path.name}: more computation than static reading follows; {_FIX}") from None
    kwargs = reader.setup_kwargs
    cfg = _setup_cfg(path.parent / "setup.cfg")
    if kwargs is None:
        if reader.hidden_setup:
            line, reason = reader.hidden_setup
            raise UsageError(
                f"{path.name} line {line} calls setup() under {reason}; static reading cannot "
                f"follow it (setup.py is never run); {_FIX}"
            )
        if cfg is None:
            raise UsageError(f"{path.name}: no setup() call found; {_FIX}")
        kwargs = {}
    file = path.name
    if "**" in kwargs and ("install_requires" not in kwargs or "extras_require" not in kwargs):
        _settle(kwargs["**"], "the arguments of setup()", file)
    install = kwargs.get("install_requires", cfg.install if cfg else [])
    extras = kwargs.get("extras_require", cfg.extras if cfg else {})
    install = _settle(install, "install_requires", file)
    extras = _settle(extras, "extras_require", file)
    if isinstance(install, str):
        install = [install]
    if not isinstance(install, list):
        raise UsageError(f"{file} line {reader.setup_line}: install_requires is not a list; {_FIX}")
    if not isinstance(extras, dict):
        raise UsageError(f"{file} line {reader.setup_line}: extras_require is not a dict; {_FIX}")
    where = f"{file} line {reader.setup_line}"
    install = _clean_lines(install, reader.root, f"{where} install_requires")
    extras = {
        k: _clean_lines([v] if isinstance(v, str) else v, reader.root, f"{where} extras_require[{k!r}]")
        for k, v in extras.items()
    }
    requires, extra_names = _requires_dist(install, extras, lambda w: f"{where} {w}")
    notes = list(reader.notes)
    meta: dict[str, str | None] = {}
    for key in ("name", "version", "python_requires"):
        value = kwargs.get(key, getattr(cfg, key, None) if cfg else None)
        if isinstance(value, _Unknown):
            notes.append(f"{key}: line {value.line} computes it with {value.reason}; not read")
            value = None
        meta[key] = str(value) if isinstance(value, (str, int, float)) else None
    version = meta["version"]
    if version is not None:
        try:
            Version(version)
        except InvalidVersion:
            notes.append(f"version {version!r} is not a valid version; not read")
            version = None
    return StaticMetadata(
        name=meta["name"] or name,
        version=version,
        requires_dist=requires,
        provides_extras=extra_names,
        requires_python=meta["python_requires"],
        source="setup.py",
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Cfg:
    name: str | None
    version: str | None
    python_requires: str | None
    install: list[str]
    extras: dict[str, list[str]]


def _setup_cfg(path: Path) -> _Cfg | None:
    """setuptools' declarative ``setup.cfg`` ([metadata] / [options] / [options.extras_require])."""
    if not path.is_file():
        return None
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path.name}: cannot be read ({e})") from e

    def lines(text: str) -> list[str]:
        """setuptools' list-semi: a dangling list (one per line), or one line of `;`-separated values."""
        items = text.strip().splitlines() if "\n" in text.strip() else text.split(";")
        return [x.strip() for x in items if x.strip() and not x.strip().startswith("#")]

    def get(section: str, key: str) -> str | None:
        return cp.get(section, key, fallback=None)

    install = get("options", "install_requires")
    if install is not None and install.strip().startswith("file:"):
        files = [f.strip() for f in install.strip()[5:].split(",") if f.strip()]
        reqs: list[str] = []
        for f in files:
            reqs += read_requirements_file(path.parent / f, root=path.parent)
        install_list = reqs
    else:
        install_list = lines(install or "")
    extras: dict[str, list[str]] = {}
    if cp.has_section("options.extras_require"):
        for k, v in cp.items("options.extras_require"):
            extras[k] = lines(v)
    version = get("metadata", "version")
    if version and version.startswith(("attr:", "file:")):
        version = None
    if not (install_list or extras or get("metadata", "name")):
        return None
    return _Cfg(
        name=get("metadata", "name"),
        version=version,
        python_requires=get("options", "python_requires"),
        install=install_list,
        extras=extras,
    )


def from_tree(root: Path) -> StaticMetadata:
    """A local source tree: ``pyproject.toml [project]`` when its requirements are static, else ``setup.py``
    (read statically) / ``setup.cfg``, keeping name / version from ``[project]`` when it has them."""
    root = Path(root).resolve()
    pyproject = root / "pyproject.toml"
    base: StaticMetadata | None = None
    if pyproject.is_file():
        doc = _toml(pyproject)
        if isinstance(doc.get("project"), dict):
            base = from_pyproject(pyproject)
            if not {"dependencies", "optional-dependencies"} & set(base.dynamic):
                return base
    setup_py, setup_cfg = root / "setup.py", root / "setup.cfg"
    if setup_py.is_file():
        found = from_setup_py(setup_py, name=base.name if base else None)
    elif setup_cfg.is_file() and (cfg := _setup_cfg(setup_cfg)) is not None:
        requires, extras = _requires_dist(cfg.install, cfg.extras, lambda w: f"setup.cfg {w}")
        found = StaticMetadata(
            name=cfg.name,
            version=cfg.version,
            requires_dist=requires,
            provides_extras=extras,
            requires_python=cfg.python_requires,
            source="setup.cfg",
        )
    elif base is not None:
        raise UsageError(
            f"{pyproject}: the requirements are dynamic ({', '.join(base.dynamic)}) and there is "
            f"no setup.py to read them from; {_FIX}"
        )
    else:
        raise UsageError(f"{root}: no pyproject.toml [project], setup.py or setup.cfg to read")
    if base is None:
        return found
    dynamic = tuple(
        d
        for d in base.dynamic
        if d not in ("dependencies", "optional-dependencies", "version")
        or (d == "version" and found.version is None)
    )
    notes = tuple(n for n in base.notes if n.split(" ", 1)[0] in dynamic) + found.notes
    return StaticMetadata(
        name=base.name or found.name,
        version=base.version or found.version,
        requires_dist=found.requires_dist,
        provides_extras=found.provides_extras,
        requires_python=base.requires_python or found.requires_python,
        dynamic=dynamic,
        source=f"pyproject.toml + {found.source}",
        notes=notes,
    )


# -------------------------------------------------------------------------------------- wheels, index


def from_wheel(path_or_url: str | Path, *, client: PyPIClient | None = None) -> StaticMetadata:
    """A wheel's ``*.dist-info/METADATA``: a local file, or an http(s) URL read with range requests."""
    text = str(path_or_url)
    if text.startswith(("http://", "https://")):
        filename = text.rsplit("/", 1)[-1].split("#", 1)[0].split("?", 1)[0]
        dist = DistFile.from_json({"filename": filename, "url": text}, base_url=text)
        if dist is None or dist.kind != "wheel":
            raise UsageError(f"{text}: not a wheel URL (…/NAME-VERSION-TAGS.whl)")
        own = client is None
        c = client or PyPIClient()
        try:
            meta = c.metadata(dist)
        except PyPIError as e:
            raise NoAnswer(f"cannot read {filename}: {e}") from e
        except BadDistribution as e:
            raise UsageError(str(e)) from e
        finally:
            if own:
                c.close()
        return StaticMetadata.from_core(meta, source="wheel")
    path = Path(path_or_url)
    try:
        with zipfile.ZipFile(path) as zf:
            body = read_wheel_metadata(zf, path.name)
    except (OSError, zipfile.BadZipFile) as e:
        raise UsageError(f"{path}: not a readable wheel ({e})") from e
    except BadDistribution as e:
        raise UsageError(str(e)) from e
    return StaticMetadata.from_core(CoreMetadata.parse(body, source="local", file=path.name), source="wheel")


def from_pypi(name: str, version: str, *, client: PyPIClient | None = None) -> StaticMetadata:
    """The metadata of ``name==version`` on the index (a manylinux x86_64 wheel, else any wheel, else sdist)."""
    try:
        wanted = Version(version)
    except InvalidVersion as e:
        raise UsageError(f"{version!r} is not a version") from e
    own = client is None
    c = client or PyPIClient()
    try:
        try:
            project = c.project(name)
        except PyPIError as e:
            raise NoAnswer(f"cannot read {name} from {c.index_url}: {e}") from e
        files = project.releases().get(wanted)
        if not files:
            raise UsageError(f"{name} {version} is not on {c.index_url}")
        last = ""
        for f in candidates(files):
            try:
                return StaticMetadata.from_core(c.metadata(f), source="pypi")
            except BadDistribution as e:
                last = str(e)
            except PyPIError as e:
                raise NoAnswer(f"cannot read {name} {version}: {e}") from e
        raise NoAnswer(f"{name} {version}: no file with readable metadata ({last})")
    finally:
        if own:
            c.close()
