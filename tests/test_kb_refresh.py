"""`kb refresh` against a local PEP 691 index: PEP 658 files, range reads, sdists, 500s and timeouts."""

from __future__ import annotations

import io
import json
import random
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmenv.kb import TRACKED, filter_snapshot, refresh, write_snapshot
from llmenv.knowledge.pins import read_pins
from llmenv.pypi import Cache, PyPIClient, PyPIError

from .pypi_server import IndexServer
from .wheelfactory import make_wheel

TIMEOUT = 0.3  # the client's per-request timeout in these tests; the server's hang is far longer


def make_sdist_tar(
    folder: Path, name: str, version: str, *, pkg_info: str, requires_txt: str | None, padding: int = 0
) -> Path:
    """A .tar.gz sdist with PKG-INFO (and egg-info/requires.txt); ``padding`` bytes of other files first."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}-{version}.tar.gz"
    top = f"{name}-{version}"
    with tarfile.open(out, "w:gz") as tf:

        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        if padding:
            add("data.bin", random.Random(0).randbytes(padding))
        add("PKG-INFO", pkg_info.encode())
        if requires_txt is not None:
            add(f"{name}.egg-info/requires.txt", requires_txt.encode())
        add("setup.py", b"raise SystemExit('never run')\n")
    return out


def make_sdist_zip(folder: Path, name: str, version: str, *, pkg_info: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}-{version}.zip"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(f"{name}-{version}/setup.py", "raise SystemExit('never run')\n")
        z.writestr(f"{name}-{version}/PKG-INFO", pkg_info)
    return out


def populate(server: IndexServer, folder: Path, names: dict[str, str]) -> None:
    """Serve small projects. ``names`` maps a project name to its kind: pep658 | range | sdist | index."""
    blob = "".join(random.Random(1).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=300_000))
    for name, kind in names.items():
        d = folder / name
        if kind == "pep658":
            w = make_wheel(
                d,
                name,
                "1.0",
                requires=["torch==2.6.0", "extra-thing; extra == 'x'"],
                extras={"x": ["ray>=2.9"]},
                requires_python=">=3.9",
                tag="cp312-cp312-manylinux_2_28_x86_64",
            )
            server.add(name, w, pep658=True, uploaded="2025-04-29T10:00:00Z", requires_python=">=3.9")
            old = make_wheel(d, name, "0.9", requires=["torch==2.5.1"])
            server.add(name, old, pep658=True, uploaded="2024-12-01T00:00:00Z", yanked="broken build")
        elif kind == "range":
            # METADATA sits before a large member: the tail read holds the directory, a second read the member
            w = make_wheel(
                d,
                name,
                "2.0",
                requires=["torch==2.7.0", "xformers==0.0.30; platform_machine == 'x86_64'"],
                tag="cp312-cp312-manylinux_2_28_x86_64",
                files={f"{name}/blob.txt": blob},
            )
            server.add(name, w, uploaded="2025-05-20T00:00:00Z")
            any_ = make_wheel(d, name, "2.0", requires=["wrong==1"], tag="py3-none-any")
            server.add(name, any_, uploaded="2025-05-19T00:00:00Z")  # not chosen: the manylinux wheel is
        elif kind == "sdist":
            tar = make_sdist_tar(
                d,
                name,
                "3.0",
                pkg_info=f"Metadata-Version: 1.0\nName: {name}\nVersion: 3.0\n",
                requires_txt='torch>=2.0\n\n[vllm]\nvllm==0.8.5\n\n[:python_version < "3.11"]\ntomli\n',
                padding=100_000,
            )
            server.add(name, tar, uploaded="2023-01-01T00:00:00Z", requires_python=">=3.8")
            zip_ = make_sdist_zip(
                d,
                name,
                "2.9",
                pkg_info=f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.9\nRequires-Python: >=3.7\n"
                'Requires-Dist: numpy\nProvides-Extra: fast\nRequires-Dist: numba; extra == "fast"\n',
            )
            server.add(name, zip_, uploaded="2022-06-01T00:00:00Z")
        else:  # index: versions only
            for v, month in (("1.0", "01"), ("1.1", "02")):
                server.add(
                    name,
                    make_wheel(d, name, v),
                    uploaded=f"2024-{month}-05T00:00:00Z",
                    requires_python=">=3.10",
                )


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Callable[..., PyPIClient]]:
    made: list[PyPIClient] = []

    def make(url: str, *, cache: bool = True, retries: int = 2) -> PyPIClient:
        c = PyPIClient(
            url,
            cache=Cache(tmp_path / "cache") if cache else None,
            retries=retries,
            backoff=0.0,
            timeout=TIMEOUT,
            sleep=lambda s: None,
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


KINDS = {"alpha": "pep658", "beta": "range", "gamma": "sdist", "omega": "index"}
PACKAGES = {"alpha": True, "beta": True, "gamma": True, "omega": False}


def test_refresh_reads_every_kind_of_file(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", KINDS)
    client = client_for(server.url)
    result = refresh(client, packages=PACKAGES, jobs=4)
    assert result.ok and result.failures == {} and result.warnings == ()
    pk = result.snapshot["packages"] if result.snapshot else {}

    alpha = pk["alpha"]["releases"]
    assert list(alpha) == ["1.0", "0.9"]  # newest first
    assert alpha["1.0"]["from"] == "pep658"
    assert alpha["1.0"]["requires_dist"][0] == "torch==2.6.0"
    assert alpha["1.0"]["requires_dist"][2] == "ray>=2.9 ; extra == 'x'"  # as the metadata writes it
    assert alpha["1.0"]["requires_python"] == ">=3.9" and alpha["1.0"]["uploaded"] == "2025-04-29"
    assert alpha["0.9"]["yanked"] is True and alpha["1.0"]["yanked"] is False
    # PEP 658: the wheels themselves were never fetched
    assert not any(p.endswith(".whl") for p in server.requests if "/alpha/" in p)

    # The files' tags and whether an sdist exists come from the file names: what installs where.
    assert alpha["1.0"]["wheels"] == ["cp312-cp312-manylinux_2_28_x86_64"] and alpha["1.0"]["sdist"] is False
    beta = pk["beta"]["releases"]["2.0"]
    assert beta["wheels"] == ["cp312-cp312-manylinux_2_28_x86_64", "py3-none-any"]
    assert pk["gamma"]["releases"]["3.0"]["wheels"] == [] and pk["gamma"]["releases"]["3.0"]["sdist"] is True
    assert beta["from"] == "range" and beta["file"].endswith("manylinux_2_28_x86_64.whl")
    assert beta["requires_dist"][0] == "torch==2.7.0" and beta["uploaded"] == "2025-05-19"
    beta_ranges = [r for p, r in server.ranges if "/beta/" in p]
    assert beta_ranges[0] == "bytes=-65536" and len(beta_ranges) >= 2  # tail, then the member

    gamma = pk["gamma"]["releases"]
    assert gamma["3.0"]["from"] == "sdist" and gamma["3.0"]["requires_python"] == ">=3.8"
    assert gamma["3.0"]["requires_dist"] == [
        "torch>=2.0",
        'vllm==0.8.5; extra == "vllm"',
        'tomli; python_version < "3.11"',
    ]
    assert gamma["3.0"]["provides_extras"] == ["vllm"]
    assert gamma["2.9"]["from"] == "sdist" and gamma["2.9"]["file"].endswith(".zip")
    assert gamma["2.9"]["requires_dist"] == ["numpy", 'numba; extra == "fast"']

    omega = pk["omega"]["releases"]
    assert omega["1.1"] == {
        "requires_python": ">=3.10",
        "requires_dist": [],
        "provides_extras": [],
        "yanked": False,
        "uploaded": "2024-02-05",
        "from": "none",
        "file": "omega-1.1-py3-none-any.whl",
        "wheels": ["py3-none-any"],
        "sdist": False,
    }
    assert not any("/files/omega/" in p for p in server.requests)  # index only: no file read


def test_warm_refresh_reads_no_metadata(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", KINDS)
    first = refresh(client_for(server.url), packages=PACKAGES)
    before = sum(server.requests.values())
    warm = client_for(server.url)
    second = refresh(warm, packages=PACKAGES)
    assert second.ok and warm.stats.requests == 0 and sum(server.requests.values()) == before
    assert warm.stats.metadata_cached == 5  # alpha 1.0 / 0.9, beta 2.0, gamma 3.0 / 2.9
    assert first.snapshot and second.snapshot
    assert first.snapshot["packages"] == second.snapshot["packages"]
    # once the index pages are older than the TTL they are fetched again, the metadata is still cached
    stale = PyPIClient(server.url, cache=Cache(tmp_path / "cache"), index_ttl=0.0, timeout=TIMEOUT)
    with stale:
        third = refresh(stale, packages=PACKAGES)
    assert third.ok and stale.stats.requests == len(PACKAGES) and stale.stats.metadata_cached == 5


def test_a_flaky_index_page_is_retried(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", KINDS)
    server.flaky["/simple/gamma/"] = 2
    client = client_for(server.url, retries=2)
    result = refresh(client, packages=PACKAGES)
    assert result.ok and server.requests["/simple/gamma/"] == 3 and client.stats.retries == 2


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_failing_package_fails_the_refresh_and_writes_nothing(
    mode: str, server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", {**KINDS, "delta": "index"})
    getattr(server, mode).add("/simple/delta/")
    out = tmp_path / "data" / "pins.json"
    good = refresh(client_for(server.url), packages=PACKAGES)
    assert good.snapshot
    write_snapshot(out, good.snapshot)
    old = out.read_bytes()

    result = refresh(client_for(server.url, cache=False, retries=1), packages={**PACKAGES, "delta": False})
    assert not result.ok and result.snapshot is None and list(result.failures) == ["delta"]
    assert ("HTTP 500" if mode == "fail" else "timed out") in result.failures["delta"]
    assert "after 2 attempts" in result.failures["delta"]
    assert server.requests["/simple/delta/"] == 2  # tried, retried once, gave up
    assert out.read_bytes() == old


def test_a_file_failing_mid_refresh_fails_its_package(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", KINDS)
    server.fail.add("/files/beta/")
    result = refresh(client_for(server.url, cache=False, retries=1), packages=PACKAGES)
    assert list(result.failures) == ["beta"] and "HTTP 500" in result.failures["beta"]


def test_a_server_ignoring_range_still_works_for_small_files(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", {"beta": "range"})
    server.no_range.add("/files/beta/")
    result = refresh(client_for(server.url), packages={"beta": True})
    assert result.ok and result.snapshot
    assert result.snapshot["packages"]["beta"]["releases"]["2.0"]["requires_dist"][0] == "torch==2.7.0"


def test_a_broken_wheel_falls_back_to_the_next_file(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    d = tmp_path / "dist"
    d.mkdir()
    bad = d / "kappa-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    bad.write_bytes(b"this is not a zip file" * 100)
    server.add("kappa", bad)
    server.add("kappa", make_wheel(d, "kappa", "1.0", requires=["torch==2.6.0"]))
    result = refresh(client_for(server.url), packages={"kappa": True})
    assert result.ok and result.snapshot
    rel = result.snapshot["packages"]["kappa"]["releases"]["1.0"]
    assert rel["file"] == "kappa-1.0-py3-none-any.whl" and rel["requires_dist"] == ["torch==2.6.0"]


def test_unknown_project_is_a_failure(server: IndexServer, client_for: Callable[..., PyPIClient]) -> None:
    with pytest.raises(PyPIError, match="HTTP 404"):
        client_for(server.url).project("nothing-here")


def test_snapshot_round_trip_and_filter(
    server: IndexServer, client_for: Callable[..., PyPIClient], tmp_path: Path
) -> None:
    populate(server, tmp_path / "dist", KINDS)
    result = refresh(client_for(server.url), packages=PACKAGES)
    assert result.snapshot
    full = tmp_path / "full.json"
    write_snapshot(full, result.snapshot)
    assert json.loads(full.read_text()) == result.snapshot
    pins = read_pins(full)
    assert [str(r.version) for r in pins.releases("alpha")] == ["1.0", "0.9"]
    filtered = filter_snapshot(result.snapshot, keep=["torch"])
    assert filtered["filtered"] is True
    assert filtered["packages"]["beta"]["releases"]["2.0"]["requires_dist"] == ["torch==2.7.0"]
    assert filtered["packages"]["gamma"]["releases"]["3.0"]["provides_extras"] == ["vllm"]


# ------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def tracked_server(server: IndexServer, tmp_path: Path) -> IndexServer:
    """Every tracked package, served small (frameworks by range reads, the rest index-only)."""
    populate(server, tmp_path / "dist", {n: ("range" if full else "index") for n, full in TRACKED.items()})
    return server


def test_cli_refresh_then_show(
    run_cli: Callable[..., object], tracked_server: IndexServer, tmp_path: Path
) -> None:
    env = {"LLMENV_DATA_DIR": str(tmp_path / "data"), "LLMENV_CACHE_DIR": str(tmp_path / "cache")}
    argv = ("kb", "refresh", "--only", "pins", "--index", tracked_server.url, "--timeout", "5")
    r = run_cli(*argv, environ=env)
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    releases = sum(1 if full else 2 for full in TRACKED.values())  # a range project has one release
    assert f"pins        refreshed: {len(TRACKED)} packages, {releases} releases" in r.out  # type: ignore[attr-defined]
    snap = json.loads((tmp_path / "data" / "pins.json").read_text())
    assert snap["index"] == tracked_server.url and snap["schema"] == 1
    assert list(snap["packages"]) == list(TRACKED)

    r = run_cli("kb", "show", environ=env)
    assert r.code == 0  # type: ignore[attr-defined]
    lines = r.out.splitlines()  # type: ignore[attr-defined]
    assert f"pins snapshot  user ({tmp_path / 'data' / 'pins.json'})" in lines
    assert any(line.split()[:3] == ["pins", "user", snap["generated"][:10]] for line in lines)
    assert any(line.split()[:3] == ["vllm", "1", "2.0"] for line in lines)
    r = run_cli("kb", "show", "--json", environ=env)
    shown = json.loads(r.out)  # type: ignore[attr-defined]
    assert shown["snapshot"] == "user" and shown["packages"]["torch"] == {
        "releases": 2,
        "newest": "1.1",
        "requires_dist": False,
    }


def test_cli_failed_refresh_exits_1_and_keeps_the_old_snapshot(
    run_cli: Callable[..., object], tracked_server: IndexServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pins.json").write_text("previous knowledge")
    tracked_server.hang.add("/simple/ray/")
    env = {"LLMENV_DATA_DIR": str(data), "LLMENV_CACHE_DIR": str(tmp_path / "cache")}
    argv = (
        "kb",
        "refresh",
        "--only",
        "pins",
        "--index",
        tracked_server.url,
        "--timeout",
        "2",
        "--retries",
        "0",
    )
    r = run_cli(*argv, environ=env)
    assert r.code == 1  # type: ignore[attr-defined]
    assert "pins        not refreshed: ray:" in r.err and "timed out" in r.err  # type: ignore[attr-defined]
    assert "kb refresh: 1 of 1 tables not refreshed (pins)" in r.err  # type: ignore[attr-defined]
    assert "the tables in use stay as they were" in r.err  # type: ignore[attr-defined]
    assert (data / "pins.json").read_text() == "previous knowledge"
    assert list(data.iterdir()) == [data / "pins.json"]  # no temporary file left behind


def test_cli_unwritable_output_is_one_line(
    run_cli: Callable[..., object], tracked_server: IndexServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_cli(
        "kb",
        "refresh",
        "--index",
        tracked_server.url,
        "--only",
        "pins",
        "--output",
        str(blocker / "data"),
        environ={"LLMENV_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert r.code == 2 and r.err.startswith(f"llmenv: error: cannot write {blocker / 'data'}")  # type: ignore[attr-defined]
    assert len(r.err.splitlines()) == 1  # type: ignore[attr-defined]


def test_cli_rejects_a_bad_index(run_cli: Callable[..., object]) -> None:
    r = run_cli("kb", "refresh", "--index", "ftp://example.org/simple")
    assert r.code == 2 and "--index" in r.err  # type: ignore[attr-defined]
    r = run_cli("kb")
    assert r.code == 2  # type: ignore[attr-defined]
