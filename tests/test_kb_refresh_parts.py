"""The pieces `kb refresh` builds its tables from: wheel names and bytes, index pages, the companion rule, the
flash-attn asset matrix, and the index layouts (per-variant pages, an all-variants root page, a flat mirror)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from llmenv.knowledge.pins import PinnedRelease
from llmenv.knowledge.refresh._pool import Pool
from llmenv.knowledge.refresh.flash_attn import matrix
from llmenv.knowledge.refresh.torch import TorchSource, companion, cuda_of, read_index
from llmenv.knowledge.refresh.wheels import arch_names, scan_torch_wheel
from llmenv.pypi import CoreMetadata, DistFile, PyPIClient, parse_links

from .kb_standins import Site, torch_wheel
from .wheelfactory import make_wheel


def test_arch_names() -> None:
    assert arch_names("sm_70 sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 compute_120") == (
        "7.0",
        "7.5",
        "8.0",
        "8.6",
        "9.0",
        "10.0",
        "12.0+PTX",
    )
    assert arch_names("sm_80 sm_90a compute_90") == ("8.0", "9.0+PTX")  # sm_90a is arch-specific: left out
    assert arch_names("sm_50 sm_60 compute_70") == ("5.0", "6.0", "7.0+PTX")


@pytest.mark.parametrize(
    ("requires", "platform", "cuda"),
    [
        (
            [
                "nvidia-cuda-runtime-cu12==12.4.127; platform_system == 'Linux' and platform_machine == 'x86_64'"
            ],
            "linux-x86_64",
            "12.4",
        ),
        (
            [
                "nvidia-cuda-runtime-cu12==12.4.127; platform_system == 'Linux' and platform_machine == 'x86_64'"
            ],
            "linux-aarch64",
            None,
        ),  # torch <= 2.10 on aarch64: the CUDA deps are x86_64 only
        (["cuda-toolkit[cudart,cublas]==13.0.2; platform_system == 'Linux'"], "linux-aarch64", "13.0"),
        (["filelock", "cuda-toolkit[cudart]>=13"], "linux-x86_64", None),  # not an exact pin
    ],
)
def test_the_cuda_a_pypi_build_bundles(requires: list[str], platform: str, cuda: str | None) -> None:
    meta = CoreMetadata(
        name="torch",
        version="x",
        requires_python=None,
        requires_dist=tuple(requires),
        provides_extras=(),
        source="range",
        file="f",
    )
    assert cuda_of(meta, platform, "3.12") == cuda


def test_html_pages() -> None:
    html = (
        '<a href="/whl/cu126/torch-2.6.0%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl#sha256=ab12" '
        'data-requires-python="&gt;=3.9">x</a>'
        '<a href="torchvision-0.21.0-py3-none-any.whl" data-yanked="">y</a><a href="../">up</a>'
    )
    links = parse_links(html, base_url="https://mirror.example/whl/cu126/torch/")
    assert links[0] == {
        "filename": "torch-2.6.0+cu126-cp312-cp312-manylinux_2_28_x86_64.whl",
        "url": "https://mirror.example/whl/cu126/torch-2.6.0%2Bcu126-cp312-cp312-manylinux_2_28_x86_64.whl",
        "hashes": {"sha256": "ab12"},
        "requires-python": ">=3.9",
    }
    assert links[1]["yanked"] is True and len(links) == 2


def _rel(version: str, torch: str | None, uploaded: str, *, known: bool = True) -> PinnedRelease:
    from packaging.requirements import Requirement

    return PinnedRelease(
        name="torchvision",
        version=Version(version),
        requires_python=None,
        requires_dist=(Requirement(f"torch{torch}"),) if torch else (),
        extras=(),
        yanked=False,
        uploaded=date.fromisoformat(uploaded),
        source="range" if known else "none",
        file=None,
    )


def test_companion_rule() -> None:
    vision = [
        _rel("0.29.0", "==2.14.0", "2026-09-02"),
        _rel("0.29.1", ">=2.14.0", "2026-09-30"),
        _rel("0.29.2", ">=2.14.0", "2026-10-28"),
    ]
    assert companion(Version("2.14.0"), date(2026, 9, 2), vision) == "0.29.0"  # the exact pin wins
    assert companion(Version("2.14.1"), date(2026, 9, 30), vision) == "0.29.1"  # uploaded with it
    assert companion(Version("2.15.0"), date(2026, 10, 28), vision) == "0.29.2"
    assert companion(Version("2.16.0"), date(2026, 12, 22), vision) is None  # 0.29.2 predates torch 2.16
    audio = [_rel("2.11.0", None, "2026-03-23"), _rel("2.11.1", ">=2.11", "2026-10-28")]
    assert companion(Version("2.11.0"), date(2026, 3, 23), audio) == "2.11.0"  # no torch requirement at all
    assert companion(Version("2.12.0"), date(2026, 5, 13), audio) == "2.11.1"
    assert companion(Version("2.10.0"), date(2026, 1, 21), audio) is None  # 2.11.1 needs torch>=2.11


def test_flash_attn_matrix_from_assets() -> None:
    names = [
        f"flash_attn-2.9.0+{cu}torch{t}cxx11abi{abi}-cp{py}-cp{py}-linux_x86_64.whl"
        for cu, torches in (("cu12", ("2.14", "2.15")), ("cu13", ("2.15", "2.16")))
        for t in torches
        for py in ("310", "311", "312", "313")
        for abi in ("TRUE", "FALSE")
        if not (t == "2.14" and py == "313")  # the workflow's exclusion: every line, both ABIs
        and not (cu == "cu13" and t == "2.16" and py == "310" and abi == "FALSE")  # one upload missing
    ] + ["flash_attn-2.9.0+cu13torch2.16cxx11abiTRUE-cp312-cp312-linux_aarch64.whl", "README.md"]
    m = matrix(names, "2.9.0")
    assert m is not None
    assert m["lines"] == {"cu12": ["2.14", "2.15"], "cu13": ["2.15", "2.16"]}
    assert m["python"] == ["3.10", "3.11", "3.12", "3.13"] and m["cxx11_abi"] == [False, True]
    assert m["exclude"] == [{"torch": "2.14", "python": ["3.13"]}]
    assert m["missing"] == [["cu13", "2.16", "3.10", False]] and m["others"] == ["linux_aarch64"]
    from llmenv.knowledge.flash_attn import FlashAttnRelease

    entry = {
        "version": "2.9.0",
        "date": "2026-12-24",
        "pypi_sdist": True,
        "cuda_naming": "cu12/cu13",
        "builds": [{"cuda": c, "nvcc": "13.0", "torch": ts} for c, ts in m["lines"].items()],
        "python": m["python"],
        "cxx11_abi": m["cxx11_abi"],
        "platform": "linux_x86_64",
        "exclude": m["exclude"],
        "missing": m["missing"],
        "wheel_archs": ["80"],
        "build": {
            "archs_variable": True,
            "default_archs": ["80"],
            "nvcc_threads_default": 4,
            "min_nvcc": "12.0",
        },
    }
    rel = FlashAttnRelease.from_dict(entry)
    assert len(rel.wheels) == len(
        [n for n in names if n.endswith("linux_x86_64.whl")]
    )  # expands back exactly
    assert rel.wheel_build(cuda_tag="cu13", torch_mm="2.16", python="3.10", cxx11_abi=False) is None
    assert rel.wheel_build(cuda_tag="cu13", torch_mm="2.16", python="3.10", cxx11_abi=True) is not None


# ------------------------------------------------------------------------------------------- loopback


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site().start()
    try:
        yield s
    finally:
        s.stop()


def _client() -> PyPIClient:
    return PyPIClient("http://unused", retries=0, timeout=5)


def test_a_torch_wheel_is_read_by_range_requests(site: Site, tmp_path: Path) -> None:
    w = torch_wheel(tmp_path, "2.16.0+cu134", "cp312-cp312-manylinux_2_28_x86_64", archs="sm_90 compute_90")
    cpu = torch_wheel(tmp_path, "2.10.0", "cp312-cp312-manylinux_2_28_aarch64", archs=None, cxx11=True)
    with _client() as c:
        got = scan_torch_wheel(c, _dist(site, w))
        none = scan_torch_wheel(c, _dist(site, cpu))
    assert (got.gpu, got.archs, got.cxx11_abi) == ("cuda", ("9.0+PTX",), True)
    assert (none.gpu, none.archs, none.cxx11_abi) == (None, None, True)


def _dist(site: Site, wheel: Path) -> DistFile:
    url = site.url + site.add_file(wheel)
    d = DistFile.from_json({"filename": wheel.name, "url": url, "size": wheel.stat().st_size}, base_url=url)
    assert d is not None
    return d


def _variant_wheels(tmp_path: Path, tag: str) -> list[Path]:
    return [torch_wheel(tmp_path / tag, f"2.16.0+{tag}", "cp312-cp312-manylinux_2_28_x86_64", archs="sm_90")]


def test_the_index_layouts(site: Site, tmp_path: Path) -> None:
    # per-variant pages (a 404 is a variant that does not exist)
    site.index_page("/a/cu134/torch/", _variant_wheels(tmp_path, "cu134"))
    with _client() as c, Pool(4) as pool:
        got = read_index(c, TorchSource(template=f"{site.url}/a/{{variant}}"), ["cu132", "cu134"], pool)
    assert {(str(w.version), w.local) for w in got} == {("2.16.0", "cu134")}
    assert site.requests["/a/torch/"] == 1  # the root page was asked for first
    # an all-variants root page, laid out like download.pytorch.org/whl/torch/
    site.index_page("/b/torch/", _variant_wheels(tmp_path, "cu134") + _variant_wheels(tmp_path, "rocm7.14"))
    with _client() as c, Pool(4) as pool:
        got = read_index(c, TorchSource(template=f"{site.url}/b/{{variant}}"), ["cu134"], pool)
    assert {w.local for w in got} == {"cu134", "rocm7.14"} and site.requests["/b/cu134/torch/"] == 0
    # a flat page per variant (Aliyun's layout): other packages' files are skipped
    vision = make_wheel(tmp_path / "flat", "torchvision", "0.30.0+cu134")
    site.index_page("/c/cu134/", [*_variant_wheels(tmp_path, "cu134"), vision])
    with _client() as c, Pool(4) as pool:
        got = read_index(c, TorchSource(template=f"{site.url}/c/{{variant}}/", flat=True), ["cu134"], pool)
    assert [w.file.filename for w in got] == ["torch-2.16.0+cu134-cp312-cp312-manylinux_2_28_x86_64.whl"]
    # a wrong URL: no page at all is a failure, not "no variants"
    from llmenv.pypi import PyPIError

    with (
        _client() as c,
        Pool(4) as pool,
        pytest.raises(PyPIError, match="no torch wheel on any variant page"),
    ):
        read_index(c, TorchSource(template=f"{site.url}/nothing/{{variant}}"), ["cu134"], pool)


def test_torch_index_pypi_keeps_the_variants_in_use(
    run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--torch-index pypi`: the PyPI part is read, the index's variants are the table's in use."""
    from .pypi_server import IndexServer

    pypi = IndexServer().start()
    try:
        for tag in ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64"):
            w = torch_wheel(
                tmp_path / "t",
                "2.15.0",
                f"cp312-cp312-{tag}",
                archs="sm_90 compute_90",
                requires=('cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"',),
            )
            pypi.add("torch", w, uploaded="2026-10-28T00:00:00Z")
        data = tmp_path / "data"
        monkeypatch.setenv("LLMENV_DATA_DIR", str(data))
        r = run_cli(
            "kb",
            "refresh",
            "--only",
            "torch",
            "--index",
            pypi.url,
            "--torch-index",
            "pypi",
            "--timeout",
            "5",
            environ={"LLMENV_CACHE_DIR": str(tmp_path / "cache")},
        )
    finally:
        pypi.stop()
    assert r.code == 0, r.err
    assert "torch       refreshed: 1 releases" in r.out and "from PyPI only" in r.out
    table = json.loads((data / "torch.json").read_text())
    (rel,) = table["releases"]
    x86 = rel["platforms"]["linux-x86_64"]
    assert x86["pypi"] == {"cuda": "13.2", "archs": ["9.0+PTX"], "status": "V"}  # read from the stand-in
    assert "cu132" in x86["variants"] and x86["complete"] is False  # the bundled table's, kept
    assert "PyTorch index not read" in table["read_from"]
