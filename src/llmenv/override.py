"""Overrides, the seed's OpenRLHF recipe: a package's real metadata, with some pins set or dropped, written as a
``[[tool.uv.dependency-metadata]]`` entry so uv resolves with it instead of the published pins.

The metadata is read statically (``llmenv.metadata``): a local tree's pyproject.toml / setup.py (never run), a
wheel's METADATA, or the release on PyPI. No code from the internet runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from llmenv.errors import UsageError
from llmenv.metadata import StaticMetadata

__all__ = ["Change", "Override", "apply_override", "parse_sets"]


@dataclass(frozen=True, kw_only=True)
class Change:
    package: str
    before: tuple[str, ...]  # the requirement lines replaced or dropped (empty when added)
    after: tuple[str, ...]  # what replaced them (empty when dropped)


@dataclass(frozen=True, kw_only=True)
class Override:
    name: str
    version: str
    requires_dist: tuple[str, ...]
    provides_extras: tuple[str, ...]
    requires_python: str | None
    changes: tuple[Change, ...]
    source: str

    def entry(self) -> dict[str, Any]:
        """The ``[[tool.uv.dependency-metadata]]`` table."""
        d: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "requires-dist": list(self.requires_dist),
        }
        if self.provides_extras:
            d["provides-extras"] = list(self.provides_extras)
        if self.requires_python:
            d["requires-python"] = self.requires_python
        return d


def parse_sets(values: Sequence[str]) -> list[Requirement]:
    out = []
    for v in values:
        try:
            r = Requirement(v)
        except InvalidRequirement as e:
            raise UsageError(f"--set {v!r}: not a requirement ({str(e).splitlines()[0]})") from None
        out.append(r)
    return out


def apply_override(
    meta: StaticMetadata, *, name: str, version: str, sets: Sequence[Requirement], drops: Sequence[str]
) -> Override:
    """``meta`` with every requirement named in ``sets`` replaced (its marker — an extra, a platform — kept unless
    the new one has its own) and every one named in ``drops`` removed. A set naming a package the metadata does not
    require is added as a base requirement."""
    set_by = {canonicalize_name(r.name): r for r in sets}
    drop = {canonicalize_name(d) for d in drops}
    both = set(set_by) & drop
    if both:
        raise UsageError(f"{sorted(both)[0]} is both --set and --drop")
    lines: list[str] = []
    replaced: dict[str, list[str]] = {}
    added_for: dict[str, list[str]] = {}
    for line in meta.requires_dist:
        req = Requirement(line)
        n = canonicalize_name(req.name)
        if n in drop:
            replaced.setdefault(n, []).append(line)
            continue
        if n in set_by:
            new = Requirement(str(set_by[n]))
            if new.marker is None:
                new.marker = req.marker
            replaced.setdefault(n, []).append(line)
            added_for.setdefault(n, []).append(str(new))
            lines.append(str(new))
            continue
        lines.append(line)
    for n, r in set_by.items():
        if n not in replaced:
            lines.append(str(r))
            added_for[n] = [str(r)]
    for n in drop - set(replaced):
        raise UsageError(f"--drop {n}: {name} {version} does not require {n}")
    changes = tuple(
        Change(package=n, before=tuple(replaced.get(n, ())), after=tuple(added_for.get(n, ())))
        for n in sorted(set(replaced) | set(added_for))
    )
    return Override(
        name=name,
        version=version,
        requires_dist=tuple(lines),
        provides_extras=meta.provides_extras,
        requires_python=meta.requires_python,
        changes=changes,
        source=meta.source,
    )
