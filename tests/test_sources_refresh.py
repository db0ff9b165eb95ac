"""Refreshing the wheel listings from loopback stand-ins of each kind of source, all or nothing per source."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmenv.knowledge import load as load_knowledge
from llmenv.sources.catalog import load_sources, source
from llmenv.sources.fetch import Fetcher, FetchError
from llmenv.sources.index import read_flat
from llmenv.sources.listing import (
    ListingsError,
    dumps,
    load_listings,
    read_listings,
    user_listings_path,
    validate,
    write_listings,
)
from llmenv.sources.refresh import refresh_listings

from .conftest import SHARED
from .wheel_servers import FlatFolder, GitHubReleases, Rewrite, SimpleIndex, fact_wheel, serving

FA_CU128 = "flash_attn-2.8.3+cu.12.8.torch.2.8-cp312-cp312-manylinux_2_24_x86_64.whl"
FA3_CU130 = "flash_attn_3-3.0.0b1+cu.13.0.torch.2.10-cp310-abi3-manylinux_2_24_x86_64.whl"
PT_FA3 = "flash_attn_3-3.0.0-cp39-abi3-manylinux_2_28_x86_64.whl"
MJUN = [
    (
        "v0.9.52",
        "flash_attn-2.8.3+cu130torch2.11-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    ),
    ("v0.9.52", "flash_attn-2.8.3+cu128torch2.9-cp313-cp313t-linux_x86_64.whl"),
    ("v0.7.16", "flash_attn-2.8.3+cu124torch2.6-cp311-cp311-linux_x86_64.whl"),
    ("v0.0.1", "flash_attn-1.0.9+cu118torch2.0-cp310-cp310-linux_x86_64.whl"),
]
DAO = "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"


def no_sleep(_: float) -> None:
    pass


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    for name in (FA_CU128, FA3_CU130, DAO, *(n for _, n in MJUN)):
        fact_wheel(d, name, requires=["einops"])
    fact_wheel(d, PT_FA3, requires=["torch>=2.9"])
    return d


@pytest.fixture
def astral(wheels: Path) -> Iterator[SimpleIndex]:
    srv = SimpleIndex()
    srv.add("simple/cu128", wheels / FA_CU128, uploaded="2026-06-23T10:00:00Z")
    srv.add("simple/cu130", wheels / FA3_CU130, uploaded="2026-06-24T10:00:00Z", pep658=True)
    srv.pages["simple/cpu"] = {}
    with serving(srv):
        yield srv


def http_for(routes: dict[str, str]) -> httpx.Client:
    return httpx.Client(transport=Rewrite(routes), timeout=5)


def test_astral_index_json_with_hashes_and_upload_times(astral: SimpleIndex) -> None:
    with http_for({"https://wheels.astral.sh/simple/": astral.url("simple")}) as http:
        r = refresh_listings(http, sources=["astral"], sleep=no_sleep)
    assert r.ok and r.refreshed == ("astral",)
    got = r.snapshot["sources"]["astral"]
    assert got["origin"] == "refresh" and got["from"].startswith("https://wheels.astral.sh/simple/{channel}/")
    rows = {f["file"]: f for f in got["files"]}
    assert set(rows) == {FA_CU128, FA3_CU130}
    assert rows[FA_CU128]["at"] == "cu128" and len(rows[FA_CU128]["sha256"]) == 64
    assert rows[FA_CU128]["uploaded"] == "2026-06-23T10:00:00Z"
    assert "torch" not in rows[FA3_CU130]  # its name ties it to torch 2.10: no metadata read
    # channels that do not exist (404) are answers, not failures; JSON was asked for and answered
    assert astral.requests["/simple/cu124/"] == 1


def test_pytorch_index_html_and_stable_abi_metadata(wheels: Path) -> None:
    srv = SimpleIndex(html_only=True)
    srv.add("whl/cu130", wheels / PT_FA3, pep658=True)
    srv.add("whl/cu126", wheels / PT_FA3)
    with serving(srv), http_for({"https://download.pytorch.org/whl/": srv.url("whl")}) as http:
        r = refresh_listings(http, sources=["pytorch"], sleep=no_sleep)
    assert r.ok
    rows = r.snapshot["sources"]["pytorch"]["files"]
    by_at = {f["at"]: f for f in rows}
    assert set(by_at) == {"cu126", "cu130"}
    assert by_at["cu130"]["torch"] == ">=2.9"  # read from the PEP 658 .metadata: the name says no torch
    assert "torch" not in by_at["cu126"]  # no .metadata offered there
    assert (
        "uploaded" not in by_at["cu130"] and len(by_at["cu130"]["sha256"]) == 64
    )  # HTML: hash fragment only


def test_vllm_per_version_variant_index(tmp_path: Path) -> None:
    srv = SimpleIndex(html_only=True)
    w1 = fact_wheel(tmp_path, "vllm-0.18.0+cu130-cp38-abi3-manylinux_2_31_x86_64.whl")
    w2 = fact_wheel(tmp_path, "vllm-0.25.1+cu129-cp38-abi3-manylinux_2_31_x86_64.whl")
    srv.add("0.18.0/cu130", w1)
    srv.add("0.25.1/cu129", w2)
    with serving(srv), http_for({"https://wheels.vllm.ai/": srv.base + "/"}) as http:
        r = refresh_listings(http, sources=["vllm"], versions=["0.18.0", "0.25.1", "0.26.0"], sleep=no_sleep)
    assert r.ok
    assert [(f["at"], f["file"]) for f in r.snapshot["sources"]["vllm"]["files"]] == [
        ("0.18.0/cu130", w1.name),
        ("0.25.1/cu129", w2.name),
    ]
    listings = load_listings_from(r.snapshot, tmp_path)
    (v,) = listings.wheels("vllm", source="vllm")[:1]
    assert v.channel == "cu130" and v.build is not None and str(v.build.cuda) == "13.0"


def load_listings_from(snapshot: dict[str, object], tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "listings.json"
    write_listings(path, snapshot)
    return read_listings(path)


@pytest.mark.parametrize("link_header", [True, False])
def test_github_releases_paged_through_a_proxy(wheels: Path, tmp_path: Path, link_header: bool) -> None:
    """With a Link header the client follows it (re-proxied: a pass-through proxy leaves api.github.com links);
    without one it asks for page=N while pages come back full (100 releases)."""
    gh = GitHubReleases(per_page_cap=2 if link_header else 100, link_header=link_header)
    repo = "mjun0812/flash-attention-prebuild-wheels"
    for tag, name in MJUN:
        gh.add(repo, tag, wheels / name, digest=tag != "v0.0.1")
    expected = list(MJUN)
    if not link_header:
        for i in range(120):
            name = f"flash_attn-2.8.{i}+cu128torch2.9-cp312-cp312-linux_x86_64.whl"
            gh.add(repo, f"v1.{i}", fact_wheel(tmp_path / "more", name))
            expected.append((f"v1.{i}", name))
    with serving(gh), httpx.Client(timeout=5) as http:
        r = refresh_listings(
            http, sources=["mjun0812"], github_proxy=gh.base + "/", sleep=no_sleep, retries=0
        )
    assert r.ok, r.failures
    rows = r.snapshot["sources"]["mjun0812"]["files"]
    assert sorted((f["at"], f["file"]) for f in rows) == sorted(expected)
    digests = {f["file"]: f.get("sha256") for f in rows}
    assert digests[MJUN[3][1]] is None and len(digests[MJUN[0][1]] or "") == 64
    assert r.snapshot["sources"]["mjun0812"]["from"].startswith(gh.base + "/https://api.github.com/repos/")
    assert r.requests == 2


def test_github_api_base_without_proxy(wheels: Path) -> None:
    gh = GitHubReleases()
    gh.add("Dao-AILab/flash-attention", "v2.8.3", wheels / DAO)
    with serving(gh), httpx.Client(timeout=5) as http:
        r = refresh_listings(http, sources=["dao-ailab"], github_api=gh.base, sleep=no_sleep)
    assert r.ok and r.snapshot["sources"]["dao-ailab"]["files"][0]["file"] == DAO


def test_one_failing_source_keeps_its_previous_listing(astral: SimpleIndex, wheels: Path) -> None:
    gh = GitHubReleases(fail={"/releases"})
    previous = {
        "schema": 1,
        "generated": "2026-01-01T00:00:00Z",
        "sources": {
            "mjun0812": {
                "origin": "facts",
                "read": None,
                "from": "old",
                "status": "U",
                "files": [{"at": "v0", "file": DAO}],
            },
            "astral": {"origin": "facts", "read": None, "from": "old", "status": "U", "files": []},
        },
    }
    with serving(gh), http_for({"https://wheels.astral.sh/simple/": astral.url("simple")}) as http:
        r = refresh_listings(
            http,
            sources=["astral", "mjun0812"],
            github_api=gh.base,
            previous=previous,
            sleep=no_sleep,
            retries=1,
        )
    assert not r.ok and set(r.failures) == {"mjun0812"} and "HTTP 500" in r.failures["mjun0812"]
    assert r.refreshed == ("astral",) and r.kept == ("mjun0812",)
    assert r.snapshot["sources"]["mjun0812"] == previous["sources"]["mjun0812"]  # all or nothing
    assert r.snapshot["sources"]["astral"]["origin"] == "refresh"
    assert gh.requests["/repos/mjun0812/flash-attention-prebuild-wheels/releases"] == 2  # one retry


def test_a_flaky_page_is_retried_and_a_failing_one_fails_the_whole_source(astral: SimpleIndex) -> None:
    astral.flaky["/simple/cu128/flash-attn/"] = 1
    with http_for({"https://wheels.astral.sh/simple/": astral.url("simple")}) as http:
        r = refresh_listings(http, sources=["astral"], sleep=no_sleep)
    assert r.ok and len(r.snapshot["sources"]["astral"]["files"]) == 2
    astral.fail.add("/simple/cu130/flash-attn-3/")
    with http_for({"https://wheels.astral.sh/simple/": astral.url("simple")}) as http:
        r = refresh_listings(http, sources=["astral"], sleep=no_sleep, retries=0)
    assert set(r.failures) == {"astral"} and r.snapshot["sources"]["astral"]["origin"] == "none"


def test_unreachable_hosts_get_the_facts_listing_when_making_the_bundled_snapshot(tmp_path: Path) -> None:
    facts = SHARED / "facts"
    if not (facts / "flash_attn_mjun0812_wheels.csv").is_file():
        pytest.skip("needs the shared facts")
    with http_for({}) as http:  # nothing reachable
        r = refresh_listings(http, facts=facts, retries=0, versions=["0.18.0"])
    assert set(r.failures) == {s.id for s in load_sources()}
    assert set(r.from_facts) == set(r.failures)
    bundled = json.loads(
        (Path(__file__).parents[1] / "src/llmenv/knowledge/data/wheel_listings.json").read_text()
    )
    assert r.snapshot["sources"] == bundled["sources"], "stale: python scripts/gen_wheel_listings.py <facts>"


def test_unknown_source_id() -> None:
    with http_for({}) as http, pytest.raises(KeyError):
        refresh_listings(http, sources=["nope"])


def test_write_is_atomic_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    good = {
        "schema": 1,
        "generated": None,
        "sources": {"astral": {"origin": "refresh", "files": [{"at": "cu128", "file": FA_CU128}]}},
    }
    write_listings(path, good)
    assert json.loads(path.read_text()) == good
    assert f'        {{"at": "cu128", "file": "{FA_CU128}"}}' in dumps(good).splitlines()  # one file a line
    with pytest.raises(ListingsError):
        write_listings(
            path, {"schema": 1, "sources": {"astral": {"origin": "refresh", "files": [{"file": "x.tar.gz"}]}}}
        )
    assert json.loads(path.read_text()) == good  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["l.json"]
    for bad in (
        [],
        {"schema": 2},
        {"schema": 1, "sources": []},
        {"schema": 1, "sources": {"a": {"origin": "x"}}},
    ):
        with pytest.raises(ListingsError):
            validate(bad)


def test_user_listings_take_precedence_and_a_broken_one_is_ignored(tmp_path: Path) -> None:
    env = {"LLMENV_DATA_DIR": str(tmp_path)}
    bundled = load_listings(env)
    assert bundled.origin == "bundled" and bundled.wheels("flash-attn", source="mjun0812")
    mine = {
        "schema": 1,
        "generated": "2026-12-02T00:00:00Z",
        "sources": {"mjun0812": {"origin": "refresh", "files": [{"at": "v9", "file": MJUN[0][1]}]}},
    }
    write_listings(user_listings_path(env), mine)
    user = load_listings(env)
    assert user.origin == "user" and [w.filename for w in user.wheels("flash-attn")] == [MJUN[0][1]]
    # the knowledge loader's own table: kb show lists it with its date, as every other table
    info = load_knowledge(tmp_path).info("wheel-sources")
    assert (info.origin, info.path, info.date) == ("user", user_listings_path(env), "2026-12-02")
    user_listings_path(env).write_text("{not json")
    again = load_listings(env)
    assert again.origin == "bundled" and again.ignored and "not JSON" in again.ignored
    assert load_knowledge(tmp_path).info("wheel-sources").ignored == again.ignored
    malformed = {**mine, "sources": {"mjun0812": {"origin": "refresh", "files": [{"file": "x.tar.gz"}]}}}
    user_listings_path(env).write_text(json.dumps(malformed))
    os.utime(user_listings_path(env), ns=(1, 1))
    assert "files[0]" in (load_listings(env).ignored or "")  # a user's copy is checked in full


def test_flat_folder_served_over_http(wheels: Path) -> None:
    with serving(FlatFolder(wheels)) as srv, httpx.Client(timeout=5) as http:
        files = read_flat(Fetcher(http), srv.url)
    assert {f.filename for f in files} == {p.name for p in wheels.glob("*.whl")}
    assert all(f.url.startswith(srv.base) for f in files)


def test_fetch_error_names_github_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "API rate limit exceeded for 1.2.3.4"})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        pytest.raises(FetchError, match="rate limit"),
    ):
        Fetcher(http).get("https://api.github.com/repos/x/y/releases")


def test_catalog_urls() -> None:
    a = source("astral")
    assert a.is_index and a.index_url("cu128") == "https://wheels.astral.sh/simple/cu128/"
    v = source("vllm")
    assert v.per_version and v.index_url("cu129", "0.25.1") == "https://wheels.vllm.ai/0.25.1/cu129/"
    m = source("mjun0812")
    assert m.download_url("v0.9.52", "x.whl", github_proxy="https://gh-proxy.com/") == (
        "https://gh-proxy.com/https://github.com/mjun0812/flash-attention-prebuild-wheels/releases/download/v0.9.52/x.whl"
    )
    assert [s.rank for s in load_sources()] == sorted(s.rank for s in load_sources())
    assert source("astral").same_index_groups()[0][0] == "transformer-engine"
    from packaging.version import Version

    assert a.vllm_channel(Version("0.15.0")) == "cu129" and a.vllm_channel(Version("0.30.0")) is None
    assert v.pypi_cuda(Version("0.25.0")) == ("13.0", "V (checked through 0.33.0)")


def test_the_torch_minor_filter_keeps_exactly_what_parsing_would() -> None:
    ls = load_listings({"LLMENV_DATA_DIR": "/nonexistent"})
    every = ls.wheels("flash-attn")
    for minor in ("2.1", "2.8", "2.10"):
        fast = ls.wheels("flash-attn", torch_minor=minor)
        slow = [w for w in every if w.build is not None and w.build.local.torch in (None, minor)]
        assert list(fast) == slow and 0 < len(fast) < len(every) / 5


def test_an_index_source_refreshed_through_a_mirror(astral: SimpleIndex) -> None:
    with httpx.Client(timeout=5) as http:  # no rewrite: the mirror's own URL is read
        r = refresh_listings(
            http, sources=["astral"], mirrors={"astral": astral.url("simple") + "{channel}/"}, sleep=no_sleep
        )
    assert r.ok and {f["file"] for f in r.snapshot["sources"]["astral"]["files"]} == {FA_CU128, FA3_CU130}
    assert r.snapshot["sources"]["astral"]["from"].startswith(astral.base)
    with httpx.Client() as http, pytest.raises(ValueError, match="same placeholders"):
        refresh_listings(http, sources=["vllm"], mirrors={"vllm": "https://m.example/{channel}/"})
