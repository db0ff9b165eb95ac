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
        # the wheel sources (issue 11): an Astral index, the PyTorch index's FA3, the TE trio, an untuned build,
        # vLLM from its variant index, mjun0812 URLs for Blackwell on R570
        ["torch", "mamba-ssm", "--driver", "580.159.04", "--gpu", "9.0"],
        ["torch==2.14.1", "mamba-ssm", "--driver", "580.159.04", "--gpu", "9.0"],
        ["torch", "flash-attn-3", "--driver", "580.159.04", "--gpu", "9.0"],
        ["torch", "transformer-engine[pytorch]", "--driver", "580.159.04", "--gpu", "9.0"],
        ["vllm==0.26.0", "--driver", "570.86.15", "--gpu", "9.0"],
        ["torch", "flash-attn", "--driver", "570.86.15", "--gpu", "10.0"],
    ],
    ids=lambda s: " ".join(s),
)
def test_written_project_has_no_check_errors(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: list[str]
) -> None:  # type: ignore[no-untyped-def]
    import llmenv.cli._planning as planning

    monkeypatch.setattr(planning, "lazy_pins", lambda environ=None: PINS)
    # --driver with --cuda cpu is bad input; a case that names its own driver plans for its own GPUs only
    target = ["--python", "3.12"] if "--cuda" in specs or "--driver" in specs else TARGET
    r = run_cli("init", ".", *specs, *target, cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("check", "--json", cwd=tmp_path)
    report = json.loads(r.out)
    assert report["errors"] == 0, report["findings"]
    assert r.code == 0
