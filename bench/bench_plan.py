"""Wall time of planning and of the closed loop, as a user runs them (a new process each time).

Usage: python bench/bench_plan.py [--runs N] [--json OUT] [--baseline SRC]

Medians of N runs, each with its ratio to a bare `python -c pass` measured in the same run (the interpreter's
own start-up). Targets (issue 10): `plan` of a whole verl / openrlhf stack from the bundled knowledge <= 0.25 s;
`init --lock` when the first candidate locks <= 1.3x a bare `uv lock` of the same file; `plan torch --driver
... --gpu ... --python 3.12` and `detect` (the H200 had 0.50 s / 0.37 s against a 59 ms interpreter start
before planning stopped probing what flags describe).

Sources are byte-compiled first and the runs may write bytecode (PYTHONDONTWRITEBYTECODE is dropped): an
installed llmenv runs from .pyc files, and compiling every module on each start would be measured otherwise.
The lock case runs offline against a local flat index of tiny torch wheels, uv's cache warm.

The commands run in an empty folder: `plan` in a folder with a pyproject.toml plans within that project (and
reads it), which is not what these cases measure. `--baseline SRC` (another checkout's `src`, e.g. from `git
archive OLD src | tar -x -C /tmp/old`) runs every command of the table a second time with that code first on
`sys.path`, interleaved with the current code's runs, and prints the ratio: before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
LLMENV = [PY, "-m", "llmenv"]
H100_570 = ["--driver", "570.86.15", "--gpu", "9.0", "--python", "3.12"]
A100_550 = ["--driver", "550.54.14", "--gpu", "8.0", "--python", "3.11"]
CASES = {
    "python -c pass (baseline)": [PY, "-c", "pass"],
    "plan verl[vllm] (H100, driver 570)": [*LLMENV, "plan", "verl[vllm]", *H100_570],
    "plan openrlhf[vllm] (A100, driver 550)": [*LLMENV, "plan", "openrlhf[vllm]", *A100_550],
    "plan openrlhf vllm<=0.8.5.post1": [*LLMENV, "plan", "openrlhf", "vllm<=0.8.5.post1", *A100_550],
    "plan torch flash-attn (H200 flags)": [
        *LLMENV,
        "plan",
        "torch",
        "flash-attn",
        "--driver",
        "580.159.04",
        "--gpu",
        "9.0",
        "--python",
        "3.12",
    ],
    "plan torch --driver --gpu --python 3.12": [
        *LLMENV,
        "plan",
        "torch",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        "3.12",
    ],
    "plan torch (this machine)": [*LLMENV, "plan", "torch"],
    "detect": [*LLMENV, "detect"],
}


def _env(src: str | None = None) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src is not None:
        env["PYTHONPATH"] = src
    return env


def measure(argv: list[str], runs: int, cwd: Path | None = None, prepare=None, src=None) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        if prepare is not None:
            prepare()
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, env=_env(src), cwd=cwd, check=False)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    return times


def _cpu(argv: list[str], cwd: Path, src: str | None) -> float:
    """User + system CPU seconds of one run (what a loaded shared machine moves least)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, capture_output=True, env=_env(src), cwd=cwd, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _pair(argv: list[str], runs: int, cwd: Path, baseline: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """The current code and the baseline's, one run each in turn (the machine's load hits both alike): wall
    times, then CPU times."""
    now: list[float] = []
    old: list[float] = []
    now_cpu: list[float] = []
    old_cpu: list[float] = []
    for _ in range(runs):
        now += measure(argv, 1, cwd)
        old += measure(argv, 1, cwd, src=baseline)
        now_cpu.append(_cpu(argv, cwd, None))
        old_cpu.append(_cpu(argv, cwd, baseline))
    return now, old, now_cpu, old_cpu


def _lock_cases(runs: int, work: Path, stack: bool) -> dict[str, list[float]]:
    """init --lock (first candidate locks) against a bare uv lock of the very file it wrote: the smallest
    project (torch alone, a local index: llmenv's overhead in full view), and with ``stack`` verl[vllm] for an
    H100 against PyPI (torch from local stubs)."""
    sys.path.insert(0, str(ROOT))
    from tests.wheelfactory import make_wheel

    for variant, t, tv, ta in (
        ("cpu", "2.6.0", "0.21.0", "2.6.0"),
        ("cpu", "2.10.0", "0.25.0", "2.10.0"),
        ("cu128", "2.10.0", "0.25.0", "2.10.0"),
        ("cu130", "2.11.0", "0.26.0", "2.11.0"),
    ):
        make_wheel(work / "whl" / variant, "torch", f"{t}+{variant}")
        make_wheel(work / "whl" / variant, "torchvision", f"{tv}+{variant}", requires=[f"torch=={t}"])
        make_wheel(work / "whl" / variant, "torchaudio", f"{ta}+{variant}", requires=[f"torch=={t}"])
    index = ["--torch-index", f"{work}/whl/{{variant}}"]
    out = _lock_pair(
        runs,
        work / "small",
        [*LLMENV, "init", ".", "torch==2.6.0", "--cuda", "cpu", "--python", "3.11", *index, "--lock"],
        "torch alone",
    )
    if stack:
        out.update(
            _lock_pair(
                runs,
                work / "stack",
                # driver 580 (CUDA 13): torch 2.11.0+cu130 next to PyPI's vllm 0.24.0, itself built with CUDA 13 (on
                # an older driver vllm is routed to wheels.vllm.ai, which this machine cannot reach)
                [*LLMENV, "init", ".", "verl[vllm]", "--driver", "580.95.05", "--gpu", "9.0", "--python", "3.12", *index,
                 "--lock"],
                "verl[vllm], PyPI",
            )
        )
    return out


def _lock_pair(runs: int, proj: Path, args: list[str], what: str) -> dict[str, list[float]]:
    import uv

    def fresh() -> None:
        shutil.rmtree(proj, ignore_errors=True)
        proj.mkdir()

    fresh()
    subprocess.run(args, cwd=proj, env=_env(), check=True, capture_output=True)  # warms uv's cache
    written = (proj / "pyproject.toml").read_bytes(), (proj / ".python-version").read_bytes()

    def bare() -> None:
        fresh()
        (proj / "pyproject.toml").write_bytes(written[0])
        (proj / ".python-version").write_bytes(written[1])

    return {
        f"uv lock of the same file ({what})": measure([uv.find_uv_bin(), "lock"], runs, proj, bare),
        f"init --lock, first candidate locks ({what})": measure(args, runs, proj, fresh),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--stack", action="store_true", help="also lock verl[vllm] against PyPI (network)")
    ap.add_argument("--baseline", metavar="SRC", help="another checkout's src folder, measured in the same run")
    args = ap.parse_args()
    for src in (str(ROOT / "src"), *([args.baseline] if args.baseline else [])):
        subprocess.run([PY, "-m", "compileall", "-q", src], env=_env(), check=True)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as empty:
        for name, argv in CASES.items():
            measure(argv, 2, Path(empty))  # warm the file cache
            if args.baseline and argv[:3] == LLMENV:
                t, old, cpu, old_cpu = _pair(argv, args.runs, Path(empty), args.baseline)
                results[name] = {"median_s": statistics.median(t), "min_s": min(t), "runs": args.runs}
                results[name]["baseline_median_s"] = statistics.median(old)
                results[name]["baseline_min_s"] = min(old)
                results[name]["cpu_s"] = statistics.median(cpu)
                results[name]["baseline_cpu_s"] = statistics.median(old_cpu)
            else:
                t = measure(argv, args.runs, Path(empty))
                results[name] = {"median_s": statistics.median(t), "min_s": min(t), "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, t in _lock_cases(args.runs, Path(tmp), args.stack).items():
            results[name] = {"median_s": statistics.median(t), "min_s": min(t), "runs": args.runs}
    base = results["python -c pass (baseline)"]["median_s"]
    print(f"{'command':<56} {'median':>8} {'min':>8} {'x python':>9}")
    for name, r in results.items():
        r["ratio_to_python"] = r["median_s"] / base
        extra = ""
        if name.startswith("init --lock"):
            what = name.split("(", 1)[1]
            r["ratio_to_uv_lock"] = r["median_s"] / results[f"uv lock of the same file ({what}"]["median_s"]
            extra = f"  {r['ratio_to_uv_lock']:.2f}x uv lock"
        if "baseline_median_s" in r:
            r["ratio_to_baseline"] = r["median_s"] / r["baseline_median_s"]
            extra = (
                f"  baseline {r['baseline_median_s']:.3f}s ({r['ratio_to_baseline']:.2f}x),"
                f" min {r['baseline_min_s']:.3f}s ({r['min_s'] / r['baseline_min_s']:.2f}x),"
                f" cpu {r['cpu_s']:.3f}s vs {r['baseline_cpu_s']:.3f}s ({r['cpu_s'] / r['baseline_cpu_s']:.2f}x)"
            )
        print(f"{name:<56} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['ratio_to_python']:>8.1f}x{extra}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"python": sys.version.split()[0], "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
