"""Rewrite the wheel matrix of ``src/llmenv/knowledge/data/flash_attn.json`` from the facts CSV.

The CSV (``flash_attn_wheel_matrix.csv``: one row per wheel file each release tag's publish.yml builds) is
stored compactly: per release, its CI build lines (wheel CUDA tag, nvcc, torch versions), the Pythons, the ABIs
and the (torch, Python) pairs the workflow excludes. llmenv expands it again in code
(``llmenv.knowledge.flash_attn``); ``tests/test_flash_attn_knowledge.py`` checks that the expansion gives back
exactly the CSV's file names. Every other field of the JSON (dates, archs, known breakages, sources) is curated
by hand and kept as it is.

    python scripts/gen_flash_attn_matrix.py ../shared/facts/flash_attn_wheel_matrix.csv
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src/llmenv/knowledge/data/flash_attn.json"
FIXTURE = ROOT / "tests/fixtures/flash_attn/expected_wheels.txt.gz"


def _mm(torch: str) -> str:
    v = Version(torch)
    return f"{v.major}.{v.minor}"


def dump(value: object, indent: str = "") -> str:
    """JSON with one line per object member, and lists of plain values (and small objects) kept on one line."""
    inner = indent + " "
    if isinstance(value, dict):
        if not value:
            return "{}"
        flat = json.dumps(value, ensure_ascii=False)
        if len(flat) <= 110 and not any(isinstance(v, dict) for v in value.values()):
            return flat
        body = ",\n".join(f"{inner}{json.dumps(k)}: {dump(v, inner)}" for k, v in value.items())
        return "{\n" + body + "\n" + indent + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return json.dumps(value, ensure_ascii=False)
        return "[\n" + ",\n".join(inner + dump(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def main(csv_path: str) -> int:
    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_tag: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_tag[r["flash_attn_tag"].removeprefix("v")].append(r)
    data = json.loads(DATA.read_text(encoding="utf-8"))
    releases = {r["version"]: r for r in data["releases"]}
    for version, rs in by_tag.items():
        lines: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in rs:
            lines[(r["wheel_cuda_tag"], r["built_with_nvcc"])].add(r["torch_mm"])
        pythons = sorted({r["python"] for r in rs}, key=Version)
        abis = sorted({r["cxx11abi"] == "TRUE" for r in rs})
        platforms = sorted({r["platform"] for r in rs})
        assert len(platforms) == 1, platforms
        have = {(_mm(r["torch_mm"]), r["python"], r["cxx11abi"] == "TRUE", r["wheel_cuda_tag"]) for r in rs}
        excluded: dict[str, list[str]] = defaultdict(list)
        for (cuda, _nvcc), torches in lines.items():
            for t in torches:
                for py in pythons:
                    missing = [abi for abi in abis if (_mm(t), py, abi, cuda) not in have]
                    assert missing in ([], abis), (version, t, py, missing)  # an exclusion drops both ABIs
                    if missing and py not in excluded[_mm(t)]:
                        excluded[_mm(t)].append(py)
        entry = releases.setdefault(version, {"version": version})
        entry["date"] = rs[0]["tag_date"]
        entry["builds"] = [
            {"cuda": cuda, "nvcc": nvcc, "torch": sorted(torches, key=Version)}
            for (cuda, nvcc), torches in sorted(lines.items())
        ]
        entry["python"] = pythons
        entry["cxx11_abi"] = abis
        entry["platform"] = platforms[0]
        entry["exclude"] = [
            {"torch": t, "python": pys} for t, pys in sorted(excluded.items(), key=lambda kv: Version(kv[0]))
        ]
    data["releases"] = sorted(releases.values(), key=lambda r: Version(r["version"]))
    DATA.write_text(dump(data) + "\n", encoding="utf-8")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(r["expected_wheel_filename"] for r in rows)
    FIXTURE.write_bytes(gzip.compress(("\n".join(names) + "\n").encode(), mtime=0))
    print(
        f"{len(by_tag)} releases, {len(rows)} wheel files -> {DATA.relative_to(ROOT)}, {FIXTURE.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
