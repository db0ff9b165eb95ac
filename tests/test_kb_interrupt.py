"""`kb refresh` under Ctrl-C and with bad numbers: it stops at once (exit 130, nothing written), or refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .kb_standins import Site, torch_wheel
from .pypi_server import IndexServer
from .wheelfactory import make_wheel


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[IndexServer]:
    """Every tracked package's page answers only after a long wait (released when the test ends)."""
    from llmenv.kb import TRACKED

    s = IndexServer().start()
    for name in TRACKED:
        s.add(name, make_wheel(tmp_path / "dist" / name, name, "1.0"))
        s.hang.add(f"/simple/{name}/")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def slow_index(tmp_path: Path) -> Iterator[Site]:
    """A PyTorch index whose pages stall (PyPI's torch page answers: the refresh gets that far)."""
    s = Site().start()
    s.stall.add("/whl/")
    try:
        yield s
    finally:
        s.stop()


def _interrupt(argv: list[str], env: dict[str, str], started: Callable[[], bool]) -> tuple[int, str, float]:
    """Run llmenv, wait until it is talking to the server, send SIGINT; (exit code, stderr, seconds to exit)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "llmenv", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not started() and time.monotonic() < deadline:  # requests in flight
            time.sleep(0.05)
        assert started(), "the refresh never reached the server"
        time.sleep(0.3)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=15)
        return p.returncode, err, time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LLMENV_DATA_DIR": str(tmp_path / "data"),
        "LLMENV_CACHE_DIR": str(tmp_path / "cache"),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    }


def test_ctrl_c_stops_a_refresh_within_two_seconds(slow_server: IndexServer, tmp_path: Path) -> None:
    argv = ["kb", "refresh", "--index", slow_server.url, "--timeout", "30"]
    code, err, took = _interrupt(argv, _env(tmp_path), lambda: sum(slow_server.requests.values()) > 0)
    assert code == 130, err
    assert took < 2.0, f"took {took:.1f} s to stop"
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []  # nothing written


def test_ctrl_c_while_the_torch_index_stalls(slow_index: Site, tmp_path: Path) -> None:
    pypi = IndexServer().start()
    try:
        w = torch_wheel(
            tmp_path / "t", "2.16.0", "cp312-cp312-manylinux_2_28_x86_64", archs="sm_90 compute_90"
        )
        pypi.add("torch", w)
        argv = [
            "kb",
            "refresh",
            "--only",
            "torch",
            "--index",
            pypi.url,
            "--torch-index",
            f"{slow_index.url}/whl/{{variant}}",
            "--timeout",
            "30",
            "--jobs",
            "4",
        ]
        code, err, took = _interrupt(argv, _env(tmp_path), lambda: sum(slow_index.requests.values()) >= 1)
    finally:
        pypi.stop()
    assert code == 130, err
    assert took < 2.0, f"took {took:.1f} s to stop"
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--jobs", "0"), ("--retries", "-2")],
)
def test_bad_numbers_are_one_line_and_exit_2(run_cli: Callable[..., object], flag: str, value: str) -> None:
    r = run_cli("kb", "refresh", flag, value, "--index", "http://127.0.0.1:9/simple")
    assert r.code == 2, r.err  # type: ignore[attr-defined]
    lines = r.err.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("llmenv: error: ") and flag in lines[0]
