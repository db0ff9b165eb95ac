from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmenv.cli import Context, main
from llmenv.detect import NvmlReading, System
from llmenv.output import Ui

from .wheelfactory import make_wheel


def pytest_configure(config: pytest.Config) -> None:
    """A shell without job control starts background commands with SIGINT ignored, and an ignored signal stays
    ignored in every process the suite starts: then the Ctrl-C tests (a real SIGINT to a real llmenv) cannot
    pass. Give the suite Python's usual SIGINT handling, whatever launched it (children get the default)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@dataclass
class Result:
    code: int
    out: str
    err: str


def fake_system(
    *,
    environ: Mapping[str, str] | None = None,
    commands: Mapping[str, tuple[int, str]] | None = None,
    files: Mapping[str, str] | None = None,
    nvml: NvmlReading | None = None,
    python: str = "3.12",
    cpus: int = 16,
    machine: str = "x86_64",
    os_name: str = "linux",
    root: str = "/nonexistent/llmenv-test-root",
) -> System:
    """A machine described by data: ``commands`` maps the joined argv to (exit code, stdout). ``root``: the
    filesystem image detection reads (none by default: no test sees this machine's image)."""
    commands = dict(commands or {})
    files = dict(files or {})
    files.setdefault("/proc/meminfo", "MemTotal:       131072000 kB\n")

    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        return commands.get(" ".join(argv))

    def which(name: str) -> str | None:
        return (
            f"/usr/bin/{name}" if any(k.split()[0] in (name, f"/usr/bin/{name}") for k in commands) else None
        )

    def listdir(path: str) -> list[str] | None:
        """The folder's entries, as the paths in ``files`` imply them (None: no such folder)."""
        prefix = path.rstrip("/") + "/"
        names = {f[len(prefix) :].split("/")[0] for f in files if f.startswith(prefix)}
        return sorted(names) if names else None

    return System(
        environ=dict(environ or {}),
        run=run,
        read_text=files.get,
        listdir=listdir,
        which=which,
        nvml=lambda: nvml,
        os_name=os_name,
        machine=machine,
        python=python,
        cpus=lambda: cpus,
        glibc=lambda: "2.39",
        run_long=run,
        root=root,
    )


@pytest.fixture
def cpu_system() -> System:
    return fake_system()


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., Result]:
    """Run the CLI in-process: deterministic (NO_COLOR), a fake CPU machine unless ``system`` is given."""

    def _run(
        *argv: str,
        system: System | None = None,
        cwd: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Result:
        out, err = io.StringIO(), io.StringIO()
        env = {**os.environ, "NO_COLOR": "1", **(environ or {})}
        env.pop("FORCE_COLOR", None)
        ctx = Context(
            ui=Ui(out=out, err=err, environ=env),
            environ=env,
            cwd=cwd or tmp_path,
            system=system or fake_system(),
        )
        code = main(list(argv), ctx)
        return Result(code, out.getvalue(), err.getvalue())

    return _run


@pytest.fixture(autouse=True)
def _no_user_uv_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests that run uv must not read this machine's user-level uv configuration or share its cache. (Not
    UV_NO_CONFIG: that also hides the project's own [tool.uv] settings, such as dependency-metadata.)"""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "xdg-config"))
    monkeypatch.delenv("UV_NO_CONFIG", raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.delenv("UV_EXTRA_INDEX_URL", raising=False)
    os.environ.pop("LLMENV_DEBUG", None)


@pytest.fixture(autouse=True)
def _no_user_knowledge(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests read the bundled knowledge, never this machine's `llmenv kb refresh` tables (a test that wants
    user tables sets LLMENV_DATA_DIR itself)."""
    monkeypatch.setenv("LLMENV_DATA_DIR", str(tmp_path_factory.getbasetemp() / "no-user-knowledge"))
    # The day the bundled knowledge is measured against: fixed, so that a plan's text does not change on the
    # day the bundled tables turn 60 days old (tests of the age note set their own).
    from datetime import date

    from llmenv.knowledge import horizon

    monkeypatch.setattr(horizon, "today", lambda: date(2026, 12, 1))


@pytest.fixture
def torch_indexes(tmp_path: Path) -> Path:
    """``<root>/{variant}/`` flat indexes standing in for download.pytorch.org."""
    root = tmp_path / "whl"
    make_wheel(root / "cu124", "torch", "2.6.0+cu124", requires=[])
    make_wheel(root / "cu124", "torchvision", "0.21.0+cu124", requires=["torch==2.6.0"])
    make_wheel(root / "cpu", "torch", "2.6.0+cpu", requires=[])
    make_wheel(root / "cpu", "torchvision", "0.21.0+cpu", requires=["torch==2.6.0"])
    return root
