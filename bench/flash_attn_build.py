"""Summarise the flash-attn source builds measured on the GPU machine (bench/flash_attn_build.md).

Reads the raw records in bench/flash_attn_build/ (ninja's .ninja_log of each build: start and end of every
compile job; the memory samples taken every second; the build's result) and writes
bench/flash_attn_build.json. Run: python bench/flash_attn_build.py
"""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
RAW = HERE / "flash_attn_build"


def ninja_jobs(path: Path) -> dict[str, tuple[float, float]]:
    """object file -> (start s, end s) from a .ninja_log (v7: start ms, end ms, mtime, output, hash)."""
    jobs = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        start, end, _mtime, out, _hash = line.split("\t")
        jobs[out.rsplit("/", 1)[1]] = (int(start) / 1000, int(end) / 1000)
    return jobs


def memory(path: Path) -> dict[str, float]:
    """Peak and mean memory in use (MemTotal - MemAvailable), GiB, and the most concurrent cicc processes."""
    rows = [line.split() for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line.strip()]
    used = [int(r[1]) / 2**20 for r in rows]
    t0 = int(rows[0][0])
    peak_at = int(rows[used.index(max(used))][0]) - t0
    return {
        "samples": len(rows),
        "baseline_gib": round(used[0], 2),
        "peak_used_gib": round(max(used), 1),
        "peak_at_s": peak_at,
        "mean_used_gib": round(statistics.mean(used), 1),
        "max_cicc": max(int(r[3]) for r in rows),
    }


def main() -> None:
    a = ninja_jobs(RAW / "A90-ninja_log.txt")
    b = ninja_jobs(RAW / "B8090-ninja_log.txt")
    result_a = json.loads((RAW / "A90-result.json").read_text())
    common = sorted(set(a) & set(b))
    ratios = {k: (b[k][1] - b[k][0]) / (a[k][1] - a[k][0]) for k in common}
    kinds = {"fwd (non-split)": "flash_fwd_hdim", "fwd split-kv": "flash_fwd_split", "bwd": "flash_bwd_hdim"}
    per_kind = {}
    for label, prefix in kinds.items():
        ka = [k for k in a if k.startswith(prefix)]
        kb = [k for k in common if k.startswith(prefix)]
        per_kind[label] = {
            "files": len(ka),
            "a90_job_seconds": round(sum(a[k][1] - a[k][0] for k in ka), 1),
            "done_in_b": len(kb),
            "b_over_a": round(sum(b[k][1] - b[k][0] for k in kb) / sum(a[k][1] - a[k][0] for k in kb), 3)
            if kb
            else None,
        }
    a_total = sum(e - s for s, e in a.values())
    # B did not finish: what its unfinished files would cost, at the ratio measured for their kind
    # (the split-kv forward kernels, none of which finished, take the plain forward kernels' ratio).
    fwd_ratio = per_kind["fwd (non-split)"]["b_over_a"] or 1.0
    b_est = sum(b[k][1] - b[k][0] for k in common)
    for k, (s, e) in a.items():
        if k in b:
            continue
        kind = next((lbl for lbl, p in kinds.items() if k.startswith(p)), None)
        r = per_kind[kind]["b_over_a"] if kind and per_kind[kind]["b_over_a"] else fwd_ratio
        b_est += (e - s) * r
    parallel = a_total / max(e for _, e in a.values())
    out = {
        "machine": "nvidia-h200 device: 1x H200 (cc 9.0), 16 cores, 128 GiB, driver 580.159.04, nvcc 13.0.88, "
        "gcc 13.3, Python 3.12.3, torch 2.11.0+cu130 (cxx11 ABI), setuptools 81.0.0, ninja 1.13.2",
        "flash_attn": "2.8.3.post2 (PyPI sdist sha256 d0f9f0b0...cc340b)",
        "command": "FLASH_ATTENTION_FORCE_BUILD=TRUE FLASH_ATTN_CUDA_ARCHS=... MAX_JOBS=16 NVCC_THREADS=1 "
        "python3 -m pip wheel --no-build-isolation --no-deps -v <sdist dir>",
        "builds": {
            "A90": {
                "archs": "90",
                "max_jobs": 16,
                "nvcc_threads": 1,
                "finished": True,
                "wall_s": round(result_a["wall_s"], 1),
                "last_compile_end_s": round(max(e for _, e in a.values()), 1),
                "compile_jobs": len(a),
                "job_seconds": round(a_total, 1),
                "mean_parallelism": round(parallel, 1),
                "slowest_job_s": round(max(e - s for s, e in a.values()), 1),
                "memory": memory(RAW / "A90-mem.log.gz"),
                "wheel_bytes": 62656625,
            },
            "B8090": {
                "archs": "80;90",
                "max_jobs": 16,
                "nvcc_threads": 1,
                "finished": False,
                "ran_s": 1067,
                "compile_jobs_done": len(b),
                "memory": memory(RAW / "B8090-mem.log.gz"),
                "per_file_ratio_b_over_a": {
                    "files": len(common),
                    "median": round(statistics.median(ratios.values()), 3),
                    "min": round(min(ratios.values()), 3),
                    "max": round(max(ratios.values()), 3),
                    "sum_b_over_sum_a": round(
                        sum(b[k][1] - b[k][0] for k in common) / sum(a[k][1] - a[k][0] for k in common), 3
                    ),
                },
                "per_kind": per_kind,
                "estimated_job_seconds": round(b_est, 0),
                "estimated_wall_s": round(b_est / parallel, 0),
            },
        },
        "per_file_seconds": {
            k: {"A90": round(a[k][1] - a[k][0], 1), "B8090": round(b[k][1] - b[k][0], 1) if k in b else None}
            for k in sorted(a)
        },
    }
    (HERE / "flash_attn_build.json").write_text(json.dumps(out, indent=1) + "\n")
    bb = out["builds"]["B8090"]
    print(
        f"A90: {out['builds']['A90']['wall_s']} s; B8090 per-file ratio median {bb['per_file_ratio_b_over_a']['median']} "
        f"over {len(common)} files; estimated B8090 wall {bb['estimated_wall_s']} s; per kind {per_kind}"
    )


if __name__ == "__main__":
    main()
