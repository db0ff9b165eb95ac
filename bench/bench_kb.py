"""How fast the pins knowledge loads, and how long `llmenv kb refresh` takes against PyPI (issue 4).

Usage: python bench/bench_kb.py [--runs N] [--cold-runs N] [--skip-refresh] [--json OUT]

* load: `load_pins()` + parsing every package's releases, in a new process each run (import included), and
  in-process with the loader's caches cleared (the planner's cost). Target: well under a second.
* refresh, cold: `llmenv kb refresh` with an empty cache directory — wall time and HTTP requests made.
* refresh, warm: the same cache again (index pages younger than the TTL: no request). Target: <= 2 s.
* refresh, warm with stale index pages: every index page fetched again, the metadata from the cache.
Each figure is the median of its runs. Needs PyPI for the refresh cases.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD = """
import time, sys
from pathlib import Path
t0 = time.perf_counter()
from llmenv.knowledge.pins import load_pins
p = load_pins(Path(sys.argv[1]))
t1 = time.perf_counter()
n = sum(len(p.releases(name)) for name in p.names())
t2 = time.perf_counter()
print(t1 - t0, t2 - t0, n)
"""


def load_times(runs: int) -> dict[str, float]:
    empty = tempfile.mkdtemp(prefix="llmenv-bench-")
    loads, totals = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LOAD, empty], capture_output=True, text=True, check=True)
        a, b, _ = out.stdout.split()
        loads.append(float(a))
        totals.append(float(b))
    from llmenv.knowledge import pins as mod

    inproc = []
    for _ in range(runs):
        mod._bundled.cache_clear()
        mod._user.cache_clear()
        t0 = time.perf_counter()
        p = mod.load_pins(Path(empty))
        for name in p.names():
            p.releases(name)
        inproc.append(time.perf_counter() - t0)
    return {
        "import+load_pins (new process)": statistics.median(loads),
        "import+load_pins+parse all (new process)": statistics.median(totals),
        "load_pins+parse all (in process)": statistics.median(inproc),
    }


def refresh_cli(cache: Path, out: Path) -> tuple[float, int]:
    env = {**os.environ, "NO_COLOR": "1", "LLMENV_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "llmenv", "kb", "refresh", "--output", str(out)],
                       capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"kb refresh failed: {p.stderr[-800:]}")
    m = re.search(r"\((\d+) requests", p.stdout)
    return took, int(m.group(1)) if m else -1


def refresh_stale_index(cache: Path) -> tuple[float, int]:
    from llmenv.kb import refresh
    from llmenv.pypi import Cache, PyPIClient

    t0 = time.perf_counter()
    with PyPIClient(cache=Cache(cache / "pypi"), index_ttl=0.0) as client:
        result = refresh(client)
    if not result.ok:
        raise SystemExit(f"refresh failed: {dict(result.failures)}")
    return time.perf_counter() - t0, client.stats.requests


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--skip-refresh", action="store_true")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    results: dict[str, object] = {"load": load_times(args.runs)}
    for k, v in results["load"].items():  # type: ignore[attr-defined]
        print(f"{k:<48} {v * 1000:8.1f} ms")
    if not args.skip_refresh:
        cold, warm, stale = [], [], []
        for _ in range(args.cold_runs):
            with tempfile.TemporaryDirectory(prefix="llmenv-bench-") as d:
                cache, out = Path(d) / "cache", Path(d) / "pins.json"
                cold.append(refresh_cli(cache, out))
                if not warm:
                    warm = [refresh_cli(cache, out) for _ in range(args.runs)]
                    stale = [refresh_stale_index(cache) for _ in range(max(1, args.runs // 2))]
        for name, rows in (("refresh cold (CLI)", cold), ("refresh warm (CLI)", warm),
                           ("refresh warm, stale index pages (in process)", stale)):
            med = statistics.median(t for t, _ in rows)
            reqs = statistics.median(r for _, r in rows)
            results[name] = {"median_s": med, "requests": reqs, "runs": len(rows),
                             "all_s": [round(t, 2) for t, _ in rows]}
            print(f"{name:<48} {med:8.2f} s  {reqs:6.0f} requests  (runs: {len(rows)})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
