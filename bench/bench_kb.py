"""How cheap llmenv's knowledge is to load, what it adds to `llmenv plan`, and how long `kb refresh` takes.

Usage: python bench/bench_kb.py [--runs N] [--baseline-src DIR] [--skip-refresh] [--json OUT]

* load: in a new process, `import llmenv.knowledge` + `load()` + each table parsed (torch, cuda, flash-attn,
  engines, pins with every package's releases); and each table's parse time in process (caches cleared).
* plan: `llmenv plan torch --driver 550.54.14` and `plan "verl[vllm]" flash-attn --driver 550.54.14`, wall and CPU
  time of the child (median of N), next to `python -c pass` measured in the same run; with --baseline-src the same
  commands with another checkout's src/ on PYTHONPATH (e.g. main), alternated run by run. Target: plan <= 0.25 s.
* refresh (needs PyPI; the PyTorch index and GitHub are not reachable here): `kb refresh --only pins` cold (empty
  cache) and warm, and the torch table's PyPI part (`--only torch --torch-index pypi`) cold and warm.
Every figure is a median. The machine is shared: CPU time is the steadier number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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
from llmenv.knowledge import load
kb = load(Path(sys.argv[1]))
kb.torch, kb.cuda
t1 = time.perf_counter()
kb.flash_attn, kb.engines
p = kb.pins
for n in p.names():
    p.releases(n)
t2 = time.perf_counter()
print(t1 - t0, t2 - t0)
"""

PLANS = {
    "plan torch --driver 550.54.14": ["plan", "torch", "--driver", "550.54.14"],
    "plan verl[vllm] flash-attn --driver 550.54.14": ["plan", "verl[vllm]", "flash-attn", "--driver", "550.54.14"],
}


def _child(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


def load_times(runs: int, empty: str) -> dict[str, float]:
    firsts, totals = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LOAD, empty], capture_output=True, text=True, check=True)
        a, b = out.stdout.split()
        firsts.append(float(a))
        totals.append(float(b))
    import llmenv.knowledge as k
    from llmenv.knowledge import pins

    per: dict[str, list[float]] = {}
    for _ in range(runs):
        k._load.cache_clear()
        pins._bundled.cache_clear()
        kb = k.load(Path(empty))
        for name, get in (
            ("torch", lambda: kb.torch),
            ("cuda", lambda: kb.cuda),
            ("flash-attn", lambda: kb.flash_attn),
            ("engines", lambda: kb.engines),
            ("pins (+ every release)", lambda: [kb.pins.releases(n) for n in kb.pins.names()]),
        ):
            t0 = time.perf_counter()
            get()
            per.setdefault(name, []).append(time.perf_counter() - t0)
    out = {
        "new process: import + load() + torch + cuda": statistics.median(firsts),
        "new process: ... + every table parsed": statistics.median(totals),
    }
    out.update({f"in process: {n}": statistics.median(v) for n, v in per.items()})
    return out


def plan_times(runs: int, empty: str, baseline: str | None) -> dict[str, dict[str, float]]:
    env = {**os.environ, "NO_COLOR": "1", "LLMENV_DATA_DIR": empty}
    srcs = {"this branch": str(Path(__file__).resolve().parents[1] / "src")}
    if baseline:
        srcs["baseline"] = str(Path(baseline).resolve())
    rows: dict[str, list[tuple[float, float]]] = {"python -c pass": []}
    for _ in range(runs):
        w, c, _ = _child([sys.executable, "-c", "pass"], env)
        rows["python -c pass"].append((w, c))
        for label, argv in PLANS.items():
            for who, src in srcs.items():
                w, c, code = _child([sys.executable, "-m", "llmenv", *argv], {**env, "PYTHONPATH": src})
                if code not in (0, 1):
                    raise SystemExit(f"{who}: llmenv {' '.join(argv)} failed ({code})")
                rows.setdefault(f"{label} [{who}]", []).append((w, c))
    return {
        k: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v)}
        for k, v in rows.items()
    }


def refresh(argv: list[str], cache: Path, out: Path) -> tuple[float, int]:
    env = {**os.environ, "NO_COLOR": "1", "LLMENV_CACHE_DIR": str(cache), "LLMENV_DATA_DIR": str(out)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "llmenv", "kb", "refresh", *argv], capture_output=True, text=True,
                       env=env, check=False)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"kb refresh {' '.join(argv)} failed: {p.stderr[-800:]}")
    m = re.search(r"\((\d+) requests", p.stdout)
    return took, int(m.group(1)) if m else -1


def refresh_times(runs: int) -> dict[str, dict[str, float]]:
    cases = {"pins": ["--only", "pins"], "torch, PyPI part": ["--only", "torch", "--torch-index", "pypi"]}
    out = {}
    for name, argv in cases.items():
        with tempfile.TemporaryDirectory(prefix="llmenv-bench-") as d:
            cache, data = Path(d) / "cache", Path(d) / "data"
            cold = refresh(argv, cache, data)
            warm = [refresh(argv, cache, data) for _ in range(runs)]
        out[f"kb refresh {name}, cold cache"] = {"median_s": cold[0], "requests": cold[1]}
        out[f"kb refresh {name}, warm cache"] = {
            "median_s": statistics.median(t for t, _ in warm),
            "requests": statistics.median(r for _, r in warm),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline-src", metavar="DIR", help="another checkout's src/ to compare plan times with")
    ap.add_argument("--skip-refresh", action="store_true")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    empty = tempfile.mkdtemp(prefix="llmenv-bench-empty-")
    results: dict[str, object] = {"load": load_times(args.runs, empty)}
    for k, v in results["load"].items():  # type: ignore[attr-defined]
        print(f"{k:<58} {v * 1000:8.1f} ms")
    results["plan"] = plan_times(args.runs, empty, args.baseline_src)
    for k, v in results["plan"].items():  # type: ignore[attr-defined]
        print(f"{k:<58} {v['wall_s']:8.3f} s wall {v['cpu_s']:7.3f} s cpu")
    if not args.skip_refresh:
        results["refresh"] = refresh_times(max(1, args.runs // 2))
        for k, v in results["refresh"].items():  # type: ignore[attr-defined]
            print(f"{k:<58} {v['median_s']:8.2f} s  {v['requests']:6.0f} requests")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
