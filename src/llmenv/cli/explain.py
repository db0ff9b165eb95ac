"""``llmenv explain [FILE | -] [--json]``: the cause of a failed uv/pip run and the edit that fixes it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llmenv.cli._context import Context
from llmenv.errors import UsageError

if TYPE_CHECKING:
    from llmenv.explain import ProjectFacts

HELP = (
    "Explain a failed uv or pip run: what failed, the chain of pins that led there, why, and ranked fixes "
    "(a pyproject.toml edit or a command). Reads FILE, or standard input with `-` or when input is piped; "
    "--project DIR makes the fixes edit that project's own pyproject.toml. "
    "Exit 0 when the log was read (a cause found, or reported as unknown), 2 when it cannot be read."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE", help="the log to explain; `-` for standard input")
    p.add_argument(
        "--project",
        metavar="DIR",
        help="the project the log came from: fixes then edit its pyproject.toml's own keys and values and never "
        "propose what it already has",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _project(args: argparse.Namespace, ctx: Context) -> ProjectFacts | None:
    from llmenv.explain import read_project

    if args.project is None:
        return None
    folder = Path(args.project).expanduser()
    folder = folder if folder.is_absolute() else ctx.cwd / folder
    path = folder / "pyproject.toml" if folder.is_dir() or not folder.name.endswith(".toml") else folder
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--project {args.project}: no pyproject.toml there") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--project {args.project}: cannot read {path.name}: {getattr(e, 'strerror', None) or e}") from None
    facts = read_project(text, path=str(path.relative_to(ctx.cwd)) if path.is_relative_to(ctx.cwd) else str(path))
    if facts is None:
        raise UsageError(f"--project {args.project}: {path.name} is not valid TOML")
    return facts


def _read(args: argparse.Namespace, ctx: Context) -> str:
    if args.file in (None, "-"):
        stdin = sys.stdin
        if args.file is None and (stdin is None or stdin.isatty()):
            raise UsageError("no log given: pass a FILE, or pipe the log in (`uv lock 2>&1 | llmenv explain`)")
        return stdin.read() if stdin is not None else ""
    path = Path(args.file)
    if not path.is_absolute():
        path = ctx.cwd / path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {args.file}") from None
    except IsADirectoryError:
        raise UsageError(f"{args.file} is a directory, not a log file") from None
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror or e}") from None
    return data.decode("utf-8", errors="replace")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.explain import explain, render_lines

    project = _project(args, ctx)
    text = _read(args, ctx)
    if not text.strip():
        raise UsageError("the log is empty")
    d = explain(text, project)
    if args.json:
        ctx.ui.json(d.to_dict())
        return 0
    for line in render_lines(d):
        style = None
        if line.startswith("cause"):
            style = "head"
        elif line.lstrip().startswith("fix "):
            style = "hint"
        ctx.ui.print(line, style=style)
    return 0
