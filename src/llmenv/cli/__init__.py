"""The command line: ``main(argv)`` is the one boundary that maps errors to messages and exit codes.

Each subcommand lives in its own module (``llmenv.cli.<name>``) exposing ``HELP``, ``add_arguments(parser)``
and ``run(args, ctx) -> int``. Only the module of the command being run is imported, so ``llmenv --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from llmenv import __version__
from llmenv.cli._context import Context
from llmenv.errors import LlmenvError, UsageError

__all__ = ["COMMANDS", "Context", "main"]

# name -> (module, one-line help). Order is the order of `llmenv --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "detect": ("llmenv.cli.detect", "show what llmenv sees of this machine"),
    "plan": ("llmenv.cli.plan", "plan a compatible stack for a target and say why"),
    "init": ("llmenv.cli.init", "write (or update) the uv project for a plan"),
    "lock": ("llmenv.cli.lock", "run `uv lock` in the project; explain a failure"),
    "sync": ("llmenv.cli.sync", "run `uv sync` in the project; explain a failure"),
    "explain": ("llmenv.cli.explain", "explain a failed uv/pip run and how to fix it"),
    "override": ("llmenv.cli.override", "relax a package's pins with [[tool.uv.dependency-metadata]]"),
    "doctor": ("llmenv.cli.doctor", "inspect an installed environment: what will break, and the fix"),
    "check": ("llmenv.cli.check", "lint a pyproject.toml's uv configuration for LLM-stack pitfalls"),
    "kb": ("llmenv.cli.kb", "refresh llmenv's knowledge (torch builds, pins, flash-attn wheels) or show it"),
    "wheelhouse": ("llmenv.cli.wheelhouse", "fill a folder with every wheel the lock needs (offline nodes)"),
    "ray-env": ("llmenv.cli.ray_env", "print a Ray runtime environment that runs workers in the locked env"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _top_parser() -> _Parser:
    p = _Parser(
        prog="llmenv",
        description="A working, reproducible uv environment for your LLM stack, planned for your hardware.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun `llmenv COMMAND --help` for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"llmenv {__version__}")
    p.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return p


def _dispatch(argv: list[str], ctx: Context) -> int:
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] == "--version":
        top.parse_args(argv or ["--help"])
        return 0
    name = argv[0]
    if name not in COMMANDS:
        from llmenv._suggest import closest

        guess = closest(name, COMMANDS)
        tip = f"; did you mean `llmenv {guess}`?" if guess else ""
        raise UsageError(f"unknown command {name!r}{tip} (see `llmenv --help`)")
    module = importlib.import_module(COMMANDS[name][0])
    parser = _Parser(prog=f"llmenv {name}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args, ctx))


def _lenient_stdio() -> None:
    """Whatever encoding the streams have (PYTHONIOENCODING=ascii, a C locale), a character they cannot carry
    becomes '?' rather than an error; logs piped in are read as UTF-8 (what uv and pip print)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="replace")
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")


def main(argv: Sequence[str] | None = None, ctx: Context | None = None) -> int:
    """Run llmenv; returns the exit code (0 ok, 1 the answer is no, 2 bad usage or input)."""
    if ctx is None:
        _lenient_stdio()
    ctx = ctx or Context.default()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args, ctx)
    except SystemExit as e:  # argparse's --help / --version
        return int(e.code or 0) if isinstance(e.code, int) else 0
    except LlmenvError as e:
        ctx.ui.eprint(f"llmenv: error: {e.message}", style="error")
        if e.hint:
            ctx.ui.eprint(f"hint: {e.hint}", style="hint")
        return e.exit_code
    except KeyboardInterrupt as e:  # Ctrl-C; SIGTERM / SIGHUP arrive as its subclass uvrun.Terminated
        signum = int(getattr(e, "signum", signal.SIGINT))
        ctx.ui.eprint("llmenv: interrupted" if signum == signal.SIGINT else f"llmenv: stopped by signal {signum}")
        return 128 + signum
    except BrokenPipeError:
        return 1
    except Exception as e:  # the last line of defence: one line, never a traceback unless asked for
        if ctx.environ.get("LLMENV_DEBUG") or os.environ.get("LLMENV_DEBUG"):
            raise
        ctx.ui.eprint(f"llmenv: internal error: {type(e).__name__}: {e} (set LLMENV_DEBUG=1 for a traceback)")
        return 1
