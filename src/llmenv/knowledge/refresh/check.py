"""``kb refresh --check``: does a table read the same again from its sources?

Each comparison looks only at what the old table holds: a release published since is counted, not a
difference; a fact the new read could not see (the PyTorch index's part when only PyPI was reachable) is not
compared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compare"]

_PYPI_FIELDS = ("wheels", "python", "free_threaded", "cxx11_abi", "pypi")
_INDEX_FIELDS = ("variants", "rocm")
_FA_FIELDS = ("builds", "python", "cxx11_abi", "exclude", "missing", "pypi_sdist", "date")


def _diff_keys(a: Mapping[str, Any], b: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if (a.get(k) or None) != (b.get(k) or None)]


def _torch(old: Mapping[str, Any], new: Mapping[str, Any], partial: bool) -> tuple[list[str], list[str]]:
    diffs: list[str] = []
    fresh = {r["version"]: r for r in new["releases"]}
    for r in old["releases"]:
        v = r["version"]
        n = fresh.get(v)
        if n is None:
            diffs.append(f"torch {v}: no longer on PyPI")
            continue
        keys = [k for k in ("torchvision", "torchaudio") if r.get(k) != n.get(k)]
        for key in sorted(set(r["platforms"]) | set(n["platforms"])):
            a, b = r["platforms"].get(key, {}), n["platforms"].get(key, {})
            fields = _PYPI_FIELDS + (() if partial else _INDEX_FIELDS)
            keys += [f"{key}.{k}" for k in _diff_keys(a, b, fields)]
        if keys:
            diffs.append(f"torch {v}: {', '.join(keys)} differ")
    added = [f"torch {v}" for v in fresh if v not in {r["version"] for r in old["releases"]}]
    return diffs, added


def _engines(old: Mapping[str, Any], new: Mapping[str, Any], partial: bool) -> tuple[list[str], list[str]]:
    diffs, added = [], []
    for engine, table in old["engines"].items():
        fresh = new["engines"].get(engine, {})
        for v, entry in table.items():
            if fresh.get(v) != entry:
                diffs.append(f"{engine} {v}: {entry} now reads {fresh.get(v)}")
        added += [f"{engine} {v}" for v in fresh if v not in table]
    return diffs, added


def _flash_attn(old: Mapping[str, Any], new: Mapping[str, Any], partial: bool) -> tuple[list[str], list[str]]:
    diffs = []
    fresh = {r["version"]: r for r in new["releases"]}
    for r in old["releases"]:
        n = fresh.get(r["version"], {})
        keys = _diff_keys(r, n, _FA_FIELDS)
        if keys:
            diffs.append(f"flash-attn {r['version']}: {', '.join(keys)} differ")
    added = [f"flash-attn {v}" for v in fresh if v not in {r["version"] for r in old["releases"]}]
    return diffs, added


def _pins(old: Mapping[str, Any], new: Mapping[str, Any], partial: bool) -> tuple[list[str], list[str]]:
    from llmenv.kb import compare_snapshots

    return compare_snapshots(old, new)


_COMPARE: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], bool], tuple[list[str], list[str]]]] = {
    "pins": _pins,
    "engines": _engines,
    "torch": _torch,
    "flash-attn": _flash_attn,
}


def compare(
    name: str, old: Mapping[str, Any], new: Mapping[str, Any], *, partial: bool = False
) -> tuple[list[str], list[str]]:
    """(differences, added) between the table ``old`` and a fresh read ``new``."""
    return _COMPARE[name](old, new, partial)
