"""How long `llmenv doctor --ray` takes as the cluster grows (issue 7): a real local Ray cluster (a head and
1, 2, 4 worker nodes, started with `ray start` on loopback addresses, --num-cpus 1 each), measured as

* cli: `llmenv doctor --ray ADDRESS --json` in a new process, wall time (import, connect, probes, analysis);
* probes: `llmenv.cluster.probe_nodes` in-process with the real probe (connect + one pinned task per node);
* ray only: the same with an empty probe (`print("{}")`): what Ray itself costs per node;
* per node: the median of the nodes' own task times (submission to answer), and the probe's JSON size.

Each figure is the median of --runs runs. Usage: python bench/bench_doctor_ray.py [--runs 5] [--workers 1,2,4]
[--json OUT]. Needs `ray[default]` (the test group) and Linux (nodes on 127.0.0.x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmenv.cluster import probe_nodes  # noqa: E402
from llmenv.doctor import PROBE  # noqa: E402
from tests.raycluster import LocalRayCluster  # noqa: E402


def _timed_probe(address: str, source: str) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    results = probe_nodes(address, timeout=120, probe_source=source)
    return time.perf_counter() - t0, results


def measure(workers: int, runs: int) -> dict[str, Any]:
    env = {**os.environ, "UV_CACHE_DIR": tempfile.mkdtemp(prefix="llmenv-bench-uv-")}
    cluster = LocalRayCluster(environ=env)
    t0 = time.perf_counter()
    try:
        cluster.start_head()
        for _ in range(workers):
            cluster.add_worker()
        start_s = time.perf_counter() - t0
        address = cluster.address
        assert address
        llmenv = str(Path(sys.executable).with_name("llmenv"))
        source = PROBE.read_text(encoding="utf-8")
        # one warm-up of each (worker processes start once per node, then they are reused)
        subprocess.run([llmenv, "doctor", "--ray", address, "--json"], capture_output=True, check=False)
        cli, probes, empty, per_node, sizes = [], [], [], [], []
        for _ in range(runs):
            t = time.perf_counter()
            p = subprocess.run([llmenv, "doctor", "--ray", address, "--json"], capture_output=True, text=True)
            cli.append(time.perf_counter() - t)
            nodes = json.loads(p.stdout)["nodes"]
            if len(nodes) != workers + 1 or any(n["answer"] != "answered" for n in nodes):
                raise RuntimeError(f"not every node answered: {[n['answer'] for n in nodes]}")
            s, results = _timed_probe(address, source)
            probes.append(s)
            per_node.append(statistics.median(r.seconds for r in results))
            sizes.append(statistics.median(len(json.dumps(r.probe)) for r in results))
            s, _ = _timed_probe(address, 'print("{}")')
            empty.append(s)
        return {
            "nodes": workers + 1,
            "workers": workers,
            "cluster start s": round(start_s, 2),
            "cli s": round(statistics.median(cli), 3),
            "probes s": round(statistics.median(probes), 3),
            "ray only s": round(statistics.median(empty), 3),
            "per node task s": round(statistics.median(per_node), 3),
            "probe json bytes": int(statistics.median(sizes)),
            "runs": runs,
        }
    finally:
        cluster.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    rows = [measure(int(w), args.runs) for w in args.workers.split(",")]
    keys = list(rows[0])
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys))
    print(f"(machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
