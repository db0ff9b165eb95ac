"""One rule for "does this compiled code run on that GPU", shared by the knowledge and the doctor."""

from __future__ import annotations

import pytest

from llmenv.backend import Backend
from llmenv.cuda_arch import ArchCode, covers, parse_arch_list
from llmenv.knowledge import TorchVariant


@pytest.mark.parametrize(
    ("name", "cc", "runs"),
    [
        ("sm_80", (8, 0), True),
        ("sm_80", (8, 6), True),  # same major, newer minor
        ("sm_86", (8, 0), False),  # never on an older minor
        ("sm_80", (9, 0), False),  # SASS never crosses a major
        ("sm_90a", (9, 0), True),
        ("sm_100a", (10, 3), False),  # arch-specific: that GPU only
        ("sm_100f", (10, 3), True),  # family-specific: later minors of the family
        ("sm_100f", (12, 0), False),
        ("compute_90", (12, 0), True),  # PTX: JIT for any newer GPU
        ("compute_90", (8, 9), False),
        ("compute_90a", (10, 0), False),
        ("sm_120", (12, 1), True),
    ],
)
def test_runs_on(name: str, cc: tuple[int, int], runs: bool) -> None:
    code = ArchCode.parse(name)
    assert code is not None and code.name == name
    assert code.runs_on(cc) is runs


def test_parse_arch_list_keeps_known_codes_sorted() -> None:
    codes = parse_arch_list(["sm_90", "compute_90", "sm_80", "gfx90a", "sm_80"])
    assert [c.name for c in codes] == ["sm_80", "sm_90", "compute_90"]
    assert ArchCode.parse("lto_90") is None


def test_torch_variant_covers_uses_the_same_rule() -> None:
    v = TorchVariant(backend=Backend.parse("cu130"), archs=((7, 5), (8, 0), (9, 0)), ptx=True, status="V")
    assert [c.name for c in v.codes] == ["sm_75", "sm_80", "sm_90", "compute_90"]
    for cc in [(7, 0), (7, 5), (8, 9), (9, 0), (10, 0), (12, 0)]:
        assert v.covers(cc) is covers(v.codes, cc)
    assert not v.covers((7, 0)) and v.covers((12, 0))
    no_ptx = TorchVariant(backend=Backend.parse("cu130"), archs=((9, 0),), ptx=False, status="V")
    assert not no_ptx.covers((10, 0))
