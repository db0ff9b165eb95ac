"""The local-version normalizer, table-tested on every dialect of the facts (F1) and every row of their CSVs."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from llmenv.backend import CudaVersion
from llmenv.sources.listing import load_listings
from llmenv.sources.normalize import DIALECTS, implied_cxx11_abi, parse_local, parse_wheel, platform_of

from .conftest import SHARED

FACTS = SHARED / "facts"
needs_facts = pytest.mark.skipif(
    not (FACTS / "F_wheel_sources.md").is_file(), reason="needs the shared facts"
)


def _csv(name: str) -> list[dict[str, str]]:
    with (FACTS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# (label, dialect, cuda_major, cuda, torch, abi, rocm, device): one row per dialect example of facts F1
EXAMPLES = [
    ("cu12torch2.8cxx11abiTRUE", "dao", 12, None, "2.8", True, None, "cuda"),
    (
        "cu118torch2.0cxx11abiFALSE",
        "dao",
        11,
        None,
        "2.0",
        False,
        None,
        "cuda",
    ),  # 2.6.3: 118 = "a CUDA 11 torch"
    ("cu123torch2.4cxx11abiTRUE", "dao", 12, None, "2.4", True, None, "cuda"),
    ("cu13torch2.13cxx11abiTRUE", "dao", 13, None, "2.13", True, None, "cuda"),
    ("rocm62torch2.6cxx11abiTRUE", "dao-rocm", None, None, "2.6", True, "6.2", "rocm"),
    ("cu130torch2.11", "mjun", 13, CudaVersion(13, 0), "2.11", None, None, "cuda"),
    ("cu124torch2.9", "mjun", 12, CudaVersion(12, 4), "2.9", None, None, "cuda"),
    ("cu124torch2.5gite2743ab", "mjun-fa3", 12, CudaVersion(12, 4), "2.5", None, None, "cuda"),
    ("cu.12.8.torch.2.11", "astral", 12, CudaVersion(12, 8), "2.11", None, None, "cuda"),
    ("cu.13.0.torch.2.11", "astral", 13, CudaVersion(13, 0), "2.11", None, None, "cuda"),
    ("cu.12.8.torch.2.11.0", "astral", 12, CudaVersion(12, 8), "2.11", None, None, "cuda"),
    ("cu.13.0", "astral-core", 13, CudaVersion(13, 0), None, None, None, "cuda"),
    ("cpu", "cpu", None, None, None, None, None, "cpu"),
    ("cpu.torch.2.9", "cpu", None, None, "2.9", None, None, "cpu"),
    ("cu12.8torch2.10.0cxx11abiTRUE", "astral-legacy", 12, CudaVersion(12, 8), "2.10", True, None, "cuda"),
    (
        "1300811.cu12.8torch2.10.0cxx11abiTRUE",
        "astral-legacy",
        12,
        CudaVersion(12, 8),
        "2.10",
        True,
        None,
        "cuda",
    ),
    ("cu130", "cuda", 13, CudaVersion(13, 0), None, None, None, "cuda"),
    ("cu129", "cuda", 12, CudaVersion(12, 9), None, None, None, "cuda"),
    ("cu118", "cuda", 11, CudaVersion(11, 8), None, None, None, "cuda"),
    ("rocm6.4", "rocm", None, None, None, None, "6.4", "rocm"),
    ("rocm6.2.4", "rocm", None, None, None, None, "6.2.4", "rocm"),
    ("xpu", "xpu", None, None, None, None, None, "xpu"),
    ("rocm700", "rocm-vllm", None, None, None, None, "7.0", "rocm"),
    ("rocm721", "rocm-vllm", None, None, None, None, "7.2.1", "rocm"),
    ("rocm72", "rocm-vllm", None, None, None, None, "7.2", "rocm"),
    ("rocm100", "rocm-vllm", None, None, None, None, "10.0", "rocm"),
    ("g2f3f441f8", "git", None, None, None, None, None, None),
]


@pytest.mark.parametrize(("label", "dialect", "major", "cuda", "torch", "abi", "rocm", "device"), EXAMPLES)
def test_dialect_examples(
    label: str,
    dialect: str,
    major: int | None,
    cuda: CudaVersion | None,
    torch: str | None,
    abi: bool | None,
    rocm: str | None,
    device: str | None,
) -> None:
    b = parse_local(label)
    assert (b.dialect, b.cuda_major, b.cuda, b.torch, b.cxx11_abi, b.rocm, b.device) == (
        dialect, major, cuda, torch, abi, rocm, device,
    )  # fmt: skip
    assert b.label == label


def test_every_dialect_has_an_example() -> None:
    assert {e[1] for e in EXAMPLES} == set(DIALECTS)


def test_what_a_cuda_number_means() -> None:
    assert parse_local("cu12torch2.8cxx11abiTRUE").cuda_means == "torch-major"
    assert parse_local("cu130torch2.11").cuda_means == "nvcc"
    assert parse_local("cu.12.8.torch.2.11").cuda_means == "torch"
    assert parse_local("cu130").cuda_means == "build"


@pytest.mark.parametrize("label", ["", None])
def test_no_local_version(label: str | None) -> None:
    assert parse_local(label).dialect == "none"


@pytest.mark.parametrize(
    "label", ["cu12torch2.8", "torch2.8", "cuda12", "cu1torch2.8cxx11abiTRUE", "foo", "cu.12"]
)
def test_unknown_labels_say_nothing(label: str) -> None:
    b = parse_local(label)
    assert (b.dialect, b.cuda_major, b.torch) == ("unknown", None, None)


@needs_facts
def test_every_f1_example_parses() -> None:
    """Every backticked local version in the first column of facts F1's dialect table is a known dialect."""
    text = (FACTS / "F_wheel_sources.md").read_text(encoding="utf-8")
    table = text.split("## F1.", 1)[1].split("Astral's own channel inference", 1)[0]
    labels = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        labels += [m.lstrip("+") for m in re.findall(r"`([^`]+)`", first)]
    assert len(labels) >= 15
    for label in labels:
        label = label.split("+", 1)[-1]  # X.Y.ZrcN.devN+g<hash>
        if "<hash>" in label:
            label = "g2f3f441f8"
        assert parse_local(label).dialect not in ("unknown", "none"), label


@needs_facts
def test_mjun0812_rows() -> None:
    rows = _csv("flash_attn_mjun0812_wheels.csv")
    assert len(rows) == 3567
    for r in rows:
        name = r["url"].rsplit("/", 1)[-1]
        w = parse_wheel(name)
        assert w is not None, name
        assert w.name == r["package"]
        assert w.local.dialect in ("mjun", "mjun-fa3"), name
        assert str(w.cuda) == r["cuda"], name
        assert w.local.torch == r["torch"]
        assert w.torch == f"=={r['torch']}.*"
        assert w.python_tags == (r["python_tag"],) and w.abi_tag == r["abi_tag"]
        assert ".".join(w.platforms) == r["platform"]
        assert w.cxx11_abi is None  # not in the name
        assert w.os in ("linux", "windows")
        assert w.arch == ("x86_64" if "x86_64" in r["platform"] or "amd64" in r["platform"] else "aarch64")


@needs_facts
def test_dao_ailab_matrix_rows() -> None:
    rows = _csv("flash_attn_wheel_matrix.csv")
    assert len(rows) == 1548
    for r in rows:
        w = parse_wheel(r["expected_wheel_filename"])
        assert w is not None
        assert w.local.dialect == "dao"
        assert w.cuda_major == int(r["wheel_cuda_tag"].removeprefix("cu")[:2]) and w.cuda is None
        mm = ".".join(r["torch_mm"].split(".")[:2])
        assert w.local.torch == mm
        assert w.cxx11_abi is (r["cxx11abi"] == "TRUE")
        py = "cp" + r["python"].replace(".", "")
        assert w.python_tags == (py,) and w.abi_tag == py
        assert (w.os, w.arch, w.glibc) == ("linux", "x86_64", None)
        assert w.installs_on(r["python"])


@needs_facts
def test_astral_matrix_rows() -> None:
    for r in _csv("astral_gpu_index_matrix.csv"):
        if (
            r["package"] == "vllm"
        ):  # "0.25.0+cpu", "0.22.0 (unlabeled upstream default wheel) or 0.22.0+cu129"
            for label in re.findall(r"\+(\S+)", r["local_version_example"]):
                assert parse_local(label).dialect in ("cpu", "cuda"), label
            continue
        b = parse_local(r["local_version_example"].split("+", 1)[1])
        if r["torch_minor"] == "any":
            assert b.dialect == "astral-core" and b.torch is None
        else:
            assert b.dialect == "astral" and b.torch == r["torch_minor"]
        assert f"cu{b.cuda_major}{b.cuda.minor if b.cuda else ''}" == r["cuda_channel"]


@needs_facts
def test_vllm_rows_take_the_cuda_of_their_index() -> None:
    """PyPI's vllm wheels are unsuffixed: the CUDA is the index (variant) they sit in, not the name."""
    for r in _csv("vllm_pypi_cuda.csv"):
        for plat in r["pypi_platforms"].split():
            name = f"vllm-{r['vllm']}-cp38-abi3-{plat}.whl"
            w = parse_wheel(name)
            assert w is not None and w.local.dialect == "none" and w.cuda_major is None
            assert w.os == "linux" and w.glibc is not None and w.arch in ("x86_64", "aarch64")
            default = r["pypi_default_cuda"]
            if re.fullmatch(r"\d+\.\d+", default):
                on_index = parse_wheel(name, channel="cu" + default.replace(".", ""))
                assert on_index is not None and str(on_index.cuda) == default
        for variant in ("cu129", "cu130"):
            w = parse_wheel(f"vllm-{r['vllm']}+{variant}-cp38-abi3-manylinux_2_31_x86_64.whl")
            assert (
                w is not None
                and w.local.dialect == "cuda"
                and w.cuda == CudaVersion(12 if variant == "cu129" else 13, 9 if variant == "cu129" else 0)
            )


@needs_facts
def test_sglang_kernel_rows() -> None:
    for r in _csv("sglang_kernel_pypi_cuda.csv"):
        dist = r["package"].replace("-", "_")
        for plat in r["platforms"].split():
            if not re.fullmatch(r"manylinux\S*_(x86_64|aarch64)", plat):
                continue  # the sgl-deep-* rows describe their tags in prose
            w = parse_wheel(f"{dist}-{r['version']}-cp310-abi3-{plat}.whl")
            assert w is not None and w.local.dialect == "none" and w.glibc == (2, 17) and w.os == "linux"
            assert w.installs_on("3.12") and not w.installs_on("3.9")
            v = parse_wheel(f"{dist}-{r['version']}+cu130-cp310-abi3-{plat}.whl")
            assert v is not None and v.cuda == CudaVersion(13, 0)


@needs_facts
def test_wheel_sources_csv_names_known_dialects() -> None:
    """The dialect column of every source names templates the normalizer reads (one concrete name each)."""
    concrete = {
        "dao-ailab-github-releases": "cu12torch2.8cxx11abiTRUE",
        "mjun0812-github-releases": "cu130torch2.11",
        "astral-gpu-index": "cu.12.8.torch.2.11",
        "pytorch-index": "cu130",
        "vllm-wheels": "cu129",
        "flashinfer-index": "cu130",
        "sglang-kernel": "cu130",
    }
    rows = _csv("wheel_sources.csv")
    assert {r["source"] for r in rows} == set(concrete)
    for r in rows:
        assert parse_local(concrete[r["source"]]).dialect != "unknown"


def test_every_bundled_listing_file_normalizes() -> None:
    """Every file of the bundled listings parses, to a dialect its source declares, consistent with its channel."""
    from llmenv.sources.catalog import load_sources

    listings = load_listings({"LLMENV_DATA_DIR": "/nonexistent"})
    declared = {s.id: set(s.dialects) for s in load_sources()}
    n = 0
    for sid, listing in listings.sources.items():
        for f in listing.files:
            name = str(f["file"])
            w = parse_wheel(name)
            assert w is not None, name
            assert w.local.dialect in declared[sid] | {"none"}, (sid, name)
            at = str(f["at"]).rsplit("/", 1)[-1]
            if w.local.dialect in ("astral", "astral-core", "cuda") and at.startswith("cu"):
                assert f"cu{w.cuda_major}{w.cuda.minor if w.cuda else ''}" == at, name
            n += 1
    assert n > 6000


def test_wheel_tags_and_platforms() -> None:
    w = parse_wheel(
        "flash_attn_3-3.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
        channel="cu130",
        torch_requirement="torch>=2.9",
    )
    assert w is not None
    assert (w.name, w.public, w.cuda, w.torch, w.stable_abi) == (
        "flash-attn-3",
        "3.0.0",
        CudaVersion(13, 0),
        ">=2.9",
        True,
    )
    assert w.installs_on("3.9") and w.installs_on("3.13") and not w.installs_on("3.13", free_threaded=True)
    assert w.torch_allows("2.10.0") and not w.torch_allows("2.8.0")
    x = parse_wheel("xformers-0.0.35-py39-none-manylinux_2_28_x86_64.whl", torch_requirement="torch (>=2.10)")
    assert x is not None and x.torch == ">=2.10" and x.installs_on("3.12") and not x.installs_on("3.8")
    t = parse_wheel("flash_attn-2.8.3+cu128torch2.9-cp313-cp313t-linux_x86_64.whl")
    assert t is not None and t.installs_on("3.13", free_threaded=True) and not t.installs_on("3.13")
    assert parse_wheel("not-a-wheel.tar.gz") is None
    assert parse_wheel("x-notaversion!-py3-none-any.whl") is None
    assert platform_of(("manylinux_2_24_x86_64", "manylinux_2_28_x86_64")) == ("linux", "x86_64", (2, 24))
    assert platform_of(("manylinux2014_aarch64",)) == ("linux", "aarch64", (2, 17))
    assert platform_of(("manylinux1_x86_64",)) == ("linux", "x86_64", (2, 5))
    assert platform_of(("linux_x86_64",)) == ("linux", "x86_64", None)
    assert platform_of(("win_amd64",)) == ("windows", "x86_64", None)
    assert platform_of(("macosx_11_0_arm64",)) == ("darwin", "arm64", None)
    assert platform_of(("any",)) == ("any", "any", None)


@pytest.mark.parametrize(
    ("torch", "cuda", "arch", "abi"),
    [
        ("2.5", CudaVersion(12, 4), "x86_64", False),
        ("2.6", CudaVersion(12, 4), "x86_64", False),
        ("2.6", CudaVersion(12, 6), "x86_64", True),
        ("2.6", CudaVersion(12, 4), "aarch64", True),
        ("2.7", CudaVersion(12, 8), "x86_64", True),
        ("2.11", None, "x86_64", True),
    ],
)
def test_implied_abi(torch: str, cuda: CudaVersion | None, arch: str, abi: bool) -> None:
    assert implied_cxx11_abi(torch, cuda=cuda, arch=arch) is abi


def test_facts_path_is_the_shared_folder() -> None:
    assert isinstance(FACTS, Path)
