"""Wall time of planning and of the closed loop, as a user runs them (a new process each time).

Usage: python bench/bench_plan.py [--runs N] [--json OUT]

Medians of N runs, each with its ratio to a bare `python -c pass` measured in the same run (the interpreter's
own start-up). Targets (issue 10): `plan` of a whole verl / openrlhf stack from the bundled knowledge <= 0.25 s;
`init --lock` when the first candidate locks <= 1.3x a bare `uv lock` of the same file; `plan torch --driver
... --gpu ... --python 3.12` and `detect` (the H200 had 0.50 s / 0.37 s against a 59 ms interpreter start
before planning stopped probing what flags describe).

Sources are byte-compiled first and the runs may write bytecode (PYTHONDONTWRITEBYTECODE is dropped): an
installed llmenv runs from .pyc files, and compiling every module on each start would be measured otherwise.
The lock case runs offline against a local flat index of tiny torch wheels, uv's cache warm.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(argv: list[str], runs: int, cwd: Path | None = None, prepare=None) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        if prepare is not None:
            prepare()
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, env=_env(), cwd=cwd, check=False)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    return times


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
                [*LLMENV, "init", ".", "verl[vllm]", *H100_570, *index, "--lock"],
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
    args = ap.parse_args()
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "src")], env=_env(), check=True)
    results: dict[str, dict[str, float]] = {}
    for name, argv in CASES.items():
        measure(argv, 2)  # warm the file cache
        t = measure(argv, args.runs)
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
        print(f"{name:<56} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['ratio_to_python']:>8.1f}x{extra}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"python": sys.version.split()[0], "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
