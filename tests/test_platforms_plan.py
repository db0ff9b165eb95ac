"""Planning for aarch64, AMD ROCm and several platforms at once, on the facts (../shared/facts G, H) — and the real uv
locking what init writes for them against local stub indexes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from packaging.version import Version

from llmenv.amd import AmdGpu
from llmenv.backend import CudaVersion, parse_rocm_version
from llmenv.errors import NoAnswer
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.plan import Plan, make_plan
from llmenv.platforms import builds_of
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target

from .conftest import SHARED
from .wheelfactory import make_wheel

KB = load()
H100 = (Gpu(name="NVIDIA GH200 480GB", capability=(9, 0)),)
PY = "3.12"


def plan(spec: str, target: Target, *, source: str | None = None, policy: str = "strict") -> Plan:
    return make_plan(
        target, parse_specs(spec.split(), Path.cwd()), policy=policy, source=torch_source(source, None)
    )


def nvidia(driver: str, *, arch: str = "x86_64", platforms: tuple[str, ...] = (), python: str = PY) -> Target:
    cuda = KB.cuda.max_cuda(driver)
    return Target(arch=arch, driver=driver, cuda=cuda, gpus=H100, python=python, platforms=platforms)


def amd(*gfx: str, rocm: str | None = None, python: str = PY, glibc: str | None = "2.39") -> Target:
    return Target(
        python=python,
        glibc=glibc,
        rocm=parse_rocm_version(rocm) if rocm else None,
        amd_gpus=tuple(AmdGpu(name=f"AMD GPU ({g})", gfx=g) for g in gfx),
    )


def torch_of(p: Plan) -> str:
    t = p.packages["torch"]
    return f"{t.version}+{t.variant}"


# ------------------------------------------------------------------------------------------ aarch64 facts


def _aarch64_rows() -> list[dict[str, str]]:
    with (SHARED / "facts" / "torch_aarch64.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _aarch64_rows(), ids=lambda r: r["torch"])
def test_the_aarch64_view_of_each_release_is_the_facts_table(row: dict[str, str]) -> None:
    release = KB.torch_release(row["torch"])
    assert release is not None
    b = release.on("linux", "aarch64")
    assert b is not None
    # PyPI: CPU-only through 2.10, CUDA 13 from 2.11 (read from the wheels' bytes, facts G1)
    if row["pypi_aarch64_carries_cuda"].startswith("yes"):
        want = CudaVersion(*(int(x) for x in row["pypi_aarch64_cuda"].split(".")[:2]))
        assert b.pypi is not None and b.pypi_cuda == want
    else:
        assert b.pypi is None, "PyPI's aarch64 wheel is CPU-only"
    assert b.cxx11_abi is (row["pypi_aarch64_cxx11abi"] == "TRUE")
    tags = row["pypi_aarch64_abi_tags"].split()
    pythons = {t.removeprefix("cp").rstrip("m") for t in tags if not t.endswith("t")}  # cp37m is CPython 3.7
    assert {p.replace(".", "") for p in b.python} == pythons
    # the PyTorch index's aarch64 CUDA variants and their arch lists (facts G2, G3)
    listed = row["pytorch_index_aarch64_cuda_variants"]
    advertised = {tag for tag, v in b.variants.items() if v.advertised}
    if listed.startswith("unknown"):
        assert not b.complete
        return
    assert advertised == (set() if listed == "none" else set(listed.split()))
    for part in filter(None, row["pytorch_index_aarch64_torch_cuda_arch_list"].split(" | ")):
        tag, _, archs = part.partition(": ")
        v = b.variants[tag]
        if archs.startswith("unknown"):
            assert not v.archs_known
            continue
        archs = archs.split(" (")[0]
        assert v.archs_known
        assert [f"{a}.{m}" for a, m in v.archs] == [a.removesuffix("+PTX") for a in archs.split(";")]
        assert v.ptx is archs.endswith("+PTX")


# ------------------------------------------------------------------------------------------ aarch64 plans


@pytest.mark.parametrize(
    ("spec", "driver", "want"),
    [
        (
            "torch==2.8.0",
            "580.95.05",
            "2.8.0+cu129",
        ),  # was cu128: PyTorch built only cu129 for aarch64 in 2.8
        ("torch==2.7.1", "580.95.05", "2.7.1+cu128"),  # was cu126: only cu128 exists
        ("torch==2.6.0", "560.35.03", "2.6.0+cu126"),
        (
            "torch",
            "550.54.14",
            "2.5.1+cu124",
        ),  # was 2.6.0+cu124: 2.6 has only cu126 on aarch64 (driver >= 560)
        ("torch", "580.95.05", "2.13.0+cu130"),
    ],
)
def test_aarch64_gets_its_own_variants(spec: str, driver: str, want: str) -> None:
    p = plan(spec, nvidia(driver, arch="aarch64"))
    assert torch_of(p) == want
    assert p.packages["torch"].index == f"pytorch-{want.split('+')[1]}"


def test_aarch64_arch_list_and_abi_are_aarch64s() -> None:
    p = plan("torch==2.13.0", nvidia("580.95.05", arch="aarch64"))
    why = " ".join(p.reasons)
    assert "sm_80 sm_90 sm_100 sm_110 sm_120 +PTX" in why  # not x86_64's sm_75 ... list
    assert "on linux-aarch64" in why and "C++ ABI cxx11" in why
    # torch 2.6.0 is cxx11 on aarch64 (x86_64 only from 2.7; facts G1): the extension wheels follow
    p = plan("torch==2.6.0", nvidia("560.35.03", arch="aarch64"))
    assert "C++ ABI cxx11" in " ".join(p.reasons)


def test_pypi_aarch64_torch_is_cpu_only_through_2_10() -> None:
    with pytest.raises(NoAnswer) as e:
        plan("torch<=2.10", nvidia("580.95.05", arch="aarch64"), source="pypi")
    assert "CPU-only" in e.value.message
    p = plan("torch", nvidia("580.95.05", arch="aarch64"), source="pypi")
    assert Version(p.packages["torch"].version) >= Version("2.11") and p.packages["torch"].variant == "cu130"
    assert p.packages["torch"].source == "pypi"


# ------------------------------------------------------------------------------------------ ROCm plans


@pytest.mark.parametrize(
    ("target", "want"),
    [
        (amd("gfx942", rocm="6.4"), "2.13.0+rocm7.1"),  # 6.4 -> 7.0 -> 7.1: two releases (AMD's matrix)
        (amd("gfx942", rocm="6.1"), "2.9.1+rocm6.3"),
        (amd("gfx942", rocm="7.2"), "2.14.1+rocm7.2"),  # rocm7.14 on a 7.2 host: unknown, not taken
        (amd("gfx950", rocm="7.0"), "2.14.1+rocm7.2"),  # 7.0 -> 7.2: within the window
        (amd("gfx1151"), "2.14.1+rocm7.14"),  # ROCm unknown: the GPUs decide
    ],
)
def test_rocm_builds(target: Target, want: str) -> None:
    p = plan("torch", target)
    assert torch_of(p) == want
    tag = want.split("+")[1]
    assert p.packages["torch"].index == f"pytorch-{tag}"
    assert any(i.url.endswith(f"/whl/{tag}") for i in p.indexes)
    # its Triton from the same index, as a dependency (uv applies sources to direct dependencies only)
    triton = "triton-rocm" if Version(want.split("+")[0]) >= Version("2.10") else "pytorch-triton-rocm"
    assert f"{triton} ; sys_platform == 'linux' and platform_machine == 'x86_64'" in p.dependencies
    assert p.extra["sources"][triton] == [{"index": f"pytorch-{tag}", "marker": Target().platform_marker()}]


def test_an_amd_target_is_never_a_cpu_plan() -> None:
    p = plan("torch", amd("gfx90a", rocm="6.4"))
    assert p.packages["torch"].variant.startswith("rocm")
    with pytest.raises(NoAnswer, match="Linux x86_64 only"):
        plan("torch", amd("gfx942").with_(arch="aarch64"))


def test_vllm_on_rocm_uses_its_rocm_wheels() -> None:
    p = plan("vllm", amd("gfx942", rocm="7.0"))
    assert p.packages["vllm"].version == "0.18.0" and p.packages["vllm"].index == "vllm-rocm700"
    assert torch_of(p) == "2.10.0+rocm7.0"  # vllm 0.18.0 pins torch 2.10.0; its wheel is ROCm 7.0
    assert p.python == "3.12" and p.requires_python.startswith(">=3.12")
    idx = {i.name: i.url for i in p.indexes}
    assert idx["vllm-rocm700"] == "https://wheels.vllm.ai/rocm/0.18.0/rocm700"
    assert p.extra["sources"]["vllm"] == [{"index": "vllm-rocm700", "marker": Target().platform_marker()}]
    with pytest.raises(NoAnswer, match=r"ROCm wheel is for Python 3\.12 only"):
        plan("vllm", amd("gfx942", rocm="7.0", python="3.11").with_(origins={"python": "--python"}))
    with pytest.raises(NoAnswer, match=r"glibc >= 2\.35"):
        plan("vllm<=0.18.0", amd("gfx942", rocm="7.0", glibc="2.31"))
    with pytest.raises(NoAnswer, match="no ROCm release wheel"):
        plan("vllm>=0.19", amd("gfx942", rocm="7.0"))
    with pytest.raises(NoAnswer, match="sglang"):
        plan("sglang", amd("gfx942", rocm="7.0"))


def test_flash_attn_on_rocm_is_a_source_build_of_the_right_backend() -> None:
    p = plan("torch flash-attn", amd("gfx942", rocm="6.4"))
    assert p.packages["flash-attn"].source == "build"
    assert p.extra["extra-build-variables"]["flash-attn"] == {"BUILD_TARGET": "rocm", "GPU_ARCHS": "gfx942"}
    p = plan("torch flash-attn", amd("gfx1030"))
    env = p.extra["extra-build-variables"]["flash-attn"]
    assert env["FLASH_ATTENTION_TRITON_AMD_ENABLE"] == "TRUE"
    assert "pip" in p.extra["extra-build-dependencies"]["flash-attn"]
    assert any("where flash-attn runs too" in w for w in p.warnings)
    with pytest.raises(NoAnswer, match="neither gfx908"):
        plan("torch flash-attn", amd("gfx908"))


# ------------------------------------------------------------------------------------------ several platforms


def test_two_platforms_one_plan() -> None:
    p = plan("torch", nvidia("580.95.05", platforms=("linux-x86_64", "linux-aarch64")))
    builds = {b.platform: b for b in builds_of(p)}
    assert set(builds) == {"linux-x86_64", "linux-aarch64"}
    # torch 2.14.1 is x86_64's best, but its aarch64 CUDA variants are unknown (facts G2): one older for both
    assert {b.version for b in builds.values()} == {"2.13.0"}
    assert builds["linux-aarch64"].variant == "cu130" and builds["linux-aarch64"].index is not None
    assert any(r.version == "2.14.1" and "linux-aarch64" in r.reason for r in p.rejected)
    assert p.target.lock_platforms == ("linux-x86_64", "linux-aarch64")


def test_macos_gets_cpu_torch_with_a_warning() -> None:
    p = plan(
        "torch flash-attn", nvidia("570.148.08", platforms=("linux-x86_64", "linux-aarch64", "darwin-arm64"))
    )
    builds = {b.platform: b for b in builds_of(p)}
    assert builds["darwin-arm64"].variant == "cpu" and builds["darwin-arm64"].warning
    assert any(
        "darwin-arm64 gets torch's CPU build" in w and "flash-attn is not installed" in w for w in p.warnings
    )
    fa = [d for d in p.dependencies if d.startswith("flash-attn")]
    assert fa and all("darwin" not in d and "platform_machine" in d for d in fa)


def test_a_platform_without_a_build_refuses_the_lock() -> None:
    # torch 2.6.0's only linux-aarch64 CUDA build is cu126 (driver >= 560): a 550 driver cannot run it there
    with pytest.raises(NoAnswer) as e:
        plan("torch==2.6.0", nvidia("550.54.14", platforms=("linux-x86_64", "linux-aarch64")))
    assert "linux-aarch64" in e.value.message and "every platform" in e.value.message


# ------------------------------------------------------------------------------------------ init + the real uv


PY312 = next(iter(sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))), None)
needs_312 = pytest.mark.skipif(PY312 is None, reason="needs a CPython 3.12 (pyenv) for uv to lock with")


def _lock(run_cli: Any, project: Path, cwd: Path) -> dict[str, list[dict[str, Any]]]:
    r = run_cli(
        "lock", "--project", str(project), "--", "--offline", cwd=cwd, environ={"UV_PYTHON": str(PY312)}
    )
    assert r.code == 0, r.err
    data = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    out: dict[str, list[dict[str, Any]]] = {}
    for pkg in data["package"]:
        out.setdefault(pkg["name"], []).append(pkg)
    return out


def _names(entry: dict[str, Any]) -> set[str]:
    return {Path(w.get("path") or w.get("url") or "").name for w in entry.get("wheels", [])}


@needs_312
def test_init_and_uv_lock_for_x86_64_aarch64_and_macos(run_cli: Any, tmp_path: Path) -> None:
    whl = tmp_path / "whl"
    for arch in ("x86_64", "aarch64"):
        make_wheel(whl / "cu130", "torch", "2.13.0+cu130", tag=f"cp312-cp312-manylinux_2_28_{arch}")
    make_wheel(whl / "cpu", "torch", "2.13.0", tag="cp312-none-macosx_11_0_arm64")
    r = run_cli(
        "init", "./proj", "torch", "--driver", "580.95.05", "--gpu", "9.0", "--python", PY,
        "--platform", "linux-x86_64", "--platform", "linux-aarch64", "--platform", "darwin-arm64",
        "--torch-index", f"{whl}/{{variant}}", cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "proj" / "pyproject.toml").read_text()).unwrap()
    uv = doc["tool"]["uv"]
    x86, arm = Target().platform_marker(), Target(arch="aarch64").platform_marker()
    mac = Target(os="darwin", arch="arm64").platform_marker()
    assert uv["environments"] == [x86, arm, mac] == uv["required-environments"]
    assert uv["sources"]["torch"] == [
        {"index": "pytorch-cu130", "marker": f"({x86}) or ({arm})"},
        {"index": "pytorch-cpu", "marker": mac},
    ]
    pkgs = _lock(run_cli, tmp_path / "proj", tmp_path)
    torch = {p["version"]: p for p in pkgs["torch"]}
    assert set(torch) == {"2.13.0+cu130", "2.13.0"}
    assert _names(torch["2.13.0+cu130"]) == {
        "torch-2.13.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl",
        "torch-2.13.0+cu130-cp312-cp312-manylinux_2_28_aarch64.whl",
    }
    assert torch["2.13.0"]["source"]["registry"].endswith("cpu")


@needs_312
def test_init_and_uv_lock_for_an_mi300x(run_cli: Any, tmp_path: Path) -> None:
    whl = tmp_path / "whl"
    tag = "cp312-cp312-manylinux_2_28_x86_64"
    make_wheel(whl / "rocm7.1", "triton-rocm", "3.6.0", tag=tag)
    make_wheel(whl / "rocm7.1", "torch", "2.13.0+rocm7.1", tag=tag, requires=["triton-rocm==3.6.0"])
    make_wheel(whl / "pypi", "triton-rocm", "3.0.0", tag=tag)  # not the one torch pins
    r = run_cli(
        "init", "./proj", "torch", "--rocm", "6.4", "--gpu", "gfx942", "--python", PY,
        "--torch-index", f"{whl}/{{variant}}", "--mirror", (whl / "pypi").as_uri(), cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    text = (tmp_path / "proj" / "pyproject.toml").read_text()
    assert "rocm7.1" in text and "triton-rocm" in text
    pkgs = _lock(run_cli, tmp_path / "proj", tmp_path)
    assert [p["version"] for p in pkgs["torch"]] == ["2.13.0+rocm7.1"]
    assert pkgs["triton-rocm"][0]["version"] == "3.6.0"
    assert pkgs["triton-rocm"][0]["source"]["registry"].endswith("rocm7.1")


def test_an_amd_lock_cannot_cover_aarch64() -> None:
    with pytest.raises(NoAnswer, match="linux-aarch64 cannot have an AMD ROCm build"):
        plan("torch", amd("gfx942", rocm="6.4").with_(platforms=("linux-x86_64", "linux-aarch64")))
    p = plan("torch", amd("gfx942", rocm="6.4").with_(platforms=("linux-x86_64", "darwin-arm64")))
    assert {b.platform: b.variant for b in builds_of(p)} == {"linux-x86_64": "rocm7.1", "darwin-arm64": "cpu"}


def test_plan_json_names_each_platforms_build(run_cli: Any) -> None:
    import json

    r = run_cli(
        "plan", "torch", "--driver", "580.95.05", "--gpu", "9.0", "--python", PY, "--json",
        "--platform", "linux-x86_64", "--platform", "linux-aarch64", "--platform", "darwin-arm64",
    )  # fmt: skip
    assert r.code == 0, r.err
    d = json.loads(r.out)
    by = {b["platform"]: b for b in d["platforms"]}
    assert by["linux-aarch64"] == {
        "platform": "linux-aarch64",
        "torch": "2.13.0",
        "variant": "cu130",
        "index": "pytorch-cu130",
    }
    assert by["darwin-arm64"]["variant"] == "cpu" and "CPU build" in by["darwin-arm64"]["warning"]
    assert d["target"]["platforms"] == ["linux-x86_64", "linux-aarch64", "darwin-arm64"]


@needs_312
def test_extension_wheels_per_platform_in_one_lock(run_cli: Any, tmp_path: Path) -> None:
    # Each platform's flash-attn wheel from a source you name (--wheels): x86_64's and aarch64's, one lock.
    whl, wh = tmp_path / "whl", tmp_path / "wheels"
    for arch in ("x86_64", "aarch64"):
        make_wheel(whl / "cu130", "torch", "2.13.0+cu130", tag=f"cp312-cp312-manylinux_2_28_{arch}")
        name = f"flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_{arch}.whl"
        make_wheel(wh, "flash-attn", "2.8.3+cu130torch2.13", filename=name, tag=f"cp312-cp312-linux_{arch}")
    r = run_cli(
        "init", "./proj", "torch", "flash-attn", "--driver", "580.95.05", "--gpu", "9.0", "--python", PY,
        "--platform", "linux-x86_64", "--platform", "linux-aarch64",
        "--torch-index", f"{whl}/{{variant}}", "--wheels", str(wh), cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    pkgs = _lock(run_cli, tmp_path / "proj", tmp_path)
    fa = pkgs["flash-attn"]
    assert [p["version"] for p in fa] == ["2.8.3+cu130torch2.13"]
    assert _names(fa[0]) == {
        "flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_x86_64.whl",
        "flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_aarch64.whl",
    }


def test_a_rerun_of_init_plans_the_same_amd_target_and_platforms(run_cli: Any, tmp_path: Path) -> None:
    # [tool.llmenv.target] records the ROCm release, the AMD GPUs and the lock's platforms: a re-run without
    # flags must not fall back to this machine (a CPU one) — and changes nothing.
    r = run_cli("init", "./a", "torch", "--rocm", "6.4", "--gpu", "gfx942", "--python", PY, cwd=tmp_path)
    assert r.code == 0, r.err
    first = (tmp_path / "a" / "pyproject.toml").read_bytes()
    assert b'rocm = "6.4"' in first and b"gfx942" in first and b"pytorch-rocm7.1" in first
    r = run_cli("init", "./a", cwd=tmp_path)
    assert r.code == 0, r.err
    assert (tmp_path / "a" / "pyproject.toml").read_bytes() == first
    args = ["--driver", "580.95.05", "--gpu", "9.0", "--python", PY, "--platform", "linux-x86_64"]
    r = run_cli("init", "./b", "torch", *args, "--platform", "linux-aarch64", cwd=tmp_path)
    assert r.code == 0, r.err
    first = (tmp_path / "b" / "pyproject.toml").read_bytes()
    assert b"platform_machine == 'aarch64'" in first
    r = run_cli("init", "./b", cwd=tmp_path)
    assert r.code == 0, r.err
    assert (tmp_path / "b" / "pyproject.toml").read_bytes() == first
