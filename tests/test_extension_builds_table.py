"""The extension-builds table (xformers' wheel build records, flash-attn-4's metadata, the engines' cutlass pins)
is a table of the one knowledge loader: ``kb show`` and ``Knowledge.tables()`` list it with its date and source,
a user copy wins over the bundled one (a broken one is set aside), and the planner reads it from the knowledge it
was given (``problem.kb``), not from a cache of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from packaging.version import Version

from llmenv.backend import Backend
from llmenv.indexes import torch_source
from llmenv.knowledge import load, read_data
from llmenv.plan import lazy_pins, make_plan
from llmenv.plan.extensions import TorchBuild, default_providers
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target

BUNDLED = read_data("extension_builds.json")


def _user_copy(folder: Path, edit: Any) -> Path:
    mine = json.loads(json.dumps(BUNDLED))
    mine["generated"] = "2027-01-02T00:00:00Z"
    edit(mine)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "extension_builds.json"
    path.write_text(json.dumps(mine), encoding="utf-8")
    return path


def _h100(kb: Any) -> Target:
    return Target(
        driver="580.65.06", cuda=kb.cuda.max_cuda("580.65.06"), python="3.12", gpus=(Gpu(name="H100", capability=(9, 0)),)
    )


def test_the_table_is_listed_with_its_date_source_and_maker(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    info = {i.name: i for i in load(tmp_path).tables()}["extension-builds"]
    assert (info.origin, info.date) == ("bundled", BUNDLED["generated"][:10])
    assert info.made_by == "scripts/gen_extension_builds.py" and "PyPI" in info.source
    assert BUNDLED["sources"]  # cited

    env = {"LLMENV_DATA_DIR": str(tmp_path)}
    shown = run_cli("kb", "show", environ=env)
    assert shown.code == 0, shown.err
    row = next(line for line in shown.out.splitlines() if line.startswith("extension-builds"))
    assert "bundled*" in row and BUNDLED["generated"][:10] in row  # * : not rewritten by kb refresh
    tables = {t["table"]: t for t in json.loads(run_cli("kb", "show", "--json", environ=env).out)["tables"]}
    assert tables["extension-builds"]["made_by"] == "scripts/gen_extension_builds.py"


def test_a_user_copy_wins_and_a_broken_one_is_set_aside(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    def newer_fa4(d: dict[str, Any]) -> None:
        d["flash-attn-4"][0] = {**d["flash-attn-4"][0], "version": "4.9.0"}

    path = _user_copy(tmp_path, newer_fa4)
    kb = load(tmp_path)
    assert kb.extension_builds.fa4_releases()[0].version == Version("4.9.0")
    info = kb.info("extension-builds")
    assert (info.origin, info.path, info.date) == ("user", path, "2027-01-02")
    shown = run_cli("kb", "show", environ={"LLMENV_DATA_DIR": str(tmp_path)})
    assert any(line.startswith("extension-builds") and "user*" in line for line in shown.out.splitlines())

    path.write_text('{"xformers": [{"version": "not a version"}]}', encoding="utf-8")
    os.utime(path, ns=(1, 1))
    again = load(tmp_path)
    assert again is not kb and again.extension_builds.fa4_releases()[0].version != Version("4.9.0")
    info = again.info("extension-builds")
    assert info.origin == "bundled" and info.ignored and str(path) in info.ignored


def test_the_planner_reads_the_engines_cutlass_pins_from_the_knowledge_it_was_given(tmp_path: Path) -> None:
    # sglang 0.5.13 pins nvidia-cutlass-dsl[cu13]==4.5.2 (the bundled table): flash-attn-4 4.0.0b19 fits it.
    # A table that says it pins >=4.6.2 instead lets the newest flash-attn-4 in: the planner read this table.
    def looser(d: dict[str, Any]) -> None:
        d["engine_cutlass_pins"]["sglang"]["0.5.13"] = ["nvidia-cutlass-dsl[cu13]>=4.6.2"]

    request = parse_specs(("sglang==0.5.13", "flash-attn-4"), Path("."))
    bundled_kb = load(tmp_path / "none")
    p = make_plan(_h100(bundled_kb), request, source=torch_source(None, None), kb=bundled_kb)
    assert p.packages["flash-attn-4"].version == "4.0.0b19"

    _user_copy(tmp_path / "mine", looser)
    kb = load(tmp_path / "mine")
    p = make_plan(_h100(kb), request, source=torch_source(None, None), kb=kb)
    newest = str(kb.extension_builds.fa4_releases()[0].version)
    assert p.packages["flash-attn-4"].version == newest != "4.0.0b19"
    assert not any(r.package == "flash-attn-4" and "4.5.2" in r.reason for r in p.rejected)


def test_the_pypi_provider_reads_xformers_build_records_from_the_given_knowledge(tmp_path: Path) -> None:
    def cuda_12_9(d: dict[str, Any]) -> None:
        for r in d["xformers"]:
            if r["version"] == "0.0.33":
                r["cuda"] = "12.9"

    _user_copy(tmp_path, cuda_12_9)
    kb = load(tmp_path)
    r = kb.torch_release("2.9.0")
    assert r is not None
    torch = TorchBuild(version=r.version, variant=Backend.parse("cu130"), cxx11_abi=r.abi_of(Backend.parse("cu130")))
    provide = default_providers(pins=lazy_pins(), kb=kb)["xformers"][-1]
    got = {str(o.version): o for o in provide("xformers", torch, _h100(kb)) if o.prebuilt and o.platform.endswith("x86_64")}
    assert str(got["0.0.33"].cuda) == "12.9"


def test_kb_show_keeps_its_columns_for_the_longest_table_name(run_cli) -> None:  # type: ignore[no-untyped-def]
    """Every row's origin starts where the header's "in use" does, and a space separates it from the name
    (``extension-builds`` is 16 characters: it ran into "bundled*" with a fixed 16-wide column)."""
    r = run_cli("kb", "show")
    assert r.code == 0, r.err
    lines = r.out.split("\n\n")[0].splitlines()  # the table, before the pins snapshot's block
    col = lines[0].index("in use")
    rows = [line for line in lines[1:] if line.split() and line.split()[0] in {"torch", "extension-builds", "rocm"}]
    assert len(rows) == 3
    for row in rows:
        assert row[col - 1] == " " and row[col:].startswith("bundled"), row
