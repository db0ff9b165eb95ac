"""Whole stacks planned together, on fixture knowledge (tests/fixtures/pins/snapshot.json, built from the
facts' PyPI metadata) so these tests do not move when the bundled snapshot is refreshed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit

from llmenv.errors import NoAnswer
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.knowledge.pins import read_pins
from llmenv.plan import make_plan
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target

from .conftest import FIXTURES

PINS = read_pins(FIXTURES / "pins" / "snapshot.json").releases


def _plan(
    specs: list[str],
    driver: str = "550.54.14",
    gpu: tuple[int, int] = (8, 0),
    python: str = "3.12",
    allow_overrides: bool = False,
    policy: str = "strict",
):  # type: ignore[no-untyped-def]
    kb = load()
    t = Target(
        driver=driver, cuda=kb.cuda.max_cuda(driver), python=python, gpus=(Gpu(name="GPU", capability=gpu),)
    )
    return make_plan(
        t,
        parse_specs(specs, Path(".")),
        policy=policy,
        source=torch_source(None, None),
        pins=PINS,
        allow_overrides=allow_overrides,
    )


def test_seed_chain_openrlhf_on_a_cuda_124_driver() -> None:
    p = _plan(["openrlhf[vllm]"])
    assert p.packages["vllm"].version == "0.8.5.post1"
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.6.0", "cu124")
    assert p.packages["openrlhf"].version == "0.8.3"
    assert "openrlhf[vllm]==0.8.3" in p.dependencies and "vllm==0.8.5.post1" in p.dependencies
    assert any(d.startswith("flash-attn") and "2.7.4.post1" in d for d in p.dependencies)
    # torchvision / torchaudio pinned by vllm follow torch to the same index.
    assert p.packages["torchvision"].index == p.packages["torch"].index == "pytorch-cu124"
    why = {(r.package, r.version): r.reason for r in p.rejected}
    assert "needs vllm==0.9.0.1" in why[("openrlhf", "0.8.4")]
    assert "torch==2.7.0" in why[("openrlhf", "0.8.4")] and "CUDA 12.6" in why[("openrlhf", "0.8.4")]


def test_pinned_engine_the_target_cannot_run_exits_naming_the_pin() -> None:
    with pytest.raises(NoAnswer) as e:
        _plan(["vllm==0.10.2"])
    msg = e.value.message
    assert "vllm==0.10.2" in msg and "torch==2.8.0" in msg and "CUDA 12.8" in msg and "550.54.14" in msg


def test_engine_alone_picks_the_newest_that_runs() -> None:
    p = _plan(["vllm"], driver="580.159.04", gpu=(9, 0))
    assert p.packages["vllm"].version == "0.33.0"
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.14.0", "cu130")
    p = _plan(["vllm"], driver="570.86.15", gpu=(9, 0))
    # PyPI's vllm is CUDA 13 from 0.20 on; the newest release with a CUDA 12 build on its variant index
    # (wheels.vllm.ai/0.26.0/cu129, in the listings) goes with a CUDA 12 torch, so libcudart matches
    vllm = p.packages["vllm"]
    assert (vllm.version, vllm.source, vllm.index) == ("0.26.0+cu129", "index", "vllm-cu129")
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.11.0", "cu128")
    assert "vllm==0.26.0+cu129 ; sys_platform == 'linux' and platform_machine == 'x86_64'" in p.dependencies
    assert any(i.name == "vllm-cu129" and i.url == "https://wheels.vllm.ai/0.26.0/cu129/" for i in p.indexes)
    assert p.extra["sources"]["vllm"] == [
        {"index": "vllm-cu129", "marker": "sys_platform == 'linux' and platform_machine == 'x86_64'"}
    ]
    assert any("libcudart.so.13" in r and "vllm#44335" in r and "minor-version compatibility" in r for r in p.reasons)
    # a release whose PyPI wheel is CUDA 12 stays on PyPI with a CUDA 12 torch
    p = _plan(["vllm==0.19.1"], driver="570.86.15", gpu=(9, 0))
    assert (p.packages["vllm"].version, p.packages["vllm"].source) == ("0.19.1", "default")
    assert p.packages["torch"].variant == "cu128"


def test_verl_on_an_h200() -> None:
    p = _plan(["verl[vllm]"], driver="580.159.04", gpu=(9, 0))
    assert p.packages["verl"].version == "0.9.1"
    assert p.packages["vllm"].version == "0.24.0"
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.11.0", "cu130")
    assert p.requires_python == ">=3.12,<3.13"  # verl 0.9.1 requires Python < 3.13


def test_user_pin_clash_exits_with_both_ways_out(run_cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NoAnswer) as e:
        _plan(["openrlhf==0.8.11", "transformers==4.57.1"], driver="580.159.04", gpu=(9, 0))
    assert "openrlhf 0.8.11 requires transformers==4.56.1" in e.value.message
    assert e.value.hint and "--allow-overrides" in e.value.hint and "llmenv override" in e.value.hint


def test_allow_overrides_keeps_the_newest_framework_and_relaxes_its_pins() -> None:
    p = _plan(["openrlhf[vllm]"], allow_overrides=True)
    assert p.packages["openrlhf"].version == "0.11.2"
    assert p.packages["vllm"].version == "0.8.5.post1"
    relaxed = {r["package"]: r for r in p.overrides[0]["relaxed"]}
    assert relaxed["vllm"]["from"] == "vllm==0.29.0" and relaxed["vllm"]["to"] == "vllm==0.8.5.post1"
    # The seed's second relaxation: flash-attn 2.8.3 has no wheel a CUDA 12.4 driver runs with torch 2.6.
    assert relaxed["flash-attn"]["from"] == "flash-attn==2.8.3"
    assert relaxed["flash-attn"]["to"] == "flash-attn==2.7.4.post1"
    assert p.packages["flash-attn"].source == "prebuilt"
    meta = p.extra["dependency-metadata"][0]
    assert meta["name"] == "openrlhf" and meta["version"] == "0.11.2"
    assert 'vllm==0.8.5.post1; extra == "vllm"' in meta["requires-dist"]
    assert (
        'vllm>=0.29.0; extra == "vllm-latest"' in meta["requires-dist"]
    )  # an extra not asked for is untouched
    assert "accelerate" in meta["requires-dist"]  # the rest of the metadata is kept


def test_init_writes_dependency_metadata_and_is_idempotent(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import llmenv.cli._planning as planning

    monkeypatch.setattr(planning, "lazy_pins", lambda environ=None: PINS)
    args = [
        "init",
        ".",
        "openrlhf[vllm]",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        "3.12",
        "--allow-overrides",
    ]
    r = run_cli(*args, cwd=tmp_path)
    assert r.code == 0, r.err
    text = (tmp_path / "pyproject.toml").read_text()
    doc = tomlkit.parse(text).unwrap()
    assert doc["tool"]["uv"]["dependency-metadata"][0]["name"] == "openrlhf"
    assert doc["tool"]["llmenv"]["allow-overrides"] is True
    assert run_cli("init", cwd=tmp_path).code == 0
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_cpu_target_cannot_run_an_engine() -> None:
    t = Target(python="3.12")
    with pytest.raises(NoAnswer) as e:
        make_plan(t, parse_specs(["vllm"], Path(".")), source=torch_source(None, None), pins=PINS)
    assert "needs an NVIDIA GPU" in e.value.message


def test_extras_that_cannot_live_together_become_conflicting_project_extras() -> None:
    p = _plan(["verl[vllm,sglang]"], driver="580.159.04", gpu=(9, 0))
    opt = p.extra["optional-dependencies"]
    assert set(opt) == {"vllm", "sglang"}
    assert "verl[vllm]==0.8.0" in opt["vllm"] and "vllm==0.12.0" in opt["vllm"]
    assert "verl[sglang]==0.8.0" in opt["sglang"] and "sglang==0.5.8" in opt["sglang"]
    assert p.dependencies == ("verl==0.8.0",)
    assert p.extra["conflicts"] == [[{"extra": "sglang"}, {"extra": "vllm"}]]
    # verl 0.9.1[sglang] is passed over for a real clash in its metadata.
    assert any(
        r.package == "verl" and r.version == "0.9.1" and "transformers" in r.reason for r in p.rejected
    )


def test_conflicting_extras_lock_with_the_real_uv(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The project written for verl[vllm,sglang] locks: uv resolves the two extras apart."""
    import llmenv.cli._planning as planning

    from .wheelfactory import make_wheel

    monkeypatch.setattr(planning, "lazy_pins", lambda environ=None: PINS)
    whl = tmp_path / "whl"
    for variant in ("cu128", "cpu"):
        for tv, ta, t in (("0.24.0", "2.9.0", "2.9.0"), ("0.24.1", "2.9.1", "2.9.1")):
            make_wheel(whl / variant, "torch", f"{t}+{variant}")
            make_wheel(whl / variant, "torchvision", f"{tv}+{variant}", requires=[f"torch=={t}"])
            make_wheel(whl / variant, "torchaudio", f"{ta}+{variant}", requires=[f"torch=={t}"])
    pypi = whl / "pypi"
    make_wheel(
        pypi,
        "verl",
        "0.8.0",
        extras={"vllm": ["vllm<=0.12.0,>=0.8.5"], "sglang": ["sglang==0.5.8", "torch==2.9.1"]},
    )
    make_wheel(pypi, "vllm", "0.12.0", requires=["torch==2.9.0", "torchvision==0.24.0", "torchaudio==2.9.0"])
    make_wheel(pypi, "sglang", "0.5.8", requires=["torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1"])
    project = tmp_path / "proj"
    r = run_cli(
        "init",
        "./proj",
        "verl[vllm,sglang]",
        "--driver",
        "580.159.04",
        "--gpu",
        "9.0",
        "--python",
        "3.11",
        "--torch-index",
        f"{whl}/{{variant}}",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    # A local folder of wheels stands in for PyPI.
    r = run_cli("lock", "--project", "proj", "--", "--offline", "--find-links", str(pypi), cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    torch = sorted(p["version"] for p in lock["package"] if p["name"] == "torch")
    assert "2.9.0+cu128" in torch and "2.9.1+cu128" in torch


def test_local_framework_tree_is_planned_from_its_static_metadata(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    import llmenv.cli._planning as planning

    monkeypatch.setattr(planning, "lazy_pins", lambda environ=None: PINS)
    shutil.copytree(FIXTURES / "local_verl", tmp_path / "verl")
    r = run_cli(
        "init",
        ".",
        "./verl[vllm]",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        "3.12",
        "--json",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    plan = json.loads(r.out)["plan"]
    assert plan["packages"]["vllm"]["version"] == "0.8.5"  # verl's [vllm] allows <=0.8.5: not 0.8.5.post1
    assert plan["packages"]["torch"] == {
        "version": "2.6.0",
        "source": "index",
        "variant": "cu124",
        "index": "pytorch-cu124",
    }
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    assert doc["tool"]["uv"]["sources"]["verl"] == {"path": "./verl", "editable": True}
    # The requirement text is what was asked for; the exact plan is a constraint scoped to the target.
    assert "verl[vllm]" in doc["project"]["dependencies"] and "vllm" in doc["project"]["dependencies"]
    pins = doc["tool"]["uv"]["constraint-dependencies"]
    assert "vllm==0.8.5" in pins
    assert "workspace" not in doc["tool"]["uv"]


def test_seed_chain_on_the_bundled_snapshot(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same reasoning from the knowledge llmenv ships (no fixture pins, no network): openrlhf 0.8.0-0.8.3
    (vllm 0.8.5.post1) ship cp310/cp311 wheels only, so the seed's chain needs Python 3.11 — and says so."""
    env = {"LLMENV_DATA_DIR": str(tmp_path / "no-user-snapshot")}
    target = ["--driver", "550.54.14", "--gpu", "8.0"]
    r = run_cli("plan", "openrlhf[vllm]", *target, "--python", "3.11", "--json", environ=env)
    assert r.code == 0, r.err
    d = json.loads(r.out)
    pk = d["packages"]
    assert (pk["openrlhf"]["version"], pk["vllm"]["version"]) == ("0.8.3", "0.8.5.post1")
    assert (pk["torch"]["version"], pk["torch"]["variant"]) == ("2.6.0", "cu124")
    assert (pk["flash-attn"]["version"], pk["flash-attn"]["source"]) == ("2.7.4.post1", "prebuilt")
    assert "cu12torch2.6cxx11abiFALSE-cp311" in pk["flash-attn"]["url"]
    assert d["requires-python"] == ">=3.11,<3.12" and d["python"] == "3.11"  # openrlhf 0.8.3 has no cp312 wheel
    blocked = {(x["package"], x["version"]): x["reason"] for x in d["rejected"]}
    assert "vllm==0.9.0.1" in blocked[("openrlhf", "0.8.4")]

    r = run_cli("plan", "openrlhf[vllm]", *target, "--python", "3.12", environ=env)
    assert r.code == 1
    assert "openrlhf 0.7.5–0.8.3 (pinning vllm 0.8.5.post1): ships wheels for Python 3.10–3.11 only" in r.err
    assert "Python 3.11 works" in r.err and "hint: use --python 3.11, or --allow-overrides" in r.err

    r = run_cli("plan", "openrlhf[vllm]", *target, "--json", environ=env)  # Python not fixed: 3.11 is chosen
    assert r.code == 0, r.err
    assert json.loads(r.out)["python"] == "3.11"
