"""Bad input always gets one clear line on stderr and exit code 2 — never a traceback, never a changed file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import fake_system


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["plan", "torch", "--driver", "abc"], "not an NVIDIA driver version: 'abc'"),
        (["plan", "torch", "--cuda", "cu999"], "unknown variant 'cu999'"),
        (["plan", "torch", "--driver", "550.54.14", "--gpu", "99"], "not a GPU compute capability: '99'"),
        (["plan", "torch", "--python", "abc"], "not a Python version"),
        (["plan", "torch", "--mirror", "tunaa"], "unknown mirror 'tunaa'; did you mean 'tuna'?"),
        (["plan", "torch", "--cuda-policy", "loose"], "invalid choice"),
        (["plan", "torch==="], "not a requirement or a local folder"),
        (["plan", "--bogus"], "unrecognized arguments: --bogus"),
        (["plna"], "did you mean `llmenv plan`"),
        (["plan", "torch", "--cpus", "0"], "--cpus must be at least 1"),
        (["init", "./nope[vllm]"], "no such folder"),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, argv: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(*argv)
    assert r.code == 2, (r.out, r.err)
    assert needle in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert "Traceback" not in r.err


def test_malformed_pyproject_is_exit_2_and_untouched(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = b'[project]\nname = "x"\ndependencies = [\n'
    (tmp_path / "pyproject.toml").write_bytes(bad)
    r = run_cli("init", ".", "torch", "--driver", "550.54.14", cwd=tmp_path)
    assert r.code == 2
    assert "not valid TOML at line" in r.err
    assert (tmp_path / "pyproject.toml").read_bytes() == bad


def test_dir_that_is_a_file_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "afile").write_text("x")
    r = run_cli("init", "./afile", "torch", cwd=tmp_path)
    assert r.code == 2 and "is a file" in r.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_file_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "pyproject.toml"
    f.write_text('[project]\nname = "x"\nversion = "0"\n')
    f.chmod(0o444)
    r = run_cli("init", ".", "torch", "--driver", "550.54.14", cwd=tmp_path)
    assert r.code == 2 and "cannot write" in r.err


def test_unwritable_folder_is_exit_2_even_as_root(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "pyproject.toml"
    original = b'[project]\nname = "x"\nversion = "0"\n'
    f.write_bytes(original)
    import llmenv.project as project

    def deny(path: str | os.PathLike[str], mode: int) -> bool:
        return False

    monkeypatch.setattr(project.os, "access", deny)
    r = run_cli("init", ".", "torch", "--driver", "550.54.14", cwd=tmp_path)
    assert r.code == 2 and "cannot write" in r.err and "permission denied" in r.err
    assert f.read_bytes() == original


def test_bad_llmenv_env_override_is_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("detect", system=fake_system(environ={"LLMENV_GPU": "banana"}))
    assert r.code == 2 and "not a GPU compute capability" in r.err


def test_missing_uv_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    r = run_cli("lock", environ={"LLMENV_UV": str(tmp_path / "no-such-uv")}, cwd=tmp_path)
    assert r.code == 2 and "no such program" in r.err


def test_too_old_uv_is_exit_2_naming_the_version(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "uv"
    fake.write_text("#!/bin/sh\necho 'uv 0.4.30 (deadbeef 2024-11-01)'\n")
    fake.chmod(0o755)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    r = run_cli("lock", environ={"LLMENV_UV": str(fake)}, cwd=tmp_path)
    assert r.code == 2
    assert "uv 0.4.30" in r.err and "too old" in r.err and ">= 0.9.0" in r.err


def test_unknown_group_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("init", ".", "torch", "--driver", "550.54.14", "--groups", "dev,docs", cwd=tmp_path)
    assert r.code == 2 and "unknown group 'docs'" in r.err
    assert not (tmp_path / "pyproject.toml").exists()
