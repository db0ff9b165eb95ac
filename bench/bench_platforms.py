"""Wall time of `llmenv plan` for aarch64, several platforms and AMD ROCm targets (a new process each time).

Usage: python bench/bench_platforms.py [--runs N] [--json OUT]

Each case is run N times (after 2 warm-up runs); the median, and its ratio to the x86_64 single-platform plan of
the same run and to a bare `python -c pass` (the interpreter's own start-up) are reported. The target (issue 14):
every case <= 0.25 s. A case that exits 1 (a plan refused with its reason) is measured too; any other exit
code stops the script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PLAN = [sys.executable, "-m", "llmenv", "plan"]
H200 = ["--driver", "580.95.05", "--gpu", "9.0", "--python", "3.12"]
CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "plan torch (x86_64, H200)": [*PLAN, "torch", *H200],
    "plan torch --arch aarch64 (GH200)": [*PLAN, "torch", *H200, "--arch", "aarch64"],
    "plan torch, 2 platforms": [*PLAN, "torch", *H200, "--platform", "linux-x86_64", "--platform", "linux-aarch64"],
    "plan torch flash-attn, 3 platforms": [
        *PLAN, "torch", "flash-attn", *H200,
        "--platform", "linux-x86_64", "--platform", "linux-aarch64", "--platform", "darwin-arm64",
    ],
    "plan torch --rocm 6.4 --gpu gfx942": [*PLAN, "torch", "--rocm", "6.4", "--gpu", "gfx942", "--python", "3.12"],
    "plan vllm --rocm 7.0 --gpu gfx942": [*PLAN, "vllm", "--rocm", "7.0", "--gpu", "gfx942"],
    "plan torch flash-attn --gpu gfx942": [*PLAN, "torch", "flash-attn", "--gpu", "gfx942", "--python", "3.12"],
}  # fmt: skip


def measure(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "NO_COLOR": "1"}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    results = {}
    for name, argv in CASES.items():
        measure(argv, 2)  # warm the file cache
        t = measure(argv, args.runs)
        results[name] = {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": args.runs}
    base = results["python -c pass (baseline)"]["median_s"]
    single = results["plan torch (x86_64, H200)"]["median_s"]
    for name, r in results.items():
        r["x_baseline"] = r["median_s"] / base
        r["x_single"] = r["median_s"] / single
        print(f"{name:42s} median {r['median_s']:.3f} s  ({r['x_single']:.2f}x single, {r['x_baseline']:.1f}x python)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
