"""A probe that crashes or hangs is a failing finding with what it had read, bounded by --timeout, with progress on a
terminal. The interpreters are real; what they import makes them crash or hang (tests/fixtures/doctor/segv_torch,
hang_torch, crash_at_exit), as a broken torch or CUDA library does.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from llmenv.doctor import Environment, doctor, real_runner
from llmenv.doctor.runner import ProbeRun, read_run

from .conftest import Result, fake_system
from .doctor_sites import FIXTURES, compile_so, install

RunCli = Callable[..., Result]


def real_system() -> object:
    return replace(fake_system(), run_long=None)  # the probe runs for real


def cli(run_cli: RunCli, *argv: str, path: list[Path], **environ: str) -> Result:
    env = {"PYTHONPATH": os.pathsep.join(str(p) for p in path), "VIRTUAL_ENV": "", **environ}
    return run_cli("doctor", "--python", sys.executable, *argv, system=real_system(), environ=env)


def test_an_interpreter_that_crashes_while_importing_torch_is_a_failure_with_what_it_read(run_cli: RunCli) -> None:
    r = cli(run_cli, "--json", path=[FIXTURES / "segv_torch"])
    assert r.code == 1, r.out + r.err
    d = json.loads(r.out)
    first = d["findings"][0]
    assert (first["check"], first["status"]) == ("probe", "fail")
    assert first["summary"] == "the interpreter was killed by SIGSEGV (signal 11) while probing: import torch"
    assert "stderr: Fatal Python error: Segmentation fault" in first["evidence"]  # faulthandler's report
    assert any("segv_torch/torch/__init__.py" in e for e in first["evidence"])  # ... with the Python stack
    assert any(e.startswith("read before that: ") and "distributions" in e for e in first["evidence"])
    checks = [f["check"] for f in d["findings"]]
    # What was read is judged; nothing that was not read is reported (no "torch is not installed").
    assert checks[:3] == ["probe", "python", "glibc"] and "torch" not in checks


def test_a_crash_at_exit_after_the_whole_result_is_still_a_failure(run_cli: RunCli) -> None:
    r = cli(run_cli, "--json", path=[FIXTURES / "crash_at_exit", FIXTURES / "fake_torch"])
    assert r.code == 1
    d = json.loads(r.out)
    assert d["findings"][0]["summary"] == (
        "the interpreter was killed by SIGSEGV (signal 11) after printing its result (at exit)"
    )
    checks = {f["check"]: f["status"] for f in d["findings"]}
    assert checks["torch"] == "ok" and checks["torch.cuda"] == "warn"  # the whole result was judged


def test_a_hung_interpreter_is_ended_at_the_timeout_with_where_it_was_and_nothing_left_running(
    run_cli: RunCli, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    r = cli(run_cli, "--timeout", "4", path=[FIXTURES / "hang_torch"], LLMENV_TEST_PIDFILE=str(pidfile))
    took = time.monotonic() - started
    assert r.code == 1
    assert 4 < took < 30, took
    line = next(ln for ln in r.out.splitlines() if ln.startswith("FAIL  probe"))
    assert "the interpreter gave no answer within 4 s while probing: import torch" in line
    assert "hang_torch/torch/__init__.py" in r.out  # faulthandler's stack of the hang, just before the deadline
    assert "fix: find what hangs" in r.out
    pid = int(pidfile.read_text())
    for _ in range(50):  # the whole process group was ended
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the hung probe {pid} is still running")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_and_cleared() -> None:
    err = _Terminal()
    from llmenv.cli.doctor import _Progress

    progress = _Progress(err, "/x/python")
    env = {**os.environ, "PYTHONPATH": str(FIXTURES / "hang_torch")}
    report, _ = doctor(
        Environment(python=sys.executable, project=None, reason="test"),
        run=real_runner(env),
        timeout=3,
        progress=progress,
    )
    progress.done()
    shown = err.getvalue()
    assert "probing /x/python: import torch (" in shown
    assert "probing /x/python: reading the interpreter" in shown
    assert shown.endswith("\r\x1b[2K")  # the line is cleared before the report
    assert report.findings[0].check == "probe"


def test_no_progress_on_a_pipe(run_cli: RunCli) -> None:
    r = cli(run_cli, path=[FIXTURES / "fake_torch"])
    assert "probing" not in r.err and r.err == ""


def test_an_extension_whose_load_hangs_is_ended_and_the_rest_is_still_reported(tmp_path: Path) -> None:
    so = compile_so(tmp_path / "vllm_C.so", "hang_on_load.c")
    site = tmp_path / "site"
    install(
        site,
        "vllm",
        "0.8.5.post1",
        {"vllm/__init__.py": b"", "vllm/_C.abi3.so": so.read_bytes()},
        {"METADATA": "Metadata-Version: 2.1\nName: vllm\nVersion: 0.8.5.post1\n", "WHEEL": "Tag: cp38-abi3-linux_x86_64\n"},
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(FIXTURES / "fake_torch")])}
    report, probe = doctor(
        Environment(python=sys.executable, project=None, reason="test"), run=real_runner(env), timeout=9
    )
    assert probe is not None and "partial" not in probe  # the probe itself finished in time
    assert not any(f.check == "probe" for f in report.findings)
    vllm = next(f for f in report.findings if f.check == "vllm")
    assert vllm.status == "fail" and "loading it hung (timed out after" in vllm.summary, vllm.summary


def test_reading_a_run_that_printed_nothing_useful() -> None:
    probe, finding = read_run(ProbeRun(returncode=0, stdout="hello\n"), "/x/python")
    assert probe is None and finding is not None
    assert finding.summary == "the probe printed something that is not JSON"
    assert finding.evidence == ("stdout: hello",)
    probe, finding = read_run(ProbeRun(returncode=3, stdout="", stderr="boom\n"), "/x/python")
    assert probe is None and finding is not None
    assert finding.summary == "the interpreter exited with code 3 before the probe started"
    assert finding.evidence == ("stderr: boom",)
    probe, finding = read_run(None, "/x/python")
    assert finding is not None and "could not be started" in finding.summary


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_llmenv_stopped_while_the_probe_hangs_ends_the_probe_too(tmp_path: Path, sig: str) -> None:
    import signal
    import subprocess

    pidfile = tmp_path / "pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), str(FIXTURES / "hang_torch")]),
           "LLMENV_TEST_PIDFILE": str(pidfile), "NO_COLOR": "1"}
    p = subprocess.Popen([sys.executable, "-m", "llmenv", "doctor", "--python", sys.executable, "--timeout", "60"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.1)
    else:
        p.kill()
        pytest.fail("the probe never reached import torch")
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + getattr(signal, sig), err
    probe_pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(probe_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the probe {probe_pid} outlived llmenv")
