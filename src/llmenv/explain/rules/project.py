"""Project configuration: uv.lock, the uv version, pyproject.toml / uv.toml settings, static metadata."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    builds,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    is_version,
)

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
        fixes.append(fix_cmd("Re-lock, review the diff of uv.lock and commit it", "uv lock"))
    elif "Unable to find lockfile" in text:
        summary = "there is no uv.lock, and --frozen/--locked needs one"
        reason = "`--frozen` and `--locked` install exactly what uv.lock says; without uv.lock there is nothing to install."
        fixes.append(fix_cmd("Create the lockfile", "uv lock"))
    else:
        summary = "uv could not read uv.lock"
        reason = ("The lockfile on disk does not parse with this uv: it was written by a different uv version, "
                  "edited by hand, or hit a uv bug.")
        local = re.search(r"wheel `([^`]*\+[^`]*)` with inconsistent version", text)
        if local:
            reason += (" Here a wheel's file name carries a local version label (`+...`) that differs from the "
                       "version recorded for the package; uv releases of March 2025 rejected such wheels by "
                       "mistake (astral-sh/uv#12282, fixed by astral-sh/uv#12285).")
            fixes.append(fix_cmd("Upgrade uv, then re-lock", "uv self update && uv lock"))
        fixes.append(fix_cmd("Write the lockfile again with this uv", "rm uv.lock && uv lock"))
        if not local:
            fixes.append(fix_cmd("If uv.lock came from a newer uv, upgrade this one", "uv self update"))
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
        return (fix_cmd("Install a uv that matches required-version", f"pip install \"uv{want}\""),)
    bounds = [Version(c.version) for c in spec if c.operator in ("==", "===", "<", "<=", "~=") and is_version(c.version)]
    if bounds and running > max(bounds):
        floor = min(bounds)
        return (
            fix_toml("Loosen the pin to a floor, so newer uv versions are accepted",
                      toml.tool_uv(required_version=f">={floor}")),
            fix_cmd("Or install the uv the project pins (uv's own suggestion)", f"uv self update {floor}"),
        )
    return (fix_cmd("Upgrade uv", "uv self update"),
            fix_cmd("Or, when uv came from pip", f"pip install -U \"uv{want}\""))


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
    if unk and _too_new_for_uv(unk.string, unk.group("field")) and any(k in log.text for k in ("tool.uv", "pyproject.toml", "uv.toml")):
        field = unk.group("field")
        ev2 = uniq([unk.string.strip(), *log.lines_matching(r"Failed to parse|TOML parse error")])
        return [Cause(
            kind="uv-version", packages=("uv",) if re.search(r"\buv\b", log.text) else (),
            summary=f"this uv does not know the setting `{field}`",
            chain=ev2,
            reason=(f"`{field}` is a valid uv setting, added in a newer uv than the one running; older uv rejects "
                    "settings it does not know."),
            fixes=(fix_cmd("Upgrade uv", "uv self update"),
                   fix_cmd("Or, when uv came from pip", "pip install -U uv")),
            evidence=ev2,
        )]
    return []


_STATIC_AND_DYNAMIC = (
    # setuptools (validate-pyproject)
    re.compile(r"You cannot provide a value for `project\.(?P<field>[a-z-]{1,40})` and list it under `project\.dynamic`"),
    # hatchling
    re.compile(r"Metadata field `(?P<field>[a-z-]{1,40})` cannot be both statically defined and listed in field "
               r"`project\.dynamic`"),
)


def _static_and_dynamic(log: Log) -> Cause | None:
    """PEP 621: a field given in [project] and also listed in ``project.dynamic``; build backends refuse it."""
    m = next((x for rx in _STATIC_AND_DYNAMIC if (x := log.first(rx))), None)
    if m is None:
        return None
    field = m.group("field")
    ev = uniq([m.string.strip(), *(b.line for b in log.builds)])[:3]
    p = log.project
    where = p.path if p is not None else "pyproject.toml"
    keep = [f for f in (p.dynamic if p is not None else ()) if f != field]
    drop_dynamic = fix_toml(f"Keep the static `{field}` and take it out of `project.dynamic`"
                            + (f" in {where}" if p is not None else ""),
                            "[project]\ndynamic = [" + ", ".join(toml.q(f) for f in keep) + "]" if p is not None
                            else f"# in [project]: remove {toml.q(field)} from dynamic")
    drop_static = fix_toml(f"Keep it dynamic and delete the static `{field} = [...]` from [project]",
                           f"# in [project] of {where}: delete the `{field} = [...]` entry")
    computed = p is not None and field in p.backend_dynamic  # [tool.setuptools.dynamic] computes it: that is the intent
    first, second = (drop_static, drop_dynamic) if computed else (drop_dynamic, drop_static)
    second = Fix(title="Or " + second.title[0].lower() + second.title[1:], edit=second.edit, kind=second.kind)
    return Cause(
        kind="config", packages=(), summary=f"`{field}` is both given in [project] and listed in project.dynamic",
        chain=ev,
        reason=("PEP 621: a field is either static (given in [project]) or dynamic (listed in `project.dynamic` and "
                "computed by the build backend), never both; the build backend refuses the project. "
                + ("Here [tool.setuptools.dynamic] computes it, so the static list is the one to drop."
                   if computed else "")).strip(),
        fixes=(first, second), evidence=ev,
    )


def check_config(log: Log) -> list[Cause]:
    """pyproject.toml / uv.toml has a setting uv rejects (a typo, a wrong type), or the build backend rejects
    [project] (a field both static and dynamic)."""
    both = _static_and_dynamic(log)
    if both is not None:
        return [both]
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
            fixes=(fix_cmd(f"Fix `{setup_cfg.group('field')}` in pyproject.toml (check which table it sits in), "
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
            fixes.append(fix_toml(f"Rename the key `{field}` to `{guess}` (likely a typo)",
                                   f"# rename the key `{field}` to `{guess}`"))
    reason = "uv validates its settings strictly; one unknown or mistyped key makes the whole file unreadable."
    fixes.append(fix_cmd("Check the file", "llmenv check pyproject.toml"))
    return [Cause(kind="config", packages=(), summary=summary, chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


# ------------------------------------------------------------------------------------------------------------
# no-static-metadata


def check_no_static_metadata(log: Log) -> list[Cause]:
    """``match-runtime = true`` needs the package's metadata without building it; the package has none."""
    m = log.first(r"declared with `match-runtime\s*=\s*true`, but `(?P<pkg>[^`]+)` does not declare static metadata")
    if not m:
        # the message wraps mid-phrase in old terminal output
        m = log.flat("match-runtime", r"declared with `match-runtime ?= ?true`, but `(?P<pkg>[^`]{1,200})` does not declare static metadata")
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
        fix_toml(
            f"Give uv {pkg}'s metadata statically, so it can match the build's {dep_name} to the runtime's"
            + ("" if info and info.requires_dist else f" (copy the rest of {pkg}'s install_requires into requires-dist)"),
            toml.dependency_metadata(pkg, version, requires),
        ),
        fix_cmd("If this project locked fine with an older uv: uv 0.11.0 raised this error even for extras you "
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
