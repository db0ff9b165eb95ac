"""The bundled knowledge against the live sources this machine reaches (marked `network`; CI runs them).

PyPI is reachable: the pins and the engine pins are read again through `kb refresh --bundled --check`, and the
torch table's PyPI part (wheel tags, Pythons, each Linux build's CUDA, architectures and C++ ABI read from the
wheels' bytes, the torchvision / torchaudio pairing) for its newest releases. download.pytorch.org and GitHub
are not reachable from here: the index's variants and flash-attn's assets are tested against loopback
stand-ins (tests/test_kb_sources.py), and `--check` says they were not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import llmenv.knowledge
from llmenv.knowledge import read_data
from llmenv.knowledge.refresh.check import compare

pytestmark = pytest.mark.network

DATA = Path(llmenv.knowledge.__file__).parent / "data"


def test_bundled_pins_and_engine_pins_read_the_same_again(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    r = run_cli(
        "kb",
        "refresh",
        "--bundled",
        "--check",
        str(DATA),
        "--only",
        "pins",
        "--only",
        "engines",
        environ={"LLMENV_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert r.code == 0, r.out + r.err
    assert f"pins        {DATA / 'pins.json'}: reads the same again" in r.out
    assert f"engines     {DATA / 'engine_torch_pins.json'}: reads the same again" in r.out


def test_the_torch_tables_pypi_part_reads_the_same_again(tmp_path: Path) -> None:
    from llmenv.kb import refresh
    from llmenv.knowledge.pins import Pins
    from llmenv.knowledge.refresh._pool import Pool
    from llmenv.knowledge.refresh.torch import Inputs, build_torch_table
    from llmenv.pypi import Cache, PyPIClient

    bundled = read_data("torch.json")
    newest = {**bundled, "releases": bundled["releases"][-3:]}  # the three newest: every wheel read again
    with PyPIClient(cache=Cache(tmp_path / "cache"), timeout=60) as client:
        companions = refresh(client, packages={"torchvision": True, "torchaudio": True})
        assert companions.snapshot is not None, companions.failures
        pins = Pins.from_dict(companions.snapshot, origin="file")
        inputs = Inputs(
            pypi=client,
            index=None,
            source=None,
            old=newest,
            torchvision=pins.releases("torchvision"),
            torchaudio=pins.releases("torchaudio"),
            cuda_versions=[],
            reread=True,
        )
        with Pool(8) as pool:
            table, _ = build_torch_table(inputs, pool)
    differences, _ = compare("torch", newest, table, partial=True)
    assert differences == [], differences
    assert client.stats.sources.get("wheel-scan", 0) == 6  # x86_64 and aarch64 of each: read, not kept
