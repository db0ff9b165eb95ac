"""The planner's parts on their own: every constraint, the ranking, and the search against a brute force over a
grid of targets (the winner must be the best feasible candidate by the one ranking)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.errors import NoAnswer
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.plan import constraints as c
from llmenv.plan import make_plan
from llmenv.plan.candidates import Candidate, TorchPick, installable_pythons
from llmenv.plan.extensions import ExtensionOption, TorchBuild, default_providers
from llmenv.plan.ranking import RANKING, Desc, order_options, order_pythons, order_torch, rank_key
from llmenv.request import parse_specs
from llmenv.target import Gpu, Target

KB = load()


def _target(driver: str | None, *ccs: tuple[int, int], python: str = "3.12") -> Target:
    return Target(
        driver=driver,
        cuda=KB.cuda.max_cuda(driver) if driver else None,
        python=python,
        gpus=tuple(Gpu(name="GPU", capability=cc) for cc in ccs),
    )


def _torch(version: str) -> object:
    r = KB.torch_release(version)
    assert r is not None
    return r


# ------------------------------------------------------------------------------------------ constraints


def test_gpu_driver_blackwell_needs_r570_under_any_policy() -> None:
    r = c.gpu_driver(KB, _target("550.54.14", (12, 0)))
    assert r is not None and "sm_120" in r.reason and ">= 570.26" in r.reason and "policy" in r.reason
    assert c.gpu_driver(KB, _target("570.86.15", (12, 0))) is None
    assert c.gpu_driver(KB, _target("570.86.15", (12, 1))) is not None  # sm_121 (GB10) arrived with CUDA 12.9
    assert c.gpu_driver(KB, _target("550.54.14", (9, 0))) is None
    # --cuda alone (no driver version): the driver's CUDA decides
    assert (
        c.gpu_driver(KB, Target(cuda=CudaVersion(12, 8), gpus=(Gpu(name="B200", capability=(10, 0)),)))
        is None
    )


def test_extension_target_refuses_cpu_and_pre_ampere() -> None:
    assert c.extension_target("flash-attn", Target(), None) is not None
    why = c.extension_target("flash-attn", _target("550.54.14", (7, 5)), None)
    assert why is not None and "sm_75" in why[0] and "Turing" in why[1]
    assert c.extension_target("flash-attn", _target("550.54.14", (8, 6)), None) is None
    assert c.extension_target("other", Target(), None) is None


def test_python_range_and_wheel_python() -> None:
    assert c.python_range("verl", "0.9.1", SpecifierSet("<3.13,>=3.10"), "3.12") is None
    r = c.python_range("verl", "0.9.1", SpecifierSet("<3.13,>=3.10"), "3.13")
    assert r is not None and "requires Python <3.13,>=3.10; the target has 3.13" in r.reason
    t = Target()
    assert c.wheel_python("x", "1", ("3.10", "3.11"), "3.11", t) is None
    r = c.wheel_python("x", "1", ("3.10", "3.11"), "3.12", t)
    assert r is not None and "ships wheels for Python 3.10–3.11 only on linux x86_64 (no sdist)" in r.reason
    r = c.wheel_python("x", "1", (), "3.12", t)
    assert r is not None and "no wheel for linux x86_64" in r.reason


def test_pin_clash_names_both_pins() -> None:
    theirs = {canonicalize_name("transformers"): SpecifierSet("==4.56.1")}
    yours = {canonicalize_name("transformers"): Requirement("transformers==4.57.1")}
    r = c.pin_clash("openrlhf", "0.8.11", theirs, yours)
    assert (
        r is not None
        and r.kind == "pin"
        and "transformers==4.56.1 (you asked for transformers==4.57.1)" in r.reason
    )
    assert (
        c.pin_clash(
            "openrlhf", "0.8.11", theirs, {canonicalize_name("transformers"): Requirement("transformers")}
        )
        is None
    )
    assert c.compatible(SpecifierSet(">=1"), SpecifierSet("<2")) and not c.compatible(
        SpecifierSet("==1"), SpecifierSet(">1")
    )
    assert (
        c.exact_pin(SpecifierSet("==2.6.0")) == Version("2.6.0")
        and c.exact_pin(SpecifierSet("==2.6.*")) is None
    )


def test_engine_build_cuda_and_major() -> None:
    t = _target("550.54.14", (8, 0))
    r = c.engine_build_cuda(KB, t, "vllm", "0.10.2", _torch("2.8.0"), "strict")  # type: ignore[arg-type]
    assert r is not None and "CUDA 12.8" in r.reason and ">= 570.26" in r.reason
    assert c.engine_build_cuda(KB, t, "vllm", "0.8.5.post1", _torch("2.6.0"), "strict") is None  # type: ignore[arg-type]
    cpu = c.engine_build_cuda(KB, Target(), "vllm", "1", _torch("2.6.0"), "strict")  # type: ignore[arg-type]
    assert cpu is not None and "needs an NVIDIA GPU" in cpu.reason
    assert c.engine_cuda_major(CudaVersion(12, 8), Backend.parse("cu130")) is not None
    assert c.engine_cuda_major(CudaVersion(12, 8), Backend.parse("cu126")) is None


def test_torch_constraints() -> None:
    t = _target("550.54.14", (8, 0))
    assert c.torch_driver(KB, t, Backend.parse("cu124"), "strict") is None
    why = c.torch_driver(KB, t, Backend.parse("cu126"), "strict")
    assert why is not None and "560.28.03" in why and "--cuda-policy minor would allow it" in why
    assert c.torch_driver(KB, t, Backend.parse("cu126"), "minor") is None
    assert c.torch_driver(KB, t, Backend.parse("cu130"), "minor") is not None  # another major
    volta = _target("580.159.04", (7, 0))
    assert c.torch_archs(volta, _torch("2.11.0"), Backend.parse("cu130")) is not None  # type: ignore[arg-type]
    assert c.torch_archs(volta, _torch("2.11.0"), Backend.parse("cu126")) is None  # type: ignore[arg-type]
    assert c.torch_python(_torch("2.15.0"), "3.10") is not None  # type: ignore[arg-type]
    assert c.torch_platform(_torch("2.6.0"), Target(os="linux", arch="aarch64")) is None  # type: ignore[arg-type]
    assert c.torch_companion(_torch("2.6.0"), "torchvision", SpecifierSet("==0.21.0")) is None  # type: ignore[arg-type]
    assert "goes with torchvision 0.21.0" in (
        c.torch_companion(_torch("2.6.0"), "torchvision", SpecifierSet("==0.20.1")) or ""
    )  # type: ignore[arg-type]


def _opt(**kw: object) -> ExtensionOption:
    base: dict[str, object] = dict(
        package="flash-attn",
        version=Version("2.8.3"),
        kind="prebuilt",
        source="t",
        cuda=CudaVersion(12, 9),
        cuda_major=12,
        torch=SpecifierSet("==2.6.*"),
        cxx11_abi=False,
        pythons=("3.12",),
        archs=("80", "90"),
    )
    base.update(kw)
    return ExtensionOption(**base)  # type: ignore[arg-type]


def test_option_constraints() -> None:
    t = _target("550.54.14", (8, 0))
    tb = TorchBuild(version=Version("2.6.0"), variant=Backend.parse("cu124"), cxx11_abi=False)
    # SASS for the GPU, CUDA 12 like the driver's: minor-version compatibility runs it under either policy
    assert c.option_driver(KB, t, _opt(), "strict") is None
    assert c.option_driver(KB, t, _opt(), "minor") is None
    assert "minor-version compatibility" in (c.option_compat_note(_opt(), t) or "")
    # no SASS claim (architectures unknown): the policy decides
    assert "nvcc 12.9" in (c.option_driver(KB, t, _opt(archs=None), "strict") or "")
    assert c.option_driver(KB, t, _opt(archs=None), "minor") is None
    # PTX only for the GPU: the driver JIT-compiles it and must know the build CUDA, whatever the policy
    ptx = _opt(archs=("75", "compute_75"))
    assert "through PTX only" in (c.option_driver(KB, t, ptx, "minor") or "")
    # a CUDA 13 driver does not run CUDA 12 SASS by minor-version compatibility of 12 (it runs it outright)
    assert c.option_driver(KB, _target("580.159.04", (8, 0)), _opt(), "strict") is None
    assert (
        c.option_python(_opt(), "3.13") is not None
        and c.option_python(_opt(kind="build", pythons=()), "3.13") is None
    )
    assert c.option_torch(_opt(), tb) is None
    assert "built for torch==2.5.*" in (c.option_torch(_opt(torch=SpecifierSet("==2.5.*")), tb) or "")
    assert (
        c.option_torch(_opt(cxx11_abi=True), tb) is not None
        and c.option_torch(_opt(cuda_major=13), tb) is not None
    )
    hopper_less = _target("580.159.04", (10, 0))
    assert "carry sm_80, sm_90 code only; the target needs sm_100" in (
        c.option_archs(_opt(), hopper_less) or ""
    )
    assert "setup.py cannot compile sm_100" in (c.option_archs(_opt(kind="build"), hopper_less) or "")
    assert (
        c.option_platform(_opt(), Target(arch="aarch64")) is not None
        and c.option_platform(_opt(platform="any"), Target(arch="aarch64")) is None
    )
    assert c.option_available(_opt(unavailable="no wheel")) == "no wheel"
    assert (
        c.option_known_bad(_opt(), tb) is not None
    )  # 2.8.3 pre-cxx11 wheels with torch 2.6 (flash_attn.json)
    assert c.option_pin(_opt(), SpecifierSet("<2.8"), "your") == "excluded by your flash-attn<2.8"
    forced = c.option_checks(
        _opt(cuda=CudaVersion(12, 4), version=Version("2.7.4.post1")),
        tb,
        "3.12",
        target=t,
        kb=KB,
        policy="strict",
        pins=[],
        forced_build=True,
    )
    assert forced == "--build flash-attn asks for a source build"


def test_installable_pythons_reads_wheel_tags() -> None:
    from llmenv.knowledge.pins import load_pins

    pins = load_pins(Path("/nonexistent-llmenv-user-dir"))
    openrlhf = pins.release("openrlhf", "0.8.3")
    assert openrlhf is not None
    assert installable_pythons(openrlhf, Target(), ("3.10", "3.11", "3.12")) == ("3.10", "3.11")
    deepspeed = pins.release(
        "deepspeed", "0.16.4"
    )  # sdist only on Linux: buildable where requires-python allows
    assert deepspeed is not None and installable_pythons(deepspeed, Target(), ("3.12", "3.13")) == (
        "3.12",
        "3.13",
    )


# ---------------------------------------------------------------------------------------------- ranking


def test_the_ranking_is_data_in_the_documented_order() -> None:
    assert [k.name for k in RANKING] == [
        "builds",
        "framework",
        "engine",
        "cuda-major",
        "torch",
        "cuda-minor",
        "python",
        "relaxed",
        "extension",
    ]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "planning.md").read_text()
    for k in RANKING:
        assert f"`{k.name}`" in doc, k.name


def _pick(version: str, tag: str) -> TorchPick:
    return TorchPick(release=_torch(version), variant=Backend.parse(tag), source="index")  # type: ignore[arg-type]


def test_order_torch_major_then_release_then_minor() -> None:
    picks = [
        _pick("2.8.0", "cu129"),
        _pick("2.14.1", "cu126"),
        _pick("2.14.1", "cu130"),
        _pick("2.7.1", "cu118"),
    ]
    assert [(str(p.version), p.variant.tag) for p in order_torch(picks)] == [
        ("2.14.1", "cu130"),
        ("2.14.1", "cu126"),
        ("2.8.0", "cu129"),
        ("2.7.1", "cu118"),
    ]


def test_order_pythons_and_options() -> None:
    assert order_pythons(["3.10", "3.13", "3.12"], "3.12") == ["3.12", "3.13", "3.10"]
    assert order_pythons(["3.10", "3.13", "3.12"], None) == ["3.13", "3.12", "3.10"]
    opts = [_opt(kind="build", version=Version("2.8.3.post2")), _opt(version=Version("2.7.4")), _opt()]
    assert [(o.kind, str(o.version)) for o in order_options(opts)] == [
        ("prebuilt", "2.8.3"),
        ("prebuilt", "2.7.4"),
        ("build", "2.8.3.post2"),
    ]
    assert Desc(2) < Desc(1)


def test_rank_key_puts_no_build_first() -> None:
    prebuilt = Candidate(
        framework=None,
        engine=None,
        torch=_pick("2.8.0", "cu129"),
        python="3.12",
        options={"flash-attn": _opt()},
    )
    build = Candidate(
        framework=None,
        engine=None,
        torch=_pick("2.14.1", "cu130"),
        python="3.12",
        options={"flash-attn": _opt(kind="build")},
    )
    assert rank_key(prebuilt, "3.12") < rank_key(build, "3.12")
    newer = Candidate(framework=None, engine=None, torch=_pick("2.14.1", "cu126"), python="3.12")
    older = Candidate(framework=None, engine=None, torch=_pick("2.8.0", "cu129"), python="3.12")
    assert rank_key(newer, "3.12") < rank_key(older, "3.12")  # torch before CUDA minor


# ------------------------------------------------------------------------------------------ issue cases


def _plan(specs: list[str], target: Target, **kw: object):  # type: ignore[no-untyped-def]
    return make_plan(
        target, parse_specs(specs, Path(".")), source=torch_source(kw.pop("index", None), None), **kw
    )  # type: ignore[arg-type]


def test_driver_124_keeps_torch_26_cu124_not_27_on_cuda_118() -> None:
    p = _plan(["torch"], _target("550.54.14", (8, 0)))
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.6.0", "cu124")
    r271 = next(r for r in p.rejected if r.version == "2.7.1")
    assert (
        r271.variant == "cu118" and r271.kind == "ranking" and r271.take == "ask for torch==2.7.1 to take it"
    )


def test_driver_575_gets_the_newest_torch_on_cuda_12_not_the_newest_cuda_minor() -> None:
    p = _plan(["torch"], _target("575.57.08", (9, 0)))
    assert (p.packages["torch"].version, p.packages["torch"].variant) == ("2.14.1", "cu126")


def test_blackwell_on_r550_is_no_under_minor_policy_too() -> None:
    for policy in ("strict", "minor"):
        with pytest.raises(NoAnswer) as e:
            _plan(["torch"], _target("550.54.14", (12, 0)), policy=policy)
        assert "sm_120" in e.value.message and "570.26" in e.value.message


def test_an_engine_given_on_its_own_constrains_the_framework() -> None:
    """The seed's own simple config: `openrlhf "vllm<=0.8.5.post1"` — vllm's pin through openrlhf's vllm extra."""
    p = _plan(["openrlhf", "vllm<=0.8.5.post1"], _target("550.54.14", (8, 0), python="3.11"))
    assert (p.packages["openrlhf"].version, p.packages["vllm"].version) == ("0.8.3", "0.8.5.post1")
    assert "openrlhf==0.8.3" in p.dependencies and "vllm==0.8.5.post1" in p.dependencies
    assert any(r.package == "openrlhf" and r.version == "0.11.2" and "vllm" in r.reason for r in p.rejected)


def test_python_not_fixed_takes_the_highest_that_works() -> None:
    p = _plan(["openrlhf[vllm]"], _target("550.54.14", (8, 0), python="3.13"), python_fixed=False)
    assert p.python == "3.11" and p.requires_python == ">=3.11,<3.12"
    fixed = _plan(["torch"], _target("550.54.14", (8, 0), python="3.10"))
    assert fixed.python == "3.10" and fixed.requires_python == ">=3.10,<3.14"


def test_verl_caps_requires_python_below_the_binary_wheels_it_lacks() -> None:
    p = _plan(["verl[vllm]"], _target("570.86.15", (9, 0)))
    assert p.requires_python.startswith(">=3.12,<")
    cap = Version(p.python_cap)
    # every binary requirement has a wheel up to the cap (verl 0.9.x allows < 3.13 itself)
    assert cap <= Version("3.13")


# ------------------------------------------------------------------------------------- brute force grid

GRID_DRIVERS = ("535.54.03", "550.54.14", "570.86.15", "575.57.08", "580.159.04", "595.45.04")
GRID_GPUS = ((8, 9), (9, 0), (12, 0), (7, 0))


def _brute(target: Target, policy: str, with_fa: bool) -> tuple[object, ...] | None:
    """Every (torch release x variant, Python, flash-attn option) that passes the constraints, ranked."""
    providers = default_providers()["flash-attn"]
    best: tuple[object, ...] | None = None
    best_key: tuple[object, ...] | None = None
    if c.gpu_driver(KB, target) is not None:
        return None
    if with_fa and c.extension_target("flash-attn", target, None) is not None:
        return None  # refused before any search (plan_problem)
    for r in KB.torch:
        for tag in r.variants:
            var = Backend.parse(tag)
            if any(
                w is not None
                for w in (
                    c.torch_driver(KB, target, var, policy),
                    c.torch_archs(target, r, var),
                    c.torch_platform(r, target),
                )
            ):
                continue
            if target.python not in r.python:
                continue
            pick = TorchPick(release=r, variant=var, source="index")
            options: list[dict[str, ExtensionOption]] = [{}]
            if with_fa:
                found = [o for p in providers for o in p("flash-attn", pick.build, target)]
                options = [
                    {"flash-attn": o}
                    for o in order_options(found)
                    if c.option_checks(
                        o,
                        pick.build,
                        target.python,
                        target=target,
                        kb=KB,
                        policy=policy,
                        pins=[],
                        forced_build=False,
                    )
                    is None
                ]
            for i, opts in enumerate(options):
                cand = Candidate(framework=None, engine=None, torch=pick, python=target.python, options=opts)
                key = (*rank_key(cand, target.python), i)
                if best_key is None or key < best_key:
                    best_key = key
                    o = opts.get("flash-attn")
                    best = (str(r.version), tag, (str(o.version), o.kind) if o else None)
    return best


@pytest.mark.parametrize(("driver", "cc"), list(itertools.product(GRID_DRIVERS, GRID_GPUS)))
@pytest.mark.parametrize("policy", ["strict", "minor"])
def test_the_search_finds_the_best_feasible_candidate(driver: str, cc: tuple[int, int], policy: str) -> None:
    target = _target(driver, cc)
    for with_fa in (False, True):
        want = _brute(target, policy, with_fa)
        specs = ["torch", "flash-attn"] if with_fa else ["torch"]
        try:
            p = _plan(specs, target, policy=policy)
        except NoAnswer:
            assert want is None, (driver, cc, policy, with_fa)
            continue
        fa = p.packages.get("flash-attn")
        got = (
            p.packages["torch"].version,
            p.packages["torch"].variant,
            (fa.version, fa.source) if fa else None,
        )
        assert got == want, (driver, cc, policy, with_fa)
