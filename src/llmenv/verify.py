"""The closed loop: a plan is only "ok" when the real ``uv lock`` locks what llmenv wrote for it.

``lock_loop`` writes the best candidate, runs ``uv lock``, and on failure lets ``llmenv.explain`` parse uv's
output; the planner learns from it (``plan.feedback.learn``: a lower Python cap, a relaxed framework pin, or the
candidate dropped) and the next candidate is written in its place. At most ``max_attempts`` locks (6) or
``budget_s`` seconds (10 minutes) in all; the files are restored between attempts by the caller's ``restore``
(``init --lock``: ``uvrun.guard``; ``plan --verify``: a scratch folder). Each attempt is reported as it runs and
kept in the plan (``Plan.attempts``) for "not chosen".

The uv child always runs through ``uvrun.run_child`` (its own process group, ended on Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmenv.errors import NoAnswer
from llmenv.plan import Attempt, Feedback, Plan

__all__ = ["BUDGET_S", "MAX_ATTEMPTS", "LockFailed", "lock_loop", "verify_in_scratch"]

MAX_ATTEMPTS = 6
BUDGET_S = 600.0


class LockFailed(NoAnswer):
    """No candidate locked: the attempts made, and uv's output of the last one (for explain)."""

    def __init__(
        self, message: str, *, attempts: tuple[Attempt, ...], log: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.attempts = attempts
        self.log = log


@dataclass(frozen=True, kw_only=True)
class LockRun:
    """What ``lock`` returns: uv's exit code, its output, whether it ran out of time."""

    code: int
    output: str
    timed_out: bool = False


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.lower().startswith(("error", "×", "╰─▶", "hint")):
            return ln.lstrip("×╰─▶ ").strip()
    return lines[-1] if lines else "uv lock failed"


def lock_loop(
    *,
    plan_for: Callable[[Feedback], Plan],
    write: Callable[[Plan], None],
    lock: Callable[[float], LockRun],
    restore: Callable[[], object],
    allow_overrides: bool,
    max_attempts: int = MAX_ATTEMPTS,
    budget_s: float = BUDGET_S,
    progress: Callable[[str], None] = lambda line: None,
    explain: Callable[[str], Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Plan:
    """Lock the best candidate, learning from each failure; the verified plan, or LockFailed (exit 1)."""
    from llmenv.plan.feedback import learn

    fb = Feedback()
    attempts: list[Attempt] = []
    deadline = clock() + budget_s
    log = ""
    for n in range(1, max_attempts + 1):
        try:
            plan = plan_for(fb)
        except NoAnswer as e:
            if not attempts:
                raise
            raise LockFailed(
                f"no candidate left after {len(attempts)} lock attempt(s): {e.message}",
                attempts=tuple(attempts),
                log=log,
                hint=e.hint,
            ) from None
        remaining = deadline - clock()
        if remaining <= 0:
            break
        write(plan)
        progress(f"lock attempt {n} of at most {max_attempts}: {plan.candidate}")
        started = clock()
        run = lock(remaining)
        took = clock() - started
        log = run.output
        if run.code == 0:
            attempts.append(Attempt(number=n, candidate=plan.candidate, ok=True, seconds=took))
            progress(f"  uv lock succeeded ({took:.1f} s)")
            return replace(plan, verified=True, attempts=tuple(attempts))
        if run.timed_out:
            attempts.append(
                Attempt(number=n, candidate=plan.candidate, ok=False, reason="timed out", seconds=took)
            )
            restore()
            break
        if explain is None:  # read only when a lock failed (the parser's rules take a while to load)
            from llmenv.explain import explain as _explain

            explain = _explain
        learnt = learn(
            explain(run.output).causes,
            plan,
            fb,
            allow_overrides=allow_overrides,
            log_line=_last_error(run.output),
        )
        attempts.append(
            Attempt(number=n, candidate=plan.candidate, ok=False, reason=learnt.reason, seconds=took)
        )
        progress(f"  uv lock failed ({took:.1f} s): {learnt.reason}")
        restore()
        if learnt.feedback is None:
            raise LockFailed(
                f"uv lock failed: {learnt.reason}",
                attempts=tuple(attempts),
                log=log,
                hint="no other candidate changes this; see the explanation below",
            )
        fb = learnt.feedback
    spent = f"{len(attempts)} lock attempt(s)"
    why = f"--max-attempts {max_attempts}" if len(attempts) >= max_attempts else f"{budget_s:.0f} s"
    raise LockFailed(
        f"no candidate locked in {spent} ({why} reached)",
        attempts=tuple(attempts),
        log=log,
        hint="raise --max-attempts, or pin what you need (the attempts are listed above)",
    )


def verify_in_scratch(
    *,
    plan_for: Callable[[Feedback], Plan],
    render_text: Callable[[Plan, Path], str],
    binary: str,
    environ: Mapping[str, str],
    allow_overrides: bool,
    max_attempts: int = MAX_ATTEMPTS,
    budget_s: float = BUDGET_S,
    progress: Callable[[str], None] = lambda line: None,
) -> Plan:
    """``plan --verify``: each candidate written to a scratch folder (``render_text(plan, folder)`` gives its
    pyproject.toml) and locked there; nothing of yours is touched."""
    from llmenv import uvrun

    with tempfile.TemporaryDirectory(prefix="llmenv-verify-") as tmp:
        folder = Path(tmp)
        project = folder / "pyproject.toml"

        def write(plan: Plan) -> None:
            project.write_text(render_text(plan, folder), encoding="utf-8")
            (folder / ".python-version").write_text(plan.python + "\n", encoding="utf-8")

        def restore() -> None:
            (folder / "uv.lock").unlink(missing_ok=True)

        def lock(timeout: float) -> LockRun:
            env = {**environ, "UV_NO_PROGRESS": "1"}
            r = uvrun.run_child([binary, "lock"], cwd=folder, env=env, timeout=timeout)
            return LockRun(code=r.code, output=r.output, timed_out=r.timed_out)

        return lock_loop(
            plan_for=plan_for,
            write=write,
            lock=lock,
            restore=restore,
            allow_overrides=allow_overrides,
            max_attempts=max_attempts,
            budget_s=budget_s,
            progress=progress,
        )
