"""A project on a base, locked by the real uv against PyPI's real metadata (marked `network`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import tomlkit

from llmenv.base.model import torch_linked
from llmenv.detect import _real_run

from .conftest import Result, fake_system
from .fake_base import NGC_TORCH, make_fake_base

pytestmark = pytest.mark.network


def test_vllm_on_an_ngc_base_locks_without_torch_or_its_cuda_wheels(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    """vLLM 0.8.4 pins torch==2.6.0; PyPI's torch 2.6.0 pulls a dozen nvidia-*-cu12 wheels (gigabytes). On the
    base, uv locks vLLM, its torchaudio / torchvision / xformers (each pinning torch==2.6.0) and the rest — and
    neither torch, triton nor any nvidia-* library."""
    fake = make_fake_base(tmp_path)

    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        return _real_run(argv)

    system = dataclasses.replace(fake_system(), run=run)
    project = tmp_path / "app"
    args = (
        "init",
        str(project),
        "vllm==0.8.4",
        "--base-python",
        fake.python,
        "--driver",
        "570.86.10",
        "--gpu",
        "9.0",
    )
    r = run_cli(*args, "--lock", system=system, environ={"UV_NO_PROGRESS": "1", "VIRTUAL_ENV": ""})
    assert r.code == 0, r.err
    lock = tomlkit.parse((project / "uv.lock").read_text()).unwrap()
    names = {p["name"]: p["version"] for p in lock["package"]}
    assert names["vllm"] == "0.8.4" and names["xformers"] == "0.0.29.post2" and names["torchaudio"] == "2.6.0"
    assert "torch" not in names and not [n for n in names if n.startswith("nvidia-")]
    # What comes from the index of the torch-linked kind is what this base lacks (NGC has them; `doctor`
    # loads them): torchaudio / torchvision (vLLM's pins) and triton (xgrammar's).
    assert {n for n in names if torch_linked(n)} == {"torchaudio", "torchvision", "triton"}
    excluded = tomlkit.parse((project / "pyproject.toml").read_text()).unwrap()["tool"]["uv"][
        "exclude-dependencies"
    ]
    assert sorted(lock["manifest"]["excludes"]) == sorted(excluded)
    assert NGC_TORCH in (project / "pyproject.toml").read_text()
