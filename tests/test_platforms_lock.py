"""One lock for several platforms, checked by the real uv against local stub indexes (no network).

Each test writes the project llmenv is designed to write (by hand, so the design itself is under test), checks that
``llmenv.platforms`` produces exactly its routing and environments, and locks it with the real uv: each platform's
torch must come from its own index, and ``required-environments`` must make uv refuse a platform whose index has
no wheel for it (torch 2.8.0 has aarch64 CUDA builds only as cu129: facts G2).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from llmenv.check import check_path
from llmenv.indexes import IndexSpec
from llmenv.platforms import PlatformBuild, environments, others_marker, torch_sources, unplanned

from .wheelfactory import make_wheel

X86 = "sys_platform == 'linux' and platform_machine == 'x86_64'"
ARM = "sys_platform == 'linux' and platform_machine == 'aarch64'"
PYTHON = next(iter(sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))), None)


def _uv() -> str:
    import shutil

    here = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uv"
    return str(here if here.exists() else shutil.which("uv"))


def manylinux(arch: str) -> str:
    return f"cp312-cp312-manylinux_2_28_{arch}"


def torch_wheels(folder: Path, version: str, arches: list[str], requires: list[str] | None = None) -> None:
    for arch in arches:
        make_wheel(folder, "torch", version, tag=manylinux(arch), requires=requires or [])


def write(project: Path, text: str) -> None:
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(text)


def lock(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_OFFLINE": "1"}
    if PYTHON is not None:
        env["UV_PYTHON"] = str(PYTHON)
    return subprocess.run(
        [_uv(), "lock", "--project", str(project)], capture_output=True, text=True, env=env, timeout=120
    )


def locked(project: Path, name: str) -> dict[str, dict[str, Any]]:
    """The locked versions of ``name``: version -> its lock entry."""
    data = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    return {p["version"]: p for p in data["package"] if p["name"] == name}


def wheel_names(entry: dict[str, Any]) -> list[str]:
    return [Path(w.get("path") or w.get("url") or w["filename"]).name for w in entry.get("wheels", [])]


def flat(name: str, path: Path, *, default: bool = False) -> IndexSpec:
    return IndexSpec(name=name, url=str(path), flat=True, explicit=not default, default=default)


pytestmark = pytest.mark.skipif(PYTHON is None, reason="needs a CPython 3.12 (pyenv) for uv to lock with")


def test_x86_64_cu128_and_aarch64_cu130_in_one_lock(tmp_path: Path) -> None:
    whl = tmp_path / "whl"
    for variant in ("cu128", "cu130", "cpu"):  # the real indexes carry both architectures for torch 2.9
        torch_wheels(whl / variant, f"2.9.1+{variant}", ["x86_64", "aarch64"])
    builds = [
        PlatformBuild(
            platform="linux-x86_64",
            version="2.9.1",
            variant="cu128",
            index=flat("pytorch-cu128", whl / "cu128"),
        ),
        PlatformBuild(
            platform="linux-aarch64",
            version="2.9.1",
            variant="cu130",
            index=flat("pytorch-cu130", whl / "cu130"),
        ),
    ]
    assert environments(["linux-x86_64", "linux-aarch64"]) == [X86, ARM]
    assert torch_sources(builds, ["torch"]) == {
        "torch": [{"index": "pytorch-cu128", "marker": X86}, {"index": "pytorch-cu130", "marker": ARM}]
    }
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.9.1"]

[tool.uv]
environments = ["{X86}", "{ARM}"]
required-environments = ["{X86}", "{ARM}"]

[[tool.uv.index]]
name = "pytorch-cu128"
url = "{whl / "cu128"}"
format = "flat"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu130"
url = "{whl / "cu130"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [
  {{ index = "pytorch-cu128", marker = "{X86}" }},
  {{ index = "pytorch-cu130", marker = "{ARM}" }},
]
''',
    )
    r = lock(project)
    assert r.returncode == 0, r.stderr
    torch = locked(project, "torch")
    assert set(torch) == {"2.9.1+cu128", "2.9.1+cu130"}  # no CPU build anywhere in the lock
    assert torch["2.9.1+cu128"]["source"]["registry"].endswith("cu128")
    assert torch["2.9.1+cu130"]["source"]["registry"].endswith("cu130")
    assert wheel_names(torch["2.9.1+cu128"]) == ["torch-2.9.1+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"]
    assert wheel_names(torch["2.9.1+cu130"]) == ["torch-2.9.1+cu130-cp312-cp312-manylinux_2_28_aarch64.whl"]


def test_aarch64_from_the_default_index_where_pypi_carries_cuda(tmp_path: Path) -> None:
    # torch 2.11 on PyPI is a CUDA 13 build on aarch64 too (facts G1): aarch64 needs no PyTorch index.
    whl = tmp_path / "whl"
    torch_wheels(whl / "cu126", "2.11.0+cu126", ["x86_64", "aarch64"])
    torch_wheels(whl / "pypi", "2.11.0", ["x86_64", "aarch64"])
    builds = [
        PlatformBuild(
            platform="linux-x86_64",
            version="2.11.0",
            variant="cu126",
            index=flat("pytorch-cu126", whl / "cu126"),
        ),
        PlatformBuild(platform="linux-aarch64", version="2.11.0", variant="cu130", index=None),
    ]
    assert torch_sources(builds, ["torch"]) == {"torch": [{"index": "pytorch-cu126", "marker": X86}]}
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.11.0"]

[tool.uv]
environments = ["{X86}", "{ARM}"]
required-environments = ["{X86}", "{ARM}"]

[[tool.uv.index]]
name = "pypi-stand-in"
url = "{whl / "pypi"}"
format = "flat"
default = true

[[tool.uv.index]]
name = "pytorch-cu126"
url = "{whl / "cu126"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [{{ index = "pytorch-cu126", marker = "{X86}" }}]
''',
    )
    r = lock(project)
    assert r.returncode == 0, r.stderr
    torch = locked(project, "torch")
    assert set(torch) == {"2.11.0+cu126", "2.11.0"}
    assert wheel_names(torch["2.11.0"]) == ["torch-2.11.0-cp312-cp312-manylinux_2_28_aarch64.whl"]


def test_required_environments_refuse_an_index_without_a_wheel_for_the_platform(tmp_path: Path) -> None:
    # torch 2.8.0's linux-aarch64 CUDA build is cu129 only (facts G2): routing aarch64 to cu128 must fail
    # loudly at lock time, not install something else on the node.
    whl = tmp_path / "whl"
    torch_wheels(whl / "cu128", "2.8.0+cu128", ["x86_64"])
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.8.0"]

[tool.uv]
environments = ["{X86}", "{ARM}"]
required-environments = ["{X86}", "{ARM}"]

[[tool.uv.index]]
name = "pytorch-cu128"
url = "{whl / "cu128"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [{{ index = "pytorch-cu128", marker = "({X86}) or ({ARM})" }}]
''',
    )
    r = lock(project)
    assert r.returncode != 0
    assert "aarch64" in r.stderr


def test_the_old_layout_gave_a_gh200_cpu_torch_silently(tmp_path: Path) -> None:
    # What llmenv wrote before: environments admit every Linux, every platform but x86_64 goes to the CPU
    # index. The lock is "fine" and a GH200 gets torch+cpu. The new layout names the planned platforms only.
    whl = tmp_path / "whl"
    torch_wheels(whl / "cu126", "2.9.1+cu126", ["x86_64", "aarch64"])
    torch_wheels(whl / "cpu", "2.9.1+cpu", ["x86_64", "aarch64"])
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.9.1"]

[tool.uv]
environments = ["sys_platform == 'linux'"]
required-environments = ["{X86}"]

[[tool.uv.index]]
name = "pytorch-cu126"
url = "{whl / "cu126"}"
format = "flat"
explicit = true

[[tool.uv.index]]
name = "pytorch-cpu"
url = "{whl / "cpu"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [
  {{ index = "pytorch-cu126", marker = "{X86}" }},
  {{ index = "pytorch-cpu", marker = "sys_platform != 'linux' or platform_machine != 'x86_64'" }},
]
''',
    )
    r = lock(project)
    assert r.returncode == 0, r.stderr
    torch = locked(project, "torch")
    assert "torch-2.9.1+cpu-cp312-cp312-manylinux_2_28_aarch64.whl" in wheel_names(torch["2.9.1+cpu"])
    # ...which is what unplanned() finds in such a file: a GPU Linux platform nobody planned...
    assert unplanned(["sys_platform == 'linux'"], ["linux-x86_64"]) == ["linux-aarch64"]
    assert unplanned([X86, ARM], ["linux-x86_64", "linux-aarch64"]) == []
    # ...and what `llmenv check` warns about (issue 14 item 4: the check branch's rule, on main)
    rules = {f.code for f in check_path(project / "pyproject.toml").findings}
    assert "gpu-platform-routed-to-cpu" in rules


def test_rocm_on_x86_64_and_cuda_on_aarch64_in_one_lock(tmp_path: Path) -> None:
    # A cluster of MI300X (x86_64) and GH200 (aarch64) nodes: ROCm builds exist for Linux x86_64 only (facts
    # H1), so each platform has its own accelerator. A ROCm torch needs its Triton from the same index, as a
    # direct dependency (uv docs, docs/guides/integration/pytorch.md @26a9dd4).
    whl = tmp_path / "whl"
    make_wheel(whl / "rocm6.4", "pytorch-triton-rocm", "3.4.0", tag=manylinux("x86_64"))
    torch_wheels(
        whl / "rocm6.4",
        "2.8.0+rocm6.4",
        ["x86_64"],
        requires=["pytorch-triton-rocm==3.4.0 ; platform_system == 'Linux'"],
    )
    torch_wheels(whl / "cu129", "2.8.0+cu129", ["x86_64", "aarch64"])
    builds = [
        PlatformBuild(
            platform="linux-x86_64",
            version="2.8.0",
            variant="rocm6.4",
            index=flat("pytorch-rocm6.4", whl / "rocm6.4"),
        ),
        PlatformBuild(
            platform="linux-aarch64",
            version="2.8.0",
            variant="cu129",
            index=flat("pytorch-cu129", whl / "cu129"),
        ),
    ]
    sources = torch_sources(builds, ["torch"])
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.8.0", "pytorch-triton-rocm ; {X86}"]

[tool.uv]
environments = ["{X86}", "{ARM}"]
required-environments = ["{X86}", "{ARM}"]

[[tool.uv.index]]
name = "pytorch-rocm6.4"
url = "{whl / "rocm6.4"}"
format = "flat"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu129"
url = "{whl / "cu129"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [
  {{ index = "pytorch-rocm6.4", marker = "{X86}" }},
  {{ index = "pytorch-cu129", marker = "{ARM}" }},
]
pytorch-triton-rocm = [{{ index = "pytorch-rocm6.4", marker = "{X86}" }}]
''',
    )
    assert sources["torch"] == [
        {"index": "pytorch-rocm6.4", "marker": X86},
        {"index": "pytorch-cu129", "marker": ARM},
    ]
    r = lock(project)
    assert r.returncode == 0, r.stderr
    torch = locked(project, "torch")
    assert set(torch) == {"2.8.0+rocm6.4", "2.8.0+cu129"}
    assert wheel_names(torch["2.8.0+rocm6.4"]) == [
        "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl"
    ]
    assert wheel_names(torch["2.8.0+cu129"]) == ["torch-2.8.0+cu129-cp312-cp312-manylinux_2_28_aarch64.whl"]
    triton = locked(project, "pytorch-triton-rocm")
    assert triton["3.4.0"]["source"]["registry"].endswith("rocm6.4")


def test_a_rocm_torch_without_its_triton_routed_does_not_lock(tmp_path: Path) -> None:
    # Why the ROCm plan adds pytorch-triton-rocm as a routed dependency: uv looks for a transitive dependency
    # on the default index only, and torch's exact Triton pin is on the ROCm index.
    whl = tmp_path / "whl"
    make_wheel(whl / "rocm6.4", "pytorch-triton-rocm", "3.4.0", tag=manylinux("x86_64"))
    torch_wheels(whl / "rocm6.4", "2.8.0+rocm6.4", ["x86_64"], requires=["pytorch-triton-rocm==3.4.0"])
    make_wheel(whl / "pypi", "pytorch-triton-rocm", "2.1.0", tag=manylinux("x86_64"))  # PyPI's old ones
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.8.0"]

[tool.uv]
environments = ["{X86}"]

[[tool.uv.index]]
name = "pypi-stand-in"
url = "{whl / "pypi"}"
format = "flat"
default = true

[[tool.uv.index]]
name = "pytorch-rocm6.4"
url = "{whl / "rocm6.4"}"
format = "flat"
explicit = true

[tool.uv.sources]
torch = [{{ index = "pytorch-rocm6.4", marker = "{X86}" }}]
''',
    )
    r = lock(project)
    assert r.returncode != 0
    assert "pytorch-triton-rocm" in r.stderr


def test_check_has_nothing_to_say_about_the_new_layout(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write(
        project,
        f'''[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = ["torch==2.9.1"]

[tool.uv]
environments = ["{X86}", "{ARM}"]
required-environments = ["{X86}", "{ARM}"]

[[tool.uv.index]]
name = "pytorch-cu128"
url = "https://download.pytorch.org/whl/cu128"
explicit = true

[[tool.uv.index]]
name = "pytorch-cu130"
url = "https://download.pytorch.org/whl/cu130"
explicit = true

[tool.uv.sources]
torch = [
  {{ index = "pytorch-cu128", marker = "{X86}" }},
  {{ index = "pytorch-cu130", marker = "{ARM}" }},
]
''',
    )
    rules = {f.code for f in check_path(project / "pyproject.toml").findings}
    assert "gpu-platform-routed-to-cpu" not in rules


def test_the_marker_of_every_other_platform() -> None:
    assert others_marker(["linux-x86_64"]) == "sys_platform != 'linux' or platform_machine != 'x86_64'"
    both = others_marker(["linux-x86_64", "linux-aarch64"])
    assert both == (
        "(sys_platform != 'linux' or platform_machine != 'x86_64') and "
        "(sys_platform != 'linux' or platform_machine != 'aarch64')"
    )
    from packaging.markers import Marker

    from llmenv.platforms import platform_target
    from llmenv.target import Target

    m = Marker(both)
    for plat, want in (("linux-x86_64", False), ("linux-aarch64", False), ("darwin-arm64", True)):
        assert m.evaluate(platform_target(Target(), plat).marker_environment()) is want
