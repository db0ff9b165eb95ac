"""`llmenv check` on the 26 real pyprojects of the corpus: no crash, and the problems known in them are found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmenv.check import Report, check_path

from .conftest import SHARED

CORPUS = Path(__file__).parent / "fixtures" / "pyprojects"
FILES = sorted(CORPUS.glob("*.toml"))


def test_corpus_is_complete() -> None:
    assert len(FILES) == 26
    shared = SHARED / "corpus" / "pyprojects"
    if shared.is_dir():  # the fixtures are byte-for-byte copies of the shared corpus
        for f in sorted(shared.glob("*.toml")):
            assert (CORPUS / f.name).read_bytes() == f.read_bytes(), f.name


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_no_crash_and_well_formed(path: Path) -> None:
    report = check_path(path)
    assert Report.from_dict(report.to_dict()) == report
    for f in report.findings:
        assert f.location.split(".")[0].split("[")[0] in ("project", "tool", "dependency-groups"), f.location
        assert f.message and f.why and f.fix


def _find(name: str, code: str) -> list[tuple[str, str]]:
    return [(f.location, f.message) for f in check_path(CORPUS / name).findings if f.code == code]


def test_skyrl_find_links_page_declared_as_index() -> None:
    ((location, message),) = _find("NovaSky-AI__SkyRL__pyproject.toml", "flat-index-declared-as-simple")
    assert location == "tool.uv.index[2].format"
    assert "libtpu_releases.html" in message


def test_pipelinerl_tapeagents_deepspeed_pins_cannot_coexist() -> None:
    ((location, message),) = _find("ServiceNow__PipelineRL__pyproject.toml", "pins-cannot-coexist")
    assert location == "project.optional-dependencies.tapeagents[0]"
    assert '"deepspeed~=0.15.4"' in message and '"deepspeed~=0.18.0" (project.dependencies[3])' in message


def test_pipelinerl_tapeagents_and_lora_extras_conflict() -> None:
    ((location, message),) = _find("ServiceNow__PipelineRL__pyproject.toml", "extras-conflict-undeclared")
    assert location == "tool.uv.conflicts"
    assert "extra 'tapeagents' and extra 'lora'" in message and "peft" in message


def test_no_false_errors_on_projects_known_to_lock() -> None:
    """The uv docs examples and the maintained configs that lock: no error-level finding."""
    for name in (
        "astral-sh__uv__docs__guides__integration__pytorch__example-extras-conflicts.toml",
        "astral-sh__uv__docs__guides__integration__pytorch__example-markers-cpu-cu130.toml",
        "astral-sh__uv__docs__concepts__projects__config__example-flash-attn-match-runtime.toml",
        "NVIDIA-NeMo__RL__pyproject.toml",
        "PrimeIntellect-ai__prime-rl__pyproject.toml",
        "karpathy__nanochat__pyproject.toml",
        "huggingface__lerobot__pyproject.toml",
    ):
        assert check_path(CORPUS / name).errors == 0, name


@pytest.mark.network
def test_real_uv_agrees_on_pipelinerl(tmp_path: Path) -> None:
    """uv itself, against PyPI, fails to lock PipelineRL on the very pins check names."""
    import uv

    text = (CORPUS / "ServiceNow__PipelineRL__pyproject.toml").read_text(encoding="utf-8")
    # Lock with this interpreter (>=3.11 keeps tapeagents' <3.13 in range); the conflict does not depend on it.
    (tmp_path / "pyproject.toml").write_text(text.replace('">=3.12"', '">=3.11"'), encoding="utf-8")
    for name in ("README.md", "LICENSE"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "pipelinerl").mkdir()
    (tmp_path / "pipelinerl" / "__init__.py").write_text("", encoding="utf-8")
    out = subprocess.run(
        [uv.find_uv_bin(), "lock", "--python", sys.executable, "--no-python-downloads"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode != 0
    said = " ".join(out.stderr.split())  # uv wraps its explanation
    assert "tapeagents[finetune]>=0.1.16 depends on deepspeed>=0.15.4,<0.16.dev0" in said
    assert "your project depends on deepspeed>=0.18.0,<0.19.dev0" in said


def _wheel_gaps() -> set[tuple[str, str]]:
    """(exact pin, Python) of every python-without-wheels finding on the corpus (offline, bundled snapshot)."""
    import re

    out = set()
    for path in FILES:
        for f in check_path(path).findings:
            if f.code != "python-without-wheels":
                continue
            assert f.severity == "warning", (path.name, f.message)  # the corpus locks: never an error
            pin = f.message.split('"')[1].split(";")[0].strip()
            first = re.search(r"for Python (\d\.\d+)", f.message)
            assert first, f.message
            out.add((pin, first.group(1)))
    return out


def test_wheel_gaps_found_on_the_corpus_are_warnings_on_known_pins() -> None:
    gaps = _wheel_gaps()
    assert ("ray[default]==2.49.2", "3.14") in gaps and ("torch==2.9.1", "3.15") in gaps


@pytest.mark.network
def test_real_uv_agrees_every_wheel_gap_on_the_corpus_is_real() -> None:
    """For a gap of each package check reports on the corpus (the first one of each), uv itself finds no wheel
    of that pin for that Python. (All of them were checked by hand the same way: see /work/coord/check.md.)"""
    import uv

    first: dict[str, tuple[str, str]] = {}
    for pin, python in sorted(_wheel_gaps()):
        first.setdefault(pin.split("=")[0].split("[")[0], (pin, python))
    for pin, python in first.values():
        out = subprocess.run(
            [uv.find_uv_bin(), "pip", "compile", "-", "--python-version", python,
             "--python-platform", "x86_64-manylinux_2_28", "--no-deps", "--no-header", "-q"],
            input=pin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        said = " ".join(out.stderr.split())
        assert out.returncode != 0 and f"(e.g., `cp{python.replace('.', '')}`)" in said, (pin, python, said)
