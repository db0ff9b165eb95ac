"""How much the static setup.py reader costs, against `ast.parse` of the same files in the same run.

    .venv/bin/python bench/static_reader.py [--runs 15]

Reads every setup.py under tests/fixtures/metadata (real third-party ones included) with
llmenv.metadata.from_setup_py, and separately only parses them; prints the median of each and the ratio.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import statistics
import time
from pathlib import Path

from llmenv.errors import UsageError
from llmenv.metadata import from_setup_py

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "metadata"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    files = []
    for p in sorted(ROOT.rglob("setup.py")):
        try:
            ast.parse(p.read_text(encoding="utf-8"))
        except SyntaxError:
            continue  # the fixtures that are invalid on purpose
        files.append(p)
    sources = [p.read_text(encoding="utf-8") for p in files]
    parse, read = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        for src in sources:
            ast.parse(src)
        parse.append(time.perf_counter() - t)
        t = time.perf_counter()
        for p in files:
            with contextlib.suppress(UsageError):
                from_setup_py(p)
        read.append(time.perf_counter() - t)
    mp, mr = statistics.median(parse), statistics.median(read)
    print(f"{len(files)} setup.py files, {args.runs} runs")
    print(f"ast.parse only   median {mp * 1000:.2f} ms")
    print(f"from_setup_py    median {mr * 1000:.2f} ms  ({mr / mp:.2f}x ast.parse)")


if __name__ == "__main__":
    main()
