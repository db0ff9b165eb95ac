"""flash-attn: a prebuilt wheel when one matches, a tuned source build when none does — chosen by the search
among the extension's options (the official release wheels, then the source build), for the torch it plans.

These tests plan with no wheel listings (``NO_LISTINGS``): they are about the official release table and the
source build; the community and index sources (Astral, mjun0812, the PyTorch index) are tests/test_sources_plan.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
from packaging.version import Version

from llmenv.backend import CudaVersion
from llmenv.errors import NoAnswer
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.knowledge.flash_attn import load_flash_attn
from llmenv.plan import Plan, make_plan
from llmenv.plan.build import build_env
from llmenv.plan.extensions import default_providers
from llmenv.request import parse_specs
from llmenv.sources.listing import Listings
from llmenv.target import Gpu, Target

from .wheel_servers import ReleaseAssets, serving
from .wheelfactory import make_wheel

# cpus / memory said of the build machine (as --cpus / --memory do): MAX_JOBS is sized from them
SIZED = {"cpus": "--cpus", "memory_gib": "--memory"}
H200 = Target(
    driver="580.159.04",
    cuda=CudaVersion(13, 0),
    python="3.12",
    cpus=16,
    memory_gib=125.0,
    gpus=(Gpu(name="NVIDIA H200", capability=(9, 0)),),
    nvcc="13.0.88",
    origins=SIZED,
)
LAPTOP_4090 = Target(
    driver="570.86.15",
    cuda=CudaVersion(12, 8),
    python="3.12",
    cpus=16,
    memory_gib=32.0,
    gpus=(Gpu(name="RTX 4090 Laptop", capability=(8, 9)),),
    nvcc="12.8.93",
    origins=SIZED,
)
A100_550 = Target(
    driver="550.54.14",
    cuda=CudaVersion(12, 4),
    python="3.12",
    cpus=32,
    memory_gib=256.0,
    gpus=(Gpu(name="A100", capability=(8, 0)),),
    nvcc="12.4.131",
)
MARKER = "sys_platform == 'linux' and platform_machine == 'x86_64'"
NO_LISTINGS = Listings(origin="file", path=None, generated=None, sources={})


def _plan(
    target: Target, *specs: str, policy: str = "strict", index: str | None = None, **kw: object
) -> Plan:
    kw.setdefault("listings", NO_LISTINGS)
    return make_plan(
        target,
        parse_specs(specs, Path(".")),
        policy=policy,
        source=torch_source(index, None),
        **kw,  # type: ignore[arg-type]
    )


def _why(p: Plan, package: str = "flash-attn") -> dict[str, str]:
    """version -> the reasons its options were not chosen (several sources can offer one version)."""
    out: dict[str, str] = {}
    for r in p.rejected:
        if r.package == package:
            out[r.version] = f"{out[r.version]} | {r.reason}" if r.version in out else r.reason
    return out


def test_seed_case_torch_26_on_a_124_driver_gets_2_7_4_post1_prebuilt() -> None:
    p = _plan(A100_550, "torch==2.6.0", "flash-attn")
    fa = p.packages["flash-attn"]
    assert (fa.version, fa.source, p.packages["torch"].variant) == ("2.7.4.post1", "prebuilt", "cu124")
    assert fa.url is not None and fa.url.startswith(
        "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
    )
    assert fa.url.endswith("flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl")
    why = _why(p)
    # 2.8.3's wheels are SASS of nvcc 12.9: a CUDA 12.4 driver runs them (minor-version compatibility), but its
    # pre-cxx11 wheels for torch 2.6 are known to break
    assert "nvcc 12.9" not in why["2.8.3"] and "fail at import" in why["2.8.3"]


def test_minor_policy_admits_the_12_9_wheels_but_the_known_break_still_holds() -> None:
    p = _plan(A100_550, "torch==2.6.0", "flash-attn", policy="minor", index="pypi")  # PyPI: 2.6.0 is cu124
    assert p.packages["flash-attn"].version == "2.7.4.post1"
    assert "works poorly with torch 2.6.0+cu124" in _why(p)["2.8.3"]  # data with a source, not a code branch


def test_torch_28_gets_2_8_3_post1_cu12_cxx11_true() -> None:
    t = Target(
        driver="575.57.08",
        cuda=CudaVersion(12, 9),
        python="3.12",
        gpus=(Gpu(name="H100", capability=(9, 0)),),
    )
    p = _plan(t, "torch==2.8.0", "flash-attn")
    fa = p.packages["flash-attn"]
    assert (fa.source, fa.version, p.packages["torch"].variant) == ("prebuilt", "2.8.3.post1", "cu129")
    assert fa.url is not None and "cu12torch2.8cxx11abiTRUE-cp312" in fa.url


def test_no_wheel_for_a_cuda_13_torch_means_the_tuned_build_for_sm90_only() -> None:
    p = _plan(H200, "torch==2.11.0", "flash-attn")
    assert (p.packages["torch"].variant, p.packages["flash-attn"].source) == ("cu130", "build")
    env = p.build["flash-attn"]["env"]
    assert env["FLASH_ATTN_CUDA_ARCHS"] == "90" and env["FLASH_ATTENTION_FORCE_BUILD"] == "TRUE"
    assert p.extra["extra-build-dependencies"]["flash-attn"][0] == {
        "requirement": "torch",
        "match-runtime": True,
    }
    assert p.extra["extra-build-variables"]["flash-attn"]["FLASH_ATTN_CUDA_ARCHS"] == "90"
    assert p.extra["dependency-metadata"][-1] == {
        "name": "flash-attn",
        "version": p.packages["flash-attn"].version,
        "requires-dist": ["torch", "einops"],
    }
    why = _why(p)
    assert "no wheel for a CUDA 13 torch" in why["2.8.3"] and "cu13 torch2.11" in why["2.8.3.post1"]
    assert "release assets are not known" in why["2.8.3.post2"]


def test_a_prebuilt_wheel_beats_a_newer_torch_that_needs_a_build() -> None:
    """Rank key 1: no source build when any candidate avoids one — an older torch with a wheel wins, and the
    newer ones say how to take them."""
    p = _plan(H200, "torch", "flash-attn")
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.8.0", "cu129")
    assert p.packages["flash-attn"].source == "prebuilt" and not p.build
    newer = next(r for r in p.rejected if r.package == "torch" and r.version == "2.14.1")
    assert newer.kind == "ranking" and "needs a flash-attn source build" in newer.reason
    assert newer.take == "ask for torch==2.14.1, or --build flash-attn"
    forced = _plan(H200, "torch", "flash-attn", builds=["flash-attn"])
    assert forced.packages["flash-attn"].source == "build" and forced.packages["torch"].version == "2.14.1"


def test_build_env_for_an_h200_and_a_32_gib_laptop() -> None:
    rel = load_flash_attn().releases[0]
    h200, _ = build_env(H200, rel)
    laptop, _ = build_env(LAPTOP_4090, rel)
    assert (
        h200["FLASH_ATTN_CUDA_ARCHS"] == "90" and laptop["FLASH_ATTN_CUDA_ARCHS"] == "80"
    )  # sm80 runs on 8.9
    # One architecture: nvcc has one compilation per file, so 1 thread a job; ~5 GiB a job (4.3 measured on
    # the H200 machine, bench/flash_attn_build.md). H200: 106 GiB usable -> 21 jobs, 16 cores -> 16.
    assert (h200["MAX_JOBS"], h200["NVCC_THREADS"]) == ("16", "1")
    # The laptop: 32 GiB - 4.8 GiB headroom = 27 GiB -> 5 jobs of ~5 GiB, though it has 16 cores.
    assert (laptop["MAX_JOBS"], laptop["NVCC_THREADS"]) == ("5", "1")


def test_build_env_two_architectures_use_two_nvcc_threads_a_job() -> None:
    mixed = H200.with_(gpus=(Gpu(name="A100", capability=(8, 0)), Gpu(name="H100", capability=(9, 0))))
    env, _ = build_env(mixed, load_flash_attn().releases[0])
    # 80;90: 2 threads a job (~10 GiB); 16 cores // 2 = 8 jobs; 106 GiB // 10 = 10
    assert (env["FLASH_ATTN_CUDA_ARCHS"], env["MAX_JOBS"], env["NVCC_THREADS"]) == ("80;90", "8", "2")


def test_build_env_on_a_small_machine_warns_that_one_job_may_not_fit() -> None:
    tiny = Target(
        driver="570.86.15",
        cuda=CudaVersion(12, 8),
        python="3.12",
        cpus=4,
        memory_gib=8.0,
        gpus=(Gpu(name="A10", capability=(8, 6)),),
        origins=SIZED,
    )
    env, warnings = build_env(tiny, load_flash_attn().releases[0])
    assert (env["MAX_JOBS"], env["NVCC_THREADS"]) == ("1", "1")
    assert any("8 GiB of memory leaves 4 GiB" in w for w in warnings)


def test_a_target_of_unknown_size_gets_no_max_jobs() -> None:
    """Cores and memory not said of the build machine: MAX_JOBS is left to flash-attn's setup.py there."""
    bare = H200.with_(cpus=None, memory_gib=None, origins={})
    env, _ = build_env(bare, load_flash_attn().releases[0])
    assert "MAX_JOBS" not in env and env["FLASH_ATTN_CUDA_ARCHS"] == "90" and env["NVCC_THREADS"] == "1"
    env, _ = build_env(H200.with_(origins={}), load_flash_attn().releases[0])  # detected numbers: not used
    assert "MAX_JOBS" not in env


def test_warnings_for_missing_or_mismatched_nvcc() -> None:
    no_nvcc = H200.with_(nvcc=None)
    assert any("no nvcc" in w for w in _plan(no_nvcc, "torch==2.11.0", "flash-attn").warnings)
    old_nvcc = H200.with_(nvcc="12.4.131")
    assert any("differ in major" in w for w in _plan(old_nvcc, "torch==2.11.0", "flash-attn").warnings)


def test_build_facts_are_read_only_when_a_build_is_planned() -> None:
    """This machine's nvcc, cores and memory are probed lazily: a prebuilt plan never asks."""
    asked: list[Target] = []

    def facts(t: Target) -> Target:
        asked.append(t)
        return t.with_(nvcc="13.0.88", cpus=8, memory_gib=64.0)

    bare = H200.with_(nvcc=None, cpus=None, memory_gib=None)
    _plan(bare, "torch==2.8.0", "flash-attn", build_facts=facts)
    assert asked == []
    p = _plan(bare, "torch==2.11.0", "flash-attn", build_facts=facts)
    assert len(asked) == 1 and p.build["flash-attn"]["env"]["MAX_JOBS"] == "8"


B200 = Target(
    driver="580.159.04",
    cuda=CudaVersion(13, 0),
    python="3.12",
    cpus=32,
    memory_gib=500.0,
    gpus=(Gpu(name="B200", capability=(10, 0)),),
    nvcc="12.9.86",
)


def test_releases_that_cannot_compile_for_the_gpu_are_no_answer() -> None:
    with pytest.raises(NoAnswer) as e:  # FLASH_ATTN_CUDA_ARCHS (and sm_100) arrived in 2.7.3
        _plan(B200, "torch==2.7.0", "flash-attn<2.7.3")
    assert "cannot compile sm_100" in e.value.message


def test_blackwell_gets_a_wheel_with_sm100_code() -> None:
    p = _plan(B200, "torch", "flash-attn")
    fa = p.packages["flash-attn"]
    assert fa.source == "prebuilt" and Version(fa.version) >= Version(
        "2.8.0"
    )  # 2.7.x wheels: sm_80/sm_90 only


def test_cxx11_torch_26_cu126_gets_the_abi_true_wheel() -> None:
    t = A100_550.with_(driver="560.35.03", cuda=CudaVersion(12, 6))
    p = _plan(t, "torch==2.6.0", "flash-attn")
    assert p.packages["torch"].variant == "cu126"
    # the 2.8.x breakage is in the pre-cxx11 wheels; the cxx11 ones (SASS of nvcc 12.9) run on this CUDA 12.6
    # driver under minor-version compatibility, whatever the strict policy says of CUDA 12.9 builds
    url = p.packages["flash-attn"].url
    assert url is not None and url.endswith(
        "flash_attn-2.8.3.post1+cu12torch2.6cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    )
    assert any("minor-version compatibility" in r and "12.9" in r for r in p.reasons)


def test_plan_uses_the_abi_of_the_torch_variant(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "plan",
        "torch==2.6.0",
        "flash-attn",
        "--driver",
        "560.35.03",
        "--gpu",
        "8.0",
        "--python",
        "3.12",
        "--json",
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["packages"]["torch"]["variant"] == "cu126"
    assert "cu12torch2.6cxx11abiTRUE-cp312" in d["packages"]["flash-attn"]["url"]


def test_known_bad_wheels_do_not_stop_a_source_build_of_the_same_version() -> None:
    p = _plan(A100_550, "torch==2.6.0", "flash-attn>=2.8", policy="minor", index="pypi")
    why = _why(p)["2.8.3"]
    assert "issues/1783" in why or "seed blog" in why
    fa = p.packages["flash-attn"]
    assert (fa.source, fa.version) == ("build", "2.8.3.post2")  # the newest sdist on PyPI


def test_wheels_for_some_pythons_only_cap_requires_python() -> None:
    """torch 2.4's flash-attn wheels skip Python 3.13 (and torch 2.4 has none): requires-python stops at 3.12,
    so uv never resolves a Python with no wheel."""
    t = A100_550.with_(driver="580.159.04", cuda=CudaVersion(13, 0), python="3.11")
    p = _plan(t, "torch==2.4.0", "flash-attn")
    assert p.packages["flash-attn"].version == "2.8.3.post1"
    assert p.requires_python == ">=3.11,<3.13"
    assert [e["marker"].rsplit("== ", 1)[1] for e in p.extra["sources"]["flash-attn"]] == ["'3.11'", "'3.12'"]


def test_wheelhouse_and_proxy_sources() -> None:
    p = _plan(A100_550, "torch==2.6.0", "flash-attn", github_proxy="https://gh-proxy.com/")
    url = p.packages["flash-attn"].url
    assert url is not None and url.startswith("https://gh-proxy.com/https://github.com/Dao-AILab/")
    assert p.to_dict()["packages"]["flash-attn"] == {
        "version": "2.7.4.post1",
        "source": "prebuilt",
        "url": url,
    }
    house = _plan(
        A100_550, "torch==2.6.0", "flash-attn", flash_attn_wheels="https://mirror.example/flash-attn/"
    )
    assert house.extra["sources"]["flash-attn"] == [{"index": "flash-attn-wheels", "marker": MARKER}]
    assert {i.name: i.url for i in house.indexes}["flash-attn-wheels"] == "https://mirror.example/flash-attn/"
    assert "flash-attn==2.7.4.post1+cu12torch2.6cxx11abiFALSE ; " + MARKER in house.dependencies


def test_an_sdist_newer_than_the_table_builds_with_the_newest_known_facts() -> None:
    providers = default_providers(sdists=[Version("2.8.3"), Version("2.9.0")], listings=NO_LISTINGS)
    p = _plan(H200, "torch==2.11.0", "flash-attn", providers=providers)
    assert (p.packages["flash-attn"].source, p.packages["flash-attn"].version) == ("build", "2.9.0")


@pytest.mark.parametrize(("cc", "needle"), [((7, 0), "sm_70"), ((7, 5), "sm_75")])
def test_refuses_volta_and_turing(cc: tuple[int, int], needle: str) -> None:
    t = Target(
        driver="550.54.14", cuda=CudaVersion(12, 4), python="3.12", gpus=(Gpu(name="GPU", capability=cc),)
    )
    with pytest.raises(NoAnswer) as e:
        _plan(t, "torch", "flash-attn")
    assert needle in e.value.message and "SDPA" in (e.value.hint or "")


def test_refuses_a_cpu_target(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "flash-attn", "--cuda", "cpu", "--python", "3.12")
    assert (
        r.code == 1 and "flash-attn needs an NVIDIA GPU" in r.err and "scaled_dot_product_attention" in r.err
    )


def test_seed_plan_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "plan", "torch", "flash-attn", "--driver", "550.54.14", "--gpu", "8.0", "--python", "3.12", "--json"
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert (d["packages"]["torch"]["version"], d["packages"]["torch"]["variant"]) == ("2.6.0", "cu124")
    fa = d["packages"]["flash-attn"]
    assert fa["version"] == "2.7.4.post1" and fa["source"] == "prebuilt"
    assert fa["url"].endswith("flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl")


def test_build_plan_json_has_the_env(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "plan",
        "torch",
        "flash-attn",
        "--build",
        "flash-attn",
        "--driver",
        "580.159.04",
        "--gpu",
        "9.0",
        "--python",
        "3.12",
        "--cpus",
        "16",
        "--memory",
        "125",
        "--json",
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["packages"]["flash-attn"]["source"] == "build"
    assert d["build"]["flash-attn"]["env"]["FLASH_ATTN_CUDA_ARCHS"] == "90"
    assert d["build"]["flash-attn"]["env"]["MAX_JOBS"] == "16"


def test_source_entries_one_url_per_python_with_markers() -> None:
    p = _plan(A100_550, "torch==2.6.0", "flash-attn")
    assert p.requires_python == ">=3.12,<3.14"
    assert [e["marker"] for e in p.extra["sources"]["flash-attn"]] == [
        f"{MARKER} and python_version == '3.12'",
        f"{MARKER} and python_version == '3.13'",
    ]


def test_the_knowledge_is_the_one_the_planner_uses() -> None:
    assert load().cuda.min_driver(CudaVersion(12, 9)) == "575.51.03"


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for GitHub releases: it serves any path ending in a file it holds."""
    root = tmp_path / "assets"
    root.mkdir()

    with serving(ReleaseAssets(root)) as server:
        yield server.base, root


def test_init_and_real_uv_lock_hold_the_release_wheel_with_its_hash(
    run_cli, torch_indexes: Path, tmp_path: Path, release_server: tuple[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    url, assets = release_server
    name = "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"
    for py in ("311", "312", "313"):  # the project supports 3.11-3.13: one release asset each
        make_wheel(assets, "flash-attn", "2.7.4.post1", requires=["torch"], filename=name.replace("311", py))
    r = run_cli(
        "init",
        ".",
        "torch",
        "flash-attn",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        "3.11",
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        "--github-proxy",
        url,
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    src = doc["tool"]["uv"]["sources"]["flash-attn"]
    assert (
        src[0]["url"]
        == f"{url}/https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/{name}"
    )
    r = run_cli("lock", cwd=tmp_path)  # every source is local: the flat indexes and the loopback "GitHub"
    assert r.code == 0, r.err
    lock = tomlkit.parse((tmp_path / "uv.lock").read_text()).unwrap()
    fas = [p for p in lock["package"] if p["name"] == "flash-attn"]
    assert {p["version"] for p in fas} == {"2.7.4.post1"} and len(
        fas
    ) == 3  # one per Python, each with its marker
    for fa in fas:
        assert "cu12torch2.6cxx11abiFALSE" in fa["wheels"][0]["url"]
        assert fa["wheels"][0]["hash"].startswith("sha256:")


@pytest.mark.network
def test_build_mode_project_locks_against_pypi_without_building(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """flash-attn's sdist cannot give metadata without torch; the static metadata llmenv writes lets uv lock."""
    r = run_cli(
        "init",
        ".",
        "torch",
        "flash-attn",
        "--build",
        "flash-attn",
        "--driver",
        "580.159.04",
        "--gpu",
        "9.0",
        "--python",
        "3.11",
        "--torch-index",
        "pypi",
        "--cpus",
        "16",
        "--memory",
        "125",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    uv = doc["tool"]["uv"]
    assert uv["extra-build-variables"]["flash-attn"]["FLASH_ATTN_CUDA_ARCHS"] == "90"
    assert uv["extra-build-dependencies"]["flash-attn"][0] == {"requirement": "torch", "match-runtime": True}
    r = run_cli("lock", cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("check", cwd=tmp_path)
    assert r.code == 0, r.out


def test_a_wheelhouse_with_several_builds_locks_the_one_for_this_torch_and_abi(
    run_cli, tmp_path: Path, torch_indexes: Path
) -> None:  # type: ignore[no-untyped-def]
    """A wheelhouse (--flash-attn-wheels DIR) often holds builds for several torch / ABI combinations: uv must
    lock the one the plan chose, not the one whose local version label sorts highest."""
    house = tmp_path / "fa-wheels"
    for label in ("cu12torch2.6cxx11abiFALSE", "cu12torch2.6cxx11abiTRUE", "cu12torch2.5cxx11abiFALSE"):
        for py in ("311", "312", "313"):
            make_wheel(
                house,
                "flash-attn",
                "2.7.4.post1",
                requires=["torch"],
                filename=f"flash_attn-2.7.4.post1+{label}-cp{py}-cp{py}-linux_x86_64.whl",
            )
    r = run_cli(
        "init",
        ".",
        "torch",
        "flash-attn",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        "3.11",
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        "--flash-attn-wheels",
        str(house),
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    r = run_cli("lock", cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((tmp_path / "uv.lock").read_text()).unwrap()
    fas = [p for p in lock["package"] if p["name"] == "flash-attn"]
    files = {
        w["url"].rsplit("/", 1)[-1] if "url" in w else w.get("path", "") for p in fas for w in p["wheels"]
    }
    assert files and all("cu12torch2.6cxx11abiFALSE" in f for f in files), files
