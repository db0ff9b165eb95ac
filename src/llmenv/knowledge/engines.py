"""Pins that knowledge says a release forces on others: ``vllm==0.8.5`` means ``torch==2.6.0``.

Two small cited tables: ``engine_torch_pins.json`` (every vLLM / SGLang release's exact torch pin, derived from
the pins table by ``llmenv kb refresh``: :func:`llmenv.knowledge.refresh.engines.build`) and
``pinned_requires.json`` (the Requires-Dist of a few exact releases that real projects pin, curated). Callers go
through the functions below, which read the knowledge in use (refreshed or bundled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.knowledge import load, read_data

__all__ = ["EngineTable", "engine_torch_pin", "engine_versions", "pinned_requirements"]


def _key(version: str) -> str | None:
    try:
        return str(Version(version))
    except InvalidVersion:
        return None


@dataclass(frozen=True, kw_only=True)
class EngineTable:
    """engine -> normalized version -> {"torch": pin, "extras"?: [...], "via"?: ..., "marker"?: ...}."""

    engines: Mapping[str, Mapping[str, Mapping[str, Any]]]
    sources: Mapping[str, str]
    verified: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineTable:
        out: dict[str, dict[str, Mapping[str, Any]]] = {}
        for name, table in d["engines"].items():
            entries = {}
            for v, entry in table.items():
                if not isinstance(entry.get("torch"), str):
                    raise ValueError(f"engines.{name}.{v}: no torch pin")
                entries[str(Version(v))] = entry
            out[canonicalize_name(name)] = entries
        return cls(engines=out, sources=d["sources"], verified=str(d.get("generated") or d["verified"]))

    def torch_pin(self, name: str, version: str, extras: Iterable[str] | None = None) -> str | None:
        key = _key(version)
        if key is None:
            return None
        entry = self.engines.get(canonicalize_name(name), {}).get(key)
        if entry is None:
            return None
        needs = entry.get("extras")
        if (
            needs is not None
            and extras is not None
            and not {canonicalize_name(e) for e in extras} & set(needs)
        ):
            return None
        return str(entry["torch"])

    def versions(self, name: str) -> tuple[tuple[Version, str], ...]:
        table = self.engines.get(canonicalize_name(name), {})
        return tuple(sorted((Version(v), str(e["torch"])) for v, e in table.items()))


def engine_torch_pin(name: str, version: str, extras: Iterable[str] | None = None) -> str | None:
    """The exact torch version release ``name==version`` pins, or None when unknown or unpinned.

    ``extras``: the extras requested with the engine. Before 0.5.3 sglang pins torch only through ``[srt]`` (and
    the extras that include it); with ``extras`` given and none of them carrying the pin, the answer is None.
    With ``extras=None`` the pin of the CUDA install is returned whatever the extras.
    """
    return load().engines.torch_pin(name, version, extras)


def engine_versions(name: str) -> tuple[tuple[Version, str], ...]:
    """Every known release of an engine with its torch pin, oldest first (for suggesting a compatible one)."""
    return load().engines.versions(name)


@cache
def _pinned() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    data = read_data("pinned_requires.json")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, table in data["packages"].items():
        out[canonicalize_name(name)] = {str(Version(v)): tuple(e["requires_dist"]) for v, e in table.items()}
    return out


def pinned_requirements(name: str, version: str) -> tuple[str, ...] | None:
    """The Requires-Dist lines (PEP 508 strings, extras as markers) of release ``name==version``, if known."""
    key = _key(version)
    if key is None:
        return None
    return _pinned().get(canonicalize_name(name), {}).get(key)
