"""What the wheel sources cost and buy a plan (issue 11): `llmenv plan torch flash-attn` from the snapshot, and the
fraction of a grid of targets that plans a flash-attn source build — this tree against a baseline revision, in
the same run.

Usage: python bench/bench_plan_sources.py [--base REV] [--runs N] [--json OUT]

* plan: `python -m llmenv plan torch flash-attn --driver D --gpu CC --python 3.12` in a new process (bytecode
  written, as on a user's machine), for two targets (B200 on R570, H100 on R580), alternating this tree and the
  baseline (``git archive REV src``, default: main before issue 11's providers); each figure is the median of
  its runs, with the ratio to the baseline's: the wall time, and the child's CPU time (user + system), which a
  machine shared by other work disturbs less.
* grid: A100, RTX 3090, L40S, H100, B200, RTX 5090 x drivers 535-590 x Python 3.10-3.13 (168 targets), planned
  in one process per revision: how many are feasible, how many plan a flash-attn build, and, for this tree, the
  source of each chosen wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "B200 R570": ("--driver", "570.86.15", "--gpu", "10.0", "--python", "3.12"),
    "H100 R580": ("--driver", "580.65.06", "--gpu", "9.0", "--python", "3.12"),
}
GRID = r"""
import collections, itertools, json, sys
from llmenv.knowledge import load
from llmenv.plan import make_plan
from llmenv.indexes import torch_source
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target
from llmenv.errors import NoAnswer
kb = load()
gpus = {"A100": (8, 0), "RTX 3090": (8, 6), "L40S": (8, 9), "H100": (9, 0), "B200": (10, 0), "RTX 5090": (12, 0)}
drivers = ["535.104.05", "550.54.14", "560.35.03", "570.86.15", "575.51.03", "580.65.06", "590.44.01"]
out = {"targets": 0, "feasible": 0, "builds": 0, "sources": collections.Counter(), "built": []}
for (name, cc), d, py in itertools.product(gpus.items(), drivers, ["3.10", "3.11", "3.12", "3.13"]):
    out["targets"] += 1
    t = Target(driver=d, cuda=kb.cuda.max_cuda(d), python=py, gpus=(Gpu(name=name, capability=cc),))
    try:
        p = make_plan(t, parse_specs(["torch", "flash-attn"], None), source=torch_source(None, None, None), kb=kb)
    except NoAnswer:
        continue
    out["feasible"] += 1
    fa = p.packages["flash-attn"]
    if fa.source == "build":
        out["builds"] += 1
        out["built"].append(f"{name} {d} Python {py}: torch {p.packages['torch'].version}+{p.packages['torch'].variant}")
    else:
        where = fa.index or (fa.url or "").split("/")[3]
        out["sources"][where] += 1
print(json.dumps(out))
"""


def _baseline(rev: str) -> Path:
    data = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    dest = Path(tempfile.mkdtemp(prefix="llmenv-base-"))
    with tarfile.open(fileobj=BytesIO(data)) as t:
        t.extractall(dest, filter="data")
    return dest / "src"


def _env(src: Path, data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(src), LLMENV_DATA_DIR=data_dir, NO_COLOR="1")
    return env


def _plan_once(src: Path, args: tuple[str, ...], data_dir: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system) of one plan in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "llmenv", "plan", "torch", "flash-attn", *args],
        env=_env(src, data_dir),
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _grid(src: Path, data_dir: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", GRID], env=_env(src, data_dir), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="6b49009", help="baseline revision (default: main before the providers)")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    data_dir = tempfile.mkdtemp(prefix="llmenv-bench-data-")  # no user snapshot: the bundled knowledge
    trees = {"this": ROOT / "src", "base": _baseline(args.base)}
    for src in trees.values():  # warm: bytecode written once
        _plan_once(src, TARGETS["H100 R580"], data_dir)
    result: dict[str, object] = {"runs": args.runs, "base": args.base}
    for label, target in TARGETS.items():
        times: dict[str, list[tuple[float, float]]] = {"this": [], "base": []}
        for _ in range(args.runs):
            for tree, src in trees.items():
                times[tree].append(_plan_once(src, target, data_dir))
        for i, what in enumerate(("wall", "cpu")):
            this = statistics.median(t[i] for t in times["this"])
            base = statistics.median(t[i] for t in times["base"])
            result[f"plan torch flash-attn, {label}, {what} (s)"] = {
                "this": round(this, 3),
                "base": round(base, 3),
                "ratio": round(this / base, 2),
            }
    for tree, src in trees.items():
        g = _grid(src, data_dir)
        g["build fraction of feasible"] = round(g["builds"] / g["feasible"], 3) if g["feasible"] else None  # type: ignore[operator]
        result[f"grid ({tree})"] = g
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
