"""Running the probe in the inspected interpreter, bounded in time, and reading what it printed, however it ended.

The probe (``probe.py``) hands each section over as soon as it has read it (``#llmenv-probe {"data": ...}`` lines)
and says what it is doing (``{"step": ...}``); its last line is the whole result. :func:`run_process` runs it in a
session of its own (so the children it starts end with it), shows the current step through ``progress`` while it
waits, and ends the whole group when ``timeout`` is reached. :func:`read_run` turns what came back into the probe
output and, when the run did not end well (a crash, a hang, a bad exit), a failing ``probe`` finding saying what
was seen: the step it was at, the sections it had read, the tail of stderr (the probe's faulthandler writes the
Python stack of a crash, and of a hang just before the deadline).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from llmenv.doctor.findings import Finding

__all__ = ["MARK", "ProbeRun", "Progress", "read_run", "run_process"]

MARK = "#llmenv-probe "  # as probe.MARK (the probe imports nothing of llmenv)
STDERR_KEEP = 64 * 1024
Progress = Callable[[str, float], None]  # (what the probe is doing, seconds since it started)


@dataclass(frozen=True, kw_only=True)
class ProbeRun:
    """What one run of the probe gave: its exit status (negative: the signal that ended it; None: it was ended
    after ``timeout`` or never started), everything it printed on stdout, the tail of stderr."""

    returncode: int | None
    stdout: str
    stderr: str = ""
    timed_out: bool = False
    timeout: float | None = None
    seconds: float | None = None
    started: bool = True


def _reader(stream: IO[str], sink: queue.Queue[tuple[str, str | None]], name: str) -> None:
    try:
        for line in stream:
            sink.put((name, line))
    except (OSError, ValueError):
        pass
    finally:
        sink.put((name, None))


def _end_group(p: subprocess.Popen[str]) -> None:
    """End the probe and every child it started (it runs in a session of its own): TERM, a moment to exit, then
    KILL for whatever of the group is left (a child hung in a driver call ignores TERM)."""
    with contextlib.suppress(OSError):
        os.killpg(p.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=2.0)
    with contextlib.suppress(OSError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=5.0)


def _step(line: str) -> str | None:
    if not line.startswith(MARK):
        return None
    try:
        obj = json.loads(line[len(MARK) :])
    except ValueError:
        return None
    return str(obj["step"]) if isinstance(obj, dict) and "step" in obj else None


def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    tick: float = 1.0,
) -> ProbeRun:
    """Run ``argv`` for at most ``timeout`` seconds, calling ``progress(step, seconds)`` at every new step and
    every ``tick`` seconds. Ctrl-C, SIGTERM and SIGHUP end the probe's whole process group before they are passed
    on (llmenv then exits 130 / 143 / 129)."""
    env = {**(environ if environ is not None else os.environ), "LLMENV_PROBE_TIMEOUT": f"{timeout:g}"}
    started = time.monotonic()
    try:
        p = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        return ProbeRun(returncode=None, stdout="", stderr=str(e), started=False)
    assert p.stdout is not None and p.stderr is not None
    watch = _Watch(started=started, deadline=started + timeout, progress=progress, tick=tick)
    readers = [
        threading.Thread(target=_reader, args=(p.stdout, watch.lines, "out"), daemon=True),
        threading.Thread(target=_reader, args=(p.stderr, watch.lines, "err"), daemon=True),
    ]
    for r in readers:
        r.start()
    from llmenv.uvrun import _terminating  # SIGTERM / SIGHUP raise uvrun.Terminated meanwhile, as Ctrl-C does

    try:
        with _terminating():
            timed_out = not watch.until_closed()
    except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: the probe (in a session of its own) must not outlive us
        _end_group(p)
        raise
    if timed_out:
        _end_group(p)
    else:
        try:
            p.wait(timeout=max(0.1, watch.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # it closed its streams but does not exit
            timed_out = True
            _end_group(p)
    for r in readers:
        r.join(timeout=2.0)
    for stream in (p.stdout, p.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    watch.drain()
    return ProbeRun(
        returncode=None if timed_out else p.returncode,
        stdout="".join(watch.out),
        stderr=watch.err.text(),
        timed_out=timed_out,
        timeout=timeout,
        seconds=round(time.monotonic() - started, 3),
    )


@dataclass
class _Watch:
    """What the readers hand over, until both streams close or the deadline passes; the current step, shown."""

    started: float
    deadline: float
    progress: Progress | None
    tick: float
    lines: queue.Queue[tuple[str, str | None]] = field(default_factory=queue.Queue)
    out: list[str] = field(default_factory=list)
    err: _Tail = field(default_factory=lambda: _Tail(STDERR_KEEP))
    current: str = "starting the interpreter"

    def _show(self) -> None:
        if self.progress:
            self.progress(self.current, time.monotonic() - self.started)

    def _take(self, name: str, line: str) -> None:
        if name == "err":
            self.err.add(line)
            return
        self.out.append(line)
        now = _step(line)
        if now is not None:
            self.current = now
            self._show()

    def until_closed(self) -> bool:
        """True when both streams closed before the deadline."""
        open_streams = 2
        while open_streams:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                name, line = self.lines.get(timeout=min(self.tick, left))
            except queue.Empty:
                self._show()
                continue
            if line is None:
                open_streams -= 1
            else:
                self._take(name, line)
        return True

    def drain(self) -> None:
        """What the readers got after the watch ended (the probe was ended, or exited as the watch stopped)."""
        while not self.lines.empty():
            name, line = self.lines.get_nowait()
            if line is not None:
                if name == "err":
                    self.err.add(line)
                else:
                    self.out.append(line)


@dataclass
class _Tail:
    keep: int
    parts: list[str] = field(default_factory=list)
    size: int = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        while self.size > self.keep and len(self.parts) > 1:
            self.size -= len(self.parts.pop(0))

    def text(self) -> str:
        return "".join(self.parts)[-self.keep :]


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, kw_only=True)
class _Seen:
    result: dict[str, Any] | None  # the last line: the whole probe output
    sections: dict[str, Any]  # what was handed over on the way
    steps: tuple[str, ...]


def _parse(stdout: str) -> _Seen:
    result: dict[str, Any] | None = None
    sections: dict[str, Any] = {}
    steps: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(MARK):
            try:
                obj = json.loads(line[len(MARK) :])
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("data"), dict):
                sections.update(obj["data"])
            elif isinstance(obj, dict) and "step" in obj:
                steps.append(str(obj["step"]))
        elif line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                result = data
    return _Seen(result=result, sections=sections, steps=tuple(steps))


def _signal_name(code: int) -> str:
    try:
        return f"{signal.Signals(-code).name} (signal {-code})"
    except ValueError:
        return f"signal {-code}"


def _how(run: ProbeRun) -> str:
    if run.timed_out:
        return f"gave no answer within {run.timeout:g} s" if run.timeout else "gave no answer in time"
    code = run.returncode
    if code is not None and code < 0:
        return f"was killed by {_signal_name(code)}"
    if code is not None and code > 128 and code - 128 in {s.value for s in signal.Signals}:
        return f"exited with code {code} ({_signal_name(128 - code)}, as a shell reports it)"
    return f"exited with code {code}"


def _plain(stdout: str) -> list[str]:
    """What else than the probe's own lines was printed on stdout (a library, the shell's "Segmentation fault")."""
    return [
        line.rstrip()
        for line in stdout.splitlines()
        if line.strip() and not line.startswith(MARK) and not line.startswith("{")
    ]


def _stderr_lines(stderr: str, limit: int = 25) -> list[str]:
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    return [f"stderr: {line}" for line in lines[-limit:]]


def read_run(run: ProbeRun | None, python: str) -> tuple[dict[str, Any] | None, Finding | None]:
    """The probe output a run gave (whole, or the sections it handed over before it died: marked ``partial``) and,
    when the run did not end well, the failing ``probe`` finding that says so with what was seen."""
    if run is None or not run.started:
        detail = run.stderr if run is not None else ""
        return None, Finding(
            check="probe",
            status="fail",
            summary=f"could not inspect {python}: the interpreter could not be started",
            evidence=tuple(x for x in (detail.strip()[-2000:],) if x),
            fix=f"check that this interpreter runs (`{python} -c 'import sys'`); recreate the environment with "
            "`uv sync` if it does not",
        )
    seen = _parse(run.stdout)
    ended_well = run.returncode == 0 and not run.timed_out
    if seen.result is not None and ended_well:
        return seen.result, None
    how = _how(run)
    at = seen.steps[-1] if seen.steps else None
    evidence: list[str] = []
    if seen.result is not None:
        summary = f"the interpreter {how} after printing its result (at exit)"
        probe: dict[str, Any] | None = seen.result
    elif ended_well:  # exit 0, no result: printed something else
        text = "\n".join(_plain(run.stdout))
        summary = (
            "the probe printed no result" if not text else "the probe printed something that is not JSON"
        )
        probe = None
    else:
        summary = f"the interpreter {how}" + (f" while probing: {at}" if at else " before the probe started")
        probe = dict(seen.sections, partial=True) if seen.sections else None
    if probe is not None and probe.get("partial"):
        read = sorted(k for k in seen.sections if k != "probe")
        evidence.append(
            f"read before that: {', '.join(read) or 'nothing'}; the findings below are from those"
        )
    if at:
        evidence.append(f"last step: {at}")
    evidence += [f"stdout: {line}" for line in _plain(run.stdout)[-10:]]
    evidence += _stderr_lines(run.stderr)
    if run.timed_out:
        fix = (
            f"find what hangs: `{python} -X importtime -c 'import torch'` (a network filesystem, a GPU that does "
            "not answer: `nvidia-smi`); or give it longer with --timeout"
        )
    else:
        fix = (
            f"run the step by hand to see the crash: `{python} -X faulthandler -c 'import torch'` (or the package "
            "named above); a crash in a compiled library usually means a build for another torch, CUDA or CPU"
        )
    return probe, Finding(check="probe", status="fail", summary=summary, evidence=tuple(evidence), fix=fix)
