"""``llmenv plan``: plan a compatible stack for a target and say why."""

from __future__ import annotations

import argparse

from llmenv.cli._context import Context
from llmenv.cli._planning import (
    add_planning_arguments,
    add_project_arguments,
    build_plan,
    render_plan,
    resolve_inputs,
)

HELP = (
    "Plan a compatible stack (torch with the right CUDA build, and more) for this machine or another one, "
    "with the reasons and the alternatives that were rejected. Reads nothing from the network."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "specs",
        nargs="*",
        metavar="SPEC",
        help="a requirement (torch, vllm==0.8.5.post1, ...) or ./path[extras]",
    )
    add_planning_arguments(p)
    add_project_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, ctx: Context) -> int:
    inputs = resolve_inputs(ctx, specs=args.specs, args=args)
    plan = build_plan(inputs)
    if args.json:
        ctx.ui.json(plan.to_dict())
    else:
        for line in render_plan(plan):
            ctx.ui.print(line)
    return 0
