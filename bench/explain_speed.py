"""How long `explain()` takes per log, over every log in tests/fixtures/uv-errors/ (median of several runs),
and on pathological inputs (very long lines, unbalanced brackets, a 1.4 MB log) that would expose a regex
with quadratic backtracking.

    .venv/bin/python bench/explain_speed.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from llmenv.explain import explain

LOGS = sorted((Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "uv-errors").rglob("*.txt"))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    texts = [p.read_text(encoding="utf-8") for p in LOGS]
    explain(texts[0])  # first call loads the bundled knowledge once
    totals, worst = [], []
    for _ in range(runs):
        per = []
        for t in texts:
            start = time.perf_counter()
            explain(t)
            per.append(time.perf_counter() - start)
        totals.append(sum(per))
        worst.append(max(per))
    print(f"{len(texts)} logs, {runs} runs: median total {statistics.median(totals) * 1000:.1f} ms, "
          f"median per log {statistics.median(totals) / len(texts) * 1000:.2f} ms, "
          f"median slowest log {statistics.median(worst) * 1000:.2f} ms")


PATHOLOGICAL = {
    "200k-char word": "a" * 200_000,
    "50k open brackets": "Because a" + "[" * 50_000,
    "300 kB random printable": "".join(chr(32 + (i * 7919) % 95) for i in range(300_000)),
    "50k error lines (1.4 MB)": "\n".join("error: something failed Killed undefined symbol: _Z" for _ in range(50_000)),
}


def pathological(runs: int) -> None:
    for name, text in PATHOLOGICAL.items():
        times = []
        for _ in range(max(1, runs // 2)):
            start = time.perf_counter()
            explain(text)
            times.append(time.perf_counter() - start)
        print(f"{name}: median {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
    pathological(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
