"""Wall time of llmenv commands as a user runs them (a new process each time).

Usage: python bench/bench_cli.py [--runs N] [--json OUT]

Reports the median of N runs for each command, and its ratio to a bare `python -c pass` measured in the same
script (the interpreter's own start-up, which no CLI can beat). Targets (issue 2): `llmenv plan torch --driver
550.54.14` <= 0.25 s and `llmenv --help` <= 0.15 s; (issue 4) `plan "verl[vllm]" flash-attn --driver
550.54.14` <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "llmenv --help": [sys.executable, "-m", "llmenv", "--help"],
    "llmenv plan torch --driver 550.54.14": [sys.executable, "-m", "llmenv", "plan", "torch", "--driver", "550.54.14"],
    "llmenv plan torch --driver 550.54.14 --json": [
        sys.executable, "-m", "llmenv", "plan", "torch", "--driver", "550.54.14", "--json",
    ],
}
EXTRA = {
    "llmenv plan verl[vllm] flash-attn --driver 550.54.14": [
        sys.executable, "-m", "llmenv", "plan", "verl[vllm]", "flash-attn", "--driver", "550.54.14",
    ],
}


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
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--all", action="store_true", help="also the whole-stack cases (need the pins snapshot)")
    args = ap.parse_args()
    cases = dict(CASES, **(EXTRA if args.all else {}))
    results = {}
    for name, argv in cases.items():
        measure(argv, 2)  # warm the file cache
        t = measure(argv, args.runs)
        results[name] = {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": args.runs}
    base = results["python -c pass (baseline)"]["median_s"]
    print(f"{'command':<58} {'median':>8} {'min':>8} {'x python':>9}")
    for name, r in results.items():
        r["ratio_to_python"] = r["median_s"] / base
        print(f"{name:<58} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['ratio_to_python']:>8.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": sys.version.split()[0], "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
