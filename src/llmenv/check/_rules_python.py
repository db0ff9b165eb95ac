"""Rules on the project's Python range against what its dependencies' releases support.

uv fails the lock when the lowest Python the project admits is below every allowed release's Requires-Python,
or when no wheel of a wheel-only pinned release fits any Python of the range; and locks, but cannot install,
where a wheel-only pinned release has no wheel for a Python the range admits (with ``environments``, the lock
itself fails as soon as the resolution splits on such a Python). The facts come from the project's ``Catalog``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.check import _envs
from llmenv.check._findings import Hit
from llmenv.check._pins import exact_version
from llmenv.check._project import Dep, Project
from llmenv.check._python import MINORS, floor_allows, lower_bound, marker_boundaries, minors, rewrite
from llmenv.check._registry import rule
from llmenv.check._releases import Release, releases_matching
from llmenv.check._rules_urls import claims

__all__ = ["Pinned", "pinned_releases", "python_plan"]

_ALL = ("3.6", "3.7", *MINORS)


def _checked_deps(project: Project) -> list[Dep]:
    """Requirements the index's releases answer for: not URLs, not the project itself, not overridden, and not
    packages that a git / URL / path / workspace source takes from elsewhere."""
    overridden = {d.name for d in project.deps if d.scope == "override"}
    elsewhere = {n for n, ss in project.sources.items() if any(s.index is None for s in ss)}
    return [
        d
        for d in project.deps
        if d.scope in ("base", "extra", "group")
        and not d.requirement.url
        and d.name != project.name
        and d.name not in overridden | elsewhere
    ]


def _written(project: Project) -> str:
    table = project.data.get("project")
    raw = table.get("requires-python") if isinstance(table, Mapping) else None
    return f'requires-python = "{raw if isinstance(raw, str) else project.requires_python}"'


def _source(project: Project) -> str:
    return project.catalog.index if project.catalog.online else "the pins snapshot"


def _lowest(project: Project, marker: Marker | None, envs: tuple[_envs.Env, ...]) -> Version | None:
    """The lowest Python the project needs ``marker``'s requirement on (None: on none)."""
    low = lower_bound(project.requires_python)
    where = _envs.mask(marker, envs)
    held = sorted({e.python for n, e in enumerate(envs) if where >> n & 1}, key=lambda m: Version(m))
    if not held or low is None:
        return None
    first = Version(held[0])
    return low if (low.major, low.minor) == (first.major, first.minor) or low > first else first


@rule(
    "requires-python-below-package",
    "error",
    "requires-python starts below the Requires-Python of every release a dependency allows",
)
def requires_python_below_package(project: Project) -> Iterator[Hit]:
    rp = project.requires_python
    if rp is None or lower_bound(rp) is None:
        return
    envs = _envs.sample(project, minors(rp))
    for dep in _checked_deps(project):
        releases = project.catalog.releases(dep.name)
        allowed = releases_matching(releases or (), dep.requirement.specifier)
        low = _lowest(project, dep.requirement.marker, envs)
        if not allowed or low is None or any(floor_allows(r.requires_python, low) for r in allowed):
            continue
        need = min(v for r in allowed if (v := lower_bound(r.requires_python)) is not None)
        older = next(
            (
                r
                for r in releases or ()
                if not r.yanked and not r.version.is_prerelease and floor_allows(r.requires_python, low)
            ),
            None,
        )
        yield Hit(
            location=dep.location,
            message=f'"{dep.text}" needs Python >={need} (Requires-Python of every release it allows, from '
            f"{_source(project)}), but {_written(project)} starts at {low}",
            why=(
                "uv checks each dependency's Requires-Python against the lowest Python the project admits, "
                f'so `uv lock` fails: "the requested Python version (>={low}) does not satisfy Python>={need}".'
            ),
            fix=_floor_fix(project, dep, need, older),
        )


def _floor_fix(project: Project, dep: Dep, need: Version, older: Release | None) -> str:
    req = dep.requirement
    lines = [
        f'[project]\nrequires-python = "{rewrite(project.requires_python, floor=f"{need.major}.{need.minor}")}"',
        f"or keep the older Pythons without it: \"{dep.text} ; python_version >= '{need.major}.{need.minor}'\"",
    ]
    if older is not None and not req.marker:
        lines.append(f'or a release that still supports them: "{req.name}=={older.version}"')
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class Pinned:
    """An exact pin or a URL wheel, and what is known of its release (None: not checked)."""

    name: str
    text: str
    location: str
    marker: Marker | None
    release: Release | None
    why_unknown: str = ""


def pinned_releases(project: Project) -> list[Pinned]:
    """Every exact pin (``ray[default]==2.10.0``) and URL wheel of the base, extras and groups (kept in
    ``project.memo``: three rules ask)."""
    if "pinned" not in project.memo:
        project.memo["pinned"] = _pinned_releases(project)
    return list(project.memo["pinned"])


def _pinned_releases(project: Project) -> list[Pinned]:
    out = []
    for dep in _checked_deps(project):
        version = exact_version(dep.requirement)
        if version is None:
            continue
        release, why = None, ""
        releases = project.catalog.releases(dep.name)
        if releases is None:
            why = project.catalog.failures.get(dep.name, f"not in {project.catalog.index}")
        else:
            release = project.catalog.release(dep.name, Version(version))
            if release is None:
                why = f"{version} not in {project.catalog.index}"
            elif not release.files_known:
                release, why = None, "the pins snapshot does not record its wheels"
        out.append(
            Pinned(
                name=dep.name,
                text=dep.text,
                location=dep.location,
                marker=dep.requirement.marker,
                release=release,
                why_unknown=why,
            )
        )
    from llmenv.check._releases import url_wheel

    for c in claims(project):
        got = url_wheel(c.written)
        if got is not None:
            out.append(
                Pinned(
                    name=c.package,
                    text=f"{c.package} @ {c.written}",
                    location=c.location,
                    marker=c.marker,
                    release=got[1],
                )
            )
    return out


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """Per platform the range's minors (where the requirement applies) and those a wheel of it covers."""

    wanted: dict[tuple[str, str], list[str]]
    covered: dict[tuple[str, str], list[str]]

    @property
    def missing(self) -> dict[tuple[str, str], list[str]]:
        return {
            p: [m for m in w if m not in self.covered[p]]
            for p, w in self.wanted.items()
            if any(m not in self.covered[p] for m in w)
        }


def coverage(p: Pinned, envs: tuple[_envs.Env, ...]) -> Coverage | None:
    """None when the release builds from source anywhere (an sdist) or its files are unknown."""
    r = p.release
    if r is None or r.sdist or not r.files_known:
        return None
    where = _envs.mask(p.marker, envs)
    wanted: dict[tuple[str, str], list[str]] = {}
    for n, e in enumerate(envs):
        if where >> n & 1:
            wanted.setdefault(e.platform, []).append(e.python)
    wanted = {plat: sorted(set(ms), key=Version) for plat, ms in wanted.items()}
    # A platform it has no wheel for at any Python is not a Python question: left to the platform rules.
    wanted = {plat: ms for plat, ms in wanted.items() if r.pythons(*plat, _ALL)}
    return Coverage(wanted=wanted, covered={plat: list(r.pythons(*plat, ms)) for plat, ms in wanted.items()})


def python_plan(wanted: Sequence[str], good: set[str]) -> tuple[str | None, str | None]:
    """(floor, cap) for requires-python so that the range is the first run of ``good`` minors in ``wanted``
    (None where the bound need not change)."""
    ordered = sorted(wanted, key=Version)
    run_start = next((i for i, m in enumerate(ordered) if m in good), None)
    if run_start is None:
        return None, None
    floor = ordered[run_start] if run_start > 0 else None
    end = next((i for i in range(run_start, len(ordered)) if ordered[i] not in good), None)
    cap = ordered[end] if end is not None else None
    return floor, cap


def _failing_splits(cov: Coverage, boundaries: set[str]) -> list[str]:
    """Python boundaries where uv splits the lock and, on some platform with wheels, no minor from there on
    has one: with ``environments`` that split fails."""
    missing = cov.missing
    out = []
    for b in sorted(boundaries, key=Version):
        for plat, wanted in cov.wanted.items():
            above = [m for m in wanted if Version(m) >= Version(b)]
            if cov.covered[plat] and above and all(m in missing.get(plat, ()) for m in above):
                out.append(b)
                break
    return out


def _label(plat: tuple[str, str]) -> str:
    return f"{plat[0]} {plat[1]}"


_PLATFORMS = (
    ("linux", "x86_64"),
    ("linux", "aarch64"),
    ("darwin", "arm64"),
    ("darwin", "x86_64"),
    ("windows", "x86_64"),
)


def _checked_envs(project: Project, rp: SpecifierSet) -> tuple[_envs.Env, ...]:
    """The machines whose Python gaps are reported: those ``environments`` admits, or (none declared) Linux
    only, where an LLM project runs; cuda-project-without-environments speaks for the rest."""
    envs = _envs.sample(project, minors(rp))
    return envs if project.environments is not None else tuple(e for e in envs if e.sys_platform == "linux")


def _gaps(missing: dict[tuple[str, str], list[str]]) -> str:
    """``3.15 on linux x86_64, linux aarch64; 3.13, 3.14, 3.15 on windows x86_64``."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for plat, ms in missing.items():
        groups.setdefault(tuple(ms), []).append(_label(plat))
    return "; ".join(f"{', '.join(ms)} on {', '.join(plats)}" for ms, plats in groups.items())


@rule(
    "python-without-wheels",
    "warning",
    "requires-python admits Pythons a wheel-only pinned release has no wheel for",
)
def python_without_wheels(project: Project) -> Iterator[Hit]:
    rp = project.requires_python
    if rp is None or lower_bound(rp) is None:
        return
    envs = _checked_envs(project, rp)
    boundaries = marker_boundaries([d.requirement.marker for d in _checked_deps(project)], envs)
    for p in pinned_releases(project):
        cov = coverage(p, envs)
        if cov is None or not cov.missing or p.release is None:
            continue
        shown = sorted({m for ms in cov.missing.values() for m in ms}, key=Version)
        # uv's lock fails when no wheel (on any platform) fits a Python of the range
        never = not any(p.release.pythons(*plat, minors(rp)) for plat in _PLATFORMS)
        splits = _failing_splits(cov, boundaries)
        severity = "error" if never or (project.environments is not None and splits) else None
        good = set.intersection(*(set(c) for c in cov.covered.values())) if cov.covered else set()
        floor, cap = python_plan(sorted({m for ms in cov.wanted.values() for m in ms}, key=Version), good)
        yield Hit(
            location=p.location,
            message=f'"{p.text}" has no wheel (and no sdist) for Python {_gaps(cov.missing)}, but '
            f"{_written(project)} admits {'them' if len(shown) > 1 else 'it'}",
            why=_wheels_why(project, never, splits, shown),
            fix=_wheels_fix(project, p, floor, cap),
            severity=severity,
        )


def _wheels_why(project: Project, never: bool, splits: Sequence[str], shown: Sequence[str]) -> str:
    if never:
        return (
            'No wheel of it fits any Python the project admits and it cannot be built: `uv lock` fails ("has '
            f'no wheels with a matching Python version tag (e.g., `cp{shown[0].replace(".", "")}`)").'
        )
    text = (
        "uv locks it (a wheel for the lowest Python is enough), but `uv sync` on those Pythons stops: it "
        '"doesn\'t have a source distribution or wheel for the current platform". uv takes the newest '
        "Python it finds (or downloads the newest), so such a machine cannot install the project."
    )
    if project.environments is not None:
        text += " With `environments`, uv also demands a wheel in every Python split of the lock: " + (
            f"this project splits at Python {splits[0]}, so `uv lock` fails there."
            if splits
            else "a requirement that splits on one of those Pythons makes `uv lock` fail."
        )
    return text


def _wheels_fix(project: Project, p: Pinned, floor: str | None, cap: str | None) -> str:
    lines = []
    if floor or cap:
        lines.append(
            f'[project]\nrequires-python = "{rewrite(project.requires_python, floor=floor, cap=cap)}"'
        )
    lines.append(f"or pin a release of {p.name} with wheels for those Pythons")
    return "\n".join(lines)


@rule("python-not-checked", "info", "exact pins whose wheels and Requires-Python nothing known describes")
def python_not_checked(project: Project) -> Iterator[Hit]:
    if project.requires_python is None:
        return
    unknown = [p for p in pinned_releases(project) if p.release is None]
    if not unknown:
        return
    shown = ", ".join(f"{p.text} ({p.why_unknown})" for p in unknown[:6]) + (
        f", and {len(unknown) - 6} more" if len(unknown) > 6 else ""
    )
    online = project.catalog.online
    yield Hit(
        location=unknown[0].location,
        message=f"not checked against {_written(project)}: {shown}",
        why=(
            "Whether a pinned release has wheels for every Python the project admits (and accepts the lowest) "
            "is read from "
            + (
                "the index, which did not answer for these."
                if online
                else "the pins snapshot, which does not describe these."
            )
        ),
        fix="llmenv check --online   (reads their files from the index)"
        if not online
        else "run again when the index answers, or check these pins by hand",
    )


_LINUX = (("linux", "x86_64"), ("linux", "aarch64"))


def environments_fix(project: Project) -> str:
    """The ``environments`` to declare for a CUDA project (Linux x86_64, and aarch64 where every wheel-only pin
    has aarch64 wheels), with the requires-python cap its wheel-only pins need: with ``environments`` uv wants a
    wheel in every Python split of the lock, so a range wider than the wheels breaks a lock that worked."""
    rp = project.requires_python
    envs = tuple(e for e in _envs.sample(project, minors(rp)) if e.sys_platform == "linux")
    pinned = pinned_releases(project)

    def has_wheels(plat: tuple[str, str]) -> bool:
        """Does every wheel-only pin that applies on ``plat`` have a wheel for it?"""
        on = tuple(e for e in envs if e.platform == plat)
        return all(
            p.release.pythons(*plat, _ALL)
            for p in pinned
            if p.release is not None and p.release.sdist is False and _envs.mask(p.marker, on)
        )

    platforms = [plat for plat in _LINUX if plat == _LINUX[0] or has_wheels(plat)]
    lines = ["[tool.uv]", "environments = ["]
    lines += [f"    \"sys_platform == 'linux' and platform_machine == '{arch}'\"," for _, arch in platforms]
    lines.append("]")
    if rp is None:
        return "\n".join(lines)
    good = set(minors(rp))
    for p in pinned:
        cov = coverage(p, envs)
        if cov is None:
            continue
        for plat in platforms:
            if plat in cov.covered:
                good &= set(cov.covered[plat])
    floor, cap = python_plan(minors(rp), good)
    if floor or cap:
        lines += ["", "[project]", f'requires-python = "{rewrite(rp, floor=floor, cap=cap)}"']
    return "\n".join(lines)
