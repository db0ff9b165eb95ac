"""``llmenv sync``: run `uv sync` in the project; explain a failure.

In a project that reuses a base interpreter (``[tool.llmenv.base]``, written by ``init --base-python`` or in a
detected image), the environment is first made from the base interpreter and linked to the base's packages,
and after the sync no copy of the base's torch (or its family, triton, CUDA wheels) may be in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from llmenv.cli import lock
from llmenv.cli._context import Context

if TYPE_CHECKING:
    from llmenv.base.model import BaseRecord

HELP = "Run `uv sync` (the bundled uv) in the project, streaming its output; explain a failure."


def add_arguments(p: argparse.ArgumentParser) -> None:
    lock.add_arguments(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.base.project import read_record

    folder = Path(args.project).expanduser()
    folder = folder if folder.is_absolute() else ctx.cwd / folder
    record = read_record(folder) if (folder / "pyproject.toml").is_file() else None
    if record is None:
        return lock.run(args, ctx, command="sync")
    return _sync_on_base(args, ctx, folder, record)


def _sync_on_base(args: argparse.Namespace, ctx: Context, folder: Path, record: BaseRecord) -> int:
    from llmenv.base.project import check_usage, prepare_environment, shadows
    from llmenv.uvrun import checked_uv, run_child, run_uv

    check_usage(record, list(args.uv_args))
    uv = checked_uv(ctx.environ)

    def echo(line: str) -> None:
        ctx.ui.err.write(line)
        ctx.ui.err.flush()

    def run(argv: list[str], cwd: Path) -> int:
        return run_child(argv, cwd=cwd, env=dict(ctx.environ), on_line=echo).code

    venv = prepare_environment(folder, record, ctx.environ, run=run, uv=uv)
    ctx.ui.eprint(f"llmenv: {venv} uses the base's packages ({record.image or record.python})", style="dim")
    code = run_uv(ctx, ["sync", *args.uv_args], folder, binary=uv)
    if code != 0:
        return code
    prepare_environment(folder, record, ctx.environ, run=run, uv=uv)  # uv may have made the environment anew
    found = shadows(venv, record)
    for s in found:
        ctx.ui.eprint(
            f"llmenv: {venv} has its own {s.name} {s.version} ({s.where}), which shadows the base's "
            f"{s.base_version}",
            style="error" if s.fatal else "warn",
        )
    if any(s.fatal for s in found):
        names = " ".join(s.name for s in found if s.fatal)
        ctx.ui.eprint(
            f"fix: add {names} to [tool.uv] exclude-dependencies (llmenv init --base-python does), then "
            f"`uv pip uninstall --python {venv} {names}`",
            style="hint",
        )
        return 1
    return 0
