"""Every log under tests/fixtures/uv-errors/ (the shared corpus, real issue threads, real uv failures produced
by tests/explain_scenarios.py): explain names the expected cause, states nothing the log does not support,
and every TOML fix is valid TOML. The held-out logs in heldout*/ have their own test (test_explain_heldout.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmenv.explain import explain

from .explain_checks import check_cause, check_fixes, check_supported, first_kind, load_expected, read_log

ROOT = Path(__file__).parent / "fixtures" / "uv-errors"
EXPECTED = load_expected(ROOT / "expected.toml")
LOGS = sorted(
    str(p.relative_to(ROOT)) for p in ROOT.rglob("*.txt") if not p.relative_to(ROOT).parts[0].startswith("heldout")
)


def test_every_log_has_an_expectation() -> None:
    assert sorted(EXPECTED) == LOGS


def test_corpus_is_the_shared_one() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "uv-errors"
    if not shared.is_dir():
        pytest.skip("the shared corpus is not next to this checkout")
    for f in shared.glob("*.txt"):
        assert (ROOT / f.name).read_text(encoding="utf-8") == f.read_text(encoding="utf-8"), f.name


@pytest.mark.parametrize("name", LOGS)
def test_cause_is_named(name: str) -> None:
    check_cause(name, read_log(ROOT / name), EXPECTED[name])


@pytest.mark.parametrize("name", LOGS)
def test_states_only_what_the_log_supports(name: str) -> None:
    """Every package named, and every version in a summary or in the chain, appears in the log itself."""
    check_supported(name, read_log(ROOT / name))


@pytest.mark.parametrize("name", LOGS)
def test_fixes_are_valid_edits(name: str) -> None:
    check_fixes(read_log(ROOT / name))


def test_quality_bar_on_real_logs() -> None:
    """Real logs (corpus + threads): the first cause is the expected one for every log."""
    real = [n for n in LOGS if not n.startswith("produced/")]
    right = sum(1 for n in real if first_kind(explain(read_log(ROOT / n))) == EXPECTED[n]["kind"])
    assert right == len(real)


def test_no_fix_builds_flash_attn_without_its_cuda_extension() -> None:
    """FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE makes a wheel with no CUDA extension whenever setup.py's download of the
    prebuilt wheel fails (it falls back silently): no fix may propose it."""
    for name in LOGS:
        for c in explain(read_log(ROOT / name)).causes:
            assert all("SKIP_CUDA_BUILD" not in f.edit + f.title for f in c.fixes), (name, c.kind)
