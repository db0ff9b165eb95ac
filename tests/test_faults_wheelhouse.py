"""Offline installs keep their integrity: the wheelhouse's hashed index makes uv record every wheel's sha256 in
uv.lock, so a wheel swapped in the folder is refused by `uv sync --offline` on the node (the real uv). And the
wheelhouse never places an unverified file under a wheel's name: not a garbage download, not a non-zip --add,
not half a file after Ctrl-C; an unwritable folder is one line, exit 2 (issue 18)."""

from __future__ import annotations

import errno
import hashlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

from llmenv.errors import NoAnswer
from llmenv.lockfile import LockedFile
from llmenv.wheelhouse import Pick, Selection, fill
from llmenv.wheelindex import read_index

from .faults import Faults
from .pypi_server import IndexServer
from .wheelfactory import make_wheel

PY = "3.11"
X86 = "cp311-cp311-manylinux_2_28_x86_64"


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    try:
        yield s
    finally:
        s.stop()


def _offline_project(run_cli, tmp_path: Path, server: IndexServer) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """A planned project (torch from a local "PyTorch" folder, filelock from the "PyPI" server), its wheelhouse,
    and the project pointed at it — on the login node, with everything reachable."""
    make_wheel(tmp_path / "whl" / "cpu", "torch", "2.6.0+cpu", tag=X86, requires=["filelock"])
    server.add("filelock", make_wheel(tmp_path / "files", "filelock", "3.1"))
    args = ("--cuda", "cpu", "--python", PY, "--torch-index", f"{tmp_path / 'whl'}/{{variant}}", "--mirror", server.url)
    assert run_cli("init", "./proj", "torch==2.6.0", *args, cwd=tmp_path).code == 0
    assert run_cli("lock", "--project", "proj", cwd=tmp_path).code == 0
    wh = tmp_path / "wh"
    r = run_cli("wheelhouse", "--project", "proj", str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("init", "./proj", "--wheelhouse", str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    return tmp_path / "proj", wh


def _sync(proj: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_uv(), "sync", "--frozen", "--offline", "--python", PY, "--no-build"],
        cwd=proj,
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "UV_CACHE_DIR": str(cache)},
    )


@pytest.mark.parametrize("when", ["after-the-node-locked", "before-the-node-locked"])
def test_a_swapped_wheelhouse_wheel_is_refused_on_the_node(
    run_cli, tmp_path: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:  # type: ignore[no-untyped-def]
    proj, wh = _offline_project(run_cli, tmp_path, server)
    index = read_index(wh)
    assert index is not None and set(index) == {p.name for p in wh.glob("*.whl")}
    for name, sha in index.items():
        assert hashlib.sha256((wh / name).read_bytes()).hexdigest() == sha
    good = next(wh.glob("filelock-*.whl"))
    evil = make_wheel(tmp_path / "evil", "filelock", "3.1", files={"filelock/evil.py": "PWNED = True\n"})
    assert evil.name == good.name and evil.read_bytes() != good.read_bytes()
    original = good.read_bytes()

    # The node: nothing reachable, an empty uv cache.
    server.stop()
    shutil.rmtree(tmp_path / "whl")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "node-cache"))
    if when == "before-the-node-locked":
        shutil.copyfile(evil, good)
    r = run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    from_wheelhouse = [p for p in lock["package"] if p.get("source", {}).get("registry")]
    assert {p["name"] for p in from_wheelhouse} == {"torch", "filelock"}
    for p in from_wheelhouse:  # every wheel the node installs carries the hash the login node verified
        assert [w["hash"] for w in p["wheels"]] == [f"sha256:{index[Path(w['path']).name]}" for w in p["wheels"]]
    shutil.copyfile(evil, good)
    p = _sync(proj, tmp_path / "node-cache-2")
    assert p.returncode != 0
    assert "Hash mismatch for `filelock==3.1`" in p.stderr
    assert not list((proj / ".venv").glob("lib/python*/site-packages/filelock/evil.py"))
    good.write_bytes(original)  # the genuine file installs
    p = _sync(proj, tmp_path / "node-cache-3")
    assert p.returncode == 0, p.stderr


def test_hand_made_wheels_are_indexed_only_with_index_only_and_only_if_they_are_wheels(
    run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    wh = tmp_path / "wh"
    make_wheel(wh, "alpha", "1.0")
    (wh / "beta-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    make_wheel(tmp_path / "other", "gamma", "2.0")
    shutil.copyfile(tmp_path / "other" / "gamma-2.0-py3-none-any.whl", wh / "gamma-3.0-py3-none-any.whl")
    r = run_cli("wheelhouse", "--index-only", "wh")
    assert r.code == 1
    assert "NOT INDEXED beta-1.0-py3-none-any.whl: not a zip archive" in r.out
    assert "NOT INDEXED gamma-3.0-py3-none-any.whl: its METADATA says version '2.0', not 3.0" in r.out
    assert set(read_index(wh) or {}) == {"alpha-1.0-py3-none-any.whl"}


# ---------------------------------------------------------------------------------------------- fill


def _pick(w: Path, sha: str | None, url: str | None = None) -> Pick:
    return Pick(
        name="n", version="1.0", filename=w.name, source="lock", file=LockedFile(url=url or w.as_uri(), sha256=sha)
    )


def test_a_file_with_no_hash_to_check_must_be_a_real_wheel(tmp_path: Path) -> None:
    """A lock entry without a sha256 (a flat index's `path`) whose file is garbage now: the run fails and
    nothing is placed under the locked name."""
    src = tmp_path / "src" / "n-1.0-py3-none-any.whl"
    src.parent.mkdir()
    src.write_bytes(b"garbage, not a wheel")
    wh = tmp_path / "wh"
    with pytest.raises(NoAnswer, match="not a usable wheel: not a zip archive"):
        fill(Selection(picks=(_pick(src, None),), missing=(), local=()), wh)
    assert [p.name for p in wh.iterdir()] == []
    good = make_wheel(tmp_path / "good", "n", "1.0")
    r = fill(Selection(picks=(_pick(good, None),), missing=(), local=()), wh)
    assert r.copied == (good.name,) and read_index(wh) == {good.name: hashlib.sha256(good.read_bytes()).hexdigest()}


def test_a_garbage_file_under_the_locked_name_is_replaced_and_never_indexed(tmp_path: Path) -> None:
    good = make_wheel(tmp_path / "src", "n", "1.0")
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / good.name).write_bytes(b"garbage")
    bad = _pick(good, "0" * 64)
    with pytest.raises(NoAnswer, match="does not match the lock"):
        fill(Selection(picks=(bad,), missing=(), local=()), wh)
    assert read_index(wh) is None  # a failed run indexes nothing
    r = fill(Selection(picks=(_pick(good, sha),), missing=(), local=()), wh)
    assert r.copied == (good.name,) and (wh / good.name).read_bytes() == good.read_bytes()
    assert read_index(wh) == {good.name: sha}


def test_add_of_a_non_zip_or_wrong_wheel_is_bad_input(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1"\n')
    (tmp_path / "uv.lock").write_text("version = 1\n")
    fake = tmp_path / "compiled-0.5-py3-none-any.whl"
    fake.write_bytes(b"PK\x03\x04 but not really")
    r = run_cli("wheelhouse", "wh", "--add", str(fake))
    assert r.code == 2 and "not a wheel: not a zip archive" in r.err and len(r.err.strip().splitlines()) == 1
    other = make_wheel(tmp_path / "o", "other", "0.5")
    shutil.copyfile(other, fake)
    r = run_cli("wheelhouse", "wh", "--add", str(fake))
    assert r.code == 2 and "its METADATA names 'other', not 'compiled'" in r.err
    assert not (tmp_path / "wh").exists()


@pytest.mark.parametrize(
    ("target", "err", "when"),
    [
        ("tempfile.mkstemp", errno.EACCES, "probe"),  # a read-only folder: refused before any download
        ("tempfile.mkstemp", errno.EROFS, "probe"),
        ("pathlib.Path.open", errno.ENOSPC, "part"),  # the disk fills while copying
        ("os.replace", errno.EIO, "final"),
    ],
)
def test_a_wheelhouse_it_cannot_write_is_one_line_exit_2(
    run_cli, tmp_path: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch, target: str, err: int, when: str
) -> None:  # type: ignore[no-untyped-def]
    w = make_wheel(tmp_path / "files", "filelock", "3.1")
    server.add("filelock", w)
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0.1"\nrequires-python = ">=3.11"\ndependencies = ["filelock"]\n'
        "[tool.uv]\nrequired-environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
        f'[[tool.uv.index]]\nurl = "{server.url}"\ndefault = true\n'
    )
    subprocess.run([_uv(), "lock", "--python", PY, "--quiet"], cwd=proj, check=True)
    wh = tmp_path / "wh"

    def in_wh(*args: object, **kwargs: object) -> bool:
        where = str(kwargs.get("dir") or (args[0] if args else ""))
        return where.startswith(str(wh)) and (when != "part" or where.endswith(".part"))

    Faults(monkeypatch).error(target, err, when=in_wh, times=99)
    r = run_cli("wheelhouse", "--project", "p", "--python", PY, str(wh))
    assert r.code == 2, (r.out, r.err)
    assert __import__("os").strerror(err) in r.err and "internal error" not in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert not list(wh.glob("*.whl")) and not list(wh.glob(".*.part"))


def test_ctrl_c_stops_a_download_at_once_and_leaves_no_partial_file(tmp_path: Path, server: IndexServer) -> None:
    w = make_wheel(tmp_path / "files", "n", "1.0")
    server.add("n", w)
    server.hang.add("/files/n/")
    url = f"{server.url.removesuffix('/simple')}/files/n/{w.name}"
    pick = _pick(w, hashlib.sha256(w.read_bytes()).hexdigest(), url=url)
    wh = tmp_path / "wh"
    timer = threading.Timer(0.5, lambda: __import__("os").kill(__import__("os").getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fill(Selection(picks=(pick,), missing=(), local=()), wh)
    took = time.monotonic() - started
    timer.cancel()
    assert took < 6, f"{took:.1f} s"  # the stalled server answers after 10 s
    assert [p.name for p in wh.iterdir()] == []


def test_a_flat_index_wheel_turned_garbage_after_the_lock_is_not_copied(
    run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """uv.lock has no hash for a flat index's file and `uv export` hashes it as it is now: a wheel that became
    garbage after locking would pass a hash check, so a local file must also be a readable wheel."""
    flat = tmp_path / "flat"
    make_wheel(flat, "beta", "1.0")
    proj = tmp_path / "fp"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "fp"\nversion = "0.1"\nrequires-python = ">=3.11"\ndependencies = ["beta"]\n'
        "[tool.uv]\nrequired-environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
        f'[[tool.uv.index]]\nname = "f"\nurl = "{flat}"\nformat = "flat"\n'
    )
    subprocess.run([_uv(), "lock", "--python", PY, "--quiet"], cwd=proj, check=True)
    (flat / "beta-1.0-py3-none-any.whl").write_bytes(b"garbage, not a wheel")
    r = run_cli("wheelhouse", "--project", "fp", "--python", PY, "wh")
    assert r.code == 1 and "not a usable wheel: not a zip archive" in r.err, (r.out, r.err)
    assert not list((tmp_path / "wh").glob("*.whl"))
