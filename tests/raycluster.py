"""A real Ray cluster on this machine, for the ``cluster`` tests: a head and worker nodes started with
``ray start`` in a private temp dir, each start bounded, and every process of it killed at the end (found by its
temp dir or its GCS address, with their descendants: never ``ray stop``, which stops every Ray on the machine).

Nodes get loopback addresses 127.0.0.2, 127.0.0.3, ... (all Ray traffic stays on ``lo``; the dashboard and
its job server listen on 127.0.0.1 only). Ray itself cannot do better: it rewrites a node IP of 127.0.0.1 to the
machine's routable address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which in turn refuses worker nodes;
with any other node IP its GCS and raylets listen on all interfaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LocalRayCluster", "free_port"]

START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line), from /proc."""
    out: dict[int, tuple[int, bytes]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{d}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, cmd)
    return out


@dataclass
class LocalRayCluster:
    environ: Mapping[str, str]
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="llmray", dir="/tmp")))
    address: str | None = None
    dashboard_port: int | None = None
    nodes: int = 0
    log: list[str] = field(default_factory=list)

    def _start(self, args: list[str], env: Mapping[str, str], what: str) -> None:
        argv = [_ray_bin(), "start", "--disable-usage-stats", f"--temp-dir={self.root}", *args]
        try:
            p = subprocess.run(
                argv, env=dict(env), capture_output=True, text=True, timeout=START_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"`ray start` ({what}) did not return within {START_TIMEOUT:.0f} s: {e}") from None
        self.log.append(p.stdout + p.stderr)
        if p.returncode != 0:
            tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"`ray start` ({what}) failed with exit code {p.returncode}:\n{tail}")

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if k != "RAY_ADDRESS"}
        env.update(
            RAY_USAGE_STATS_ENABLED="0",
            # The tests check the runtime environment llmenv writes, not the one Ray derives from `uv run`.
            RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
            UV_PYTHON_DOWNLOADS="never",
        )
        env.update(extra or {})
        return env

    def start_head(self, *, dashboard: bool = False, extra_env: Mapping[str, str] | None = None) -> str:
        self.dashboard_port = free_port()
        args = [
            "--head",
            "--node-ip-address=127.0.0.2",
            "--port=0",
            "--num-cpus=1",
            f"--include-dashboard={'true' if dashboard else 'false'}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]
        self._start(args, self._env(extra_env), "head")
        deadline = time.monotonic() + 30
        current = self.root / "ray_current_cluster"
        while not current.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not current.is_file():
            raise RuntimeError(f"the head started but wrote no {current}")
        self.address = current.read_text().strip()
        self.nodes = 1
        return self.address

    def add_worker(self, *, extra_env: Mapping[str, str] | None = None) -> None:
        assert self.address, "start the head first"
        self.nodes += 1
        args = [
            f"--address={self.address}",
            f"--node-ip-address=127.0.0.{self.nodes + 1}",
            "--num-cpus=1",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]
        self._start(args, self._env(extra_env), f"worker node {self.nodes}")

    def stop(self) -> None:
        """Kill every process of this cluster (by temp dir or GCS address, and their descendants)."""
        table = _processes()
        tags = [str(self.root).encode()]
        if self.address:
            tags.append(self.address.encode())
        me = os.getpid()
        pids = {pid for pid, (_pp, cmd) in table.items() if pid != me and any(t in cmd for t in tags)}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _cmd) in table.items():
                if ppid in pids and pid not in pids and pid != me:
                    pids.add(pid)
                    grew = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
