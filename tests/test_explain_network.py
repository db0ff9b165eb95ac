"""Network failures, read from real uv runs (tests/fixtures/uv-errors/produced/network_*.txt: recorded where only
PyPI resolves, or produced offline against hosts that never resolve): the fix replaces the host that failed with
the knob for that host, never proposes the host that failed or one the project already uses, and a DNS failure is
not treated as a timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmenv.explain import explain, read_project

from .explain_checks import read_log
from .pypi_server import IndexServer

PRODUCED = Path(__file__).parent / "fixtures" / "uv-errors" / "produced"


def _first(name: str, pyproject: str | None = None):  # type: ignore[no-untyped-def]
    project = read_project('[project]\nname = "demo"\nversion = "0.1.0"\n' + pyproject) if pyproject else None
    d = explain(read_log(PRODUCED / f"{name}.txt"), project)
    assert d.causes and d.causes[0].kind == "network", d.kinds
    return d.causes[0]


def _edits(c) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f.title + " " + f.edit for f in c.fixes)


@pytest.mark.parametrize("name", sorted(p.stem for p in PRODUCED.glob("network_*.txt")))
def test_a_dns_failure_is_not_a_timeout(name: str) -> None:
    c = _first(name)
    assert "resolve" in c.summary and "UV_HTTP_TIMEOUT" not in _edits(c), (c.summary, _edits(c))


def test_pytorch_index_unreachable_gets_a_pytorch_mirror_or_pypi_not_tuna() -> None:
    c = _first("network_torch_index")
    assert "download.pytorch.org" in c.summary
    edits = _edits(c)
    assert "tuna" not in edits  # tuna mirrors PyPI, not the PyTorch index
    assert "--mirror aliyun" in c.fixes[0].edit and "--torch-index pypi" in edits and "nju" in edits


def test_pytorch_index_fix_edits_the_projects_own_index_entry() -> None:
    c = _first("network_torch_index", '\n[[tool.uv.index]]\nname = "pytorch-cu124"\n'
               'url = "https://download.pytorch.org/whl/cu124"\nexplicit = true\n')
    assert c.fixes[0].kind == "pyproject"
    assert 'name = "pytorch-cu124"' in c.fixes[0].edit and "mirrors.aliyun.com/pytorch-wheels/cu124/" in c.fixes[0].edit
    assert 'format = "flat"' in c.fixes[0].edit


def test_a_failing_mirror_is_never_proposed_again() -> None:
    c = _first("network_aliyun_torch")
    assert all("aliyun" not in f.edit for f in c.fixes) and "nju" in c.fixes[0].edit
    t = _first("network_tuna_default")
    assert all("tuna" not in f.edit for f in t.fixes) and "--mirror aliyun" in t.fixes[0].edit


def test_a_mirror_the_project_already_uses_is_not_proposed() -> None:
    c = _first("network_tuna_default", '\n[[tool.uv.index]]\nname = "tuna"\nurl = "https://pypi.tuna.tsinghua.edu.cn/simple"\n'
               'default = true\n\n[[tool.uv.index]]\nname = "a"\nurl = "https://mirrors.aliyun.com/pypi/simple/"\n')
    assert all("aliyun" not in f.edit and "tuna.tsinghua" not in f.edit for f in c.fixes)
    assert c.fixes[0].edit.startswith("[[tool.uv.index]]\nname = \"tuna\"")  # the project's entry, a new URL


def test_github_release_wheel_gets_the_github_proxy_or_a_wheel_mirror() -> None:
    c = _first("network_github_wheel")
    assert "--github-proxy" in c.fixes[0].edit and "--flash-attn-wheels" in _edits(c)
    assert "flash-attn" in c.packages


def test_python_download_gets_a_python_mirror() -> None:
    c = _first("network_python_download")
    assert "python-install-mirror" in c.fixes[0].edit and "--python-mirror" in _edits(c)


def test_git_source_gets_its_release_or_a_proxy() -> None:
    c = _first("network_git_github")
    assert c.summary.startswith("git could not resolve github.com") and c.packages == ("verl",)
    assert c.fixes[0].edit == "uv lock --no-sources-package verl"
    assert "insteadOf" in c.fixes[1].edit
    other = _first("network_git_unresolvable")
    assert len(other.fixes) == 1  # no GitHub proxy for a host that is not GitHub


def test_a_timeout_is_a_timeout(tmp_path: Path) -> None:
    """The real uv against a local index that never answers: a timeout, with the longer timeout among the fixes."""
    from .explain_scenarios import _project, run_uv

    server = IndexServer(hang={"/simple/numpy"}).start()
    try:
        _project(tmp_path / "p", f'dependencies = ["numpy"]\n\n[[tool.uv.index]]\nname = "slow"\nurl = "{server.url}"\n'
                 "default = true\n")
        code, out = run_uv(["lock"], tmp_path / "p", tmp_path, {"UV_HTTP_TIMEOUT": "1", "UV_HTTP_RETRIES": "0"})
    finally:
        server.stop()
    assert code != 0
    c = explain(out).causes[0]
    assert c.kind == "network" and "timed out" in c.summary, out
    assert any("UV_HTTP_TIMEOUT" in f.edit for f in c.fixes)
