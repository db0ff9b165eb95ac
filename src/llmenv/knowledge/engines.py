"""Pins that knowledge says a release forces on others: ``vllm==0.8.5`` means ``torch==2.6.0``.

Two small cited tables, read lazily: ``engine_torch_pins.json`` (every vLLM / SGLang release's exact torch pin,
built from PyPI metadata by ``scripts/gen_engine_torch_pins.py``) and ``pinned_requires.json`` (the Requires-Dist
of a few exact releases that real projects pin). Callers go through the two functions below only, so the tables
can later be replaced by the full PyPI snapshot without touching them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.knowledge import read_data

__all__ = ["engine_torch_pin", "engine_versions", "pinned_requirements"]


def _key(version: str) -> str | None:
    try:
        return str(Version(version))
    except InvalidVersion:
        return None


@cache
def _engines() -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    data = read_data("engine_torch_pins.json")
    out: dict[str, dict[str, Mapping[str, Any]]] = {}
    for name, table in data["engines"].items():
        out[canonicalize_name(name)] = {str(Version(v)): entry for v, entry in table.items()}
    return out


def engine_torch_pin(name: str, version: str, extras: Iterable[str] | None = None) -> str | None:
    """The exact torch version release ``name==version`` pins, or None when unknown or unpinned.

    ``extras``: the extras requested with the engine. Before 0.5.3 sglang pins torch only through ``[srt]`` (and
    the extras that include it); with ``extras`` given and none of them carrying the pin, the answer is None.
    With ``extras=None`` the pin of the CUDA install is returned whatever the extras.
    """
    key = _key(version)
    if key is None:
        return None
    entry = _engines().get(canonicalize_name(name), {}).get(key)
    if entry is None:
        return None
    needs = entry.get("extras")
    if needs is not None and extras is not None and not {canonicalize_name(e) for e in extras} & set(needs):
        return None
    return str(entry["torch"])


def engine_versions(name: str) -> tuple[tuple[Version, str], ...]:
    """Every known release of an engine with its torch pin, oldest first (for suggesting a compatible one)."""
    table = _engines().get(canonicalize_name(name), {})
    return tuple(sorted((Version(v), str(e["torch"])) for v, e in table.items()))


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
