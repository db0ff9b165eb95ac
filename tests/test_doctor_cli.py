"""``llmenv doctor``: the command line, with the probe answered by a fake system (no interpreter is run)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmenv.doctor import PROBE, builds_from_source

from .conftest import Result, fake_system
from .doctor_probes import NVCC_13_0, flash_attn, h200

RunCli = Callable[..., Result]


def system_answering(python: str, probe: dict[str, Any] | str, code: int = 0) -> Any:
    out = probe if isinstance(probe, str) else "some library printed this\n" + json.dumps(probe) + "\n"
    return fake_system(commands={f"{python} {PROBE}": (code, out)})


def make_project(
    root: Path, pyproject: str = "[project]\nname = 'x'\nversion = '0'\n", venv: str = ".venv"
) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    python = root / venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return str(python)


def test_json_contract(run_cli: RunCli) -> None:
    r = run_cli("doctor", "--json", "--python", sys.executable, system=system_answering(sys.executable, h200()))
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert list(d) == ["python", "findings", "ok", "warn", "fail"]
    assert d["python"] == sys.executable
    for f in d["findings"]:
        assert list(f) == ["check", "status", "summary", "evidence", "fix"]
        assert f["status"] in ("ok", "warn", "fail")
        assert isinstance(f["check"], str) and isinstance(f["summary"], str) and f["summary"]
        assert isinstance(f["evidence"], list) and all(isinstance(e, str) for e in f["evidence"])
        assert f["fix"] is None or isinstance(f["fix"], str)
    for status in ("ok", "warn", "fail"):
        assert d[status] == sum(f["status"] == status for f in d["findings"])
    assert (d["ok"], d["warn"], d["fail"]) == (8, 0, 0)


def test_a_failing_finding_exits_1_and_says_why_and_how_to_fix(run_cli: RunCli) -> None:
    p = h200()
    p["packages"]["flash-attn"] = flash_attn(
        version="2.7.4.post1+cu12torch2.6cxx11abiFALSE",
        load={
            "module": "flash_attn_2_cuda",
            "ok": False,
            "error": "ImportError: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs",
        },
    )
    r = run_cli("doctor", "--python", sys.executable, system=system_answering(sys.executable, p))
    assert r.code == 1
    line = next(ln for ln in r.out.splitlines() if ln.startswith("FAIL  flash-attn "))
    assert "C++ ABI mismatch" in line
    assert "fix: install the flash-attn wheel built for torch 2.11, cu13, cxx11abiTRUE" in r.out
    assert r.out.rstrip().endswith("9 ok, 0 warn, 1 fail")
    assert r.err == ""


def test_ok_findings_show_their_evidence_only_when_verbose(run_cli: RunCli) -> None:
    system = system_answering(sys.executable, h200())
    quiet = run_cli("doctor", "--python", sys.executable, system=system)
    loud = run_cli("doctor", "-v", "--python", sys.executable, system=system)
    assert "torch._C._GLIBCXX_USE_CXX11_ABI = True" not in quiet.out
    assert "torch._C._GLIBCXX_USE_CXX11_ABI = True" in loud.out
    assert quiet.out.startswith(f"inspecting {sys.executable} (--python)")


def test_project_environment_is_inspected(run_cli: RunCli, tmp_path: Path) -> None:
    python = make_project(tmp_path / "proj")
    r = run_cli(
        "doctor", "--project", "proj", "--json", system=system_answering(python, h200()), cwd=tmp_path
    )
    assert r.code == 0, r.err
    assert json.loads(r.out)["python"] == python
    # a project in the working directory is found without --project
    r = run_cli("doctor", "--json", system=system_answering(python, h200()), cwd=tmp_path / "proj")
    assert json.loads(r.out)["python"] == python


def test_uv_project_environment_is_honoured(run_cli: RunCli, tmp_path: Path) -> None:
    python = make_project(tmp_path, venv="envs/gpu")
    r = run_cli(
        "doctor",
        "--project",
        ".",
        "--json",
        system=system_answering(python, h200()),
        environ={"UV_PROJECT_ENVIRONMENT": "envs/gpu"},
    )
    assert r.code == 0, r.err


def test_a_project_that_builds_from_source_needs_a_matching_nvcc(run_cli: RunCli, tmp_path: Path) -> None:
    pyproject = (
        "[project]\nname = 'x'\nversion = '0'\n[tool.uv]\nno-build-isolation-package = ['flash-attn']\n"
    )
    python = make_project(tmp_path, pyproject)
    p = h200()
    p["toolkit"]["nvcc_version_text"] = NVCC_13_0.replace("13.0, V13.0.88", "12.4, V12.4.131")
    r = run_cli("doctor", "--project", str(tmp_path), "--json", system=system_answering(python, p))
    assert r.code == 1
    nvcc = next(f for f in json.loads(r.out)["findings"] if f["check"] == "nvcc")
    assert nvcc["status"] == "fail"


def test_builds_from_source() -> None:
    assert builds_from_source("[tool.uv]\nextra-build-dependencies = { flash-attn = ['torch'] }\n") is True
    assert builds_from_source("[tool.uv]\nenvironments = ['sys_platform == \"linux\"']\n") is False
    assert builds_from_source("[project]\nname = 'x'\n") is False
    assert builds_from_source("[tool.uv\n") is None


def test_project_errors(run_cli: RunCli, tmp_path: Path) -> None:
    r = run_cli("doctor", "--project", "nowhere")
    assert r.code == 2 and "no such directory" in r.err
    (tmp_path / "bare").mkdir()
    r = run_cli("doctor", "--project", "bare")
    assert r.code == 1
    assert "no environment to inspect" in r.err and "hint: create it with `llmenv sync" in r.err


def test_a_probe_that_prints_no_json_is_a_failing_finding(run_cli: RunCli) -> None:
    system = system_answering(sys.executable, "Segmentation fault\n", code=139)
    r = run_cli("doctor", "--json", "--python", sys.executable, system=system)
    assert r.code == 1
    d = json.loads(r.out)
    assert [(f["check"], f["status"]) for f in d["findings"]] == [("probe", "fail")]
    assert "exited with code 139 (SIGSEGV (signal 11), as a shell reports it)" in d["findings"][0]["summary"]
    assert d["findings"][0]["evidence"] == ["stdout: Segmentation fault"]


def test_an_interpreter_that_cannot_start_is_a_failing_finding(run_cli: RunCli) -> None:
    r = run_cli("doctor", "--python", sys.executable, system=fake_system())  # the fake knows no command: None
    assert r.code == 1 and "could not be started" in r.out


def test_save_and_replay_a_probe(run_cli: RunCli, tmp_path: Path) -> None:
    r = run_cli(
        "doctor",
        "--json",
        "--python",
        sys.executable,
        "--save-probe",
        "probe.json",
        system=system_answering(sys.executable, h200()),
    )
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved == h200()
    replay = run_cli("doctor", "--json", "--from-probe", "probe.json", system=fake_system())
    assert replay.code == 0 and json.loads(replay.out) == {
        **json.loads(r.out),
        "python": saved["python"]["executable"],
    }


def test_from_probe_rejects_what_is_not_a_probe(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    (tmp_path / "y.json").write_text("{not json")
    for name in ("x.json", "y.json", "missing.json"):
        r = run_cli("doctor", "--from-probe", name)
        assert r.code == 2 and r.err.startswith("llmenv: error:"), r.err
        assert "Traceback" not in r.err
