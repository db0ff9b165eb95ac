"""``llmenv lock``: run `uv lock` in the project; explain a failure."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmenv.cli._context import Context

HELP = "Run `uv lock` (the bundled uv) in the project, streaming its output; explain a failure."
UV_COMMAND = "lock"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", metavar="DIR", default=".", help="the project folder (default: .)")
    p.add_argument("uv_args", nargs="*", metavar="-- UV ARGS", help="passed to uv after `--`")


def run(args: argparse.Namespace, ctx: Context, command: str = UV_COMMAND) -> int:
    from llmenv.uvrun import run_uv

    folder = Path(args.project).expanduser()
    folder = folder if folder.is_absolute() else ctx.cwd / folder
    extra: list[str] = []
    if command == "lock" and (folder / "pyproject.toml").is_file():
        from llmenv.base.project import read_record

        record = read_record(folder)
        if record is not None and not any(a.startswith(("--python", "-p")) for a in args.uv_args):
            extra = ["--python", record.python]  # a project on a base locks with the base interpreter
    return run_uv(ctx, [command, *extra, *args.uv_args], folder)
