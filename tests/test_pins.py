"""The pins snapshot: the bundled file's facts, the typed accessor, user-over-bundled precedence."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.kb import TRACKED, compare_snapshots, filter_snapshot, release_entry
from llmenv.knowledge.pins import PinnedRelease, Pins, load_pins, read_pins, requirements_for

from .conftest import SHARED

LINUX_312 = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "sys_platform": "linux",
    "os_name": "posix",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "platform_release": "",
    "platform_version": "",
}
MAC_312 = {**LINUX_312, "platform_system": "Darwin", "platform_machine": "arm64", "sys_platform": "darwin"}
FACTS = SHARED / "facts"


def bundled_raw() -> dict[str, object]:
    path = resources.files("llmenv.knowledge") / "data" / "pins.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def pins(tmp_path: Path) -> Pins:
    return load_pins(tmp_path / "no-user-data")


def pin(reqs: list[Requirement], name: str) -> str | None:
    got = [str(r.specifier) for r in reqs if canonicalize_name(r.name) == canonicalize_name(name)]
    return ",".join(got) if got else None


def test_the_bundled_snapshot_is_in_use_without_a_user_one(pins: Pins) -> None:
    assert pins.origin == "bundled" and pins.filtered and pins.ignored is None
    assert pins.index == "https://pypi.org/simple"
    assert set(pins.names()) == set(TRACKED)
    for name in TRACKED:
        assert len(pins.releases(name)) > 10, name
        assert pins.full(name) is TRACKED[name]


def test_seed_facts_cross_checked_against_e_pins(pins: Pins) -> None:
    vllm = pins.release("vllm", "0.8.5.post1")
    assert vllm is not None and vllm.source == "range"
    assert pin(requirements_for(vllm, [], LINUX_312), "torch") == "==2.6.0"
    assert pin(requirements_for(vllm, [], LINUX_312), "xformers") == "==0.0.29.post2"
    assert pin(requirements_for(vllm, [], MAC_312), "xformers") is None  # a Linux x86_64 marker
    assert str(vllm.requires_python) == "<3.13,>=3.9" and str(vllm.uploaded) == "2025-05-02"

    openrlhf = pins.release("openrlhf", "0.8.11")
    assert openrlhf is not None
    assert pin(requirements_for(openrlhf, [], LINUX_312), "transformers") == "==4.56.1"
    assert pin(requirements_for(openrlhf, ["vllm"], LINUX_312), "vllm") == "==0.10.2"
    assert pin(requirements_for(openrlhf, [], LINUX_312), "vllm") is None
    # frameworks keep every line (an override rewrites their whole metadata)
    assert any(r.name == "wandb" for r in openrlhf.requires_dist)

    verl = pins.release("verl", "0.5.0")
    assert verl is not None and "sglang" in verl.extras and verl.provides_extras == verl.extras
    assert pin(requirements_for(verl, ["sglang"], LINUX_312), "torch") == "==2.6.0"
    assert pin(requirements_for(verl, [], LINUX_312), "torch") is None
    assert pin(requirements_for(verl, ["vllm"], LINUX_312), "vllm") == "<=0.8.5,>=0.7.3"


@pytest.mark.parametrize(
    ("package", "column", "requirement"),
    [
        ("vllm", "torch", "torch"),
        ("vllm", "xformers", "xformers"),
        ("openrlhf", "transformers", "transformers"),
        ("openrlhf", "flash-attn", "flash-attn"),
        ("openrlhf", "deepspeed", "deepspeed"),
    ],
)
def test_every_release_matches_the_facts_csv(pins: Pins, package: str, column: str, requirement: str) -> None:
    """The facts were read from PyPI independently (shared/facts/E_pins.md); the bundled file agrees on every
    release both know."""
    if not (FACTS / f"{package}_pins.csv").is_file():
        pytest.skip("the shared facts are not next to this checkout")
    checked = 0
    with open(FACTS / f"{package}_pins.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        rel = pins.release(package, row["version"])
        assert rel is not None, row["version"]
        want = row[column]
        if not want or want == "(unpinned)" or "||" in want or "]" in want:
            continue  # per-extra or alternative pins: the accessor tests above check those
        expected = Requirement(f"{requirement} {want}")
        got = [
            r
            for r in rel.requires_dist
            if canonicalize_name(r.name) == canonicalize_name(requirement)
            and r.specifier == expected.specifier
            and str(r.marker) == str(expected.marker)
        ]
        assert got, (row["version"], want, [str(r) for r in rel.requires_dist])
        checked += 1
    assert checked > 20


def test_releases_are_newest_first_and_typed(pins: Pins) -> None:
    rels = pins.releases("vllm")
    assert [r.version for r in rels] == sorted((r.version for r in rels), reverse=True)
    assert all(isinstance(r.version, Version) for r in rels)
    assert pins.releases("not-tracked") == ()
    assert pins.releases("VLLM") is rels  # names normalize; parsed once
    newest = pins.newest("vllm")
    assert newest is not None and not newest.yanked and not newest.version.is_prerelease


def test_index_only_packages_say_so(pins: Pins) -> None:
    torch = pins.release("torch", "2.6.0")
    assert torch is not None and not torch.metadata_known and torch.requires_dist == ()
    assert torch.uploaded is not None and torch.requires_python is not None


def test_the_user_snapshot_wins_when_valid(tmp_path: Path) -> None:
    raw = bundled_raw()
    raw["generated"] = "2030-01-01T00:00:00Z"
    (tmp_path / "pins.json").write_text(json.dumps(raw))
    got = load_pins(tmp_path)
    assert (
        got.origin == "user"
        and got.generated == "2030-01-01T00:00:00Z"
        and got.path == tmp_path / "pins.json"
    )


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"schema": 2}',
        '{"schema": 1, "generated": "x", "index": "y", "packages": {"vllm": {"releases": {"1.0": {}}}}}',
    ],
)
def test_a_broken_user_snapshot_falls_back_to_the_bundled_one(tmp_path: Path, content: str) -> None:
    (tmp_path / "pins.json").write_text(content)
    got = load_pins(tmp_path)
    assert got.origin == "bundled" and got.ignored and str(tmp_path / "pins.json") in got.ignored
    assert got.release("vllm", "0.8.5.post1") is not None


def test_kb_show_reports_the_bundled_snapshot(run_cli: Callable[..., object], tmp_path: Path) -> None:
    r = run_cli("kb", "show", environ={"LLMENV_DATA_DIR": str(tmp_path)})
    out = r.out  # type: ignore[attr-defined]
    assert r.code == 0 and "\npins snapshot  bundled (package data)\n" in out  # type: ignore[attr-defined]
    assert f"generated      {bundled_raw()['generated']}" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("vllm "))
    assert row[1] == str(len(load_pins(tmp_path).releases("vllm"))) and row[3] == "requires-dist"
    (tmp_path / "pins.json").write_text("{broken")
    r = run_cli("kb", "show", "--json", environ={"LLMENV_DATA_DIR": str(tmp_path)})
    shown = json.loads(r.out)  # type: ignore[attr-defined]
    assert shown["snapshot"] == "bundled" and shown["ignored"].startswith(str(tmp_path / "pins.json"))
    assert "the user's pins table is not used" in r.err  # type: ignore[attr-defined]


PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def test_wheel_tags_say_which_pythons_a_release_installs_on(pins: Pins) -> None:
    """The issue's facts, from the bundled snapshot: openrlhf 0.8.0-0.8.3 ship cp310/cp311 wheels and no sdist;
    ray 2.43.0 has no Python 3.13 wheel; tensordict 0.10.0 none for 3.14; vLLM's abi3 wheel fits every Python
    its requires-python allows; an sdist-only release (deepspeed on Linux) stays buildable everywhere."""
    for v in ("0.8.0", "0.8.3"):
        rel = pins.release("openrlhf", v)
        assert rel is not None and rel.sdist is False
        assert rel.pythons("linux", "x86_64", PYTHONS) == ("3.10", "3.11")
        assert rel.pythons("linux", "aarch64", PYTHONS) == ()
    ray = pins.release("ray", "2.43.0")
    assert ray is not None and "3.13" not in ray.pythons("linux", "x86_64", PYTHONS)
    assert ray.pythons("linux", "x86_64", PYTHONS)[-1] == "3.12"
    tensordict = pins.release("tensordict", "0.10.0")
    assert tensordict is not None and tensordict.pythons("linux", "x86_64", PYTHONS)[-1] == "3.13"
    vllm = pins.release("vllm", "0.8.5.post1")
    assert vllm is not None and vllm.pythons("linux", "x86_64", PYTHONS) == ("3.9", "3.10", "3.11", "3.12")
    assert vllm.pythons("linux", "aarch64", PYTHONS, builds=False) == ()
    deepspeed = pins.release("deepspeed", "0.16.4")
    assert deepspeed is not None and deepspeed.sdist is True  # its only wheels are Windows ones
    assert deepspeed.pythons("linux", "x86_64", PYTHONS) == PYTHONS
    assert deepspeed.pythons("linux", "x86_64", PYTHONS, builds=False) == ()
    torch = pins.release("torch", "2.6.0")
    assert torch is not None and torch.pythons("windows", "x86_64", PYTHONS) == PYTHONS[:5]
    assert all(isinstance(t, Tag) for t in torch.wheel_tags)


def test_a_snapshot_without_wheel_tags_makes_no_claim(tmp_path: Path) -> None:
    """A user snapshot written before wheel tags were recorded: unknown files, so every Python requires-python
    allows; the round trip writes no wheels / sdist keys it never had."""
    raw = bundled_raw()
    entry = dict(raw["packages"]["ray"]["releases"]["2.43.0"])  # type: ignore[index]
    entry.pop("wheels")
    entry.pop("sdist")
    rel = PinnedRelease.from_dict("ray", "2.43.0", entry)
    assert rel.files_known is False and rel.sdist is None
    assert rel.pythons("linux", "x86_64", PYTHONS) == PYTHONS
    assert "wheels" not in rel.to_dict() and "sdist" not in rel.to_dict()
    full = PinnedRelease.from_dict("ray", "2.43.0", raw["packages"]["ray"]["releases"]["2.43.0"])  # type: ignore[index]
    assert full.to_dict() == raw["packages"]["ray"]["releases"]["2.43.0"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("tag", "os", "arch", "python", "fits"),
    [
        ("cp38-abi3-manylinux1_x86_64", "linux", "x86_64", "3.13", True),
        ("cp313-cp313-manylinux_2_28_x86_64", "linux", "x86_64", "3.12", False),
        ("cp313-cp313t-manylinux_2_28_x86_64", "linux", "x86_64", "3.13", False),  # free-threaded only
        ("cp312-cp312-manylinux_2_28_aarch64", "linux", "aarch64", "3.12", True),
        ("cp312-cp312-manylinux_2_28_aarch64", "linux", "x86_64", "3.12", False),
        ("cp312-cp312-musllinux_1_2_x86_64", "linux", "x86_64", "3.12", False),
        ("py3-none-any", "darwin", "arm64", "3.10", True),
        ("cp311-cp311-macosx_10_9_universal2", "darwin", "arm64", "3.11", True),
        ("cp311-cp311-win_amd64", "windows", "x86_64", "3.11", True),
        ("cp311-abi3-any", "linux", "x86_64", "3.11", False),  # packaging offers "any" only with abi none
    ],
)
def test_tag_installs_on_agrees_with_packaging(tag: str, os: str, arch: str, python: str, fits: bool) -> None:
    from packaging.tags import compatible_tags, cpython_tags, parse_tag

    from llmenv.knowledge.pins import tag_installs_on

    (t,) = parse_tag(tag)
    assert tag_installs_on(t, os, arch, python) is fits
    if os == "linux":  # and it is the answer packaging.tags gives for that interpreter and platform
        version = tuple(int(x) for x in python.split("."))
        platforms = [t.platform] if t.platform != "any" else [f"manylinux_2_28_{arch}"]
        interp = f"cp{version[0]}{version[1]}"
        supported = {
            *cpython_tags(version, [interp], platforms),
            *compatible_tags(version, interp, platforms),
        }
        if "musllinux" not in tag and arch in t.platform + "any":
            assert (t in supported) is fits


def test_load_is_cached_and_cheap(tmp_path: Path) -> None:
    assert load_pins(tmp_path) is load_pins(tmp_path)


@pytest.mark.network
def test_the_bundled_snapshot_reads_the_same_from_pypi_again() -> None:
    """Reproducibility on a sample: the same code path (release_entry + filter) gives the bundled entries."""
    from llmenv.pypi import PyPIClient

    raw = bundled_raw()
    sample = {
        "vllm": ["0.8.5.post1", "0.1.0"],
        "verl": ["0.5.0"],
        "openrlhf": ["0.8.11"],
        "sglang": ["0.4.6.post5"],
        "flashinfer-python": ["0.2.0.post1"],
        "torch": ["2.6.0"],
    }
    fresh: dict[str, dict[str, object]] = {}
    with PyPIClient(timeout=60) as client:
        for name, versions in sample.items():
            releases = client.project(name).releases()
            fresh[name] = {"releases": {}}
            for v in versions:
                entry, problem = release_entry(client, releases[Version(v)], full=TRACKED[name])
                assert problem is None
                fresh[name]["releases"][v] = entry  # type: ignore[index]
    snap = filter_snapshot(
        {"packages": fresh},
        keep=[*raw["filter"]["names"]],  # type: ignore[index]
        whole=raw["filter"]["whole"],
    )  # type: ignore[index]
    old = {
        "packages": {
            n: {
                "releases": {
                    v: raw["packages"][n]["releases"][v]  # type: ignore[index]
                    for v in vs
                }
            }
            for n, vs in sample.items()
        }
    }
    differences, added = compare_snapshots(old, snap)
    assert differences == [] and added == []


def test_compare_snapshots_names_what_differs() -> None:
    old = {
        "packages": {
            "a": {
                "releases": {
                    "1": {"requires_dist": ["x"], "yanked": False},
                    "2": {"requires_dist": [], "yanked": False},
                }
            }
        }
    }
    new = {
        "packages": {
            "a": {
                "releases": {
                    "1": {"requires_dist": ["y"], "yanked": False},
                    "3": {"requires_dist": [], "yanked": False},
                }
            }
        }
    }
    assert compare_snapshots(old, new) == (
        ["a 1: requires_dist differ", "a 2: no longer on the index"],
        ["a 3"],
    )


def test_read_pins_reports_where_a_snapshot_is_wrong(tmp_path: Path) -> None:
    from llmenv.knowledge.pins import SnapshotError

    p = tmp_path / "x.json"
    p.write_text('{"schema": 1, "generated": "g", "index": "i", "packages": {"vllm": {"releases": []}}}')
    with pytest.raises(SnapshotError, match=r"packages\.vllm\.releases: not an object"):
        read_pins(p)
