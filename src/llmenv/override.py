"""Overrides, the seed's OpenRLHF recipe: a package's real metadata, with some pins set or dropped, written as a
``[[tool.uv.dependency-metadata]]`` entry so uv resolves with it instead of the published pins.

The metadata is read statically (``llmenv.metadata``): a local tree's pyproject.toml / setup.py (never run), a
wheel's METADATA, or the release on PyPI. No code from the internet runs.

Overrides are the user's last word: each one is recorded in ``[tool.llmenv.overrides]`` (``Ops``: the release, the
pins set, dropped and added), later ones accumulate onto earlier ones, and ``llmenv init`` applies them again over
the metadata it writes itself (``reapply``), so a re-run never reverts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from llmenv._suggest import closest
from llmenv.errors import UsageError
from llmenv.metadata import StaticMetadata

__all__ = [
    "Change",
    "Ops",
    "Override",
    "apply_override",
    "check_names",
    "from_entry",
    "parse_sets",
    "reapply",
]


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


@dataclass(frozen=True, kw_only=True)
class Ops:
    """One package's recorded overrides: ``[tool.llmenv.overrides] openrlhf = { version = "0.8.11", set = [...],
    drop = [...], add = [...] }``."""

    version: str
    sets: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()  # requirements on packages the release does not require (asked for with --add)
    source: str | None = None  # --from PATH, when the metadata came from a local tree or wheel

    @classmethod
    def from_record(cls, value: Any) -> Ops | None:
        if not isinstance(value, Mapping) or not isinstance(value.get("version"), str):
            return None

        def strs(key: str) -> tuple[str, ...]:
            v = value.get(key)
            return tuple(str(x) for x in v) if isinstance(v, list) else ()

        src = value.get("from")
        return cls(
            version=value["version"],
            sets=strs("set"),
            drops=strs("drop"),
            adds=strs("add"),
            source=src if isinstance(src, str) else None,
        )

    def to_record(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version}
        if self.sets:
            d["set"] = list(self.sets)
        if self.drops:
            d["drop"] = list(self.drops)
        if self.adds:
            d["add"] = list(self.adds)
        if self.source:
            d["from"] = self.source
        return d

    def merged(self, later: Ops) -> Ops:
        """This record with a later override of the same release on top: a later pin on a name replaces the
        earlier set / drop / add of that name."""
        if later.version != self.version:
            return later
        names = {canonicalize_name(Requirement(x).name) for x in (*later.sets, *later.adds)} | {
            canonicalize_name(d) for d in later.drops
        }

        def keep(reqs: Sequence[str]) -> list[str]:
            return [x for x in reqs if canonicalize_name(Requirement(x).name) not in names]

        return Ops(
            version=self.version,
            sets=tuple(keep(self.sets)) + later.sets,
            drops=tuple(d for d in self.drops if canonicalize_name(d) not in names) + later.drops,
            adds=tuple(keep(self.adds)) + later.adds,
            source=later.source or self.source,
        )


def from_entry(entry: Mapping[str, Any]) -> StaticMetadata:
    """A ``[[tool.uv.dependency-metadata]]`` entry as metadata (to apply more overrides to it)."""
    return StaticMetadata(
        name=str(entry.get("name")),
        version=str(entry.get("version")) if entry.get("version") is not None else None,
        requires_dist=tuple(str(x) for x in entry.get("requires-dist", [])),
        provides_extras=tuple(str(x) for x in entry.get("provides-extras", [])),
        requires_python=str(entry["requires-python"]) if entry.get("requires-python") else None,
        source="pyproject.toml",
    )


def check_names(
    meta: StaticMetadata,
    *,
    name: str,
    version: str,
    sets: Sequence[Requirement],
    drops: Sequence[str],
    earlier: Ops | None = None,
) -> None:
    """A --set or --drop naming a package the release does not require is a typo until proven otherwise (names
    an earlier override dropped or added count as required)."""
    required = {canonicalize_name(Requirement(line).name) for line in meta.requires_dist}
    if earlier is not None:
        required |= {canonicalize_name(d) for d in earlier.drops}
        required |= {canonicalize_name(Requirement(a).name) for a in earlier.adds}
    for r in sets:
        n = canonicalize_name(r.name)
        if n not in required:
            tip = closest(n, sorted(required))
            raise UsageError(
                f"--set {r}: {name} {version} does not require {n}"
                + (f" (did you mean {tip}?)" if tip else ""),
                hint="to add a requirement it does not have, give --add as well",
            )
    for d in drops:
        n = canonicalize_name(d)
        if n not in required:
            tip = closest(n, sorted(required))
            raise UsageError(
                f"--drop {n}: {name} {version} does not require {n}"
                + (f" (did you mean {tip}?)" if tip else "")
            )


def reapply(entry: Mapping[str, Any], ops: Mapping[str, Any] | None) -> dict[str, Any]:
    """``entry`` with the recorded overrides of its release applied again (``llmenv init`` applies them last)."""
    recorded = Ops.from_record(ops)
    if recorded is None or str(entry.get("version")) != recorded.version:
        return dict(entry)
    o = apply_override(
        from_entry(entry),
        name=str(entry["name"]),
        version=recorded.version,
        sets=parse_sets(recorded.sets),
        drops=recorded.drops,
        adds=parse_sets(recorded.adds),
        strict=False,
    )
    return o.entry()


def apply_override(
    meta: StaticMetadata,
    *,
    name: str,
    version: str,
    sets: Sequence[Requirement],
    drops: Sequence[str],
    adds: Sequence[Requirement] = (),
    strict: bool = True,
) -> Override:
    """``meta`` with every requirement named in ``sets`` replaced (its marker — an extra, a platform — kept unless
    the new one has its own) and every one named in ``drops`` removed; ``adds`` become base requirements.

    A set naming a package the metadata does not require is refused (a typo must not add a dependency): ask for
    it with ``adds``. ``strict=False`` (re-applying recorded overrides) lets a set or drop of a name no longer
    required pass silently."""
    set_by = {canonicalize_name(r.name): r for r in sets}
    add_by = {canonicalize_name(r.name): r for r in adds}
    drop = {canonicalize_name(d) for d in drops}
    both = (set(set_by) | set(add_by)) & drop
    if both:
        raise UsageError(f"{sorted(both)[0]} is both --set and --drop")
    required = {canonicalize_name(Requirement(line).name) for line in meta.requires_dist}
    for n, r in add_by.items():
        if n in required:
            set_by.setdefault(n, r)  # --add of a name it requires: a --set
    unknown = sorted(set(set_by) - required)
    if unknown and strict:
        n = unknown[0]
        tip = closest(n, sorted(required))
        raise UsageError(
            f"--set {set_by[n]}: {name} {version} does not require {n}"
            + (f" (did you mean {tip}?)" if tip else ""),
            hint="to add a requirement it does not have, give --add as well",
        )
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
    for n, r in add_by.items():
        if n not in replaced:
            lines.append(str(r))
            added_for[n] = [str(r)]
    if strict:
        for n in sorted(drop - set(replaced)):
            tip = closest(n, sorted(required))
            raise UsageError(
                f"--drop {n}: {name} {version} does not require {n}"
                + (f" (did you mean {tip}?)" if tip else "")
            )
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
