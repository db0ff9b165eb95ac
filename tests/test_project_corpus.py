"""`llmenv init` on real projects: the user's file is the constraint (issue 12).

Every file of the shared corpus (tests/fixtures/pyprojects, 26 files) and of the projects collected for this issue
(tests/fixtures/real_projects, with repo and commit in its README) is initialised for one GPU machine. The answer
is either a refusal (exit 1, the file's bytes unchanged, the reason naming what in the file stops it) or a file
that keeps every property of the user's (tests/project_props.py), that `llmenv check` finds no new error in, that
a second run and a run with no arguments leave byte-identical, and whose CRLF twin (the same file checked out
with core.autocrlf) gets the same edit in CRLF.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.check import check_text

from . import project_props
from .conftest import FIXTURES

CORPUS = sorted((FIXTURES / "pyprojects").glob("*.toml"))
REAL = FIXTURES / "real_projects"
MANIFEST = {r["file"]: r for r in json.loads((REAL / "manifest.json").read_text())}
FILES = CORPUS + sorted(REAL / f for f in MANIFEST)
GPU = ["--driver", "580.65.06", "--gpu", "9.0", "--cpus", "16", "--memory", "125"]


def _python(text: str) -> str:
    """A Python the file allows (the target's): 3.12 when it can, else the first it takes."""
    import tomlkit

    rp = tomlkit.parse(text).unwrap().get("project", {}).get("requires-python")
    spec = SpecifierSet(rp if isinstance(rp, str) else "")
    for py in ("3.12", "3.11", "3.13", "3.10", "3.14"):
        if spec.contains(Version(f"{py}.0"), prereleases=True) or spec.contains(Version(f"{py}.9")):
            return py
    return "3.12"


def _project(tmp_path: Path, path: Path, text: str) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "pyproject.toml").write_bytes(text.encode("utf-8"))
    if MANIFEST.get(path.name, {}).get("setup_py"):
        (folder / "setup.py").write_text("from setuptools import setup\nsetup()\n")  # stands in for theirs
    return folder


def _errors(text: str) -> Counter[str]:
    return Counter(f.code for f in check_text(text).findings if f.severity == "error")


def test_the_collection_is_what_the_issue_asks_for() -> None:
    assert len(CORPUS) == 26 and len(MANIFEST) >= 20
    texts = {p.name: p.read_text(encoding="utf-8") for p in FILES}
    # Among them: dynamic dependencies, setup.py projects, extra- and group-based CUDA routing, darwin entries.
    assert any('"dependencies"' in t and "dynamic" in t for t in texts.values())
    assert sum(r["setup_py"] for r in MANIFEST.values()) >= 5
    assert any('extra = "cu' in t for t in texts.values()) and any('group = "cuda' in t for t in texts.values())
    assert any("sys_platform == 'darwin'" in t for t in texts.values())
    assert any("\n  \"" in t for t in texts.values())  # 2-space indentation


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.removesuffix(".toml"))
def test_init_keeps_the_users_intent(run_cli, tmp_path: Path, path: Path) -> None:  # type: ignore[no-untyped-def]
    original = path.read_text(encoding="utf-8")
    folder = _project(tmp_path, path, original)
    target = [*GPU, "--python", _python(original)]
    r = run_cli("init", str(folder), "torch", *target, "--json", cwd=tmp_path)
    assert r.code in (0, 1), r.err
    after = (folder / "pyproject.toml").read_text(encoding="utf-8")
    if r.code == 1:
        # A refusal changes nothing and says what in the file stops it, in one line (and a hint).
        assert after == original
        message = r.err.splitlines()[0]
        assert any(k in message for k in ("project.", "tool.uv.", "setup.py", "requires-python")), message
        return
    notes = json.loads(r.out)["notes"]
    project_props.check_all(original, after, notes)
    # `llmenv check` finds no error the file did not have.
    new_errors = _errors(after) - _errors(original)
    assert not new_errors, new_errors
    # Re-running changes nothing: with the same arguments, and with none (the inputs come from [tool.llmenv]).
    assert run_cli("init", str(folder), "torch", *target, cwd=tmp_path).code == 0
    assert (folder / "pyproject.toml").read_text(encoding="utf-8") == after
    r3 = run_cli("init", str(folder), cwd=tmp_path)
    assert r3.code == 0, r3.err
    assert (folder / "pyproject.toml").read_text(encoding="utf-8") == after


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.name.startswith(("karpathy", "fishaudio", "Lightning-AI", "volcengine", "allenai__open"))],
    ids=lambda p: p.name.removesuffix(".toml"),
)
def test_a_crlf_checkout_gets_the_same_edit_in_crlf(run_cli, tmp_path: Path, path: Path) -> None:  # type: ignore[no-untyped-def]
    original = path.read_text(encoding="utf-8")
    crlf = original.replace("\n", "\r\n")
    target = [*GPU, "--python", _python(original)]
    lf_dir = _project(tmp_path / "lf", path, original) if (tmp_path / "lf").mkdir() is None else None
    crlf_dir = _project(tmp_path / "crlf", path, crlf) if (tmp_path / "crlf").mkdir() is None else None
    assert lf_dir is not None and crlf_dir is not None
    r1 = run_cli("init", str(lf_dir), "torch", *target, cwd=tmp_path)
    r2 = run_cli("init", str(crlf_dir), "torch", *target, cwd=tmp_path)
    assert (r1.code, r2.code) == (0, 0), r1.err + r2.err
    lf = (lf_dir / "pyproject.toml").read_bytes()
    got = (crlf_dir / "pyproject.toml").read_bytes()
    assert got.count(b"\r\n") == got.count(b"\n")  # no line ending mixed in
    assert got == lf.replace(b"\n", b"\r\n")
