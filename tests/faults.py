"""Fault injection for tests: OS errors and signals at chosen calls, and the CLI as a real child process.

In-process (through pytest's ``monkeypatch``)::

    faults = Faults(monkeypatch)
    faults.error("os.replace", errno.ENOSPC)                         # the 1st call fails with ENOSPC
    faults.error("os.open", errno.EACCES, when=path_is("uv.lock"))   # only calls whose 1st argument ends so
    faults.signal("llmenv.uvrun.run_child", signal.SIGTERM)          # SIGTERM to this process as it is called
    faults.calls["os.replace"]                                       # how many calls the patched function saw

``target`` is a dotted path to a function (``os.replace``, ``shutil.copyfile``, ``llmenv.project.atomic_write``);
``call`` picks the n-th call (1-based), ``times`` how many calls from there on misbehave, ``when`` filters the calls
by their arguments. A signal is sent with ``os.kill`` to this process, so Python runs its handler at once, exactly
where a real one would arrive. Refused for a signal whose handler would end the test run (SIGTERM with its default
action): that is what :func:`spawn` is for.

Out of process: :func:`spawn` runs ``python -m llmenv ARGS`` (a real process that can be sent real signals),
:func:`wait_until` polls with a deadline, :func:`alive` says whether a pid is still a live process.
"""

from __future__ import annotations

import errno as _errno
import importlib
import os
import signal as _signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Faults", "alive", "path_is", "spawn", "wait_until"]


def _resolve(target: str) -> tuple[Any, str]:
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1]
    raise ValueError(f"cannot resolve {target!r}")


def path_is(suffix: str) -> Callable[..., bool]:
    """A ``when`` filter: the call's first argument is a path ending with ``suffix``."""

    def check(*args: Any, **_kwargs: Any) -> bool:
        return bool(args) and isinstance(args[0], (str, bytes, os.PathLike)) and os.fsdecode(args[0]).endswith(suffix)

    return check


class Faults:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._mp = monkeypatch
        self.calls: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()

    def _patch(
        self,
        target: str,
        act: Callable[[tuple[Any, ...], dict[str, Any]], None],
        *,
        call: int,
        times: int,
        when: Callable[..., bool] | None,
    ) -> None:
        owner, attr = _resolve(target)
        original = getattr(owner, attr)
        seen = [0]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                seen[0] += 1
                self.calls[target] += 1
                if call <= seen[0] < call + times:
                    self.fired[target] += 1
                    act(args, kwargs)
            return original(*args, **kwargs)

        self._mp.setattr(owner, attr, wrapper)

    def error(
        self,
        target: str,
        err: int,
        *,
        call: int = 1,
        times: int = 1,
        when: Callable[..., bool] | None = None,
    ) -> None:
        """The chosen calls of ``target`` raise ``OSError(err)`` (EIO, ENOSPC, EACCES, ...) instead of running."""

        def act(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
            name = os.fsdecode(args[0]) if args and isinstance(args[0], (str, bytes, os.PathLike)) else None
            raise OSError(err, os.strerror(err), name)

        self._patch(target, act, call=call, times=times, when=when)

    def signal(
        self,
        target: str,
        signum: int,
        *,
        call: int = 1,
        times: int = 1,
        when: Callable[..., bool] | None = None,
    ) -> None:
        """Send ``signum`` to this process when the chosen call of ``target`` starts."""

        def act(_args: tuple[Any, ...], _kwargs: dict[str, Any]) -> None:
            handler = _signal.getsignal(signum)
            if handler in (_signal.SIG_DFL, None) and signum != _signal.SIGINT:
                raise AssertionError(f"signal {signum} has its default action here: it would end the test run")
            os.kill(os.getpid(), signum)

        self._patch(target, act, call=call, times=times, when=when)


ERRORS = {"EIO": _errno.EIO, "ENOSPC": _errno.ENOSPC, "EACCES": _errno.EACCES, "EROFS": _errno.EROFS}


def spawn(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m llmenv ARGS`` as a real child process (stdout/stderr piped, NO_COLOR)."""
    full = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full.pop("FORCE_COLOR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "llmenv", *args],
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """A live (not zombie) process with this pid."""
    if not os.path.isdir("/proc"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")
