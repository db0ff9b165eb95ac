"""Regenerate ``src/llmenv/knowledge/data/engine_torch_pins.json`` from the PyPI pin tables.

    python scripts/gen_engine_torch_pins.py [FACTS_DIR]   (default: ../shared/facts)

Inputs (read from PyPI metadata by ``facts/scripts/fetch_pypi_pins.py``): ``vllm_pins.csv`` and
``sglang_pins.csv`` (the exact torch pin of each release), and ``sglang_requires_dist_raw.csv`` (which extras of
sglang pull in the extra that carries the pin, e.g. ``all`` -> ``srt``). A test compares the bundled file with a
fresh build, so the table cannot drift from its sources unnoticed.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "llmenv" / "knowledge" / "data" / "engine_torch_pins.json"
# sglang keeps its CUDA runtime stack behind these extras before 0.5.3 (from 0.5.3 torch is a base dependency).
CUDA_EXTRAS = ("srt", "blackwell")


def _exact(spec: str) -> str | None:
    """``==2.6.0`` (optionally ``; marker``) -> ``2.6.0``; anything else -> None."""
    req = Requirement("torch" + spec)
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator == "==" and not specs[0].version.endswith(".*"):
        return specs[0].version
    return None


def _marker(spec: str) -> str | None:
    req = Requirement("torch" + spec)
    return str(req.marker) if req.marker else None


def _extra_graph(raw_csv: Path, provided: dict[str, list[str]]) -> dict[str, dict[str, set[str]]]:
    """version -> extra -> the project's own extras it requires (``sglang[srt]; extra == "all"``)."""
    graph: dict[str, dict[str, set[str]]] = {}
    with raw_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            req = Requirement(row["requirement"])
            if canonicalize_name(req.name) != canonicalize_name(row["package"]) or not req.extras:
                continue
            if req.marker is None:
                continue
            for extra in provided.get(row["version"], []):
                if req.marker.evaluate({"extra": extra}):
                    graph.setdefault(row["version"], {}).setdefault(extra, set()).update(
                        canonicalize_name(e) for e in req.extras
                    )
    return graph


def _closure(seeds: set[str], graph: dict[str, set[str]]) -> list[str]:
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


def _vllm(facts: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with (facts / "vllm_pins.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pin = _exact(row["torch"])
            if pin is None:
                continue
            entry: dict[str, Any] = {"torch": pin}
            if m := _marker(row["torch"]):
                entry["marker"] = m
            out[row["version"]] = entry
    return out


def _sglang(facts: Path) -> dict[str, Any]:
    with (facts / "sglang_pins.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    provided: dict[str, list[str]] = {
        r["version"]: [str(canonicalize_name(e)) for e in r["extras"].split("|") if e] for r in rows
    }
    graph = _extra_graph(facts / "sglang_requires_dist_raw.csv", provided)
    out: dict[str, Any] = {}
    for row in rows:
        version = row["version"]
        base: str | None = None
        by_extra: dict[str, str] = {}
        for part in row["torch"].split(" || "):
            part = part.strip()
            if part.startswith("["):
                extra, _, spec = part[1:].partition("] ")
                pin = _exact(spec) if spec != "(unpinned)" else None
                if pin:
                    by_extra[canonicalize_name(extra)] = pin
            elif part and part != "(unpinned)":
                base = _exact(part)
        entry: dict[str, Any]
        if base:
            entry = {"torch": base}
        else:
            seeds = {e for e in CUDA_EXTRAS if e in by_extra}
            if seeds:
                entry = {"torch": by_extra["srt"] if "srt" in by_extra else by_extra[min(seeds)]}
            elif row["implied_torch_via_vllm"]:
                via, _, spec = row["implied_torch_via_vllm"].partition(" -> torch ")
                pin = _exact(spec)
                if pin is None:
                    continue
                seeds = {"srt"}
                entry = {"torch": pin, "via": via}
            else:
                continue
            entry["extras"] = _closure(seeds, graph.get(version, {}))
        out[version] = entry
    return out


def build(facts: Path) -> dict[str, Any]:
    engines = {"vllm": _vllm(facts), "sglang": _sglang(facts)}
    for table in engines.values():
        for v in table:
            Version(v)  # every key is a valid version
    return {
        "about": "Exact torch pin of each vLLM / SGLang release on PyPI (what `vllm==X` forces torch to be). "
        "An entry with `extras` pins torch only when one of those extras is requested (sglang before 0.5.3: "
        "`sglang[srt]`); `via` names the requirement that carries the pin; `marker` limits where it applies.",
        "verified": "2026-11-26",
        "sources": {
            "vllm": "PyPI metadata: Requires-Dist of one manylinux x86_64 wheel per vllm release, "
            "https://pypi.org/simple/vllm/ (facts/vllm_pins.csv, torch column)",
            "sglang": "PyPI metadata: Requires-Dist of each sglang release, https://pypi.org/simple/sglang/ "
            "(facts/sglang_pins.csv torch and implied_torch_via_vllm columns; extras closure from "
            "facts/sglang_requires_dist_raw.csv)",
            "regenerate": "python scripts/gen_engine_torch_pins.py",
        },
        "engines": engines,
    }


def main(argv: list[str]) -> int:
    facts = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "facts"
    OUT.write_text(json.dumps(build(facts), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
