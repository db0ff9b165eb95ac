"""What `llmenv init` writes passes `llmenv check` without errors (the linter and the writer agree)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmenv.knowledge.pins import read_pins

from .conftest import FIXTURES

PINS = read_pins(FIXTURES / "pins" / "snapshot.json").releases
TARGET = ["--driver", "550.54.14", "--gpu", "8.0", "--python", "3.12"]


@pytest.mark.parametrize(
    "specs",
    [
        ["torch"],
        ["torch", "torchvision", "--mirror", "aliyun"],
        ["torch", "--cuda", "cpu"],
        ["vllm"],
        ["verl[vllm]"],
        ["verl[vllm,sglang]"],
        ["torch", "flash-attn"],
        ["openrlhf[vllm]", "--allow-overrides"],
        ["torch", "flash-attn", "--driver", "580.159.04", "--gpu", "9.0"],
    ],
    ids=lambda s: " ".join(s),
)
def test_written_project_has_no_check_errors(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: list[str]
) -> None:  # type: ignore[no-untyped-def]
    import llmenv.cli._planning as planning

    monkeypatch.setattr(planning, "lazy_pins", lambda environ=None: PINS)
    target = ["--python", "3.12"] if "--cuda" in specs else TARGET  # --driver with --cuda cpu is bad input
    r = run_cli("init", ".", *specs, *target, cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("check", "--json", cwd=tmp_path)
    report = json.loads(r.out)
    assert report["errors"] == 0, report["findings"]
    assert r.code == 0
