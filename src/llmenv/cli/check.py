"""``llmenv check [PYPROJECT] [--json]``: lint a uv configuration for the pitfalls that cost LLM users days."""

from __future__ import annotations

import argparse

from llmenv.check import Finding, Report
from llmenv.cli._context import Context

HELP = (
    "Lint a uv configuration (default ./pyproject.toml; a folder means its pyproject.toml): PyTorch indexes, "
    "CUDA routing, flat pages, flash-attn builds, environments, conflicting pins, typos. Each finding has a "
    "location, a why and a fix. Exit 1 when any finding is an error."
)

_STYLE = {"error": "error", "warning": "warn", "info": "hint"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pyproject", nargs="?", metavar="PYPROJECT", help="a pyproject.toml or its folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def render_finding(f: Finding) -> list[str]:
    """One block: severity and code, then location, message, why and fix (continuation lines indented)."""
    lines = [f"{f.severity}[{f.code}]"]
    for label, text in (("location", f.location), ("message", f.message), ("why", f.why), ("fix", f.fix)):
        first, *rest = text.splitlines() or [""]
        lines.append(f"  {label + ':':<10}{first}")
        lines.extend(f"  {'':<10}{line}" for line in rest)
    return lines


def summary(report: Report) -> str:
    return f"{report.errors} errors, {report.warnings} warnings"


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.check import check_path, resolve_path

    report = check_path(resolve_path(args.pyproject, ctx.cwd))
    if args.json:
        ctx.ui.json(report.to_dict())
        return report.exit_code
    for f in report.findings:
        block = render_finding(f)
        ctx.ui.print(block[0], style=_STYLE.get(f.severity))
        for line in block[1:]:
            ctx.ui.print(line)
        ctx.ui.print()
    ctx.ui.print(summary(report), style="error" if report.errors else None)
    return report.exit_code
