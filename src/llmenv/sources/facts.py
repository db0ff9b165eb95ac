"""Listings made from the cited facts, for sources whose hosts cannot be reached when the snapshot is made.

Each function reads one facts CSV (``shared/facts/…``) and returns a source's listing (the dict form of
:class:`llmenv.sources.listing.SourceListing`, ``origin: "facts"``). What each says and how sure it is:

- ``dao-ailab``: ``flash_attn_wheel_matrix.csv`` — the file names each tag's publish.yml builds and uploads
  (U: the release asset lists could not be read);
- ``mjun0812``: ``flash_attn_mjun0812_wheels.csv`` — every URL of the project's generated ``doc/packages.md``
  (V as a copy of that listing, @2614dc8);
- ``astral``: ``astral_gpu_index_matrix.csv`` — (package, version, torch minor, channel, Pythons, platforms,
  manylinux tag) from the astral-sh-build READMEs / plan-matrix scripts, expanded to one file name per Python and
  platform (U: what the producers say they publish; the vLLM mirror rows are a rule, kept in wheel_sources.json);
- ``pytorch``: FlashAttention-3 3.0.0 in the channels the facts name (F6: cu126, cu130, test/cu128; one stable-ABI
  wheel for torch >= 2.9);
- ``vllm``: the non-default CUDA variant of each release the facts place on wheels.vllm.ai (F5: cu130 next to the
  CUDA 12.9 default of 0.12–0.19, cu129 next to the CUDA 13.0 default of 0.20–0.26);
- ``flashinfer``: the jit-cache files of 0.6.16.post4 the facts name (F7).

Sources with no file list in the facts (``sgl-kernel``) get ``origin: "none"``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = ["FACTS_LISTINGS", "facts_listing"]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def _listing(detail: str, status: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {"origin": "facts", "read": None, "from": detail, "status": status, "files": files}


def _dist(package: str) -> str:
    return canonicalize_name(package).replace("-", "_")


def dao_ailab(facts: Path) -> dict[str, Any]:
    files = [
        {"at": r["flash_attn_tag"], "file": r["expected_wheel_filename"]}
        for r in _rows(facts / "flash_attn_wheel_matrix.csv")
    ]
    return _listing(
        "facts/flash_attn_wheel_matrix.csv (publish.yml at each tag, Dao-AILab/flash-attention snapshot 0251105)",
        "U: what each tag's CI builds and uploads; the asset lists could not be read",
        files,
    )


def mjun0812(facts: Path) -> dict[str, Any]:
    files = [
        {"at": r["release_tag"], "file": r["url"].rsplit("/", 1)[-1]}
        for r in _rows(facts / "flash_attn_mjun0812_wheels.csv")
    ]
    return _listing(
        "facts/flash_attn_mjun0812_wheels.csv (doc/packages.md @2614dc8, generated from the release asset lists)",
        "V as a copy of the project's own listing (v0.0.1-v0.9.52); newer releases are missing",
        files,
    )


def _pythons(text: str) -> tuple[list[str], bool]:
    """``3.9-3.12`` -> ([cp39 … cp312], False); ``3.10-3.14 (abi3)`` -> ([cp310], True); ``py3-none`` -> ([py3], False)."""
    text = text.strip()
    if text.startswith("py3"):
        return ["py3"], False
    abi3 = "abi3" in text
    lo, _, hi = text.split()[0].partition("-")
    lo_minor, hi_minor = int(lo.split(".")[1]), int((hi or lo).split(".")[1])
    if abi3:
        return [f"cp3{lo_minor}"], True
    return [f"cp3{m}" for m in range(lo_minor, hi_minor + 1)], False


def astral(facts: Path) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    channels: dict[str, set[str]] = {}
    te_version: str | None = None
    for r in _rows(facts / "astral_gpu_index_matrix.csv"):
        if r["package"] == "vllm":
            continue  # a rule (upstream releases -> channel by version), kept in wheel_sources.json
        version = r["local_version_example"].strip()
        pythons, abi3 = _pythons(r["python"])
        many = r["manylinux"].strip()
        for plat in r["platforms"].split():
            arch = plat.removeprefix("linux-")
            tag = f"{many}_{arch}" if many else f"linux_{arch}"
            for py in pythons:
                abi = "abi3" if abi3 else ("none" if py == "py3" else py)
                files.append(
                    {"at": r["cuda_channel"], "file": f"{_dist(r['package'])}-{version}-{py}-{abi}-{tag}.whl"}
                )
        channels.setdefault(r["cuda_channel"], set()).update(
            a.removeprefix("linux-") for a in r["platforms"].split()
        )
        if r["package"].startswith("transformer-engine"):
            te_version = r["version"]
    if te_version:  # the metapackage of the trio: every TE channel (F4: cu121-cu132), pure Python
        for ch in sorted(c for c in channels if c.startswith("cu")):
            files.append({"at": ch, "file": f"transformer_engine-{te_version}-py3-none-any.whl"})
    return _listing(
        "facts/astral_gpu_index_matrix.csv (astral-sh-build READMEs and plan-matrix scripts, commits per row)",
        "U: the combinations the producers build and publish, expanded to file names; platform tags are the "
        "README's manylinux tag (linux_<arch> where it names none); transformer-engine metapackage inferred (F4)",
        sorted(files, key=lambda f: (f["at"], f["file"])),
    )


def pytorch(facts: Path) -> dict[str, Any]:
    del facts  # F6 names these in prose: flash_attn_3 3.0.0, a cp39-abi3 stable-ABI build for torch >= 2.9
    files = [
        {"at": ch, "file": "flash_attn_3-3.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", "torch": ">=2.9"}
        for ch in ("cu126", "cu130", "test/cu128")
    ]
    return _listing(
        "facts F6 (pytorch/test-infra @61a7757 release scripts; NVIDIA-NeMo/RL#2148; prime-rl pyproject)",
        "S: the channels holding flash-attn-3 3.0.0; U: its exact platform tag",
        files,
    )


def vllm(facts: Path) -> dict[str, Any]:
    files = []
    for r in _rows(facts / "vllm_pypi_cuda.csv"):
        v = Version(r["vllm"])
        if Version("0.12") <= v < Version("0.20"):
            variant = "cu130"
        elif Version("0.20") <= v < Version("0.27"):
            variant = "cu129"
        else:
            continue
        plats = r["pypi_platforms"].split()
        x86 = next((p for p in plats if p.endswith("x86_64")), None)
        if v == Version("0.20.0") and variant == "cu129":
            x86 = "manylinux_2_31_x86_64"  # unlike its default (2_35), unsloth PR #8200
        if x86:
            files.append(
                {"at": f"{r['vllm']}/{variant}", "file": f"vllm-{r['vllm']}+{variant}-cp38-abi3-{x86}.whl"}
            )
    return _listing(
        "facts F5 and vllm_pypi_cuda.csv (default CUDA per PyPI release; variant folders from vllm PR #50822, "
        "vllm#44335, vllm#42756, unsloth PR #8200)",
        "S: which variant folder each release has (checked reports for 0.18.0/cu130, 0.20.0/cu129, 0.21.0, "
        "0.25.1/cu129); U: the other releases of those lines",
        files,
    )


def flashinfer(facts: Path) -> dict[str, Any]:
    del facts
    files = [
        {"at": ch, "file": f"flashinfer_jit_cache-0.6.16.post4+{ch}-cp39-abi3-manylinux_2_28_{arch}.whl"}
        for ch in ("cu128", "cu129", "cu130")
        for arch in ("x86_64", "aarch64")
    ]
    return _listing(
        "facts F7 (SourceForge mirror listing of flashinfer.ai/whl, 2026-08-10)",
        "S: file names of one release",
        files,
    )


def _none(detail: str) -> Callable[[Path], dict[str, Any]]:
    def make(facts: Path) -> dict[str, Any]:
        del facts
        return {
            "origin": "none",
            "read": None,
            "from": detail,
            "status": "unknown until refreshed",
            "files": [],
        }

    return make


FACTS_LISTINGS: Mapping[str, Callable[[Path], dict[str, Any]]] = {
    "astral": astral,
    "pytorch": pytorch,
    "vllm": vllm,
    "flashinfer": flashinfer,
    "dao-ailab": dao_ailab,
    "mjun0812": mjun0812,
    "sgl-kernel": _none("facts F8 name the release assets' pattern, not their list"),
}


def facts_listing(source_id: str, facts: Path) -> dict[str, Any]:
    """The listing of ``source_id`` made from the facts folder (``origin`` "facts", or "none")."""
    return FACTS_LISTINGS[source_id](facts)
