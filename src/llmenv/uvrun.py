"""Run the uv binary: the one bundled by the PyPI ``uv`` package, else a ``uv`` on PATH (``LLMENV_UV`` overrides).

uv stays the resolver and installer; llmenv only runs it, streams its output, and explains a failure. Two helpers
make that safe under interruption, for ``init --lock`` and for any loop that locks several candidates:

- :func:`guard` holds the bytes of the files a step may change and puts them back unless the step commits
  (:meth:`Guard.keep`): on failure, on an exception, on Ctrl-C and on SIGTERM / SIGHUP alike.
- :func:`run_child` runs uv in its own process group and, when llmenv is interrupted or the run times out,
  ends the whole group (SIGTERM, a short grace, then SIGKILL) before the interruption goes on: no orphan uv.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from llmenv.errors import UsageError
from llmenv.files import read_regular

if TYPE_CHECKING:
    from llmenv.cli._context import Context

__all__ = [
    "Guard",
    "Terminated",
    "UvRun",
    "checked_uv",
    "deferred_signals",
    "find_uv",
    "guard",
    "read_regular",
    "run_child",
    "run_uv",
    "uv_version",
]

_VERSION_RE = re.compile(r"^uv (\d+\.\d+\.\d+\S*)", re.MULTILINE)
GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL when ending a child
_TERMINATING = (signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()))
_INTERRUPTING = (signal.SIGINT, *_TERMINATING)


# ---------------------------------------------------------------------------------------------- finding uv


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
        p = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise UsageError(f"cannot run {binary}: {e}") from None
    m = _VERSION_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise UsageError(f"{binary} --version did not print a uv version")
    try:
        return Version(m.group(1))
    except InvalidVersion:
        raise UsageError(f"{binary} printed an unreadable version: {m.group(1)!r}") from None


def _bundled_version(binary: str) -> Version | None:
    """The version of the uv binary the PyPI ``uv`` package installed, from its dist-info folder's name next
    to the package (no process, no metadata import)."""
    try:
        import uv

        if os.path.realpath(binary) != os.path.realpath(uv.find_uv_bin()):
            return None
        site = Path(uv.__file__).resolve().parent.parent
        found = sorted(site.glob("uv-*.dist-info"))
        return Version(found[0].name.removeprefix("uv-").removesuffix(".dist-info")) if len(found) == 1 else None
    except (ImportError, FileNotFoundError, InvalidVersion, OSError):
        return None


def checked_uv(environ: Mapping[str, str]) -> str:
    """The uv binary, checked to be new enough for what llmenv writes. Call it before writing anything."""
    from llmenv.render import MIN_UV

    binary = find_uv(environ)
    v = _bundled_version(binary) or uv_version(binary)
    if v < Version(MIN_UV):
        raise UsageError(
            f"uv {v} at {binary} is too old: llmenv writes settings that need uv >= {MIN_UV}",
            hint="pip install -U uv  (or uv self update)",
        )
    return binary


# ---------------------------------------------------------------------------------------------- signals


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that the same cleanup runs; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _terminating() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _TERMINATING}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:  # an ignored signal (nohup) stays ignored
            signal.signal(s, _raise_terminated)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done (a restore or a write is never cut in half);
    the first one that came is raised at the end. Main thread only; elsewhere a no-op."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.getsignal(s) for s in _INTERRUPTING}

    def remember(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    for s in _INTERRUPTING:
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, remember)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    if pending:
        first = pending[0]
        if first == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(first)


# ---------------------------------------------------------------------------------------------- guard


class Guard:
    """The entry bytes of some files; :meth:`restore` puts them back, leaving the ``with`` block without
    :meth:`keep` does too (whatever ended it: a return, an exception, Ctrl-C, SIGTERM)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        # Read everything first: a path that cannot be held is refused before anything is written.
        self._snaps: dict[Path, bytes | None] = {Path(p): read_regular(Path(p)) for p in paths}
        self._kept = False
        self._signals: contextlib.ExitStack | None = None

    def snapshot(self, path: Path) -> bytes | None:
        return self._snaps[Path(path)]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self._snaps)

    def keep(self) -> None:
        """Commit: the files stay as they are now."""
        self._kept = True

    def restore(self) -> tuple[Path, ...]:
        """Put every path back to its entry bytes (remove it when it did not exist); returns the paths that
        had changed. Repeatable; signals wait until the files are back."""
        from llmenv.project import atomic_write

        changed: list[Path] = []
        with deferred_signals():
            for path, data in self._snaps.items():
                if data is None:
                    real = Path(os.path.realpath(path))  # a dangling symlink written through: remove its target
                    if real.exists() and not real.is_dir():
                        real.unlink()
                        changed.append(path)
                    continue
                with contextlib.suppress(UsageError):
                    if read_regular(path) == data:
                        continue
                atomic_write(path, data)
                changed.append(path)
        return tuple(changed)

    def __enter__(self) -> Guard:
        self._signals = contextlib.ExitStack()
        self._signals.enter_context(_terminating())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._kept:
                self.restore()
        finally:
            if self._signals is not None:
                self._signals.close()


def guard(*paths: Path) -> Guard:
    """``with guard(pyproject, uv_lock) as g: ... g.keep()`` — see :class:`Guard`."""
    return Guard(paths)


# ---------------------------------------------------------------------------------------------- children


@dataclass(frozen=True, kw_only=True)
class UvRun:
    code: int
    output: str  # stdout and stderr, merged as printed
    timed_out: bool = False
    seconds: float = 0.0


def _end(proc: subprocess.Popen[str], grace: float) -> None:
    """End the child's whole process group: SIGTERM, ``grace`` seconds, SIGKILL; then reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            proc.wait()
    if os.name == "posix":  # stragglers of the group (a build backend that ignored SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
    grace: float = GRACE_SECONDS,
) -> UvRun:
    """Run ``argv`` in its own process group, streaming its merged output to ``on_line``.

    Ctrl-C, SIGTERM or SIGHUP of llmenv (or ``timeout``) end the child's group before the interruption goes on,
    so no uv (or build backend) outlives llmenv."""
    started = time.monotonic()
    extra: dict[str, Any] = (
        {"start_new_session": True}
        if os.name == "posix"
        else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    )
    with _terminating():
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                **extra,
            )
        except OSError as e:
            raise UsageError(f"cannot run {argv[0]}: {e.strerror}") from None
        expired = threading.Event()
        timer = None
        if timeout is not None:

            def expire() -> None:
                expired.set()
                _end(proc, grace)

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            code = proc.wait()
        except BaseException:
            with deferred_signals():
                _end(proc, grace)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if proc.stdout is not None:
                proc.stdout.close()
    return UvRun(
        code=code, output="".join(lines), timed_out=expired.is_set(), seconds=time.monotonic() - started
    )


# ---------------------------------------------------------------------------------------------- llmenv lock/sync


def run_uv(
    ctx: Context,
    args: Sequence[str],
    project_dir: Path,
    *,
    restore: Guard | None = None,
    binary: str | None = None,
) -> int:
    """Run ``uv ARGS`` in the project, streaming its output; on failure restore the guarded files and explain.
    On success the guard (if any) is kept."""
    binary = binary or checked_uv(ctx.environ)
    if not (project_dir / "pyproject.toml").is_file():
        raise UsageError(f"no pyproject.toml in {project_dir} (run `llmenv init` first)")
    env = dict(ctx.environ)
    if not ctx.environ.get("FORCE_COLOR"):
        env.setdefault("UV_NO_PROGRESS", "1")

    def echo(line: str) -> None:
        ctx.ui.err.write(line)
        ctx.ui.err.flush()

    result = run_child([binary, *args], cwd=project_dir, env=env, on_line=echo)
    if result.code == 0:
        if restore is not None:
            restore.keep()
        return 0
    # the file uv failed on (before a restore puts the previous one back): explain's fixes build on it
    try:
        failed_on: str | None = (project_dir / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        failed_on = None
    restored = restore.restore() if restore is not None else ()
    if restored:
        names = ", ".join(str(p) for p in restored)
        ctx.ui.eprint(f"llmenv: uv {args[0]} failed; restored {names} to the previous bytes", style="error")
    else:
        ctx.ui.eprint(f"llmenv: uv {' '.join(args)} failed (exit {result.code})", style="error")
    _explain(ctx, result.output, failed_on)
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
