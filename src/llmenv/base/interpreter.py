"""Which folders a base interpreter imports its packages from, and its Python version.

Two ways, each used where it is allowed:

* ``probe_interpreter`` runs the interpreter once, isolated (``python -I``: no user site, no ``PYTHON*``
  variables, not the current folder) with a bounded timeout, and asks it for ``sys.path``. Only the interpreter
  knows its folders for sure (Debian's ``dist-packages`` patch, a venv's ``include-system-site-packages``, folders
  its own ``.pth`` files add). No torch import and nothing of a project runs. ``--base-python PATH`` is the
  user's ask for this.
* ``static_interpreter`` reads the layout only (``pyvenv.cfg``, ``lib/pythonX.Y``, the Debian folders): what
  detection uses, because ``plan`` and ``detect`` never run an interpreter the user did not name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmenv.base.files import Files
from llmenv.errors import UsageError

__all__ = ["PROBE_TIMEOUT", "Interpreter", "Runner", "probe_interpreter", "real_run", "static_interpreter"]

Runner = Callable[[Sequence[str], float], "tuple[int, str] | None"]
PROBE_TIMEOUT = 20.0  # an interpreter start on a cold network filesystem; the snippet itself takes ~20 ms

# Runs inside the base interpreter: its version, prefix and the sys.path entries that are not the standard
# library (the site folders and what their .pth files add), in import order.
_SNIPPET = r"""
import json, os, sys, sysconfig
std = set()
for key in ("stdlib", "platstdlib"):
    p = sysconfig.get_path(key)
    if p:
        std.add(os.path.normpath(p))
        std.add(os.path.normpath(os.path.join(p, "lib-dynload")))
site = []
for p in sys.path:
    if p and not p.endswith(".zip") and os.path.normpath(p) not in std and os.path.isdir(p):
        p = os.path.normpath(os.path.abspath(p))
        if p not in site:
            site.append(p)
v = sys.version_info
print(json.dumps({"llmenv-base": 1, "version": "%d.%d.%d" % (v[0], v[1], v[2]), "executable": sys.executable,
                  "prefix": sys.prefix, "implementation": sys.implementation.name, "site": site}))
"""


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    python: str  # the path given (absolute): what a project's environment is created from
    version: str  # 3.12.8 (probed) or 3.12 (layout)
    prefix: str
    site: tuple[str, ...]
    how: str  # "ran it (python -I)" | "read its layout"


def real_run(argv: Sequence[str], timeout: float) -> tuple[int, str] | None:
    try:
        p = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f} s"
    except OSError:
        return None
    return p.returncode, p.stdout if p.returncode == 0 else (p.stdout + p.stderr)


def probe_interpreter(python: str, run: Runner = real_run, timeout: float = PROBE_TIMEOUT) -> Interpreter:
    """Ask ``python`` for its site folders. UsageError (one line) when it is not a working CPython."""
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise UsageError(f"--base-python {python}: no such executable file")
    result = run([python, "-I", "-c", _SNIPPET], timeout)
    if result is None:
        raise UsageError(f"--base-python {python}: it could not be started")
    code, out = result
    data = None
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                data = None
            break
    if code != 0 or not isinstance(data, dict) or data.get("llmenv-base") != 1:
        tail = out.strip().splitlines()[-1:] or [f"exit code {code}"]
        raise UsageError(
            f"--base-python {python}: not a Python interpreter llmenv can read ({tail[0][:200]})"
        )
    if data.get("implementation") != "cpython":
        raise UsageError(f"--base-python {python}: {data.get('implementation')} is not CPython")
    return Interpreter(
        python=os.path.abspath(python),
        version=str(data["version"]),
        prefix=str(data["prefix"]),
        site=tuple(str(s) for s in data.get("site", ())),
        how="ran it (python -I)",
    )


def _cfg(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


_PY_NAME = re.compile(r"^python(3\.\d+)$")


def _minor_of(prefix: str, real_exe: str, files: Files) -> str | None:
    m = _PY_NAME.match(os.path.basename(real_exe))
    if m:
        return m.group(1)
    found = [d for d in files.listdir(f"{prefix}/lib") if re.fullmatch(r"python3\.\d+", d)]
    return found[-1][len("python") :] if len(found) == 1 else None


def _system_site(prefix: str, minor: str, files: Files) -> tuple[str, ...]:
    """Site folders of a non-venv interpreter at ``prefix``, in import order (Debian-patched ones first)."""
    candidates = [f"{prefix}/lib/python{minor}/site-packages"]
    if (
        prefix == "/usr"
    ):  # Debian/Ubuntu: pip installs into /usr/local/.../dist-packages (NGC's torch is there)
        candidates = [
            f"/usr/local/lib/python{minor}/dist-packages",
            "/usr/lib/python3/dist-packages",
            f"/usr/lib/python{minor}/dist-packages",
            *candidates,
        ]
    return tuple(c for c in candidates if files.is_dir(c))


def static_interpreter(python: str, files: Files | None = None, *, _depth: int = 0) -> Interpreter | None:
    """The site folders of ``python`` from its layout alone; None when the layout is not one we know."""
    files = files or Files()
    venv = os.path.dirname(os.path.dirname(python))
    cfg_text = files.read_text(f"{venv}/pyvenv.cfg")
    if cfg_text is not None:
        cfg = _cfg(cfg_text)
        version = cfg.get("version_info") or cfg.get("version") or ""
        m = re.match(r"^(3\.\d+)", version)
        if not m:
            return None
        site = tuple(d for d in (f"{venv}/lib/python{m.group(1)}/site-packages",) if files.is_dir(d))
        home = cfg.get("home")
        if cfg.get("include-system-site-packages", "").lower() == "true" and home and _depth < 3:
            parent = static_interpreter(f"{home}/python{m.group(1)}", files, _depth=_depth + 1)
            site += parent.site if parent else ()
        return Interpreter(python=python, version=version, prefix=venv, site=site, how="read its layout")
    if not files.exists(python):
        return None
    real = files.realpath(python)
    prefix = os.path.dirname(os.path.dirname(real))
    minor = _minor_of(prefix, real, files)
    if minor is None:
        return None
    return Interpreter(
        python=python,
        version=minor,
        prefix=prefix,
        site=_system_site(prefix, minor, files),
        how="read its layout",
    )
