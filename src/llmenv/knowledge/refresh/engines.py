"""The engine -> torch pin table (``engine_torch_pins.json``), derived from the pins table.

For each vLLM and SGLang release: the exact torch its metadata pins (``torch==2.6.0``), with the marker that
limits it and, for SGLang before 0.5.3, the extras through which the pin comes (``[srt]`` and every extra that
requires ``sglang[srt]``), or the vLLM release that carries it (``vllm==0.6.4.post1; extra == "srt"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from llmenv.knowledge.pins import PinnedRelease, Pins

__all__ = ["CUDA_EXTRAS", "build"]

# sglang keeps its CUDA runtime stack behind these extras before 0.5.3 (from 0.5.3 torch is a base dependency).
CUDA_EXTRAS = ("srt", "blackwell")


def _exact(spec: SpecifierSet) -> str | None:
    specs = list(spec)
    if len(specs) == 1 and specs[0].operator == "==" and not specs[0].version.endswith(".*"):
        return specs[0].version
    return None


def _extras_of(marker: Marker | None, provided: Iterable[str]) -> list[str] | None:
    """The extras a marker applies under (None: it applies without any extra)."""
    if marker is None:
        return None
    if "extra" not in str(marker):
        return None
    return [e for e in provided if marker.evaluate({"extra": e})]


def _non_extra_marker(req: Requirement) -> str | None:
    return str(req.marker) if req.marker is not None and "extra" not in str(req.marker) else None


def _vllm_entry(rel: PinnedRelease) -> dict[str, Any] | None:
    for req in rel.requires_dist:
        if canonicalize_name(req.name) != "torch" or _extras_of(req.marker, rel.extras) is not None:
            continue
        pin = _exact(req.specifier)
        if pin is None:
            return None
        entry: dict[str, Any] = {"torch": pin}
        if (m := _non_extra_marker(req)) is not None:
            entry["marker"] = m
        return entry
    return None


def _closure(seeds: set[str], graph: Mapping[str, set[str]]) -> list[str]:
    """Every extra that requires (transitively) one of ``seeds``, plus the seeds."""
    found = set(seeds)
    changed = True
    while changed:
        changed = False
        for extra, needs in graph.items():
            if extra not in found and needs & found:
                found.add(extra)
                changed = True
    return sorted(found)


def _sglang_entry(rel: PinnedRelease, vllm: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    provided = [str(canonicalize_name(e)) for e in rel.extras]
    base: str | None = None
    by_extra: dict[str, str] = {}
    via: dict[str, tuple[str, str]] = {}  # extra -> (requirement, torch pin through vllm)
    graph: dict[str, set[str]] = {}
    for req in rel.requires_dist:
        name = canonicalize_name(req.name)
        extras = _extras_of(req.marker, provided)
        if name == "sglang" and extras:
            for e in extras:
                graph.setdefault(e, set()).update(canonicalize_name(x) for x in req.extras)
        elif name == "torch":
            pin = _exact(req.specifier)
            if extras is None:
                base = base or pin
            elif pin:
                for e in extras:
                    by_extra.setdefault(e, pin)
        elif name == "vllm" and extras and (v := _exact(req.specifier)) and v in vllm:
            for e in extras:
                via.setdefault(e, (f"vllm=={v}", str(vllm[v]["torch"])))
    if base:
        return {"torch": base}
    seeds = {e for e in CUDA_EXTRAS if e in by_extra}
    if seeds:
        pin = by_extra["srt"] if "srt" in by_extra else by_extra[min(seeds)]
        return {"torch": pin, "extras": _closure(seeds, graph)}
    if "srt" in via:
        requirement, pin = via["srt"]
        return {"torch": pin, "via": requirement, "extras": _closure({"srt"}, graph)}
    return None


def build(pins: Pins, *, now: datetime | None = None) -> dict[str, Any]:
    """The table, from every vllm / sglang release the pins table knows (pre-releases, and releases whose
    metadata was not read, are left out)."""
    vllm: dict[str, dict[str, Any]] = {}
    for rel in sorted(pins.releases("vllm"), key=lambda r: r.version):
        if rel.metadata_known and not rel.version.is_prerelease and (e := _vllm_entry(rel)) is not None:
            vllm[str(rel.version)] = e
    sglang: dict[str, dict[str, Any]] = {}
    for rel in sorted(pins.releases("sglang"), key=lambda r: r.version):
        if (
            rel.metadata_known
            and not rel.version.is_prerelease
            and (e := _sglang_entry(rel, vllm)) is not None
        ):
            sglang[str(rel.version)] = e
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "about": "Exact torch pin of each vLLM / SGLang release on PyPI (what `vllm==X` forces torch to be). "
        "An entry with `extras` pins torch only when one of those extras is requested (sglang before 0.5.3: "
        "`sglang[srt]`); `via` names the requirement that carries the pin; `marker` limits where it applies.",
        "verified": when.date().isoformat(),
        "generated": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "read_from": f"the pins table of {pins.generated[:10]} ({pins.index})",
        "sources": {
            "vllm": f"Requires-Dist of each vllm release in the pins table ({pins.index}, read {pins.generated})",
            "sglang": f"Requires-Dist of each sglang release in the pins table ({pins.index}, read "
            f"{pins.generated}); the extras that pull in sglang[srt]; a torch pin carried by vllm==X",
            "regenerate": "llmenv kb refresh (derived from the pins it reads)",
        },
        "engines": {"vllm": vllm, "sglang": sglang},
    }
