"""``llmenv doctor``: inspect an installed environment and say what will break, with evidence and a fix.

The probe (``probe.py``, standard library only) runs *inside* the environment's interpreter — doctor runs that
interpreter, and with it whatever the environment's packages do at import — and prints one JSON object;
``findings.diagnose`` turns that into ``ok | warn | fail`` findings. The process runner is injected, so tests
replay captured probe outputs without any interpreter, GPU or driver; ``runner.read_run`` turns a crashed or hung
run into a failing finding with what it had read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmenv.doctor.environment import Environment, builds_from_source, find_environment
from llmenv.doctor.findings import Finding, Report, diagnose, probe_failed
from llmenv.doctor.findings.lock import LockedSets
from llmenv.doctor.runner import ProbeRun, Progress, read_run, run_process
from llmenv.errors import LlmenvError, UsageError
from llmenv.knowledge import Knowledge

__all__ = [
    "DEFAULT_TIMEOUT",
    "PROBE",
    "Environment",
    "Finding",
    "LockedSets",
    "ProbeRun",
    "ProbeRunner",
    "Report",
    "builds_from_source",
    "diagnose",
    "doctor",
    "find_environment",
    "load_probe",
    "probe_failed",
    "project_lock",
    "real_runner",
    "runner_from",
    "save_probe",
]

PROBE = Path(__file__).with_name("probe.py")
# A cold torch import on a network filesystem, then one child process per extension module: minutes at worst.
DEFAULT_TIMEOUT = 300.0

# (argv, timeout, progress) -> what the run gave; None when it could not be started.
ProbeRunner = Callable[[Sequence[str], float, "Progress | None"], "ProbeRun | None"]


def real_runner(environ: Mapping[str, str] | None = None) -> ProbeRunner:
    """The probe run for real, in a process group of its own, bounded in time."""

    def run(argv: Sequence[str], timeout: float, progress: Progress | None) -> ProbeRun | None:
        return run_process(argv, timeout=timeout, environ=environ, progress=progress)

    return run


def runner_from(run: Callable[[Sequence[str]], tuple[int, str] | None]) -> ProbeRunner:
    """A probe runner from a plain one (``System.run_long``: argv -> (exit code, stdout), as tests inject)."""

    def adapted(argv: Sequence[str], timeout: float, progress: Progress | None) -> ProbeRun | None:
        got = run(argv)
        return None if got is None else ProbeRun(returncode=got[0], stdout=got[1])

    return adapted


def load_probe(path: Path) -> dict[str, Any]:
    """A probe output saved with ``--save-probe``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError):
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


def project_lock(project: Path, environ: Mapping[str, str]) -> tuple[LockedSets | None, str | None]:
    """The project's uv.lock exported for comparison (every group and extra; and what its own dependencies
    need), or why it could not be: (None, None) without a uv.lock."""
    if not (project / "uv.lock").is_file():
        return None, None
    from llmenv.lockfile import export_pylock
    from llmenv.uvrun import find_uv

    try:
        uv = find_uv(environ)
        try:
            known = export_pylock(uv, project, selection=("--all-groups", "--all-extras"), environ=environ)
        except LlmenvError:  # extras that conflict cannot be exported together: the default selection
            known = export_pylock(uv, project, environ=environ)
        required = export_pylock(uv, project, selection=("--no-default-groups",), environ=environ)
    except LlmenvError as e:
        return None, e.message
    return LockedSets(known=known, required=required, where=str(project / "uv.lock")), None


def doctor(
    env: Environment,
    *,
    run: ProbeRunner | None = None,
    probe: Mapping[str, Any] | None = None,
    kb: Knowledge | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    lock: LockedSets | None = None,
    lock_error: str | None = None,
) -> tuple[Report, Mapping[str, Any] | None]:
    """Inspect one environment (or judge a ``probe`` output read before); returns the report and the probe output.

    Never raises for what it finds: a broken, crashing or hanging interpreter is a finding too."""
    if kb is None:
        from llmenv.knowledge import load

        kb = load()
    problem: Finding | None = None
    if probe is None:
        result = (run or real_runner())([env.python, str(PROBE)], timeout, progress)
        probe, problem = read_run(result, env.python)
        if probe is None:
            assert problem is not None
            return Report(python=env.python, findings=(problem,)), None
    builds = None
    if env.project is not None:
        try:
            builds = builds_from_source((env.project / "pyproject.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            builds = None
    report = diagnose(
        probe, kb=kb, python=env.python, builds_from_source=builds, lock=lock, lock_error=lock_error
    )
    findings = (*report.findings, *_base_findings(env, probe))
    if problem is not None:
        findings = (problem, *findings)
    return Report(python=report.python, findings=findings), probe


def _base_findings(env: Environment, probe: Mapping[str, Any]) -> list[Finding]:
    """The ``base`` check, for a project that reuses a base interpreter (``[tool.llmenv.base]``)."""
    from llmenv.base.project import read_record

    record = read_record(env.project) if env.project is not None else None
    if record is None:
        return []
    from llmenv.doctor.base import check_base

    return check_base(Path(env.python).parent.parent, record, probe)
