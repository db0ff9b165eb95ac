"""``--base-python PATH|none`` and the detected image: which base (if any) the target reuses.

Order: ``--base-python none`` (no base, whatever is detected); ``--base-python PATH`` (that interpreter is run
once, isolated, for its site folders); the interpreter recorded in ``[tool.llmenv.base]`` (an ``init`` re-run);
the image detection found (``detect``: files only). A target described by flags for another machine detects
no image.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmenv.base.model import BaseEnvironment, BaseRecord
from llmenv.cli._context import Context
from llmenv.errors import UsageError
from llmenv.target import Target, parse_python_version

__all__ = ["add_base_argument", "attach_base"]


def add_base_argument(g: Any) -> None:
    g.add_argument(
        "--base-python",
        metavar="PATH|none",
        help="reuse the torch and packages this interpreter has installed (a container's /usr/bin/python3): "
        "they become fixed facts, the project never installs them again; it is run once, isolated, for its "
        "folders. Inside an NGC or pytorch/pytorch image this is detected; 'none' plans without it",
    )


def _interpreter_path(ctx: Context, given: str) -> str:
    if os.sep not in given and not given.startswith("~"):
        found = ctx.system.which(given)
        if found is None:
            raise UsageError(f"--base-python {given}: no such command on PATH")
        return found
    p = Path(given).expanduser()
    return str(p if p.is_absolute() else ctx.cwd / p)


def _read(ctx: Context, given: str, how: str) -> BaseEnvironment:
    from llmenv.base import probe_interpreter, read_base

    path = _interpreter_path(ctx, given)

    def run(argv: Sequence[str], timeout: float) -> tuple[int, str] | None:
        return ctx.system.run(argv)

    interp = probe_interpreter(path, run=run)
    base = read_base(interp, environ=ctx.environ, origin=f"{how} {path}")
    if base.torch is None:
        raise UsageError(
            f"{how} {path}: it has no torch installed (its folders: {', '.join(interp.site) or 'none'})"
        )
    return base


def _chosen(ctx: Context, args: argparse.Namespace, recorded: Mapping[str, Any], detected: Target) -> Any:
    given = getattr(args, "base_python", None)
    if given is not None:
        if given.strip().lower() == "none":
            return None
        return _read(ctx, given, "--base-python")
    rec = recorded.get("base")
    if isinstance(rec, Mapping):
        r = BaseRecord.from_dict(rec)
        if not os.path.exists(r.python):
            raise UsageError(
                f"[tool.llmenv.base] names the base interpreter {r.python}, which does not exist here",
                hint="run llmenv in the image the project was made for, or plan without it: --base-python none",
            )
        return _read(ctx, r.python, "the base interpreter recorded in [tool.llmenv.base],")
    return detected.base


def attach_base(
    ctx: Context,
    args: argparse.Namespace,
    recorded: Mapping[str, Any],
    target: Target,
    flags: Mapping[str, Any],
) -> Target:
    """The target with its base (or with none): the base's Python becomes the target's."""
    base = _chosen(ctx, args, recorded, target)
    if base is None:
        return target.with_(base=None)
    if flags.get("python") is not None and parse_python_version(str(flags["python"])) != base.minor:
        raise UsageError(
            f"--python {flags['python']} contradicts the base interpreter {base.python} (Python {base.minor})"
        )
    origins = {**target.origins, "python": f"the base interpreter {base.python}", "base": base.origin}
    return target.with_(base=base, python=base.minor, origins=origins)
