"""How long `llmenv doctor --ray` takes as the cluster grows (issue 7): a real local Ray cluster (a head and
1, 2, 4 worker nodes, started with `ray start` on loopback addresses, --num-cpus 1 each), measured as

* cli: `llmenv doctor --ray ADDRESS --json` in a new process, wall time (import, connect, probes, analysis);
* probes: `llmenv.cluster.probe_nodes` in-process with the real probe (connect + one pinned task per node);
* ray only: the same with an empty probe (`print("{}")`): what Ray itself costs per node;
* per node: the median of the nodes' own task times (submission to answer), and the probe's JSON size;
* analysis: `llmenv.cluster.analyze` alone on 100 and 1,000 synthetic answers (the H200 probe captured on the
  device machine, 300 installed and locked packages each): llmenv's own cost as the cluster grows.

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

from tests.raycluster import LocalRayCluster  # noqa: E402

from llmenv.cluster import probe_nodes  # noqa: E402
from llmenv.doctor import PROBE  # noqa: E402


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


def analysis_time(nodes: int, packages: int, runs: int) -> dict[str, Any]:
    """llmenv's own share at scale: `analyze` of `nodes` answers (the H200 probe captured on the device machine,
    each with `packages` installed distributions, the same set locked), one node in 50 with another driver."""
    from llmenv.cluster import NodeResult, PlanContext, analyze
    from llmenv.knowledge import load
    from llmenv.lockfile import parse_pylock

    base = json.loads((ROOT / "tests/fixtures/doctor/h200-ok.probe.json").read_text())
    base["distributions"] = {f"pkg{i}": f"1.{i}" for i in range(packages)}
    lock = parse_pylock(
        "".join(f'[[packages]]\nname = "pkg{i}"\nversion = "1.{i}"\n' for i in range(packages)), base=ROOT
    )
    results = []
    for i in range(nodes):
        probe = json.loads(json.dumps(base))
        if i % 50 == 7:
            probe["driver"]["override"] = {"driver": "550.54.14"}
        results.append(
            NodeResult(node_id=f"{i:056x}", address=f"10.0.{i // 256}.{i % 256}", hostname=f"gpu{i}",
                       is_head=i == 0, gpus=8.0, status="answered", probe=probe, seconds=1.0)
        )
    kb = load()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        report = analyze(results, PlanContext(lock=lock), kb)
        times.append(time.perf_counter() - t0)
    return {
        "nodes": nodes,
        "packages": packages,
        "analyze s": round(statistics.median(times), 3),
        "report json MB": round(len(json.dumps(report.to_dict())) / 1e6, 1),
        "probe json KB": round(len(json.dumps(base)) / 1e3, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--analyze-nodes", default="100,1000", help="synthetic node counts for the analysis timing")
    ap.add_argument("--packages", type=int, default=300)
    ap.add_argument("--skip-cluster", action="store_true")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    out: dict[str, list[dict[str, Any]]] = {"cluster": [], "analysis": []}
    if not args.skip_cluster:
        out["cluster"] = [measure(int(w), args.runs) for w in args.workers.split(",")]
    out["analysis"] = [analysis_time(int(n), args.packages, args.runs) for n in args.analyze_nodes.split(",")]
    for rows in out.values():
        if rows:
            keys = list(rows[0])
            print(" | ".join(keys))
            for r in rows:
                print(" | ".join(str(r[k]) for k in keys))
    print(f"(machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
