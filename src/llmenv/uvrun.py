"""Run the uv binary: the one bundled by the PyPI ``uv`` package, else a ``uv`` on PATH (``LLMENV_UV`` overrides).

uv stays the resolver and installer; llmenv only runs it, streams its output, and explains a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from llmenv.errors import UsageError

if TYPE_CHECKING:
    from llmenv.cli._context import Context
    from llmenv.project import ProjectFile

__all__ = ["find_uv", "run_uv", "uv_version"]

_VERSION_RE = re.compile(r"^uv (\d+\.\d+\.\d+\S*)", re.MULTILINE)


def find_uv(environ: Mapping[str, str]) -> str:
    """The uv binary llmenv runs. UsageError (exit 2) when there is none."""
    override = environ.get("LLMENV_UV")
    if override:
        if not (shutil.which(override) or os.path.isfile(override)):
            raise UsageError(f"LLMENV_UV={override!r}: no such program")
        return shutil.which(override) or override
    try:
        import uv

        path = uv.find_uv_bin()
        if path and os.path.isfile(path):
            return str(path)
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv", path=environ.get("PATH"))
    if found:
        return found
    raise UsageError("uv not found: install it with `pip install uv` (llmenv depends on the PyPI uv package)")


def uv_version(binary: str) -> Version:
    try:
        p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError(f"cannot run {binary}: {e}") from None
    m = _VERSION_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise UsageError(f"{binary} --version did not print a uv version")
    try:
        return Version(m.group(1))
    except InvalidVersion:
        raise UsageError(f"{binary} printed an unreadable version: {m.group(1)!r}") from None


def checked_uv(environ: Mapping[str, str]) -> str:
    from llmenv.render import MIN_UV

    binary = find_uv(environ)
    v = uv_version(binary)
    if v < Version(MIN_UV):
        raise UsageError(
            f"uv {v} at {binary} is too old: llmenv writes settings that need uv >= {MIN_UV}",
            hint="pip install -U uv  (or uv self update)",
        )
    return binary


def run_uv(
    ctx: Context,
    args: Sequence[str],
    project_dir: Path,
    *,
    restore: ProjectFile | None = None,
) -> int:
    """Run ``uv ARGS`` in the project, streaming its output; on failure restore the file and explain."""
    binary = checked_uv(ctx.environ)
    if not (project_dir / "pyproject.toml").is_file():
        raise UsageError(f"no pyproject.toml in {project_dir} (run `llmenv init` first)")
    env = dict(ctx.environ)
    if not ctx.environ.get("FORCE_COLOR"):
        env.setdefault("UV_NO_PROGRESS", "1")
    captured: list[str] = []
    lock = project_dir / "uv.lock"
    lock_before = lock.read_bytes() if lock.exists() else None
    try:
        proc = subprocess.Popen(
            [binary, *args],
            cwd=project_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as e:
        raise UsageError(f"cannot run {binary}: {e.strerror}") from None
    with proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            captured.append(line)
            ctx.ui.err.write(line)
            ctx.ui.err.flush()
        code = proc.wait()
    if code == 0:
        return 0
    # the file uv failed on (before a restore puts the previous one back): explain's fixes build on it
    try:
        failed_on: str | None = (project_dir / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        failed_on = None
    if restore is not None:
        restore.restore()
        if lock_before is None:
            lock.unlink(missing_ok=True)
        else:
            lock.write_bytes(lock_before)
        ctx.ui.eprint(
            f"llmenv: uv {args[0]} failed; restored {restore.path} to its previous bytes", style="error"
        )
    else:
        ctx.ui.eprint(f"llmenv: uv {' '.join(args)} failed (exit {code})", style="error")
    _explain(ctx, "".join(captured), failed_on)
    return 1


def _explain(ctx: Context, log: str, pyproject: str | None = None) -> None:
    import importlib

    try:
        explain: Any = importlib.import_module("llmenv.explain")
    except ImportError:
        return
    project = explain.read_project(pyproject) if pyproject is not None else None
    diagnosis = explain.explain(log, project)
    ctx.ui.eprint("")
    for line in explain.render_lines(diagnosis):
        ctx.ui.eprint(line)
