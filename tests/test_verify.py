"""The closed loop (`init --lock`, `plan --verify`): the real uv locks what llmenv wrote; when it fails, the
planner learns from uv's reason and the next candidate is written and locked. Local stub indexes stand in for
PyPI and the PyTorch index (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from llmenv.errors import NoAnswer
from llmenv.explain import Cause, Pin
from llmenv.plan import Attempt, Feedback, Plan
from llmenv.plan.feedback import learn
from llmenv.verify import LockFailed, LockRun, lock_loop

from .explain_scenarios import _simple_index
from .wheelfactory import make_wheel

PY = "3.11"  # the machine's own Python: uv cannot download one here


def _index(root: Path, wheels: list[tuple[str, str, list[str], str]]) -> str:
    """A PEP 503 simple index (file://) of small wheels: uv checks a registry's wheel tags per Python fork."""
    files: dict[str, list[tuple[Path, str | None]]] = {}
    for name, version, requires, tag in wheels:
        files.setdefault(name, []).append(
            (make_wheel(root / "files", name, version, requires=requires, tag=tag), None)
        )
    return _simple_index(root / "simple", files)


def _pins(path: Path, releases: dict[str, list[str]]) -> Callable[..., Any]:
    """A pins snapshot of one framework (verl) whose releases require ``releases[v]``; files unknown, so the
    planner makes no claim about Python tags and only uv can find a fork without wheels."""
    from llmenv.knowledge.pins import read_pins

    snap = {
        "schema": 1,
        "generated": "2026-12-01T00:00:00Z",
        "index": "https://pypi.org/simple",
        "packages": {
            "verl": {
                "full": True,
                "releases": {
                    v: {
                        "requires_python": ">=3.9",
                        "requires_dist": reqs,
                        "provides_extras": [],
                        "yanked": False,
                        "uploaded": "2026-01-01",
                        "from": "pep658",
                        "file": f"verl-{v}-py3-none-any.whl",
                    }
                    for v, reqs in releases.items()
                },
            }
        },
    }
    path.write_text(json.dumps(snap))
    return lambda environ=None: read_pins(path).releases


def _torch_cpu(root: Path, *versions: str) -> str:
    for v in versions:
        make_wheel(root / "cpu", "torch", f"{v}+cpu")
    return f"{root}/{{variant}}"


def test_a_torch_the_index_lacks_is_dropped_and_the_next_one_locks(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch_index = _torch_cpu(tmp_path / "whl", "2.14.1")  # the newest planned torch (2.15.0) is not there
    r = run_cli(
        "init", "./p", "torch", "--cuda", "cpu", "--python", PY, "--torch-index", torch_index, "--lock"
    )
    assert r.code == 0, r.err
    assert (
        "lock attempt 1 of at most 6: torch 2.15.0+cpu" in r.err
        and "no index consulted has torch==2.15.0" in r.err
    )
    assert "lock attempt 2 of at most 6: torch 2.14.1+cpu" in r.err
    assert "verified: uv lock succeeded (attempt 2 of 2)" in r.out
    assert (
        "attempt 1: torch 2.15.0+cpu, Python 3.11: uv lock failed: no index consulted has torch==2.15.0"
        in r.out
    )
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    assert "torch" in doc["project"]["dependencies"] and "torch==2.14.1" in doc["tool"]["uv"]["constraint-dependencies"]
    lock = tomlkit.parse((tmp_path / "p" / "uv.lock").read_text()).unwrap()
    assert [p["version"] for p in lock["package"] if p["name"] == "torch"] == ["2.14.1+cpu"]
    assert (tmp_path / "p" / ".python-version").read_text() == "3.11\n"


def test_a_python_fork_without_wheels_lowers_requires_python(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """verl's markers make uv fork the lock at Python 3.12; ray 2.43.0 has a cp311 wheel only: uv fails the
    3.12 fork, and the second attempt writes requires-python <3.12, which locks."""
    import llmenv.cli._planning as planning

    reqs = [
        "torch==2.6.0",
        "numpy>=2; python_version >= '3.12'",
        "numpy<2; python_version < '3.12'",
        "ray==2.43.0",
    ]
    monkeypatch.setattr(planning, "lazy_pins", _pins(tmp_path / "pins.json", {"9.0": reqs}))
    url = _index(
        tmp_path / "pypi",
        [
            ("verl", "9.0", reqs, "py3-none-any"),
            ("numpy", "2.0.0", [], "py3-none-any"),
            ("numpy", "1.26.4", [], "py3-none-any"),
            ("ray", "2.43.0", [], "cp311-cp311-manylinux_2_28_x86_64"),
        ],
    )
    torch_index = _torch_cpu(tmp_path / "whl", "2.6.0")
    r = run_cli(
        "init",
        "./p",
        "verl",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        torch_index,
        "--lock",
        environ={"UV_DEFAULT_INDEX": url},
    )
    assert r.code == 0, r.err
    # uv names the lock's environment: linux x86_64 (the planned platform), not "Linux"
    assert "ray 2.43.0 has no `platform_machine == 'x86_64' and sys_platform == 'linux'`-compatible wheels" in r.err
    assert "for Python 3.12" in r.err
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    assert doc["project"]["requires-python"] == ">=3.11,<3.12"
    assert "up to where uv could not lock Python 3.12" in r.out


def test_a_framework_pin_uv_names_is_relaxed_under_allow_overrides(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """verl pins otel-sdk==1.0; the other requirement needs otel-sdk>=2 — a conflict no knowledge table holds.
    Without --allow-overrides nothing else fits; with it the pin uv names is relaxed in verl's metadata."""
    import llmenv.cli._planning as planning

    reqs = ["torch==2.6.0", "otel-sdk==1.0"]
    monkeypatch.setattr(planning, "lazy_pins", _pins(tmp_path / "pins.json", {"9.0": reqs}))
    url = _index(
        tmp_path / "pypi",
        [
            ("verl", "9.0", reqs, "py3-none-any"),
            ("otel-sdk", "1.0", [], "py3-none-any"),
            ("otel-sdk", "2.0", [], "py3-none-any"),
            ("tracer", "1.0", ["otel-sdk>=2"], "py3-none-any"),
        ],
    )
    torch_index = _torch_cpu(tmp_path / "whl", "2.6.0")
    args = [
        "init",
        "./p",
        "verl",
        "tracer",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        torch_index,
        "--lock",
    ]
    r = run_cli(*args, environ={"UV_DEFAULT_INDEX": url})
    assert r.code == 1
    assert "no candidate left after 1 lock attempt" in r.err and "otel-sdk" in r.err
    assert not (tmp_path / "p" / "pyproject.toml").exists() and not (tmp_path / "p" / "uv.lock").exists()
    r = run_cli(*args, "--allow-overrides", environ={"UV_DEFAULT_INDEX": url})
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "p" / "pyproject.toml").read_text()).unwrap()
    meta = next(m for m in doc["tool"]["uv"]["dependency-metadata"] if m["name"] == "verl")
    assert "otel-sdk" in meta["requires-dist"] and "otel-sdk==1.0" not in meta["requires-dist"]
    lock = tomlkit.parse((tmp_path / "p" / "uv.lock").read_text()).unwrap()
    assert [p["version"] for p in lock["package"] if p["name"] == "otel-sdk"] == ["2.0"]


def test_plan_verify_locks_in_a_scratch_folder_and_touches_nothing(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch_index = _torch_cpu(tmp_path / "whl", "2.14.1")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli(
        "plan", "torch", "--cuda", "cpu", "--python", PY, "--torch-index", torch_index, "--verify", "--json"
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["verified"] is True and d["packages"]["torch"]["version"] == "2.14.1"
    assert [a["ok"] for a in d["attempts"]] == [False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    plain = run_cli("plan", "torch", "--cuda", "cpu", "--python", PY, "--torch-index", torch_index)
    assert "not verified by uv" in plain.out


def test_max_attempts_bounds_the_loop(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch_index = _torch_cpu(tmp_path / "whl", "2.6.0")
    r = run_cli(
        "init",
        "./p",
        "torch",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        torch_index,
        "--lock",
        "--max-attempts",
        "2",
    )
    assert r.code == 1
    assert "no candidate locked in 2 lock attempt(s) (--max-attempts 2 reached)" in r.err
    assert not (tmp_path / "p" / "pyproject.toml").exists()
    assert run_cli("init", ".", "torch", "--max-attempts", "0").code == 2


# ------------------------------------------------------------------------------------------ the loop, pure


def _plan(key: str, python: str = "3.11", cap: str = "3.13") -> Plan:
    from llmenv.indexes import torch_source
    from llmenv.plan.model import Choice
    from llmenv.target import Target

    minors = [f"3.{m}" for m in range(int(python.split(".")[1]), int(cap.split(".")[1]) + 1)]
    return Plan(
        target=Target(python=python),
        policy="strict",
        pythons=tuple(minors),
        packages={"torch": Choice(name="torch", version=key, source="index")},
        dependencies=(f"torch=={key}",),
        torch_source=torch_source(None, None),
        candidate=f"torch {key}",
        key=("", "", f"torch {key}", python),
        related=frozenset({"torch", "ray"}),
        framework="verl",
        framework_pins=frozenset({"ray"}),
    )


def test_learn_maps_each_kind_of_cause() -> None:
    plan, fb = _plan("2.6.0"), Feedback()
    fork = Cause(kind="python-version", packages=("ray",), summary="ray: no cp312", python="<3.12")
    got = learn([fork], plan, fb, allow_overrides=False, log_line="")
    assert got.feedback is not None and got.feedback.python_caps[plan.key[:3]] == "3.11"
    split = Cause(
        kind="python-version", packages=("ray",), summary="s", split="python_full_version >= '3.13'"
    )
    got = learn([split], plan, fb, allow_overrides=False, log_line="")
    assert got.feedback is not None and got.feedback.python_caps[plan.key[:3]] == "3.12"
    missing = Cause(kind="index", packages=("torch",), summary="no index has torch==2.6.0", version="2.6.0")
    got = learn([missing], plan, fb, allow_overrides=False, log_line="")
    assert got.feedback is not None and got.feedback.banned == {
        ("torch", "2.6.0"): "no index has torch==2.6.0"
    }
    conflict = Cause(
        kind="pin-conflict",
        packages=("opentelemetry-sdk", "ray"),
        summary="ray vs vllm",
        pins=(Pin(by="verl", by_version="9.0", package="ray", spec="==2.43.0"),),
    )
    got = learn([conflict], plan, fb, allow_overrides=True, log_line="")
    assert got.feedback is not None and set(got.feedback.relax) == {"ray"}
    got = learn([conflict], plan, fb, allow_overrides=False, log_line="")
    assert got.feedback is not None and plan.key in got.feedback.excluded  # no relaxing without the flag
    network = Cause(kind="network", packages=("torch",), summary="no network")
    assert learn([network], plan, fb, allow_overrides=False, log_line="").feedback is None
    yours = Cause(kind="index", packages=("not-on-any-index",), summary="not found")
    assert learn([yours], plan, fb, allow_overrides=False, log_line="").feedback is None
    unknown = learn([], plan, fb, allow_overrides=False, log_line="error: boom")
    assert (
        unknown.feedback is not None
        and unknown.reason == "error: boom"
        and plan.key in unknown.feedback.excluded
    )


def test_lock_loop_takes_the_next_candidate_and_restores_between_attempts() -> None:
    plans = {0: _plan("2.15.0"), 1: _plan("2.14.1")}
    events: list[str] = []

    def plan_for(fb: Feedback) -> Plan:
        return plans[len(fb.banned)]

    def lock(timeout: float) -> LockRun:
        events.append("lock")
        ok = len(events) > 2
        return LockRun(
            code=0 if ok else 1, output="" if ok else "error: no index consulted has torch==2.15.0"
        )

    def explain(log: str) -> Any:
        from llmenv.explain import Diagnosis

        return Diagnosis(
            causes=(Cause(kind="index", packages=("torch",), summary="no torch 2.15.0", version="2.15.0"),),
            unknown=False,
        )

    got = lock_loop(
        plan_for=plan_for,
        write=lambda p: events.append(f"write {p.candidate}"),
        lock=lock,
        restore=lambda: events.append("restore"),
        allow_overrides=False,
        explain=explain,
    )
    assert events == ["write torch 2.15.0", "lock", "restore", "write torch 2.14.1", "lock"]
    assert got.verified and [a.ok for a in got.attempts] == [False, True]
    assert got.attempts[0] == Attempt(
        number=1,
        candidate="torch 2.15.0",
        ok=False,
        reason="no torch 2.15.0",
        seconds=got.attempts[0].seconds,
    )


def test_lock_loop_stops_at_its_time_budget() -> None:
    now = [0.0]

    def lock(timeout: float) -> LockRun:
        now[0] += 400.0
        return LockRun(code=1, output="error: boom")

    with pytest.raises(LockFailed) as e:
        lock_loop(
            plan_for=lambda fb: _plan(f"2.{len(fb.excluded)}.0"),
            write=lambda p: None,
            lock=lock,
            restore=lambda: None,
            allow_overrides=False,
            clock=lambda: now[0],
        )
    assert len(e.value.attempts) == 2 and "600 s reached" in e.value.message
    with pytest.raises(NoAnswer):  # nothing to plan at all: the planner's own answer, no attempt made
        lock_loop(
            plan_for=lambda fb: (_ for _ in ()).throw(NoAnswer("no")),
            write=lambda p: None,
            lock=lock,
            restore=lambda: None,
            allow_overrides=False,
        )
