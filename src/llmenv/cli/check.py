"""``llmenv check [PYPROJECT] [--json]``: lint a uv configuration for the pitfalls that cost LLM users days."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from llmenv.check import Catalog, Finding, Report
from llmenv.cli._context import Context
from llmenv.errors import UsageError

HELP = (
    "Lint a uv configuration (default ./pyproject.toml; a folder means its pyproject.toml): PyTorch indexes, "
    "CUDA routing, flat pages, flash-attn builds, environments, conflicting pins and URLs, Python range against "
    "the dependencies' wheels, typos. Each finding has a location, a why and a fix. Exit 1 when any finding is "
    "an error."
)

_STYLE = {"error": "error", "warning": "warn", "info": "hint"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pyproject", nargs="?", metavar="PYPROJECT", help="a pyproject.toml or its folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--online",
        action="store_true",
        help="read the dependencies' files (wheel tags, Requires-Python) from the index instead of only the "
        "bundled knowledge",
    )
    p.add_argument(
        "--index",
        metavar="URL",
        default=None,
        help="with --online: a PEP 691 (JSON) simple index; default PyPI",
    )


def render_finding(f: Finding) -> list[str]:
    """One block: severity and code, then location, message, why and fix (continuation lines indented)."""
    lines = [f"{f.severity}[{f.code}]"]
    for label, text in (("location", f.location), ("message", f.message), ("why", f.why), ("fix", f.fix)):
        first, *rest = text.splitlines() or [""]
        lines.append(f"  {label + ':':<10}{first}")
        lines.extend(f"  {'':<10}{line}".rstrip() for line in rest)
    return lines


def summary(report: Report) -> str:
    return f"{report.errors} errors, {report.warnings} warnings"


def _catalog(args: argparse.Namespace, ctx: Context, data: Mapping[str, Any]) -> Catalog:
    from llmenv.check import Project
    from llmenv.knowledge.pins import load_pins, user_data_dir

    pins = load_pins(user_data_dir(ctx.environ))
    if not args.online:
        if args.index:
            raise UsageError("--index is read with --online only")
        return Catalog(pins=pins)
    from llmenv.cli.kb import cache_dir
    from llmenv.pypi import DEFAULT_INDEX, Cache, PyPIClient

    index = (args.index or DEFAULT_INDEX).rstrip("/")
    if not index.startswith(("http://", "https://")):
        raise UsageError(f"--index {index!r}: an http(s) URL of a PEP 691 simple index is needed")
    client = PyPIClient(index, cache=Cache(cache_dir(ctx.environ) / "pypi"), retries=2, timeout=20.0)
    catalog = Catalog(pins=pins, client=client)
    project = Project.from_dict(data, catalog=catalog)
    catalog.prefetch(
        d.name for d in project.deps if d.scope in ("base", "extra", "group") and not d.requirement.url
    )
    return catalog


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.check import check_document, load, resolve_path

    path = resolve_path(args.pyproject, ctx.cwd)
    data = load(path)
    catalog = _catalog(args, ctx, data)
    try:
        report = check_document(data, file=str(path), catalog=catalog)
    finally:
        if catalog.client is not None:
            catalog.client.close()
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
