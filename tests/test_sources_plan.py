"""The wheel sources in the planner: the providers over the bundled listings and the build records, the rules
they are tested by (SASS / PTX / unknown architectures, CUDA major, CPU torch, an option's own pins), and whole
plans — FA2 from the index and community sources, FA3 on Hopper, FA4 against the engine's cutlass pin, the
transformer-engine trio from one index, xformers by its build record, deepspeed, the untuned builds — plus a grid
of targets of our own that counts the builds and proves each remaining one has no wheel anywhere."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import torch_source
from llmenv.knowledge import load
from llmenv.plan import constraints as c
from llmenv.plan import lazy_pins, make_plan
from llmenv.plan.extensions import ExtensionOption, TorchBuild, default_providers
from llmenv.request import parse_specs
from llmenv.sources.providers import listed, pypi_wheels, transformer_engine
from llmenv.sources.sections import index_for
from llmenv.target import Gpu, Target

KB = load()
PINS = lazy_pins()
MARKER = "sys_platform == 'linux' and platform_machine == 'x86_64'"


def _target(driver: str, cc: tuple[int, int], python: str = "3.12") -> Target:
    return Target(
        driver=driver, cuda=KB.cuda.max_cuda(driver), python=python, gpus=(Gpu(name="GPU", capability=cc),)
    )


def _tb(version: str, variant: str) -> TorchBuild:
    r = KB.torch_release(version)
    assert r is not None
    v = Backend.parse(variant)
    return TorchBuild(version=r.version, variant=v, cxx11_abi=r.abi_of(v))


def _plan(target: Target, *specs: str, **kw: object):  # type: ignore[no-untyped-def]
    return make_plan(target, parse_specs(specs, Path(".")), source=torch_source(None, None), kb=KB, **kw)  # type: ignore[arg-type]


H100_580 = _target("580.65.06", (9, 0))
B200_570 = _target("570.86.15", (10, 0))
A100_550 = _target("550.54.14", (8, 0))


# ------------------------------------------------------------------------------------------- providers


def test_astral_options_are_explicit_indexes_per_channel_with_their_local_build() -> None:
    opts = list(listed("astral")("flash-attn", _tb("2.11.0", "cu128"), B200_570))
    first = next(o for o in opts if o.platform == "linux-x86_64")
    assert first.version == Version("2.8.3") and first.index == "https://wheels.astral.sh/simple/cu128/"
    assert (first.index_name, first.index_flat, first.local) == ("astral-cu128", False, "cu.12.8.torch.2.11")
    assert first.cuda == CudaVersion(12, 8) and first.cuda_major == 12 and first.cxx11_abi is True
    assert first.torch == SpecifierSet("==2.11.*") and first.urls == {}
    assert first.archs == ("80", "90", "100", "120")  # flash-attn 2.8.3's setup.py defaults for nvcc 12.8
    assert "3.12" in first.pythons
    # the build of torch's own CUDA first, then the same major; other platforms are options of their own
    assert [o.local for o in opts if o.platform == "linux-x86_64"][:2] == ["cu.12.8.torch.2.11", "cu.12.9.torch.2.11"]
    assert any(o.platform == "linux-aarch64" for o in opts)


def test_mjun0812_options_are_one_url_per_python_through_the_github_proxy() -> None:
    opts = list(listed("mjun0812", github_proxy="https://gh-proxy.com/")("flash-attn", _tb("2.8.0", "cu128"), A100_550))
    o = next(o for o in opts if o.local == "cu128torch2.8" and o.platform == "linux-x86_64")
    assert o.index is None and o.cuda == CudaVersion(12, 8) and o.cxx11_abi is True
    url = o.urls["3.12"]
    assert url.startswith("https://gh-proxy.com/https://github.com/mjun0812/flash-attention-prebuild-wheels/")
    assert url.endswith("flash_attn-2.8.3+cu128torch2.8-cp312-cp312-linux_x86_64.whl")


def test_a_source_that_lists_nothing_for_the_torch_says_so() -> None:
    (o,) = list(listed("astral")("flash-attn", _tb("2.15.0", "cu130"), H100_580))
    assert o.unavailable == "astral lists no flash-attn wheel for torch 2.15 (CUDA 13)"


def test_pytorch_fa3_is_one_stable_abi_wheel_for_torch_2_9_and_up() -> None:
    opts = list(listed("pytorch")("flash-attn-3", _tb("2.14.1", "cu130"), H100_580))
    o = opts[0]
    assert (o.version, o.index_name, o.torch, o.archs) == (Version("3.0.0"), "pytorch-cu130", SpecifierSet(">=2.9"), ("90a",))
    assert o.cuda_major == 13 and o.cxx11_abi is None  # stable ABI: either
    # with the PyTorch index as the torch source, the option reuses its entry for that variant
    assert index_for(o, torch_source(None, None)) == torch_source(None, None).index_for(Backend.parse("cu130"))
    assert [x.index_name for x in opts][-1] == "pytorch-test-cu128"  # test channels last
    assert list(listed("pytorch")("flash-attn-3", _tb("2.8.0", "cu128"), H100_580)) == [
        next(iter(listed("pytorch")("flash-attn-3", _tb("2.8.0", "cu128"), H100_580)))
    ]


def test_xformers_options_carry_their_wheels_build_record() -> None:
    got = {str(o.version): o for o in pypi_wheels(PINS)("xformers", _tb("2.9.0", "cu130"), H100_580) if o.prebuilt}
    assert set(got) == {"0.0.33", "0.0.33.post1"}  # the releases pinned to torch 2.9.0
    # 0.0.33 was compiled with CUDA 13.0 against torch 2.9.0+cu130; its .post1 went back to CUDA 12.8
    assert (got["0.0.33"].cuda, got["0.0.33"].cuda_major) == (CudaVersion(13, 0), 13)
    assert (got["0.0.33.post1"].cuda, got["0.0.33.post1"].cuda_major) == (CudaVersion(12, 8), 12)
    assert got["0.0.33.post1"].archs == ("75", "80", "compute_80", "90a")


def test_the_transformer_engine_trio_comes_from_one_channel_at_one_version() -> None:
    (first, *_) = list(transformer_engine()("transformer-engine", _tb("2.12.0", "cu130"), H100_580))
    assert (first.version, first.index_name) == (Version("2.16.0"), "astral-cu130")
    assert dict(first.together) == {
        "transformer-engine-cu13": "2.16.0+cu.13.0",
        "transformer-engine-torch": "2.16.0+cu.13.0.torch.2.12",
    }


# ----------------------------------------------------------------------------------------- the rules


def _opt(**kw: object) -> ExtensionOption:
    base: dict[str, object] = dict(
        package="mamba-ssm", version=Version("2.3.0"), kind="prebuilt", source="t", cuda=CudaVersion(12, 4),
        cuda_major=12, pythons=("3.12",), archs=None,
    )  # fmt: skip
    base.update(kw)
    return ExtensionOption(**base)  # type: ignore[arg-type]


def test_unknown_architectures_cannot_cover_a_gpu_newer_than_the_build_cuda() -> None:
    why = c.option_archs(_opt(), B200_570)
    assert why is not None and "CUDA 12.4, which cannot compile sm_100" in why and "CUDA 12.8 added it" in why
    assert c.option_archs(_opt(), A100_550) is None  # no claim either way
    assert c.option_archs(_opt(cuda=CudaVersion(12, 8)), B200_570) is None


def test_a_cuda_wheel_never_goes_with_a_cpu_torch() -> None:
    cpu = TorchBuild(version=Version("2.8.0"), variant=Backend("cpu"), cxx11_abi=True)
    assert "has no CUDA" in (c.option_torch(_opt(), cpu) or "")


def test_an_option_s_own_pins_are_held_against_the_engine_s() -> None:
    from packaging.requirements import Requirement

    fa4 = _opt(package="flash-attn-4", requires_dist=("nvidia-cutlass-dsl>=4.6.2", 'pytest; extra == "dev"'))
    env = Target().marker_environment()
    pinned = [(Requirement("nvidia-cutlass-dsl[cu13]==4.5.2"), "sglang 0.5.13")]
    assert c.option_requirements(fa4, env, pinned) == (
        "requires nvidia-cutlass-dsl>=4.6.2; sglang 0.5.13 pins nvidia-cutlass-dsl[cu13]==4.5.2"
    )
    assert c.option_requirements(fa4, env, [(Requirement("nvidia-cutlass-dsl==4.8.0"), "vllm")]) is None


def test_vllm_of_another_cuda_major_is_routed_or_refused_with_the_reason() -> None:
    assert c.engine_line("vllm", Version("0.26.0"), CudaVersion(13, 0), Backend.parse("cu128"), "linux-x86_64") is None
    why = c.engine_line("vllm", Version("0.27.0"), CudaVersion(13, 0), Backend.parse("cu128"), "linux-x86_64")
    assert why is not None and "libcudart.so.13" in why and "no vllm 0.27.0 build of CUDA 12" in why
    assert "vllm#44335" in why
    assert c.engine_line("vllm", Version("0.27.0"), CudaVersion(13, 0), Backend.parse("cu130"), "linux-x86_64") is None


# ---------------------------------------------------------------------------------------- whole plans


def test_blackwell_on_a_cuda_12_8_driver_gets_a_wheel_not_a_build() -> None:
    p = _plan(B200_570, "torch", "flash-attn")
    fa = p.packages["flash-attn"]
    assert fa.source == "prebuilt" and not p.build
    assert p.packages["torch"].variant == "cu128"


def test_fa3_on_hopper_is_the_pytorch_index_wheel_and_elsewhere_no_answer() -> None:
    p = _plan(H100_580, "torch", "flash-attn-3")
    fa3 = p.packages["flash-attn-3"]
    assert (fa3.version, fa3.source, fa3.index) == ("3.0.0", "prebuilt", p.packages["torch"].index)
    assert p.extra["sources"]["flash-attn-3"] == [{"index": fa3.index, "marker": MARKER}]
    assert f"flash-attn-3==3.0.0 ; {MARKER}" in p.dependencies
    with pytest.raises(NoAnswer) as e:
        _plan(A100_550, "torch", "flash-attn-3")
    assert "Hopper" in e.value.message and "flash-attn (FlashAttention-2)" in (e.value.hint or "")


def test_a_hopper_plan_mentions_fa3_and_fa4() -> None:
    p = _plan(H100_580, "torch", "flash-attn")
    assert any("FlashAttention-3" in r and "PyTorch index" in r and "flash-attn-4" in r for r in p.reasons)


def test_fa4_keeps_its_cutlass_pin_coherent_with_the_engine() -> None:
    p = _plan(H100_580, "sglang==0.5.13", "flash-attn-4")
    fa4 = p.packages["flash-attn-4"]
    assert fa4.version == "4.0.0b19" and fa4.extras == ("cu13",)  # b20+ need cutlass-dsl 4.6; sglang pins 4.5.2
    assert "flash-attn-4[cu13]==4.0.0b19" in p.dependencies
    why = {r.version: r.reason for r in p.rejected if r.package == "flash-attn-4"}
    assert "nvidia-cutlass-dsl[cu13]==4.5.2" in why["4.0.0b36"] and "4.6.0.dev0" in why["4.0.0b20"]
    with pytest.raises(NoAnswer):
        _plan(A100_550, "torch", "flash-attn-4")


def test_the_te_trio_is_written_pinned_and_routed_to_one_index() -> None:
    p = _plan(H100_580, "torch", "transformer-engine[pytorch]")
    names = ("transformer-engine", "transformer-engine-cu13", "transformer-engine-torch")
    assert {p.packages[n].index for n in names} == {"astral-cu130"}
    assert {n: p.extra["sources"][n] for n in names} == {n: [{"index": "astral-cu130", "marker": MARKER}] for n in names}
    assert f"transformer-engine[pytorch]==2.16.0 ; {MARKER}" in p.dependencies
    assert f"transformer-engine-torch==2.16.0+cu.13.0.torch.{p.packages['torch'].version[:4]} ; {MARKER}" in p.dependencies
    assert any(i.name == "astral-cu130" and i.explicit for i in p.indexes)


def test_xformers_goes_with_the_torch_whose_cuda_its_wheel_was_built_with() -> None:
    p = _plan(H100_580, "torch==2.9.0", "xformers")
    assert (p.packages["torch"].variant, p.packages["xformers"].version) == ("cu130", "0.0.33")
    why = {r.version: r.reason for r in p.rejected if r.package == "xformers"}
    assert "link CUDA 12" in why["0.0.33.post1"]
    assert "xformers==0.0.33" in p.dependencies and "xformers" not in p.extra.get("sources", {})


def test_xformers_without_a_wheel_for_the_python_is_an_untuned_build() -> None:
    p = _plan(_target("550.54.14", (8, 0), "3.13"), "torch", "xformers")
    assert p.packages["xformers"].source == "build" and p.build["xformers"]["from"].startswith("its PyPI sdist")
    assert p.extra["extra-build-dependencies"]["xformers"] == [{"requirement": "torch", "match-runtime": True}]


def test_mamba_and_causal_conv1d_from_astral_else_an_untuned_build_uv_resolves() -> None:
    p = _plan(H100_580, "torch", "mamba-ssm", "causal-conv1d")
    assert {p.packages[n].index for n in ("mamba-ssm", "causal-conv1d")} == {"astral-cu130"}
    q = _plan(H100_580, "torch==2.14.1", "mamba-ssm")  # Astral builds mamba-ssm for torch <= 2.11
    assert "mamba-ssm" not in q.packages and "mamba-ssm" in q.dependencies  # the requirement as given
    assert q.extra["extra-build-dependencies"]["mamba-ssm"] == [{"requirement": "torch", "match-runtime": True}]
    assert any("builds mamba-ssm from its PyPI sdist" in w for w in q.warnings)
    with pytest.raises(UsageError):
        _plan(H100_580, "torch", "mamba-ssm", builds=["mamba-ssm"])


def test_deepspeed_from_pypi_or_with_precompiled_ops_from_astral() -> None:
    p = _plan(A100_550, "torch", "deepspeed")
    ds = p.packages["deepspeed"]
    assert ds.source == "prebuilt" and ds.index is None and any("JIT-compiled" in r for r in p.reasons)
    q = _plan(H100_580, "torch==2.11.*", "deepspeed==0.19.2")
    assert q.packages["deepspeed"].index == "astral-cu130"


# ------------------------------------------------------------------------------------------------ grid

GPUS = {"A100": (8, 0), "RTX 3090": (8, 6), "L40S": (8, 9), "H100": (9, 0), "B200": (10, 0), "RTX 5090": (12, 0)}
DRIVERS = ("535.104.05", "550.54.14", "560.35.03", "570.86.15", "575.51.03", "580.65.06", "590.44.01")
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _wheel_anywhere(target: Target, package: str, policy: str) -> str | None:
    """Some prebuilt option of ``package`` that passes every rule for some torch build the target runs."""
    providers = default_providers(pins=PINS)[package]
    for r in KB.torch:
        if target.python not in r.python:
            continue
        for tag in r.variants:
            var = Backend.parse(tag)
            if c.torch_driver(KB, target, var, policy) or c.torch_archs(target, r, var):
                continue
            tb = TorchBuild(version=r.version, variant=var, cxx11_abi=r.abi_of(var))
            for p in providers:
                for o in p(package, tb, target):
                    ok = o.prebuilt and not c.option_checks(
                        o, tb, target.python, target=target, kb=KB, policy=policy, pins=[], forced_build=False
                    )
                    if ok:
                        return f"{o.label} for torch {r.version}+{tag}"
    return None


@pytest.mark.parametrize("package", ["flash-attn", "mamba-ssm"])
def test_grid_builds_only_where_no_wheel_exists_anywhere(package: str) -> None:
    """A100, RTX 3090, L40S, H100, B200, RTX 5090 x drivers 535-590 x Python 3.10-3.13 (168 targets): count
    the plans that build, and prove for each that no prebuilt option of any source fits any torch the target
    runs (rank key 1 found none); the feasible targets are all but the Blackwell GPUs on drivers before R570."""
    feasible = builds = 0
    for (name, cc), driver, py in itertools.product(GPUS.items(), DRIVERS, PYTHONS):
        t = _target(driver, cc, py)
        try:
            p = _plan(t, "torch", package)
        except NoAnswer:
            assert cc[0] >= 10 and driver < "570", (name, driver, py)
            continue
        feasible += 1
        if package in p.build:
            builds += 1
            assert _wheel_anywhere(t, package, "strict") is None, (name, driver, py)
    assert feasible == 144
    # flash-attn: none builds (85% of these targets built before the community and index sources); mamba-ssm:
    # Python 3.13 on R535 / R550 drivers with the four pre-Blackwell GPUs (torch <= 2.6 there: no cp313
    # mamba-ssm wheel is listed for it anywhere)
    assert builds == {"flash-attn": 0, "mamba-ssm": 8}[package]
