"""How long `explain()` takes: per stored log (tests/fixtures/uv-errors/), on a 50 MB build log that ends in a real
failure, and on hostile input (4,000 lines of 5,000 characters of several kinds; one 200,000-character word; 50,000
unbalanced brackets) that would expose a regex with quadratic or exponential backtracking.

Each case runs in its own Python process (``PYTHONPATH`` = the source tree measured), under a time limit, so a
regression shows as "> LIMIT s" instead of hanging the bench. ``--baseline SRC`` measures another source tree on
the same inputs in the same run (e.g. main before the change: ``git archive d1d3dbe src | tar -x -C /tmp/base``,
then ``--baseline /tmp/base/src``) and prints the ratio.

    .venv/bin/python bench/explain_speed.py [--runs N] [--limit S] [--baseline SRC] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "uv-errors"

_RUNNER = r"""
import json, statistics, sys, time
from llmenv.explain import explain
text = open(sys.argv[1], encoding="utf-8").read()
runs = int(sys.argv[2])
times = []
for _ in range(runs):
    t = time.perf_counter()
    d = explain(text)
    times.append(time.perf_counter() - t)
print(json.dumps({"median": statistics.median(times), "kinds": list(d.kinds)[:3]}))
"""

_FIXTURES_RUNNER = r"""
import json, pathlib, statistics, sys, time
from llmenv.explain import explain
texts = [p.read_text(encoding="utf-8") for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.txt"))]
explain(texts[0])
totals, worst = [], []
for _ in range(int(sys.argv[2])):
    per = []
    for t in texts:
        s = time.perf_counter(); explain(t); per.append(time.perf_counter() - s)
    totals.append(sum(per)); worst.append(max(per))
print(json.dumps({"median": statistics.median(totals), "n": len(texts), "worst": statistics.median(worst)}))
"""


def _hostile(unit: str, width: int = 5000, lines: int = 4000) -> str:
    line = (unit * (width // len(unit) + 1))[:width]
    return "\n".join([line] * lines)


def _build_log(size: int = 50_000_000) -> str:
    """A flash-attn source build's output (nvcc commands, warnings, progress lines) grown to ``size``
    characters, ending in a real failure from the fixtures (the compiler killed for lack of memory)."""
    tail = (FIXTURES / "heldout" / "10_lorax-252_docker_flash_attn_killed.txt").read_text(encoding="utf-8")
    unit = [
        "[{n}/1024] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile --dependency-output "
        "/tmp/pip-install-x/flash-attn_0123/build/temp.linux-x86_64-cpython-311/csrc/flash_attn/src/"
        "flash_fwd_hdim{h}_bf16_sm80.o.d -I/tmp/pip-install-x/flash-attn_0123/csrc/cutlass/include "
        "-I/usr/local/lib/python3.11/site-packages/torch/include -c -c csrc/flash_attn/src/flash_fwd_hdim{h}_bf16_sm80.cu "
        "-O3 -std=c++17 -U__CUDA_NO_HALF_OPERATORS__ --expt-relaxed-constexpr -gencode arch=compute_80,code=sm_80 "
        "-gencode arch=compute_90,code=sm_90 --threads 4 -DTORCH_EXTENSION_NAME=flash_attn_2_cuda -D_GLIBCXX_USE_CXX11_ABI=0",
        "/usr/local/lib/python3.11/site-packages/torch/include/c10/util/Half.h(34): warning #20012-D: __host__ "
        "annotation is ignored on a function(\"Half\") that is explicitly defaulted on its first declaration",
        "  building 'flash_attn_2_cuda' extension; copying flash_attn/ops/triton/rotary.py -> build/lib/flash_attn",
    ]
    out: list[str] = []
    size_now = 0
    n = 0
    while size_now < size - len(tail):
        for u in unit:
            ln = u.format(n=n % 1024, h=(32, 64, 96, 128, 256)[n % 5])
            out.append(ln)
            size_now += len(ln) + 1
        n += 1
    return "\n".join(out) + "\n" + tail


CASES: dict[str, Callable[[], str]] = {
    "50 MB flash-attn build log, OOM at the end": _build_log,
    "4,000 x 5,000: one letter": lambda: _hostile("a"),
    "4,000 x 5,000: a-a-a (name characters)": lambda: _hostile("a-"),
    "4,000 x 5,000: 'Because a depends on b and'": lambda: _hostile("Because a depends on b and "),
    "4,000 x 5,000: 'torch==2.6.0 and'": lambda: _hostile("torch==2.6.0 and "),
    "4,000 x 5,000: 'error: '": lambda: _hostile("error: "),
    "4,000 x 5,000: 'x.so: undefined symbol: _Z'": lambda: _hostile("x.so: undefined symbol: _Z "),
    "4,000 x 5,000: 'hint: x'": lambda: _hostile("hint: x "),
    "4,000 x 5,000: printable noise": lambda: "\n".join(
        "".join(chr(32 + (i * 7919 + k) % 95) for i in range(5000)) for k in range(4000)
    ),
    "200k-character word": lambda: "a" * 200_000,
    "50k open brackets": lambda: "Because a" + "[" * 50_000,
    "50k error lines": lambda: "\n".join(
        "error: something failed Killed undefined symbol: _Z" for _ in range(50_000)
    ),
}


def _run(src: Path, code: str, args: list[str], limit: float) -> dict[str, object] | None:
    env = {**os.environ, "PYTHONPATH": str(src)}
    try:
        p = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                           timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        raise SystemExit(f"explain failed under {src}:\n{p.stderr[-2000:]}")
    result: dict[str, object] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def _fmt(r: dict[str, object] | None, limit: float) -> str:
    return f"> {limit:.0f} s" if r is None else f"{float(r['median']):.2f} s"  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=float, default=120.0, help="seconds one case may take (per process)")
    ap.add_argument("--baseline", type=Path, help="another source tree (its src/ folder) to measure alike")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--tree", type=Path, help="the source tree to measure (default: this checkout's src/)")
    a = ap.parse_args()
    src = a.tree or ROOT / "src"
    trees = [("this tree", src)] + ([("baseline", a.baseline)] if a.baseline else [])

    fx = {name: _run(tree, _FIXTURES_RUNNER, [str(FIXTURES), str(a.runs)], a.limit) for name, tree in trees}
    here = fx["this tree"]
    assert here is not None
    print(f"stored logs ({here['n']}): median total {float(here['median']) * 1000:.0f} ms "  # type: ignore[arg-type]
          f"({float(here['median']) / int(here['n']) * 1000:.2f} ms per log, slowest "  # type: ignore[arg-type]
          f"{float(here['worst']) * 1000:.1f} ms)"  # type: ignore[arg-type]
          + (f"; baseline {_fmt(fx['baseline'], a.limit)}" if a.baseline else ""))
    print()
    print("| input | size | " + " | ".join(n for n, _ in trees) + (" | ratio |" if a.baseline else " |")
          + " first cause |")
    print("|---|---|" + "---|" * len(trees) + ("---|" if a.baseline else "") + "---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in CASES.items():
            if a.only and a.only not in name:
                continue
            path = Path(tmp) / "log.txt"
            text = make()
            path.write_text(text, encoding="utf-8")
            results = [_run(tree, _RUNNER, [str(path), str(a.runs)], a.limit) for _, tree in trees]
            cells = [_fmt(r, a.limit) for r in results]
            if a.baseline:
                mine, base = results
                ratio = ("—" if mine is None else
                         f">{a.limit / float(mine['median']):.0f}x" if base is None  # type: ignore[arg-type]
                         else f"{float(base['median']) / float(mine['median']):.0f}x")  # type: ignore[arg-type]
                cells.append(ratio)
            kinds = ", ".join(results[0]["kinds"]) if results[0] else "—"  # type: ignore[arg-type]
            print(f"| {name} | {len(text) / 1e6:.1f} MB | " + " | ".join(cells) + f" | {kinds or 'unknown'} |",
                  flush=True)
    print(f"\nmedian of {a.runs} runs per case, each case in its own process, limit {a.limit:.0f} s; "
          f"Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
