"""Each kind of wheel source the planner chooses, end to end: `llmenv init` writes the project, then a real
`uv lock` of it against loopback stand-ins records a sha256 for every wheel of the chosen source.

- Astral's GPU index (PEP 691 JSON with hashes) -> an explicit [[tool.uv.index]] + [tool.uv.sources] routing;
- the PyTorch index's flash-attn-3 (HTML, hash fragments) -> the torch source's own index entry for the variant;
- mjun0812's release assets through --github-proxy -> one URL per Python;
- vLLM's per-version variant index -> vllm from wheels.vllm.ai/{version}/{variant} with a CUDA 12 torch;
- the transformer-engine trio from one Astral channel, versions equal.

The catalog's URL templates point at the loopback servers (what a mirror of each host would be); what each
source lists is a user listings snapshot, as `kb refresh` writes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomlkit

import llmenv.sources.catalog as catalog
from llmenv.sources.listing import write_listings

from .wheel_servers import GitHubReleases, SimpleIndex, fact_wheel, serving
from .wheelfactory import make_wheel

MARKER = "sys_platform == 'linux' and platform_machine == 'x86_64'"


def _catalog(monkeypatch: pytest.MonkeyPatch, **templates: dict[str, str]) -> None:
    """Point sources' URL templates at loopback servers (``astral={"index": ".../simple/{channel}/"}``)."""
    real = catalog.load_sources()
    patched = tuple(replace(s, **templates[s.id]) if s.id in templates else s for s in real)
    monkeypatch.setattr(catalog, "load_sources", lambda: patched)


def _listings(data: Path, **sources: list[dict[str, str]]) -> dict[str, str]:
    """A user listings snapshot (as `kb refresh` writes it) of exactly these files; the environment to use it."""
    snap = {
        "schema": 1,
        "generated": "2026-12-01T00:00:00Z",
        "sources": {
            sid: {"origin": "refresh", "read": "2026-12-01T00:00:00Z", "from": "test", "status": "V", "files": files}
            for sid, files in sources.items()
        },
    }
    write_listings(data / "wheel_listings.json", snap)
    return {"LLMENV_DATA_DIR": str(data)}


def _torch_folder(root: Path, version: str, variants: tuple[str, ...], **companions: str) -> str:
    """Flat folders standing in for the PyTorch index (``--torch-index <root>/{variant}``)."""
    for v in (*variants, "cpu"):
        make_wheel(root / v, "torch", f"{version}+{v}")
        for name, cv in companions.items():
            make_wheel(root / v, name, f"{cv}+{v}", requires=[f"torch=={version}"])
    return f"{root}/{{variant}}"


def _python(minor: str) -> str:
    """An interpreter of that minor (pyenv's here): uv cannot download one in the tests."""
    found = sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python"))
    if not found:
        pytest.skip(f"no Python {minor} interpreter on this machine")
    return str(found[-1])


def _lock(run_cli: Any, project: Path, environ: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    minor = _doc(project)["project"]["requires-python"].split(",")[0].removeprefix(">=")
    env = {**environ, "UV_PYTHON": _python(minor), "UV_PYTHON_DOWNLOADS": "never"}
    r = run_cli("lock", cwd=project, environ=env)
    assert r.code == 0, r.err
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    return {p["name"]: p.get("wheels", []) for p in lock["package"]}


def _doc(project: Path) -> dict[str, Any]:
    return tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()  # type: ignore[no-any-return]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[SimpleIndex]:
    srv = SimpleIndex()
    with serving(srv):
        yield srv


A100_570 = ("--driver", "570.86.15", "--gpu", "8.0", "--python", "3.11")
H100_570 = ("--driver", "570.86.15", "--gpu", "9.0", "--python", "3.12")
H100_580 = ("--driver", "580.65.06", "--gpu", "9.0", "--python", "3.12")


def test_astral_index_is_an_explicit_index_and_locks_with_hashes(
    run_cli, tmp_path: Path, served: SimpleIndex, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    name = "flash_attn-2.8.3+cu.12.8.torch.2.8-cp311-cp311-manylinux_2_24_x86_64.whl"
    served.add("simple/cu128", fact_wheel(tmp_path / "w", name, requires=["torch==2.8.*", "einops"]))
    make_wheel(tmp_path / "pypi", "einops", "0.8.1")
    served.add("pypi", tmp_path / "pypi" / "einops-0.8.1-py3-none-any.whl")
    _catalog(monkeypatch, astral={"index": served.base + "/simple/{channel}/"})
    env = _listings(tmp_path / "data", astral=[{"at": "cu128", "file": name}])
    torch = _torch_folder(tmp_path / "whl", "2.8.0", ("cu128",))
    project = tmp_path / "p"
    r = run_cli(
        "init", str(project), "torch==2.8.*", "flash-attn==2.8.3", *A100_570, "--torch-index", torch,
        "--mirror", served.url("pypi"), environ=env,
    )  # fmt: skip
    assert r.code == 0, r.err
    doc = _doc(project)
    (idx,) = [i for i in doc["tool"]["uv"]["index"] if i["name"] == "astral-cu128"]
    assert idx == {"name": "astral-cu128", "url": served.url("simple/cu128"), "explicit": True}
    assert doc["tool"]["uv"]["sources"]["flash-attn"] == [{"index": "astral-cu128", "marker": MARKER}]
    assert f"flash-attn==2.8.3+cu.12.8.torch.2.8 ; {MARKER}" in doc["tool"]["uv"]["constraint-dependencies"]
    (wheel,) = _lock(run_cli, project, env)["flash-attn"]
    assert wheel["url"].replace("%2B", "+").endswith(name) and wheel["hash"].startswith("sha256:")


def test_pytorch_index_fa3_uses_the_torch_source_s_entry_and_locks_with_hashes(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    srv = SimpleIndex(html_only=True)  # download.pytorch.org answers HTML only
    fa3 = "flash_attn_3-3.0.0-cp39-abi3-manylinux_2_28_x86_64.whl"
    srv.add("whl/cu126", fact_wheel(tmp_path / "w", fa3, requires=["torch>=2.9"]))
    for v in ("cu128", "cu126", "cpu"):
        srv.add(f"whl/{v}", make_wheel(tmp_path / "t" / v, "torch", f"2.9.0+{v}"))
    env = _listings(tmp_path / "data", pytorch=[{"at": "cu126", "file": fa3, "torch": ">=2.9"}])
    with serving(srv):
        _catalog(monkeypatch, pytorch={"index": srv.base + "/whl/{channel}/"})
        project = tmp_path / "p"
        r = run_cli(
            "init", str(project), "torch==2.9.0", "flash-attn-3", *H100_570,
            "--torch-index", srv.base + "/whl/{variant}/", environ=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        doc = _doc(project)
        # the FA3 wheel's channel is a variant of the torch source: its entry (a mirror serves FA3 too)
        assert doc["tool"]["uv"]["sources"]["flash-attn-3"] == [{"index": "pytorch-cu126", "marker": MARKER}]
        names = {i["name"]: i for i in doc["tool"]["uv"]["index"]}
        assert names["pytorch-cu126"]["url"].rstrip("/") == srv.base + "/whl/cu126"
        assert names["pytorch-cu126"]["explicit"] is True
        wheels = _lock(run_cli, project, env)
    (wheel,) = wheels["flash-attn-3"]
    assert wheel["url"].endswith(fa3) and wheel["hash"].startswith("sha256:")


def test_mjun0812_assets_through_the_github_proxy_are_one_url_per_python(
    run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    gh = GitHubReleases()
    repo = "mjun0812/flash-attention-prebuild-wheels"
    names = [f"flash_attn-2.8.3+cu128torch2.9-cp3{m}-cp3{m}-linux_x86_64.whl" for m in (11, 12)]
    for n in names:
        gh.add(repo, "v0.9.52", fact_wheel(tmp_path / "w", n, requires=["torch"]))
    env = _listings(tmp_path / "data", mjun0812=[{"at": "v0.9.52", "file": n} for n in names])
    torch = _torch_folder(tmp_path / "whl", "2.9.0", ("cu128",))
    with serving(gh):
        project = tmp_path / "p"
        r = run_cli(
            "init", str(project), "torch==2.9.0", "flash-attn", *A100_570, "--torch-index", torch,
            "--github-proxy", gh.base + "/", environ=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        entries = _doc(project)["tool"]["uv"]["sources"]["flash-attn"]
        assert [e["marker"] for e in entries] == [f"{MARKER} and python_version == '3.11'"] + (
            [f"{MARKER} and python_version == '3.12'"] if len(entries) == 2 else []
        )
        assert entries[0]["url"] == (
            f"{gh.base}/https://github.com/{repo}/releases/download/v0.9.52/" + names[0].replace("+", "%2B")
        ) or entries[0]["url"] == f"{gh.base}/https://github.com/{repo}/releases/download/v0.9.52/{names[0]}"
        wheels = _lock(run_cli, project, env)
    got = wheels["flash-attn"]
    assert got and all(w["hash"].startswith("sha256:") for w in got)  # uv hashes what it downloads


def test_vllm_from_its_variant_index_goes_with_a_cuda_12_torch(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    srv = SimpleIndex(html_only=True)
    name = "vllm-0.26.0+cu129-cp38-abi3-manylinux_2_28_x86_64.whl"
    srv.add(
        "0.26.0/cu129",
        fact_wheel(tmp_path / "w", name, requires=["torch==2.11.0", "torchvision==0.26.0", "torchaudio==2.11.0"]),
    )
    env = _listings(tmp_path / "data", vllm=[{"at": "0.26.0/cu129", "file": name}])
    torch = _torch_folder(tmp_path / "whl", "2.11.0", ("cu128",), torchvision="0.26.0", torchaudio="2.11.0")
    with serving(srv):
        _catalog(monkeypatch, vllm={"index": srv.base + "/{version}/{channel}/"})
        project = tmp_path / "p"
        r = run_cli("init", str(project), "vllm==0.26.0", *H100_570, "--torch-index", torch, environ=env)
        assert r.code == 0, r.err
        doc = _doc(project)
        assert doc["tool"]["uv"]["sources"]["vllm"] == [{"index": "vllm-cu129", "marker": MARKER}]
        # the variant build on the target's platform; elsewhere PyPI's release of that version
        assert f"vllm==0.26.0+cu129 ; {MARKER}" in doc["tool"]["uv"]["constraint-dependencies"]
        assert doc["tool"]["uv"]["sources"]["torch"][0]["index"] == "pytorch-cu128"
        wheels = _lock(run_cli, project, env)
    (wheel,) = wheels["vllm"]
    assert wheel["url"].replace("%2B", "+").endswith(name) and wheel["hash"].startswith("sha256:")


def test_the_transformer_engine_trio_locks_from_one_index(
    run_cli, tmp_path: Path, served: SimpleIndex, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    w = tmp_path / "w"
    meta = make_wheel(
        w, "transformer-engine", "2.16.0",
        requires=["transformer-engine-cu13==2.16.0"], extras={"pytorch": ["transformer-engine-torch==2.16.0"]},
    )  # fmt: skip
    core = fact_wheel(w, "transformer_engine_cu13-2.16.0+cu.13.0-py3-none-manylinux_2_28_x86_64.whl")
    ext = fact_wheel(
        w,
        "transformer_engine_torch-2.16.0+cu.13.0.torch.2.12-cp312-cp312-manylinux_2_28_x86_64.whl",
        requires=["torch==2.12.*", "transformer-engine-cu13==2.16.0"],
    )
    for f in (meta, core, ext):
        served.add("simple/cu130", f)
    _catalog(monkeypatch, astral={"index": served.base + "/simple/{channel}/"})
    env = _listings(tmp_path / "data", astral=[{"at": "cu130", "file": f.name} for f in (meta, core, ext)])
    torch = _torch_folder(tmp_path / "whl", "2.12.0", ("cu130",))
    project = tmp_path / "p"
    r = run_cli(
        "init", str(project), "torch==2.12.0", "transformer-engine[pytorch]", *H100_580, "--torch-index", torch,
        environ=env,
    )  # fmt: skip
    assert r.code == 0, r.err
    sources = _doc(project)["tool"]["uv"]["sources"]
    trio = ("transformer-engine", "transformer-engine-cu13", "transformer-engine-torch")
    assert {n: sources[n] for n in trio} == {n: [{"index": "astral-cu130", "marker": MARKER}] for n in trio}
    wheels = _lock(run_cli, project, env)
    for n in trio:
        assert wheels[n] and all(x["hash"].startswith("sha256:") for x in wheels[n]), n


def test_each_platform_of_one_lock_gets_its_own_listed_wheel(
    run_cli, tmp_path: Path, served: SimpleIndex, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # --platform linux-x86_64 --platform linux-aarch64: the multi-platform planner asks the same providers for
    # each platform; x86_64's flash-attn comes from Astral's index (ranked first), aarch64's — which Astral does
    # not list here — from mjun0812's release assets through --github-proxy, each with its platform's marker.
    astral = "flash_attn-2.8.3+cu.13.0.torch.2.13-cp312-cp312-manylinux_2_28_x86_64.whl"
    served.add("simple/cu130", fact_wheel(tmp_path / "w", astral, requires=["torch==2.13.*"]))
    gh = GitHubReleases()
    repo = "mjun0812/flash-attention-prebuild-wheels"
    mjun = "flash_attn-2.8.3+cu130torch2.13-cp312-cp312-linux_aarch64.whl"
    gh.add(repo, "v0.9.48", fact_wheel(tmp_path / "w", mjun, requires=["torch"]))
    _catalog(monkeypatch, astral={"index": served.base + "/simple/{channel}/"})
    env = _listings(
        tmp_path / "data", astral=[{"at": "cu130", "file": astral}], mjun0812=[{"at": "v0.9.48", "file": mjun}]
    )
    whl = tmp_path / "whl"
    for arch in ("x86_64", "aarch64"):
        make_wheel(whl / "cu130", "torch", "2.13.0+cu130", tag=f"cp312-cp312-manylinux_2_28_{arch}")
    with serving(gh):
        project = tmp_path / "p"
        r = run_cli(
            "init", str(project), "torch==2.13.0", "flash-attn", *H100_580, "--torch-index", f"{whl}/{{variant}}",
            "--platform", "linux-x86_64", "--platform", "linux-aarch64", "--github-proxy", gh.base + "/",
            environ=env,
        )  # fmt: skip
        assert r.code == 0, r.err
        sources = _doc(project)["tool"]["uv"]["sources"]["flash-attn"]
        arm = "sys_platform == 'linux' and platform_machine == 'aarch64'"
        assert {"index": "astral-cu130", "marker": MARKER} in sources
        (url,) = [e for e in sources if e.get("url")]
        assert url["marker"] == f"{arm} and python_version == '3.12'" and url["url"].replace("%2B", "+").endswith(mjun)
        _lock(run_cli, project, env)
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    fa = [p for p in lock["package"] if p["name"] == "flash-attn"]  # one entry per platform's build
    assert sorted(p["version"] for p in fa) == ["2.8.3+cu.13.0.torch.2.13", "2.8.3+cu130torch2.13"]
    got = {w["url"].replace("%2B", "+").rsplit("/", 1)[-1]: w["hash"] for p in fa for w in p["wheels"]}
    assert set(got) == {astral, mjun} and all(h.startswith("sha256:") for h in got.values())
