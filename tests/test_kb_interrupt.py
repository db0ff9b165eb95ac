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


def test_ctrl_c_stops_a_refresh_within_two_seconds(slow_server: IndexServer, tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    env = {
        **os.environ,
        "LLMENV_DATA_DIR": str(data),
        "LLMENV_CACHE_DIR": str(cache),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "llmenv", "kb", "refresh", "--index", slow_server.url, "--timeout", "30"]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while sum(slow_server.requests.values()) == 0 and time.monotonic() < deadline:  # requests in flight
            time.sleep(0.05)
        assert sum(slow_server.requests.values()) > 0, "the refresh never reached the server"
        time.sleep(0.3)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert took < 2.0, f"took {took:.1f} s to stop"
    assert "interrupted" in err and "Traceback" not in err
    assert not data.exists() or list(data.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--jobs", "0"), ("--retries", "-2")],
)
def test_bad_numbers_are_one_line_and_exit_2(run_cli: Callable[..., object], flag: str, value: str) -> None:
    r = run_cli("kb", "refresh", flag, value, "--index", "http://127.0.0.1:9/simple")
    assert r.code == 2, r.err  # type: ignore[attr-defined]
    lines = r.err.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("llmenv: error: ") and flag in lines[0]
