"""How long the doctor's probe takes, against the probe of a baseline revision, in the same run (issue 17 added
sections handed over on the way, faulthandler, AMD readings and the loader choice).

Both probes run alternately --runs times in a new process of the given interpreter, with --pythonpath on
PYTHONPATH (e.g. a folder holding torch: the import of torch dominates); the medians and their ratio are printed.
Usage: python bench/bench_doctor_probe.py [--python PATH] [--pythonpath DIR] [--baseline REV] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "src" / "llmenv" / "doctor" / "probe.py"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--pythonpath", default="")
    ap.add_argument("--baseline", default="d1d3dbe", help="git revision whose probe.py is the baseline")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    old = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{args.baseline}:src/llmenv/doctor/probe.py"],
        capture_output=True, text=True, check=True,
    ).stdout
    env = {**os.environ, "PYTHONPATH": args.pythonpath}
    times: dict[str, list[float]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory() as d:
        baseline = Path(d) / "probe.py"
        baseline.write_text(old)
        for _ in range(args.runs):
            for name, path in (("baseline", baseline), ("current", PROBE)):
                started = time.monotonic()
                subprocess.run([args.python, str(path)], env=env, capture_output=True, check=True, timeout=600)
                times[name].append(time.monotonic() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:9} median {med[k]:.2f} s  ({', '.join(f'{x:.2f}' for x in v)})")
    print(f"current / baseline: {med['current'] / med['baseline']:.2f}")


if __name__ == "__main__":
    main()
