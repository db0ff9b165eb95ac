"""Every log under tests/fixtures/uv-errors/ (the shared corpus, real issue threads, real uv failures produced
by tests/explain_scenarios.py): explain names the expected cause, states nothing the log does not support,
and every TOML fix is valid TOML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomlkit

from llmenv.explain import KINDS, Diagnosis, explain
from llmenv.explain._parse import clean_lines

ROOT = Path(__file__).parent / "fixtures" / "uv-errors"
EXPECTED: dict[str, dict[str, object]] = {
    k: dict(v) for k, v in tomlkit.parse((ROOT / "expected.toml").read_text()).items()
}
LOGS = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.txt"))
_VERSION = re.compile(
    r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.post|\.dev)\d+)*(?:\+[A-Za-z0-9.]+)?(?![\w])"
)


def read_log(name: str) -> str:
    """The log without the fixture's header comment ("# source: ..."), which is not part of the output."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def _norm(s: str) -> str:
    return re.sub(r"[-_.]+", "-", s.lower())


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
    want = EXPECTED[name]
    d = explain(read_log(name))
    if want["kind"] == "unknown":
        assert d.unknown and not d.causes and d.lines
        return
    assert want["kind"] in KINDS
    assert d.causes, f"{name}: no cause; lines: {d.lines}"
    first = d.causes[0]
    assert first.kind == want["kind"], f"{name}: {d.kinds}"
    assert set(want["packages"]) <= set(first.packages), first.packages  # type: ignore[arg-type]
    assert first.summary and first.reason and first.fixes


def _supported(token: str, log: str, kind: str) -> bool:
    if token in log:
        return True
    major, minor = token.split(".")[:2]
    if kind == "driver-too-old":  # "supports CUDA 11.4" is how torch's "found version 11040" reads
        return f"found version {int(major) * 1000 + int(minor) * 10}" in log
    if kind == "gpu-arch":  # compute capability 12.0 is sm_120
        return f"sm_{major}{minor}" in log
    return False


@pytest.mark.parametrize("name", LOGS)
def test_states_only_what_the_log_supports(name: str) -> None:
    """Every package named, and every version in a summary or in the chain, appears in the log itself."""
    log = read_log(name)
    d: Diagnosis = explain(log)
    norm = _norm(log)
    flat = " ".join(" ".join(clean_lines(log)).split())
    for c in d.causes:
        for pkg in c.packages:
            torch_symbol = (
                c.kind == "abi-mismatch" and pkg == "torch" and re.search(r"_ZN\d*(?:3c10|2at|5torch)", log)
            )
            assert _norm(pkg) in norm or torch_symbol, (name, c.kind, pkg)
        for text in (c.summary, *c.chain):
            for token in _VERSION.findall(text):
                assert _supported(token, log, c.kind), (name, c.kind, token, text)
        for ev in c.evidence:
            assert " ".join(ev.split()) in flat, (name, ev)


@pytest.mark.parametrize("name", LOGS)
def test_fixes_are_valid_edits(name: str) -> None:
    for c in explain(read_log(name)).causes:
        for f in c.fixes:
            assert f.title and f.edit.strip()
            if f.kind == "pyproject":
                tomlkit.parse(f.edit)  # raises on invalid TOML
            else:
                assert "\n" not in f.edit


def test_quality_bar_on_real_logs() -> None:
    """Real logs (corpus + threads): the first cause is the expected one for every log."""
    real = [n for n in LOGS if not n.startswith("produced/")]
    right = sum(1 for n in real if (explain(read_log(n)).kinds or ("unknown",))[0] == EXPECTED[n]["kind"])
    assert right == len(real)
