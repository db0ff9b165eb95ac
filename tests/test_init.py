from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from .conftest import FIXTURES

CORPUS = sorted((FIXTURES / "pyprojects").glob("*.toml"))  # the edits on them: tests/test_project_corpus.py
TARGET = ["--driver", "550.54.14", "--gpu", "8.0", "--python", "3.12", "--cpus", "16", "--memory", "125"]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_round_trips_byte_identically(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert tomlkit.dumps(tomlkit.parse(text)) == text


PIN = "torch==2.6.0"


def test_new_project_is_created_in_a_new_dir(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        "./proj",
        "torch",
        "torchvision",
        *TARGET,
        "--mirror",
        "tuna",
        "--mirror",
        "aliyun",
        "--groups",
        "dev,lint",
        "--github-proxy",
        "https://gh-proxy.com",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "proj" / "pyproject.toml").read_text()).unwrap()
    assert doc["project"]["name"] == "proj"
    assert doc["project"]["requires-python"] == ">=3.12,<3.14"
    uv = doc["tool"]["uv"]
    assert uv["required-version"] == ">=0.9.0"
    # Exactly the planned platform: a GH200 (linux aarch64) cannot sync this lock and get CPU torch by accident.
    assert uv["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    assert uv["required-environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    assert uv["python-install-mirror"].startswith(
        "https://gh-proxy.com/https://github.com/astral-sh/python-build-standalone"
    )
    idx = {i["name"]: i for i in uv["index"]}
    assert idx["pypi-mirror"] == {
        "name": "pypi-mirror",
        "url": "https://pypi.tuna.tsinghua.edu.cn/simple",
        "default": True,
    }
    # tuna serves no PyTorch wheels; aliyun does, as a flat page of links.
    assert idx["pytorch-cu124"] == {
        "name": "pytorch-cu124",
        "url": "https://mirrors.aliyun.com/pytorch-wheels/cu124/",
        "format": "flat",
        "explicit": True,
    }
    assert set(doc["dependency-groups"]) == {"dev", "lint"}
    assert "ruff" in doc["tool"]
    assert doc["tool"]["llmenv"]["specs"] == ["torch", "torchvision"]


def test_dry_run_prints_the_diff_and_writes_nothing(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    original = b'[project]\nname = "x"\nversion = "0.1"\ndependencies = ["numpy"]  # keep me\n'
    (tmp_path / "pyproject.toml").write_bytes(original)
    r = run_cli("init", ".", "torch", *TARGET, "--dry-run", cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.out.startswith("--- a/pyproject.toml")
    assert (
        '-dependencies = ["numpy"]  # keep me' in r.out
        and '+dependencies = ["numpy", "torch"]  # keep me' in r.out
    )
    assert f'+    "{PIN}",' in r.out
    assert (tmp_path / "pyproject.toml").read_bytes() == original


def test_changing_specs_drops_what_llmenv_added_but_keeps_the_users(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0.1"\ndependencies = ["numpy>=2"]\n'
    )
    assert run_cli("init", ".", "torch", "torchvision", *TARGET, cwd=tmp_path).code == 0
    assert run_cli("init", ".", "torch", *TARGET, cwd=tmp_path).code == 0
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    assert doc["project"]["dependencies"] == ["numpy>=2", "torch"]
    assert doc["tool"]["uv"]["constraint-dependencies"] == [PIN]
    assert set(doc["tool"]["uv"]["sources"]) == {"torch"}


def test_cpu_target_routes_torch_to_the_cpu_index(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("init", ".", "torch", "--cuda", "cpu", "--python", "3.12", cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    assert doc["tool"]["uv"]["sources"]["torch"] == {"index": "pytorch-cpu"}
    assert [i["name"] for i in doc["tool"]["uv"]["index"]] == ["pytorch-cpu"]


def test_torch_index_pypi_writes_no_torch_index(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        ".",
        "torch",
        "--driver",
        "580.159.04",
        "--python",
        "3.12",
        "--torch-index",
        "pypi",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    assert "index" not in doc["tool"]["uv"] and "sources" not in doc["tool"]["uv"]
    assert doc["project"]["dependencies"] == ["torch"]
    assert doc["tool"]["uv"]["constraint-dependencies"] == [
        "torch==2.14.1"
    ]


def test_every_table_llmenv_adds_has_a_blank_line_before_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("init", ".", "torch", "torchvision", *TARGET, "--groups", "dev,lint", cwd=tmp_path)
    assert r.code == 0, r.err
    lines = (tmp_path / "pyproject.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("[") and i:
            assert lines[i - 1] == "", f"no blank line before {line!r}"
