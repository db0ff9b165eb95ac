"""The rules: one small function per cause kind, registered in ``RULES`` (most specific first).

A rule reads the parsed log (``llmenv.explain._parse.Log``) and returns the causes of its kind that the log
supports, each with its evidence (the log's own lines or statements). A rule states only what its evidence
says; general knowledge (how uv builds, which torch builds exist) goes into ``reason`` and ``fixes``.
``explain`` runs every rule and drops a cause whose evidence an earlier (more specific) cause already
explained, so the order of ``RULES`` is the order of specificity.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.backend import Backend, CudaVersion
from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    TORCH_FAMILY,
    builds,
    first_torch_with_python,
    newest_torch_for_cuda,
    torch_for_gpu,
    torch_release,
    torch_variant_url,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Dep, Derivation, Log, Term, parse_term, uniq

__all__ = ["KINDS", "RULES", "Rule", "rank"]


@dataclass(frozen=True)
class Rule:
    kind: str
    check: Callable[[Log], list[Cause]]
    doc: str


def _fix_toml(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="pyproject")


def _fix_cmd(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="command")


def _uv_derivations(log: Log) -> list[Derivation]:
    return [d for d in log.derivations if d.tool == "uv"]


def _who(dep: Dep) -> str:
    if dep.src is not None:
        return dep.src.text
    return {"installed": "the environment", "the user": "you"}.get(dep.root or "", dep.root or "your project")


def _version_str(v: Version) -> str:
    return str(v)


def _is_pre(t: Term) -> bool:
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


def _local(t: Term) -> str | None:
    for v in t.versions:
        if v.local:
            return v.local
    return None


def _platform_marker(tag: str) -> str | None:
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


# ------------------------------------------------------------------------------------------------------------
# lockfile


_LOCK_PATTERNS = (
    r"Failed to parse `?uv\.lock`?",
    r"The lockfile at `?uv\.lock`? needs to be updated",
    r"Unable to find lockfile at `?uv\.lock`?",
    r"lockfile .*unsupported (?:lock )?(?:version|schema)",
    r"uv\.lock.* is not (?:valid|supported)",
)


def check_lockfile(log: Log) -> list[Cause]:
    """uv.lock is missing, stale under ``--locked``/``--frozen``, or unreadable by this uv."""
    hits = [ln for ln in log.lines if any(re.search(p, ln) for p in _LOCK_PATTERNS)]
    if not hits:
        return []
    detail = [ln.strip() for ln in log.lines if re.search(r"Caused by|cause:|inconsistent version|unknown field|unsupported", ln)]
    evidence = uniq([h.strip() for h in hits] + detail)
    text = " ".join(evidence)
    fixes: list[Fix] = []
    if "needs to be updated" in text:
        summary = "uv.lock no longer matches pyproject.toml, and --locked forbids updating it"
        reason = ("`--locked` asserts that uv.lock is up to date; pyproject.toml changed since the lock was "
                  "written (or was edited by hand), so uv refuses to proceed.")
        fixes.append(_fix_cmd("Re-lock, review the diff of uv.lock and commit it", "uv lock"))
    elif "Unable to find lockfile" in text:
        summary = "there is no uv.lock, and --frozen/--locked needs one"
        reason = "`--frozen` and `--locked` install exactly what uv.lock says; without uv.lock there is nothing to install."
        fixes.append(_fix_cmd("Create the lockfile", "uv lock"))
    else:
        summary = "uv could not read uv.lock"
        reason = ("The lockfile on disk does not parse with this uv: it was written by a different uv version, "
                  "edited by hand, or hit a uv bug.")
        local = re.search(r"wheel `([^`]*\+[^`]*)` with inconsistent version", text)
        if local:
            reason += (" Here a wheel's file name carries a local version label (`+...`) that differs from the "
                       "version recorded for the package; uv releases of March 2025 rejected such wheels by "
                       "mistake (astral-sh/uv#12282, fixed by astral-sh/uv#12285).")
            fixes.append(_fix_cmd("Upgrade uv, then re-lock", "uv self update && uv lock"))
        fixes.append(_fix_cmd("Write the lockfile again with this uv", "rm uv.lock && uv lock"))
        if not local:
            fixes.append(_fix_cmd("If uv.lock came from a newer uv, upgrade this one", "uv self update"))
    return [Cause(kind="lockfile", packages=(), summary=summary, chain=evidence, reason=reason,
                  fixes=tuple(fixes), evidence=evidence)]


# ------------------------------------------------------------------------------------------------------------
# uv-version and config

_RECENT_UV_SETTINGS = {
    "extra-build-dependencies", "extra-build-variables", "required-environments", "environments", "conflicts",
    "dependency-metadata", "index", "build-constraint-dependencies", "torch-backend", "sources", "default-groups",
    "build-backend", "override-dependencies", "constraint-dependencies", "exclude-newer-package", "required-version",
}


def _too_new_for_uv(line: str, field: str) -> bool:
    """A uv setting the running uv does not list among the fields it expects."""
    expected = set(re.findall(r"`([A-Za-z0-9_-]+)`", line.split("expected", 1)[1])) if "expected" in line else set()
    return field in _RECENT_UV_SETTINGS and field not in expected


def _required_version_fixes(want: str, have: str) -> tuple[Fix, ...]:
    """Upgrade when a newer uv would do; when the running uv is newer than the range allows (an exact pin),
    install the pinned one or loosen the pin."""
    try:
        spec, running = SpecifierSet(want), Version(have)
    except (InvalidSpecifier, InvalidVersion):
        return (_fix_cmd("Install a uv that matches required-version", f"pip install \"uv{want}\""),)
    bounds = [Version(c.version) for c in spec if c.operator in ("==", "===", "<", "<=", "~=") and _is_version(c.version)]
    if bounds and running > max(bounds):
        floor = min(bounds)
        return (
            _fix_toml("Loosen the pin to a floor, so newer uv versions are accepted",
                      toml.tool_uv(required_version=f">={floor}")),
            _fix_cmd("Or install the uv the project pins (uv's own suggestion)", f"uv self update {floor}"),
        )
    return (_fix_cmd("Upgrade uv", "uv self update"),
            _fix_cmd("Or, when uv came from pip", f"pip install -U \"uv{want}\""))


def check_uv_version(log: Log) -> list[Cause]:
    """The running uv is older than the project needs: ``required-version`` or a setting it does not know."""
    req = log.first(r"Required uv version `(?P<want>[^`]+)` does not match the running version `(?P<have>[^`]+)`")
    if req:
        want, have = req.group("want"), req.group("have")
        ev: tuple[str, ...] = (req.string.strip(),)
        return [Cause(
            kind="uv-version", packages=("uv",),
            summary=f"the project requires uv {want}, but uv {have} is running",
            chain=ev,
            reason="`[tool.uv] required-version` pins the uv versions this project works with.",
            fixes=_required_version_fixes(want, have),
            evidence=ev,
        )]
    unk = log.first(r"unknown field `(?P<field>[A-Za-z0-9_-]+)`")
    if unk and _too_new_for_uv(unk.string, unk.group("field")) and re.search(r"tool\.uv|pyproject\.toml|uv\.toml", log.text):
        field = unk.group("field")
        ev2 = uniq([unk.string.strip(), *log.lines_matching(r"Failed to parse|TOML parse error")])
        return [Cause(
            kind="uv-version", packages=("uv",) if re.search(r"\buv\b", log.text) else (),
            summary=f"this uv does not know the setting `{field}`",
            chain=ev2,
            reason=(f"`{field}` is a valid uv setting, added in a newer uv than the one running; older uv rejects "
                    "settings it does not know."),
            fixes=(_fix_cmd("Upgrade uv", "uv self update"),
                   _fix_cmd("Or, when uv came from pip", "pip install -U uv")),
            evidence=ev2,
        )]
    return []


def check_config(log: Log) -> list[Cause]:
    """pyproject.toml / uv.toml has a setting uv rejects (a typo, a wrong type)."""
    parse_fail = log.first(r"Failed to parse[: ]+`?(?P<file>[^`\s]*(?:pyproject\.toml|uv\.toml))`?")
    if not parse_fail:
        setup_cfg = log.first(r"configuration error: `?(?P<field>(?:project|tool)\.[A-Za-z0-9_.-]+)`? (?P<what>must .+|is not .+|cannot .+)$")
        if not setup_cfg:
            return []
        ev0 = uniq([setup_cfg.string.strip(), *(b.line for b in log.builds)])
        return [Cause(
            kind="config", packages=(), summary=f"pyproject.toml is invalid: {setup_cfg.group('field')} {setup_cfg.group('what')}",
            chain=ev0,
            reason=("The build backend validates pyproject.toml against the packaging standards and rejects it; a "
                    "table or key in the wrong place is the usual cause (a key under the wrong [section])."),
            fixes=(_fix_cmd(f"Fix `{setup_cfg.group('field')}` in pyproject.toml (check which table it sits in), "
                            "then check the file", "llmenv check pyproject.toml"),),
            evidence=ev0,
        )]
    ev = uniq([parse_fail.string.strip(),
               *log.lines_matching(r"^\s*(?:TOML parse error|unknown field|invalid type|missing field|unexpected)")])
    unk = log.first(r"unknown field `(?P<field>[A-Za-z0-9_-]+)`, expected (?:one of )?(?P<expected>.+)$")
    if unk and _too_new_for_uv(unk.string, unk.group("field")):
        return []  # uv-version explains it
    fixes: list[Fix] = []
    summary = f"uv cannot read {parse_fail.group('file')}"
    if unk:
        from llmenv._suggest import closest

        field = unk.group("field")
        expected = re.findall(r"`([A-Za-z0-9_-]+)`", unk.group("expected"))
        guess = closest(field, expected, cutoff=0.6)
        summary = f"{parse_fail.group('file')} has an unknown setting `{field}`"
        if guess:
            fixes.append(_fix_toml(f"Rename the key `{field}` to `{guess}` (likely a typo)",
                                   f"# rename the key `{field}` to `{guess}`"))
    reason = "uv validates its settings strictly; one unknown or mistyped key makes the whole file unreadable."
    fixes.append(_fix_cmd("Check the file", "llmenv check pyproject.toml"))
    return [Cause(kind="config", packages=(), summary=summary, chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


# ------------------------------------------------------------------------------------------------------------
# no-static-metadata


def check_no_static_metadata(log: Log) -> list[Cause]:
    """``match-runtime = true`` needs the package's metadata without building it; the package has none."""
    m = log.first(r"declared with `match-runtime\s*=\s*true`, but `(?P<pkg>[^`]+)` does not declare static metadata")
    if not m:
        # the message wraps mid-phrase in old terminal output
        flat = re.sub(r"\s+", " ", log.text)
        m = re.search(r"declared with `match-runtime ?= ?true`, but `(?P<pkg>[^`]+)` does not declare static metadata", flat)
        if not m:
            return []
    pkg = canonicalize_name(m.group("pkg"))
    dep = re.search(r"Extra build requirement `(?P<dep>[^`]+)`", log.text)
    dep_name = dep.group("dep") if dep else "torch"
    build = next((b for b in log.builds if b.name == pkg), None)
    version = build.version if build else None
    ev = uniq(log.lines_matching(r"match-runtime|static metadata|runtime-matching") + ([build.line] if build else []))
    info = builds().build_with_torch.get(pkg)
    requires = list(info.requires_dist) if info and info.requires_dist else [dep_name]
    label = f"{pkg}=={version}" if version else pkg
    fixes = [
        _fix_toml(
            f"Give uv {pkg}'s metadata statically, so it can match the build's {dep_name} to the runtime's"
            + ("" if info and info.requires_dist else f" (copy the rest of {pkg}'s install_requires into requires-dist)"),
            toml.dependency_metadata(pkg, version, requires),
        ),
        _fix_cmd("If this project locked fine with an older uv: uv 0.11.0 raised this error even for extras you "
                 "did not select (astral-sh/uv#18690, fixed since); upgrade uv", "uv self update"),
    ]
    return [Cause(
        kind="no-static-metadata", packages=uniq([pkg, dep_name]),
        summary=f"{label} has no static metadata, so uv cannot match its build-time {dep_name} to the runtime one",
        chain=ev,
        reason=(f"`match-runtime = true` makes uv build {pkg} against the {dep_name} version in your lock, which "
                f"means uv must know {pkg}'s dependencies before building it. {pkg}'s sdist only declares them "
                "by running setup.py, so uv refuses."),
        fixes=tuple(fixes), evidence=ev,
    )]


# ------------------------------------------------------------------------------------------------------------
# resolution: workspace extras, extra conflicts, pins


def _contested(d: Derivation) -> list[tuple[str, list[Dep]]]:
    """Packages that two different requirers constrain differently, in order of first mention."""
    by: dict[str, list[Dep]] = defaultdict(list)
    for dep in d.deps:
        by[dep.dst.name].append(dep)
    out = []
    for name, deps in by.items():
        srcs = {(dep.src.label if dep.src else dep.root) for dep in deps}
        specs = {dep.dst.spec for dep in deps}
        if len(srcs) >= 2 and len(specs) >= 2:
            out.append((name, deps))
    return out


def _states(d: Dep) -> str:
    if d.root == "installed":
        return f"the environment has {d.dst.display} {d.dst.pinned or d.dst.spec} installed"
    if d.root in ("you", "the user"):
        return f"you require {d.dst.text}"
    return f"{_who(d)} requires {d.dst.text}"


def _pin_chain(deps: Sequence[Dep]) -> list[str]:
    seen: dict[str, None] = {}
    for d in sorted(deps, key=lambda d: d.src is None):
        seen.setdefault(_states(d), None)
    return list(seen)


def _extra_pairs(d: Derivation) -> list[tuple[Term, Term]]:
    """Pairs of extras (or groups) of one package that the derivation concludes are incompatible."""
    pairs = []
    for a, b in d.incompatible:
        ta, tb = parse_term(a), parse_term(b)
        if ta is None or tb is None or ta.name != tb.name:
            continue
        if (ta.extras or ta.group) and (tb.extras or tb.group) and (ta.extras, ta.group) != (tb.extras, tb.group):
            pairs.append((ta, tb))
    if not pairs:
        # "Because p[a] depends on x==1 and p[b] depends on x==2 ..." without an explicit conclusion
        for _, deps in _contested(d):
            srcs = [dep.src for dep in deps if dep.src is not None and (dep.src.extras or dep.src.group)]
            for i, s in enumerate(srcs):
                for t in srcs[i + 1 :]:
                    if s.name == t.name and (s.extras, s.group) != (t.extras, t.group):
                        pairs.append((s, t))
    return pairs


def _conflict_item(t: Term, project: bool) -> dict[str, str]:
    item: dict[str, str] = {} if project else {"package": t.name}
    if t.group:
        item["group"] = t.group
    else:
        item["extra"] = t.extras[0]
    return item


def _root_of(d: Derivation, t: Term) -> str | None:
    for root, r in d.requires:
        if r.name == t.name and (r.extras, r.group) == (t.extras, t.group):
            return root
    return None


def check_workspace_extras(log: Log) -> list[Cause]:
    """A workspace member's extra the user did not ask for brings pins that clash (uv locks every member's
    extras together)."""
    out = []
    for d in _uv_derivations(log):
        members = [t for root, t in d.requires if root == "your workspace"]
        with_extras = [t for t in members if t.extras or t.group]
        if not with_extras:
            continue
        involved = {x for pair in d.incompatible for x in pair}
        for _, deps in _contested(d):
            involved |= {dep.src.label for dep in deps if dep.src}
        culprits = [t for t in with_extras if t.label in involved or t.text in involved]
        if not culprits:
            continue
        contested = _contested(d)
        chain = _pin_chain(contested[0][1]) if contested else list(d.statements)
        member = culprits[0]
        others = [t.label for t in members if t.name != member.name]
        extras = ", ".join(t.label for t in culprits)
        summary = (f"the workspace member {member.display} brings its extra {extras} into the lock, and its pins "
                   f"clash with " + (", ".join(others) if others else "the rest of the workspace"))
        if contested:
            pins = "; ".join(_pin_chain(contested[0][1]))
            summary += f" ({pins})"
        fixes = [
            _fix_toml(
                f"Install {member.display} as an editable path source instead of a workspace member (then uv "
                f"resolves only the extras you request); also remove {member.display!r} from "
                "[tool.uv.workspace] members",
                toml.sources({member.display: {"path": f"./{member.display}", "editable": True}}),
            ),
        ]
        same_member = [t for t in culprits if t.name == member.name]
        if len(same_member) >= 2:
            fixes.append(_fix_toml(
                f"Or declare {member.display}'s extras as conflicting, so uv locks them in separate forks",
                toml.conflicts([[_conflict_item(t, project=False) for t in same_member[:2]]]),
            ))
        ev = d.statements
        out.append(Cause(
            kind="workspace-extras", packages=uniq([member.name] + ([contested[0][0]] if contested else [])),
            summary=summary, chain=tuple(chain),
            reason=("In a uv workspace, `uv lock` resolves every member together with all of its optional "
                    "dependencies, whether or not you install them. A member's extra you never use (an inference "
                    "engine you don't run, say) still has to agree with your pins."),
            fixes=tuple(fixes), evidence=ev,
        ))
    return out


def check_extra_conflict(log: Log) -> list[Cause]:
    """Two extras (or dependency groups) of one project pin incompatible versions and are not declared as
    conflicting, so uv's universal lock tries to satisfy both at once."""
    out = []
    for d in _uv_derivations(log):
        pairs = _extra_pairs(d)
        if not pairs:
            continue
        a, b = pairs[0]
        root = _root_of(d, a) or _root_of(d, b)
        project = root in ("your project", "your workspace")
        contested = _contested(d)
        chain = _pin_chain(contested[0][1]) if contested else list(d.statements)
        pkgs = uniq([a.name] + [name for name, _ in contested[:1]])
        summary = f"the extras {a.label} and {b.label} pin incompatible versions"
        if contested:
            summary += f" of {contested[0][0]}"
        fixes: list[Fix] = []
        if root == "you":
            reason = (f"You asked for both {a.label} and {b.label}; their requirements cannot be satisfied "
                      "together, so they cannot be installed into one environment.")
            fixes.append(_fix_cmd(f"Install one of them per environment, e.g. only {a.label}",
                                  f"uv pip install -e \".[{a.extras[0] if a.extras else ''}]\""))
        else:
            reason = ("uv locks all extras and dependency groups of a project together (a universal lock), "
                      "unless they are declared as conflicting; then it locks them in separate forks and refuses "
                      "to install them together.")
            item_project = project
            fixes.append(_fix_toml(
                f"Declare {a.label} and {b.label} as conflicting (then install one at a time, e.g. "
                f"`uv sync --extra {a.extras[0] if a.extras else a.group}`)",
                toml.conflicts([[_conflict_item(a, item_project), _conflict_item(b, item_project)]]),
            ))
        if contested:
            fixes.append(_fix_cmd(
                "Or find versions that fit together (llmenv's planner)",
                "llmenv plan " + " ".join(uniq([*(d.src.name for d in contested[0][1] if d.src and d.src.name != a.name),
                                                contested[0][0]])),
            ))
        out.append(Cause(kind="extra-conflict", packages=pkgs, summary=summary, chain=tuple(chain), reason=reason,
                         fixes=tuple(fixes), evidence=d.statements))
    return out


def _pin_fixes(name: str, deps: Sequence[Dep], log: Log) -> list[Fix]:
    """Ranked fixes for a package two requirers pin differently."""
    b = builds()
    fixes: list[Fix] = []
    user = [d for d in deps if d.src is None]
    pkg_deps = [d for d in deps if d.src is not None]
    # 1. the user's own pin against a package's pin: follow the package
    if user and pkg_deps:
        theirs = pkg_deps[0]
        want = f"{name}{theirs.dst.spec}"
        if log.tool == "pip" or user[0].root in ("you", "the user"):
            fixes.append(_fix_cmd(f"Require the {name} that {theirs.src.text if theirs.src else ''} needs",
                                  f"uv pip install \"{theirs.src.text if theirs.src else ''}\" \"{want}\""))
        else:
            fixes.append(_fix_cmd(f"Require the {name} that {theirs.src.text if theirs.src else ''} needs",
                                  f"uv add \"{want}\""))
    # 2. a framework's hard pin (pure-Python pins can be relaxed; binary ones cannot)
    exact = [d for d in pkg_deps if d.dst.pinned is not None]
    loose = [d for d in deps if d.dst.pinned is None and d.dst.spec]
    installed = any(d.root == "installed" for d in deps)
    binary = any(x.src is not None and x.src.name in b.torch_abi_pinned for x in deps) and name in TORCH_FAMILY
    for d in ([] if installed else exact):
        assert d.src is not None
        if d.src.name in b.torch_abi_pinned and name in TORCH_FAMILY:
            continue
        if binary:
            break  # the other side is compiled for its torch: relaxing this pin would not make them fit
        target = loose[0].dst.spec if loose else next((x.dst.spec for x in deps if x is not d and x.dst.spec), "")
        if target:
            src = f"{d.src.display}=={d.src.pinned}" if d.src.pinned else d.src.display
            fixes.append(_fix_cmd(
                f"Override {d.src.display}'s pin {d.dst.text} (if {d.src.display} works with {name}{target}; "
                f"what it pulls in may pin {name} too)",
                f"llmenv override {src} --set \"{name}{target}\"",
            ))
            break
    # 3. a binary package built for another torch: pick its release built for yours
    for d in pkg_deps:
        assert d.src is not None
        if d.src.name in b.torch_abi_pinned and name in TORCH_FAMILY and d.dst.spec:
            other = next((x for x in deps if x.dst.spec and x.dst.spec != d.dst.spec and x.dst.pinned is not None), None)
            if other is not None:
                fixes.append(_fix_cmd(
                    f"Find the {d.src.display} release built for {name}{other.dst.spec} ({d.src.display}'s wheels "
                    f"are compiled against one torch, so its pin cannot be overridden)",
                    f"printf '{d.src.name}\\n{name}{other.dst.spec}\\n' | uv pip compile --no-header -",
                ))
                break
    names = uniq([d.src.name for d in pkg_deps if d.src] + [name])
    fixes.append(_fix_cmd("Let llmenv's planner pick versions that fit together on your machine",
                          "llmenv plan " + " ".join(names)))
    return fixes


def _disjoint(a: Term, b: Term) -> bool:
    """Can no version satisfy both requirements? Exact for pins; for two ranges, judged on the versions the
    ranges name (enough to tell ``>=1.10`` from ``==2.4.0`` apart)."""
    try:
        sa, sb = SpecifierSet(a.spec), SpecifierSet(b.spec)
    except InvalidSpecifier:
        return a.spec != b.spec
    if not a.spec or not b.spec:
        return False
    for pinned, other in ((a.pinned, sb), (b.pinned, sa)):
        if pinned is not None:
            return not other.contains(pinned, prereleases=True)
    return not any(sa.contains(v, prereleases=True) and sb.contains(v, prereleases=True)
                   for v in (*a.versions, *b.versions))


def _clash(deps: Sequence[Dep]) -> tuple[Dep, Dep] | None:
    """The two requirements that cannot hold together: a package's requirement first, then yours (or what is
    installed) when it is one of them. None when every pair overlaps (the resolver's reason lies elsewhere)."""
    pkgs = [x for x in deps if x.src is not None]
    roots = [x for x in deps if x.src is None]
    pkgs.sort(key=lambda x: x.dst.pinned is None)  # an exact pin (an engine's) before a range
    pairs = [(x, y) for y in roots for x in pkgs] + [(x, y) for i, x in enumerate(pkgs) for y in pkgs[i + 1 :]]
    for x, y in pairs:
        if (x.src.label if x.src else x.root) != (y.src.label if y.src else y.root) and _disjoint(x.dst, y.dst):
            return x, y
    return None


def _rank_contested(contested: list[tuple[str, list[Dep]]]) -> list[tuple[str, list[Dep]]]:
    """Packages whose requirements really clash first, and among them the torch family: its pins are the ones
    the rest of a GPU stack is built around (the others often follow once torch is settled)."""
    return sorted(contested, key=lambda c: (_clash(c[1]) is None, c[0] not in TORCH_FAMILY))


def check_pin_conflict(log: Log) -> list[Cause]:
    """Two requirements pin one package to versions that do not overlap (an engine's exact torch pin, a
    framework's exact transformers pin, your own pin)."""
    out = []
    for d in log.derivations:
        contested = _rank_contested(_contested(d))
        if not contested:
            continue
        name, deps = contested[0]
        clash = _clash(deps)
        if clash is not None:
            first, second = clash
            deps = [first, second, *(x for x in deps if x is not first and x is not second)]
            sides = [first, second]
        else:
            by_spec: dict[str, Dep] = {}
            for x in sorted(deps, key=lambda x: x.src is None):
                by_spec.setdefault(x.dst.spec, x)
            sides = list(by_spec.values())
        chain = _pin_chain(deps) if clash is None else uniq([_states(sides[0]), _states(sides[-1]), *_pin_chain(deps)])
        summary = f"{_states(sides[0])}, but {_states(sides[-1])}"
        rel = torch_release(next((x.dst.pinned for x in deps if x.dst.pinned), None)) if name == "torch" else None
        reason = (f"No version of {name} satisfies all of these at once, so the resolver gives up.")
        if any(x.src is not None and x.src.name in builds().torch_abi_pinned for x in deps) and name in TORCH_FAMILY:
            reason += (" A package that ships compiled code for one torch release pins torch exactly; only its "
                       "release built for your torch can go together with it.")
        if rel is not None:
            reason += (f" (torch {rel.version} is built for " + ", ".join(sorted(rel.variants)) +
                       f"; Python {rel.python[0]}–{rel.python[-1]}.)")
        involved = sides if clash is not None else deps
        out.append(Cause(
            kind="pin-conflict", packages=uniq([name] + [x.src.name for x in involved if x.src]),
            summary=summary, chain=tuple(chain) + tuple(s for s in d.statements if s not in chain)[:0],
            reason=reason, fixes=tuple(_pin_fixes(name, deps, log)), evidence=d.statements,
        ))
    return out


# ------------------------------------------------------------------------------------------------------------
# prerelease, local-version, python-version


def check_prerelease(log: Log) -> list[Cause]:
    """A requirement names a pre-release (rc, beta, dev) that the resolver would not select."""
    terms: list[Term] = []
    ev: list[str] = []
    for d in _uv_derivations(log):
        pre = [t for t in d.no_version if _is_pre(t) and not _local(t)]
        if pre:
            terms += pre
            ev += list(d.statements)
    hint = log.hint(r"`(?P<pkg>[^`]+)` was requested with a pre-release marker(?: \(e\.g\., (?P<eg>[^)]+)\))?|Pre-releases are available for `(?P<pkg2>[^`]+)`|pre-releases weren't enabled|Only pre-releases of `(?P<pkg3>[^`]+)`")
    if hint and hint.group("eg"):
        eg = parse_term(hint.group("eg").replace(" ", ""))
        if eg is not None and not _is_pre(eg):
            hint = None  # the "marker" is only the upper bound uv derived from a `==X.Y.*` range
    if hint:
        pkg = hint.group("pkg") or hint.group("pkg2") or hint.group("pkg3")
        if pkg and not any(t.name == canonicalize_name(pkg) for t in terms):
            t = parse_term(pkg)
            if t:
                terms.append(t)
        ev.append(next(h for h in log.hints if hint.group(0) in h))
    if not terms:
        return []
    t = terms[0]
    req = t.text
    who = next((dep for d in log.derivations for dep in d.deps if dep.dst.name == t.name), None)
    chain = [f"{_who(who)} requires {who.dst.text}"] if who else []
    summary = f"{req} is a pre-release, and the resolver did not select it"
    if who and who.src is not None:
        summary += f" for {who.src.text}"
    reason = ("By default uv selects a pre-release only when a requirement you declare yourself names one "
              "(`if-necessary-or-explicit`); older uv versions did not take pre-releases for transitive "
              "requirements like this one. If the pre-release is missing from the index you use, allowing "
              "pre-releases will not help: check that the index carries it.")
    fixes = [
        _fix_toml("Allow pre-releases for this project", toml.tool_uv(prerelease="allow")),
        _fix_cmd("Or, with uv pip", "uv pip install --prerelease=allow ..."),
        _fix_cmd("Or name the pre-release yourself, so the default policy accepts it", f"uv add \"{req}\""),
    ]
    return [Cause(kind="prerelease", packages=uniq(x.name for x in terms), summary=summary, chain=tuple(chain),
                  reason=reason, fixes=tuple(fixes), evidence=uniq(ev))]


def _torch_index_fixes(name: str, version: Version, local: str) -> list[Fix]:
    """Route a torch-family package to the PyTorch index of its variant instead of pinning ``+local``."""
    fixes: list[Fix] = []
    public = version.public
    tag = local.lower()
    try:
        backend = Backend.parse(tag)
    except Exception:
        backend = None
    rel = torch_release(public) if name == "torch" else None
    # llmenv's torch table lists the CUDA variants; a cpu or rocm build it does not list may still exist
    known = rel is not None and (tag in rel.variants or backend is None or backend.kind != "cuda")
    idx_name = f"pytorch-{tag}"
    if backend is not None and (rel is None or known):
        fixes.append(_fix_toml(
            f"Take {name} {public} from PyTorch's {tag} index and drop the +{tag} label from the requirement "
            f"(PyPI never carries local versions): require \"{name}=={public}\"",
            toml.index(idx_name, torch_variant_url(tag)) + "\n\n"
            + toml.sources({name: [{"index": idx_name}]}),
        ))
    if rel is not None and not known:
        fixes.append(_fix_cmd(
            f"torch {public} has no {tag} build; it exists for " + ", ".join(sorted(rel.variants))
            + " — let llmenv pick the variant for your driver",
            f"llmenv plan torch=={public}",
        ))
    return fixes


def check_local_version(log: Log) -> list[Cause]:
    """A requirement pins a local version label (``+cu121``, ``+cpu``) that the indexes consulted don't carry."""
    found: list[tuple[Term, str]] = []
    for d in _uv_derivations(log):
        for t in d.no_version:
            if _local(t):
                found.append((t, d.statements[0] if d.statements else t.text))
    for m in log.missing:
        if _local(m.term):
            found.append((m.term, m.line))
    if not found:
        return []
    t, line = found[0]
    local = _local(t) or ""
    ver = next(v for v in t.versions if v.local)
    summary = f"no index consulted has {t.text}"
    reason = (f"`+{local}` is a local version label: such builds are published only on the index of that "
              "build (PyTorch's per-variant indexes, for torch), never on PyPI. The resolver looked where "
              f"{t.display} {ver.public}+{local} does not exist.")
    fixes = _torch_index_fixes(t.name, ver, local) if t.name in TORCH_FAMILY else []
    pinner = next((dep.src for d in log.derivations for dep in d.deps if dep.dst.name == t.name and dep.src), None)
    if not fixes and pinner is not None:
        fixes.append(_fix_cmd(f"{pinner.text} pins this exact build: add the index that publishes it (for builds made "
                              "by PyTorch, its per-CUDA index)",
                              f"uv pip install \"{pinner.text}\" --extra-index-url <URL of the index with {t.text}>"))
    elif not fixes:
        fixes.append(_fix_cmd(f"Require {t.display}=={ver.public} and add the index that publishes +{local} builds",
                              f"uv add \"{t.display}=={ver.public}\" --index <URL of the index with +{local} builds>"))
    ev = uniq([line] + [x[1] for x in found[1:]])
    return [Cause(kind="local-version", packages=uniq(x[0].name for x in found), summary=summary,
                  chain=(line,), reason=reason, fixes=tuple(fixes), evidence=ev)]


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
        avail = sorted({Version(v).public for v in m.available if _is_version(v)}, key=Version)
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


def _is_version(v: str) -> bool:
    try:
        Version(v)
    except InvalidVersion:
        return False
    return True


def _python_cause(t: Term, have: str, supported: Sequence[str] | None, ev: list[str], summary: str,
                  reason: str) -> Cause:
    fixes: list[Fix] = []
    if supported:
        fixes.append(_fix_cmd(f"Use a Python that torch {t.pinned} supports", f"uv python pin {supported[-1]}"))
    first = first_torch_with_python(have)
    if first is not None:
        fixes.append(_fix_cmd(f"Or move to a torch that has wheels for Python {have} (from {first.version})",
                              f"uv add \"torch>={first.version}\""))
    if not fixes:
        fixes.append(_fix_cmd("Use a maintained Python, then let llmenv pick the torch for it", "llmenv plan torch"))
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
    for d in _uv_derivations(log):
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
            fixes.append(_fix_toml("Narrow the project's supported Python versions",
                                   f"[project]\nrequires-python = {toml.q(like.replace(' ', ''))}"))
    else:
        summary = f"the Python in use ({have or 'this interpreter'}) is outside what {label} supports ({need})"
        reason = "Every version of the requirement that could be used declares a Requires-Python that excludes this Python."
    if need and which == "current" and not hint:
        pick = _python_in(need)
        if pick:
            fixes.append(_fix_cmd(f"Use a Python that {label} supports", f"uv python pin {pick}"))
    if pkg and pkg.name == "torch" and have and which == "current" and not hint:
        first = first_torch_with_python(_major_minor(have) or "")
        if first:
            fixes.append(_fix_cmd(f"Or move to a torch that supports Python {_major_minor(have)} (from {first.version})",
                                  f"uv add \"torch>={first.version}\""))
    return [Cause(kind="python-version", packages=(pkg.name,) if pkg else (), summary=summary,
                  chain=tuple(uniq(ev))[:4], reason=reason, fixes=tuple(fixes), evidence=uniq(ev))]


def _lower_bound(spec: str) -> str | None:
    """``>=3.11`` (or ``>=3.9,<3.13``) -> a requires-python that keeps only what the dependency supports."""
    m = re.search(r">=\s*(\d+\.\d+)", spec)
    return f">={m.group(1)}" if m else None


def _major_minor(v: str) -> str | None:
    m = re.search(r"(\d+)\.(\d+)", v)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _python_in(spec: str) -> str | None:
    """The newest of 3.9..3.14 inside a Requires-Python spec (e.g. ``>=3.9,<3.13`` -> 3.12)."""
    try:
        s = SpecifierSet(spec.replace(" ", "").rstrip("."))
    except Exception:
        return None
    for minor in range(14, 8, -1):
        if Version(f"3.{minor}.0") in s or Version(f"3.{minor}.99") in s:
            return f"3.{minor}"
    return None


# ------------------------------------------------------------------------------------------------------------
# no-wheel-for-platform


_DIST_PLATFORM = re.compile(
    r"Distribution `(?P<dist>[^`@ ]+)(?: @ (?P<src>[^`]+))?` can't be installed because (?:it doesn't have a source distribution or wheel for the current platform|the binary distribution is incompatible with the current platform)"
)
_HINT_PLATFORMS = re.compile(
    r"You're on (?P<os>[^(]+)\(`(?P<tag>[^`]+)`\), but `(?P<pkg>[^`]+)` \(v(?P<ver>[^)]+)\) only has wheels for the following platforms?: (?P<have>.+?)(?:; consider adding (?:\"(?P<marker>[^\"]+)\"|your platform) to `tool\.uv\.required-environments`.*)?$"
)
_HINT_PY = re.compile(
    r"You're using (?P<impl>\S+) (?P<py>[\d.]+) \(`(?P<tag>[^`]+)`\), but `(?P<pkg>[^`]+)` \(v(?P<ver>[^)]+)\) only has wheels with the following Python (?:ABI|implementation) tags?: (?P<have>.+)$"
)


def check_no_wheel_for_platform(log: Log) -> list[Cause]:
    """The chosen version has no wheel (and no sdist) for this platform or Python."""
    dist = log.first(_DIST_PLATFORM)
    hp = log.hint(_HINT_PLATFORMS.pattern)
    hy = log.hint(_HINT_PY.pattern)
    lock_time = [(t, what, d) for d in _uv_derivations(log) for t, what in d.no_wheels]
    pip_wheel = log.first(r"(?P<whl>\S+\.whl) is not a supported wheel on this platform")
    url_wheel = log.first(r"A URL dependency is incompatible with the current platform: (?P<whl>\S+\.whl)")
    pip_none = [m for m in log.missing if not m.available and not _local(m.term)]
    if not (dist or lock_time or pip_wheel or url_wheel or pip_none):
        return []
    ev: list[str] = []
    fixes: list[Fix] = []
    name: str | None = None
    summary = ""
    reason = ("uv resolves one version for every platform (a universal lock), then installs the wheel that "
              "matches this machine. Binary packages publish wheels per platform and Python; when the chosen "
              "version has none for this machine, and no source distribution, it cannot be installed here.")
    t: Term | None = None
    if dist:
        ev.append(dist.string.strip())
        t = parse_term(dist.group("dist"))
        name = t.name if t else dist.group("dist")
        summary = f"{dist.group('dist')} has no wheel (and no source distribution) for this platform"
        src = re.sub(r"^(?:registry\+)?(https?):/+", r"\1://", dist.group("src") or "")
        if hp:
            ev.append(next(h for h in log.hints if hp.group(0) in h))
            summary = (f"{hp.group('pkg')} {hp.group('ver')} has wheels only for {hp.group('have').strip()}, "
                       f"not for this machine ({hp.group('tag')})")
            marker = hp.group("marker") or _platform_marker(hp.group("tag"))
            if marker:
                fixes.append(_fix_toml(
                    "Make the lock pick a version that has wheels for this platform (uv's own suggestion)",
                    toml.tool_uv(**{"required_environments": [marker]})))
            have_markers = [m for m in (_platform_marker(x) for x in re.findall(r"`([^`]+)`", hp.group("have"))) if m]
            url = src
            if url.startswith(("http://", "https://")) and "download.pytorch.org" in url and have_markers:
                tag = url.rstrip("/").rsplit("/", 1)[-1]
                idx = f"pytorch-{tag}" if tag != "whl" else "pytorch"
                marker_or = " or ".join(f"({m})" for m in uniq(have_markers)) if len(uniq(have_markers)) > 1 else have_markers[0]
                fixes.insert(0, _fix_toml(
                    f"Take {name} from {url} only where it has wheels; elsewhere the plain version from PyPI is "
                    f"used (depend on {name} without a +local label)",
                    toml.index(idx, url) + "\n\n" + toml.sources({name or "": [{"index": idx, "marker": marker_or}]}),
                ))
        if hy:
            ev.append(next(h for h in log.hints if hy.group(0) in h))
            summary = (f"{hy.group('pkg')} {hy.group('ver')} has no wheel for {hy.group('impl')} {hy.group('py')} "
                       f"(only {hy.group('have').strip()})")
            if canonicalize_name(hy.group("pkg")) == "torch":
                first = first_torch_with_python(_major_minor(hy.group("py")) or "")
                if first:
                    fixes.append(_fix_cmd(f"Use a torch that has wheels for Python {_major_minor(hy.group('py'))}",
                                          f"uv add \"torch>={first.version}\""))
            older = _older_python(hy.group("have"))
            if older:
                fixes.append(_fix_cmd("Or use a Python that has wheels", f"uv python pin {older}"))
                fixes.append(_fix_toml(f"And keep the project below Python {_next_minor(older)} (keep your lower bound)",
                                       f"# in [project]: add \",<{_next_minor(older)}\" to requires-python"))
        if "download.pytorch.org" in src and not hp and not hy:
            tag = src.rstrip("/").rsplit("/", 1)[-1]
            idx = f"pytorch-{tag}" if tag != "whl" else "pytorch"
            fixes.append(_fix_toml(
                f"Take {name} from {src} only on x86_64, where PyTorch's CUDA builds are published; other "
                f"platforms then take {name} from PyPI (depend on {name} without a +local label)",
                toml.index(idx, src) + "\n\n"
                + toml.sources({name or "torch": [{"index": idx, "marker": "platform_machine == 'x86_64'"}]}),
            ))
        if t is not None and _local(t) and name in TORCH_FAMILY:
            reason += (f" `+{_local(t)}` builds come only from PyTorch's index, and only for the platforms it "
                       "builds them for.")
            rel = torch_release(t.pinned) if name == "torch" and t.pinned else None
            if rel is not None and hp:
                plat = _platform_marker(hp.group("tag")) or ""
                os_ = "linux" if "linux" in plat else "darwin" if "darwin" in plat else "windows"
                arch = "aarch64" if "aarch64" in plat else "arm64" if "arm64" in plat else "x86_64"
                if rel.has_platform(os_, arch):
                    reason += f" PyPI's torch {rel.version} does have a wheel for this platform."
    for lt, what, d in lock_time:
        ev += list(d.statements)
        name = name or lt.name
        eg = re.search(re.escape(lt.text) + r" has no wheels with a matching [^(]*\(e\.g\., (?P<eg>`[^`]+`)\)", d.text)
        summary = summary or (f"{lt.text} has no wheels with a matching {what}" + (f" (e.g. {eg.group('eg')})" if eg else "")
                              if what.endswith("tag") else f"{lt.text} has no wheels for {what}")
        marker = _exclude_marker(eg.group("eg")) if eg else None
        marker = marker or "platform_machine == 'x86_64'"
        fixes.append(_fix_toml(
            f"Pick a version of {lt.display} that has wheels there, or limit this requirement to platforms that "
            f"have them (add a marker to it, e.g. \"{lt.text}; {marker}\")",
            "# in [project] dependencies (or the extra that requires it):\n# "
            + toml.q(f"{lt.text}; {marker}"),
        ))
        fixes.append(_fix_cmd("Or drop that environment from tool.uv.required-environments / environments",
                              "llmenv check pyproject.toml"))
        break
    for wm in (url_wheel, pip_wheel):
        if wm is None:
            continue
        ev.append(wm.string.strip())
        whl = _wheel_name(wm.group("whl"))
        name = name or whl
        on = log.hint(r"The wheel is compatible with (?P<have>[^(]+)\(`(?P<htag>[^`]+)`\), but you're on (?P<os>[^(]+)\(`(?P<tag>[^`]+)`\)")
        if on:
            ev.append(next(h for h in log.hints if on.group(0) in h))
            summary = summary or (f"the {whl or 'URL'} wheel is built for {on.group('htag')}, and this machine is "
                                  f"{on.group('tag')}")
        summary = summary or f"{wm.group('whl').rsplit('/', 1)[-1]} was built for another platform or Python"
        if not dist and not lock_time:
            reason = ("A wheel's file name states the Python (`cp310`), ABI and platform it was built for; pip and "
                      "uv install it only on a matching interpreter and machine. Pick the wheel built for yours.")
        if whl in builds().build_with_torch:
            fixes.append(_fix_cmd(f"Let llmenv pick the {whl} wheel built for this platform, Python, torch and CUDA",
                                  f"llmenv plan {whl}"))
        break
    for m in pip_none:
        ev.append(m.line)
        name = name or m.term.name
        summary = summary or (f"pip found no file of {m.term.display} it could install on this Python and platform "
                              "in the indexes it searched")
        reason = ("pip lists the versions it could use here; an empty list means the indexes it searched have no "
                  f"wheel of {m.term.display} for this Python and platform (or no {m.term.display} at all).")
        if m.term.name in TORCH_FAMILY:
            fixes.append(_fix_cmd("Let llmenv find the torch build and index for this machine", "llmenv plan torch"))
        break
    if not fixes:
        fixes.append(_fix_cmd("Let llmenv pick versions that have wheels for your target", f"llmenv plan {name or ''}".strip()))
    return [Cause(kind="no-wheel-for-platform", packages=uniq([name or ""]), summary=summary, chain=tuple(uniq(ev))[:3],
                  reason=reason, fixes=tuple(fixes), evidence=uniq(ev))]


def _wheel_name(url: str) -> str | None:
    """The distribution a wheel file (or URL) is of: ``.../flash_attn-2.8.3%2Bcu12...whl`` -> ``flash-attn``."""
    from urllib.parse import unquote

    try:
        return str(parse_wheel_filename(unquote(url.rsplit("/", 1)[-1]))[0])
    except (InvalidWheelFilename, InvalidVersion):
        return None


def _exclude_marker(tag: str) -> str | None:
    """A PEP 508 marker that leaves out the platform of a wheel tag (``win_amd64`` -> not Windows)."""
    t = tag.strip("`").lower()
    if t.startswith("win"):
        return "sys_platform != 'win32'"
    if t.startswith("macosx"):
        return "sys_platform != 'darwin'"
    if "linux" in t:
        for arch in ("aarch64", "ppc64le", "s390x", "armv7l"):
            if t.endswith(arch):
                return f"platform_machine != '{arch}'"
    return None


def _older_python(tags: str) -> str | None:
    vers = [int(m) for m in re.findall(r"cp3(\d+)", tags)]
    return f"3.{max(vers)}" if vers else None


def _next_minor(v: str) -> str:
    major, minor = v.split(".")
    return f"{major}.{int(minor) + 1}"


# ------------------------------------------------------------------------------------------------------------
# index


def check_index(log: Log) -> list[Cause]:
    """The package or version is not where the resolver looked: wrong or missing index, first-index strategy,
    a stale find-links page, credentials."""
    out: list[Cause] = []
    first_index = log.hint(r"`(?P<pkg>[^`]+)` was found on (?P<found>\S+), but not at the requested version \((?P<req>[^)]+)\)\. A compatible version may be available on a subsequent index \(e\.g\., (?P<next>[^)]+)\)")
    if first_index:
        pkg, found = first_index.group("pkg"), first_index.group("found").rstrip(",")
        ev: tuple[str, ...] = (next(h for h in log.hints if first_index.group(0) in h),)
        idx = "pytorch" if "pytorch" in found else "extra"
        out.append(Cause(
            kind="index", packages=(canonicalize_name(pkg),),
            summary=f"{pkg} was found on {found}, which lacks {first_index.group('req')}; uv did not look further",
            chain=ev,
            reason=("By default uv takes each package from the first index that has it at all (protection against "
                    "dependency confusion). An extra index that mirrors common packages (PyTorch's does) then "
                    "shadows PyPI for them."),
            fixes=(
                _fix_toml("Make that index explicit, so only the packages you route to it come from there",
                          toml.index(idx, found) + "\n\n" + toml.sources({"torch": {"index": idx}})),
                _fix_toml("Or let uv consider every index for every package (weaker protection)",
                          toml.tool_uv(index_strategy="unsafe-best-match")),
            ),
            evidence=ev,
        ))
    for d in _uv_derivations(log):
        for t, where in d.not_found:
            ev = d.statements
            if where == "cache":
                summary = f"{t.display} is not in uv's cache, and uv ran offline"
                fixes: tuple[Fix, ...] = (_fix_cmd("Run once with the network (without --offline)", "uv lock"),)
            elif where == "provided package locations":
                summary = f"{t.display} is in none of the --find-links locations, and index lookups are off"
                fixes = (_fix_cmd("Add the folder or page that holds it", "uv lock --find-links <DIR or URL>"),)
            else:
                summary = f"{t.display} was not found on the package index"
                fixes = (
                    _fix_cmd("Check the name; if it lives on another index (a vendor's wheel index), add that index",
                             f"uv add {t.display} --index <URL>"),
                )
            out.append(Cause(kind="index", packages=(t.name,), summary=summary, chain=ev,
                             reason="The resolver only sees the indexes and find-links locations configured for it.",
                             fixes=fixes, evidence=ev))
    for d in _uv_derivations(log):
        for t in d.no_version:
            if _is_pre(t) or _local(t) or t.pinned is None:
                continue
            ev = d.statements
            out.append(Cause(
                kind="index", packages=(t.name,),
                summary=f"no index consulted has {t.text}",
                chain=ev,
                reason=(f"The version exists nowhere uv looked. Either it is published elsewhere (another index, "
                        f"a find-links page), or {t.display} is also on an earlier index that lacks this version: "
                        "by default uv takes each package from the first index that has it at all."),
                fixes=tuple(_no_version_fixes(t, log)),
                evidence=ev,
            ))
    auth = log.hint(r"An index URL \((?P<url>[^)]+)\) (?:could not be queried due to a lack of valid authentication credentials|returned a 403 Forbidden)")
    if auth:
        ev = (next(h for h in log.hints if auth.group(0) in h),)
        out.append(Cause(kind="index", packages=(), summary=f"the index {auth.group('url')} refused uv (authentication)",
                         chain=ev, reason="The index needs credentials uv did not have.",
                         fixes=(_fix_cmd("Give uv the index's credentials (named index)",
                                         "export UV_INDEX_<NAME>_USERNAME=... UV_INDEX_<NAME>_PASSWORD=..."),),
                         evidence=ev))
    noindex = log.hint(r"Packages were unavailable because index lookups were disabled")
    if noindex and not out:
        ev = (next(h for h in log.hints if noindex.group(0) in h),)
        out.append(Cause(kind="index", packages=(), summary="index lookups were disabled (--no-index) and the "
                         "--find-links locations lack a package", chain=ev,
                         reason="With --no-index, uv reads only the --find-links locations.",
                         fixes=(_fix_cmd("Add the location that has the package", "--find-links <DIR or URL>"),),
                         evidence=ev))
    for m in log.missing:
        if not m.available or _local(m.term) or _is_pre(m.term):
            continue
        newest = _newest(m.available)
        ev = (m.line,)
        out.append(Cause(
            kind="index", packages=(m.term.name,),
            summary=(f"the locations pip searched list {m.term.display} only up to {newest}, none of which "
                     f"satisfies {m.term.spec or 'the requirement'}"),
            chain=ev,
            reason=(f"pip found {m.term.display} but not a version matching {m.term.text}: the index or "
                    "--find-links page in use does not carry it (yet), or points at the wrong page."),
            fixes=(
                _fix_cmd(f"Point pip/uv at an index or --find-links page that carries {m.term.text}",
                         f"uv pip install \"{m.term.text}\" --find-links <URL that lists it>"),
                _fix_cmd(f"Or accept a version the index has ({newest})",
                         f"uv pip install \"{m.term.display}=={newest}\""),
            ),
            evidence=ev,
        ))
        break
    return out


def _no_version_fixes(t: Term, log: Log) -> list[Fix]:
    fixes: list[Fix] = []
    extra = next((m.group(0).rstrip("/.,)`'\"") for m in log.find(r"https?://download\.pytorch\.org/whl/[A-Za-z0-9._/-]*")), None)
    if extra:
        tag = extra.rstrip("/").rsplit("/", 1)[-1]
        name = f"pytorch-{tag}" if tag != "whl" else "pytorch"
        fixes.append(_fix_toml(
            f"Keep the PyTorch index from shadowing PyPI for {t.display}: make it explicit and route only the torch "
            "packages to it",
            toml.index(name, extra) + "\n\n" + toml.sources({"torch": {"index": name}}),
        ))
    if log.tool == "uv" and re.search(r"\byou require\b", log.text):
        fixes.append(_fix_cmd("Let uv consider every index for every package (weaker protection against "
                              "dependency confusion)", "uv pip install --index-strategy unsafe-best-match ..."))
    else:
        fixes.append(_fix_toml("Let uv consider every index for every package (weaker protection against "
                               "dependency confusion)", toml.tool_uv(index_strategy="unsafe-best-match")))
    fixes.append(_fix_cmd(f"Or add the index that publishes {t.text}", f"uv add \"{t.text}\" --index <URL>"))
    return fixes


def _newest(versions: Sequence[str]) -> str:
    best: tuple[Version, str] | None = None
    for v in versions:
        try:
            pv = Version(v)
        except InvalidVersion:
            continue
        if best is None or pv > best[0]:
            best = (pv, v)
    return best[1] if best else versions[-1]


# ------------------------------------------------------------------------------------------------------------
# builds


def _build_for(log: Log, near: str | None = None) -> tuple[str | None, str | None]:
    """The package being built (name, version), preferring the build failure reported closest to ``near``.
    Without a build line, torch's extension builder names the module it compiles (``-DTORCH_EXTENSION_NAME=``);
    a module llmenv knows maps to its distribution."""
    if log.builds:
        b = log.builds[-1]
        return b.name, b.version
    ext = log.first(r"-DTORCH_EXTENSION_NAME=(?P<mod>[A-Za-z0-9_]+)")
    if ext and ext.group("mod") in builds().modules:
        return builds().modules[ext.group("mod")], None
    return None, None


def _label(name: str | None, version: str | None) -> str:
    """How a summary names the package being built; never a made-up name when the log gives none."""
    if name is None:
        return "a package the log does not name"
    return f"{name}=={version}" if version else name


def _build_fixes_torch(pkg: str, version: str | None) -> list[Fix]:
    info = builds().build_with_torch.get(pkg)
    fixes: list[Fix] = []
    if info is not None and info.requires_dist:
        edit = toml.extra_build_dependencies(pkg, "torch", match_runtime=True) + "\n\n" + toml.dependency_metadata(
            pkg, version, info.requires_dist)
        if info.build_variables:
            edit += "\n\n" + toml.extra_build_variables(pkg, info.build_variables)
        title = (f"Give {pkg}'s isolated build the torch of your lock (match-runtime), with its metadata declared "
                 "statically as match-runtime requires")
        if info.build_variables:
            title += (" and fetch the prebuilt wheel instead of compiling (" + ", ".join(info.build_variables)
                      + ", as uv's maintainers recommend in astral-sh/uv#6437)")
        fixes.append(_fix_toml(title, edit))
    fixes.append(_fix_toml(f"Add torch to {pkg}'s build environment (uv's own suggestion; needs uv >= 0.8)",
                           toml.extra_build_dependencies(pkg, "torch")))
    if info is not None and info.prebuilt:
        fixes.append(_fix_cmd(f"Or let llmenv choose a prebuilt {pkg} wheel for your torch, CUDA and Python",
                              f"llmenv plan {pkg}"))
    fixes.append(_fix_cmd("With an older uv: install torch first, then build without isolation",
                          f"uv pip install torch && uv sync --no-build-isolation-package {pkg}"))
    return fixes


# the exception itself, not torch's "UserWarning: Failed to initialize NumPy: No module named 'numpy'"
_NO_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '(?P<mod>[A-Za-z0-9_.]+)'")
_TORCH_MISSING = re.compile(
    r"No module named 'torch'|Unable to import torch|without torch installed|torch (?:is )?not (?:installed|found)|"
    r"requires? (?:PyTorch|torch) to be installed|Please install (?:PyTorch|torch)",
    re.IGNORECASE,
)


def check_build_needs_torch(log: Log) -> list[Cause]:
    """An sdist's build imports torch, but its isolated build environment has no torch."""
    hint = log.hint(r"`(?P<pkg>[A-Za-z0-9._-]+)(?:@(?P<ver>[^`]+))?` depends on `torch`, but doesn't declare it as a build dependency")
    if not hint:
        flat = re.sub(r"\s+", " ", log.text)
        hint = re.search(r"indicates that `?(?P<pkg>[A-Za-z0-9._-]+)(?:(?:==|@)(?P<ver>[^`\s,]+))?`? depends on `?torch`?, but doesn't declare it as a build dependency", flat)
    torch_lines = log.lines_matching(_TORCH_MISSING)
    if not hint and not (torch_lines and log.builds):
        return []
    name, version = _build_for(log)
    if hint:
        name = canonicalize_name(hint.group("pkg"))
        version = hint.group("ver") or version
    pkg = name or "the package"
    label = _label(name, version)
    ev = uniq([b.line for b in log.builds if b.name == name] + torch_lines[-2:]
              + ([next((h for h in log.hints if "doesn't declare it as a build dependency" in h), "")] if hint else []))
    chain = uniq([f"{label} is built from source (no wheel was used)", *torch_lines[-1:]])
    return [Cause(
        kind="build-needs-torch", packages=uniq([name or "", "torch"]),
        summary=f"building {label} needs torch, and its build environment has none",
        chain=chain,
        reason=(f"uv and pip build a source distribution in an isolated environment holding only its declared "
                f"build requirements. {pkg}'s build imports torch without declaring it, so the build fails even "
                "when torch is in your project."),
        fixes=tuple(_build_fixes_torch(pkg, version)), evidence=ev,
    )]


def check_build_missing_dependency(log: Log) -> list[Cause]:
    """An sdist's build imports a module (other than torch) that is not in its build environment."""
    if not log.builds:
        return []
    mods = [m for m in log.find(_NO_MODULE) if m.group("mod").split(".")[0] != "torch"]
    if not mods:
        return []
    mod = mods[-1].group("mod")
    dist = builds().distribution_of(mod)
    name, version = _build_for(log)
    pkg = name or "the package"
    label = _label(name, version)
    ev = uniq([b.line for b in log.builds if b.name == name] + [mods[-1].string.strip()])
    return [Cause(
        kind="build-missing-dependency", packages=uniq([name or "", dist]),
        summary=f"building {label} imports {mod}, which is not in its build environment",
        chain=(f"{label} is built from source", mods[-1].string.strip()),
        reason=(f"The build environment holds only {pkg}'s declared build requirements; {mod} "
                f"(distribution {dist}) is missing from them."),
        fixes=(_fix_toml(f"Add {dist} to {pkg}'s build environment", toml.extra_build_dependencies(pkg, dist)),
               _fix_cmd("Or install it first and build without isolation",
                        f"uv pip install {dist} && uv sync --no-build-isolation-package {pkg}")),
        evidence=ev,
    )]


_CUDA_MISSING = re.compile(
    r"CUDA_HOME environment variable is not set|Cannot find CUDA_HOME|CUDA_HOME (?:is )?not (?:set|found)|"
    r"CUDA_HOME does not exist|MissingCUDAException|"
    r"nvcc was not found|nvcc: (?:command )?not found|No such file or directory: '[^']*nvcc'|"
    r"Could not find (?:any )?(?:CUDA|nvcc)|CUDA toolkit (?:was )?not found|"
    r"Failed to find CUDA|Unable to find (?:the )?CUDA",
    re.IGNORECASE,
)
# a header of the CUDA stack the compiler cannot find (the toolkit's own, or cuDNN / NCCL that ship beside it)
_CUDA_HEADER = re.compile(
    r"(?P<h>(?:cuda_runtime|cuda_runtime_api|cuda|cuda_fp16|cuda_bf16|cublas_v2|cublasLt|cusparse|cusolverDn|cufft|"
    r"curand|nvrtc|cudnn|nccl)\.h): No such file or directory"
)


def check_build_missing_cuda(log: Log) -> list[Cause]:
    """A source build needs the CUDA toolkit (nvcc, headers, CUDA_HOME) and the machine has none."""
    hits = log.find(_CUDA_MISSING)
    headers = log.find(_CUDA_HEADER)
    if not hits and not headers:
        return []
    name, version = _build_for(log)
    pkg = name or "the package"
    label = _label(name, version)
    lines = uniq(m.string.strip() for m in (hits or headers))
    ev = uniq([b.line for b in log.builds if b.name == name] + list(lines[-2:]))
    fixes: list[Fix] = []
    header = headers[0].group("h") if headers and not hits else None
    if header is None:
        summary = f"building {label} needs the CUDA toolkit (nvcc / CUDA_HOME), which was not found"
        reason = (f"{pkg} compiles CUDA code when built from source, which needs the CUDA toolkit (nvcc and "
                  "headers, found through CUDA_HOME); the NVIDIA driver alone is not enough.")
    else:
        summary = f"building {label} cannot find the CUDA header {header}"
        reason = (f"{pkg}'s CUDA code includes {header}, which is not on the compiler's include path: "
                  + ("cuDNN's (or NCCL's) development headers are installed separately from the CUDA toolkit "
                     "and the runtime libraries that torch's wheels bring." if header.startswith(("cudnn", "nccl"))
                     else "the CUDA toolkit's headers are missing, or CUDA_HOME points elsewhere."))
    since = builds().wheels_since.get(name or "")
    if since is not None and version:
        try:
            old = Version(version) < since
        except InvalidVersion:
            old = False
        if old:
            reason += (f" {label} is older than every {pkg} release llmenv knows to ship wheels ({since} and "
                       f"later): if you did not ask for {version}, the resolver backtracked to an old "
                       "source-only release.")
            fixes.append(_fix_toml(f"Give {pkg} a version floor so the resolver cannot fall back to {version}",
                                   f"# wherever {pkg} is required ([project] dependencies or an extra):\n"
                                   f"# \"{pkg}>={since}\""))
            fixes.append(_fix_cmd("And commit uv.lock, so the resolution is not repeated on every clone", "uv lock"))
    info = builds().build_with_torch.get(name or "")
    rocm = log.first(r"torch\.__version__\s*=\s*(?P<v>\S+\+rocm[\d.]+)")
    if rocm and name == "flash-attn":
        reason += (f" The torch in this build is a ROCm build ({rocm.group('v')}): flash-attn must be told to "
                   "build for ROCm instead of CUDA.")
        fixes.append(_fix_toml("Build flash-attn for ROCm (its BUILD_TARGET switch)",
                               toml.extra_build_variables(pkg, {"BUILD_TARGET": "rocm"})))
    if info is not None and info.prebuilt:
        fixes.append(_fix_cmd(f"Use a prebuilt {pkg} wheel that matches your torch, CUDA and Python", f"llmenv plan {pkg}"))
    target = pkg if name else "PACKAGE"
    if header is not None and header.startswith(("cudnn", "nccl")):
        fixes.append(_fix_toml(f"Or install {header[:-2]}'s development headers and add their folder to the "
                               "compiler's include path (adjust the path)",
                               toml.extra_build_variables(target, {"CPATH": f"/usr/local/cuda/include:/path/to/{header[:-2]}/include"})))
    else:
        fixes.append(_fix_toml(f"Or install the CUDA toolkit and point {pkg}'s build at it (adjust the path)",
                               toml.extra_build_variables(target, {"CUDA_HOME": "/usr/local/cuda"})))
    return [Cause(kind="build-missing-cuda", packages=uniq([name or ""]), summary=summary,
                  chain=uniq([f"{label} is built from source", *lines[-1:]]), reason=reason,
                  fixes=tuple(fixes), evidence=ev)]


_CUDA_MISMATCH = (
    # torch.utils.cpp_extension
    re.compile(r"detected CUDA version \((?P<nvcc>[\d.]+)\) mismatches the version that was used to compile\s+PyTorch \((?P<torch>[\d.]+)\)"),
    # setup.py checks of their own (apex): "... compiled with a version of Cuda that does not match the version
    # used to compile Pytorch binaries. Pytorch binaries were compiled with Cuda 10.0.130."
    re.compile(r"compiled with a version of Cuda that does not match the version used to compile Pytorch binaries\.?"
               r"(?:\s+Pytorch binaries were compiled with Cuda (?P<torch>\d+\.\d+(?:\.\d+)?))?", re.IGNORECASE),
)
_NVCC_RELEASE = re.compile(r"Cuda compilation tools, release (?P<v>\d+\.\d+)")


def check_build_cuda_mismatch(log: Log) -> list[Cause]:
    """nvcc's CUDA differs from the CUDA torch was built with; torch (or the package's setup.py) refuses to
    build extensions."""
    flat = re.sub(r"\s+", " ", log.text)
    m = next((x for rx in _CUDA_MISMATCH if (x := rx.search(flat))), None)
    if not m:
        return []
    groups = m.groupdict()
    nvcc_m = _NVCC_RELEASE.search(flat)
    nvcc = groups.get("nvcc") or (nvcc_m.group("v") if nvcc_m else None)
    tcuda = groups.get("torch")
    name, _ = _build_for(log)
    pkg = name or "the package"
    ev = uniq(log.lines_matching(r"detected CUDA version|mismatches the version|does not match the version used to compile"
                                 r"|binaries were compiled with Cuda|Cuda compilation tools, release")
              + [b.line for b in log.builds if b.name == name])
    fixes: list[Fix] = []
    found = None
    cv = None
    if nvcc:
        try:
            cv = CudaVersion(*(int(x) for x in nvcc.split(".")[:2]))
            found = newest_torch_for_cuda(cv, same_major=True)
        except (ValueError, TypeError):
            found = None
    if found and cv is not None:
        rel, backend = found
        fixes.append(_fix_toml(
            f"Use a torch built with CUDA {cv.major}.x like your nvcc {nvcc}: torch {rel.version} ({backend.tag}); "
            f"require \"torch=={rel.version}\"",
            toml.index(f"pytorch-{backend.tag}", torch_variant_url(backend.tag)) + "\n\n"
            + toml.sources({"torch": [{"index": f"pytorch-{backend.tag}"}]}),
        ))
    toolkit = ".".join((tcuda or "").split(".")[:2])
    fixes.append(_fix_toml(f"Or point {pkg}'s build at a CUDA {toolkit or '<torch.version.cuda>'} toolkit (adjust the path)",
                           toml.extra_build_variables(pkg if name else "PACKAGE",
                                                      {"CUDA_HOME": f"/usr/local/cuda-{toolkit or 'X.Y'}"})))
    found_s = f"nvcc {nvcc}" if nvcc else "the CUDA toolkit found"
    torch_s = f" ({tcuda})" if tcuda else ""
    summary = (f"{found_s} differs from the CUDA torch was built with{torch_s}" if nvcc else
               f"the CUDA toolkit building {pkg} differs from the CUDA torch was built with{torch_s}")
    reason = ("Extensions compiled against torch must use the CUDA toolkit torch was built with: torch's extension "
              "builder refuses a different major version, and some packages' setup.py (apex's) any difference.")
    return [Cause(kind="build-cuda-mismatch", packages=uniq([name or "", "torch"]), summary=summary,
                  chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


_TOOLCHAIN = re.compile(
    r"unsupported GNU version|gcc versions? later than \d+ (?:are|is) not supported|"
    r"nvcc fatal\s*:\s*Unsupported gpu architecture '(?P<arch>compute_\d+[a-z]?)'|"
    r"Unsupported gpu architecture|The current installed version of g\+\+ \([^)]*\) is greater than the maximum required version",
    re.IGNORECASE,
)


def check_build_toolchain(log: Log) -> list[Cause]:
    """The host compiler or nvcc is too new or too old for the build (gcc unsupported by nvcc, an arch nvcc
    does not know)."""
    hits = log.find(_TOOLCHAIN)
    if not hits:
        return []
    name, _ = _build_for(log)
    pkg = name or "the package"
    label = _label(name, None)
    ev = uniq([h.string.strip() for h in hits] + [b.line for b in log.builds if b.name == name])
    arch = next((h.group("arch") for h in hits if h.group("arch")), None)
    info = builds().build_with_torch.get(name or "")
    archs_var = info.archs_variable if info else "TORCH_CUDA_ARCH_LIST"
    fixes: tuple[Fix, ...]
    if arch:
        summary = f"nvcc does not know the GPU architecture {arch} that the build of {label} asks for"
        reason = ("Each CUDA toolkit compiles for the GPU architectures it knows; newer architectures need a newer "
                  "nvcc (sm_100/sm_120 need CUDA 12.8 or later).")
        fixes = (
            _fix_toml("Build only for the architectures your nvcc supports (your GPU's, e.g. 9.0)",
                      toml.extra_build_variables(pkg if name else "PACKAGE",
                                                 {archs_var: "90" if archs_var == "FLASH_ATTN_CUDA_ARCHS" else "9.0"})),
            _fix_cmd("Or install a newer CUDA toolkit (and point CUDA_HOME at it)", "nvcc --version"),
        )
    else:
        summary = f"nvcc rejects the host C++ compiler while building {label}"
        reason = "Each CUDA toolkit supports host compilers (gcc/g++) only up to a certain version."
        fixes = (
            _fix_toml("Build with an older gcc that your CUDA supports (install it first; adjust the version)",
                      toml.extra_build_variables(pkg if name else "PACKAGE",
                                                 {"CC": "gcc-12", "CXX": "g++-12", "NVCC_CCBIN": "g++-12"})),
        )
    return [Cause(kind="build-toolchain", packages=uniq([name or ""]), summary=summary, chain=ev, reason=reason,
                  fixes=fixes, evidence=ev)]


_OOM = re.compile(
    r"Killed signal terminated program|fatal error: Killed|^\s*Killed\s*$|died due to signal 9|"
    r"(?:exit (?:code|status)|code=|returned non-zero exit status)[:\s]*(?:137|-9)\b|"
    r"virtual memory exhausted|std::bad_alloc|out of memory allocating|Cannot allocate memory|"
    r"c\+\+: fatal error: Killed|oom-kill",
    re.IGNORECASE,
)


def check_build_oom(log: Log) -> list[Cause]:
    """The compiler was killed for lack of memory: too many parallel compile jobs for this machine's RAM."""
    hits = [m for m in log.find(_OOM) if "CUDA out of memory" not in m.string]
    if not hits:
        return []
    name, version = _build_for(log)
    if name is None and not re.search(r"ninja|nvcc|cc1plus|c\+\+|gcc|setup\.py|build", log.text):
        return []
    pkg = name or "the package"
    label = _label(name, version)
    info = builds().build_with_torch.get(name or "")
    variables = {info.jobs_variable if info else "MAX_JOBS": "2"}
    if name == "flash-attn":
        variables["NVCC_THREADS"] = "2"
    ev = uniq([h.string.strip() for h in hits][-3:] + [b.line for b in log.builds if b.name == name])
    fixes = [_fix_toml(f"Compile {pkg} with fewer parallel jobs (each nvcc job can take several GB of RAM)",
                       toml.extra_build_variables(pkg if name else "PACKAGE", variables))]
    if info is not None and info.prebuilt:
        fixes.append(_fix_cmd(f"Or avoid compiling: use a prebuilt {pkg} wheel for your torch/CUDA/Python",
                              f"llmenv plan {pkg}"))
    if info is not None:
        fixes.append(_fix_toml("And compile only for your GPU's architecture (here 9.0; use yours)",
                               toml.extra_build_variables(pkg, {info.archs_variable: "90" if info.archs_variable == "FLASH_ATTN_CUDA_ARCHS" else "9.0"})))
    return [Cause(kind="build-oom", packages=uniq([name or ""]),
                  summary=f"the compiler was killed (out of memory) while building {label}",
                  chain=ev, reason=("Building CUDA extensions runs many nvcc/cc1plus processes in parallel (ninja "
                                    "starts one per CPU by default); together they exhaust RAM and the kernel kills "
                                    "one ('Killed', signal 9, exit 137)."),
                  fixes=tuple(fixes), evidence=ev)]


# ------------------------------------------------------------------------------------------------------------
# run time: abi-mismatch, driver-too-old, gpu-arch


def _dist_of_library(path: str) -> str | None:
    b = builds()
    parts = re.split(r"[/\\]", path)
    if "site-packages" in parts or "dist-packages" in parts:
        i = max(parts.index(p) for p in ("site-packages", "dist-packages") if p in parts)
        rest = parts[i + 1 :]
        if rest:
            first = rest[0]
            mod = first.split(".")[0]
            if mod in b.modules:
                return b.modules[mod]
            if len(rest) > 1:
                return b.distribution_of(first)
            return b.distribution_of(mod)
    base = parts[-1].split(".")[0] if parts else ""
    if base in b.modules:
        return b.modules[base]
    return None


# an extension's own report of the torch it was built for: "xFormers was built for:\n PyTorch 2.6.0+cu124 with
# CUDA None (you have 2.5.1+cu121)"
_BUILT_FOR = re.compile(
    r"(?P<pkg>[A-Za-z][A-Za-z0-9_-]*) was built for:? PyTorch (?P<built>[A-Za-z0-9.+]+)(?: with CUDA \S+)? "
    r"\(you have (?P<have>[A-Za-z0-9.+]+)\)"
)


def _built_for_other_torch(log: Log) -> Cause | None:
    m = _BUILT_FOR.search(re.sub(r"\s+", " ", log.text))
    if not m:
        return None
    pkg, built, have = canonicalize_name(m.group("pkg")), m.group("built"), m.group("have")
    ev = uniq([*log.lines_matching(r"was built for|\(you have "), *(x.line for x in log.symbols)])[:4]
    public = Version(have).public if _is_version(have) else have
    return Cause(
        kind="abi-mismatch", packages=(pkg, "torch"),
        summary=f"{pkg} was built for torch {built}, but torch {have} is installed",
        chain=ev,
        reason=(f"{pkg}'s compiled extensions are built against one torch release; with another torch they "
                "cannot load (undefined symbols), and its pip / uv metadata pins that torch exactly."),
        fixes=(
            _fix_cmd(f"Install the {pkg} release built for your torch (the resolver picks it from {pkg}'s exact "
                     "torch pin)", f"uv pip install \"torch=={public}\" {pkg}"),
            _fix_cmd(f"Or move torch to the one {pkg} was built for", f"uv pip install \"torch=={Version(built).public if _is_version(built) else built}\""),
        ),
        evidence=ev,
    )


def check_abi_mismatch(log: Log) -> list[Cause]:
    """A compiled extension was built against another torch (version or C++ ABI) than the one installed."""
    own = _built_for_other_torch(log)
    if own is not None:
        return [own]
    if not log.symbols:
        return []
    s = log.symbols[0]
    dist = _dist_of_library(s.library) if s.library else None
    pkg = dist or (s.library.rsplit("/", 1)[-1] if s.library else "a compiled extension")
    ev = tuple(uniq(x.line for x in log.symbols))[:3]
    torchy = bool(re.match(r"_ZN(?:\d+)?(?:c10|at|torch|3c10|2at|5torch)", s.symbol)) or "c10" in s.symbol
    fixes: list[Fix] = []
    if "__cxx11" in s.symbol:
        reason = (f"The missing symbol uses the new C++ string ABI (`__cxx11`): {pkg} was compiled with "
                  "`_GLIBCXX_USE_CXX11_ABI=1`, but the installed torch uses the old ABI. PyPI's torch wheels use "
                  "the old ABI up to 2.6 and the new one from 2.7.")
        abi_fix = "cxx11abiFALSE"
    elif re.search(r"Ss|SsE|RKSs", s.symbol) and torchy:
        reason = (f"The missing symbol uses the old C++ string ABI (`std::string` as `Ss`): {pkg} was compiled "
                  "with `_GLIBCXX_USE_CXX11_ABI=0`, but the installed torch uses the new ABI (PyPI's torch "
                  "wheels do from 2.7 on).")
        abi_fix = "cxx11abiTRUE"
    else:
        reason = (f"{pkg} is a compiled extension built against a different torch release than the one installed; "
                  "torch's C++ symbols change between releases, so the two must match exactly.")
        abi_fix = None
    if dist == "flash-attn":
        title = "Install the flash-attn wheel built for your torch (major.minor, CUDA, Python"
        title += f", {abi_fix})" if abi_fix else ", C++ ABI)"
        fixes.append(_fix_cmd(title, "llmenv plan flash-attn"))
    fixes.append(_fix_toml(f"Rebuild {pkg} against the torch in your lock (and reinstall it)",
                           toml.extra_build_dependencies(dist or "PACKAGE", "torch", match_runtime=True)))
    fixes.append(_fix_cmd("Then force the rebuild (uv does not rebuild it when torch changes)",
                          f"uv sync --reinstall-package {dist or 'PACKAGE'}"))
    if not torchy and dist is None:
        reason = (f"A compiled library ({s.library or 'an extension'}) needs a symbol no loaded library provides: "
                  "it was built against a different version of one of its dependencies.")
    return [Cause(kind="abi-mismatch", packages=uniq([dist or "", "torch" if torchy else ""]),
                  summary=f"{pkg} cannot load: undefined symbol {s.symbol}",
                  chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


_DRIVER_OLD = re.compile(
    r"NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)|"
    r"CUDA driver version is insufficient for CUDA runtime version|cudaErrorInsufficientDriver|"
    r"CUDA_ERROR_SYSTEM_DRIVER_MISMATCH|forward compatibility was attempted on non supported HW",
    re.IGNORECASE,
)


def check_driver_too_old(log: Log) -> list[Cause]:
    """The installed NVIDIA driver is older than the CUDA the installed torch (or library) was built with."""
    hits = log.find(_DRIVER_OLD)
    if not hits:
        return []
    ev = uniq(h.string.strip() for h in hits)[:2]
    found = next((h.group("found") for h in hits if h.group("found")), None)
    fixes: list[Fix] = []
    torch = bool(re.search(r"\btorch\b", log.text))
    summary = ("the NVIDIA driver is too old for the CUDA build of the installed torch" if torch else
               "the NVIDIA driver is older than the CUDA runtime the program was built with")
    if found:
        n = int(found)
        cuda = CudaVersion(n // 1000, (n % 1000) // 10)
        summary = f"the NVIDIA driver supports CUDA up to {cuda}, older than the CUDA the installed torch was built with"
        pick = newest_torch_for_cuda(cuda)
        if pick:
            rel, backend = pick
            idx = f"pytorch-{backend.tag}"
            fixes.append(_fix_toml(
                f"Install a torch built for CUDA {cuda} or older: the newest such is torch {rel.version} "
                f"({backend.tag}); require \"torch=={rel.version}\"",
                toml.index(idx, torch_variant_url(backend.tag)) + "\n\n" + toml.sources({"torch": [{"index": idx}]}),
            ))
        fixes.append(_fix_cmd("Let llmenv plan the whole stack for this driver", f"llmenv plan torch --cuda {cuda}"))
        mind = _min_driver_note()
        if mind:
            fixes.append(_fix_cmd(mind, "nvidia-smi"))
    else:
        fixes.append(_fix_cmd("Let llmenv plan a torch build this driver can run", "llmenv plan torch"))
        fixes.append(_fix_cmd("Or upgrade the NVIDIA driver (check what it supports)", "nvidia-smi"))
    reason = ("A CUDA program (torch's CUDA builds among them) needs a driver at least as new as the CUDA it was "
              "built with (the newest CUDA a driver supports is in `nvidia-smi`'s header).")
    if found:
        reason += f" `found version {found}` means this driver supports CUDA {int(found) // 1000}.{(int(found) % 1000) // 10}."
    return [Cause(kind="driver-too-old", packages=("torch",) if torch or found else (), summary=summary, chain=ev,
                  reason=reason,
                  fixes=tuple(fixes), evidence=ev)]


def _min_driver_note() -> str:
    return "Or upgrade the NVIDIA driver to one that supports the CUDA of your torch (see nvidia-smi's CUDA Version)"


_GPU_ARCH = re.compile(
    r"with CUDA capability sm_(?P<cc>\d+) is not compatible with the current PyTorch installation|"
    r"no kernel image is available for execution on the device|CUDA error: no kernel image",
    re.IGNORECASE,
)


def check_gpu_arch(log: Log) -> list[Cause]:
    """The installed torch has no kernels for this GPU's architecture (too new or too old a GPU for the build)."""
    hits = log.find(_GPU_ARCH)
    if not hits:
        return []
    ev = uniq(h.string.strip() for h in hits)[:2]
    supports = log.first(r"The current PyTorch install supports CUDA capabilities (?P<list>(?:sm_\d+\s*)+)")
    if supports:
        ev = uniq([*ev, supports.string.strip()])
    cc_raw = next((h.group("cc") for h in hits if h.group("cc")), None)
    fixes: list[Fix] = []
    if cc_raw:
        cc = (int(cc_raw[:-1]), int(cc_raw[-1]))
        summary = f"the installed torch has no kernels for this GPU (compute capability {cc[0]}.{cc[1]})"
        pick = torch_for_gpu(cc)
        if pick:
            rel, backend = pick
            idx = f"pytorch-{backend.tag}"
            fixes.append(_fix_toml(
                f"Install a torch build that includes sm_{cc_raw}: torch {rel.version} ({backend.tag}) or newer; "
                f"require \"torch>={rel.version}\"",
                toml.index(idx, torch_variant_url(backend.tag)) + "\n\n" + toml.sources({"torch": [{"index": idx}]}),
            ))
        fixes.append(_fix_cmd("Let llmenv plan the stack for this GPU", f"llmenv plan torch --gpu {cc[0]}.{cc[1]}"))
    else:
        summary = "a CUDA kernel has no build for this GPU's architecture"
        fixes.append(_fix_cmd("Let llmenv plan a build that covers your GPU (give its compute capability)",
                              "llmenv plan torch --gpu <X.Y>"))
    return [Cause(kind="gpu-arch", packages=("torch",), summary=summary, chain=ev,
                  reason=("Each CUDA build of torch (and of extensions) contains machine code for a list of GPU "
                          "architectures; a GPU outside that list cannot run its kernels."),
                  fixes=tuple(fixes), evidence=ev)]


_NETWORK = re.compile(
    r"error sending request for url|dns error|failed to lookup address|Connection refused|Connection reset|"
    r"(?:operation|request|connection) timed out|Read timed out|NewConnectionError|ConnectTimeoutError|"
    r"Max retries exceeded|CERTIFICATE_VERIFY_FAILED|invalid peer certificate|"
    r"HTTP status server error \(5\d\d|Network is unreachable|Temporary failure in name resolution|"
    r"Retrying \(Retry\(total=|due to network timeout|Failed to fetch: `https?://",
    re.IGNORECASE,
)


def check_network(log: Log) -> list[Cause]:
    """An index or download could not be reached (DNS, timeout, TLS, server error)."""
    hits = log.find(_NETWORK)
    if not hits:
        return []
    ev = uniq(h.string.strip() for h in hits)[:3]
    url = next((m.group(0) for h in hits if (m := re.search(r"https?://[^\s`'\")]+", h.string))), None)
    host = re.sub(r"^https?://([^/]+).*", r"\1", url) if url else None
    tls = any("CERTIFICATE" in h.string.upper() or "certificate" in h.string for h in hits)
    summary = f"uv/pip could not reach {host or 'a package index'}" + (" (TLS certificate)" if tls else "")
    if not tls and any(re.search(r"read operation timed out|Read timed out|due to network timeout", h.string, re.IGNORECASE)
                       for h in hits):
        summary = f"a download from {host or 'the package index'} timed out"
    fixes = [_fix_cmd("Retry with a longer timeout", "UV_HTTP_TIMEOUT=300 uv lock")]
    if tls:
        fixes.insert(0, _fix_cmd("Use the system's certificate store (corporate proxies)", "uv lock --native-tls"))
    fixes.append(_fix_cmd("Or use a mirror close to you (e.g. in China)", "llmenv init . --mirror tuna"))
    return [Cause(kind="network", packages=(), summary=summary, chain=ev,
                  reason="The failure is in reaching the server, not in the packages or their versions.",
                  fixes=tuple(fixes), evidence=ev)]


# a failure to reach an index that did not recover: what the resolver then misses follows from it
_NETWORK_FINAL = re.compile(
    r"Could not fetch URL|Max retries exceeded|Retry\(total=0|Temporary failure in name resolution|"
    r"Name or service not known|getaddrinfo failed|error sending request for url|Failed to fetch|dns error|"
    r"failed to lookup address|due to network timeout|CERTIFICATE_VERIFY_FAILED|invalid peer certificate",
    re.IGNORECASE,
)
# causes that only say a version was not found where the resolver looked
_NOT_FOUND_KINDS = ("index", "local-version", "no-wheel-for-platform")


def rank(log: Log, causes: Sequence[Cause]) -> list[Cause]:
    """Order causes for people: when the log shows an index could not be reached at all, the network comes
    before "not found" causes, which are its consequence (pip reports the versions it could not fetch as
    missing)."""
    net = [c for c in causes if c.kind == "network"]
    if not net or not log.find(_NETWORK_FINAL):
        return list(causes)
    first = next(i for i, c in enumerate(causes) if c.kind == "network" or c.kind in _NOT_FOUND_KINDS)
    rest = [c for c in causes[first:] if c.kind != "network"]
    return [*causes[:first], *net, *rest]


RULES: tuple[Rule, ...] = (
    Rule("lockfile", check_lockfile, "uv.lock missing, stale under --locked, or unreadable"),
    Rule("uv-version", check_uv_version, "the running uv is older than the project needs"),
    Rule("config", check_config, "pyproject.toml / uv.toml has a setting uv rejects"),
    Rule("no-static-metadata", check_no_static_metadata, "match-runtime needs static metadata the package lacks"),
    Rule("workspace-extras", check_workspace_extras, "a workspace member's unwanted extra clashes with your pins"),
    Rule("extra-conflict", check_extra_conflict, "two extras/groups pin incompatible versions, not declared as conflicting"),
    Rule("prerelease", check_prerelease, "a pre-release the resolver would not select"),
    Rule("python-version", check_python_version, "the Python version or requires-python is outside a dependency's support"),
    Rule("local-version", check_local_version, "a +local version label the indexes consulted don't carry"),
    Rule("no-wheel-for-platform", check_no_wheel_for_platform, "no wheel (or sdist) for this platform/Python"),
    Rule("index", check_index, "the package/version is not where the resolver looked"),
    Rule("pin-conflict", check_pin_conflict, "two requirements pin one package to versions that don't overlap"),
    Rule("build-needs-torch", check_build_needs_torch, "a source build imports torch; its build env has none"),
    Rule("build-missing-dependency", check_build_missing_dependency, "a source build imports another missing module"),
    Rule("build-missing-cuda", check_build_missing_cuda, "a source build needs the CUDA toolkit, which is missing"),
    Rule("build-cuda-mismatch", check_build_cuda_mismatch, "nvcc's CUDA differs from torch's CUDA"),
    Rule("build-toolchain", check_build_toolchain, "gcc or nvcc too new/old for the build"),
    Rule("build-oom", check_build_oom, "the compiler was killed for lack of memory"),
    Rule("abi-mismatch", check_abi_mismatch, "a compiled extension built against another torch (undefined symbol)"),
    Rule("driver-too-old", check_driver_too_old, "the NVIDIA driver is older than torch's CUDA"),
    Rule("gpu-arch", check_gpu_arch, "torch has no kernels for this GPU architecture"),
    Rule("network", check_network, "an index or download could not be reached"),
)

KINDS: tuple[str, ...] = tuple(r.kind for r in RULES)
