"""flash-attn: a prebuilt wheel when one matches, a tuned source build when none does (issue 3)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import CudaVersion
from llmenv.errors import NoAnswer
from llmenv.flashattn import build_env, build_settings, flash_attn_releases, plan_flash_attn, source_entries
from llmenv.target import Gpu, Target

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


def _fa(
    target: Target,
    torch: str,
    cuda: tuple[int, int],
    abi: bool,
    pythons: list[str],
    spec: str = "",
    policy: str = "strict",
):  # type: ignore[no-untyped-def]
    return plan_flash_attn(
        target=target,
        torch_version=Version(torch),
        torch_cuda=CudaVersion(*cuda),
        cxx11_abi=abi,
        pythons=pythons,
        specifier=SpecifierSet(spec),
        policy=policy,
    )


def test_seed_case_torch_26_on_a_124_driver_gets_2_7_4_post1_prebuilt() -> None:
    p = _fa(A100_550, "2.6.0", (12, 4), False, ["3.12", "3.13"])
    assert (p.version, p.source) == ("2.7.4.post1", "prebuilt")
    assert (
        p.wheels["3.12"][1] == "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl"
    )
    assert p.wheels["3.12"][0].startswith(
        "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
    )
    why = dict(p.rejected)
    assert (
        "nvcc 12.9" in why["2.8.3"] and "550.54.14" in why["2.8.3"]
    )  # strict: CUDA 12.9 wheels need a 575 driver


def test_minor_policy_admits_the_12_9_wheels_but_the_known_break_still_holds() -> None:
    p = _fa(A100_550, "2.6.0", (12, 4), False, ["3.12"], policy="minor")
    assert p.version == "2.7.4.post1"
    assert (
        "works poorly with torch 2.6.0+cu124" in dict(p.rejected)["2.8.3"]
    )  # data with a source, not a code branch


def test_torch_28_gets_2_8_3_cu12_cxx11_true() -> None:
    t = Target(
        driver="575.57.08",
        cuda=CudaVersion(12, 9),
        python="3.12",
        gpus=(Gpu(name="H100", capability=(9, 0)),),
    )
    p = _fa(t, "2.8.0", (12, 8), True, ["3.12"])
    assert p.source == "prebuilt" and p.version == "2.8.3.post1"
    assert "cu12torch2.8cxx11abiTRUE-cp312" in p.wheels["3.12"][1]


def test_torch_211_cu130_has_no_wheel_so_it_builds_for_sm90_only() -> None:
    p = _fa(H200, "2.11.0", (13, 0), True, ["3.12"])
    assert p.source == "build"
    assert p.env["FLASH_ATTN_CUDA_ARCHS"] == "90"
    assert p.env["FLASH_ATTENTION_FORCE_BUILD"] == "TRUE"
    s = build_settings(p)
    assert s["extra-build-dependencies"]["flash-attn"][0] == {"requirement": "torch", "match-runtime": True}
    assert s["extra-build-variables"]["flash-attn"]["FLASH_ATTN_CUDA_ARCHS"] == "90"
    assert s["dependency-metadata"] == {
        "name": "flash-attn",
        "version": p.version,
        "requires-dist": ["torch", "einops"],
    }


def test_build_env_for_an_h200_and_a_32_gib_laptop() -> None:
    rel = flash_attn_releases()[0]
    h200, _ = build_env(H200, rel)
    laptop, _ = build_env(LAPTOP_4090, rel)
    assert (
        h200["FLASH_ATTN_CUDA_ARCHS"] == "90" and laptop["FLASH_ATTN_CUDA_ARCHS"] == "80"
    )  # sm80 code runs on 8.9
    # One architecture: nvcc has one compilation per file, so 1 thread a job; ~5 GiB a job (4.3 measured on
    # the H200 machine, bench/flash_attn_build.md). H200: 106 GiB usable -> 21 jobs, 16 cores -> 16.
    assert (h200["MAX_JOBS"], h200["NVCC_THREADS"]) == ("16", "1")
    # The laptop: 32 GiB - 4.8 GiB headroom = 27 GiB -> 5 jobs of ~5 GiB, though it has 16 cores.
    assert (laptop["MAX_JOBS"], laptop["NVCC_THREADS"]) == ("5", "1")


def test_build_env_two_architectures_use_two_nvcc_threads_a_job() -> None:
    mixed = H200.with_(gpus=(Gpu(name="A100", capability=(8, 0)), Gpu(name="H100", capability=(9, 0))))
    env, _ = build_env(mixed, flash_attn_releases()[0])
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
    env, warnings = build_env(tiny, flash_attn_releases()[0])
    assert (env["MAX_JOBS"], env["NVCC_THREADS"]) == ("1", "1")
    assert any("8 GiB of memory leaves 4 GiB" in w for w in warnings)


def test_warnings_for_missing_or_mismatched_nvcc() -> None:
    no_nvcc = Target(
        driver="580.159.04",
        cuda=CudaVersion(13, 0),
        python="3.12",
        cpus=16,
        memory_gib=125.0,
        gpus=(Gpu(name="H200", capability=(9, 0)),),
    )
    assert any("no nvcc" in w for w in _fa(no_nvcc, "2.11.0", (13, 0), True, ["3.12"]).warnings)
    old_nvcc = Target(
        driver="580.159.04",
        cuda=CudaVersion(13, 0),
        python="3.12",
        cpus=16,
        memory_gib=125.0,
        gpus=(Gpu(name="H200", capability=(9, 0)),),
        nvcc="12.4.131",
    )
    assert any("differ in major" in w for w in _fa(old_nvcc, "2.11.0", (13, 0), True, ["3.12"]).warnings)


B200 = Target(
    driver="580.159.04",
    cuda=CudaVersion(13, 0),
    python="3.12",
    cpus=32,
    memory_gib=500.0,
    gpus=(Gpu(name="B200", capability=(10, 0)),),
    nvcc="12.9.86",
)


def test_a_wheel_without_code_for_the_gpu_is_passed_over_for_a_build() -> None:
    # 2.7.x wheels carry sm_80 + sm_90 only: on a Blackwell GPU the module would find no kernel image
    p = _fa(B200, "2.6.0", (12, 4), False, ["3.12"], spec="<2.8")
    assert "needs sm_100" in dict(p.rejected)["2.7.4.post1"]
    assert (p.source, p.version, p.env["FLASH_ATTN_CUDA_ARCHS"]) == ("build", "2.7.4.post1", "100")


def test_releases_that_cannot_compile_for_the_gpu_are_no_answer() -> None:
    with pytest.raises(NoAnswer) as e:  # FLASH_ATTN_CUDA_ARCHS (and sm_100) arrived in 2.7.3
        _fa(B200, "2.6.0", (12, 4), False, ["3.12"], spec="<2.7.3")
    assert "cannot compile sm_100" in e.value.message


def test_cxx11_torch_26_cu126_gets_the_abi_true_wheel() -> None:
    t = A100_550.with_(driver="560.35.03", cuda=CudaVersion(12, 6))
    p = _fa(t, "2.6.0", (12, 6), True, ["3.12"])
    # the 2.8.x breakage is in the pre-cxx11 wheels; strict still rules 2.8.x out for its nvcc 12.9
    assert "nvcc 12.9" in dict(p.rejected)["2.8.3"]
    assert p.wheels["3.12"][1] == "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"


def test_plan_uses_the_abi_of_the_torch_variant(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "plan", "torch==2.6.0", "flash-attn", "--driver", "560.35.03", "--gpu", "8.0", "--python", "3.12", "--json"
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["packages"]["torch"]["variant"] == "cu126"
    assert "cu12torch2.6cxx11abiTRUE-cp312" in d["packages"]["flash-attn"]["url"]


def test_known_bad_wheels_do_not_stop_a_source_build_of_the_same_version() -> None:
    p = _fa(A100_550, "2.6.0", (12, 4), False, ["3.12"], spec=">=2.8", policy="minor")
    assert "issues/1783" in dict(p.rejected)["2.8.3"] or "seed blog" in dict(p.rejected)["2.8.3"]
    assert (p.source, p.version) == ("build", "2.8.3.post2")  # the newest sdist on PyPI


def test_a_cuda_13_torch_has_no_wheel_before_2_8_3_post1_naming() -> None:
    p = _fa(H200, "2.8.0", (13, 0), True, ["3.12"])
    assert "no wheel for a CUDA 13 torch" in dict(p.rejected)["2.8.3"]
    assert "cu13 torch2.8" in dict(p.rejected)["2.8.3.post1"]
    assert "release assets are not known" in dict(p.rejected)["2.8.3.post2"]


def test_wheels_for_some_pythons_only_say_which_lack_one() -> None:
    t = A100_550.with_(driver="580.159.04", cuda=CudaVersion(13, 0))
    p = _fa(t, "2.4.0", (12, 4), False, ["3.12", "3.13"])
    # every release's CI skips torch 2.4 x Python 3.13: the newest one with a 3.12 wheel, 3.13 reported
    assert (p.version, sorted(p.wheels), p.missing_pythons) == ("2.8.3.post1", ["3.12"], ("3.13",))
    assert any("no prebuilt wheel for Python 3.13" in w for w in p.warnings)
    assert [v for v, _ in p.rejected] == ["2.8.3.post2"]  # only newer releases are listed as passed over


def test_wheelhouse_and_proxy_sources() -> None:
    marker = "sys_platform == 'linux' and platform_machine == 'x86_64'"
    p = plan_flash_attn(
        target=A100_550,
        torch_version=Version("2.6.0"),
        torch_cuda=CudaVersion(12, 4),
        cxx11_abi=False,
        pythons=["3.12"],
        specifier=SpecifierSet(),
        policy="strict",
        github_proxy="https://gh-proxy.com/",
    )
    assert p.wheels["3.12"][0].startswith("https://gh-proxy.com/https://github.com/Dao-AILab/")
    assert p.to_dict("3.12") == {"version": "2.7.4.post1", "source": "prebuilt", "url": p.wheels["3.12"][0]}
    house = plan_flash_attn(
        target=A100_550,
        torch_version=Version("2.6.0"),
        torch_cuda=CudaVersion(12, 4),
        cxx11_abi=False,
        pythons=["3.12"],
        specifier=SpecifierSet(),
        policy="strict",
        wheels="https://mirror.example/flash-attn/",
    )
    assert source_entries(house, marker) == [{"index": "flash-attn-wheels", "marker": marker}]
    assert house.to_dict("3.12")["index"] == "https://mirror.example/flash-attn/"


def test_an_sdist_newer_than_the_table_builds_with_the_newest_known_facts() -> None:
    p = plan_flash_attn(
        target=H200,
        torch_version=Version("2.11.0"),
        torch_cuda=CudaVersion(13, 0),
        cxx11_abi=True,
        pythons=["3.12"],
        specifier=SpecifierSet(),
        policy="strict",
        sdist_versions=[Version("2.8.3"), Version("2.9.0")],
    )
    assert (p.source, p.version) == ("build", "2.9.0")
    assert any("newer than llmenv's release table" in r for r in p.reasons)


@pytest.mark.parametrize(("cc", "needle"), [((7, 0), "sm_70"), ((7, 5), "sm_75")])
def test_refuses_volta_and_turing(cc: tuple[int, int], needle: str) -> None:
    t = Target(
        driver="550.54.14", cuda=CudaVersion(12, 4), python="3.12", gpus=(Gpu(name="GPU", capability=cc),)
    )
    with pytest.raises(NoAnswer) as e:
        _fa(t, "2.6.0", (12, 4), False, ["3.12"])
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
    p = _fa(A100_550, "2.6.0", (12, 4), False, ["3.12", "3.13"])
    entries = source_entries(p, "sys_platform == 'linux' and platform_machine == 'x86_64'")
    assert [e["marker"] for e in entries] == [
        "sys_platform == 'linux' and platform_machine == 'x86_64' and python_version == '3.12'",
        "sys_platform == 'linux' and platform_machine == 'x86_64' and python_version == '3.13'",
    ]


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for GitHub releases: it serves any path ending in a file it holds."""
    root = tmp_path / "assets"
    root.mkdir()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            f = root / self.path.rsplit("/", 1)[-1].replace("%2B", "+")
            if not f.is_file():
                self.send_error(404)
                return
            data = f.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_init_and_real_uv_lock_hold_the_release_wheel_with_its_hash(
    run_cli, torch_indexes: Path, tmp_path: Path, release_server: tuple[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    url, assets = release_server
    name = "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"
    for py in ("311", "312", "313"):  # the project supports 3.11-3.13: one release asset each
        make_wheel(assets, "flash-attn", "2.7.4.post1", requires=["torch"], filename=name.replace("311", py))
    whl = torch_indexes
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
        f"{whl}/{{variant}}",
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
    whl = torch_indexes
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
        f"{whl}/{{variant}}",
        "--flash-attn-wheels",
        str(house),
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    r = run_cli("lock", cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((tmp_path / "uv.lock").read_text()).unwrap()
    fas = [p for p in lock["package"] if p["name"] == "flash-attn"]
    files = {w["url"].rsplit("/", 1)[-1] if "url" in w else w.get("path", "") for p in fas for w in p["wheels"]}
    assert files and all("cu12torch2.6cxx11abiFALSE" in f for f in files), files
