"""The one loader: every table typed, dated and cited; the user's refreshed copy wins when it parses; the torch
table per platform (Linux x86_64, aarch64, ROCm) against the independently gathered facts."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from llmenv.backend import CudaVersion
from llmenv.knowledge import load, read_data
from llmenv.knowledge._store import TABLES

from .conftest import SHARED

FACTS = SHARED / "facts"


def test_every_table_is_dated_cited_and_bundled(tmp_path: Path) -> None:
    kb = load(tmp_path)
    infos = kb.tables()
    assert [i.name for i in infos] == list(TABLES)
    for i in infos:
        assert i.origin == "bundled" and i.date and i.source and i.ignored is None, i
        raw = read_data(TABLES[i.name].file)
        assert raw.get("sources"), i.name


def test_the_loader_is_lazy(tmp_path: Path) -> None:
    kb = load(tmp_path / "empty")
    assert "torch_table" not in vars(kb) and "pins" not in vars(kb)  # nothing parsed yet
    assert kb.cuda.max_cuda("550.54.14") == CudaVersion(12, 4)
    assert "torch_table" not in vars(kb)


def test_a_user_table_wins_and_a_broken_one_is_set_aside(tmp_path: Path) -> None:
    bundled = read_data("torch.json")
    mine = json.loads(json.dumps(bundled))
    mine["generated"] = "2027-01-02T00:00:00Z"
    mine["releases"] = [r for r in mine["releases"] if r["version"] != "2.15.0"]
    (tmp_path / "torch.json").write_text(json.dumps(mine), encoding="utf-8")
    kb = load(tmp_path)
    assert str(kb.torch[0].version) == "2.14.1" and kb.info("torch").origin == "user"
    assert kb.info("torch").date == "2027-01-02" and kb.info("torch").path == tmp_path / "torch.json"
    assert load(tmp_path) is kb  # cached while the files are unchanged

    (tmp_path / "torch.json").write_text('{"schema": 2, "releases": "no"}', encoding="utf-8")
    os.utime(tmp_path / "torch.json", ns=(1, 1))
    again = load(tmp_path)
    assert again is not kb and str(again.torch[0].version) == "2.15.0"
    info = again.info("torch")
    assert info.origin == "bundled" and info.ignored and str(tmp_path / "torch.json") in info.ignored


def test_cuda_13_4_and_13_5_are_known_with_an_unknown_floor() -> None:
    cuda = load().cuda
    assert cuda.newest == CudaVersion(13, 5)
    u = cuda.unknown_floor(CudaVersion(13, 4))
    assert u is not None and "Table 3" in u.where and u.released == "2026-09-09"
    assert cuda.min_driver(CudaVersion(13, 4)) is None and cuda.min_driver(CudaVersion(13, 5)) is None
    assert cuda.min_driver(CudaVersion(13, 3)) == "610.43.02"
    assert cuda.max_cuda("999.1") == CudaVersion(13, 3)  # never a CUDA whose floor nobody knows
    assert cuda.runs(CudaVersion(13, 4), driver_cuda=CudaVersion(13, 0), driver="580.65.06", policy="minor")


def test_torch_28_cu129_carries_ptx() -> None:
    v = load().torch_release("2.8.0")
    assert v is not None
    assert v.variants["cu129"].arch_names.endswith("sm_120 +PTX")
    assert not v.variants["cu128"].ptx


def test_torchvision_and_torchaudio_pairing() -> None:
    kb = load()
    pairs = {str(r.version): (r.torchvision, r.torchaudio) for r in kb.torch}
    assert pairs["2.15.0"] == ("0.29.2", "2.11.1")  # torchvision 0.29.2 declares torch>=2.14.0
    assert pairs["2.14.1"] == ("0.29.1", "2.11.1")
    assert pairs["2.14.0"] == ("0.29.0", "2.11.1")
    assert pairs["2.11.0"] == ("0.26.0", "2.11.0")
    assert all(pairs[v][1] == "2.11.1" for v in ("2.12.0", "2.12.1", "2.13.0"))


def test_cu129_after_28_is_recorded_but_not_advertised() -> None:
    r = load().torch_release("2.10.0")
    assert r is not None
    x86 = r.on("linux", "x86_64")
    assert x86 is not None and "cu129" in x86.variants and "cu129" not in r.variants
    v = x86.variants["cu129"]
    assert not v.advertised and not v.archs_known and v.status == "S"
    assert v.arch_names == "unknown architectures"


def test_linux_aarch64() -> None:
    kb = load()
    old, new, six = (kb.torch_release(v) for v in ("2.10.0", "2.11.0", "2.6.0"))
    assert old and new and six
    a = old.on("linux", "aarch64")
    assert a is not None and a.pypi is None  # PyPI's aarch64 torch <= 2.10 is CPU-only
    assert set(a.variants) == {"cu126", "cu128", "cu129", "cu130"}
    assert a.variants["cu130"].arch_names == "sm_80 sm_90 sm_100 sm_110 sm_120 +PTX"
    b = new.on("linux", "arm64")  # arm64 is aarch64 on Linux
    assert b is not None and b.pypi_cuda == CudaVersion(13, 0)
    assert b.pypi is not None and b.pypi.arch_names == "sm_80 sm_90 sm_100 sm_110 sm_120"
    six_a, six_x = six.on("linux", "aarch64"), six.on("linux", "x86_64")
    assert six_a is not None and six_x is not None
    assert (six_a.cxx11_abi, six_x.cxx11_abi) == (True, False)  # aarch64 switched one release earlier
    late = kb.torch_release("2.14.1")
    assert late is not None
    c = late.on("linux", "aarch64")
    assert c is not None and c.variants == {} and not c.complete  # not known, not "none"
    assert new.has_platform("linux", "aarch64") and not new.has_platform("darwin", "x86_64")


def test_rocm_variants() -> None:
    kb = load()
    r, fourteen, fifteen = (kb.torch_release(v) for v in ("2.6.0", "2.14.0", "2.15.0"))
    assert r and fourteen and fifteen
    x86 = r.on("linux", "x86_64")
    assert x86 is not None and set(x86.rocm) == {"rocm6.1", "rocm6.2.4"}
    v = x86.rocm["rocm6.2.4"]
    assert v.rocm == (6, 2, 4) and v.gfx is None and v.cxx11_abi is True
    f = fourteen.on("linux", "x86_64")
    assert f is not None and f.rocm["rocm7.14"].rocm == (7, 14)  # ROCm 7.14, not 7.1.4
    aarch64 = fourteen.on("linux", "aarch64")
    assert aarch64 is not None and aarch64.rocm == {}  # ROCm builds are Linux x86_64 only
    assert fifteen.on("linux", "x86_64").rocm == {}  # type: ignore[union-attr]


@pytest.mark.skipif(not (FACTS / "torch_aarch64.csv").is_file(), reason="needs the shared fact tables")
def test_aarch64_facts_match_the_table() -> None:
    kb = load()
    with (FACTS / "torch_aarch64.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            r = kb.torch_release(row["torch"])
            assert r is not None, row["torch"]
            a = r.on("linux", "aarch64")
            assert a is not None and a.wheels == (row["pypi_aarch64_platform"],)
            assert a.cxx11_abi == (row["pypi_aarch64_cxx11abi"] == "TRUE"), row["torch"]
            cuda = row["pypi_aarch64_carries_cuda"] == "yes"
            assert (a.pypi is not None) == cuda, row["torch"]
            if cuda:
                assert a.pypi is not None
                assert str(a.pypi_cuda) == ".".join(row["pypi_aarch64_cuda"].split(".")[:2])
                assert a.pypi.arch_names == row["pypi_aarch64_sass"]


def test_the_companion_for_a_pin_may_be_any_release_whose_metadata_admits_the_torch(
    run_cli: Any,
) -> None:
    from packaging.specifiers import SpecifierSet

    r = load().torch_release("2.14.0")
    assert r is not None
    assert r.companion("torchaudio") == "2.11.1"  # the release built for it
    assert r.companion("torchaudio", SpecifierSet("==2.11.0")) == "2.11.0"  # names no torch: admits 2.14
    assert r.companion("torchvision", SpecifierSet(">=0.29.1")) == "0.29.2"
    assert r.companion("torchvision", SpecifierSet("==0.28.0")) is None  # torch==2.13.0
    # vLLM 0.33.0 pins torch==2.14.0 and torchaudio==2.11.0: planned as pinned, not refused
    out = run_cli("plan", "vllm==0.33.0", "--driver", "580.159.04", "--gpu", "9.0", "--json")
    assert out.code == 0, out.err
    packages = json.loads(out.out)["packages"]
    assert packages["torch"]["version"] == "2.14.0" and packages["torchaudio"]["version"] == "2.11.0"
