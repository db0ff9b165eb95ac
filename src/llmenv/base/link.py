"""How a uv project reuses a base's packages without installing them again: the mechanism, in one place.

Two halves (docs/containers.md says why these and not the other known workarounds):

1. **uv never resolves the base's packages.** ``[tool.uv] exclude-dependencies`` lists every distribution the
   base has: uv drops them from every requirement (an engine's ``torch==2.6.0`` included), so ``uv lock``,
   ``uv sync`` and ``uv run`` never install a second torch, triton or ``nvidia-*`` library. Build dependencies are
   not affected (a sdist still gets its setuptools).
2. **The project's environment imports them from the base.** A ``.pth`` file in the environment's
   site-packages adds the base's site folders with ``site.addsitedir`` (so the base's own ``.pth`` files work
   too), after the environment's own folder. uv leaves files it did not install alone, and a re-sync keeps it.
   ``include-system-site-packages`` would reach only the interpreter's own system folders (not a venv's or a
   conda prefix's), and uv does not recreate an environment with it.

``llmenv sync`` creates the environment from the base interpreter when it is missing and (re)writes the link
before running ``uv sync``; ``doctor`` checks both halves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from llmenv.base.files import Files
from llmenv.files import write_text_atomic

__all__ = [
    "PTH_NAME",
    "base_modules",
    "environment_python_minor",
    "exclusions",
    "link_environment",
    "linked_site",
    "module_shadowing",
    "pth_text",
    "shadowing",
    "site_packages",
]

PTH_NAME = "_llmenv_base.pth"
_ADDSITEDIR = re.compile(r"^import site; site\.addsitedir\((.+)\)\s*$")


def exclusions(names: Iterable[str], existing: Sequence[Any] = (), managed: Iterable[str] = ()) -> list[Any]:
    """``exclude-dependencies``: the entries there (the user's, in their order; those llmenv added before and
    the base no longer has are dropped), then every base distribution not yet listed, sorted."""
    wanted = {canonicalize_name(n) for n in names}
    before = {canonicalize_name(n) for n in managed}
    out = [
        e
        for e in existing
        if not isinstance(e, str) or canonicalize_name(e) in wanted or canonicalize_name(e) not in before
    ]
    have = {canonicalize_name(e) for e in out if isinstance(e, str)}
    return out + sorted(wanted - have)


def pth_text(site: Sequence[str]) -> str:
    """The link file: one ``site.addsitedir`` per base folder, in the base's order."""
    head = "# written by llmenv: the base environment's packages (see [tool.llmenv.base] in pyproject.toml)\n"
    return head + "".join(f"import site; site.addsitedir({folder!r})\n" for folder in site)


def linked_site(text: str) -> tuple[str, ...]:
    """The folders a link file adds (for doctor)."""
    import ast

    out = []
    for line in text.splitlines():
        m = _ADDSITEDIR.match(line.strip())
        if m:
            try:
                value = ast.literal_eval(m.group(1))
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str):
                out.append(value)
    return tuple(out)


def environment_python_minor(venv: Path) -> str | None:
    """``3.12`` from the environment's ``pyvenv.cfg``; None when it has none."""
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() in ("version_info", "version"):
            m = re.match(r"^\s*(3\.\d+)", value)
            if m:
                return m.group(1)
    return None


def site_packages(venv: Path, minor: str) -> Path:
    if (venv / "Lib" / "site-packages").is_dir() and not (venv / "lib").is_dir():
        return venv / "Lib" / "site-packages"
    return venv / "lib" / f"python{minor}" / "site-packages"


def link_environment(venv: Path, site: Sequence[str], minor: str) -> Path:
    """Write (atomically, only when it differs) the link file of ``venv`` to the base folders ``site``."""
    folder = site_packages(venv, minor)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PTH_NAME
    text = pth_text(site)
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except OSError:
        pass
    write_text_atomic(path, text)
    return path


def shadowing(venv_site: Path, base_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Base distributions the environment has a copy of itself: name -> (version, its metadata folder)."""
    from llmenv.base.read import read_packages

    wanted = {canonicalize_name(n) for n in base_names}
    own = read_packages([str(venv_site)])
    return {n: (p.version, f"{p.location}/{p.dist}") for n, p in sorted(own.items()) if n in wanted}


def _module(entry: str) -> str | None:
    """The importable top-level name of a site folder's entry (``torch``, ``six.py``, ``_C.cpython-312….so``)."""
    if entry.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")) or entry in ("__pycache__", ".."):
        return None
    if entry.endswith(".py"):
        return entry[:-3]
    if entry.endswith((".so", ".pyd")):
        return entry.split(".", 1)[0]
    return entry if "." not in entry else None


def base_modules(site: Sequence[str], files: Files | None = None) -> dict[str, str]:
    """Top-level modules and regular packages in the base's folders: name -> path (namespace packages such as
    ``nvidia/``, shared by many wheels, are left out: they merge rather than shadow)."""
    files = files or Files()
    out: dict[str, str] = {}
    for folder in site:
        for entry in files.listdir(folder):
            name = _module(entry)
            path = f"{folder}/{entry}"
            if name is None or name in out:
                continue
            if files.is_dir(path) and not files.is_file(f"{path}/__init__.py"):
                continue
            out[name] = path
    return out


def module_shadowing(venv_site: Path, modules: Mapping[str, str]) -> dict[str, tuple[str, str, str]]:
    """Distributions of the environment that install a module the base has under another name (``triton`` over
    the base's ``pytorch-triton``): name -> (version, the module, the base's copy of it)."""
    from llmenv.base.read import read_packages

    out: dict[str, tuple[str, str, str]] = {}
    for name, pkg in sorted(read_packages([str(venv_site)]).items()):
        try:
            record = (venv_site / pkg.dist / "RECORD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tops = {line.split(",", 1)[0].split("/", 1)[0] for line in record.splitlines() if line}
        hit = sorted(m for m in (_module(t) for t in tops) if m is not None and m in modules)
        if hit:
            out[name] = (pkg.version, hit[0], modules[hit[0]])
    return out
