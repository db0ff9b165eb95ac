"""``--wheels URL|DIR`` (and its old name ``--flash-attn-wheels``) and ``--build PKG``, end to end: the plan, the
written project, and a real ``uv lock`` of it against loopback stand-ins (a folder, a served folder, a PEP 691
index) that records a sha256 for every wheel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from .wheel_servers import FlatFolder, SimpleIndex, fact_wheel, serving
from .wheelfactory import make_wheel

MJUN_311 = "flash_attn-2.8.3+cu128torch2.8-cp311-cp311-linux_x86_64.whl"
MJUN_311_T27 = "flash_attn-2.8.3+cu128torch2.7-cp311-cp311-linux_x86_64.whl"
ASTRAL_311 = "flash_attn-2.8.3+cu.12.8.torch.2.8-cp311-cp311-manylinux_2_24_x86_64.whl"
TARGET = ("--driver", "570.86.15", "--gpu", "8.0", "--python", "3.11")


@pytest.fixture
def torch28(tmp_path: Path) -> str:
    """``--torch-index`` value: flat folders standing in for download.pytorch.org's cu128 and cpu indexes."""
    root = tmp_path / "whl"
    make_wheel(root / "cu128", "torch", "2.8.0+cu128")
    make_wheel(root / "cpu", "torch", "2.8.0+cpu")
    return f"{root}/{{variant}}"


def _lock_files(project: Path) -> list[dict[str, Any]]:
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    return [w for p in lock["package"] if p["name"] == "flash-attn" for w in p.get("wheels", [])]


def test_a_folder_of_community_wheels_is_searched_and_locked(run_cli, tmp_path: Path, torch28: str) -> None:  # type: ignore[no-untyped-def]
    house = tmp_path / "house"
    for name in (MJUN_311, MJUN_311_T27):
        fact_wheel(house, name, requires=["torch"])
    r = run_cli("plan", "torch==2.8.*", "flash-attn", *TARGET, "--wheels", str(house), "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    fa = d["packages"]["flash-attn"]
    assert (fa["source"], fa["version"], fa["index"]) == ("prebuilt", "2.8.3", "flash-attn-wheels")
    assert fa["url"] == (house / MJUN_311).as_uri()
    assert any("fits torch 2.8.0" in x and MJUN_311 in x for x in d["reasons"])
    project = tmp_path / "p"
    r = run_cli(
        "init",
        str(project),
        "torch==2.8.*",
        "flash-attn",
        *TARGET,
        "--torch-index",
        torch28,
        "--wheels",
        str(house),
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    # The requirement as asked for (on the GPU platform); the exact wheel's version is the plan's constraint.
    assert "flash-attn ; sys_platform == 'linux' and platform_machine == 'x86_64'" in doc["project"]["dependencies"]
    assert (
        "flash-attn==2.8.3+cu128torch2.8 ; sys_platform == 'linux' and platform_machine == 'x86_64'"
        in doc["tool"]["uv"]["constraint-dependencies"]
    )
    assert doc["tool"]["llmenv"]["wheels"] == [str(house)]
    r = run_cli("lock", cwd=project)
    assert r.code == 0, r.err
    files = _lock_files(project)
    # a local folder is locked by path (uv records no hash for local files; a served folder or index has them)
    assert [w["path"].rsplit("/", 1)[-1] for w in files] == [MJUN_311]


def test_the_old_flag_is_the_same_source_and_astral_names_fit_too(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    house = tmp_path / "house"
    fact_wheel(house, ASTRAL_311, requires=["torch==2.8.*"])
    r = run_cli("plan", "torch==2.8.*", "flash-attn", *TARGET, "--flash-attn-wheels", str(house), "--json")
    assert r.code == 0, r.err
    fa = json.loads(r.out)["packages"]["flash-attn"]
    assert (fa["source"], fa["index"], fa["url"]) == (
        "prebuilt",
        "flash-attn-wheels",
        (house / ASTRAL_311).as_uri(),
    )


def test_nothing_fitting_in_the_folder_is_not_used_and_says_why(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    house = tmp_path / "house"
    fact_wheel(house, MJUN_311_T27, requires=["torch"])
    fact_wheel(house, "flash_attn-2.8.3+cu130torch2.8-cp311-cp311-linux_x86_64.whl", requires=["torch"])
    driver_580 = ("--driver", "580.65.06", *TARGET[2:])  # runs the official 2.8.3 wheels (nvcc 12.9)
    r = run_cli("plan", "torch==2.8.*", "flash-attn", *driver_580, "--wheels", str(house), "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    fa = d["packages"]["flash-attn"]
    assert "index" not in fa and fa["url"].startswith("https://github.com/Dao-AILab/")  # the official wheel
    why = {x["version"]: x["reason"] for x in d["rejected"] if x["package"] == "flash-attn"}
    assert "built for torch==2.7.*" in why["2.8.3+cu128torch2.7"]
    assert "built for CUDA 13" in why["2.8.3+cu130torch2.8"]


@pytest.mark.parametrize("kind", ["flat", "index"])
def test_a_url_source_a_served_folder_or_an_index(run_cli, tmp_path: Path, torch28: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    house = tmp_path / "house"
    fact_wheel(house, MJUN_311, requires=["torch"])
    server: Any = FlatFolder(house) if kind == "flat" else SimpleIndex()
    if kind == "index":
        server.add("simple", house / MJUN_311)
    with serving(server):
        url = server.url if kind == "flat" else server.url("simple")
        project = tmp_path / "p"
        r = run_cli(
            "init",
            str(project),
            "torch==2.8.*",
            "flash-attn",
            *TARGET,
            "--torch-index",
            torch28,
            "--wheels",
            url,
        )
        assert r.code == 0, r.err
        doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
        (idx,) = [i for i in doc["tool"]["uv"]["index"] if i["name"] == "flash-attn-wheels"]
        assert idx["url"] == url and (idx.get("format") == "flat") == (kind == "flat")
        r = run_cli("lock", cwd=project)
        assert r.code == 0, r.err
    (f,) = _lock_files(project)
    assert f["url"].replace("%2B", "+").endswith(MJUN_311)
    if kind == "index":  # the index page gives each file's sha256: the lock records it
        assert f["hash"].startswith("sha256:")
    else:  # a plain served folder lists names only: uv locks it without a hash (docs/sources.md says so)
        assert "hash" not in f


def test_build_keeps_the_recipe_and_sizes_jobs_only_from_what_was_said(
    run_cli, tmp_path: Path, torch28: str
) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch==2.8.*", "flash-attn", *TARGET, "--build", "flash-attn", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["packages"]["flash-attn"]["source"] == "build"
    env = d["build"]["flash-attn"]["env"]
    assert env == {"FLASH_ATTENTION_FORCE_BUILD": "TRUE", "FLASH_ATTN_CUDA_ARCHS": "80", "NVCC_THREADS": "1"}
    assert any("--build flash-attn" in x for x in d["reasons"])
    assert not [x for x in d["rejected"] if x["package"] == "flash-attn"]  # no wheel was considered
    assert any("machine that runs `uv sync`" in w for w in d["warnings"])  # --gpu: not this machine's nvcc
    r = run_cli(
        "plan",
        "torch==2.8.*",
        "flash-attn",
        *TARGET,
        "--build",
        "flash-attn",
        "--cpus",
        "8",
        "--memory",
        "64",
        "--json",
    )
    env = json.loads(r.out)["build"]["flash-attn"]["env"]
    assert (env["MAX_JOBS"], env["NVCC_THREADS"]) == ("8", "1")
    project = tmp_path / "p"
    r = run_cli(
        "init",
        str(project),
        "torch==2.8.*",
        "flash-attn",
        *TARGET,
        "--torch-index",
        torch28,
        "--build",
        "flash-attn",
        "--memory",
        "32",
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    assert doc["tool"]["uv"]["extra-build-variables"]["flash-attn"]["MAX_JOBS"] == "5"  # 27 GiB usable / 5
    assert doc["tool"]["llmenv"]["build"] == ["flash-attn"]
    assert doc["tool"]["llmenv"]["target"]["sized"] == ["memory_gib"]
    r = run_cli("init", str(project), cwd=tmp_path)  # re-plan from the record: still a build, still sized
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    assert doc["tool"]["uv"]["extra-build-variables"]["flash-attn"]["MAX_JOBS"] == "5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("torch", "flash-attn", "--build", "mamba-ssm"),
            "--build mamba-ssm: llmenv has a tuned source build for flash-attn only",
        ),
        (("torch", "--build", "flash-attn"), "--build flash-attn: the plan has no flash-attn"),
        (("torch", "flash-attn", "--wheels", "no/such/dir"), "--wheels no/such/dir: no such folder"),
        (
            ("torch", "flash-attn", "--wheels", "ftp://x/"),
            "--wheels ftp://x/: give an http(s) URL or a folder",
        ),
        (
            ("torch", "flash-attn", "--wheels", "http://127.0.0.1:9/"),
            "--wheels http://127.0.0.1:9/: cannot read it",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", *args, *TARGET)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_the_plan_table_says_where_each_extension_comes_from(run_cli) -> None:  # type: ignore[no-untyped-def]
    """A wheel from a release URL or an index is a "prebuilt wheel"; PyPI's own release (deepspeed's sdist, whose
    ops are JIT-compiled; xformers' PyPI wheel) comes from the default index and is not called a prebuilt wheel."""
    r = run_cli("plan", "openrlhf[vllm]", "--driver", "550.54.14", "--gpu", "8.0", "--python", "3.11", "--no-project")
    assert r.code == 0, r.err
    rows = {line.split()[0]: line for line in r.out.splitlines() if line.startswith("  ") and len(line.split()) >= 3}
    assert rows["flash-attn"].endswith("prebuilt wheel")
    assert rows["deepspeed"].endswith("default index")
    assert rows["xformers"].endswith("default index")
