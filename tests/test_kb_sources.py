"""`kb refresh` against loopback stand-ins of its three sources — the PyTorch index, PyPI and the GitHub API —
serving what llmenv does not know yet: torch 2.16.0 with a new cu134 variant, a vllm release pinning it, and a
new flash-attn release. After the refresh, `plan` (through the CLI) takes them, and a real `uv lock` locks the
project `init` writes; with one source failing, the others refresh and the failed table stays as it was."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from llmenv.kb import TRACKED

from .kb_standins import Site, torch_wheel
from .pypi_server import IndexServer
from .wheelfactory import make_sdist_only, make_wheel

PY = "3.11"  # the machine's own Python (uv cannot download one here)
CUDA_13_2 = 'cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"'
ARCHS = "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 compute_120"
AARCH64_ARCHS = "sm_80 sm_90 sm_100 sm_110 sm_120"


@dataclass
class World:
    pypi: IndexServer
    site: Site  # the PyTorch index under /whl/, the GitHub API under /https://api.github.com/
    data: Path
    env: dict[str, str]

    def refresh(self, run_cli: Callable[..., Any], *extra: str) -> Any:
        # the knowledge tables (the wheel sources' listings are tests/test_sources_kb.py's)
        only = () if "--only" in extra else ("--only", "pins", "--only", "engines", "--only", "torch", "--only", "flash-attn")
        return run_cli(
            "kb",
            "refresh",
            *only,
            "--index",
            self.pypi.url,
            "--torch-index",
            f"{self.site.url}/whl/{{variant}}",
            "--github-proxy",
            self.site.url,
            "--timeout",
            "5",
            "--retries",
            "0",
            *extra,
            environ=self.env,
        )


def _serve_pypi(pypi: IndexServer, d: Path) -> None:
    """Every tracked package, small; torch 2.15.0 / 2.16.0 as PyPI ships them (CUDA 13.2 builds)."""
    for v, day in (("2.15.0", "2026-10-28"), ("2.16.0", "2026-12-22")):
        for tag, archs in (("manylinux_2_28_x86_64", ARCHS), ("manylinux_2_28_aarch64", AARCH64_ARCHS)):
            for py in ("cp311", "cp312"):
                w = torch_wheel(d / "torch", v, f"{py}-{py}-{tag}", archs=archs, requires=(CUDA_13_2,))
                pypi.add("torch", w, uploaded=f"{day}T16:00:00Z", requires_python=">=3.10")
        mac = make_wheel(d / "torch", "torch", v, tag="cp311-cp311-macosx_14_0_arm64")
        pypi.add("torch", mac, uploaded=f"{day}T16:00:00Z")
    vision = {"0.29.2": ("torch>=2.14.0", "2026-10-28"), "0.30.0": ("torch==2.16.0", "2026-12-22")}
    for v, (req, day) in vision.items():
        pypi.add(
            "torchvision", make_wheel(d / "tv", "torchvision", v, requires=[req]), uploaded=f"{day}T17:00:00Z"
        )
    audio = make_wheel(d / "ta", "torchaudio", "2.11.1", requires=["torch>=2.11"])
    pypi.add("torchaudio", audio, uploaded="2026-10-28T17:00:00Z")
    vllm = make_wheel(
        d / "vllm",
        "vllm",
        "0.34.0",
        requires=["torch==2.16.0"],
        tag="cp38-abi3-manylinux_2_28_x86_64",
        requires_python=">=3.10",
    )
    pypi.add("vllm", vllm, uploaded="2026-12-23T00:00:00Z", requires_python=">=3.10")
    sdist = make_sdist_only(d / "fa", "flash-attn", "2.9.0", "raise SystemExit('never run')\n")
    pypi.add("flash-attn", sdist, uploaded="2026-12-24T00:00:00Z")
    for name in TRACKED:
        if name not in pypi.files:
            pypi.add(name, make_wheel(d / name, name, "1.0"))


def _serve_torch_index(site: Site, d: Path) -> None:
    """/whl/cu132/ and a new /whl/cu134/; every other variant page (and /whl/torch/) answers 404."""
    pages: dict[str, list[Path]] = {"cu132": [], "cu134": []}
    for variant, versions in (("cu132", ("2.15.0", "2.16.0")), ("cu134", ("2.16.0",))):
        for v in versions:
            for tag, archs in (("manylinux_2_28_x86_64", ARCHS), ("manylinux_2_28_aarch64", AARCH64_ARCHS)):
                for py in ("cp311", "cp312"):
                    pages[variant].append(
                        torch_wheel(d / "whl" / variant, f"{v}+{variant}", f"{py}-{py}-{tag}", archs=archs)
                    )
    for variant, wheels in pages.items():
        site.index_page(f"/whl/{variant}/torch/", wheels)


def _serve_github(site: Site, d: Path) -> None:
    names = [
        f"flash_attn-2.9.0+cu13torch2.16cxx11abi{abi}-cp{py}-cp{py}-linux_x86_64.whl"
        for abi in ("TRUE", "FALSE")
        for py in ("311", "312")
    ] + ["flash_attn-2.9.0+cu13torch2.16cxx11abiTRUE-cp312-cp312-linux_aarch64.whl"]
    assets = [
        make_wheel(d / "fa-assets", "flash-attn", "2.9.0", filename=n, requires=["torch"]) for n in names
    ]
    release = {
        "tag_name": "v2.9.0",
        "published_at": "2026-12-24T10:00:00Z",
        "draft": False,
        "prerelease": False,
    }
    site.github_releases([release], {"v2.9.0": assets})


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    pypi, site = IndexServer().start(), Site().start()
    try:
        _serve_pypi(pypi, tmp_path / "pypi")
        _serve_torch_index(site, tmp_path / "index")
        _serve_github(site, tmp_path / "gh")
        data = tmp_path / "data"
        monkeypatch.setenv("LLMENV_DATA_DIR", str(data))  # the planner's internals read os.environ's
        env = {"LLMENV_DATA_DIR": str(data), "LLMENV_CACHE_DIR": str(tmp_path / "cache")}
        yield World(pypi=pypi, site=site, data=data, env=env)
    finally:
        pypi.stop()
        site.stop()


TARGET = ("--cuda", "13.4", "--gpu", "9.0", "--python", PY)


def _plan(run_cli: Callable[..., Any], world: World, *specs: str) -> dict[str, Any]:
    r = run_cli("plan", *specs, *TARGET, "--json", environ=world.env)
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]


def test_after_a_refresh_plan_takes_the_new_torch_vllm_and_flash_attn(
    run_cli: Callable[..., Any], world: World
) -> None:
    before = run_cli("plan", "torch==2.16.0", *TARGET, environ=world.env)
    assert before.code == 1 and "torch 2.16.0 is newer than llmenv's knowledge" in before.err

    r = world.refresh(run_cli)
    assert r.code == 0, r.err
    for name in ("pins", "engines", "torch", "flash-attn"):
        assert f"{name:<11} refreshed: " in r.out
    assert {p.name for p in world.data.iterdir()} == {
        "pins.json",
        "engine_torch_pins.json",
        "torch.json",
        "flash_attn.json",
    }
    assert world.site.requests["/whl/cu134/torch/"] == 1 and world.site.requests["/whl/torch/"] == 1  # 404

    torch = _plan(run_cli, world, "torch==2.16.0", "torchvision")
    assert torch["packages"]["torch"] == {
        "version": "2.16.0",
        "source": "index",
        "variant": "cu134",
        "index": "pytorch-cu134",
    }
    assert torch["packages"]["torchvision"]["version"] == "0.30.0"
    assert any("CUDA 13.4's minimum driver is unknown" in w for w in torch["warnings"])

    vllm = _plan(run_cli, world, "vllm==0.34.0")
    assert (
        vllm["packages"]["vllm"]["version"] == "0.34.0" and vllm["packages"]["torch"]["version"] == "2.16.0"
    )

    fa = _plan(run_cli, world, "torch==2.16.0", "flash-attn")
    assert fa["packages"]["flash-attn"]["version"] == "2.9.0"
    assert fa["packages"]["flash-attn"]["source"] == "prebuilt"
    assert (
        "flash_attn-2.9.0+cu13torch2.16cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
        in fa["packages"]["flash-attn"]["url"]
    )

    shown = json.loads(run_cli("kb", "show", "--json", environ=world.env).out)
    origins = {t["table"]: (t["origin"], t["date"]) for t in shown["tables"]}
    assert {origins[n][0] for n in ("pins", "engines", "torch", "flash-attn")} == {"user"}
    assert origins["cuda"][0] == "bundled"


def test_the_refreshed_torch_table_per_platform(run_cli: Callable[..., Any], world: World) -> None:
    assert world.refresh(run_cli, "--only", "pins", "--only", "torch").code == 0  # pins: the pairing
    from llmenv.knowledge import load

    kb = load(world.data)
    assert [str(r.version) for r in kb.torch] == ["2.16.0", "2.15.0"]
    r = kb.torch[0]
    assert (
        r.pypi_cuda.major == 13
        and str(r.pypi_cuda) == "13.2"
        and r.cxx11_abi
        and r.python == ("3.11", "3.12")
    )
    x86, arm = r.on("linux", "x86_64"), r.on("linux", "aarch64")
    assert x86 is not None and arm is not None and x86.complete and arm.complete
    assert set(x86.variants) == {"cu132", "cu134"} and set(arm.variants) == {"cu132", "cu134"}
    assert x86.variants["cu134"].arch_names == "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 +PTX"
    assert arm.variants["cu134"].arch_names == "sm_80 sm_90 sm_100 sm_110 sm_120"
    assert arm.pypi is not None and arm.pypi_cuda is not None and str(arm.pypi_cuda) == "13.2"
    assert r.on("darwin", "arm64") is not None and r.has_platform("darwin", "arm64")
    # torchvision: 0.30.0 pins torch==2.16.0; 0.29.2 (torch>=2.14.0) was uploaded with 2.15.0
    assert (r.torchvision, kb.torch[1].torchvision) == ("0.30.0", "0.29.2")
    assert (r.torchaudio, kb.torch[1].torchaudio) == (None, "2.11.1")  # no torchaudio came with 2.16.0


@pytest.mark.parametrize(
    ("broken", "failed"),
    [("/https://api.github.com/", "flash-attn"), ("/whl/cu134/", "torch")],
)
def test_one_source_failing_leaves_its_table_and_refreshes_the_others(
    run_cli: Callable[..., Any], world: World, broken: str, failed: str
) -> None:
    from llmenv.knowledge._store import TABLES, bundled_text

    world.data.mkdir()
    kept = world.data / TABLES[failed].file
    kept.write_text(bundled_text(TABLES[failed].file), encoding="utf-8")  # the table in use before
    before = kept.read_bytes()
    world.site.fail.add(broken)
    r = world.refresh(run_cli)
    assert r.code == 1
    assert f"{failed:<11} not refreshed: " in r.err and "HTTP 500" in r.err
    assert f"kb refresh: 1 of 4 tables not refreshed ({failed})" in r.err
    assert kept.read_bytes() == before
    for name in {"pins", "engines", "torch", "flash-attn"} - {failed}:
        assert f"{name:<11} refreshed: " in r.out
        assert (world.data / TABLES[name].file).is_file()
    assert not [p for p in world.data.iterdir() if p.name.endswith(".tmp")]


def test_refreshed_knowledge_plans_a_project_that_real_uv_locks(
    run_cli: Callable[..., Any], world: World, tmp_path: Path
) -> None:
    """init writes torch 2.16.0 from the new cu134 index; the real uv locks it (offline, local flat indexes)."""
    assert world.refresh(run_cli, "--only", "pins", "--only", "torch").code == 0
    flat = tmp_path / "flat"
    make_wheel(flat / "cu134", "torch", "2.16.0+cu134", tag="py3-none-any")
    make_wheel(flat / "cpu", "torch", "2.16.0+cpu", tag="py3-none-any")
    r = run_cli(
        "init",
        "./proj",
        "torch==2.16.0",
        *TARGET,
        "--torch-index",
        f"{flat}/{{variant}}",
        cwd=tmp_path,
        environ=world.env,
    )
    assert r.code == 0, r.err
    r = run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path, environ=world.env)
    assert r.code == 0, r.err
    lock = tomlkit.parse((tmp_path / "proj" / "uv.lock").read_text()).unwrap()
    # the planned platform's build only: the lock names exactly the planned platforms (issue 14)
    assert {p["version"] for p in lock["package"] if p["name"] == "torch"} == {"2.16.0+cu134"}


def test_check_reads_every_table_again_and_names_what_differs(
    run_cli: Callable[..., Any], world: World
) -> None:
    assert world.refresh(run_cli).code == 0
    r = world.refresh(run_cli, "--check", str(world.data))
    assert r.code == 0, r.out + r.err
    for name, file in (
        ("pins", "pins"),
        ("engines", "engine_torch_pins"),
        ("torch", "torch"),
        ("flash-attn", "flash_attn"),
    ):
        assert f"{name:<11} {world.data / (file + '.json')}: reads the same again" in r.out
    table = json.loads((world.data / "torch.json").read_text())
    table["releases"][-1]["torchvision"] = "0.29.9"
    table["releases"][-1]["platforms"]["linux-x86_64"]["variants"]["cu134"]["archs"] = ["8.0"]
    (world.data / "torch.json").write_text(json.dumps(table))
    before = {p.name: p.read_bytes() for p in world.data.iterdir()}
    r = world.refresh(run_cli, "--check", str(world.data))
    assert r.code == 1
    assert "torch       differs: torch 2.16.0: torchvision, linux-x86_64.variants differ" in r.out
    assert "kb refresh --check: 1 of 4 tables read differently now" in r.err
    assert {p.name: p.read_bytes() for p in world.data.iterdir()} == before  # --check writes nothing
