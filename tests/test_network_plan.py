"""The closed loop against PyPI (marked `network`): what `init --lock` writes for the seed's chain and for the
frameworks on an H100 locks with the real uv. torch comes from local stub indexes standing in for
download.pytorch.org (uv lock needs only metadata: no GB downloads), flash-attn's GitHub release wheels from a
loopback stand-in reached through --github-proxy; everything else is PyPI as of the bundled snapshot
(UV_EXCLUDE_NEWER keeps the resolution stable as PyPI moves on). The uv cache is shared by the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

from .wheel_servers import ReleaseAssets, serving
from .wheelfactory import make_wheel

pytestmark = pytest.mark.network

PINNED_WORLD = {"UV_EXCLUDE_NEWER": "2026-12-01T00:00:00Z"}  # the bundled snapshot's date
H100_570 = ("--driver", "570.86.15", "--gpu", "9.0")
A100_550 = ("--driver", "550.54.14", "--gpu", "8.0")


@pytest.fixture(scope="module")
def torch_stubs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Flat folders for the variants these plans take: torch with its torchvision / torchaudio."""
    root = tmp_path_factory.mktemp("pytorch")
    builds = {
        "cu124": [("2.6.0", "0.21.0", "2.6.0")],
        "cu128": [("2.11.0", "0.26.0", "2.11.0"), ("2.10.0", "0.25.0", "2.10.0"), ("2.9.1", "0.24.1", "2.9.1")],
    }
    builds["cpu"] = builds["cu124"] + builds["cu128"]
    for variant, releases in builds.items():
        for torch, vision, audio in releases:
            make_wheel(root / variant, "torch", f"{torch}+{variant}")
            make_wheel(root / variant, "torchvision", f"{vision}+{variant}", requires=[f"torch=={torch}"])
            make_wheel(root / variant, "torchaudio", f"{audio}+{variant}", requires=[f"torch=={torch}"])
    return f"{root}/{{variant}}"


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback stand-in for GitHub release downloads: any path ending in a file it holds."""
    root = tmp_path_factory.mktemp("assets")
    for py in ("310", "311", "312", "313"):
        make_wheel(
            root,
            "flash-attn",
            "2.7.4.post1",
            requires=["torch", "einops"],
            filename=f"flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp{py}-cp{py}-linux_x86_64.whl",
        )

    with serving(ReleaseAssets(root)) as server:
        yield server.base


def _lock(project: Path) -> dict[str, list[str]]:
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    out: dict[str, list[str]] = {}
    for p in lock["package"]:
        out.setdefault(p["name"], []).append(p["version"])
    return out


def test_the_seed_chain_locks_with_python_311(run_cli, tmp_path: Path, torch_stubs: str, github: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        "./p",
        "openrlhf[vllm]",
        *A100_550,
        "--python",
        "3.11",
        "--torch-index",
        torch_stubs,
        "--github-proxy",
        github,
        "--lock",
        environ=PINNED_WORLD,
    )
    assert r.code == 0, r.err
    assert "verified: uv lock succeeded (first attempt)" in r.out
    got = _lock(tmp_path / "p")
    assert (
        got["openrlhf"] == ["0.8.3"]
        and got["vllm"] == ["0.8.5.post1"]
        and got["flash-attn"] == ["2.7.4.post1"]
    )
    assert "2.6.0+cu124" in got["torch"] and got["ray"] == ["2.43.0"]
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    assert doc["project"]["requires-python"] == ">=3.11,<3.12"  # openrlhf 0.8.3: cp310/cp311 wheels only
    assert (tmp_path / "p" / ".python-version").read_text() == "3.11\n"


def test_the_seed_chain_on_python_312_takes_the_newest_openrlhf_with_overrides(
    run_cli, tmp_path: Path, torch_stubs: str, github: str
) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        "./p",
        "openrlhf[vllm]",
        *A100_550,
        "--python",
        "3.12",
        "--allow-overrides",
        "--torch-index",
        torch_stubs,
        "--github-proxy",
        github,
        "--lock",
        environ=PINNED_WORLD,
    )
    assert r.code == 0, r.err
    got = _lock(tmp_path / "p")
    assert got["openrlhf"] == ["0.11.2"] and got["vllm"] == ["0.8.5.post1"]
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    meta = next(m for m in doc["tool"]["uv"]["dependency-metadata"] if m["name"] == "openrlhf")
    assert 'vllm==0.8.5.post1; extra == "vllm"' in meta["requires-dist"]
    # uv named ray's exact pin in its conflict with vllm (opentelemetry-sdk): that pin, and only in
    # openrlhf's metadata, was relaxed on the second attempt
    assert "ray[default]==2.55.0" not in meta["requires-dist"] and "ray[default]" in meta["requires-dist"]
    assert "attempt 1:" in r.out and "ray" in r.out.split("attempt 1:", 1)[1].splitlines()[0]


def test_the_seed_chain_on_python_312_alone_names_python_311(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init", "./p", "openrlhf[vllm]", *A100_550, "--python", "3.12", "--lock", environ=PINNED_WORLD
    )
    assert r.code == 1
    assert "ships wheels for Python 3.10–3.11 only" in r.err and "use --python 3.11" in r.err


@pytest.fixture(scope="module")
def vllm_variants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback stand-in for vLLM's variant index (wheels.vllm.ai/{version}/{variant}, not reachable here):
    the CUDA 12.9 builds of the releases these plans take, each with the Requires-Dist and Requires-Python of
    PyPI's x86_64 wheel of that release (read from PyPI now, by llmenv's client: the variant build declares the
    same)."""
    from packaging.version import Version

    from llmenv.pypi import PyPIClient

    from .wheel_servers import SimpleIndex, serving

    root = tmp_path_factory.mktemp("vllm")
    # PEP 691 with upload times: wheels.vllm.ai's HTML pages have none, and uv's exclude-newer (UV_EXCLUDE_NEWER,
    # which keeps these tests stable) drops files without one
    srv = SimpleIndex()
    with PyPIClient() as pypi:
        releases = pypi.project("vllm").releases()
        for version in ("0.24.0", "0.26.0"):
            f = next(f for f in releases[Version(version)] if f.filename.endswith("_x86_64.whl"))
            meta = pypi.metadata(f)
            name = f"vllm-{version}+cu129-cp38-abi3-manylinux_2_28_x86_64.whl"
            wheel = make_wheel(
                root, "vllm", f"{version}+cu129", requires=[r for r in meta.requires_dist if "extra ==" not in r],
                requires_python=meta.requires_python, tag="cp38-abi3-manylinux_2_28_x86_64", filename=name,
            )  # fmt: skip
            srv.add(f"{version}/cu129", wheel)
    with serving(srv):
        yield srv.base + "/{version}/{channel}/"


@pytest.mark.parametrize(
    ("spec", "python", "vllm"),
    [("verl[vllm]", "<3.13", "0.24.0+cu129"), ("verl[sglang]", "<3.14", None), ("vllm", "<3.15", "0.26.0+cu129")],
)
def test_the_frameworks_lock_for_an_h100_on_driver_570(
    run_cli, tmp_path: Path, torch_stubs: str, vllm_variants: str, monkeypatch: pytest.MonkeyPatch,
    spec: str, python: str, vllm: str | None,
) -> None:  # type: ignore[no-untyped-def]
    # A CUDA 12.8 driver: a cu128 torch; PyPI's vllm of these releases links CUDA 13 (vllm#44335), so vllm
    # comes from its CUDA 12.9 variant index (a loopback stand-in, as a mirror of it would be given).
    from dataclasses import replace

    import llmenv.sources.catalog as catalog

    patched = tuple(replace(s, index=vllm_variants) if s.id == "vllm" else s for s in catalog.load_sources())
    monkeypatch.setattr(catalog, "load_sources", lambda: patched)
    monkeypatch.setattr("llmenv.sources.vllm._MADE", {})  # variants read by earlier tests name the real host
    r = run_cli(
        "init",
        "./p",
        spec,
        *H100_570,
        "--python",
        "3.12",
        "--torch-index",
        torch_stubs,
        "--lock",
        environ=PINNED_WORLD,
    )
    assert r.code == 0, r.err
    assert (
        "verified: uv lock succeeded (first attempt)" in r.out
    )  # no Python split or platform fork left to uv
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    assert doc["project"]["requires-python"] == f">=3.12,{python}"
    got = _lock(tmp_path / "p")
    assert any(v.endswith("+cu128") for v in got["torch"])
    if vllm is not None:
        assert got["vllm"] == [vllm] and doc["tool"]["uv"]["sources"]["vllm"][0]["index"] == "vllm-cu129"
