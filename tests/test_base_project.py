"""A project that reuses a base (``[tool.llmenv.base]``): ``llmenv sync`` makes its environment from the base
interpreter, links it, runs the real uv and refuses a second torch; ``doctor``'s ``base`` check sees the base
torch, a missing link, a shadowing copy and an unmet requirement. Offline, on the fake NGC base."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from llmenv.base import probe_interpreter, read_base
from llmenv.base.link import PTH_NAME, exclusions, site_packages
from llmenv.base.model import BaseEnvironment, BaseRecord
from llmenv.base.project import read_record
from llmenv.doctor.base import check_base
from llmenv.errors import UsageError

from .conftest import Result, fake_system
from .fake_base import NGC_TORCH, FakeBase, hashes, make_fake_base, uv_binary
from .wheelfactory import make_wheel

RunCli = Callable[..., Result]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeBase, BaseEnvironment, Path]:
    root = tmp_path_factory.mktemp("baseproject")
    fake = make_fake_base(root)
    base = read_base(probe_interpreter(fake.python), environ={}, origin="--base-python")
    index = root / "index"
    make_wheel(index, "torch", "2.6.0", requires=["nvidia-nccl-cu12==2.21.5", "sympy"])
    make_wheel(index, "nvidia-nccl-cu12", "2.21.5", module=False, files={"nvidia/nccl/lib/libnccl.so.2": "x"})
    make_wheel(index, "sympy", "1.13.3")
    make_wheel(index, "filelock", "3.18.0")
    make_wheel(index, "vllm", "0.8.4", requires=["torch==2.6.0", "numpy"])
    make_wheel(index, "newext", "1.0", requires=["torch>=2.7"])
    make_wheel(index, "numpy", "2.2.4")
    return fake, base, index


def _write(
    folder: Path, base: BaseEnvironment, index: Path, deps: list[str], *, exclude: bool = True
) -> Path:
    folder.mkdir(parents=True)
    rec = base.record()
    excl = "".join(f'    "{n}",\n' for n in (exclusions(base.names()) if exclude else []))
    site = ", ".join(f'"{s}"' for s in rec["site"])
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = "=={base.minor}.*"\n'
        f"dependencies = {json.dumps(deps)}\n\n"
        f"[tool.uv]\nexclude-dependencies = [\n{excl}]\n\n"
        f'[[tool.uv.index]]\nname = "local"\nurl = "{index}"\nformat = "flat"\ndefault = true\n\n'
        f'[tool.llmenv.base]\npython = "{rec["python"]}"\npython-version = "{rec["python-version"]}"\n'
        f'site = [{site}]\ntorch = "{rec["torch"]}"\n'
    )
    return folder


def _env() -> dict[str, str]:
    return {"UV_OFFLINE": "1", "UV_NO_PROGRESS": "1", "VIRTUAL_ENV": ""}


def _torch_of(python: Path) -> str:
    code = "import torch, importlib.metadata as m; print(torch.__file__, m.version('torch'))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_sync_makes_the_environment_from_the_base_and_links_it(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    fake, base, index = world
    before = hashes(fake.site)
    project = _write(tmp_path / "app", base, index, ["vllm==0.8.4", "torch"])
    r = run_cli("sync", "--project", str(project), environ=_env())
    assert r.code == 0, r.err
    assert "uses the base's packages" in r.err
    venv = project / ".venv"
    assert f"version_info = {base.python_version}" in (venv / "pyvenv.cfg").read_text()
    assert (site_packages(venv, base.minor) / PTH_NAME).is_file()
    assert _torch_of(venv / "bin" / "python") == f"{fake.site / 'torch' / '__init__.py'} {NGC_TORCH}"
    # A stray torch put into the environment by hand: the next llmenv sync removes it (uv sync is exact) and
    # the link is written again when it was deleted.
    install = [uv_binary(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--no-deps"]
    subprocess.run([*install, "--no-index", "--find-links", str(index), "torch==2.6.0"], check=True)
    (site_packages(venv, base.minor) / PTH_NAME).unlink()
    r = run_cli("sync", "--project", str(project), environ=_env())
    assert r.code == 0, r.err
    assert _torch_of(venv / "bin" / "python").endswith(NGC_TORCH)
    assert hashes(fake.site) == before


def test_sync_refuses_a_second_torch(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    fake, base, index = world
    before = hashes(fake.site)
    project = _write(tmp_path / "app", base, index, ["vllm==0.8.4"], exclude=False)
    r = run_cli("sync", "--project", str(project), environ=_env())
    assert r.code == 1
    assert "has its own torch 2.6.0" in r.err and "shadows the base's 2.6.0a0+ecf3bae40a.nv25.01" in r.err
    assert "fix: add nvidia-nccl-cu12 torch to [tool.uv] exclude-dependencies" in r.err
    assert hashes(fake.site) == before


def _synced(
    world: tuple[FakeBase, BaseEnvironment, Path], folder: Path, deps: list[str], run_cli: RunCli
) -> Path:
    _, base, index = world
    project = _write(folder, base, index, deps)
    assert run_cli("sync", "--project", str(project), environ=_env()).code == 0
    return project


def test_doctor_sees_the_base_torch_and_the_relaxed_pin(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    project = _synced(world, tmp_path / "app", ["vllm==0.8.4"], run_cli)
    system = dataclasses.replace(fake_system(), run_long=None)  # the real probe, in the real environment
    r = run_cli("doctor", "--project", str(project), "--json", system=system, environ=_env())
    found = {f["check"]: f for f in json.loads(r.out)["findings"]}
    base = found["base"]
    assert base["status"] == "ok", base
    assert base["summary"] == f"uses the base's torch {NGC_TORCH}; nothing in the environment shadows it"
    assert any("vllm 0.8.4 requires torch==2.6.0, relaxed for the base's" in e for e in base["evidence"])
    # The package check holds vLLM's pin against the same rule (NVIDIA's 2.6.0a0+… is its build of 2.6.0).
    vllm = found["vllm"]  # a stub without vllm._C: a warning for that, nothing about its torch pin
    assert vllm["status"] != "fail" and "requires torch" not in vllm["summary"], vllm
    assert any(
        "torch==2.6.0 is relaxed for torch 2.6.0a0+ecf3bae40a.nv25.1: NVIDIA's" in e for e in vllm["evidence"]
    )


def test_doctor_fails_a_missing_link_a_shadow_and_an_unmet_pin(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    _, base, index = world
    project = _synced(world, tmp_path / "app", ["vllm==0.8.4"], run_cli)
    record = read_record(project)
    assert isinstance(record, BaseRecord)
    venv = project / ".venv"
    site = site_packages(venv, base.minor)
    (site / PTH_NAME).unlink()
    [f] = check_base(venv, record)
    assert f.status == "fail" and f.summary.endswith(
        "is missing: the environment does not see the base's packages"
    )
    py = str(venv / "bin" / "python")
    install = [uv_binary(), "pip", "install", "-q", "--python", py, "--no-deps", "--no-index", "--find-links"]
    subprocess.run([*install, str(index), "torch==2.6.0", "newext==1.0"], check=True)
    [f] = check_base(venv, record, {"torch": {"location": str(site / "torch")}})
    text = "\n".join([f.summary, *f.evidence])
    assert "the environment has its own torch 2.6.0" in text and "shadowing the base's" in text
    assert f"import torch loads {site / 'torch'}, not the base's" in text
    subprocess.run([uv_binary(), "pip", "uninstall", "-q", "--python", py, "torch"], check=True)
    [f] = check_base(venv, record)
    assert "newext 1.0 requires torch>=2.7; the base has 2.6.0a0+ecf3bae40a.nv25.01" in [
        f.summary,
        *f.evidence,
    ]
    assert f.status == "fail"


def test_doctor_warns_when_the_image_changed(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    project = _synced(world, tmp_path / "app", ["vllm==0.8.4"], run_cli)
    record = read_record(project)
    assert record is not None
    [f] = check_base(project / ".venv", dataclasses.replace(record, torch="2.5.0a0+abcdef0.nv24.12"))
    assert f.status == "warn" and "the project was made for 2.5.0a0+abcdef0.nv24.12" in f.summary
    [f] = check_base(project / ".venv", dataclasses.replace(record, site=("/nonexistent/site",)))
    assert f.status == "fail" and "do not exist here" in f.summary


def test_a_malformed_record_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.llmenv.base]\npython = "/usr/bin/python3"\nsite = "x"\n')
    with pytest.raises(UsageError, match=r"\[tool.llmenv.base\].python-version"):
        read_record(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert read_record(tmp_path) is None
    assert os.path.exists(tmp_path / "pyproject.toml")


def test_a_module_the_base_has_under_another_name_is_a_shadow_too(tmp_path: Path) -> None:
    """xgrammar pulls PyPI's ``triton``; a base whose triton module comes from ``pytorch-triton`` (or any other
    name) is shadowed all the same: the check goes by the modules, not only the names."""
    from llmenv.base.project import shadows

    base_site = tmp_path / "base"
    make_wheel(
        tmp_path / "w", "pytorch-triton", "3.1.0+cf34004b8", module=False, files={"triton/__init__.py": ""}
    )
    make_wheel(tmp_path / "w", "triton", "3.2.0")  # a package named triton: triton/__init__.py
    make_wheel(tmp_path / "w", "nvidia-cudnn-cu12", "9.1.0.70", module=False, files={"nvidia/cudnn/x.so": ""})
    make_wheel(tmp_path / "w", "nvidia-nccl-cu12", "2.21.5", module=False, files={"nvidia/nccl/y.so": ""})
    import zipfile

    def install(name: str, site: Path) -> None:
        with zipfile.ZipFile(next((tmp_path / "w").glob(f"{name}-*.whl"))) as z:
            z.extractall(site)

    install("pytorch_triton", base_site)
    install("nvidia_cudnn_cu12", base_site)
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.12" / "site-packages"
    install("triton", site)
    install("nvidia_nccl_cu12", site)  # the nvidia/ namespace merges: not a shadow of the base's cuDNN
    record = BaseRecord(python="/usr/bin/python3", python_version="3.12", site=(str(base_site),))
    [s] = shadows(venv, record)
    assert (s.name, s.version, s.where, s.fatal) == ("triton", "3.2.0", "module triton", True)
    assert s.base_version == str(base_site / "triton")


def test_llmenv_lock_uses_the_base_interpreter(
    world: tuple[FakeBase, BaseEnvironment, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    """uv lock needs an interpreter; on a base it gets the base's (none else may exist: uv would download one)."""
    _, base, index = world
    project = _write(tmp_path / "app", base, index, ["vllm==0.8.4"])
    r = run_cli("lock", "--project", str(project), environ=_env())
    assert r.code == 0, r.err
    assert f"Using CPython {base.python_version} interpreter at: {base.python}" in r.err
