"""The uv mechanism, proved with the real uv: a project whose ``exclude-dependencies`` lists the base's packages
and whose environment links to the base's site folders locks and syncs (offline, against a local index that
*does* offer a stock torch 2.6.0 and its NCCL) without installing a second torch, imports the base's torch, and
leaves every file of the base as it was. Without the exclusions the same sync puts a stock torch into the
environment, shadowing the base's: the control that shows the exclusions are what protects it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from llmenv.base import probe_interpreter, read_base
from llmenv.base.link import PTH_NAME, exclusions, link_environment, linked_site, shadowing, site_packages

from .fake_base import NGC_TORCH, FakeBase, hashes, make_fake_base, uv_binary
from .wheelfactory import make_wheel


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeBase, Path]:
    root = tmp_path_factory.mktemp("containers")
    base = make_fake_base(root)
    index = root / "index"  # what PyPI / download.pytorch.org would offer
    make_wheel(
        index, "torch", "2.6.0", requires=["nvidia-nccl-cu12==2.21.5 ; sys_platform == 'linux'", "sympy"]
    )
    make_wheel(index, "nvidia-nccl-cu12", "2.21.5", module=False, files={"nvidia/nccl/lib/libnccl.so.2": "x"})
    make_wheel(index, "sympy", "1.13.3")
    make_wheel(index, "filelock", "3.18.0")
    make_wheel(index, "vllm", "0.8.4", requires=["torch==2.6.0", "transformers>=4.48"])
    make_wheel(index, "transformers", "4.50.0", requires=["numpy>=1.17", "filelock"])
    make_wheel(index, "numpy", "2.2.4")
    return base, index


def _project(folder: Path, index: Path, exclude: list[str]) -> Path:
    folder.mkdir()
    excl = "".join(f'    "{n}",\n' for n in exclude)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = "==3.12.*"\n'
        'dependencies = ["vllm==0.8.4", "torch"]\n\n'
        f"[tool.uv]\nexclude-dependencies = [\n{excl}]\n\n"
        f'[[tool.uv.index]]\nname = "local"\nurl = "{index}"\nformat = "flat"\ndefault = true\n'
    )
    return folder


def _uv(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_NO_PROGRESS": "1", "UV_OFFLINE": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([uv_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _imported_torch(python: Path) -> dict[str, str]:
    code = "import json, torch, importlib.metadata as m; print(json.dumps({'file': torch.__file__, 'version': m.version('torch')}))"
    p = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(p.stdout))


def test_lock_and_sync_keep_the_base_torch(world: tuple[FakeBase, Path], tmp_path: Path) -> None:
    fake, index = world
    base = read_base(probe_interpreter(fake.python), environ={}, origin="--base-python")
    before = hashes(fake.site)
    project = _project(tmp_path / "app", index, exclusions(base.names()))
    venv = project / ".venv"
    assert _uv(["venv", "-q", "--python", fake.python, str(venv)], project).returncode == 0
    link_environment(venv, base.site, base.minor)
    lock = _uv(["lock"], project)
    assert lock.returncode == 0, lock.stderr
    locked = {
        line.split('"')[1]
        for line in (project / "uv.lock").read_text().splitlines()
        if line.startswith("name = ")
    }
    # No torch, NCCL, sympy or filelock: the base has them.
    assert locked == {"app", "vllm", "transformers", "numpy"}
    sync = _uv(["sync"], project)
    assert sync.returncode == 0, sync.stderr
    assert "torch" not in sync.stderr and "nccl" not in sync.stderr
    site = site_packages(venv, base.minor)
    assert shadowing(site, base.names()) == {}
    assert (site / PTH_NAME).is_file() and linked_site((site / PTH_NAME).read_text()) == base.site
    seen = _imported_torch(venv / "bin" / "python")
    assert seen == {"file": str(fake.site / "torch" / "__init__.py"), "version": NGC_TORCH}
    # A second sync (what `uv run` does first) changes nothing and keeps the link; the base is untouched.
    again = _uv(["sync"], project)
    assert again.returncode == 0 and (site / PTH_NAME).is_file()
    assert hashes(fake.site) == before
    assert read_base(probe_interpreter(fake.python), environ={}, origin="").torch.version == NGC_TORCH  # type: ignore[union-attr]


def test_without_the_exclusions_uv_installs_a_second_torch(
    world: tuple[FakeBase, Path], tmp_path: Path
) -> None:
    fake, index = world
    base = read_base(probe_interpreter(fake.python), environ={}, origin="--base-python")
    before = hashes(fake.site)
    project = _project(tmp_path / "app", index, [])
    venv = project / ".venv"
    assert _uv(["venv", "-q", "--python", fake.python, str(venv)], project).returncode == 0
    link_environment(venv, base.site, base.minor)
    assert _uv(["lock"], project).returncode == 0
    assert _uv(["sync"], project).returncode == 0
    site = site_packages(venv, base.minor)
    shadows = shadowing(site, base.names())
    assert shadows["torch"][0] == "2.6.0" and shadows["nvidia-nccl-cu12"][0] == "2.21.5"
    assert shadows["torch"][1].endswith(".dist-info") and "site-packages" in shadows["torch"][1]
    assert _imported_torch(venv / "bin" / "python")["version"] == "2.6.0"  # the stock one wins
    assert hashes(fake.site) == before  # the base itself is still intact: the venv's copy only shadows it
