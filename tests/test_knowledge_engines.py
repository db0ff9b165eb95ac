"""The engine -> torch pin table: lookups, and that it matches a fresh build from the PyPI fact tables."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llmenv.knowledge import read_data
from llmenv.knowledge.engines import engine_torch_pin, engine_versions, pinned_requirements

from .conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "version", "extras", "pin"),
    [
        ("vllm", "0.8.5.post1", None, "2.6.0"),
        ("vLLM", "0.8.5post1", None, "2.6.0"),  # names and versions normalise
        ("vllm", "0.10.1.1", None, "2.7.1"),
        ("vllm", "0.20.0", None, "2.11.0"),
        ("vllm", "0.0.1", None, None),
        ("vllm", "not a version", None, None),
        ("sglang", "0.4.6.post5", ["srt"], "2.6.0"),
        ("sglang", "0.4.6.post5", ["all"], "2.6.0"),  # all -> srt
        ("sglang", "0.4.6.post5", [], None),  # no [srt]: sglang does not pin torch
        ("sglang", "0.4.6.post5", None, "2.6.0"),
        ("sglang", "0.4.2", ["srt"], "2.5.1"),  # through vllm==0.6.4.post1
        ("sglang", "0.5.10", [], "2.9.1"),  # a base dependency from 0.5.3
        ("sglang", "0.4.0", ["srt"], None),  # unpinned
        ("verl", "0.5.0", None, None),
    ],
)
def test_engine_torch_pin(name: str, version: str, extras: list[str] | None, pin: str | None) -> None:
    assert engine_torch_pin(name, version, extras) == pin


def test_engine_versions_are_sorted() -> None:
    vs = engine_versions("vllm")
    assert [v for v, _ in vs] == sorted(v for v, _ in vs) and len(vs) >= 87  # vllm 0.2.1 ... (PyPI)


def test_pinned_requirements() -> None:
    reqs = pinned_requirements("TapeAgents", "0.1.16")
    assert reqs is not None and "deepspeed~=0.15.4; extra == 'finetune'" in reqs
    assert pinned_requirements("tapeagents", "0.1.15") is None


def test_every_table_is_cited() -> None:
    for name in ("engine_torch_pins.json", "pinned_requires.json", "uv_settings.json", "check_packages.json"):
        d = read_data(name)
        assert d["sources"] and d["verified"], name


FACTS = SHARED / "facts"


def test_the_table_is_what_kb_refresh_derives_from_the_bundled_pins() -> None:
    from llmenv.knowledge.pins import load_pins
    from llmenv.knowledge.refresh.engines import build

    bundled = read_data("engine_torch_pins.json")
    fresh = build(load_pins(ROOT / "no-user-dir"))
    assert fresh["engines"] == bundled["engines"], "stale: run llmenv kb refresh --bundled"


@pytest.mark.skipif(not (FACTS / "vllm_pins.csv").is_file(), reason="needs the shared fact tables")
def test_table_agrees_with_the_independently_gathered_pins() -> None:
    for engine in ("vllm", "sglang"):
        with (FACTS / f"{engine}_pins.csv").open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                pin = engine_torch_pin(engine, row["version"])
                raw = row["torch"].split(" || ")[0].split(";")[0].strip()
                if raw.startswith("==") and "[" not in row["torch"]:
                    assert f"=={pin}" == raw, (engine, row["version"])
