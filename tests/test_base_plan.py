"""Planning on a base: ``plan`` / ``init --base-python`` on the fake NGC base (a venv with NVIDIA's torch
``2.6.0a0+ecf3bae40a.nv25.01``), the image detected from its variables and files, and the project ``init
--lock`` writes locked by the real uv against a loopback index (which offers a stock torch 2.6.0 too) and
synced by ``llmenv sync`` with the base untouched (every RECORD file's hash, and its version)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import tomlkit

from llmenv.detect import _real_run

from .conftest import Result, fake_system
from .fake_base import NGC_TORCH, FakeBase, hashes, make_fake_base, torch_files
from .pypi_server import IndexServer
from .wheelfactory import make_wheel

RunCli = Callable[..., Result]
H200 = ("--driver", "570.86.10", "--gpu", "9.0")


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> FakeBase:
    return make_fake_base(tmp_path_factory.mktemp("planbase"))


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """PyPI standing in: a stock torch 2.6.0 with its NCCL (what uv would install without the exclusions),
    and a vLLM that pins it."""
    folder = tmp_path_factory.mktemp("pypi")
    server = IndexServer()
    wheels = [
        make_wheel(
            folder, "torch", "2.6.0", requires=["nvidia-nccl-cu12==2.21.5 ; sys_platform == 'linux'", "sympy"]
        ),
        make_wheel(
            folder, "nvidia-nccl-cu12", "2.21.5", module=False, files={"nvidia/nccl/lib/libnccl.so.2": "x"}
        ),
        make_wheel(folder, "sympy", "1.13.3"),
        make_wheel(folder, "filelock", "3.18.0"),
        make_wheel(folder, "vllm", "0.8.4", requires=["torch==2.6.0", "transformers>=4.48", "filelock"]),
        make_wheel(folder, "transformers", "4.51.0", requires=["numpy>=1.17", "filelock"]),
        make_wheel(folder, "numpy", "2.2.4"),
        # vLLM 0.8.4 pins these (the bundled snapshot's metadata); the fake base has neither
        make_wheel(folder, "torchaudio", "2.6.0", requires=["torch==2.6.0"]),
        make_wheel(folder, "torchvision", "0.21.0", requires=["torch==2.6.0", "numpy"]),
    ]
    for w in wheels:
        server.add(w.name.split("-")[0].replace("_", "-"), w)
    server.start()
    yield server
    server.stop()


def _system(**kw: object) -> object:
    """A fake machine whose commands run for real (the base interpreter is run once)."""

    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        return _real_run(argv)

    return dataclasses.replace(fake_system(**kw), run=run)  # type: ignore[arg-type]


def _env() -> dict[str, str]:
    return {"UV_NO_PROGRESS": "1", "VIRTUAL_ENV": ""}


def test_plan_fixes_the_base_torch_and_relaxes_the_engine_pin(fake: FakeBase, run_cli: RunCli) -> None:
    r = run_cli("plan", "vllm==0.8.4", "--base-python", fake.python, *H200, "--json", system=_system())
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["packages"]["torch"] == {"version": NGC_TORCH, "source": "base", "variant": "cu128"}
    assert plan["packages"]["vllm"]["version"] == "0.8.4"
    base = plan["target"]["base"]
    assert base["torch"]["version"] == NGC_TORCH and base["torch"]["cxx11_abi"] is True
    assert base["python"] == fake.python and "nvidia-nccl-cu12" in base["packages"]
    assert plan["target"]["python"] == base["python_version"].rsplit(".", 1)[0]
    why = "\n".join(plan["reasons"])
    assert f"vllm 0.8.4 pins torch==2.6.0, relaxed for the base's {NGC_TORCH}: NVIDIA's pre-release" in why
    assert f"torch {NGC_TORCH} is the base's" in why and "exclude-dependencies" in why
    assert "CUDA 12.8 (" in why and "TorchConfig.cmake" in why
    assert any("built against PyPI's torch 2.6.0" in w for w in plan["warnings"])
    text = run_cli("plan", "vllm==0.8.4", "--base-python", fake.python, *H200, system=_system())
    assert "the base's (never installed)" in text.out and "on the base" in text.out


def test_an_engine_that_needs_another_torch_is_refused(fake: FakeBase, run_cli: RunCli) -> None:
    r = run_cli("plan", "vllm==0.9.0.1", "--base-python", fake.python, *H200, system=_system())
    assert r.code == 1
    assert f"pins torch==2.7.0; the base's torch {NGC_TORCH}" in r.err and "is fixed" in r.err


def test_several_platforms_on_a_base_are_refused(fake: FakeBase, run_cli: RunCli) -> None:
    # A base's torch is one machine's (issue 14): its lock cannot cover other platforms.
    two = ("--platform", "linux-x86_64", "--platform", "linux-aarch64")
    r = run_cli("plan", "torch", "--base-python", fake.python, *H200, *two, system=_system())
    assert r.code == 2 and "on a base environment" in r.err and "Traceback" not in r.err


def test_bad_base_input_is_one_line(fake: FakeBase, run_cli: RunCli, tmp_path: Path) -> None:
    r = run_cli("plan", "torch", "--base-python", str(tmp_path / "nope"), *H200, system=_system())
    assert r.code == 2 and "no such executable file" in r.err and "Traceback" not in r.err
    r = run_cli("plan", "torch", "--base-python", fake.python, "--python", "3.10", *H200, system=_system())
    assert r.code == 2 and "contradicts the base interpreter" in r.err
    r = run_cli("plan", "torch", "--base-python", "no-such-python-here", *H200, system=_system())
    assert r.code == 2 and "no such command on PATH" in r.err


def test_init_lock_and_sync_leave_the_base_as_it_was(
    fake: FakeBase, index: IndexServer, run_cli: RunCli, tmp_path: Path
) -> None:
    before = hashes(fake.site)
    project = tmp_path / "app"
    args = ("init", str(project), "vllm==0.8.4", "--base-python", fake.python, *H200, "--mirror", index.url)
    r = run_cli(*args, "--lock", system=_system(), environ=_env())
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    excluded = doc["tool"]["uv"]["exclude-dependencies"]
    assert {"torch", "nvidia-nccl-cu12", "sympy", "filelock"} <= set(excluded)
    assert doc["tool"]["llmenv"]["base"]["torch"] == NGC_TORCH
    assert doc["tool"]["llmenv"]["base"]["python"] == fake.python
    assert "torch" in doc["project"]["dependencies"] or any(
        d.startswith("vllm") for d in doc["project"]["dependencies"]
    )
    assert "sources" not in doc["tool"]["uv"] or "torch" not in doc["tool"]["uv"]["sources"]
    lock = (project / "uv.lock").read_text()
    names = {line.split('"')[1] for line in lock.splitlines() if line.startswith("name = ")}
    assert "vllm" in names and not names & {"torch", "nvidia-nccl-cu12", "sympy", "filelock"}
    r = run_cli("sync", "--project", str(project), system=_system(), environ=_env())
    assert r.code == 0, r.err
    code = "import torch, importlib.metadata as m, vllm; print(torch.__file__, m.version('torch'))"
    out = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(fake.site / "torch" / "__init__.py"), NGC_TORCH]
    assert hashes(fake.site) == before
    # A re-run reads the recorded base again and changes nothing; --base-python none forgets it.
    text = (project / "pyproject.toml").read_text()
    r = run_cli("init", str(project), system=_system(), environ=_env())
    assert r.code == 0, r.err
    assert (project / "pyproject.toml").read_text() == text
    r = run_cli("init", str(project), "vllm==0.8.4", "--base-python", "none", *H200, system=_system())
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    assert "exclude-dependencies" not in doc["tool"]["uv"] and "base" not in doc["tool"]["llmenv"]


def _no_other_python(tmp_path: Path) -> dict[str, str]:
    """An environment where uv finds no Python but the one it is told (none on PATH, no managed ones, no
    downloads): a lock that looks for the ``.python-version`` Python fails."""
    empty = tmp_path / "no-pythons"
    empty.mkdir(exist_ok=True)
    return {
        **_env(),
        "PATH": str(empty),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON_INSTALL_DIR": str(empty),
        "UV_PYTHON_PREFERENCE": "only-managed",
    }


def test_plan_verify_locks_with_the_base_interpreter(
    fake: FakeBase, index: IndexServer, run_cli: RunCli, tmp_path: Path
) -> None:
    """plan --verify on a base: the scratch lock runs with the base interpreter (``uv lock --python BASE``), as
    init --lock does; uv never looks for (or downloads) the ``.python-version`` Python."""
    args = ("plan", "vllm==0.8.4", "--base-python", fake.python, *H200, "--mirror", index.url, "--verify")
    r = run_cli(*args, system=_system(), environ=_no_other_python(tmp_path))
    assert r.code == 0, r.err
    assert "uv lock succeeded" in r.err and "verified: uv lock succeeded" in r.out
    project = tmp_path / "app"
    init = ("init", str(project), "vllm==0.8.4", "--base-python", fake.python, *H200, "--mirror", index.url)
    r = run_cli(*init, "--lock", system=_system(), environ=_no_other_python(tmp_path))
    assert r.code == 0, r.err
    assert (project / "uv.lock").is_file()


def _ngc_tree(root: Path) -> str:
    site = root / "usr/local/lib/python3.12/dist-packages"
    version = "2.6.0a0+ecf3bae40a.nv25.1"
    (site / f"torch-{version}.dist-info").mkdir(parents=True)
    (site / f"torch-{version}.dist-info" / "METADATA").write_text(f"Name: torch\nVersion: {version}\n")
    for rel, text in torch_files(version, "12.8", 1).items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.12").write_text("")
    os.symlink("python3.12", root / "usr/bin/python3")
    return version


def test_the_image_is_detected_and_none_plans_without_it(run_cli: RunCli, tmp_path: Path) -> None:
    version = _ngc_tree(tmp_path / "image")
    env = {"NVIDIA_PYTORCH_VERSION": "25.01", "TORCH_CUDA_ARCH_LIST": "8.0 8.6 9.0 10.0 12.0+PTX"}
    gpu = fake_system(environ=env, root=str(tmp_path / "image"), python="3.11")
    from llmenv.detect import NvmlReading
    from llmenv.target import gpus_from_capabilities

    system = dataclasses.replace(
        gpu,
        nvml=lambda: NvmlReading(
            driver="570.86.10", cuda_driver_version=12080, gpus=gpus_from_capabilities(["9.0"])
        ),
    )
    r = run_cli("plan", "torch", "--json", system=system)
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["packages"]["torch"] == {"version": version, "source": "base", "variant": "cu128"}
    assert plan["target"]["python"] == "3.12"  # the base interpreter's, not this machine's 3.11
    assert plan["target"]["base"]["origin"].startswith("NGC 25.01 (NVIDIA_PYTORCH_VERSION=25.01")
    assert plan["target"]["base"]["torch"]["archs"] == ["8.0", "8.6", "9.0", "10.0", "12.0+PTX"]
    r = run_cli("detect", system=system)
    assert f"base       torch {version} (cu128)" in r.out and "/usr/bin/python3 (Python 3.12)" in r.out
    r = run_cli("plan", "torch", "--base-python", "none", "--json", system=system)
    assert (
        json.loads(r.out)["packages"]["torch"]["source"] == "index"
        and "base" not in json.loads(r.out)["target"]
    )


def test_a_base_torch_without_code_for_the_gpu_is_no_plan(run_cli: RunCli, tmp_path: Path) -> None:
    _ngc_tree(tmp_path / "image")
    env = {"NVIDIA_PYTORCH_VERSION": "25.01", "TORCH_CUDA_ARCH_LIST": "8.0 9.0"}
    from llmenv.detect import NvmlReading
    from llmenv.target import gpus_from_capabilities

    system = dataclasses.replace(
        fake_system(environ=env, root=str(tmp_path / "image")),
        nvml=lambda: NvmlReading(
            driver="570.86.10", cuda_driver_version=12080, gpus=gpus_from_capabilities(["12.0"])
        ),
    )
    r = run_cli("plan", "torch", system=system)
    assert r.code == 1 and "has no code for sm_120" in r.err


# ------------------------------------------------------------------------------------------ the rules, pure

from llmenv.backend import parse_cuda_version  # noqa: E402
from llmenv.base.model import BaseEnvironment, BasePackage, BaseTorch  # noqa: E402
from llmenv.errors import NoAnswer  # noqa: E402
from llmenv.indexes import torch_source  # noqa: E402
from llmenv.plan import Plan, make_plan  # noqa: E402
from llmenv.request import parse_specs  # noqa: E402
from llmenv.target import Target, gpus_from_capabilities  # noqa: E402

SITE = "/usr/local/lib/python3.12/dist-packages"


def _base(torch: str, cuda: str, abi: bool, **more: str) -> BaseEnvironment:
    pkgs = {n: BasePackage(name=n, version=v, location=SITE) for n, v in {"torch": torch, **more}.items()}
    t = BaseTorch(
        version=torch,
        cuda=parse_cuda_version(cuda),
        cxx11_abi=abi,
        abi_fact="f",
        cuda_fact="f",
        location=SITE,
    )
    return BaseEnvironment(
        python="/usr/bin/python3", python_version="3.12", site=(SITE,), packages=pkgs, torch=t
    )


def _plan(
    base: BaseEnvironment, *specs: str, driver: str = "570.86.10", cuda: str = "12.8", listings: object = None
) -> Plan:
    t = Target(
        python="3.12", driver=driver, cuda=parse_cuda_version(cuda), gpus=gpus_from_capabilities(["9.0"])
    )
    return make_plan(
        t.with_(base=base), parse_specs(specs, Path.cwd()), source=torch_source(None, None, None), listings=listings
    )


@pytest.mark.parametrize(
    ("torch", "cuda", "abi", "local"),
    [
        ("2.6.0a0+ecf3bae40a.nv25.01", "12.8", True, "cu12torch2.6cxx11abiTRUE"),  # NGC 25.01
        ("2.5.1+cu124", "12.4", False, "cu12torch2.5cxx11abiFALSE"),  # pytorch/pytorch 2.5.1 (conda)
    ],
)
def test_a_prebuilt_extension_wheel_fits_the_base_torch(torch: str, cuda: str, abi: bool, local: str) -> None:
    plan = _plan(_base(torch, cuda, abi), "torch", "flash-attn")
    fa = plan.packages["flash-attn"]
    assert fa.source == "prebuilt" and fa.url is not None and f"+{local}-cp312" in fa.url
    assert plan.packages["torch"].source == "base" and plan.packages["torch"].version == torch


def test_an_extension_the_base_has_is_the_base_s() -> None:
    base = _base("2.6.0a0+ecf3bae40a.nv25.01", "12.8", True, **{"flash-attn": "2.7.3"})
    plan = _plan(base, "torch", "flash-attn")
    assert plan.packages["flash-attn"].source == "base" and plan.packages["flash-attn"].version == "2.7.3"
    assert (
        "flash-attn" not in plan.extra.get("sources", {})
        and "flash-attn" in plan.extra["exclude-dependencies"]
    )
    assert "flash-attn 2.7.3 is the base's" in plan.reasons
    assert "flash-attn" in plan.dependencies  # as you wrote it: uv drops it (excluded)
    with pytest.raises(NoAnswer, match=r"flash-attn 2\.7\.3: excluded by your flash-attn>=2\.8"):
        _plan(base, "torch", "flash-attn>=2.8")


def test_no_source_build_against_a_base_torch() -> None:
    """No official flash-attn wheel is built for a CUDA 11 torch 2.6 (and here no wheel listing is read:
    mjun0812 has one): elsewhere the answer is a source build (with match-runtime); against a base torch it is not
    planned, and the reason says why."""
    from llmenv.sources.listing import Listings

    none = Listings(origin="file", path=None, generated=None, sources={})
    with pytest.raises(NoAnswer, match=r"a source build against the base.s torch needs --no-build-isolation"):
        _plan(_base("2.6.0+cu118", "11.8", False), "torch", "flash-attn", listings=none)


def test_the_base_torch_is_held_to_your_pins_and_the_engine_s() -> None:
    base = _base("2.6.0a0+ecf3bae40a.nv25.01", "12.8", True, torchaudio="2.5.0a0+1c4ab2b")
    with pytest.raises(
        NoAnswer, match=r"the base's torch 2.6.0a0\+ecf3bae40a.nv25.01 .* is fixed, and torch>=2.7"
    ):
        _plan(base, "torch>=2.7")
    plan = _plan(base, "torch==2.6.0")
    assert plan.packages["torch"].version == "2.6.0a0+ecf3bae40a.nv25.01"
    # vLLM 0.8.4 pins torchaudio==2.6.0, another than the base's: none other can be installed, so it is refused.
    with pytest.raises(
        NoAnswer, match=r"vllm 0.8.4 pins torchaudio==2.6.0; the base's torchaudio 2.5.0a0\+1c4ab2b is fixed"
    ):
        _plan(base, "vllm==0.8.4")


def test_a_driver_older_than_the_base_cuda_is_a_warning() -> None:
    plan = _plan(_base("2.6.0a0+ecf3bae40a.nv25.01", "12.8", True), "torch", driver="550.54.14", cuda="12.4")
    assert any("built with CUDA 12.8; the driver supports CUDA <= 12.4" in w for w in plan.warnings)
    assert plan.packages["torch"].source == "base"
