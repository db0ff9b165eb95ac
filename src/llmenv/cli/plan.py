"""``llmenv plan``: plan a compatible stack for a target and say why (``--verify``: and lock it with uv)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmenv.cli._context import Context
from llmenv.cli._planning import (
    Inputs,
    add_planning_arguments,
    add_project_arguments,
    build_plan,
    render_plan,
    resolve_inputs,
)

HELP = (
    "Plan a compatible stack (torch with the right CUDA build, and more) for this machine or another one, "
    "with the reasons and the alternatives that were rejected. Reads nothing from the network unless --verify."
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
    p.add_argument(
        "--verify",
        action="store_true",
        help="write the plan to a scratch project and run the real `uv lock` on it; on failure take the next "
        "candidate (at most --max-attempts); nothing of yours is written",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _scratch_text(inputs: Inputs, plan: Any, folder: Path) -> str:
    """The pyproject.toml ``init`` would write for the plan in a new project (local trees by absolute path)."""
    import tomlkit

    from llmenv.render import ProjectOptions, render

    paths = {
        loc.name: str(((inputs.spec_base or Path.cwd()) / loc.path).resolve())
        for loc in inputs.request.locals
    }
    if paths:
        from dataclasses import replace

        plan = replace(plan, extra={**plan.extra, "paths": paths})
    options = ProjectOptions(
        name="llmenv-verify", pypi_index=inputs.pypi_index, github_proxy=inputs.github_proxy
    )
    return tomlkit.dumps(render(tomlkit.document(), plan, options))


def run(args: argparse.Namespace, ctx: Context) -> int:
    inputs = resolve_inputs(ctx, specs=args.specs, args=args)
    plan = build_plan(inputs)
    if args.verify:
        from llmenv.uvrun import checked_uv
        from llmenv.verify import LockFailed, verify_in_scratch

        binary = checked_uv(ctx.environ)
        first = iter([plan])
        try:
            plan = verify_in_scratch(
                plan_for=lambda fb: next(first, None) or build_plan(inputs, fb),
                render_text=lambda p, folder: _scratch_text(inputs, p, folder),
                binary=binary,
                environ=ctx.environ,
                allow_overrides=inputs.allow_overrides,
                max_attempts=args.max_attempts,
                progress=lambda line: ctx.ui.eprint(f"llmenv: {line}"),
            )
        except LockFailed as e:
            for a in e.attempts:
                ctx.ui.eprint(f"  attempt {a.number}: {a.candidate}: {a.reason or 'locked'}")
            if e.log.strip():
                from llmenv.explain import explain, render_lines

                ctx.ui.eprint("")
                for line in render_lines(explain(e.log)):
                    ctx.ui.eprint(line)
            raise
    if args.json:
        ctx.ui.json(plan.to_dict())
    else:
        for line in render_plan(plan):
            ctx.ui.print(line)
    return 0
