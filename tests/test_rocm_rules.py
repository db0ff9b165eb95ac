"""The ROCm rules and their table, checked against the facts (../shared/facts H_rocm.md, torch_rocm.csv)."""

from __future__ import annotations

import csv

import pytest
from packaging.version import Version

from llmenv.amd import AmdGpu
from llmenv.backend import Backend, RocmVersion, parse_rocm_version
from llmenv.knowledge.rocm import load_rocm
from llmenv.rocm import FlashAttnRocmBuild, flash_attn_backend, rank_key, torch_problem, vllm_problem
from llmenv.target import Target

from .conftest import SHARED

TABLE = load_rocm()
# uv-torch's LINUX_AMD_GPU_DRIVERS @26a9dd4, as facts H4 summarises it
UV_ALL = {"gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx950", "gfx1030", "gfx1100", "gfx1101", "gfx1102",
          "gfx1150", "gfx1151", "gfx1200", "gfx1201"}  # fmt: skip
UV = {
    "rocm7.2": UV_ALL,
    "rocm7.1": UV_ALL - {"gfx1150", "gfx1151"},
    "rocm7.0": UV_ALL - {"gfx1150", "gfx1151"},
    "rocm6.4": UV_ALL - {"gfx950", "gfx1150", "gfx1151"},
    "rocm6.3": UV_ALL - {"gfx950", "gfx1150", "gfx1151"},
    "rocm6.2.4": UV_ALL - {"gfx950", "gfx1150", "gfx1151"},
    "rocm6.2": {"gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100"},
    "rocm6.1": {"gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101"},
    "rocm6.0": {"gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100"},
}


def amd(
    *gfx: str, rocm: str | None = None, python: str = "3.12", glibc: str | None = "2.39", arch: str = "x86_64"
) -> Target:
    return Target(
        arch=arch,
        python=python,
        glibc=glibc,
        rocm=parse_rocm_version(rocm) if rocm else None,
        amd_gpus=tuple(
            AmdGpu(name="AMD Instinct MI300X" if g == "gfx942" else f"AMD GPU ({g})", gfx=g) for g in gfx
        ),
    )


def test_every_rocm_variant_of_the_pytorch_index_parses_as_itself() -> None:
    with (SHARED / "facts" / "torch_rocm.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    tags = {t for row in rows for t in row["rocm_variants_pytorch_index"].split() if t.startswith("rocm")}
    assert {"rocm6.2.4", "rocm7.14", "rocm5.4.2"} <= tags
    for tag in tags:
        assert Backend.parse(tag).tag == tag
    assert (
        Backend.parse("rocm7.14")
        > Backend.parse("rocm7.2")
        > Backend.parse("rocm6.2.4")
        > Backend.parse("rocm6.2")
    )
    # each variant the table knows is one the index has, with uv's gfx list
    for tag, gfx in UV.items():
        assert tag in tags
        assert set(TABLE.gfx(tag) or ()) == gfx, tag
    assert TABLE.gfx("rocm5.7") is None  # not known: said, not guessed


def test_rocm_releases_and_the_support_window() -> None:
    v = parse_rocm_version
    assert TABLE.compatible(v("6.2.4"), v("6.4.0")) is True  # two releases: 6.2, 6.3, 6.4
    assert TABLE.compatible(v("6.1"), v("6.4")) is False
    assert TABLE.compatible(v("7.0"), v("6.4")) is True  # 6.4 -> 7.0 is the next release
    assert TABLE.compatible(v("7.14"), v("7.2")) is None  # TheRock releases are not in the published matrix
    assert TABLE.compatible(v("7.14"), v("7.14.0")) is True  # the same release
    assert TABLE.distance(v("5.7"), v("6.0")) == 1


@pytest.mark.parametrize(
    ("tag", "target", "problem"),
    [
        ("rocm6.4", amd("gfx942", rocm="6.4"), None),
        ("rocm6.2.4", amd("gfx942", rocm="6.4"), None),
        ("rocm6.1", amd("gfx942", rocm="6.4"), "+/- 2 releases"),
        ("rocm7.14", amd("gfx942", rocm="6.4"), "unknown"),
        ("rocm6.4", amd("gfx950", rocm="7.0"), "no code for gfx950"),
        ("rocm7.0", amd("gfx950", rocm="7.0"), None),
        ("rocm7.1", amd("gfx1151"), "no code for gfx1151"),
        ("rocm7.2", amd("gfx1151"), None),
        ("rocm5.7", amd("gfx90a"), "unknown"),
        ("rocm5.7", amd(rocm="5.7"), None),  # no GPU named: the ROCm release alone decides
        ("rocm7.2", amd("gfx942", arch="aarch64"), "Linux x86_64 only"),
    ],
)
def test_which_rocm_build_runs(tag: str, target: Target, problem: str | None) -> None:
    got = torch_problem(tag, target)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_the_reason_names_the_gpu_and_what_the_build_has() -> None:
    reason = torch_problem("rocm6.4", amd("gfx950"))
    assert reason is not None and "no code for gfx950 (it has gfx900 gfx906" in reason
    named = Target(amd_gpus=(AmdGpu(name="AMD Instinct MI350X", gfx="gfx950"),))
    assert "gfx950 (AMD Instinct MI350X)" in (torch_problem("rocm6.4", named) or "")


def test_newest_rocm_ranks_first() -> None:
    tags = ["rocm6.2", "rocm7.14", "rocm6.2.4", "rocm7.2"]
    assert sorted(tags, key=rank_key, reverse=True) == ["rocm7.14", "rocm7.2", "rocm6.2.4", "rocm6.2"]


@pytest.mark.parametrize(
    ("version", "target", "problem"),
    [
        ("0.18.0", amd("gfx942", rocm="7.0"), None),
        ("0.14.0", amd("gfx950"), None),
        ("0.18.0", amd("gfx942", python="3.11"), "Python 3.12 only"),
        ("0.18.0", amd("gfx942", glibc="2.31"), "glibc >= 2.35"),
        ("0.18.0", amd("gfx942", glibc=None), None),  # unknown glibc (flags): not a reason
        ("0.19.0", amd("gfx942"), "no ROCm release wheel"),
        ("0.8.5.post1", amd("gfx942"), "no ROCm release wheel"),
        ("0.18.0", amd("gfx908"), "do not support gfx908"),
        ("0.18.0", amd("gfx942", arch="aarch64"), "Linux x86_64 only"),
        ("0.18.0", amd("gfx942", rocm="6.1"), "more than 2 releases"),
    ],
)
def test_vllm_rocm_wheels(version: str, target: Target, problem: str | None) -> None:
    got = vllm_problem(Version(version), target)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_flash_attn_on_rocm() -> None:
    ck = flash_attn_backend(amd("gfx942", rocm="6.4"))
    assert isinstance(ck, FlashAttnRocmBuild)
    assert (
        ck.backend == "ck"
        and ck.build_env == {"BUILD_TARGET": "rocm", "GPU_ARCHS": "gfx942"}
        and not ck.run_env
    )
    two = flash_attn_backend(amd("gfx942", "gfx950"))
    assert isinstance(two, FlashAttnRocmBuild) and two.build_env["GPU_ARCHS"] == "gfx942;gfx950"
    triton = flash_attn_backend(amd("gfx1030"))
    assert isinstance(triton, FlashAttnRocmBuild) and triton.backend == "triton"
    # the exact string TRUE, at build time and where it runs (facts H6)
    assert triton.build_env["FLASH_ATTENTION_TRITON_AMD_ENABLE"] == "TRUE"
    assert triton.run_env == {"FLASH_ATTENTION_TRITON_AMD_ENABLE": "TRUE"}
    for refused, why in (
        (amd("gfx908"), "neither gfx908"),
        (amd(), "give them"),
        (amd("gfx942", rocm="5.7"), ">= 6.0"),
    ):
        got = flash_attn_backend(refused)
        assert isinstance(got, str) and why in got
    assert RocmVersion(6, 0) == TABLE.flash_attn.min_rocm
