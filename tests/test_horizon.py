"""Where the knowledge ends: versions past it are "unknown, refresh" (exit 1), a CUDA past it is a warning,
and old knowledge is named in the plan's header."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from llmenv.backend import CudaVersion
from llmenv.knowledge import horizon, load, read_data


def _reqs(*lines: str) -> list[Requirement]:
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("torch==2.16.0", "torch 2.16.0 is newer than llmenv's knowledge (torch table of 2026-12-01)"),
        ("torch==2.16.0+cu134", "torch 2.16.0 is newer than"),
        ("torch>=2.16", "torch>=2.16 admits only releases newer than llmenv's knowledge (torch table of"),
        ("torch==2.16.*", "torch==2.16.* admits only releases newer"),
        ("vllm==0.99.0", "vllm 0.99.0 is newer than llmenv's knowledge (pins table of 2026-12-01)"),
        ("flash-attn>2.8.3.post2", "flash-attn>2.8.3.post2 admits only releases newer"),
    ],
)
def test_past_the_knowledge(line: str, message: str) -> None:
    (b,) = horizon.beyond(load(), _reqs(line))
    assert b.message.startswith(message) and b.message.endswith(": run `llmenv kb refresh`")


@pytest.mark.parametrize(
    "line",
    [
        "torch",
        "torch==2.15.0+cu132",  # a local label asks for a known release
        "torch<3",
        "torch==2.5.3",  # no such release, but older than the newest: the planner says why, not the horizon
        "torch>=2.14,<2.14.1",
        "numpy==9.0",  # no table follows numpy
        "vllm>=0.8",
    ],
)
def test_within_the_knowledge(line: str) -> None:
    assert horizon.beyond(load(), _reqs(line)) == []


def _user_pins(tmp_path: Path, vllm: str, torch_pin: str) -> Path:
    """The bundled pins plus a vllm release pinning ``torch_pin``, as a user snapshot."""
    from llmenv.knowledge._store import bundled_text

    snap = json.loads(bundled_text("pins.json"))
    snap["packages"]["vllm"]["releases"] = {
        vllm: {
            "requires_python": ">=3.10",
            "requires_dist": [f"torch=={torch_pin}"],
            "provides_extras": [],
            "yanked": False,
            "uploaded": "2026-12-23",
            "from": "range",
            "file": f"vllm-{vllm}.whl",
        },
        **snap["packages"]["vllm"]["releases"],
    }
    (tmp_path / "pins.json").write_text(json.dumps(snap), encoding="utf-8")
    return tmp_path


def test_an_engine_release_pinning_a_torch_past_the_table(tmp_path: Path) -> None:
    kb = load(_user_pins(tmp_path, "0.34.0", "2.16.0"))
    (b,) = horizon.beyond(kb, _reqs("vllm==0.34.0"))
    assert b.message == (
        "vllm 0.34.0 pins torch==2.16.0, and torch 2.16.0 is newer than llmenv's knowledge (torch table of "
        "2026-12-01): run `llmenv kb refresh`"
    )
    assert horizon.beyond(kb, _reqs("vllm==0.8.5.post1")) == []


def test_cuda_warnings() -> None:
    kb = load()
    (w,) = horizon.cuda_warnings(kb, cuda=CudaVersion(13, 4), driver=None, given=True)
    assert w.startswith("CUDA 13.4's minimum driver is unknown (it must come from NVIDIA CUDA Toolkit 13.4.1")
    (w,) = horizon.cuda_warnings(kb, cuda=CudaVersion(13, 7), driver=None, given=True)
    assert "CUDA 13.7 is newer than llmenv's CUDA table (of 2026-12-01, newest 13.5)" in w
    assert horizon.cuda_warnings(kb, cuda=CudaVersion(12, 4), driver=None, given=True) == []
    # a detected driver newer than every known floor may run CUDA 13.4/13.5: said, not assumed
    (w,) = horizon.cuda_warnings(kb, cuda=CudaVersion(13, 3), driver="615.71.09", given=False)
    assert w.startswith("driver 615.71.09 may also run CUDA 13.4/13.5") and "--cuda 13.5" in w
    assert horizon.cuda_warnings(kb, cuda=CudaVersion(12, 4), driver="550.54.14", given=False) == []


def test_stale_note() -> None:
    kb = load()
    assert horizon.knowledge_date(kb) == "2026-11-26"  # the oldest refreshable table
    assert horizon.stale_note(kb, on=date(2027, 1, 25)) is None
    assert horizon.stale_note(kb, on=date(2027, 1, 26)) == "knowledge of 2026-11-26"


def test_every_bundled_refreshable_table_is_dated() -> None:
    for name in ("torch.json", "engine_torch_pins.json", "flash_attn.json"):
        assert read_data(name)["verified"]


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_plan_past_the_knowledge_exits_1(run_cli: Callable[..., object]) -> None:
    r = run_cli("plan", "torch==2.16.0", "--cuda", "13.0")
    assert r.code == 1  # type: ignore[attr-defined]
    assert r.err == (  # type: ignore[attr-defined]
        "llmenv: error: torch 2.16.0 is newer than llmenv's knowledge (torch table of 2026-12-01): "
        "run `llmenv kb refresh`\n"
    )


def test_cli_cuda_with_an_unknown_floor_is_accepted_with_a_warning(run_cli: Callable[..., object]) -> None:
    r = run_cli("plan", "torch", "--cuda", "13.4", "--gpu", "9.0", "--json")
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    out = json.loads(r.out)  # type: ignore[attr-defined]
    assert out["target"]["driver"] is None and out["packages"]["torch"]["variant"] == "cu132"
    assert any(w.startswith("CUDA 13.4's minimum driver is unknown") for w in out["warnings"])
    r = run_cli("plan", "torch", "--cuda", "14.0")
    assert r.code == 0 and "a driver of CUDA 14.0 (CUDA <= 14.0; driver version not given)" in r.out  # type: ignore[attr-defined]
    assert "CUDA 14.0 is newer than llmenv's CUDA table" in r.out  # type: ignore[attr-defined]


def test_cli_plan_header_names_old_knowledge(
    run_cli: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(horizon, "today", lambda: date(2027, 3, 1))
    r = run_cli("plan", "torch", "--cuda", "12.4")
    assert r.code == 0, r.err  # type: ignore[attr-defined]
    first = r.out.splitlines()[0]  # type: ignore[attr-defined]
    assert first.startswith("plan for linux x86_64") and first.endswith(" — knowledge of 2026-11-26")
    assert "llmenv's knowledge of 2026-11-26 is over 60 days old: run `llmenv kb refresh`" in r.out  # type: ignore[attr-defined]
    monkeypatch.setattr(horizon, "today", lambda: date(2026, 12, 1))
    r = run_cli("plan", "torch", "--cuda", "12.4")
    assert "knowledge of" not in r.out  # type: ignore[attr-defined]
