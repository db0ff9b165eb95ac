"""``llmenv ray-env``: the runtime environment for a project, the Ray version gate, and the output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmenv.rayenv import MIN_RAY, build_variables, to_yaml

LOCK = """version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "proj"
version = "0.1.0"
source = {{ virtual = "." }}

[[package]]
name = "ray"
version = "{ray}"
source = {{ registry = "https://pypi.org/simple" }}
"""


def _project(
    root: Path,
    *,
    ray: str | None = "2.49.2",
    lock: bool = True,
    extra: str = "",
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["ray"]\n' + extra
    )
    if lock:
        text = LOCK.format(ray=ray or "0")
        if ray is None:
            text = text.split('[[package]]\nname = "ray"')[0]
        (root / "uv.lock").write_text(text)
    return root


def _venv(root: Path, *, python: str = "3.11.7", ray: str | None = None) -> None:
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion_info = {python}\n")
    if ray:
        info = venv / "lib" / "python3.11" / "site-packages" / f"ray-{ray}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ray\nVersion: {ray}\n")


def test_runtime_env_runs_workers_under_uv_run_frozen_in_the_uploaded_project(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = _project(tmp_path / "p")
    _venv(proj)
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path, environ={"UV_CACHE_DIR": ""})
    assert r.code == 0, r.err
    env = json.loads(r.out)
    assert env == {
        "working_dir": str(proj),
        "py_executable": "uv run --frozen --python 3.11.7 python",
        "excludes": ["/.venv/"],
    }
    assert "ray 2.49.2 (from uv.lock)" in r.err


def test_env_vars_carry_the_build_variables_and_the_uv_cache(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    extra = (
        "\n[tool.uv.extra-build-variables]\n"
        'flash-attn = { FLASH_ATTN_CUDA_ARCHS = "90", MAX_JOBS = "8", NVCC_THREADS = "2" }\n'
    )
    _project(tmp_path / "p", extra=extra)
    r = run_cli("ray-env", "--project", "p", "--uv-cache-dir", "/local/uv", "--python", "3.12.3", cwd=tmp_path)
    assert r.code == 0, r.err
    env = json.loads(r.out)
    assert env["env_vars"] == {
        "FLASH_ATTN_CUDA_ARCHS": "90",
        "MAX_JOBS": "8",
        "NVCC_THREADS": "2",
        "UV_CACHE_DIR": "/local/uv",
    }
    assert env["py_executable"] == "uv run --frozen --python 3.12.3 python"
    # UV_CACHE_DIR set in the environment is passed on too.
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path, environ={"UV_CACHE_DIR": "/scratch/uv"})
    assert json.loads(r.out)["env_vars"]["UV_CACHE_DIR"] == "/scratch/uv"


def test_a_ray_older_than_2_43_is_refused_naming_the_version(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(tmp_path / "p", ray="2.42.1")
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path)
    assert r.code == 2
    assert r.out == ""
    assert r.err.splitlines()[0] == (
        "llmenv: error: ray 2.42.1 (in uv.lock) cannot run workers under uv: the runtime-env field "
        f"py_executable needs Ray >= {MIN_RAY}"
    )
    assert "Traceback" not in r.err


def test_the_ray_installed_in_the_venv_counts_when_the_lock_has_none(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = _project(tmp_path / "p", ray=None)
    _venv(proj, ray="2.40.0")
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path)
    assert r.code == 2 and "ray 2.40.0 (in .venv of the project)" in r.err
    # Without Ray anywhere, the workers could not start: said in one line.
    proj2 = _project(tmp_path / "q", ray=None)
    assert proj2.exists()
    r = run_cli("ray-env", "--project", "q", cwd=tmp_path)
    assert r.code == 2 and "ray is not a dependency of the project" in r.err


def test_no_lock_no_project_and_conflicting_build_variables_are_usage_errors(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(tmp_path / "nolock", lock=False)
    r = run_cli("ray-env", "--project", "nolock", cwd=tmp_path)
    assert r.code == 2 and "no uv.lock" in r.err
    r = run_cli("ray-env", "--project", "nowhere", cwd=tmp_path)
    assert r.code == 2 and "no pyproject.toml" in r.err
    extra = '\n[tool.uv.extra-build-variables]\na = { MAX_JOBS = "4" }\nb = { MAX_JOBS = "8" }\n'
    _project(tmp_path / "c", extra=extra)
    r = run_cli("ray-env", "--project", "c", cwd=tmp_path)
    assert r.code == 2 and "MAX_JOBS='4' for a but '8' for b" in r.err


def test_python_comes_from_python_version_then_the_recorded_target(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = _project(tmp_path / "p", extra='\n[tool.llmenv.target]\nos = "linux"\narch = "x86_64"\npython = "3.12"\n')
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path)
    assert json.loads(r.out)["py_executable"] == "uv run --frozen --python 3.12 python"
    (proj / ".python-version").write_text("3.12.9\n")
    r = run_cli("ray-env", "--project", "p", cwd=tmp_path)
    assert json.loads(r.out)["py_executable"] == "uv run --frozen --python 3.12.9 python"


def test_uv_path_offline_and_extra_uv_run_options(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(tmp_path / "p")
    r = run_cli(
        "ray-env", "--project", "p", "--uv", "/opt/uv bin/uv", "--offline", "--python", "3.11.7",
        "--", "--extra", "vllm", "--no-dev", cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert json.loads(r.out)["py_executable"] == (
        "'/opt/uv bin/uv' run --frozen --offline --python 3.11.7 --extra vllm --no-dev python"
    )
    r = run_cli("ray-env", "--project", "p", "--", "--with", "numpy", cwd=tmp_path)
    assert r.code == 2 and "--with" in r.err


def test_shared_mode_runs_the_synced_venv_directly(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = _project(tmp_path / "p")
    r = run_cli("ray-env", "--project", "p", "--shared", cwd=tmp_path)
    assert r.code == 1 and "llmenv sync" in r.err
    _venv(proj)
    r = run_cli("ray-env", "--project", "p", "--shared", cwd=tmp_path, environ={"UV_CACHE_DIR": ""})
    assert r.code == 0, r.err
    venv = proj / ".venv"
    assert json.loads(r.out) == {
        "py_executable": str(venv / "bin" / "python"),
        "env_vars": {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:${{PATH}}"},
    }


def test_yaml_output_reads_back_as_the_json_output(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    yaml = pytest.importorskip("yaml")
    extra = '\n[tool.uv.extra-build-variables]\nflash-attn = { FLASH_ATTN_CUDA_ARCHS = "80;90", X = "a: b # c" }\n'
    _project(tmp_path / "p", extra=extra)
    j = run_cli("ray-env", "--project", "p", "--python", "3.11.7", cwd=tmp_path)
    y = run_cli("ray-env", "--project", "p", "--python", "3.11.7", "--format", "yaml", cwd=tmp_path)
    assert y.code == 0, y.err
    assert yaml.safe_load(y.out) == json.loads(j.out)
    assert "working_dir:" in y.out and "{" not in y.out.split("\n")[0]


def test_to_yaml_quotes_every_string_and_handles_nesting() -> None:
    yaml = pytest.importorskip("yaml")
    value = {"a": ["x", {"b": "yes", "c": []}], "weird key": "null", "n": 3, "t": True, "e": {}, "z": None}
    assert yaml.safe_load(to_yaml(value)) == value


def test_build_variables_merge_packages() -> None:
    doc = {"tool": {"uv": {"extra-build-variables": {"flash-attn": {"A": "1"}, "deepspeed": {"B": 2, "A": "1"}}}}}
    assert build_variables(doc) == {"A": "1", "B": "2"}
    assert build_variables({}) == {}
