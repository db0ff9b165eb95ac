"""Wall time of `llmenv plan` for aarch64, several platforms and AMD ROCm targets (a new process each time).

Usage: python bench/bench_platforms.py [--runs N] [--json OUT]

Each case is run N times (after 2 warm-up runs), the cases interleaved round by round so that a change of the
machine's load hits all of them alike; reported: the median wall time and the median CPU time of the child (user +
system: steadier on a shared machine), and their ratio to the x86_64 single-platform plan of the same run. The
target (issue 14): every case <= 0.25 s on an idle machine, i.e. no more than the single-platform plan costs.
A case that exits 1 (a plan refused with its reason) is measured too; any other exit code stops the script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    env = {**os.environ, "NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    cpus: dict[str, list[float]] = {name: [] for name in CASES}
    for argv in CASES.values():
        once(argv), once(argv)  # warm the file cache
    for _ in range(args.runs):
        for name, argv in CASES.items():
            w, c = once(argv)
            walls[name].append(w)
            cpus[name].append(c)
    single = "plan torch (x86_64, H200)"
    w1, c1 = statistics.median(walls[single]), statistics.median(cpus[single])
    results = {}
    for name in CASES:
        w, c = statistics.median(walls[name]), statistics.median(cpus[name])
        results[name] = {"wall_s": w, "cpu_s": c, "wall_x_single": w / w1, "cpu_x_single": c / c1, "runs": args.runs}
        print(f"{name:42s} wall {w:.3f} s ({w / w1:.2f}x)   cpu {c:.3f} s ({c / c1:.2f}x)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
