"""How long after Ctrl-C / SIGTERM `llmenv init --lock` has put the file back, ended uv and exited, against uv
itself answering the same signal in the same state (a stalled index), in the same run.

    .venv/bin/python bench/interrupt_latency.py [--runs 5]

Both wait on a local index that never answers /simple/filelock/ (tests/pypi_server.py); the clock starts when
the signal is sent and stops when the process has exited (llmenv: after the restore and after reaping uv).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pypi_server import IndexServer  # noqa: E402
from tests.wheelfactory import make_wheel  # noqa: E402


def _wait_for(cond, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the lock to stall")
        time.sleep(0.01)


def _once(argv: list[str], cwd: Path, env: dict[str, str], server: IndexServer, signum: int) -> float:
    asked = server.requests["/simple/filelock/"]
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: server.requests["/simple/filelock/"] > asked, 60)
        time.sleep(0.1)
        t = time.monotonic()
        p.send_signal(signum)
        p.wait(30)
        return time.monotonic() - t
    finally:
        if p.poll() is None:
            p.kill()


def main() -> None:
    import uv

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmenv-bench-"))
    server = IndexServer().start()
    server.add("filelock", make_wheel(tmp / "files", "filelock", "3.1"))
    server.hang.add("/simple/filelock")
    make_wheel(tmp / "whl" / "cpu", "torch", "2.6.0+cpu", tag="cp311-cp311-manylinux_2_28_x86_64", requires=["filelock"])
    env = {**os.environ, "NO_COLOR": "1", "UV_CACHE_DIR": str(tmp / "cache")}
    init = [
        sys.executable, "-m", "llmenv", "init", str(tmp / "p"), "torch==2.6.0", "--cuda", "cpu", "--python", "3.11",
        "--torch-index", f"{tmp / 'whl'}/{{variant}}", "--mirror", server.url, "--lock",
    ]  # fmt: skip
    plain = tmp / "plain"
    plain.mkdir()
    (plain / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = ["filelock"]\n'
        f'[[tool.uv.index]]\nurl = "{server.url}"\ndefault = true\n'
    )
    uv_lock = [uv.find_uv_bin(), "lock", "--python", "3.11"]
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(_once(init, tmp, env, server, signum))
                theirs.append(_once(uv_lock, plain, env, server, signum))
            mo, mt = statistics.median(ours), statistics.median(theirs)
            name = signal.Signals(signum).name
            print(f"{name}: llmenv init --lock exits in {mo * 1000:.0f} ms (median of {args.runs}); "
                  f"uv lock alone {mt * 1000:.0f} ms; ratio {mo / mt:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
