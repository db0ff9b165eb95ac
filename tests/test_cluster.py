"""``doctor --ray``, without a cluster: the per-node judgement and the comparison across nodes (from probe outputs
built as data), the table and exit codes of the CLI (with the node results injected), and the remote task."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmenv.backend import parse_cuda_version
from llmenv.cluster import NodeResult, PlanContext, analyze, build_archs
from llmenv.cuda_arch import ArchCode
from llmenv.knowledge import load
from llmenv.lockfile import parse_pylock
from llmenv.target import Gpu, Target
from tests.doctor_probes import h200

KB = load()
PLAN_130 = Target(os="linux", arch="x86_64", python="3.12", cuda=parse_cuda_version("13.0"),
                  gpus=(Gpu(name="H200", capability=(9, 0)),))


def node(i: int, probe: dict[str, Any] | None, *, head: bool = False, status: str = "answered") -> NodeResult:
    return NodeResult(
        node_id=f"{i:02d}" + "ab" * 27,
        address=f"10.0.0.{i}",
        hostname=f"gpu{i}",
        is_head=head,
        gpus=8.0,
        status=status,
        probe=probe,
        error=None if probe is not None else "no answer within 120 s",
        seconds=1.0,
    )


def probe(*, driver: str | None = None, gpu: tuple[int, int] | None = None, **dists: str) -> dict[str, Any]:
    p = h200()  # NVML 580.159.04 / CUDA 13.0, one H200, torch 2.11.0+cu130
    if driver:
        p["driver"]["override"] = {"driver": driver}
    if gpu:
        p["driver"]["libcuda"]["gpus"] = [{"name": "NVIDIA A100", "capability": list(gpu), "memory_mib": 81920}]
    p["distributions"] = {"torch": "2.11.0+cu130", "numpy": "2.5.2", **{k.replace("_", "-"): v for k, v in dists.items()}}
    return p


def issues(report: Any, i: int) -> list[str]:
    return [f"{x.status} {x.check}: {x.text}" for x in report.rows[i].issues]


def test_the_node_with_an_old_driver_fails_the_plan_and_differs_from_the_rest() -> None:
    results = [node(1, probe(), head=True), node(2, probe()), node(3, probe(driver="570.124.06"))]
    report = analyze(results, PlanContext(target=PLAN_130), KB)
    assert [r.status for r in report.rows] == ["ok", "ok", "fail"]
    got = issues(report, 2)
    assert "fail driver: driver 570.124.06 supports CUDA 12.8, older than the plan's CUDA 13.0 needs " \
           "(driver >= 580.65.06)" in got
    assert "warn differs: driver 570.124.06 (the other nodes: 580.159.04)" in got
    assert report.reference["driver"] == "580.159.04"
    assert report.failed


def test_without_a_plan_a_different_driver_is_a_warning_only() -> None:
    report = analyze([node(1, probe(), head=True), node(2, probe(driver="575.51.03"))], PlanContext(), KB)
    # torch cu130 cannot run on 575 (the doctor's own finding), so that node fails anyway; the head is ok.
    assert report.rows[0].status == "ok"
    assert any(i.startswith("warn differs: driver 575.51.03") for i in issues(report, 1))


def test_a_tie_between_two_nodes_takes_the_head_nodes_value_as_the_usual_one() -> None:
    report = analyze([node(2, probe(driver="580.65.06")), node(1, probe(), head=True)], PlanContext(), KB)
    assert report.reference["driver"] == "580.159.04"
    assert issues(report, 0)[-1] == "warn differs: driver 580.65.06 (the other nodes: 580.159.04)"
    assert not [i for i in issues(report, 1) if "differs" in i]


def test_a_gpu_the_build_was_not_compiled_for_fails() -> None:
    archs, where = build_archs({"FLASH_ATTN_CUDA_ARCHS": "90"})
    plan = PlanContext(target=PLAN_130, archs=archs, archs_from=where)
    report = analyze([node(1, probe(), head=True), node(2, probe(gpu=(8, 0)))], plan, KB)
    assert report.rows[0].status == "ok"
    assert "fail arch: GPU compute capability 8.0 is not in the build (FLASH_ATTN_CUDA_ARCHS: sm_90)" in issues(
        report, 1
    )
    assert report.rows[1].gpus == "1x NVIDIA A100 (8.0)"


def test_versions_are_compared_with_the_lock_for_each_nodes_platform() -> None:
    lock = parse_pylock(
        """lock-version = "1.0"
[[packages]]
name = "torch"
version = "2.11.0+cu130"
marker = "sys_platform == 'linux'"
[[packages]]
name = "numpy"
version = "2.5.2"
[[packages]]
name = "flash-attn"
version = "2.8.3+cu13torch2.11cxx11abitrue"
marker = "platform_machine == 'x86_64'"
[[packages]]
name = "only-on-arm"
version = "1.0"
marker = "platform_machine == 'aarch64'"
[[packages]]
name = "verl"
directory = { path = "verl", editable = true }
""",
        base=Path("/"),
    )
    plan = PlanContext(lock=lock)
    good = probe(flash_attn="2.8.3")  # its metadata has no local label: the same build
    bad = probe(flash_attn="2.7.4.post1", numpy="2.4.0")
    report = analyze([node(1, good, head=True), node(2, bad), node(3, probe())], plan, KB)
    assert report.rows[0].status == "ok", issues(report, 0)
    got = issues(report, 1)
    assert (
        "fail lock: 2 package(s) at another version than the lock: numpy 2.4.0 (locked: 2.5.2), "
        "flash-attn 2.7.4.post1 (locked: 2.8.3+cu13torch2.11cxx11abitrue)"
    ) in got
    # Without the export of what the project's own dependencies need, every locked package is needed.
    assert "fail lock: 1 locked package(s) not installed: flash-attn" in issues(report, 2)
    assert not any("only-on-arm" in i or "verl" in i for r in range(3) for i in issues(report, r))


def test_the_lock_severity_is_the_doctors_own_rule() -> None:
    """A missing torch the project needs fails; setuptools at another version, or a package only a dependency
    group needs, does not; a package installed by hand that the lock does not have warns."""
    known = parse_pylock(
        """lock-version = "1.0"
[[packages]]
name = "torch"
version = "2.11.0+cu130"
[[packages]]
name = "numpy"
version = "2.5.2"
[[packages]]
name = "setuptools"
version = "75.1.0"
[[packages]]
name = "pytest"
version = "8.3.0"
""",
        base=Path("/"),
    )
    required = parse_pylock(
        'lock-version = "1.0"\n[[packages]]\nname = "torch"\nversion = "2.11.0+cu130"\n'
        '[[packages]]\nname = "numpy"\nversion = "2.5.2"\n[[packages]]\nname = "setuptools"\nversion = "75.1.0"\n',
        base=Path("/"),
    )
    plan = PlanContext(lock=known, lock_required=required)
    p = probe(setuptools="80.9.0", requests="2.32.3", pip="25.0")
    del p["distributions"]["torch"]
    report = analyze([node(1, p, head=True)], plan, KB)
    assert issues(report, 0) == [
        "fail lock: 1 locked package(s) not installed: torch",
        "warn lock: 1 installer or build tool(s) at another version than the lock: setuptools 80.9.0 (locked: 75.1.0)",
        "warn lock: 1 installed package(s) the lock does not have: requests 2.32.3",
    ]  # pytest (the dev group only) is not installed: not a problem; pip (tooling) is not reported


def test_a_node_that_did_not_answer_fails_and_the_rest_is_still_judged() -> None:
    report = analyze([node(1, probe(), head=True), node(2, None, status="timeout")], PlanContext(), KB)
    assert report.rows[0].status == "ok"
    assert issues(report, 1) == ["fail probe: no answer within 120 s"]
    assert report.rows[1].driver == "?"


def test_build_archs_reads_both_spellings() -> None:
    assert build_archs({"FLASH_ATTN_CUDA_ARCHS": "80;90;100"})[0] == tuple(
        ArchCode(capability=c) for c in ((8, 0), (9, 0), (10, 0))
    )
    codes, where = build_archs({"TORCH_CUDA_ARCH_LIST": "8.0 9.0a;10.0+PTX"})
    assert where == "TORCH_CUDA_ARCH_LIST"
    assert [c.name for c in codes] == ["sm_80", "sm_90a", "sm_100", "compute_100"]
    assert build_archs({}) == ((), None)


# ---------------------------------------------------------------------------------------------- the CLI


def _fake(results: list[NodeResult]):  # type: ignore[no-untyped-def]
    seen: dict[str, Any] = {}

    def probe_nodes(address: str | None, **kw: Any) -> list[NodeResult]:
        seen.update(address=address, **kw)
        return results

    return probe_nodes, seen


def test_cli_table_json_and_exit_codes(tmp_path: Path) -> None:
    import argparse
    import io

    from llmenv.cli import Context
    from llmenv.cli._ray_doctor import add_ray_arguments, run_ray
    from llmenv.output import Ui
    from tests.conftest import fake_system

    def run(*argv: str, results: list[NodeResult]) -> tuple[int, str, dict[str, Any]]:
        p = argparse.ArgumentParser()
        p.add_argument("--project")
        p.add_argument("--json", action="store_true")
        p.add_argument("--from-probe")
        p.add_argument("--save-probe")
        p.add_argument("--timeout", type=float)
        add_ray_arguments(p)
        out = io.StringIO()
        env = {"NO_COLOR": "1"}
        ctx = Context(ui=Ui(out=out, err=io.StringIO(), environ=env), environ=env, cwd=tmp_path, system=fake_system())
        fake, seen = _fake(results)
        code = run_ray(p.parse_args(list(argv)), ctx, probe_nodes=fake)
        return code, out.getvalue(), seen

    ok = [node(1, probe(), head=True), node(2, probe())]
    code, out, seen = run("--ray", "10.0.0.1:6379", "--timeout", "7", results=ok)
    assert code == 0
    assert seen["address"] == "10.0.0.1:6379" and seen["timeout"] == 7.0 and seen["runtime_env"] is None
    assert "def collect()" in seen["probe_source"]  # the probe itself travels, llmenv need not be on the nodes
    lines = out.splitlines()
    assert lines[1].split() == ["NODE", "GPUS", "DRIVER", "TORCH", "FLASH-ATTN", "STATUS"]
    assert "gpu1 01ababab (head)" in lines[2] and "1x NVIDIA H200 (9.0)" in lines[2]
    assert "580.159.04 (CUDA 13.0)" in lines[2] and "2.11.0+cu130 (CUDA 13.0)" in lines[2]
    assert lines[-1] == "2 nodes: 2 ok, 0 warn, 0 fail"

    bad = [node(1, probe(), head=True), node(2, None, status="timeout")]
    code, out, _ = run("--ray", "10.0.0.1:6379", "--json", "--runtime-env", '{"env_vars": {"A": "1"}}', results=bad)
    assert code == 1
    data = json.loads(out)
    assert data["fail"] == 1 and data["nodes"][1]["answer"] == "timeout"
    assert data["nodes"][1]["issues"] == [{"status": "fail", "check": "probe", "text": "no answer within 120 s"}]


def test_cli_usage_errors(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", raising=False)  # restored after the test
    r = run_cli("doctor", "--runtime-env", "{}")
    assert r.code == 2 and "goes with --ray" in r.err
    r = run_cli("doctor", "--ray", "127.0.0.1:1", "--python", sys.executable)
    assert r.code == 2 and "--python does not go with --ray" in r.err
    r = run_cli("doctor", "--ray", "127.0.0.1:1", "--timeout", "0")
    assert r.code == 2 and "--timeout must be a positive" in r.err
    r = run_cli("doctor", "--ray", "127.0.0.1:1", "--runtime-env", "{nope")
    assert r.code == 2 and "not valid JSON" in r.err
    r = run_cli("doctor", "--ray", "--from-probe", "x.json")
    assert r.code == 2 and "cannot be combined" in r.err
    # Nothing listens there: one line at once, not minutes of Ray's retries.
    r = run_cli("doctor", "--ray", "127.0.0.1:1")
    assert r.code == 2 and r.err.startswith("llmenv: error: cannot reach the Ray cluster at 127.0.0.1:1")
    import os

    assert os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] == "0"  # Ray's uv hook is off before Ray is imported
    # Ray missing: one line, which says where to install it, even before any address is known.
    monkeypatch.setitem(sys.modules, "ray", None)
    for argv in (("--ray", "127.0.0.1:1"), ("--ray",)):
        r = run_cli("doctor", *argv, environ={"RAY_ADDRESS": ""})
        assert r.code == 2 and "install Ray next to llmenv" in r.err and "Traceback" not in r.err, r.err
        assert sys.prefix in r.err and "no Ray cluster to connect to" not in r.err


def test_the_remote_task_is_sent_by_value_without_llmenv() -> None:
    ray = pytest.importorskip("ray")
    import subprocess

    from ray import cloudpickle

    from llmenv.cluster import _make_task

    task = _make_task(ray)
    blob = cloudpickle.dumps(task._function)
    # A node without llmenv: importing it is impossible there, yet the function loads and runs.
    node_side = (
        "import pickle, sys\n"
        "sys.modules['llmenv'] = None\n"
        "f = pickle.loads(sys.stdin.buffer.read())\n"
        "print(f(\"print('ok')\", 30.0)['stdout'].strip())\n"
    )
    p = subprocess.run([sys.executable, "-c", node_side], input=blob, capture_output=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().strip() == "ok"
    # It runs the probe source with the interpreter it is in, and reports what it printed.
    answer = task._function("print('{\"probe\": 1}')", 30.0)
    assert answer["returncode"] == 0 and answer["stdout"].strip() == '{"probe": 1}'
    assert answer["executable"] == sys.executable


def test_auto_address_is_ray_address_else_the_last_cluster_started_here(tmp_path: Path) -> None:
    from llmenv.cluster import resolve_address
    from llmenv.errors import UsageError

    assert resolve_address("10.0.0.1:6379", {"RAY_ADDRESS": "x:1"}) == "10.0.0.1:6379"
    assert resolve_address("auto", {"RAY_ADDRESS": "10.0.0.2:6379"}) == "10.0.0.2:6379"
    with pytest.raises(UsageError, match="no Ray cluster to connect to"):
        resolve_address("auto", {}, temp_dir=str(tmp_path))
    (tmp_path / "ray_current_cluster").write_text("127.0.0.2:40001\n")
    assert resolve_address(None, {}, temp_dir=str(tmp_path)) == "127.0.0.2:40001"


def test_a_node_whose_probe_crashes_fails_with_what_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The remote task run for real in this interpreter, with a torch that crashes it, then at exit only."""
    ray = pytest.importorskip("ray")
    from llmenv.cluster import _make_task, _parse_answer
    from llmenv.doctor import PROBE

    fixtures = Path(__file__).parent / "fixtures" / "doctor"
    task = _make_task(ray)._function
    monkeypatch.setenv("PYTHONPATH", str(fixtures / "segv_torch"))
    probe, why = _parse_answer(task(PROBE.read_text(), 60.0))
    assert probe is not None and probe["partial"] is True and "torch" not in probe
    assert why is not None and why.startswith("the interpreter was killed by SIGSEGV (signal 11) while probing: import torch")
    monkeypatch.setenv("PYTHONPATH", f"{fixtures / 'crash_at_exit'}:{fixtures / 'fake_torch'}")
    probe, why = _parse_answer(task(PROBE.read_text(), 60.0))
    assert probe is not None and probe["torch"]["version"] == "2.6.0+cu124"
    assert why is not None and "after printing its result (at exit)" in why
    crashed = replace(node(2, probe), error=why)
    report = analyze([node(1, h200(), head=True), crashed], PlanContext(), KB)
    assert report.rows[1].status == "fail" and issues(report, 1)[0].startswith("fail probe: the interpreter was killed")
