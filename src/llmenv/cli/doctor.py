"""``llmenv doctor``: inspect an installed environment; ok / warn / fail findings with evidence and fixes."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import IO, Any

from llmenv.cli._context import Context
from llmenv.errors import UsageError

HELP = (
    "Inspect an installed environment: torch and its CUDA or ROCm build, the driver, GPU architectures, nvcc, "
    "flash-attn, vLLM/SGLang/xformers/flashinfer, NCCL, glibc, and the differences from uv.lock. "
    "The environment is --python's, else the project's .venv (--project, or a project in the current folder), "
    "else the activated virtual environment, else the python on PATH. "
    "doctor RUNS that interpreter (a probe script, which imports torch and loads the compiled extensions in "
    "child processes): inspect only environments you would run yourself; `check` and `plan` never run it. "
    "Exit 1 when any finding fails."
)

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project",
        metavar="DIR",
        help="inspect this project's environment (its .venv) and compare it with its uv.lock",
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        help="inspect this interpreter (or virtual environment folder) instead; it is run",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-v", "--verbose", action="store_true", help="show the evidence of ok findings too")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the probe before it is ended and reported as hung (default: 300); with --ray, "
        "for each node (default: 120)",
    )
    p.add_argument(
        "--save-probe",
        metavar="FILE",
        help="also write what the probe read (JSON) to FILE, e.g. for a bug report",
    )
    p.add_argument(
        "--from-probe",
        metavar="FILE",
        help="judge a probe output saved with --save-probe (another machine's environment) instead of running one",
    )
    from llmenv.cli._ray_doctor import add_ray_arguments

    add_ray_arguments(p)


class _Progress:
    """What the probe is doing, on one line of a terminal that is rewritten (nothing on a pipe)."""

    def __init__(self, stream: IO[str], python: str) -> None:
        self.stream, self.python, self.shown = stream, python, False

    def __call__(self, step: str, seconds: float) -> None:
        self.stream.write(f"\r\x1b[2Kprobing {self.python}: {step} ({seconds:.0f} s)")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def parse_timeout(value: float | None, default: float) -> float:
    if value is None:
        return default
    if not math.isfinite(value) or value <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    return value


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.ray is not None:
        if args.python:
            raise UsageError("--python does not go with --ray (the nodes' interpreters are probed)")
        from llmenv.cli._ray_doctor import run_ray

        return run_ray(args, ctx)
    if args.runtime_env:
        raise UsageError("--runtime-env goes with --ray")
    from llmenv.doctor import (
        DEFAULT_TIMEOUT,
        Environment,
        doctor,
        find_environment,
        load_probe,
        project_lock,
        real_runner,
        runner_from,
        save_probe,
    )
    from llmenv.doctor.environment import project_root

    timeout = parse_timeout(args.timeout, DEFAULT_TIMEOUT)
    probe: Mapping[str, Any] | None = None
    if args.from_probe:
        if args.python:
            raise UsageError("--python does not go with --from-probe (nothing is run)")
        probe = load_probe(ctx.cwd / args.from_probe)
        exe = probe.get("python", {}).get("executable") if isinstance(probe.get("python"), dict) else None
        root = project_root(args.project, ctx.cwd, ctx.environ) if args.project else None
        env = Environment(python=str(exe or "python"), project=root, reason=f"as saved in {args.from_probe}")
    else:
        env = find_environment(args.project, cwd=ctx.cwd, environ=ctx.environ, python=args.python)
    lock, lock_error = project_lock(env.project, ctx.environ) if env.project else (None, None)
    # The probe gets the long-running runner (a cold torch import on a network filesystem takes minutes); tests
    # inject a plain one through System.run_long.
    runner = runner_from(ctx.system.run_long) if ctx.system.run_long else real_runner(ctx.environ)
    isatty = getattr(ctx.ui.err, "isatty", None)
    progress = _Progress(ctx.ui.err, env.python) if probe is None and isatty and isatty() else None
    if not args.json:
        ctx.ui.print(f"inspecting {env.python} ({env.reason})", style="head")
    try:
        report, probe = doctor(
            env, run=runner, probe=probe, timeout=timeout, progress=progress, lock=lock, lock_error=lock_error
        )
    finally:
        if progress:
            progress.done()
    if args.save_probe and probe is not None:
        save_probe(ctx.cwd / args.save_probe, probe)
    if args.json:
        ctx.ui.json(report.to_dict())
    else:
        width = max((len(f.check) for f in report.findings), default=0)
        for f in report.findings:
            ctx.ui.print(f"{_MARK[f.status]}  {f.check:<{width}}  {f.summary}", style=f.status)
            if f.status != "ok" or args.verbose:
                for e in f.evidence:
                    ctx.ui.print(f"      {'':<{width}}  · {e}", style="dim")
            if f.fix and f.status != "ok":
                ctx.ui.print(f"      {'':<{width}}  fix: {f.fix}", style="hint")
        ctx.ui.print(f"{report.count('ok')} ok, {report.count('warn')} warn, {report.count('fail')} fail")
    return 1 if report.failed else 0
