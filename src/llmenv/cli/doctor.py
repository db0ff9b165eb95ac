"""``llmenv doctor``: inspect an installed environment; ok / warn / fail findings with evidence and fixes."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from llmenv.cli._context import Context

HELP = (
    "Inspect an installed environment (the project's .venv, or the current interpreter): torch and its CUDA, "
    "the driver, GPU architectures, nvcc, flash-attn, vLLM/SGLang/xformers/flashinfer, NCCL, glibc. "
    "Exit 1 when any finding fails."
)

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", metavar="DIR", help="inspect this project's environment (its .venv)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-v", "--verbose", action="store_true", help="show the evidence of ok findings too")
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


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.ray is not None:
        from llmenv.cli._ray_doctor import run_ray

        return run_ray(args, ctx)
    if args.timeout is not None or args.runtime_env:
        from llmenv.errors import UsageError

        raise UsageError("--timeout and --runtime-env go with --ray")
    from llmenv.doctor import Environment, doctor, find_environment, load_probe, real_run, save_probe

    probe: Mapping[str, Any] | None = None
    if args.from_probe:
        probe = load_probe(ctx.cwd / args.from_probe)
        exe = probe.get("python", {}).get("executable") if isinstance(probe.get("python"), dict) else None
        env = Environment(python=str(exe or "python"), project=None, reason=f"as saved in {args.from_probe}")
        runner = None
    else:
        env = find_environment(args.project, cwd=ctx.cwd, environ=ctx.environ)
        # The probe gets the long-running runner: the 20 s limit of detection's is too short for a cold torch
        # import on a network filesystem.
        runner = ctx.system.run_long or real_run
    report, probe = doctor(env, run=runner, probe=probe)
    if args.save_probe and probe is not None:
        save_probe(ctx.cwd / args.save_probe, probe)
    if args.json:
        ctx.ui.json(report.to_dict())
    else:
        ctx.ui.print(f"inspecting {env.python} ({env.reason})", style="head")
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
