from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmenv.backend import Backend, CudaVersion
from llmenv.errors import NoAnswer
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.plan import make_plan
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target


def _plan(
    specs: list[str],
    *,
    driver: str | None = "550.54.14",
    gpus: tuple[str, ...] = (),
    python: str = "3.12",
    policy: str = "strict",
    index: str | None = None,
):  # type: ignore[no-untyped-def]
    kb = load()
    cuda = kb.cuda.max_cuda(driver) if driver else None
    t = Target(
        driver=driver,
        cuda=cuda,
        python=python,
        gpus=tuple(Gpu(name="GPU", capability=tuple(int(x) for x in g.split("."))) for g in gpus),
    )  # type: ignore[misc]
    return make_plan(t, parse_specs(specs, Path(".")), policy=policy, source=torch_source(index, None))


def test_seed_case_driver_550_gives_torch_26_cu124() -> None:
    p = _plan(["torch"])
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.6.0", "cu124")
    assert p.dependencies == ("torch==2.6.0",)
    # The newer releases are listed with the fact that rejected them.
    r28 = next(r for r in p.rejected if r.version == "2.8.0")
    assert "575.51.03" in r28.reason and "550.54.14" in r28.reason
    # 2.7.1 runs here only on cu118: it is named as an alternative, not silently dropped.
    assert any(r.version == "2.7.1" and r.variant == "cu118" for r in p.rejected)


def test_pinned_torch_without_a_build_exits_with_the_alternative() -> None:
    with pytest.raises(NoAnswer) as e:
        _plan(["torch==2.8.0"])
    assert "torch==2.8.0 has no build for CUDA <= 12.4" in e.value.message
    assert "the newest that has is 2.6.0 (cu124)" in e.value.message


def test_strict_and_minor_policies_differ() -> None:
    strict = _plan(["torch"], policy="strict")
    minor = _plan(["torch"], policy="minor")
    assert strict.packages["torch"].variant == "cu124"
    # minor-version compatibility: a 550 driver runs any CUDA 12.x build, so CUDA 12 is the major and the
    # newest torch with a 12.x build wins (ranking: CUDA major > torch > CUDA minor).
    assert (minor.packages["torch"].version, minor.packages["torch"].variant) == ("2.14.1", "cu126")


def test_driver_580_h200_gets_cu130_newest_torch() -> None:
    p = _plan(["torch"], driver="580.159.04", gpus=("9.0",))
    assert p.packages["torch"].variant == "cu130"
    assert p.packages["torch"].version == "2.14.1"


def test_blackwell_needs_cu128_or_newer() -> None:
    # driver 570 (CUDA 12.8), RTX 5090 sm_120: cu126 builds lack sm_120, so cu128 and torch 2.11.0 (last cu128)
    p = _plan(["torch"], driver="570.86.15", gpus=("12.0",))
    assert p.packages["torch"].variant == "cu128"
    assert p.packages["torch"].version == "2.11.0"
    with pytest.raises(NoAnswer) as e:
        _plan(["torch"], driver="560.35.03", gpus=("12.0",))
    assert "sm_120" in e.value.message


def test_no_cu13_build_supports_volta() -> None:
    p = _plan(["torch"], driver="580.159.04", gpus=("7.0",))
    assert Backend.parse(p.packages["torch"].variant or "cpu") < Backend.parse("cu130")
    rejected = {(r.version, r.variant): r.reason for r in p.rejected}
    assert any("sm_70" in reason for reason in rejected.values())


def test_python_is_respected() -> None:
    p = _plan(["torch"], driver="580.159.04", python="3.10")
    assert p.packages["torch"].version == "2.14.1"  # 2.15 needs Python >= 3.11
    assert any(r.version == "2.15.0" and "Python 3.10" in r.reason for r in p.rejected)
    assert p.requires_python == ">=3.10,<3.15"


def test_cpu_target_gets_the_cpu_build() -> None:
    p = _plan(["torch", "torchvision"], driver=None, python="3.12")
    assert p.packages["torch"].variant == "cpu"
    assert p.packages["torchvision"].version == "0.29.2"
    assert [i.name for i in p.indexes] == ["pytorch-cpu"]


def test_torchvision_pin_moves_torch() -> None:
    p = _plan(["torch", "torchvision==0.20.1"])
    assert p.packages["torch"].version == "2.5.1"
    assert p.packages["torch"].variant == "cu124"


def test_pypi_source_only_has_the_pypi_cuda_build() -> None:
    p = _plan(["torch"], driver="570.86.15", index="pypi")
    # PyPI's torch 2.11+ is CUDA 13.0: too new for a 570 driver; 2.10.0 is CUDA 12.8.
    assert p.packages["torch"].version == "2.10.0"
    assert p.packages["torch"].source == "pypi"
    assert p.indexes == ()


def test_plan_json_contract(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "--driver", "550.54.14", "--gpu", "8.0", "--python", "3.12", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert {"target", "packages", "build", "overrides", "reasons", "rejected"} <= set(d)
    assert d["packages"]["torch"] == {
        "version": "2.6.0",
        "source": "index",
        "variant": "cu124",
        "index": "pytorch-cu124",
    }
    assert d["target"]["driver"] == "550.54.14" and d["target"]["cuda"] == "12.4"
    assert all({"package", "version", "reason"} <= set(x) for x in d["rejected"])


def test_plan_human_output(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "--driver", "550.54.14", "--python", "3.12")
    assert r.code == 0
    assert "torch  2.6.0" in r.out and "cu124" in r.out
    assert "why" in r.out and "not chosen" in r.out


def test_no_plan_exit_1_one_line_and_hint(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch==2.8.0", "--driver", "550.54.14", "--python", "3.12")
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("llmenv: error: torch==2.8.0 has no build")
    assert lines[1].startswith("hint:")


def test_cuda_flag_sets_the_target() -> None:
    from llmenv.cli._target import resolve_target

    t = resolve_target(Target(), {"cuda": "12.4"})
    assert t.cuda == CudaVersion(12, 4) and t.driver is None  # --cuda alone invents no driver
    t = resolve_target(Target(driver="550.54.14", cuda=CudaVersion(12, 4)), {"cuda": "cpu"})
    assert t.is_cpu and t.driver is None


def test_knowledge_is_cited() -> None:
    import llmenv.knowledge as k

    for name in ("cuda.json", "torch.json"):
        data = k.read_data(name)
        assert data["sources"] and data["verified"]


def _recording_system() -> tuple[object, list[str]]:
    """A machine whose every probe is recorded: NVML, commands and file reads."""
    from dataclasses import replace

    from llmenv.detect import NvmlReading

    from .conftest import fake_system

    probed: list[str] = []
    base = fake_system(
        commands={"/usr/bin/nvcc --version": (0, "Cuda compilation tools, release 12.4, V12.4.131")},
        nvml=NvmlReading(
            driver="570.86.15", cuda_driver_version=12080, gpus=(Gpu(name="A100", capability=(8, 0)),)
        ),
    )

    def nvml() -> object:
        probed.append("nvml")
        return base.nvml()

    def run(argv):  # type: ignore[no-untyped-def]
        probed.append(" ".join(argv))
        return base.run(argv)

    return replace(base, nvml=nvml, run=run), probed  # type: ignore[arg-type]


def test_a_target_described_by_flags_probes_nothing_and_takes_nothing(run_cli) -> None:  # type: ignore[no-untyped-def]
    system, probed = _recording_system()
    r = run_cli("plan", "torch", "--driver", "550.54.14", "--gpu", "9.0", "--json", system=system)
    assert r.code == 0, r.err
    t = json.loads(r.out)["target"]
    assert (t["cpus"], t["memory_gib"], t["nvcc"], t["glibc"]) == (None, None, None, None)
    assert [g["compute_capability"] for g in t["gpus"]] == ["9.0"] and probed == []
    # this machine: its GPU side is read (NVML answers everything: nvidia-smi never starts), nvcc is not
    r = run_cli("plan", "torch", "--json", system=system)
    assert r.code == 0, r.err
    assert probed == ["nvml"] and json.loads(r.out)["target"]["driver"] == "570.86.15"


def test_cuda_alone_records_no_driver_and_a_disagreeing_pair_is_bad_input(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "--cuda", "12.4", "--gpu", "8.0", "--python", "3.12")
    assert r.code == 0, r.err
    assert "a driver of CUDA 12.4 (CUDA <= 12.4; driver version not given), GPUs sm_80" in r.out
    r = run_cli("plan", "torch", "--driver", "550.54.14", "--cuda", "12.8")
    assert (
        r.code == 2
        and "--driver 550.54.14 supports CUDA 12.4" in r.err
        and len(r.err.strip().splitlines()) == 1
    )
    assert run_cli("plan", "torch", "--driver", "550.54.14", "--cuda", "12.4").code == 0
    assert run_cli("plan", "torch", "--driver", "550.54.14", "--cuda", "cpu").code == 2


def test_a_typo_one_edit_from_a_planned_package_is_bad_input(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("plan", "torch", "flash-atn", "--cuda", "cpu")
    assert r.code == 2 and "'flash-atn' is not a package llmenv knows; did you mean 'flash-attn'?" in r.err


def test_arch_flag_plans_for_aarch64(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(
        "plan",
        "torch",
        "--driver",
        "580.159.04",
        "--gpu",
        "9.0",
        "--arch",
        "aarch64",
        "--python",
        "3.12",
        "--json",
    )
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["target"]["arch"] == "aarch64" and d["packages"]["torch"]["variant"].startswith("cu")
