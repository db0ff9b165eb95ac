"""docs/check.md lists every code of the registry (and no code that does not exist)."""

from __future__ import annotations

import re
from pathlib import Path

from llmenv.check import RULES

DOC = Path(__file__).resolve().parents[1] / "docs" / "check.md"


def test_every_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", text, flags=re.M))
    assert documented == {r.code for r in RULES}
    for r in RULES:
        section = text.split(f"### `{r.code}`", 1)[1].split("\n### ", 1)[0]
        assert f"severity: {r.severity}" in section, r.code
