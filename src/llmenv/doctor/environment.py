"""Which interpreter ``llmenv doctor`` inspects, and what its project says.

In this order: ``--python PATH`` (an interpreter, or a virtual environment's folder); ``--project DIR``'s
environment; the environment of a project in the working directory (one that has a ``.venv``, or that llmenv wrote,
synced or not); the activated virtual environment (``VIRTUAL_ENV``); the ``python`` (else ``python3``) on PATH.
llmenv's own interpreter is never taken silently: when the one found is llmenv's, the report says so. uv's
``UV_PROJECT_ENVIRONMENT`` is honoured. The interpreter found is the one the probe runs in: doctor runs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmenv.errors import NoAnswer, UsageError

__all__ = ["Environment", "builds_from_source", "find_environment", "project_root", "venv_python"]

Which = Callable[[str], "str | None"]

# [tool.uv] settings that mean some package is compiled at install time (so nvcc must match torch).
_BUILD_SETTINGS = (
    "extra-build-dependencies",
    "extra-build-variables",
    "no-build-isolation",
    "no-build-isolation-package",
    "no-binary",
    "no-binary-package",
)


@dataclass(frozen=True, kw_only=True)
class Environment:
    python: str  # the interpreter the probe runs in
    project: Path | None  # the project whose lock and build settings apply
    reason: str  # how it was chosen, for the report


def venv_python(venv: Path) -> Path:
    for rel in ("bin/python", "bin/python3", "Scripts/python.exe"):
        if (venv / rel).exists():
            return venv / rel
    return venv / "bin" / "python"


def _is_own(python: str, own_prefix: str) -> bool:
    """Is ``python`` the interpreter of llmenv's own environment? (Compared by environment folder, not by the
    file: a virtual environment's python is a link to its base interpreter.)"""
    try:
        return Path(python).absolute().parent.parent.resolve() == Path(own_prefix).resolve()
    except OSError:
        return False


def _explicit(python: str, cwd: Path, which: Which) -> str:
    if os.sep not in python and "/" not in python and not (cwd / python).exists():
        found = which(python)
        if not found:
            raise UsageError(f"--python {python}: not found on PATH")
        return found
    path = cwd / python
    if path.is_dir():
        path = venv_python(path)
    if not path.exists():
        raise UsageError(f"--python {python}: no such file")
    if not os.access(path, os.X_OK):
        raise UsageError(f"--python {python}: not an executable")
    return str(path)


def project_root(project: str | None, cwd: Path, environ: Mapping[str, str]) -> Path | None:
    """``--project``'s folder (UsageError when there is none), else the working directory when it holds a project
    with an environment or one llmenv wrote, else None."""
    if project is not None:
        root = (cwd / project).resolve()
        if not root.is_dir():
            raise UsageError(f"--project {project}: no such directory")
        return root
    pyproject = cwd / "pyproject.toml"
    has_env = (cwd / environ.get("UV_PROJECT_ENVIRONMENT", ".venv")).is_dir()
    # A project llmenv wrote ([tool.llmenv]) is what the user means even before it is synced: say so, rather
    # than inspect some other interpreter.
    if pyproject.is_file() and (has_env or _written_by_llmenv(pyproject)):
        return cwd
    return None


def find_environment(
    project: str | None,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    python: str | None = None,
    which: Which | None = None,
    own_prefix: str | None = None,
) -> Environment:
    """The interpreter to inspect (the order is in this module's docstring)."""
    own_prefix = own_prefix or sys.prefix
    if which is None:
        import shutil

        def which(name: str) -> str | None:
            return shutil.which(name, path=environ.get("PATH"))

    root = project_root(project, cwd, environ)
    if python is not None:
        exe = _explicit(python, cwd, which)
        where = f" (the project at {root})" if root else ""
        return Environment(python=exe, project=root, reason=f"--python{where}")
    if root is not None:
        venv = root / environ.get("UV_PROJECT_ENVIRONMENT", ".venv")
        found = venv_python(venv)
        if not found.exists():
            raise NoAnswer(
                f"no environment to inspect: {found} does not exist",
                hint=f"create it with `llmenv sync --project {root}` (or `uv sync`), or pass --python PATH",
            )
        return Environment(
            python=str(found), project=root, reason=f"the environment of the project at {root}"
        )
    active = environ.get("VIRTUAL_ENV")
    if active:
        found = venv_python(Path(active))
        if found.exists():
            return _named(str(found), "the activated virtual environment (VIRTUAL_ENV)", own_prefix)
    for name in ("python", "python3"):
        on_path = which(name)
        if on_path:
            return _named(on_path, f"the `{name}` on PATH", own_prefix)
    raise NoAnswer(
        "no Python to inspect: no project here, no activated virtual environment, no python on PATH",
        hint="pass --python PATH (an interpreter or a virtual environment) or --project DIR",
    )


def _named(python: str, reason: str, own_prefix: str) -> Environment:
    if _is_own(python, own_prefix):
        reason += "; it is llmenv's own interpreter: pass --python or --project to inspect another one"
    return Environment(python=python, project=None, reason=reason)


def _written_by_llmenv(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "[tool.llmenv]" in text


def builds_from_source(pyproject_text: str) -> bool | None:
    """Does this project build packages from source at install time? None when the file cannot be read."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(pyproject_text).unwrap()
    except TOMLKitError:
        return None
    uv = doc.get("tool", {}).get("uv", {})
    return isinstance(uv, dict) and any(uv.get(k) for k in _BUILD_SETTINGS)
