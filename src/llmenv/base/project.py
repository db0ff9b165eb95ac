"""A project that reuses a base: reading its ``[tool.llmenv.base]`` and getting its environment ready for uv.

``llmenv sync`` in such a project: create the environment from the base interpreter when there is none (uv
would make one from any Python, without the link), write the link, run ``uv sync``, then say whether the
environment now holds a copy of one of the base's packages (a second torch is an error: it would shadow the
base's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmenv.base.link import (
    base_modules,
    environment_python_minor,
    link_environment,
    module_shadowing,
    shadowing,
    site_packages,
)
from llmenv.base.model import BaseRecord, torch_linked
from llmenv.errors import NoAnswer, UsageError
from llmenv.files import read_regular

__all__ = ["Shadow", "environment_of", "prepare_environment", "read_record", "shadows"]


def read_record(project_dir: Path) -> BaseRecord | None:
    """The project's ``[tool.llmenv.base]``; None when it reuses no base (or has no readable pyproject)."""
    data = read_regular(project_dir / "pyproject.toml")
    if data is None:
        return None
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(data.decode("utf-8")).unwrap()
    except (TOMLKitError, UnicodeDecodeError):
        return None  # uv says what is wrong with it
    record = doc.get("tool", {}).get("llmenv", {}).get("base") if isinstance(doc.get("tool"), dict) else None
    if not isinstance(record, dict):
        return None
    return BaseRecord.from_dict(record)


def environment_of(project_dir: Path, environ: Mapping[str, str]) -> Path:
    """The project's environment folder, as uv picks it (``UV_PROJECT_ENVIRONMENT``, else ``.venv``)."""
    given = environ.get("UV_PROJECT_ENVIRONMENT")
    if given:
        p = Path(given).expanduser()
        return p if p.is_absolute() else project_dir / p
    return project_dir / ".venv"


Runner = Callable[[list[str], Path], int]
# Modules whose second copy breaks the base torch (whatever distribution installs them).
TORCH_MODULES = frozenset({"torch", "triton", "torchvision", "torchaudio", "torchgen", "functorch"})


def prepare_environment(
    project_dir: Path, record: BaseRecord, environ: Mapping[str, str], *, run: Runner, uv: str
) -> Path:
    """Make sure the project's environment exists, runs the base's Python and is linked to the base."""
    venv = environment_of(project_dir, environ)
    if not (venv / "pyvenv.cfg").is_file():
        if not os.path.exists(record.python):
            raise NoAnswer(
                f"the base interpreter {record.python} ([tool.llmenv.base]) does not exist on this machine",
                hint="run llmenv in the image the project was made for, or `llmenv init --base-python PATH` again",
            )
        if run([uv, "venv", "--python", record.python, str(venv)], project_dir) != 0:
            raise NoAnswer(f"uv venv --python {record.python} {venv} failed")
    minor = environment_python_minor(venv)
    if minor != record.python_version:
        raise NoAnswer(
            f"the environment {venv} runs Python {minor or 'unknown'}, the base's packages are for "
            f"Python {record.python_version}",
            hint=f"remove {venv} and run `llmenv sync` again: it is made from {record.python}",
        )
    link_environment(venv, record.site, minor)
    return venv


@dataclass(frozen=True, kw_only=True)
class Shadow:
    name: str
    version: str  # the environment's copy
    where: str  # its metadata folder
    base_version: str | None
    fatal: bool  # torch, its family, triton or a CUDA library wheel


def shadows(venv: Path, record: BaseRecord) -> list[Shadow]:
    """The base's packages the environment has its own copy of (read statically, nothing runs)."""
    from llmenv.base.read import read_packages

    if not venv.is_dir():
        return []
    site = site_packages(venv, record.python_version)
    base = read_packages(record.site)
    out = [
        Shadow(name=n, version=v, where=w, base_version=base[n].version, fatal=torch_linked(n))
        for n, (v, w) in shadowing(site, base).items()
    ]
    named = {s.name for s in out}
    for n, (v, module, theirs) in module_shadowing(site, base_modules(record.site)).items():
        if n not in named:  # another distribution installing a module the base has (triton / pytorch-triton)
            fatal = torch_linked(n) or module in TORCH_MODULES
            out.append(Shadow(name=n, version=v, where=f"module {module}", base_version=theirs, fatal=fatal))
    return out


def check_usage(record: BaseRecord | None, uv_args: list[str]) -> None:
    if record is not None and any(a in ("--python", "-p") or a.startswith("--python=") for a in uv_args):
        raise UsageError(
            "this project reuses a base interpreter ([tool.llmenv.base]): no --python for uv sync"
        )
