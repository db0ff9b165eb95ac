"""The real uv locks projects written by ``llmenv init`` against local flat indexes of tiny generated wheels."""

from __future__ import annotations

from pathlib import Path

import tomlkit

PY = "3.11"  # the machine's own Python: uv cannot download one here


def _lock_packages(project: Path) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for p in lock["package"]:
        out.setdefault(p["name"], []).append(p)
    return out


def _init_cuda(run_cli, tmp_path: Path, torch_indexes: Path):  # type: ignore[no-untyped-def]
    return run_cli(
        "init",
        "./proj",
        "torch",
        "torchvision",
        "--driver",
        "550.54.14",
        "--gpu",
        "8.0",
        "--python",
        PY,
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        cwd=tmp_path,
    )


def test_init_then_real_uv_lock_holds_the_cuda_build_of_the_planned_platform_only(
    run_cli, tmp_path: Path, torch_indexes: Path
) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "proj"
    r = _init_cuda(run_cli, tmp_path, torch_indexes)
    assert r.code == 0, r.err
    doc = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()
    uv = doc["tool"]["uv"]
    # A local folder is a flat index; no CPU index: no platform outside the lock is routed anywhere.
    assert {i["name"]: i.get("format") for i in uv["index"]} == {"pytorch-cu124": "flat"}
    x86 = "sys_platform == 'linux' and platform_machine == 'x86_64'"
    assert uv["environments"] == [x86] == uv["required-environments"]
    assert uv["sources"]["torch"] == [{"index": "pytorch-cu124", "marker": x86}]
    r = run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path)
    assert r.code == 0, r.err
    pkgs = _lock_packages(project)
    assert [p["version"] for p in pkgs["torch"]] == ["2.6.0+cu124"]
    assert pkgs["torch"][0]["source"]["registry"].endswith("cu124")
    assert "cu124" in str(pkgs["torch"][0]["wheels"][0])  # the lock records the exact wheel
    assert [p["version"] for p in pkgs["torchvision"]] == ["0.21.0+cu124"]


def test_environments_of_the_project_admitting_unplanned_platforms_get_cpu_torch_and_are_told(
    run_cli, tmp_path: Path, torch_indexes: Path
) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\n\n[tool.uv]\nenvironments = ["sys_platform == \'linux\'"]\n'
    )
    r = _init_cuda(run_cli, tmp_path, torch_indexes)
    assert r.code == 0, r.err
    assert "the lock admits linux-aarch64, which llmenv did not plan" in r.out + r.err
    r = run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path)
    assert r.code == 0, r.err
    pkgs = _lock_packages(project)
    versions = {p["version"]: p for p in pkgs["torch"]}
    assert set(versions) == {"2.6.0+cu124", "2.6.0+cpu"}
    assert versions["2.6.0+cpu"]["source"]["registry"].endswith("cpu")
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    deps = next(p for p in lock["package"] if p["name"] == "proj")["dependencies"]
    by_version = {d["version"]: d["marker"] for d in deps if d["name"] == "torch"}
    assert "platform_machine == 'x86_64'" in by_version["2.6.0+cu124"]
    assert "platform_machine != 'x86_64'" in by_version["2.6.0+cpu"]


def test_init_lock_flag_restores_the_file_when_uv_fails(run_cli, tmp_path: Path, torch_indexes: Path) -> None:  # type: ignore[no-untyped-def]
    original = b'[project]\nname = "proj"\nversion = "0.1.0"\n# my comment\ndependencies = ["not-on-any-index==1.0"]\n'
    (tmp_path / "pyproject.toml").write_bytes(original)
    r = run_cli(
        "init",
        ".",
        "torch",
        "--driver",
        "550.54.14",
        "--python",
        PY,
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        "--lock",
        cwd=tmp_path,
        environ={"UV_OFFLINE": "1"},
    )
    assert r.code == 1
    assert "restored" in r.err and "not-on-any-index" in r.err
    assert (tmp_path / "pyproject.toml").read_bytes() == original
    assert not (tmp_path / "uv.lock").exists()


def test_init_lock_success(run_cli, tmp_path: Path, torch_indexes: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        ".",
        "torch==2.6.0",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        "--lock",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    pkgs = _lock_packages(tmp_path)
    assert [p["version"] for p in pkgs["torch"]] == ["2.6.0+cpu"]


def test_sync_runs_uv_sync(run_cli, tmp_path: Path, torch_indexes: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "init",
        ".",
        "torch==2.6.0",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        f"{torch_indexes}/{{variant}}",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    r = run_cli("sync", "--", "--offline", "--python", PY, cwd=tmp_path)
    assert r.code == 0, r.err
    site = list((tmp_path / ".venv").glob("lib/python*/site-packages/torch/__init__.py"))
    assert site and "2.6.0+cpu" in site[0].read_text()
