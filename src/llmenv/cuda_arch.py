"""GPU code targets (``sm_90``, ``sm_90a``, ``compute_90``) and which GPUs they run on: one rule for everyone.

NVIDIA's binary-compatibility rules (CUDA C++ Programming Guide, "Binary Compatibility" and "PTX
Compatibility"; CUDA 12.9 release notes for family-specific targets):

- SASS (a cubin, ``sm_XY``) runs on GPUs of the same major with an equal or higher minor: sm_80 code runs on 8.6
  and 8.9, never on 9.0.
- Arch-specific SASS or PTX (``sm_90a``, ``compute_90a``) runs on exactly that compute capability.
- Family-specific targets (``sm_100f``, ``compute_100f``) run on the same major with an equal or higher minor.
- PTX (``compute_XY``) is JIT-compiled by the driver for any GPU of compute capability >= XY.

Used by the planner's knowledge (``TorchVariant.covers``) and by ``llmenv doctor`` (torch's and flash-attn's
compiled architectures against the GPUs present).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ArchCode", "covers", "parse_arch_list"]

_CODE_RE = re.compile(r"^(sm|compute)_(\d{1,2})(\d)([af]?)$")


@dataclass(frozen=True, kw_only=True, order=True)
class ArchCode:
    """One compiled target: SASS (``ptx=False``) or PTX, for ``capability``, with an ``a``/``f`` suffix or none."""

    capability: tuple[int, int]
    ptx: bool = False
    suffix: str = ""  # "" | "a" (arch-specific) | "f" (family-specific)

    @classmethod
    def parse(cls, text: str) -> ArchCode | None:
        """``sm_90``, ``sm_90a``, ``compute_120``, ``sm_100f`` -> ArchCode; None for anything else."""
        m = _CODE_RE.match(text.strip().lower())
        if not m:
            return None
        kind, major, minor, suffix = m.groups()
        return cls(capability=(int(major), int(minor)), ptx=kind == "compute", suffix=suffix)

    @property
    def name(self) -> str:
        major, minor = self.capability
        return f"{'compute' if self.ptx else 'sm'}_{major}{minor}{self.suffix}"

    def runs_on(self, cc: tuple[int, int]) -> bool:
        """Can a GPU of compute capability ``cc`` run this code?"""
        if self.suffix == "a":
            return cc == self.capability
        if self.ptx and not self.suffix:
            return self.capability <= cc
        return self.capability[0] == cc[0] and self.capability[1] <= cc[1]


def covers(codes: Iterable[ArchCode], cc: tuple[int, int]) -> bool:
    """Does any of ``codes`` run on a GPU of compute capability ``cc``?"""
    return any(c.runs_on(cc) for c in codes)


def parse_arch_list(names: Iterable[str]) -> tuple[ArchCode, ...]:
    """``torch.cuda.get_arch_list()`` (``['sm_80', 'sm_90', 'compute_90']``) -> sorted codes; unknown names dropped."""
    return tuple(sorted({c for c in (ArchCode.parse(n) for n in names) if c is not None}))
