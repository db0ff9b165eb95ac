"""Time `llmenv check` (parse + every rule) on each corpus pyproject: median of N runs, in milliseconds.

    python bench/check_corpus.py [RUNS]

Each run is a fresh process-level state for the specifier cache (cleared between runs), so the numbers are what
one `llmenv check` invocation pays after the interpreter has started.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from llmenv.check import _pins, check_path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pyprojects"


def main(runs: int) -> None:
    check_path(CORPUS / "karpathy__nanochat__pyproject.toml")  # load the knowledge tables once
    rows = []
    for path in sorted(CORPUS.glob("*.toml")):
        times = []
        for _ in range(runs):
            _pins._can_both_hold.cache_clear()
            t0 = time.perf_counter()
            check_path(path)
            times.append((time.perf_counter() - t0) * 1000)
        rows.append((statistics.median(times), path.name))
    for ms, name in sorted(rows, reverse=True):
        print(f"{ms:8.1f} ms  {name}")
    print(f"median over files {statistics.median(r[0] for r in rows):.1f} ms, max {max(r[0] for r in rows):.1f} ms, "
          f"{runs} runs each")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
