"""check on the whole real files the new rules were built against (tests/fixtures/check/real/README.md): it
finds there what `uv lock` stops at (the derived copies in test_check_uv.py are the ones locked)."""

from __future__ import annotations

from pathlib import Path

from llmenv.check import Catalog, check_path
from llmenv.knowledge.pins import load_pins

from .check_index import catalog

REAL = Path(__file__).parent / "fixtures" / "check" / "real"
PINS = load_pins(Path("/nonexistent"))


def by_code(report_findings, code):  # type: ignore[no-untyped-def]
    return [f for f in report_findings if f.code == code]


def test_unsloth_conflicting_urls_and_the_bitsandbytes_url() -> None:
    report = check_path(REAL / "unslothai__unsloth__pyproject.toml", catalog=Catalog(pins=PINS))
    names = {f.message.split(" ", 1)[0] for f in by_code(report.findings, "conflicting-urls")}
    assert {"xformers", "flash-attn", "torch", "torchvision", "triton"} <= names
    (bnb,) = by_code(report.findings, "url-version-mismatch")
    assert "bitsandbytes is version 1.33.7rc0" in bnb.message and '"bitsandbytes==0.45.5"' in bnb.message
    assert all(f.severity == "error" for f in by_code(report.findings, "conflicting-urls"))


def test_unsloth_matplotlib_needs_a_newer_python_than_the_project_allows() -> None:
    report = check_path(REAL / "unslothai__unsloth__pyproject.toml", catalog=catalog(pins=PINS))
    (f,) = by_code(report.findings, "requires-python-below-package")
    assert f.location == "project.optional-dependencies.studio[8]"
    assert '"matplotlib==3.10.9" needs Python >=3.10' in f.message and '"matplotlib==3.9.4"' in f.fix


def test_simplerl_offline_and_online() -> None:
    path = REAL / "hkust-nlp__simpleRL-reason__pyproject.toml"
    offline = check_path(path, catalog=Catalog(pins=PINS))
    (ray,) = by_code(offline.findings, "python-without-wheels")  # ray is tracked by the bundled snapshot
    assert ray.location == "project.dependencies[8]" and 'requires-python = ">=3.8,<3.12"' in ray.fix
    assert not by_code(offline.findings, "requires-python-below-package")
    assert "math-verify" in by_code(offline.findings, "python-not-checked")[0].message
    online = check_path(path, catalog=catalog(pins=PINS))
    (mv,) = by_code(online.findings, "requires-python-below-package")
    assert mv.location == "project.dependencies[15]" and online.errors >= 1
