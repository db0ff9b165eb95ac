"""Interruptions and refusals around ``init --lock``: a refusal comes before the first write, and Ctrl-C or
SIGTERM while the real uv is locking puts the file back and leaves no uv running (issue 18)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmenv.errors import UsageError
from llmenv.uvrun import Terminated, deferred_signals, guard, run_child

from .faults import Faults, alive, path_is, spawn, wait_until
from .pypi_server import IndexServer
from .wheelfactory import make_wheel

PY = "3.11"
X86 = "cp311-cp311-manylinux_2_28_x86_64"
USER = '[project]\nname = "mine"\nversion = "0.1.0"\n# my comment\ndependencies = ["filelock"]\n'


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    try:
        yield s
    finally:
        s.stop()


def _world(tmp_path: Path, server: IndexServer) -> list[str]:
    """init arguments for a torch (local flat index) that needs filelock from the "PyPI" server."""
    make_wheel(tmp_path / "whl" / "cpu", "torch", "2.6.0+cpu", tag=X86, requires=["filelock"])
    server.add("filelock", make_wheel(tmp_path / "files", "filelock", "3.1"))
    return [
        "torch==2.6.0", "--cuda", "cpu", "--python", PY,
        "--torch-index", f"{tmp_path / 'whl'}/{{variant}}", "--mirror", server.url,
    ]  # fmt: skip


def _real_uv() -> str:
    import uv

    return str(uv.find_uv_bin())


def _uv_recording_pids(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper that records its pid and execs the real uv (same process): the uv llmenv runs, observable."""
    pids = tmp_path / "uv-pids"
    wrapper = tmp_path / "uv-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{pids}"\nexec "{_real_uv()}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, pids


# ---------------------------------------------------------------------------------------------- refuse first


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "new-file"])
@pytest.mark.parametrize("uv", ["missing", "too-old"])
def test_init_lock_refuses_a_missing_or_too_old_uv_before_writing(
    run_cli, tmp_path: Path, torch_indexes: Path, uv: str, existing: bool
) -> None:  # type: ignore[no-untyped-def]
    proj = tmp_path / "p"
    proj.mkdir()
    if existing:
        (proj / "pyproject.toml").write_text(USER)
    if uv == "missing":
        binary = str(tmp_path / "no-such-uv")
    else:
        binary = str(tmp_path / "old-uv")
        Path(binary).write_text("#!/bin/sh\necho 'uv 0.1.0'\n")
        Path(binary).chmod(0o755)
    args = ("init", str(proj), "torch", "--cuda", "cpu", "--torch-index", f"{torch_indexes}/{{variant}}", "--lock")
    r = run_cli(*args, environ={"LLMENV_UV": binary})
    assert r.code == 2, r.err
    assert ("no such program" if uv == "missing" else "too old") in r.err
    assert sorted(p.name for p in proj.iterdir()) == (["pyproject.toml"] if existing else [])
    if existing:
        assert (proj / "pyproject.toml").read_text() == USER


@pytest.mark.parametrize("kind", ["folder", "unreadable", "fifo"])
def test_init_lock_refuses_a_uv_lock_it_cannot_hold_before_writing(
    run_cli, tmp_path: Path, torch_indexes: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(USER)
    lock = tmp_path / "uv.lock"
    if kind == "folder":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.write_text("version = 1\n")
        Faults(monkeypatch).error("os.open", errno.EACCES, when=path_is("uv.lock"))  # root reads any mode
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--torch-index", f"{torch_indexes}/{{variant}}", "--lock")
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1 and "uv.lock" in r.err and "internal error" not in r.err
    assert (tmp_path / "pyproject.toml").read_text() == USER


def test_llmenv_lock_with_a_uv_lock_folder_is_bad_input(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(USER)
    (tmp_path / "uv.lock").mkdir()
    r = run_cli("lock")
    assert r.code in (1, 2) and "internal error" not in r.err


# ---------------------------------------------------------------------------------------------- real signals


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "new-file"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_uv_locks_restores_the_file_and_ends_uv(
    tmp_path: Path, server: IndexServer, signum: int, existing: bool
) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    args = _world(tmp_path, server)
    if existing:  # the user's project, locked by uv before
        (proj / "pyproject.toml").write_text(USER + f'requires-python = ">={PY}"\n')
        subprocess.run(
            [_real_uv(), "lock", "--python", PY, "--quiet", "--default-index", server.url], cwd=proj, check=True
        )
    before = {p.name: p.read_bytes() for p in proj.iterdir()}
    server.hang.add("/simple/filelock")  # uv waits there, mid-lock, after llmenv wrote the file
    asked = server.requests["/simple/filelock/"]
    wrapper, pids = _uv_recording_pids(tmp_path)
    p = spawn(["init", str(proj), *args, "--lock"], cwd=tmp_path, env={"LLMENV_UV": str(wrapper)})
    try:
        wait_until(lambda: server.requests["/simple/filelock/"] > asked or p.poll() is not None, 60, "uv to ask for filelock")
        assert p.poll() is None, p.communicate()
        assert (proj / "pyproject.toml").read_bytes() != before.get("pyproject.toml")  # written, uv running
        sent = time.monotonic()
        p.send_signal(signum)
        _out, err = p.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signum, err
    assert took < 8, f"{took:.1f} s after the signal"  # uv alone would wait 10 s on the stalled index
    assert {q.name: q.read_bytes() for q in proj.iterdir()} == before
    assert "Traceback" not in err
    uv_pids = [int(x) for x in pids.read_text().split()]
    assert len(uv_pids) >= 2  # `uv --version`, then `uv lock`
    assert not [pid for pid in uv_pids if alive(pid)]


# ---------------------------------------------------------------------------------------------- in process


def test_sigterm_injected_while_uv_starts_restores(
    run_cli, tmp_path: Path, torch_indexes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(USER)
    Faults(monkeypatch).signal("llmenv.uvrun.run_child", signal.SIGTERM)
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--torch-index", f"{torch_indexes}/{{variant}}", "--lock")
    assert r.code == 143, r.err
    assert (tmp_path / "pyproject.toml").read_text() == USER and not (tmp_path / "uv.lock").exists()


def test_a_signal_during_the_write_waits_for_it_then_restores(
    run_cli, tmp_path: Path, torch_indexes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C arriving inside the atomic write does not cut it in half: no temporary file is left, and the
    interruption then restores the previous bytes."""
    (tmp_path / "pyproject.toml").write_text(USER)
    faults = Faults(monkeypatch)
    faults.signal("os.fsync", signal.SIGINT)
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--torch-index", f"{torch_indexes}/{{variant}}", "--lock")
    assert faults.fired["os.fsync"] == 1
    assert r.code == 130, r.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "whl") == ["pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text() == USER


@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC, errno.EACCES])
def test_a_failing_write_is_one_line_and_keeps_the_file(
    run_cli, tmp_path: Path, torch_indexes: Path, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(USER)
    Faults(monkeypatch).error("os.fsync", err)
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--torch-index", f"{torch_indexes}/{{variant}}", "--lock")
    assert r.code == 2 and os.strerror(err) in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "whl") == ["pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text() == USER


def test_guard_restores_unless_kept_and_is_repeatable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one\r\n")
    with guard(a, b) as g:
        a.write_bytes(b"two")
        b.write_bytes(b"new")
        assert g.restore() == (a, b)
        assert a.read_bytes() == b"one\r\n" and not b.exists()
        a.write_bytes(b"three")
    assert a.read_bytes() == b"one\r\n"
    with guard(a, b) as g:
        a.write_bytes(b"kept")
        g.keep()
    assert a.read_bytes() == b"kept"
    with pytest.raises(KeyboardInterrupt), guard(a) as g:
        a.write_bytes(b"lost")
        raise KeyboardInterrupt
    assert a.read_bytes() == b"kept"
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        guard(a, d)


def test_guard_turns_sigterm_into_terminated_and_puts_the_handler_back(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    a = tmp_path / "a"
    a.write_bytes(b"x")
    with pytest.raises(Terminated) as info, guard(a):
        a.write_bytes(b"y")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs before this returns
    assert info.value.signum == signal.SIGTERM
    assert a.read_bytes() == b"x"
    assert signal.getsignal(signal.SIGTERM) == before


def test_deferred_signals_wait_for_the_block() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")
        done.append("never")
    assert done == ["after the signal"]


def test_run_child_ends_the_whole_group_on_timeout(tmp_path: Path) -> None:
    """A timed-out child and the grandchild it started (a build backend, say) are both gone."""
    script = "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)"
    started = time.monotonic()
    r = run_child([sys.executable, "-c", script], cwd=tmp_path, timeout=1.0, grace=0.5)
    assert r.timed_out and r.code != 0
    assert time.monotonic() - started < 15  # the child would sleep 60 s
    grandchild = int(r.output.split()[0])
    wait_until(lambda: not alive(grandchild), 5, "the grandchild to end")


def test_run_child_ends_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    started = time.monotonic()
    r = run_child([sys.executable, "-c", script], cwd=tmp_path, timeout=1.0, grace=0.3)
    assert r.timed_out and r.code == -signal.SIGKILL
    assert time.monotonic() - started < 15  # the child would sleep 60 s


def test_run_child_reports_output_and_exit_code(tmp_path: Path) -> None:
    seen: list[str] = []
    r = run_child(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
        cwd=tmp_path,
        on_line=seen.append,
    )
    assert r.code == 3 and not r.timed_out and sorted(seen) == ["err\n", "out\n"]
    with pytest.raises(UsageError, match="cannot run"):
        run_child([str(tmp_path / "nothing")], cwd=tmp_path)


def test_uv_version_of_a_program_that_is_not_uv(tmp_path: Path) -> None:
    from llmenv.uvrun import uv_version

    fake = tmp_path / "fake"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(UsageError, match="did not print a uv version"):
        uv_version(str(fake))
    assert subprocess.run([str(fake)], capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_a_signal_during_llmenv_lock_ends_uv(tmp_path: Path, server: IndexServer, signum: int) -> None:
    """`llmenv lock` has no file of its own to restore (uv writes uv.lock atomically), but uv must not outlive it."""
    server.add("filelock", make_wheel(tmp_path / "files", "filelock", "3.1"))
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        USER + f'requires-python = ">={PY}"\n\n[[tool.uv.index]]\nurl = "{server.url}"\ndefault = true\n'
    )
    server.hang.add("/simple/filelock")
    wrapper, pids = _uv_recording_pids(tmp_path)
    p = spawn(["lock", "--project", str(proj)], cwd=tmp_path, env={"LLMENV_UV": str(wrapper)})
    try:
        wait_until(lambda: server.requests["/simple/filelock/"] > 0 or p.poll() is not None, 60, "uv to ask for filelock")
        assert p.poll() is None, p.communicate()
        p.send_signal(signum)
        _out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signum, err
    assert not [pid for pid in map(int, pids.read_text().split()) if alive(pid)]
    assert not (proj / "uv.lock").exists()
