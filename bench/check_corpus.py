"""Time `llmenv check` (parse + every rule) on each corpus pyproject and on the real files of
tests/fixtures/check/real (unsloth's 1,486 lines and 180 extras): median of N runs, in milliseconds of CPU time
(process time: the machine is shared, wall time swings with the neighbours' load).

    python bench/check_corpus.py [RUNS]

Each run is a fresh process-level state for the specifier and marker caches (cleared between runs), so the
numbers are what one `llmenv check` invocation pays after the interpreter has started. Offline (the bundled
pins snapshot), as `llmenv check` runs without --online.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from llmenv.check import _envs, _pins, check_path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
CORPUS = FIXTURES / "pyprojects"


def main(runs: int) -> None:
    check_path(CORPUS / "karpathy__nanochat__pyproject.toml")  # load the knowledge tables once
    rows = []
    for path in [*sorted(CORPUS.glob("*.toml")), *sorted((FIXTURES / "check" / "real").glob("*.toml"))]:
        times = []
        for _ in range(runs):
            _pins._can_both_hold.cache_clear()
            _envs._mask.cache_clear()
            t0 = time.process_time()
            check_path(path)
            times.append((time.process_time() - t0) * 1000)
        rows.append((statistics.median(times), path.name))
    for ms, name in sorted(rows, reverse=True):
        print(f"{ms:8.1f} ms  {name}")
    print(f"median over files {statistics.median(r[0] for r in rows):.1f} ms, max {max(r[0] for r in rows):.1f} ms, "
          f"{runs} runs each")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
