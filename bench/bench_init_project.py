"""What `llmenv init` spends on a user's existing pyproject.toml, per stage, on real files of three sizes.

Usage: python bench/bench_init_project.py [--runs N]

For each file: the median of N runs of (a) tomlkit parse + dump of the file (the baseline: reading and writing it
at all), (b) reading it as constraints (`ProjectConstraints.read`), (c) the edit (`render.edit`, the plan made
once beforehand), (d) `llmenv check` of the result (init's check after write), and (e) the whole
`llmenv init DIR torch --dry-run` in-process. Ratios are to (a), measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FILES = [
    ROOT / "tests/fixtures/pyprojects/karpathy__nanochat__pyproject.toml",  # 69 lines
    ROOT / "tests/fixtures/pyprojects/allenai__open-instruct__pyproject.toml",  # ~270 lines, group routing
    ROOT / "tests/fixtures/real_projects/unslothai__unsloth__pyproject.toml",  # 1,486 lines
]
TARGET = ["--driver", "570.124.06", "--gpu", "9.0", "--python", "3.12", "--cpus", "16", "--memory", "64"]


def _median(f, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(path: Path, runs: int) -> str:
    import tomlkit

    from llmenv.check import check_text
    from llmenv.cli import Context
    from llmenv.cli import main as cli
    from llmenv.cli._planning import add_planning_arguments, add_project_arguments, build_plan, resolve_inputs
    from llmenv.detect import System
    from llmenv.intent import ProjectConstraints
    from llmenv.output import Ui
    from llmenv.render import ProjectOptions, edit

    text = path.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pyproject.toml").write_text(text)

        def init() -> None:
            ctx = Context(ui=Ui(out=io.StringIO(), err=io.StringIO()), environ={}, cwd=folder, system=System())
            assert cli(["init", str(folder), "torch", *TARGET, "--dry-run"], ctx) in (0, 1)

        parser = argparse.ArgumentParser()
        add_planning_arguments(parser)
        add_project_arguments(parser)
        ctx = Context(ui=Ui(), environ={}, cwd=folder, system=System())
        plan = build_plan(resolve_inputs(ctx, specs=["torch"], args=parser.parse_args(TARGET)))  # made once
        opts = ProjectOptions(name="p", requested=("torch",))
        new = tomlkit.dumps(edit(tomlkit.parse(text), plan, opts).doc)
        base = _median(lambda: tomlkit.dumps(tomlkit.parse(text)), runs)
        read = _median(lambda: ProjectConstraints.read(tomlkit.parse(text).unwrap()), runs)
        ed = _median(lambda: edit(tomlkit.parse(text), plan, opts), runs)
        chk = _median(lambda: check_text(new), runs)
        whole = _median(init, runs)
    n = len(text.splitlines())
    return (
        f"{path.name} ({n} lines): parse+dump {base * 1000:.0f} ms | constraints {read * 1000:.0f} ms "
        f"({read / base:.1f}x) | edit {ed * 1000:.0f} ms ({ed / base:.1f}x) | check {chk * 1000:.0f} ms "
        f"({chk / base:.1f}x) | init --dry-run {whole * 1000:.0f} ms ({whole / base:.1f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    for path in FILES:
        print(bench(path, runs))


if __name__ == "__main__":
    main()
