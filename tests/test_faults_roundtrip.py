"""Property tests of the byte-keeping promises under faults (Hypothesis): a write that fails at any of its steps
leaves the old bytes or the new ones, never a mix nor a temporary file; a guard put back whatever ended its block;
and `init --lock`, interrupted or failing at a chosen point, leaves the user's pyproject.toml byte for byte as it
was. (The edit round-trip itself — what llmenv keeps of the user's file when it succeeds — is the project
branch's property suite.)"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmenv.errors import UsageError
from llmenv.project import atomic_write
from llmenv.uvrun import guard

from .faults import Faults

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_bytes = st.binary(max_size=300) | st.text(max_size=120).map(lambda t: t.replace("\n", "\r\n").encode())
_errors = st.sampled_from([errno.EIO, errno.ENOSPC, errno.EACCES, errno.EROFS])
_write_steps = st.sampled_from(["tempfile.mkstemp", "os.fsync", "os.chmod", "os.replace"])


@SETTINGS
@given(old=st.none() | _bytes, new=_bytes, step=_write_steps, err=_errors)
def test_a_write_failing_at_any_step_leaves_old_or_new_bytes(
    tmp_path: Path, old: bytes | None, new: bytes, step: str, err: int
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / "pyproject.toml"
    if old is not None:
        path.write_bytes(old)
    with pytest.MonkeyPatch.context() as mp:
        faults = Faults(mp)
        faults.error(step, err)
        try:
            atomic_write(path, new)
        except UsageError as e:
            assert os.strerror(err) in e.message
        fired = faults.fired[step]
    if fired:
        assert (path.read_bytes() if path.exists() else None) == old
    else:
        assert path.read_bytes() == new
    assert [p.name for p in folder.iterdir()] == (["pyproject.toml"] if path.exists() else [])


_endings = st.sampled_from(["return", "exception", "ctrl-c", "sigterm", "keep"])


@SETTINGS
@given(
    originals=st.lists(st.none() | _bytes, min_size=1, max_size=3),
    writes=st.lists(st.tuples(st.integers(0, 2), _bytes | st.none()), max_size=6),
    ending=_endings,
)
def test_a_guard_puts_every_file_back_however_its_block_ends(
    tmp_path: Path, originals: list[bytes | None], writes: list[tuple[int, bytes | None]], ending: str
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = [folder / f"f{i}" for i in range(len(originals))]
    for p, data in zip(paths, originals, strict=True):
        if data is not None:
            p.write_bytes(data)
    last = dict(zip(paths, originals, strict=True))
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with guard(*paths) as g:
            for i, data in writes:
                p = paths[i % len(paths)]
                if data is None:
                    p.unlink(missing_ok=True)
                else:
                    p.write_bytes(data)
                last[p] = data
            if ending == "keep":
                g.keep()
            elif ending == "exception":
                raise RuntimeError("a step failed")
            elif ending == "ctrl-c":
                os.kill(os.getpid(), signal.SIGINT)
            elif ending == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
    except (RuntimeError, KeyboardInterrupt):
        pass
    want = last if ending == "keep" else dict(zip(paths, originals, strict=True))
    for p in paths:
        assert (p.read_bytes() if p.exists() else None) == want[p]
    assert signal.getsignal(signal.SIGTERM) == handler


_comment = st.text(alphabet="abc xyz#éü–", max_size=20)
_table = st.sampled_from(["[tool.black]\nline-length = 100\n", "[tool.ruff]\nselect = ['E']\n", ""])


@st.composite
def user_pyprojects(draw: st.DrawFn) -> bytes:
    """A user's file: comments, a blank line or two, a foreign table, LF or CRLF endings."""
    lines = [
        f"# {draw(_comment)}",
        "[project]",
        'name = "mine"',
        'version = "0.1.0"',
        f"# {draw(_comment)}",
        'dependencies = ["filelock"]',
        "",
        draw(_table).rstrip("\n"),
    ]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return (eol.join(lines) + eol).encode()


_failures = st.sampled_from(
    [
        ("signal", "llmenv.uvrun.run_child", signal.SIGINT, 130),
        ("signal", "llmenv.uvrun.run_child", signal.SIGTERM, 143),
        ("signal", "os.fsync", signal.SIGINT, 130),
        ("signal", "llmenv.plan.feedback.learn", signal.SIGTERM, 143),  # between two lock attempts
        ("error", "os.fsync", errno.ENOSPC, 2),
        ("error", "os.replace", errno.EIO, 2),
        ("uv fails", "", 0, 1),
    ]
)


@SETTINGS
@given(original=user_pyprojects(), failure=_failures)
def test_init_lock_interrupted_or_failing_anywhere_keeps_the_users_bytes(
    run_cli, tmp_path: Path, torch_indexes: Path, original: bytes, failure: tuple[str, str, int, int]
) -> None:  # type: ignore[no-untyped-def]
    kind, target, value, code = failure
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "pyproject.toml").write_bytes(original)
    fake_uv = tmp_path / "uv-that-fails"
    fake_uv.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'uv 0.13.9'; exit 0; fi\necho 'error: boom' >&2\nexit 1\n")
    fake_uv.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        faults = Faults(mp)
        if kind == "signal":
            faults.signal(target, value)
        elif kind == "error":
            faults.error(target, value)
        r = run_cli(
            "init", str(folder), "torch", "--cuda", "cpu", "--python", "3.11",
            "--torch-index", f"{torch_indexes}/{{variant}}", "--lock",
            environ={"LLMENV_UV": str(fake_uv)},
        )  # fmt: skip
    assert r.code == code, (failure, r.err)
    assert "internal error" not in r.err
    assert (folder / "pyproject.toml").read_bytes() == original
    assert sorted(p.name for p in folder.iterdir()) == ["pyproject.toml"]
