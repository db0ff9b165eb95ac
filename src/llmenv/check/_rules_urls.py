"""Rules on direct URLs: one package given two URLs in one resolution; a URL wheel's version against the pins."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.version import Version

from llmenv.check import _envs
from llmenv.check._findings import Hit
from llmenv.check._pins import Item, own_items, scopes
from llmenv.check._project import Project, loc_join
from llmenv.check._registry import rule
from llmenv.check._releases import url_wheel
from llmenv.check._sets import Scope, dep_scope, scopes_meet, source_scope

__all__ = ["Claim", "claims"]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One place that says "take this package from this URL"."""

    package: str
    url: str  # as uv compares it: a hash fragment (#sha256=...) left out
    written: str  # as written
    location: str
    scope: Scope
    marker: Marker | None
    from_source: bool

    version: Version | None  # the wheel's, from its file name (None: not a wheel)

    @property
    def where(self) -> str:
        return "the base dependencies" if self.scope is None else f"{self.scope[0]} {self.scope[1]!r}"


def _canonical(url: str) -> str:
    base, sep, fragment = url.strip().partition("#")
    kept = [
        p
        for p in fragment.split("&")
        if p and p.split("=", 1)[0] not in ("sha256", "sha384", "sha512", "md5")
    ]
    return base + ("#" + "&".join(kept) if sep and kept else "")


def _source_url(table: object) -> str | None:
    if not isinstance(table, dict):
        return None
    for key in ("url", "path"):
        if isinstance(table.get(key), str):
            return str(table[key])
    if isinstance(table.get("git"), str):
        ref = next((table[k] for k in ("rev", "tag", "branch") if isinstance(table.get(k), str)), None)
        return f"git+{table['git']}" + (f"@{ref}" if ref else "")
    return None


def claims(project: Project) -> list[Claim]:
    """Every direct URL of the project: ``name @ url`` requirements, and url / path / git sources (a package with
    sources takes them instead of its ``name @ url`` requirements). Kept in ``project.memo``."""
    if "claims" not in project.memo:
        project.memo["claims"] = _claims(project)
    return list(project.memo["claims"])


def _version(url: str) -> Version | None:
    got = url_wheel(url)
    return got[1].version if got else None


def _claims(project: Project) -> list[Claim]:
    out: list[Claim] = []
    for name, sources in project.sources.items():
        for src in sources:
            url = _source_url(dict(src.table))
            if url is None:
                continue
            key = "url" if "url" in src.table else "path" if "path" in src.table else "git"
            out.append(
                Claim(
                    package=name,
                    url=_canonical(url),
                    written=url,
                    location=loc_join(src.location, key),
                    scope=source_scope(src),
                    marker=src.marker,
                    from_source=True,
                    version=_version(url),
                )
            )
    for dep in project.deps:
        url = dep.requirement.url
        if not url or dep.scope not in ("base", "extra", "group") or dep.name in project.sources:
            continue
        out.append(
            Claim(
                package=dep.name,
                url=_canonical(url),
                written=url,
                location=dep.location,
                scope=dep_scope(dep),
                marker=dep.requirement.marker,
                from_source=False,
                version=_version(url),
            )
        )
    return out


def _clashing_pairs(
    project: Project, group: Sequence[Claim], envs: tuple[_envs.Env, ...]
) -> list[tuple[Claim, Claim]]:
    masks = [_envs.mask(c.marker, envs) for c in group]
    pairs = []
    for i, a in enumerate(group):
        for j in range(i + 1, len(group)):
            b = group[j]
            if a.url != b.url and masks[i] & masks[j] and scopes_meet(project, a.scope, b.scope):
                pairs.append((a, b))
    return pairs


def _conflicts_fix(project: Project, pairs: Sequence[tuple[Claim, Claim]]) -> str:
    scoped = sorted({s for a, b in pairs for s in (a.scope, b.scope) if s is not None})
    base = any(a.scope is None or b.scope is None for a, b in pairs)
    lines = []
    if len(scoped) >= 2 and not base:
        entry = "[" + ", ".join(f'{{ {k} = "{n}" }}' for k, n in scoped) + "]"
        has = isinstance(project.uv.get("conflicts"), list)
        lines.append(
            f"declare them as alternatives, add to tool.uv.conflicts:\n    {entry},"
            if has
            else f"declare them as alternatives (they are then locked apart):\n[tool.uv]\nconflicts = [\n    {entry},\n]"
        )
    lines.append(
        "or give the URLs disjoint markers (e.g. \"; python_version == '3.11'\" on a cp311 wheel), "
        "or keep one URL"
    )
    return "\n".join(lines)


@rule("conflicting-urls", "error", "one package given different URLs that meet in one resolution")
def conflicting_urls(project: Project) -> Iterator[Hit]:
    envs = _envs.sample(project)
    by_package: dict[str, list[Claim]] = {}
    for c in claims(project):
        by_package.setdefault(c.package, []).append(c)
    for name, group in by_package.items():
        pairs = _clashing_pairs(project, group, envs)
        if not pairs:
            continue
        a, b = pairs[0]
        more = f" ({len(pairs) - 1} more such pairs)" if len(pairs) > 1 else ""
        yield Hit(
            location=b.location,
            message=f"{name} has two URLs in one resolution: {b.written} ({b.where}, {b.location}) and "
            f"{a.written} ({a.where}, {a.location}){more}",
            why=(
                "uv resolves the base dependencies, every extra and every group in one universal lock, and a "
                'package can come from one URL per machine of it: `uv lock` stops with "Requirements contain '
                f'conflicting URLs for package `{name}`". Extras declared in [tool.uv] conflicts are locked '
                "apart; markers that never hold together (one Python each) keep URLs apart too."
            ),
            fix=_conflicts_fix(project, pairs),
        )


def _pins_by_scope(project: Project, package_names: set[str]) -> dict[Scope, list[Item]]:
    """The project's pins on these packages (knowledge-implied ones included), per scope."""
    out: dict[Scope, list[Item]] = {}
    for scope in [None, *scopes(project)]:
        items = own_items(project, "base", None) if scope is None else own_items(project, *scope)
        out[scope] = [i for i in items if i.name in package_names]
    return out


def _bad_pins(
    project: Project, claim: Claim, pins: dict[Scope, list[Item]], envs: tuple[_envs.Env, ...]
) -> list[Item]:
    version = claim.version
    assert version is not None
    where = _envs.mask(claim.marker, envs)
    seen: set[tuple[str, str]] = set()
    bad = []
    for scope, items in pins.items():
        if not scopes_meet(project, claim.scope, scope):
            continue
        for i in items:
            key = (i.dep.location, i.text)
            if i.name != claim.package or i.dep.location == claim.location or key in seen:
                continue
            seen.add(key)
            if not i.spec.contains(version, prereleases=True) and any(
                where >> n & 1 and i.applies(e) for n, e in enumerate(envs)
            ):
                bad.append(i)
    return bad


@rule("url-version-mismatch", "error", "a URL wheel whose version the project's pins exclude")
def url_version_mismatch(project: Project) -> Iterator[Hit]:
    envs = _envs.sample(project)
    wheels = [c for c in claims(project) if c.version is not None]
    if not wheels:
        return
    pins = _pins_by_scope(project, {c.package for c in wheels})
    reported: set[tuple[str, Version | None]] = set()
    tried: set[tuple[str, Version | None, Scope, int]] = set()
    for claim in wheels:
        key = (claim.package, claim.version)
        where = (*key, claim.scope, _envs.mask(claim.marker, envs))
        if key in reported or where in tried:
            continue
        tried.add(where)
        bad = _bad_pins(project, claim, pins, envs)
        if not bad:
            continue
        reported.add(key)
        places = [c.location for c in wheels if (c.package, c.version) == key]
        also = f" (the same version at {len(places) - 1} more places)" if len(places) > 1 else ""
        pin = bad[0]
        more = f" (and {len(bad) - 1} more pins)" if len(bad) > 1 else ""
        yield Hit(
            location=claim.location,
            message=f"the URL wheel of {claim.package} is version {claim.version}{also}, but {pin.origin} "
            f"excludes it{more}",
            why=_mismatch_why(claim),
            fix=(
                f"point {claim.location} at the wheel of a version {pin.text} allows, or make the pin allow "
                f'{claim.version}: "{claim.package}=={claim.version}"'
                + (
                    "; or, if the extras are alternatives, declare them in tool.uv.conflicts"
                    if claim.scope is not None and pin.dep.scope in ("extra", "group")
                    else ""
                )
            ),
        )


def _mismatch_why(claim: Claim) -> str:
    if claim.from_source:
        return (
            "A [tool.uv.sources] URL replaces the package's requirements: uv locks the wheel's version and "
            "silently drops the version you pinned, so the environment is not what the file says."
        )
    return (
        "A direct URL is the only candidate for that package wherever it applies, and its version is the "
        'wheel\'s; a pin that excludes it leaves no version: `uv lock` fails ("there is no version of ...").'
    )
