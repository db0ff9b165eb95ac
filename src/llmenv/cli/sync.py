"""``llmenv sync``: run `uv sync` in the project; explain a failure."""

from __future__ import annotations

import argparse

from llmenv.cli import lock
from llmenv.cli._context import Context

HELP = "Run `uv sync` (the bundled uv) in the project, streaming its output; explain a failure."


def add_arguments(p: argparse.ArgumentParser) -> None:
    lock.add_arguments(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    return lock.run(args, ctx, command="sync")
