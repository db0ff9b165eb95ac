"""``llmenv kb refresh`` refreshes the wheel sources' listings (all or nothing per source) and ``kb show`` names
the listings in use; the hosts are loopback stand-ins reached through a rewriting transport."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import llmenv.sources.kbcli as kbcli
from llmenv.sources.listing import load_listings

from .wheel_servers import Rewrite, SimpleIndex, fact_wheel, serving

FA = "flash_attn-2.8.3+cu.12.8.torch.2.8-cp312-cp312-manylinux_2_24_x86_64.whl"


def test_kb_refresh_wheel_sources_writes_the_reachable_ones_and_keeps_the_rest(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    srv = SimpleIndex()
    srv.add("simple/cu128", fact_wheel(tmp_path / "w", FA, requires=["torch==2.8.*"]))
    data = tmp_path / "data"
    env = {"LLMENV_DATA_DIR": str(data)}
    with serving(srv):
        routes = {"https://wheels.astral.sh/simple/": srv.url("simple")}
        monkeypatch.setattr(kbcli, "_client", lambda: httpx.Client(transport=Rewrite(routes), timeout=5))
        r = run_cli("kb", "refresh", "--only", "wheel-sources", "--retries", "0", environ=env)
    assert r.code == 1, r.err  # the other hosts are not reachable here: named, and their listings kept
    assert "wheel-sources astral: refreshed, 1 files" in r.out
    assert "wheel-sources mjun0812: not refreshed" in r.out and "kept the listing in use" in r.out
    assert "wheel sources not refreshed (" in r.err
    written = json.loads((data / "wheel_listings.json").read_text())
    assert [f["file"] for f in written["sources"]["astral"]["files"]] == [FA]
    assert written["sources"]["mjun0812"]["origin"] == "facts"  # the bundled listing, kept
    ls = load_listings(env)
    assert ls.origin == "user" and [w.filename for w in ls.wheels("flash-attn", source="astral")] == [FA]
    shown = run_cli("kb", "show", environ=env)
    assert shown.code == 0 and f"wheel listings user ({data / 'wheel_listings.json'})" in shown.out
    assert "astral: refresh" in shown.out and "1 files (flash-attn)" in shown.out


def test_kb_show_names_the_bundled_listings(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("kb", "show", "--json")
    assert r.code == 0
    lines = json.loads(r.out)["wheel_listings"]
    assert lines[0].startswith("wheel listings bundled (package data)")
    assert any(line.strip().startswith("mjun0812: facts") for line in lines)


def test_kb_refresh_only_rejects_an_unknown_table(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("kb", "refresh", "--only", "everything")
    assert r.code == 2 and "--only" in r.err
