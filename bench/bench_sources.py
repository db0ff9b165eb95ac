"""What the wheel listings cost a plan (issue 11): loading the bundled snapshot and normalizing every listed
flash-attn wheel, against `llmenv plan torch flash-attn` itself in the same run.

Usage: python bench/bench_sources.py [--runs N] [--json OUT]

* listings (new process): import + load_listings() + wheels("flash-attn", torch_minor="2.8") with those file
  names normalized (parse_wheel) — what a provider pays for flash-attn from the snapshot, cold.
* plan (new process): `llmenv plan torch flash-attn --driver 580.65.06 --gpu 9.0 --python 3.12` — the baseline.
Each figure is the median of its runs; the ratio listings / plan is printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LISTINGS = """
import time, sys
t0 = time.perf_counter()
from llmenv.sources.listing import load_listings
ls = load_listings({"LLMENV_DATA_DIR": sys.argv[1]})
t1 = time.perf_counter()
ws = ls.wheels("flash-attn", torch_minor="2.8")
builds = [w.build for w in ws]
t2 = time.perf_counter()
print(t1 - t0, t2 - t0, len(ws), sum(b is not None for b in builds))
"""


def _run(argv: list[str], env_dir: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, text=True, check=True, env={"LLMENV_DATA_DIR": env_dir, "PATH": ""})
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    empty = tempfile.mkdtemp(prefix="llmenv-bench-")
    loads, totals, n = [], [], 0
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", LISTINGS, empty], capture_output=True, text=True, check=True)
        a, b, count, parsed = out.stdout.split()
        loads.append(float(a))
        totals.append(float(b))
        n = int(count)
        assert int(parsed) == n
    plan = [
        _run(
            [sys.executable, "-m", "llmenv", "plan", "torch", "flash-attn", "--driver", "580.65.06", "--gpu", "9.0",
             "--python", "3.12"],
            empty,
        )
        for _ in range(args.runs)
    ]
    result = {
        "runs": args.runs,
        "flash-attn wheels for torch 2.8 (or any torch)": n,
        "import+load_listings (s)": round(statistics.median(loads), 4),
        "import+load_listings+normalize (s)": round(statistics.median(totals), 4),
        "plan torch flash-attn (s)": round(statistics.median(plan), 4),
    }
    result["listings / plan"] = round(result["import+load_listings+normalize (s)"] / result["plan torch flash-attn (s)"], 3)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
