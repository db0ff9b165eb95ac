"""The flash-attn table: its compact matrix expands to exactly the wheel files each tag's CI builds."""

from __future__ import annotations

import gzip
from pathlib import Path

from packaging.version import Version

from llmenv.backend import CudaVersion
from llmenv.knowledge import load
from llmenv.knowledge.flash_attn import arch_for, load_flash_attn

FIXTURE = Path(__file__).parent / "fixtures" / "flash_attn" / "expected_wheels.txt.gz"


def test_the_compact_matrix_expands_to_the_1548_files_of_the_facts_csv() -> None:
    t = load_flash_attn()
    names = set()
    for rel in t.releases:
        for cuda, mm, py, abi in rel.iter_wheels():
            names.add(t.filename(rel.version, cuda_tag=cuda, torch_mm=mm, python=py, cxx11_abi=abi))
    expected = set(gzip.decompress(FIXTURE.read_bytes()).decode().split())
    assert len(expected) == 1548
    assert names == expected


def test_cuda_naming_per_release() -> None:
    t = load_flash_attn()
    cu12, cu13 = CudaVersion(12, 4), CudaVersion(13, 0)
    r263, r274, r283, r283p1 = (t.release(v) for v in ("2.6.3", "2.7.4.post1", "2.8.3", "2.8.3.post1"))
    assert r263 and r274 and r283 and r283p1
    assert (r263.cuda_tag(cu12), r263.cuda_tag(CudaVersion(11, 8))) == ("cu123", "cu118")
    assert r274.cuda_tag(cu12) == "cu12"
    assert r283.cuda_tag(cu13) is None  # setup.py named it cu12: a wheel that cannot load
    assert r283p1.cuda_tag(cu13) == "cu13"
    assert r274.built_with_nvcc == {"cu12": "12.4.1"}


def test_wheel_lookup_honours_the_workflow_exclusions() -> None:
    r = load_flash_attn().release("2.7.4.post1")
    assert r is not None
    assert r.wheel_build(cuda_tag="cu12", torch_mm="2.6", python="3.13", cxx11_abi=False) is not None
    assert r.wheel_build(cuda_tag="cu12", torch_mm="2.4", python="3.13", cxx11_abi=False) is None  # excluded
    assert r.wheel_build(cuda_tag="cu12", torch_mm="2.7", python="3.12", cxx11_abi=True) is None  # not built


def test_archs() -> None:
    t = load_flash_attn()
    assert [arch_for(cc) for cc in ((8, 0), (8, 6), (8, 9), (9, 0), (10, 3), (12, 0))] == [
        "80",
        "80",
        "80",
        "90",
        "100",
        "120",
    ]
    old, new = t.release("2.7.2.post1"), t.release("2.8.3.post2")
    assert old is not None and new is not None
    assert old.buildable_archs(None) == ("80", "90")  # FLASH_ATTN_CUDA_ARCHS arrived in 2.7.3
    assert new.buildable_archs(Version("12.4")) == ("80", "90")  # 100 / 120 need nvcc >= 12.8
    assert new.buildable_archs(Version("13.0")) == ("80", "90", "100", "120")


def test_known_bad_entries_cite_sources_and_sdists_are_marked() -> None:
    t = load_flash_attn()
    assert t.known_bad and all(b.sources and b.reason for b in t.known_bad)
    on_pypi = {str(r.version) for r in t.releases if r.pypi_sdist}
    assert {"2.7.4.post1", "2.8.3", "2.8.3.post2"} <= on_pypi and "2.8.0" not in on_pypi


def test_torch_26_cu126_is_a_cxx11_build_unlike_cu124() -> None:
    r = load().torch_release("2.6.0")
    assert r is not None
    assert (r.abi_of("cu124"), r.abi_of("cu126"), r.abi_of("cu118")) == (False, True, False)
