"""Checks shared by the tests that run explain on stored logs (tests/fixtures/uv-errors/ and its heldout/):
the expected cause, nothing stated that the log does not support, fixes that are valid edits."""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit

from llmenv.explain import KINDS, Diagnosis, explain
from llmenv.explain._parse import clean_lines

_VERSION = re.compile(
    r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.post|\.dev)\d+)*(?:\+[A-Za-z0-9.]+)?(?![\w])"
)


def load_expected(path: Path) -> dict[str, dict[str, object]]:
    return {k: dict(v) for k, v in tomlkit.parse(path.read_text()).items()}


def read_log(path: Path) -> str:
    """The log without the fixture's header comment ("# source: ..."), which is not part of the output."""
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines)


def _norm(s: str) -> str:
    return re.sub(r"[-_.]+", "-", s.lower())


def first_kind(d: Diagnosis) -> str:
    return (d.kinds or ("unknown",))[0]


def check_cause(name: str, log: str, want: dict[str, object]) -> None:
    """The first cause is the expected kind and lists the expected packages; "unknown" means explain says so."""
    d = explain(log)
    if want["kind"] == "unknown":
        assert d.unknown and not d.causes and d.lines, (name, d.kinds)
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


def check_supported(name: str, log: str) -> None:
    """Every package named, and every version in a summary or in the chain, appears in the log itself."""
    d = explain(log)
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


def check_fixes(log: str) -> None:
    for c in explain(log).causes:
        for f in c.fixes:
            assert f.title and f.edit.strip()
            if f.kind == "pyproject":
                tomlkit.parse(f.edit)  # raises on invalid TOML
            else:
                assert "\n" not in f.edit
