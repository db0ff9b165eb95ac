"""Where llmenv's knowledge ends, said before planning: unknown means unknown.

* A requirement only a release newer than every known one could meet (``torch==2.16.0`` when the torch table
  stops at 2.15.0) is not "no build": it is beyond the knowledge, and the answer names the table and its date.
* A ``--cuda`` the CUDA table lists without a floor (13.4, 13.5), or newer than the table, is accepted; the
  warning says what is unknown.
* Knowledge older than :data:`MAX_AGE_DAYS` is named in the plan's header.

Pure functions over a :class:`~llmenv.knowledge.Knowledge`; the CLI calls them (``cli/_planning.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion
from llmenv.knowledge import Knowledge

__all__ = ["MAX_AGE_DAYS", "Beyond", "beyond", "cuda_warnings", "knowledge_date", "stale_note", "today"]

MAX_AGE_DAYS = 60
_LOWER = ("==", "===", ">=", ">", "~=")


def today() -> date:
    """The day used for the age of the knowledge (tests replace it)."""
    return date.today()


class Beyond(NamedTuple):
    """A requirement whose answer lies past what a table knows."""

    package: str
    wanted: str  # "2.16.0" or ">=2.16"
    table: str
    date: str | None
    via: str | None = None  # "vllm 0.34.0 pins torch==2.16.0"

    @property
    def message(self) -> str:
        of = f"llmenv's knowledge ({self.table} table of {self.date})"
        if self.via:
            what = f"{self.via}, and torch {self.wanted} is newer than {of}"
        elif self.wanted[:1].isdigit():
            what = f"{self.package} {self.wanted} is newer than {of}"
        else:
            what = f"{self.package}{self.wanted} admits only releases newer than {of}"
        return f"{what}: run `llmenv kb refresh`"


def _bound(spec: SpecifierSet) -> Version | None:
    """The highest lower bound (or exact version) a specifier set puts on the version, if any."""
    return max((b for b, _ in _bounds(spec)), default=None)


def _bounds(spec: SpecifierSet) -> list[tuple[Version, bool]]:
    """Each lower bound (or exact version) with whether it excludes the bound itself (``>``)."""
    out = []
    for s in spec:
        if s.operator not in _LOWER:
            continue
        try:
            out.append((Version(s.version.removesuffix(".*")), s.operator == ">"))
        except InvalidVersion:
            continue
    return out


def _only_newer(spec: SpecifierSet, newest: Version) -> bool:
    """Does ``spec`` keep out every version up to ``newest`` by a lower bound?"""
    return any(b > newest or (strict and b == newest) for b, strict in _bounds(spec))


def _public(spec: SpecifierSet) -> SpecifierSet:
    """The specifier with local labels dropped (``==2.15.0+cu132`` asks for release 2.15.0)."""
    parts = [f"{s.operator}{s.version.split('+')[0]}" for s in spec]
    return SpecifierSet(",".join(parts))


def _past(spec: SpecifierSet, known: Iterable[Version]) -> str | None:
    """What of ``spec`` lies past ``known``: None when a known version fits, or when nothing newer could."""
    known = list(known)
    spec = _public(spec)
    if not known or not str(spec) or any(spec.contains(v, prereleases=True) for v in known):
        return None
    if not _only_newer(spec, max(known)):
        return None
    exact = [s for s in spec if s.operator in ("==", "===") and not s.version.endswith(".*")]
    return exact[0].version if len(spec) == 1 and exact else str(spec)


def _known(kb: Knowledge, name: str) -> tuple[str, list[Version]] | None:
    """(table, versions) the knowledge has of a package; None for packages no table follows."""
    if name == "torch":
        return "torch", [r.version for r in kb.torch]
    if name == "flash-attn":
        return "flash-attn", [r.version for r in kb.flash_attn.releases]
    if name in kb.pins.names():
        return "pins", [r.version for r in kb.pins.releases(name)]
    return None


def beyond(kb: Knowledge, requirements: Iterable[Requirement]) -> list[Beyond]:
    """Requirements only an unknown (newer) release could meet, and exact engine / framework pins whose torch
    pin is newer than the torch table."""
    out: list[Beyond] = []
    newest_torch = max(r.version for r in kb.torch)
    for req in requirements:
        name = canonicalize_name(req.name)
        known = _known(kb, name)
        if known is None:
            continue
        table, versions = known
        past = _past(req.specifier, versions)
        if past is not None:
            out.append(Beyond(package=name, wanted=past, table=table, date=kb.info(table).date))
            continue
        if table == "pins" and name != "torch":
            out += _pinned_torch(kb, name, req.specifier, newest_torch)
    return out


def _pinned_torch(kb: Knowledge, name: str, spec: SpecifierSet, newest: Version) -> list[Beyond]:
    """An exact release asked for whose own torch pin lies past the torch table."""
    exact = [s for s in spec if s.operator in ("==", "===") and not s.version.endswith(".*")]
    if not exact:
        return []
    rel = kb.pins.release(name, exact[0].version)
    if rel is None:
        return []
    for req in rel.requires_dist:
        if canonicalize_name(req.name) != "torch" or (req.marker is not None and "extra" in str(req.marker)):
            continue
        bound = _bound(req.specifier)
        if (
            bound is not None
            and bound > newest
            and not any(req.specifier.contains(r.version, prereleases=True) for r in kb.torch)
        ):
            via = f"{name} {rel.version} pins torch{req.specifier}"
            return [
                Beyond(package="torch", wanted=str(bound), table="torch", date=kb.info("torch").date, via=via)
            ]
    return []


def cuda_warnings(kb: Knowledge, *, cuda: CudaVersion | None, driver: str | None, given: bool) -> list[str]:
    """What is unknown about the target's CUDA. ``given``: the CUDA came from ``--cuda`` (not from a driver)."""
    table = kb.cuda
    out = []
    if cuda is not None and given:
        unknown = table.unknown_floor(cuda)
        if unknown is not None:
            out.append(
                f"CUDA {cuda}'s minimum driver is unknown (it must come from {unknown.where}, which no source "
                f"llmenv reads publishes): planned for a driver that supports CUDA {cuda}"
            )
        elif cuda > table.newest:
            out.append(
                f"CUDA {cuda} is newer than llmenv's CUDA table (of {table.verified}, newest {table.newest}): its "
                "minimum driver is unknown; planning as if the target's driver supports it"
            )
    if driver is not None and not given and table.unknown_floors:
        newest_floor = table.toolkits[-1]
        above = [u for u in table.unknown_floors if u.cuda > newest_floor[0]]
        try:
            newer = Version(driver) > Version(newest_floor[1])
        except InvalidVersion:
            newer = False
        if above and newer:
            names = "/".join(str(u.cuda) for u in above)
            out.append(
                f"driver {driver} may also run CUDA {names}, whose minimum drivers are unknown: planned for "
                f"CUDA <= {newest_floor[0]} (give --cuda {above[-1].cuda} to plan for it)"
            )
    return out


def knowledge_date(kb: Knowledge) -> str | None:
    """The date of the oldest table ``kb refresh`` keeps up to date (what "knowledge of DATE" means)."""
    dates = [d for d in (kb.date(n) for n in ("torch", "pins", "engines", "flash-attn")) if d]
    return min(dates) if dates else None


def stale_note(kb: Knowledge, *, on: date | None = None, max_age: int = MAX_AGE_DAYS) -> str | None:
    """``knowledge of 2026-11-26`` when the knowledge is older than ``max_age`` days, else None."""
    when = knowledge_date(kb)
    if when is None:
        return None
    age = ((on or today()) - date.fromisoformat(when)).days
    return f"knowledge of {when}" if age > max_age else None
