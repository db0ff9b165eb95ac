"""Plan -> edits of a pyproject.toml, with the user's file as constraints: llmenv adds what the plan needs in the
file's own style and never widens, drops or rewrites the user's intent.

What llmenv writes and how (docs/init.md says it for users):

- Requirement text stays the user's. A planned package the project already requires (in its dependencies, an
  extra or a group) keeps its line; one llmenv adds goes into the dependencies as the SPEC was given (``torch``,
  ``vllm>=0.8``). The exact plan reaches uv through ``[tool.uv] constraint-dependencies``, each line scoped to the
  target's platform (``torch==2.6.0 ; sys_platform == 'linux' and platform_machine == 'x86_64'``).
- ``requires-python`` is intersected with the plan's Pythons, never widened; ``environments`` and
  ``required-environments`` are kept and only extended with the target when they leave it out; ``required-version``
  is never lowered. Each narrowing is said (``Edit.notes``) and recorded in ``[tool.llmenv] narrowed`` with the
  user's value, so a later run narrows from the user's value again.
- The user's torch routing is kept (``llmenv.routing``); fields listed in ``dynamic`` are never written; a
  ``setup.py`` project without a ``[project]`` table is refused rather than shadowed.
- ``[tool.llmenv]`` records the inputs and what llmenv manages (``managed``), so a re-run with the same inputs is
  byte-identical and a run with other inputs removes only what llmenv wrote. ``[tool.llmenv] overrides`` (written
  by ``llmenv override``) are applied last, over the plan's ``[[tool.uv.dependency-metadata]]``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import tomlkit
from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

from llmenv._tomledit import (
    add_key,
    array_append,
    attach_trailing,
    detach_trailing,
    plain,
    spaced_inline_tables,
    to_item,
)
from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import IndexSpec
from llmenv.intent import ProjectConstraints, applies, target_envs
from llmenv.plan import TORCH_FAMILY, Plan
from llmenv.routing import Route, route_torch
from llmenv.target import Target

__all__ = [
    "GROUPS",
    "MIN_UV",
    "Edit",
    "ProjectOptions",
    "edit",
    "other_platforms_marker",
    "platform_marker",
    "render",
    "write_dependency_metadata",
    "write_override",
]

# The oldest uv that understands everything llmenv writes (extra-build-dependencies with match-runtime,
# extra-build-variables, required-environments, flat indexes, dependency-metadata).
MIN_UV = "0.9.0"
PBS_RELEASES = "https://github.com/astral-sh/python-build-standalone/releases/download"

# Optional dependency groups (--groups) and the tool settings that come with them.
GROUPS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "dev": (["pytest>=8", "ipykernel>=6"], {"pytest": {"ini_options": {"testpaths": ["tests"]}}}),
    "lint": (
        ["ruff>=0.6", "mypy>=1.11"],
        {"ruff": {"line-length": 120, "lint": {"select": ["E", "F", "I", "B", "UP"]}}},
    ),
    "format": (["ruff>=0.6"], {"ruff": {"format": {"quote-style": "double"}}}),
}


@dataclass(frozen=True, kw_only=True)
class ProjectOptions:
    name: str
    pypi_index: IndexSpec | None = None  # --mirror: the default index
    python_mirror: str | None = None
    github_proxy: str | None = None
    groups: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)  # written to [tool.llmenv]
    extra_indexes: tuple[IndexSpec, ...] = ()
    user_owned: tuple[str, ...] = ()  # planned dependencies that are the user's: never dropped by a later run
    # A folder of wheels (``llmenv wheelhouse``) for offline nodes: the first index, the planned sources of the
    # packages it holds point at it, and the lock covers the target platform only (all that the folder holds).
    wheelhouse: IndexSpec | None = None
    wheelhouse_names: frozenset[str] = frozenset()
    requested: tuple[str, ...] = ()  # the SPECs as the user gave them: the text of the lines llmenv adds
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # [tool.llmenv.overrides]
    build_script: str | None = None  # "setup.py" when the project folder has one
    new_file: bool = False  # llmenv creates the file: every narrowable key is its own


@dataclass(frozen=True)
class Edit:
    doc: TOMLDocument
    notes: tuple[str, ...] = ()


def platform_marker(t: Target) -> str:
    return t.platform_marker()


def other_platforms_marker(t: Target) -> str:
    env = t.marker_environment()
    if t.os == "windows":
        return "sys_platform != 'win32'"
    return f"sys_platform != '{env['sys_platform']}' or platform_machine != '{env['platform_machine']}'"


def _either(a: str, b: str) -> str:
    """Two requirement lines of one package for different platforms -> one: the first's text, required where
    either's marker holds (their exact versions stay in constraint-dependencies, each with its marker)."""
    ra, rb = Requirement(a), Requirement(b)
    head = a.split(";", 1)[0].strip()
    if ra.marker is None or rb.marker is None:
        return head
    return f"{head} ; ({a.split(';', 1)[1].strip()}) or ({b.split(';', 1)[1].strip()})"


def planned_environments(t: Target) -> list[str]:
    """``environments`` / ``required-environments`` of a lock for the target's planned platforms."""
    from llmenv.platforms import environments

    return environments(t.lock_platforms)


def os_marker(t: Target) -> str:
    return f"sys_platform == '{t.marker_environment()['sys_platform']}'"


# ------------------------------------------------------------------------------------------ tomlkit helpers


def _table(parent: Any, key: str, *, super_table: bool = False) -> Table:
    if key not in parent:
        t = tomlkit.table(is_super_table=super_table)
        parent[key] = t
    item = parent[key]
    if not isinstance(item, (Table, dict)):
        raise UsageError(f"{key} in pyproject.toml is not a table; llmenv cannot edit it")
    return item  # type: ignore[return-value]


def _set(container: Any, key: str, value: Any, *, spaced: bool = True) -> None:
    """Assign only when the value differs, so unchanged items keep their formatting; a new key goes after the
    table's last key."""
    if key in container:
        if plain(container[key]) == value:
            return
        container[key] = to_item(value, spaced=spaced)
        return
    add_key(container, key, value, spaced=spaced)


def _delete(container: Any, key: str) -> None:
    if key in container:
        del container[key]


def _req_name(line: Any) -> str | None:
    try:
        return canonicalize_name(Requirement(str(line)).name)
    except InvalidRequirement:
        return None


def _exact(spec: SpecifierSet) -> str | None:
    """The version of a lone ``==X`` pin."""
    items = list(spec)
    if len(items) == 1 and items[0].operator == "==" and "*" not in items[0].version:
        return items[0].version
    return None


def _extras(req: Requirement) -> str:
    return f"[{','.join(sorted(req.extras))}]" if req.extras else ""


def _marker_text(line: str) -> str | None:
    """The marker of a requirement line as it is written there (``sys_platform == 'linux'``)."""
    if ";" not in line:
        return None
    text = line.split(";", 1)[1].strip()
    return text or None


def _set_list(container: Any, key: str, want: list[Any], *, spaced: bool) -> None:
    """Make ``container[key]`` hold ``want``: items appended to (or removed from the end of) the user's array in
    its own layout when one is a prefix of the other, else the value replaced."""
    current = container.get(key)
    if isinstance(current, Array):
        have = plain(current)
        if have == want:
            return
        if have == want[: len(have)]:
            for v in want[len(have) :]:
                array_append(current, v, spaced=spaced)
            return
        if want == have[: len(want)]:
            for i in reversed(range(len(want), len(have))):
                del current[i]
            return
    _set(container, key, want, spaced=spaced)


# ------------------------------------------------------------------------------------------ requires-python


def _minors(lo: str, hi: str) -> list[str]:
    a, b = (int(x) for x in lo.split(".")), (int(x) for x in hi.split("."))
    (amaj, amin), (bmaj, bmin) = a, b
    return [f"{amaj}.{m}" for m in range(amin, bmin + 1)] if amaj == bmaj else []


def _allows(spec: SpecifierSet, minor: str) -> bool:
    return any(spec.contains(Version(f"{minor}.{micro}"), prereleases=True) for micro in (0, 99))


def _clauses(text: str) -> list[Specifier]:
    return [Specifier(c.strip()) for c in text.split(",") if c.strip()]


def _narrow_python(user: str, lo: str, cap: str | None, floor: bool) -> str:
    """The user's clauses with the plan's floor (``>=lo``) and cap (``<cap``) where they are tighter: a looser
    user floor / cap is replaced in place, a missing one added."""
    out: list[str] = []
    placed_floor = placed_cap = False
    for c in _clauses(user):
        if floor and c.operator in (">=", ">"):
            if not placed_floor:
                out.append(f">={lo}")
                placed_floor = True
            continue
        if cap is not None and c.operator in ("<", "<="):
            if not placed_cap:
                out.append(f"<{cap}")
                placed_cap = True
            continue
        out.append(str(c))
    if floor and not placed_floor:
        out.insert(0, f">={lo}")
    if cap is not None and not placed_cap:
        out.append(f"<{cap}")
    return ",".join(out)


def python_range(user: str | None, plan: Plan) -> tuple[str, list[str], bool]:
    """(requires-python text, the Python minors it leaves of the plan's, narrowed?) for the user's value.

    A range inside the plan's stays as written; a wider one gets the plan's floor / cap. NoAnswer when nothing
    of the plan's Pythons, or not the target's, is left."""
    pythons = list(plan.pythons)
    lo, hi = pythons[0], pythons[-1]
    major, minor = (int(x) for x in hi.split("."))
    cap = f"{major}.{minor + 1}"
    if user is None:
        return plan.requires_python, pythons, True
    try:
        spec = SpecifierSet(user)
    except InvalidSpecifier:
        raise UsageError(f"project.requires-python = {user!r} is not a version specifier") from None
    kept = [p for p in pythons if _allows(spec, p)]
    where = f"project.requires-python = {user!r}"
    if not kept:
        raise NoAnswer(
            f"{where} allows none of the Pythons the plan covers ({lo}–{hi}); pyproject.toml unchanged",
            hint="plan for a Python the project allows (--python X.Y)",
        )
    python = getattr(plan, "python", None) or plan.target.python  # the planned Python (the target's by default)
    if python not in kept:
        raise NoAnswer(
            f"{where} excludes the target's Python {python}; pyproject.toml unchanged",
            hint=f"plan for a Python it allows: --python {kept[0]}",
        )
    below = any(_allows(spec, p) for p in _minors("3.0", lo)[:-1]) or _allows(spec, "2.7")
    above = any(_allows(spec, p) for p in _minors(cap, "3.40")) or _allows(spec, "4.0")
    if not below and not above:
        return user, kept, False
    text = _narrow_python(user, lo, cap if above else None, below)
    new = SpecifierSet(text)
    if [p for p in _minors("3.0", "3.40") if _allows(new, p)] != kept:
        text = f"{user},>={lo},<{cap}"
    return text, kept, True


def python_why(user: str | None, plan: Plan) -> str:
    """Why the written range ends where it does, on the sides where it is narrower than the user's:
    ``floor raised to 3.10: torch 2.9.0 ships wheels for Python 3.10–3.14 only; capped below 3.14: ...``."""
    lo, hi = plan.pythons[0], plan.pythons[-1]
    major, minor = (int(x) for x in hi.split("."))
    cap = f"{major}.{minor + 1}"
    try:
        spec = SpecifierSet(user) if user is not None else None
    except InvalidSpecifier:
        spec = None
    said = []
    lo_major, lo_minor = (int(x) for x in lo.split("."))
    if spec is not None and lo_minor > 0 and _allows(spec, f"{lo_major}.{lo_minor - 1}"):
        why = getattr(plan, "python_floor_reason", "")
        said.append(f"floor raised to {lo}: {why}" if why else f"floor raised to {lo}")
    if spec is None or _allows(spec, cap):
        why = getattr(plan, "python_cap_reason", "")
        said.append(f"capped below {cap}: {why}" if why else f"capped below {cap}")
    return "; ".join(said) if said else f"the plan covers Python {lo}–{hi}"


# ------------------------------------------------------------------------------------------ required-version


def _floor(spec: SpecifierSet) -> Version | None:
    floors = []
    for c in spec:
        if c.operator in (">=", ">", "==", "~=", "==="):
            try:
                floors.append(Version(c.version.replace(".*", "")))
            except ValueError:
                continue
    return max(floors) if floors else None


def required_version(user: str | None) -> tuple[str, bool]:
    """(required-version text, narrowed?): the user's value when it already asks for uv >= MIN_UV, else with
    MIN_UV as its floor. NoAnswer when the user's value excludes every uv llmenv can use."""
    want = f">={MIN_UV}"
    if user is None:
        return want, True
    try:
        spec = SpecifierSet(user)
    except InvalidSpecifier:
        raise UsageError(f"tool.uv.required-version = {user!r} is not a version specifier") from None
    floor = _floor(spec)
    if floor is not None and floor >= Version(MIN_UV):
        return user, False
    kept = [str(c) for c in _clauses(user) if c.operator not in (">=", ">")]
    text = ",".join([want, *kept])
    probe = [Version(f"{MIN_UV.rsplit('.', 1)[0]}.{p}") for p in range(0, 50)] + [
        Version(f"0.{m}.0") for m in range(9, 60)
    ]
    if not any(SpecifierSet(text).contains(v, prereleases=True) for v in probe):
        raise NoAnswer(
            f"tool.uv.required-version = {user!r} excludes uv >= {MIN_UV}, which what llmenv writes needs; "
            "pyproject.toml unchanged",
            hint=f"allow uv >= {MIN_UV} there",
        )
    return text, True


# ------------------------------------------------------------------------------------------ the editor


def _marker_holds(text: str, envs: Sequence[Mapping[str, str]]) -> bool:
    try:
        return applies(Marker(text), envs)
    except InvalidMarker:
        return True


class _Editor:
    """One edit of one document. Each method edits one concern; ``notes`` says what was narrowed or added."""

    def __init__(
        self, doc: TOMLDocument, plan: Plan, options: ProjectOptions, project: ProjectConstraints
    ) -> None:
        self.doc = doc
        self.plan = plan
        self.options = options
        self.project = project
        self.rec = project.recorded
        self.spaced = spaced_inline_tables(tomlkit.dumps(doc))
        self.notes: list[str] = []
        self.managed: dict[str, Any] = {}
        self.narrowed: dict[str, dict[str, Any]] = {}
        prev = (
            plain(doc.get("tool", {}).get("llmenv", {})) if isinstance(doc.get("tool"), (dict, Table)) else {}
        )
        self.prev_record: Mapping[str, Any] = prev if isinstance(prev, Mapping) else {}
        self.prev: Mapping[str, Any] = self.prev_record.get("managed", {})
        self.added_sources: dict[str, list[dict[str, str]]] = {}
        self.pythons = list(plan.pythons)

    # ---- the whole edit --------------------------------------------------------------------------------
    def run(self) -> TOMLDocument:
        self._refuse_shadowing()
        self._python()
        envs = target_envs(self.plan.target, self.pythons)
        self.envs = envs
        unplanned = self._unplanned()
        route = route_torch(self.plan, self.project, envs, family=self._family(), unplanned=unplanned)
        self.notes += route.notes
        if unplanned and "torch" in self.plan.packages and not self.options.wheelhouse:
            self.notes.append(
                f"the lock admits {', '.join(unplanned)}, which llmenv did not plan: torch comes from the CPU "
                "index there (plan them with --platform, or leave them out of tool.uv.environments)"
            )
        self._ensure_tables(route)
        project = _table(self.doc, "project")
        # Comments that end a table head the table after it: sub-tables llmenv adds go above them.
        project_tail = detach_trailing(project) if isinstance(project, Table) else []
        if "name" not in project and "dynamic" not in project:
            _set(project, "name", self.options.name)
            _set(project, "version", "0.1.0")
        self._write_python(project)
        self._dependencies(project, route)
        self._optional(project)
        self._scope(project, route)
        attach_trailing(project, project_tail)
        tool = _table(self.doc, "tool", super_table=True)
        uv = _table(tool, "uv")
        uv_tail = detach_trailing(uv) if isinstance(uv, Table) else []
        self._uv_settings(uv)
        self._indexes(uv, route)
        self._sources(uv, route)
        self._constraints(uv)
        self._build_settings(uv)
        self._dependency_metadata(uv)
        self._exclusions(uv)
        self._conflicts(uv, route)
        attach_trailing(uv, uv_tail)
        _groups(self.doc, self.options.groups)
        self._record(tool)
        return self.doc

    def _family(self) -> list[str]:
        names = set(self.plan.packages) | self.project.required_names()
        return [n for n in TORCH_FAMILY if n in names]

    def _refuse_shadowing(self) -> None:
        if self.project.has_project or self.project.build_script is None:
            return
        raise NoAnswer(
            f"this project is built by its {self.project.build_script} and its pyproject.toml has no [project] "
            "table: uv does not read setup.py for a project (its lock would hold none of your requirements), and "
            "llmenv will not add a [project] table over setup.py (it would shadow it)",
            hint='add [project] with name and dynamic = ["version", "dependencies"] (setuptools then takes them '
            "from setup.py), and run llmenv init again",
        )

    def _ensure_tables(self, route: Route) -> None:
        paths: list[tuple[str, ...]] = [("project",), ("tool", "uv"), ("tool", "llmenv")]
        if self.options.groups or (route.scope is not None and route.scope.kind == "group"):
            paths.append(("dependency-groups",))
        self.doc = _ensure_tables(self.doc, paths)

    # ---- requires-python --------------------------------------------------------------------------------
    def _python(self) -> None:
        user = self.project.requires_python
        if "requires-python" in self.project.dynamic:
            self.python_text = None
            return
        text, kept, narrowed = python_range(user, self.plan)
        self.pythons = kept
        self.python_text = text
        if narrowed and "requires-python" not in self.project.owned:
            what = f"{user!r} narrowed to {text!r}" if user is not None else f"set to {text!r}"
            self.notes.append(f"requires-python: {what} ({python_why(user, self.plan)})")

    def _write_python(self, project: Table) -> None:
        if self.python_text is None:
            lo, hi = self.plan.pythons[0], self.plan.pythons[-1]
            self.notes.append(f"requires-python is dynamic: not written (the plan covers Python {lo}–{hi})")
            return
        _set(project, "requires-python", self.python_text)
        self._narrowed("requires-python", self.project.requires_python, self.python_text)

    def _narrowed(self, key: str, user: Any, now: Any) -> None:
        """Record what llmenv wrote for a narrowable key and the user's value before, when they differ."""
        if now == user and key not in self.project.owned:
            return
        entry: dict[str, Any] = {"now": now}
        if user is not None and key not in self.project.owned:
            entry["was"] = user
        self.narrowed[key] = entry

    # ---- dependencies -------------------------------------------------------------------------------------
    def _requested(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.options.requested:
            try:
                r = Requirement(s)
            except InvalidRequirement:
                continue  # a local ./tree[extras]
            out[canonicalize_name(r.name)] = s
        return out

    def _intent_text(self, line: str, given: str | None) -> str:
        """The line llmenv adds: the SPEC as the user typed it (with the plan's extras, and its marker when the
        SPEC has none), else the plan's line without its exact pin — in the spelling it was written in."""
        planned = Requirement(line)
        if given is not None:
            r = Requirement(given)
            if set(r.extras) == set(planned.extras) and (r.marker is not None or planned.marker is None):
                return given.strip()
            spec = f"{r.name}{_extras(planned)}{r.specifier}"
            marker = _marker_text(given) or _marker_text(line)
            return f"{spec} ; {marker}" if marker else spec
        head = f"{planned.name}{_extras(planned)}" + (
            "" if _exact(planned.specifier) else str(planned.specifier)
        )
        marker = _marker_text(line)
        return f"{head} ; {marker}" if marker else head

    def _base_lines(self, route: Route) -> dict[str, str]:
        """Planned requirements that go into the base dependencies (name -> line)."""
        requested = self._requested()
        in_scope = {_req_name(line) for line in route.scope.requirements} if route.scope else set()
        wanted: dict[str, str] = {}
        for line in self.plan.dependencies:
            req = Requirement(line)
            n = canonicalize_name(req.name)
            users = self.project.requiring(n)
            if any(set(req.extras) <= set(u.requirement.extras) for u in users):
                continue  # the user requires it already, where they chose to (base, an extra, a group)
            if n in in_scope and not users:
                continue
            text = self._intent_text(line, requested.get(n))
            if n in wanted and wanted[n] != text:
                text = _either(wanted[n], text)  # one package, other versions on other platforms
            wanted[n] = text
        return wanted

    def _dependencies(self, project: Table, route: Route) -> None:
        wanted = self._base_lines(route)
        self.managed["dependencies"] = sorted(set(wanted) - set(self.options.user_owned))
        if "dependencies" in self.project.dynamic:
            self._dynamic_dependencies(wanted)
            return
        drop = {canonicalize_name(n) for n in self.prev.get("dependencies", [])} - set(wanted)
        if "dependencies" not in project:
            if wanted or not self.project.has_project:
                _set(project, "dependencies", list(wanted.values()), spaced=self.spaced)
                if len(wanted) == 1:
                    project["dependencies"].multiline(True)
            return
        deps = project["dependencies"]
        if not isinstance(deps, Array):
            raise UsageError("project.dependencies in pyproject.toml is not an array; llmenv cannot edit it")
        present: set[str] = set()
        previously = {canonicalize_name(n) for n in self.prev.get("dependencies", [])}
        for i in reversed(range(len(deps))):
            n = _req_name(deps[i])
            if n is None or n not in previously:
                continue  # the user's line
            if n in drop:
                del deps[i]
            elif n in wanted:
                present.add(n)
                if str(deps[i]) != wanted[n]:
                    deps[i] = wanted[n]
        for n, line in wanted.items():
            if n not in present:
                array_append(deps, line, spaced=self.spaced)

    def _dynamic_dependencies(self, wanted: Mapping[str, str]) -> None:
        """``dependencies`` is dynamic (a build backend fills it): llmenv writes constraints and sources only."""
        self.managed["dependencies"] = []
        if wanted:
            self.notes.append(
                "project.dependencies is dynamic: llmenv wrote no requirement, only the pins "
                f"(constraint-dependencies) and sources; make sure your build requires {', '.join(wanted)}"
            )

    def _optional(self, project: Table) -> None:
        """The project's own extras for alternatives that cannot live together (one per engine)."""
        wanted: Mapping[str, list[str]] = self.plan.extra.get("optional-dependencies", {})
        prev = [n for n in self.prev.get("optional-dependencies", []) if n != self._prev_scope_name("extra")]
        drop = set(prev) - set(wanted)
        self.managed["optional-dependencies"] = sorted(wanted)
        if not wanted and not drop:
            return
        if wanted and "optional-dependencies" in self.project.dynamic:
            raise NoAnswer(
                "the plan puts each engine in an extra of this project, but project.optional-dependencies is "
                "dynamic (llmenv never writes a dynamic field); pyproject.toml unchanged",
                hint="ask for one engine extra",
            )
        for name in wanted:
            if name in self.project.extras and name not in prev:
                raise NoAnswer(f"the plan adds the extra {name!r}, and the project has its own {name!r}")
        opt = _table(project, "optional-dependencies")
        for name in drop:
            _delete(opt, name)
        for name, lines in wanted.items():
            _set(opt, name, list(lines), spaced=self.spaced)
        if len(opt) == 0:
            del project["optional-dependencies"]

    def _prev_scope_name(self, kind: str) -> str | None:
        s = self.prev.get("scope")
        return str(s[1]) if isinstance(s, list) and len(s) == 2 and s[0] == kind else None

    def _scope(self, project: Table, route: Route) -> None:
        """The extra or group llmenv adds for the planned variant (the user routes torch per extra / group)."""
        scope = route.scope
        for kind in ("extra", "group"):
            old = self._prev_scope_name(kind)
            if old is None or (scope is not None and scope.kind == kind and scope.name == old):
                continue
            parent = (
                project.get("optional-dependencies") if kind == "extra" else self.doc.get("dependency-groups")
            )
            if parent is not None and old in parent:
                del parent[old]
        if scope is None:
            return
        self.managed["scope"] = [scope.kind, scope.name]
        if scope.kind == "extra":
            if "optional-dependencies" in self.project.dynamic:
                raise NoAnswer(
                    "llmenv would add an extra for the planned torch variant (your torch routing is per extra), "
                    "but project.optional-dependencies is dynamic; pyproject.toml unchanged"
                )
            parent = _table(project, "optional-dependencies")
        else:
            parent = _table(self.doc, "dependency-groups")
        _set(parent, scope.name, list(scope.requirements), spaced=self.spaced)

    # ---- [tool.uv] settings -----------------------------------------------------------------------------
    def _uv_settings(self, uv: Table) -> None:
        p, t = self.project, self.plan.target
        text, narrowed = required_version(p.required_version)
        _set(uv, "required-version", text)
        if narrowed and "required-version" not in p.owned:
            what = f"{p.required_version!r} raised to {text!r}" if p.required_version else f"set to {text!r}"
            self.notes.append(f"required-version: {what} (the oldest uv that reads what llmenv writes)")
        self._narrowed("required-version", p.required_version, text)
        # Exactly the planned platforms: a platform outside the lock cannot sync it (and get CPU torch silently).
        planned = planned_environments(t)
        self._environment_list(uv, "environments", p.environments, planned)
        self._environment_list(uv, "required-environments", p.required_environments, planned)
        mirror = self._python_mirror()
        if mirror:
            _set(uv, "python-install-mirror", mirror)
            self.managed["python-install-mirror"] = [mirror]
        elif self.prev.get("python-install-mirror"):
            _delete(uv, "python-install-mirror")

    def _planned_envs(self) -> list[tuple[str, list[dict[str, str]]]]:
        """(marker, marker environments) of each platform the plan covers."""
        from llmenv.platforms import platform_target

        t = self.plan.target
        out = []
        for p in t.lock_platforms:
            sub = platform_target(t, p)
            out.append((sub.platform_marker(), target_envs(sub, self.pythons)))
        return out

    def _unplanned(self) -> list[str]:
        """The platforms the lock will admit that the plan did not plan (the user's environments, or none)."""
        from llmenv.platforms import unplanned
        from llmenv.target import PLATFORMS

        t = self.plan.target
        if self.options.wheelhouse:
            return []
        user = self.project.environments
        if user is None:
            narrowed = self.plan.extra.get("environments")  # the planner's: a part has wheels for one platform
            if narrowed:
                return unplanned(list(narrowed), t.lock_platforms)
            owned = "environments" in self.project.owned
            return [] if owned else [x for x in PLATFORMS if x not in t.lock_platforms]
        return unplanned(list(user), t.lock_platforms)

    def _python_mirror(self) -> str | None:
        o = self.options
        return o.python_mirror or (f"{o.github_proxy.rstrip('/')}/{PBS_RELEASES}" if o.github_proxy else None)

    def _environment_list(
        self, uv: Table, key: str, user: tuple[str, ...] | None, default: list[str]
    ) -> None:
        owned = key in self.project.owned
        target = platform_marker(self.plan.target)
        if self.options.wheelhouse and key == "environments":
            want = [target]
            if user is not None and list(user) != want:
                self.notes.append(
                    f"{key}: narrowed to the target ({target}) for the wheelhouse, which holds its wheels only; "
                    "--no-wheelhouse gives yours back"
                )
        elif user is None:
            planned = self.plan.extra.get("environments") if key == "environments" else None
            if planned:  # the planner: a chosen part has no wheel (nor sdist) for the other platforms
                want = list(planned)
                if not owned:
                    self.notes.append(f"{key}: set to {', '.join(want)} ({self.plan.extra.get('platform-only')})")
            elif not owned:
                return  # the user has none: every platform stays in the lock
            else:
                want = default
        else:
            missing = [m for m, env in self._planned_envs() if not any(_marker_holds(u, env) for u in user)]
            want = [*user, *missing]
            for m in missing:
                self.notes.append(f"{key}: added {m!r} (a planned platform; yours leave it out)")
        _set_list(uv, key, want, spaced=self.spaced)
        self._narrowed(key, list(user) if user is not None else None, want)

    # ---- indexes and sources ----------------------------------------------------------------------------
    def _index_specs(self, route: Route) -> list[IndexSpec]:
        o = self.options
        torch_names = {i.name for i in self.plan.indexes if i.name.startswith("pytorch")}
        if "torch" in self.plan.packages and self.plan.packages["torch"].index:
            torch_names.add(str(self.plan.packages["torch"].index))
        specs: list[IndexSpec] = [o.wheelhouse] if o.wheelhouse else []
        if o.pypi_index:
            specs.append(o.pypi_index)
        specs += list(route.indexes)
        # a PyTorch-index entry an extension's wheels come from (flash-attn-3 on pytorch-cu126) is written
        # though torch's own routing does not use it
        used = {
            e["index"]
            for v in self.plan.extra.get("sources", {}).values()
            for e in (v if isinstance(v, list) else [v])
            if isinstance(e, Mapping) and "index" in e
        }
        specs += [i for i in self.plan.indexes if i.name not in torch_names or i.name in used]
        specs += list(o.extra_indexes)
        first: dict[str, IndexSpec] = {}
        for i in specs:
            first.setdefault(i.name, i)
        return list(first.values())

    def _indexes(self, uv: Table, route: Route) -> None:
        specs = self._index_specs(route)
        wanted: dict[str, dict[str, Any]] = {}
        for s in specs:
            mine = self.project.index_named(s.name)
            if mine is None:
                wanted[s.name] = s.to_toml()
                continue
            if str(mine.get("url", "")).rstrip("/") != s.url.rstrip("/"):
                raise NoAnswer(
                    f"the project has its own index named {s.name!r} ({mine.get('url')}); llmenv needs that name for "
                    f"{s.url}; pyproject.toml unchanged",
                    hint="rename your index",
                )
            if s.default and mine.get("default") is not True:
                raise NoAnswer(
                    f"--mirror makes {s.name!r} the default index; the project's {s.name!r} is not"
                )
        if self.options.pypi_index and any(
            i.get("default") is True and i.get("name") != self.options.pypi_index.name
            for i in self.project.indexes
        ):
            raise NoAnswer(
                "the project has a default index of its own; --mirror would add a second one (pyproject.toml "
                "unchanged)",
                hint="drop --mirror, or point your default index at the mirror",
            )
        self.managed["indexes"] = list(wanted)
        first = self.options.wheelhouse.name if self.options.wheelhouse else None
        _managed_aot(uv, "index", wanted, self.prev.get("indexes", []), first=first, spaced=self.spaced)

    def _source_values(self, route: Route) -> dict[str, Any]:
        """Whole ``[tool.uv.sources]`` values llmenv owns: its torch routing, prebuilt wheels, local trees."""
        out: dict[str, Any] = dict(route.sources)
        for name, value in self.plan.extra.get("sources", {}).items():
            out[name] = value
        for name, choice in self.plan.packages.items():
            if choice.source == "path":
                out[name] = {"path": self.plan.extra.get("paths", {}).get(name, name), "editable": True}
        if self.options.wheelhouse:
            out = _to_wheelhouse(out, self.options.wheelhouse.name, self.options.wheelhouse_names)
        for name, value in out.items():
            mine = self.project.sources.get(canonicalize_name(name))
            if mine is None:
                continue
            theirs = [dict(e.table) for e in mine]
            if theirs == (value if isinstance(value, list) else [value]):
                continue
            raise NoAnswer(
                f"{mine[0].location} is yours and llmenv's plan routes {name} elsewhere "
                f"({value if not isinstance(value, list) else value[0]}); pyproject.toml unchanged",
                hint=f"remove your source for {name}, or leave {name} out of the SPECs",
            )
        return {n: v for n, v in out.items() if canonicalize_name(n) not in self.project.sources}

    def _sources(self, uv: Table, route: Route) -> None:
        entries = self._source_values(route)
        appended = {n: [dict(e) for e in v] for n, v in route.appended.items()}
        prev_whole = set(self.prev.get("sources", []))
        prev_appended: Mapping[str, list[Any]] = self.prev_record.get("added-sources", {}) or {}
        self.managed["sources"] = sorted(entries)
        self.added_sources = {n: v for n, v in appended.items() if v}
        if not entries and not appended and "sources" not in uv and not prev_whole and not prev_appended:
            return
        sources = _table(uv, "sources")
        for name in prev_whole - set(entries):
            _delete(sources, name)
        for name, value in entries.items():
            _set(sources, name, value, spaced=self.spaced)
        for name in set(prev_appended) | set(appended):
            self._appended_entries(sources, name, list(prev_appended.get(name, [])), appended.get(name, []))
        if len(sources) == 0:
            del uv["sources"]

    def _appended_entries(
        self, sources: Any, name: str, before: list[Any], want: list[dict[str, str]]
    ) -> None:
        """Entries llmenv adds to the user's list for ``name`` (a route in the user's style)."""
        current = sources.get(name)
        if current is None:
            if want:
                _set(sources, name, want, spaced=self.spaced)
            return
        if isinstance(current, Array):
            items = plain(current)
            for i in reversed(range(len(items))):
                if items[i] in before and items[i] not in want:
                    del current[i]
            items = plain(current)
            for e in want:
                if e not in items:
                    array_append(current, e, spaced=self.spaced)
            return
        value = plain(current)
        if want and value not in want:
            sources[name] = to_item([value, *want], spaced=self.spaced)

    # ---- the exact plan ---------------------------------------------------------------------------------
    def _pin_lines(self) -> list[str]:
        """``name==X`` for each package the plan pins: unscoped, like a pin in the dependencies, so that uv does
        not split the lock on it; scoped to the target's platform when the project pins that package otherwise
        for another platform (``torch==2.2.2 ; sys_platform == 'darwin'``), and to the dependency's own marker
        when the plan's line has one (flash-attn only on GPU machines)."""
        target = platform_marker(self.plan.target)
        out: list[str] = []
        for line in self.plan.dependencies:
            req = Requirement(line)
            version = _exact(req.specifier)
            if version is None:
                continue
            n = canonicalize_name(req.name)
            chosen = self.plan.packages.get(n)
            if chosen is not None and chosen.source == "base":
                continue  # the base image's own copy: excluded from the lock, never constrained
            users = self.project.requiring(n, scopes=("base", "extra", "group", "constraint"))
            if users and all(_exact(u.requirement.specifier) == version for u in users):
                continue  # the user pins exactly this already
            v = Version(version)
            apart = [
                u
                for u in users
                if self.project.alternative(u)
                and u.applies(self.envs)
                and not u.requirement.specifier.contains(v, prereleases=True)
            ]
            if apart:
                self.notes.append(
                    f"{req.name}: not pinned to {version} for the target — {apart[0]} is one of your conflicting "
                    "alternatives with its own pin, which a project-wide pin would break"
                )
                continue
            elsewhere = any(
                not u.applies(self.envs) and not u.requirement.specifier.contains(v, prereleases=True)
                for u in users
            )
            marker = _marker_text(line) if req.marker is not None else (target if elsewhere else None)
            out.append(f"{req.name}=={version}" + (f" ; {marker}" if marker else ""))
        return out

    def _constraints(self, uv: Table) -> None:
        lines = self._pin_lines()
        before = [str(x) for x in self.prev.get("constraint-dependencies", [])]
        self.managed["constraint-dependencies"] = lines
        current = uv.get("constraint-dependencies")
        if current is None:
            if lines:
                add_key(uv, "constraint-dependencies", to_item(lines, spaced=self.spaced, multiline=True))
            return
        if not isinstance(current, Array):
            raise UsageError(
                "tool.uv.constraint-dependencies in pyproject.toml is not an array; llmenv cannot edit it"
            )
        have = [str(x) for x in plain(current)]
        for i in reversed(range(len(have))):
            if have[i] in before and have[i] not in lines:
                del current[i]
        have = [str(x) for x in plain(current)]
        for line in lines:
            if line not in have:
                array_append(current, line, spaced=self.spaced)
        if len(current) == 0 and before and all(h in before for h in have):
            del uv["constraint-dependencies"]

    def _build_settings(self, uv: Table) -> None:
        for key in ("extra-build-dependencies", "extra-build-variables"):
            wanted = dict(self.plan.extra.get(key, {}))
            prev = set(self.prev.get(key, []))
            users: Mapping[str, Any] = uv[key] if isinstance(uv.get(key), (dict, Table)) else {}
            for name in list(wanted):
                if name in users and name not in prev:
                    if plain(users[name]) == wanted[name]:
                        del wanted[name]  # the user's says the same: theirs stays
                        continue
                    raise NoAnswer(
                        f"tool.uv.{key}.{name} is yours and the plan's build of {name} needs {wanted[name]}; "
                        "pyproject.toml unchanged",
                        hint=f"remove tool.uv.{key}.{name}, or make it match",
                    )
            self.managed[key] = sorted(wanted)
            if not wanted and key not in uv:
                continue
            created = key not in uv
            section = _table(uv, key)
            for name in prev - set(wanted):
                _delete(section, name)
            for name, value in wanted.items():
                _set(section, name, value, spaced=self.spaced)
            if len(section) == 0:
                del uv[key]
            elif created and not section.as_string().endswith("\n\n"):
                section.add(tomlkit.nl())  # a blank line before the table that follows a new one

    def _exclusions(self, uv: Table) -> None:
        """``exclude-dependencies``: every distribution of the base the plan reuses (uv never installs them); the
        user's own entries are kept, the ones an earlier run added for a base no longer planned are dropped."""
        from llmenv.base.link import exclusions

        names = list(self.plan.extra.get("exclude-dependencies", []))
        previously = self.prev.get("exclude-dependencies", [])
        have = plain(uv.get("exclude-dependencies", []))
        wanted = exclusions(names, have if isinstance(have, list) else [], previously)
        self.managed["exclude-dependencies"] = names
        if wanted:
            _set(uv, "exclude-dependencies", wanted, spaced=self.spaced)
        elif "exclude-dependencies" in uv:
            _delete(uv, "exclude-dependencies")

    def _dependency_metadata(self, uv: Table) -> None:
        planned = self.plan.extra.get("dependency-metadata", [])
        if planned:  # llmenv.override reads metadata over HTTP: imported only when there is metadata to write
            from llmenv.override import reapply

            entries = [reapply(e, self.options.overrides.get(e["name"])) for e in planned]
        else:
            entries = []
        prev = set(self.prev.get("dependency-metadata", []))
        users = uv.get("dependency-metadata")
        theirs = {str(t.get("name")): plain(t) for t in users} if isinstance(users, AoT) else {}
        kept = []
        for e in entries:
            mine = theirs.get(e["name"])
            if mine is not None and e["name"] not in prev:
                if e["name"] in self.options.overrides or mine.get("version") in (None, e["version"]):
                    if e["name"] in self.options.overrides:
                        kept.append(e)  # `llmenv override` wrote it: the plan's, with the overrides again
                    continue  # the user's own metadata for this release stays
                raise NoAnswer(
                    f"tool.uv.dependency-metadata has your entry for {e['name']} {mine.get('version')}; the plan "
                    f"needs {e['name']} {e['version']}; pyproject.toml unchanged"
                )
            kept.append(e)
        self.managed["dependency-metadata"] = sorted(e["name"] for e in kept)
        _managed_aot(uv, "dependency-metadata", {e["name"]: e for e in kept}, prev, spaced=self.spaced)

    def _conflicts(self, uv: Table, route: Route) -> None:
        """Sets of the project's own extras llmenv adds (one extra per engine): appended to the user's
        ``conflicts``, and only those removed again."""
        wanted = [list(x) for x in self.plan.extra.get("conflicts") or []]
        prev = self.prev.get("conflicts", [])
        whole = prev == ["conflicts"]  # an older record: llmenv owned the whole key
        before = [x for x in prev if isinstance(x, list)]
        current = uv.get("conflicts")
        if current is not None and not isinstance(current, Array):
            raise UsageError("tool.uv.conflicts in pyproject.toml is not an array; llmenv cannot edit it")
        if isinstance(current, Array):
            removed = False
            for i in reversed(range(len(current))):
                v = plain(current[i])
                if (whole or v in before) and v not in wanted:
                    del current[i]
                    removed = True
            if removed and len(current) == 0:
                del uv["conflicts"]
                current = None
        if wanted:
            if current is None:
                _set(uv, "conflicts", wanted, spaced=self.spaced)
            else:
                for x in wanted:
                    if x not in plain(current):
                        array_append(current, x, spaced=self.spaced)
        self.managed["conflicts"] = wanted
        self._scope_conflicts(uv, route)

    def _scope_conflicts(self, uv: Table, route: Route) -> None:
        """The added extra / group conflicts with each of the user's that routes torch elsewhere: appended to a
        set of theirs that holds all of those, else one pair per sibling (declaring the user's own scopes
        conflicting would change their project)."""
        old = self.prev.get("scope")
        scope = route.scope
        new_member = {scope.kind: scope.name} if scope else None
        old_member = {str(old[0]): str(old[1])} if isinstance(old, list) and len(old) == 2 else None
        current = uv.get("conflicts")
        if current is not None and not isinstance(current, Array):
            raise UsageError("tool.uv.conflicts in pyproject.toml is not an array; llmenv cannot edit it")
        if isinstance(current, Array) and old_member and old_member != new_member:
            for i in reversed(range(len(current))):
                group = current[i]
                if isinstance(group, Array) and old_member in plain(group):
                    for j in reversed(range(len(group))):
                        if plain(group[j]) == old_member:
                            del group[j]
                    if len(group) <= 1:
                        del current[i]
            if len(current) == 0:
                del uv["conflicts"]
                current = None
        if scope is None or new_member is None:
            return
        siblings = [{k: n} for k, n in scope.siblings]
        sets = plain(current) if isinstance(current, Array) else []
        whole = next((i for i, g in enumerate(sets) if all(s in g for s in siblings)), None)
        if whole is not None and isinstance(current, Array):
            if new_member not in sets[whole]:
                array_append(current[whole], new_member, spaced=self.spaced)
            return
        pairs = [[s, new_member] for s in siblings]
        if current is None:
            add_key(uv, "conflicts", to_item(pairs, spaced=self.spaced))
            return
        for pair in pairs:
            if not any(all(m in g for m in pair) for g in sets):
                array_append(current, pair, spaced=self.spaced)

    # ---- [tool.llmenv] ------------------------------------------------------------------------------------
    def _record(self, tool: Table) -> None:
        record = dict(self.options.record)
        managed = {k: v for k, v in self.managed.items() if v}
        if managed:
            record["managed"] = managed
        if self.narrowed:
            record["narrowed"] = self.narrowed
        if self.added_sources:
            record["added-sources"] = self.added_sources
        llm = _table(tool, "llmenv")
        _set_table(llm, record, inline=("narrowed", "added-sources", "overrides"), spaced=self.spaced)


def edit(
    doc: TOMLDocument, plan: Plan, options: ProjectOptions, project: ProjectConstraints | None = None
) -> Edit:
    """Apply the plan to ``doc`` with the file as constraints. Returns the edited document (a new object when
    tables had to be added) and the notes (what was narrowed, added or kept). NoAnswer when the plan cannot fit
    the project without dropping its intent (the document is then not to be written)."""
    before = tomlkit.dumps(doc)
    if project is None:
        project = ProjectConstraints.read(
            doc.unwrap(), new_file=options.new_file, build_script=options.build_script
        )
    editor = _Editor(doc, plan, options, project)
    new = editor.run()
    return Edit(doc=_space_new_tables(before, new), notes=tuple(editor.notes))


def render(doc: TOMLDocument, plan: Plan, options: ProjectOptions) -> TOMLDocument:
    """Apply the plan to ``doc``; returns the edited document (a new object when tables had to be added)."""
    return edit(doc, plan, options).doc


# ------------------------------------------------------------------------------------------ shared pieces


def _managed_aot(
    uv: Table,
    key: str,
    wanted: Mapping[str, Mapping[str, Any]],
    previously_managed: Iterable[str],
    *,
    first: str | None = None,
    spaced: bool = True,
) -> None:
    """An array of tables keyed by ``name`` (``[[tool.uv.index]]``, ``[[tool.uv.dependency-metadata]]``): the
    entries llmenv wants are made to hold exactly their values, the ones it wrote before and no longer wants go,
    and every other entry is left alone. A new entry named ``first`` goes before all others (uv searches indexes
    in order); others go after the last entry, and the comments that ended it move below the new one (they head
    whatever table follows the array)."""
    drop = set(previously_managed) - set(wanted)
    parsed = key in uv
    if not parsed:
        if not wanted:
            return
        uv[key] = tomlkit.aot()
    aot = uv[key]
    if not isinstance(aot, AoT):
        raise UsageError(f"tool.uv.{key} in pyproject.toml is not an array of tables; llmenv cannot edit it")
    seen: set[str] = set()
    for i in reversed(range(len(aot))):
        name = str(aot[i].get("name", ""))
        if name in drop:
            del aot[i]
        elif name in wanted:
            seen.add(name)
            _set_table(aot[i], wanted[name], spaced=spaced)
    appended = False
    for name, values in wanted.items():
        if name in seen:
            continue
        t = tomlkit.table()
        for k, v in values.items():
            t[k] = to_item(v, spaced=spaced)
        if name == first and len(aot):
            t.add(tomlkit.nl())  # the blank line between it and the entry that follows
            aot.insert(0, t)
            continue
        tail: list[Any] = []
        if parsed and len(aot):
            tail = detach_trailing(aot[-1])
            if not aot[-1].as_string().endswith("\n\n"):
                aot[-1].add(tomlkit.nl())  # a blank line before the entry appended after it
        aot.append(t)
        if tail:
            attach_trailing(t, tail)
        appended = True
    if appended and not aot[-1].as_string().endswith("\n\n") and not _ends_with_comment(aot[-1]):
        aot[-1].add(tomlkit.nl())  # and one before whatever table follows the array
    if len(aot) == 0:
        del uv[key]


def _ends_with_comment(t: Table) -> bool:
    return t.as_string().rstrip("\n").rsplit("\n", 1)[-1].lstrip().startswith("#")


def write_dependency_metadata(doc: TOMLDocument, entries: Sequence[Mapping[str, Any]]) -> TOMLDocument:
    """Add or replace (by name) ``[[tool.uv.dependency-metadata]]`` entries, leaving every other byte alone."""
    before = tomlkit.dumps(doc)
    doc = _ensure_tables(doc, [("tool", "uv")])
    _managed_aot(
        doc["tool"]["uv"],
        "dependency-metadata",
        {e["name"]: e for e in entries},
        (),
        spaced=spaced_inline_tables(before),
    )
    return _space_new_tables(before, doc)


def write_override(doc: TOMLDocument, entry: Mapping[str, Any], ops: Mapping[str, Any]) -> TOMLDocument:
    """``llmenv override``: the package's ``[[tool.uv.dependency-metadata]]`` entry, and its overrides recorded in
    ``[tool.llmenv.overrides]``. ``llmenv init`` applies them again, last, over an entry it writes itself (the
    metadata of a flash-attn build, a relaxed framework), and leaves any other entry alone."""
    before = tomlkit.dumps(doc)
    spaced = spaced_inline_tables(before)
    doc = _ensure_tables(doc, [("tool", "uv"), ("tool", "llmenv")])
    name = str(entry["name"])
    _managed_aot(doc["tool"]["uv"], "dependency-metadata", {name: entry}, (), spaced=spaced)
    overrides = _table(doc["tool"]["llmenv"], "overrides")
    _set(overrides, name, dict(ops), spaced=spaced)
    return _space_new_tables(before, doc)


def _to_wheelhouse(entries: Mapping[str, Any], index: str, held: frozenset[str]) -> dict[str, Any]:
    """Index and URL sources of packages the wheelhouse holds -> the wheelhouse (path and git sources stay)."""

    def movable(value: Any) -> bool:
        items = value if isinstance(value, list) else [value]
        return all(isinstance(i, Mapping) and ("index" in i or "url" in i) for i in items)

    return {
        name: {"index": index} if canonicalize_name(name) in held and movable(value) else value
        for name, value in entries.items()
    }


def _groups(doc: TOMLDocument, groups: Sequence[str]) -> None:
    if not groups:
        return
    dg = _table(doc, "dependency-groups")
    tool = _table(doc, "tool", super_table=True)
    for g in groups:
        reqs, settings = GROUPS[g]
        if g not in dg:
            dg[g] = to_item(list(reqs))
        for tool_name, conf in settings.items():
            if tool_name not in tool:
                tool[tool_name] = _nested_table(conf)
            else:
                existing = tool[tool_name]
                for k, v in conf.items():
                    if k not in existing:
                        existing[k] = _nested_table(v) if isinstance(v, dict) else v


def _nested_table(conf: Mapping[str, Any]) -> Table:
    t = tomlkit.table()
    for k, v in conf.items():
        t[k] = _nested_table(v) if isinstance(v, dict) else v
    return t


def _concrete(node: Any) -> bool:
    """Does this table hold (or may hold) plain keys where it is? An implicit super-table (``[tool.uv.sources]``
    with no ``[tool.uv]``) does not: keys added to it would make tomlkit write its header in front of the first
    sub-table, under whatever comment heads that sub-table."""
    return not (isinstance(node, Table) and node.is_super_table())


def _ensure_tables(doc: TOMLDocument, paths: Sequence[tuple[str, ...]]) -> TOMLDocument:
    """Make sure each table exists (and can take keys). A table new to an existing ``[tool]`` goes at the end of
    the file (tomlkit would otherwise put it next to the first ``[tool.*]`` table, wherever that is)."""
    missing = []
    for path in paths:
        node: Any = doc
        for i, key in enumerate(path):
            if not isinstance(node, (dict, Table)) or key not in node:
                missing.append(path)
                break
            node = node[key]
            if i == len(path) - 1 and len(path) > 1 and not _concrete(node):
                missing.append(path)
    if not missing:
        return doc
    text = tomlkit.dumps(doc)
    for path in missing:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + f"[{'.'.join(path)}]\n"
    return tomlkit.parse(text)


_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _headers(text: str) -> Counter[str]:
    return Counter(
        m.group(0).split("#")[0].strip() for line in text.splitlines() if (m := _HEADER.match(line))
    )


def _space_new_tables(before: str, doc: TOMLDocument) -> TOMLDocument:
    """A blank line before each table header that llmenv put next to other content (a table it added, or one of
    the user's that now follows a table it added), as a person would write the file. A header the user wrote
    right under a line keeps that layout: only line pairs the original did not have are spaced."""
    text = tomlkit.dumps(doc)
    old = _headers(before)
    tight: set[tuple[str, str]] = set()
    lines_before = before.splitlines()
    for a, b in pairwise(lines_before):
        if _HEADER.match(b):
            tight.add((a.rstrip("\r"), b.rstrip("\r")))
    seen: Counter[str] = Counter()
    out: list[str] = []
    changed = False
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line.rstrip("\r\n"))
        if m:
            h = m.group(0).split("#")[0].strip()
            seen[h] += 1
            prev = out[-1] if out else ""
            pair = (prev.rstrip("\r\n"), line.rstrip("\r\n"))
            # Beyond the count the file had: an added table, or an entry appended to an array of tables.
            new = seen[h] > old[h]
            crowded = prev.strip() and not prev.lstrip().startswith("#")
            if crowded and (new or pair not in tight):
                out.append("\n")
                changed = True
        out.append(line)
    return tomlkit.parse("".join(out)) if changed else doc


def _set_table(
    table: Any, values: Mapping[str, Any], *, inline: Sequence[str] = (), spaced: bool = True, _depth: int = 0
) -> None:
    """Make ``table`` hold exactly ``values`` (dict values become sub-tables, except those under a key named in
    ``inline``, which hold inline tables), touching only what differs."""
    for k, v in values.items():
        if isinstance(v, dict) and k not in inline:
            if k in table and not isinstance(table[k], Table):
                del table[k]
            _set_table(_table(table, k), v, inline=inline, spaced=spaced, _depth=_depth + 1)
        elif isinstance(v, dict):
            if k in table and not isinstance(table[k], Table):
                del table[k]
            sub = _table(table, k)
            for kk, vv in v.items():
                _set(sub, kk, vv, spaced=spaced)
            for kk in list(sub.keys()):
                if kk not in v:
                    del sub[kk]
        else:
            _set(table, k, v, spaced=spaced)
    for k in list(table.keys()):
        if k not in values:
            del table[k]
