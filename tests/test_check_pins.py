"""Specifier intersection, exact pins, URL classification and the marker sample behind `llmenv check`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.check import Project, loc
from llmenv.check._envs import sample
from llmenv.check._pins import can_both_hold, exact_version
from llmenv.check._urls import cuda_variant, is_insecure, is_pytorch_index, variant


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        ("~=0.15.4", "~=0.18.0", False),
        ("~=0.13", "~=0.14.0", True),
        ("==2.6.0", "==2.6.0+cu124", True),
        ("==2.6.0+cpu", "==2.6.0+cu124", False),
        (">=2.0", "<2.0", False),
        (">1.0", "<1.1", True),
        (">1.0", "<1.0.1", True),
        ("==2.6.*", ">=2.6.3", True),
        ("==2.6.*", "==2.7.0", False),
        ("==0.12", "~=0.18.0", False),
        ("<=0.6.6.post1,>=0.5.3", "==0.6.4.post1", True),
        ("", "==1.0", True),
        ("===foo", "==1.0", True),
        ("!=2.44.*,>=2.43.0", "==2.44.1", False),
    ],
)
def test_can_both_hold(a: str, b: str, ok: bool) -> None:
    assert can_both_hold(SpecifierSet(a), SpecifierSet(b)) is ok
    assert can_both_hold(SpecifierSet(b), SpecifierSet(a)) is ok


versions = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).map(
    lambda t: Version(".".join(map(str, t)))
)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~="])


@given(
    st.lists(st.tuples(ops, versions), min_size=1, max_size=3),
    st.lists(st.tuples(ops, versions), min_size=1, max_size=3),
)
def test_never_calls_a_satisfiable_pair_a_clash(
    xs: list[tuple[str, Version]], ys: list[tuple[str, Version]]
) -> None:
    """Whenever some small version satisfies both sets, can_both_hold must say so (no false clash)."""

    def spec(items: list[tuple[str, Version]]) -> SpecifierSet:
        return SpecifierSet(
            ",".join(f"{op}{v}" if op != "~=" else f"~={v.major}.{v.minor}" for op, v in items)
        )

    a, b = spec(xs), spec(ys)
    grid = [Version(f"{i}.{j}.{k}") for i in range(5) for j in range(5) for k in range(5)]
    if any(a.contains(v) and b.contains(v) for v in grid):
        assert can_both_hold(a, b)


@pytest.mark.parametrize(
    ("req", "pin"),
    [
        ("vllm==0.8.5", "0.8.5"),
        ("torch==2.6.*", None),
        ("torch>=2.6", None),
        ("x==1,<2", None),
        ("x @ https://e.com/x-1.0-py3-none-any.whl", None),
        ("sglang[srt]===0.4.6", "0.4.6"),
    ],
)
def test_exact_version(req: str, pin: str | None) -> None:
    assert exact_version(Requirement(req)) == pin


@pytest.mark.parametrize(
    ("url", "pytorch", "var"),
    [
        ("https://download.pytorch.org/whl/cu124", True, "cu124"),
        ("https://download.pytorch.org/whl/nightly/cu130", True, "cu130"),
        ("https://download.pytorch.org/whl/cpu", True, "cpu"),
        ("https://download.pytorch.org/whl/rocm6.2", True, "rocm6.2"),
        ("https://mirrors.aliyun.com/pytorch-wheels/cu121/", True, "cu121"),
        ("https://mirror.nju.edu.cn/pytorch/whl/cu126", True, "cu126"),
        ("https://wheels.astral.sh/simple/cu130/", False, "cu130"),
        ("https://pypi.tuna.tsinghua.edu.cn/simple", False, None),
        ("https://example.com/custom/whl", False, None),
    ],
)
def test_url_kinds(url: str, pytorch: bool, var: str | None) -> None:
    assert is_pytorch_index(url) is pytorch
    v = variant(url)
    assert (v.tag if v else None) == var
    assert (cuda_variant(url) is not None) is (var is not None and var.startswith("cu"))


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("http://pypi.example.com/simple", True),
        ("https://x", False),
        ("http://localhost:8080/simple", False),
        ("http://127.0.0.1/simple", False),
        ("http://[::1]:3141/", False),
        ("file:///opt/wheels", False),
        ("http://devpi.localhost/simple", False),
    ],
)
def test_insecure(url: str, insecure: bool) -> None:
    assert is_insecure(url) is insecure


def test_loc() -> None:
    assert loc("tool", "uv", "sources", "torch", 1, "index") == "tool.uv.sources.torch[1].index"
    assert loc("tool", "uv", "index", 2, "format") == "tool.uv.index[2].format"
    assert loc("tool", "uv", "sources", "ruamel.yaml") == 'tool.uv.sources."ruamel.yaml"'


def test_sample_follows_requires_python_and_environments() -> None:
    p = Project.from_dict(
        {
            "project": {"requires-python": ">=3.12,<3.14"},
            "tool": {"uv": {"environments": ["sys_platform == 'linux' and platform_machine == 'x86_64'"]}},
        }
    )
    envs = sample(p)
    assert {(e.sys_platform, e.machine) for e in envs} == {("linux", "x86_64")}
    assert {e.python for e in envs} == {"3.12", "3.13"}


def test_project_view_tolerates_wrong_types() -> None:
    p = Project.from_dict(
        {
            "project": {"dependencies": "torch", "optional-dependencies": [1]},
            "tool": {"uv": {"index": {"url": 1}, "sources": {"torch": "cu124"}, "conflicts": "x"}},
        }
    )
    assert (p.deps, p.indexes, dict(p.sources), p.conflicts) == ((), (), {}, ())
