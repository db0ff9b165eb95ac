"""A real Ray cluster on loopback (tests/raycluster.py): a head and one worker node, the worker started with
``LLMENV_DRIVER`` set to an old driver. ``ray-env`` output given to a real ``ray job submit`` runs tasks on both
nodes inside the project's locked environment; ``doctor --ray`` finds the node with the other driver.

The project is made offline from generated wheels: ``smallpkg`` 1.0 is locked, then 2.0 is published, so a task
reporting 1.0 ran the lock, not a fresh resolution. The workers import ray from the project's environment, and an
offline index cannot hold Ray's own wheel: the locked ``ray`` is a stand-in wheel of the same version whose only
content is a ``.pth`` line adding this test environment's site-packages (after the project's own).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .raycluster import LocalRayCluster
from .wheelfactory import make_wheel

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(sys.platform != "linux", reason="loopback nodes 127.0.0.x need Linux"),
]
ray = pytest.importorskip("ray")

OLD_DRIVER = "535.104.05"  # CUDA 12.2: older than the plan's CUDA 12.4 needs (550.54.14)
JOB = """
import json
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

ray.init()


@ray.remote(num_cpus=0)
def where():
    import importlib.metadata, sys
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "smallpkg": importlib.metadata.version("smallpkg"),
    }


nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
refs = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote() for n in nodes]
print("LLMENV-RESULT " + json.dumps(ray.get(refs, timeout=120)))
"""


@pytest.fixture(autouse=True)
def _ray_hook_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor --ray turns Ray's uv hook off in its process (setdefault); keep that out of the other tests."""
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rayproj")
    wheels = root / "wheels"
    make_wheel(wheels, "smallpkg", "1.0")
    site = sysconfig.get_paths()["purelib"]
    make_wheel(wheels, "ray", ray.__version__, module=False, files={"ray_from_the_test_env.pth": site + "\n"})
    proj = root / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        f"""[project]
name = "rayproj"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["smallpkg", "ray=={ray.__version__}"]

[[tool.uv.index]]
name = "local"
url = "{wheels}"
format = "flat"

[tool.llmenv]
policy = "strict"

[tool.llmenv.target]
os = "linux"
arch = "x86_64"
python = "{sys.version_info.major}.{sys.version_info.minor}"
driver = "550.54.14"
cuda = "12.4"
"""
    )
    (proj / "job.py").write_text(JOB)
    env = {**os.environ, "UV_CACHE_DIR": str(root / "uv-cache")}
    subprocess.run([_uv(), "lock", "--offline", "--quiet"], cwd=proj, env=env, check=True, timeout=120)
    make_wheel(wheels, "smallpkg", "2.0")  # published after the lock: must not be installed
    return proj


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    base = tmp_path_factory.getbasetemp()
    environ = {
        **os.environ,
        "UV_CACHE_DIR": str(base / "uv-cache-cluster"),
        "XDG_CONFIG_HOME": str(base / "xdg-config"),
    }
    c = LocalRayCluster(environ=environ)
    try:
        started = time.monotonic()
        c.start_head(dashboard=True)  # `ray job submit` talks to the dashboard's job server
        c.add_worker(extra_env={"LLMENV_DRIVER": OLD_DRIVER})
        c.log.append(f"started in {time.monotonic() - started:.1f} s")
    except RuntimeError as e:
        c.stop()
        pytest.fail(f"a local Ray cluster could not start here: {e}")
    try:
        yield c
    finally:
        c.stop()


def _runtime_env(run_cli, project: Path, fmt: str = "json") -> str:  # type: ignore[no-untyped-def]
    python = getattr(sys, "_base_executable", None) or platform.python_version()
    r = run_cli(
        "ray-env", "--project", str(project), "--uv", _uv(), "--python", python, "--format", fmt,
        environ={"UV_CACHE_DIR": str(project.parent / "uv-cache-workers")},
    )
    assert r.code == 0, r.err
    return str(r.out)


def _submit(cluster: LocalRayCluster, project: Path, *flags: str) -> list[dict]:  # type: ignore[type-arg]
    p = subprocess.run(
        [str(Path(sys.executable).with_name("ray")), "job", "submit",
         "--address", f"http://127.0.0.1:{cluster.dashboard_port}", *flags, "--", sys.executable, "job.py"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    found = re.findall(r"LLMENV-RESULT (.*)", p.stdout)
    assert p.returncode == 0 and found, f"ray job submit failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return json.loads(found[-1])


def test_ray_env_runs_every_node_in_the_projects_locked_environment(run_cli, project: Path, cluster: LocalRayCluster) -> None:  # type: ignore[no-untyped-def]
    env = json.loads(_runtime_env(run_cli, project))
    assert env["working_dir"] == str(project)
    results = _submit(cluster, project, "--runtime-env-json", json.dumps(env))
    assert len({r["node"] for r in results}) == 2  # one task on each node
    for r in results:
        prefix = Path(r["prefix"])
        # The interpreter is the project's .venv, built on the node from the uploaded project and its lock.
        assert prefix.name == ".venv" and Path(r["executable"]).parent == prefix / "bin"
        assert (prefix / "pyvenv.cfg").is_file()
        assert 'name = "rayproj"' in (prefix.parent / "pyproject.toml").read_text()
        assert "runtime_resources/working_dir_files" in str(prefix)
        assert r["smallpkg"] == "1.0"  # the locked version, although 2.0 is on the index now

    # The same environment as YAML, with `ray job submit --runtime-env FILE`.
    yaml_file = project.parent / "runtime_env.yaml"
    yaml_file.write_text(_runtime_env(run_cli, project, "yaml"))
    results = _submit(cluster, project, "--runtime-env", str(yaml_file))
    assert {r["smallpkg"] for r in results} == {"1.0"} and len(results) == 2


def test_doctor_ray_reports_the_node_with_the_other_driver(run_cli, project: Path, cluster: LocalRayCluster) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    r = run_cli("doctor", "--ray", cluster.address, "--project", str(project), "--json")
    took = time.monotonic() - started
    assert r.code == 1, r.out + r.err
    data = json.loads(r.out)
    nodes = data["nodes"]
    assert len(nodes) == 2 and [n["answer"] for n in nodes] == ["answered", "answered"]
    head, worker = nodes
    assert head["is_head"] and head["address"] == "127.0.0.2" and worker["address"] == "127.0.0.3"
    assert worker["driver"] == f"{OLD_DRIVER} (CUDA 12.2)" and head["driver"] == "none"
    texts = [i["text"] for i in worker["issues"]]
    assert f"driver {OLD_DRIVER} (the other nodes: none)" in texts
    assert any(t.startswith(f"driver {OLD_DRIVER} supports CUDA 12.2, older than the plan's CUDA 12.4") for t in texts)
    assert worker["status"] == "fail"
    # The cluster's own Python environment is not the project's: the locked smallpkg, which the project needs, is
    # missing there, so a job run without the project's runtime environment fails on every node (the head too);
    # the head's driver is not a problem.
    head_fails = [i for i in head["issues"] if i["status"] == "fail"]
    assert [i["check"] for i in head_fails] == ["lock"], head_fails
    assert "not installed: smallpkg" in head_fails[0]["text"]
    assert took < 60

    # The table, and the probe run inside the project's environment as each node builds it (ray-env).
    runtime_env = _runtime_env(run_cli, project)
    r = run_cli("doctor", "--ray", cluster.address, "--project", str(project), "--runtime-env", runtime_env)
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[1].split()[:2] == ["NODE", "GPUS"]
    assert any(OLD_DRIVER in line and line.rstrip().endswith("FAIL") for line in lines[2:4])
    assert "not installed: smallpkg" not in r.out  # inside the project's environment it is there
    # The stand-in ray wheel's .pth puts this test environment's site-packages on the workers' path: its
    # distributions are importable there although the lock does not have them, which the head reports (warn).
    assert "installed package(s) the lock does not have" in r.out
    assert "2 nodes: 0 ok, 1 warn, 1 fail" in r.out


def test_a_node_that_does_not_answer_in_time_is_reported_not_waited_for(run_cli, cluster: LocalRayCluster) -> None:  # type: ignore[no-untyped-def]
    # Workers that take 60 s to start: the probe cannot answer within the 4 s allowed.
    slow = {"py_executable": f"/bin/sh -c 'sleep 60; exec \"$0\" \"$@\"' {sys.executable}"}
    started = time.monotonic()
    r = run_cli("doctor", "--ray", cluster.address, "--timeout", "4", "--runtime-env", json.dumps(slow), "--json")
    took = time.monotonic() - started
    assert r.code == 1
    nodes = json.loads(r.out)["nodes"]
    assert [n["answer"] for n in nodes] == ["timeout", "timeout"]
    assert all(n["issues"][0]["text"].startswith("no answer within 4 s") for n in nodes)
    assert took < 30
