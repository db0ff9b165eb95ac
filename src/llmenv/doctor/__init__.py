"""``llmenv doctor``: inspect an installed environment and say what will break, with evidence and a fix.

The probe (``probe.py``, standard library only) runs *inside* the environment's interpreter and prints one JSON
object; ``findings.diagnose`` turns that into ``ok | warn | fail`` findings. The process runner is injected, so
tests replay captured probe outputs without any interpreter, GPU or driver.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmenv.doctor.findings import Finding, Report, diagnose, probe_failed
from llmenv.errors import NoAnswer, UsageError
from llmenv.knowledge import Knowledge

__all__ = [
    "PROBE",
    "Environment",
    "Finding",
    "ProbeError",
    "Report",
    "Runner",
    "builds_from_source",
    "diagnose",
    "doctor",
    "find_environment",
    "load_probe",
    "real_run",
    "run_probe",
    "save_probe",
]

Runner = Callable[[Sequence[str]], "tuple[int, str] | None"]

PROBE = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT = 600.0  # a cold torch import on a network filesystem, plus one child per extension module

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
    project: Path | None
    reason: str  # how it was chosen, for the report


class ProbeError(Exception):
    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(why)
        self.why = why
        self.detail = detail


def real_run(argv: Sequence[str], timeout: float = PROBE_TIMEOUT) -> tuple[int, str] | None:
    """Run the probe for real: stdout, with stderr appended when it fails (for the report)."""
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f} s"
    except OSError:
        return None
    return p.returncode, p.stdout if p.returncode == 0 else p.stdout + "\n" + p.stderr


def _venv_python(venv: Path) -> Path:
    for rel in ("bin/python", "bin/python3", "Scripts/python.exe"):
        if (venv / rel).exists():
            return venv / rel
    return venv / "bin" / "python"


def find_environment(
    project: str | None, *, cwd: Path, environ: Mapping[str, str], current: str | None = None
) -> Environment:
    """The interpreter to inspect: ``--project``'s environment; else the one of a project in ``cwd`` that has a
    ``.venv`` (or that llmenv wrote, synced or not); else the current interpreter. uv's ``UV_PROJECT_ENVIRONMENT``
    is honoured."""
    current = current or sys.executable
    if project is None:
        pyproject = cwd / "pyproject.toml"
        has_env = (cwd / environ.get("UV_PROJECT_ENVIRONMENT", ".venv")).is_dir()
        # A project llmenv wrote ([tool.llmenv]) is what the user means even before it is synced: say so,
        # rather than inspect llmenv's own interpreter.
        if not (pyproject.is_file() and (has_env or _written_by_llmenv(pyproject))):
            return Environment(python=current, project=None, reason="the current interpreter")
        root = cwd
    else:
        root = (cwd / project).resolve()
        if not root.is_dir():
            raise UsageError(f"--project {project}: no such directory")
    venv = root / environ.get("UV_PROJECT_ENVIRONMENT", ".venv")
    python = _venv_python(venv)
    if not python.exists():
        raise NoAnswer(
            f"no environment to inspect: {python} does not exist",
            hint=f"create it with `llmenv sync --project {root}` (or `uv sync`)",
        )
    return Environment(python=str(python), project=root, reason=f"the environment of the project at {root}")


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


def run_probe(python: str, run: Runner) -> dict[str, Any]:
    """Run the probe in ``python`` and return its JSON object; ProbeError when there is none."""
    result = run([python, str(PROBE)])
    if result is None:
        raise ProbeError("the interpreter could not be started")
    code, out = result
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise ProbeError(f"the probe exited with code {code} and printed no result", out.strip())
    try:
        data = json.loads(lines[-1])
    except ValueError:
        raise ProbeError("the probe printed something that is not JSON", out.strip()) from None
    if not isinstance(data, dict):
        raise ProbeError("the probe printed something that is not a JSON object", out.strip())
    return data


def load_probe(path: Path) -> dict[str, Any]:
    """A probe output saved with ``--save-probe``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    except ValueError:
        raise UsageError(
            f"{path} is not JSON (expected a file written by `llmenv doctor --save-probe`)"
        ) from None
    if not isinstance(data, dict) or "probe" not in data:
        raise UsageError(
            f"{path} is not a probe output (expected a file written by `llmenv doctor --save-probe`)"
        )
    return data


def save_probe(path: Path, probe: Mapping[str, Any]) -> None:
    try:
        path.write_text(json.dumps(probe, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def doctor(
    env: Environment,
    *,
    run: Runner | None = real_run,
    probe: Mapping[str, Any] | None = None,
    kb: Knowledge | None = None,
) -> tuple[Report, Mapping[str, Any] | None]:
    """Inspect one environment (or judge a ``probe`` output read before); returns the report and the probe output.

    Never raises for what it finds: a broken interpreter is a finding too."""
    if kb is None:
        from llmenv.knowledge import load

        kb = load()
    if probe is None:
        try:
            probe = run_probe(env.python, run or real_run)
        except ProbeError as e:
            return probe_failed(env.python, e.why, e.detail), None
    builds = None
    if env.project is not None:
        try:
            builds = builds_from_source((env.project / "pyproject.toml").read_text(encoding="utf-8"))
        except OSError:
            builds = None
    report = diagnose(probe, kb=kb, python=env.python, builds_from_source=builds)
    return Report(python=report.python, findings=(*report.findings, *_base_findings(env, probe))), probe


def _base_findings(env: Environment, probe: Mapping[str, Any]) -> list[Finding]:
    """The ``base`` check, for a project that reuses a base interpreter (``[tool.llmenv.base]``)."""
    from llmenv.base.project import read_record

    record = read_record(env.project) if env.project is not None else None
    if record is None:
        return []
    from llmenv.doctor.base import check_base

    return check_base(Path(env.python).parent.parent, record, probe)
