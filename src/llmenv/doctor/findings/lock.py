"""The environment against its lock: locked packages missing, at another version, or installed and not locked.

One severity rule (:func:`drift_status`) for ``llmenv doctor`` and ``llmenv doctor --ray``:

* a package the project's own dependencies need (``uv export --no-default-groups``) that is not installed: **fail**
  (importing it fails; torch missing is the typical case);
* a locked package at another version: **fail** (the environment is not the one that was locked and tested);
* a package installed that the lock does not have (``uv pip install`` by hand; ``uv sync`` removes it): warn;
* packages only a dependency group or an extra needs, not installed: ok (``uv sync --no-dev``, an extra not
  asked for), listed in the evidence;
* the installers and build tools an environment carries for itself (pip, setuptools, wheel: seeded by
  ``uv venv --seed`` or virtualenv at their newest, upgraded by ``pip install -U pip``): another version is a
  warning, missing or extra is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.doctor.findings.model import STATUSES, Finding
from llmenv.lockfile import Pylock

__all__ = ["TOOLING", "Drift", "LockedSets", "check_lock", "drift_issues", "drift_status", "lock_drift"]

TOOLING = frozenset({"pip", "setuptools", "wheel"})
SHOWN = 5  # names shown per kind before "and N more"


@dataclass(frozen=True, kw_only=True)
class LockedSets:
    """A project's lock, exported for the environment's platform: every package of every group and extra
    (``known``), and what the project's own dependencies need (``required``; None: unknown, all of ``known``)."""

    known: Pylock
    required: Pylock | None = None
    where: str = "uv.lock"


@dataclass(frozen=True, kw_only=True)
class Drift:
    kind: str  # missing | version | extra
    name: str
    locked: str | None = None
    installed: str | None = None
    required: bool = True  # the project's own dependencies need it (not only a dependency group or an extra)


def drift_status(d: Drift) -> str:
    """The severity of one difference from the lock (the rule in this module's docstring)."""
    if d.name in TOOLING:
        return "warn" if d.kind == "version" else "ok"
    if d.kind == "missing":
        return "fail" if d.required else "ok"
    if d.kind == "version":
        return "fail"
    return "warn"


def same_version(a: str, b: str) -> bool:
    """Equal versions; a local label on one side only is ignored (a flat index names flash-attn's release wheel
    ``2.7.4.post1+cu12torch2.6...`` while its metadata says ``2.7.4.post1``)."""
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return a == b
    if va == vb:
        return True
    return va.public == vb.public and (va.local is None or vb.local is None)


def lock_drift(lock: LockedSets, installed: Mapping[str, str], markers: Mapping[str, str]) -> list[Drift]:
    """How the installed distributions (name -> version) differ from the lock, for this marker environment."""
    have: dict[str, str] = {str(canonicalize_name(k)): str(v) for k, v in installed.items()}
    known = [p for p in lock.known.for_environment(markers)]
    required = {p.name for p in lock.required.for_environment(markers)} if lock.required is not None else None
    out: list[Drift] = []
    locked_names = set()
    for p in known:
        locked_names.add(p.name)
        if p.version is None or p.kind == "directory":  # the project itself, editable path sources
            continue
        mine = have.get(p.name)
        need = required is None or p.name in required
        if mine is None:
            out.append(Drift(kind="missing", name=p.name, locked=p.version, required=need))
        elif not same_version(mine, p.version):
            out.append(Drift(kind="version", name=p.name, locked=p.version, installed=mine, required=need))
    for name in sorted(set(have) - locked_names):
        out.append(Drift(kind="extra", name=name, installed=have[name], required=False))
    return out


def _names(drifts: Sequence[Drift], *, versions: bool = False) -> str:
    def one(d: Drift) -> str:
        if d.kind == "version":
            return f"{d.name} {d.installed} (locked: {d.locked})"
        return f"{d.name} {d.locked or d.installed}" if versions else d.name

    shown = ", ".join(one(d) for d in drifts[:SHOWN])
    return shown + (f" and {len(drifts) - SHOWN} more" if len(drifts) > SHOWN else "")


_KINDS = ("missing", "version", "extra")


def drift_issues(drifts: Sequence[Drift]) -> list[tuple[str, str]]:
    """(status, text) per kind of difference that is not ok, worst first: the lines both doctors print."""
    groups: dict[tuple[str, str], list[Drift]] = {}
    for d in drifts:
        status = drift_status(d)
        if status != "ok":
            groups.setdefault((d.kind, status), []).append(d)
    out = []
    for (kind, status), ds in sorted(
        groups.items(), key=lambda kv: (-STATUSES.index(kv[0][1]), _KINDS.index(kv[0][0]))
    ):
        n = len(ds)
        tools = all(d.name in TOOLING for d in ds)
        if kind == "missing":
            text = f"{n} locked package(s) not installed: {_names(ds)}"
        elif kind == "version" and tools:
            text = f"{n} installer or build tool(s) at another version than the lock: {_names(ds)}"
        elif kind == "version":
            text = f"{n} package(s) at another version than the lock: {_names(ds)}"
        else:
            text = f"{n} installed package(s) the lock does not have: {_names(ds, versions=True)}"
        out.append((status, text))
    return out


def check_lock(
    lock: LockedSets | None,
    installed: Mapping[str, str],
    markers: Mapping[str, str],
    *,
    error: str | None = None,
) -> list[Finding]:
    """The ``lock`` finding of the local doctor (none without a lock)."""
    if error:
        return [
            Finding(
                check="lock",
                status="warn",
                summary="the project's uv.lock could not be compared with the environment",
                evidence=(error,),
                fix="`llmenv lock` (uv lock) brings uv.lock up to date with pyproject.toml",
            )
        ]
    if lock is None:
        return []
    if not markers:
        return []
    drifts = lock_drift(lock, installed, markers)
    issues = drift_issues(drifts)
    optional = [d for d in drifts if d.kind == "missing" and not d.required and d.name not in TOOLING]
    evidence = [f"compared with {lock.where}"]
    if optional:
        evidence.append(
            f"{len(optional)} package(s) only dependency groups or extras need are not installed: {_names(optional)}"
        )
    if not issues:
        locked = sum(1 for p in lock.known.for_environment(markers) if p.version and p.kind != "directory")
        return [
            Finding(
                check="lock",
                status="ok",
                summary=f"the environment has the {locked} locked package(s) at their locked versions",
                evidence=tuple(evidence),
            )
        ]
    status = issues[0][0]
    return [
        Finding(
            check="lock",
            status=status,
            summary="the environment differs from uv.lock: " + "; ".join(text for _, text in issues),
            evidence=tuple(evidence),
            fix="`llmenv sync` (uv sync) installs exactly what uv.lock has, and removes what it does not",
        )
    ]
