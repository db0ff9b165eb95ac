"""Compute backends as ordered values: ``cpu`` < ``cu118`` < ``cu124`` < ``cu130``; ROCm apart.

``cu124``, ``cu12.4``, ``cuda12.4``, ``12.4`` and ``CUDA 12.4`` all parse to the same backend. CPU sorts
lowest. Comparing a CUDA backend with a ROCm one is an error: neither is "newer".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from llmenv.errors import UsageError

__all__ = ["Backend", "CudaVersion", "parse_cuda_version"]

_CUDA_RE = re.compile(r"^(?:cu|cuda|cuda\s*)?(\d{1,2})\.?(\d)$", re.IGNORECASE)
_CUDA_DOTTED_RE = re.compile(r"^(?:cu|cuda\s*)?(\d{1,2})\.(\d{1,2})(?:\.\d+)?$", re.IGNORECASE)
_ROCM_RE = re.compile(r"^rocm(\d+)\.(\d+)$", re.IGNORECASE)


@total_ordering
@dataclass(frozen=True)
class CudaVersion:
    """A CUDA major.minor version (the patch level never matters for compatibility decisions here)."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CudaVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)


def parse_cuda_version(text: str) -> CudaVersion:
    """Parse ``12.4``, ``12.4.1``, ``cu124``, ``cuda12.4`` into a CudaVersion; UsageError otherwise."""
    s = text.strip()
    m = _CUDA_DOTTED_RE.match(s) or _CUDA_RE.match(s)
    if not m:
        raise UsageError(f"not a CUDA version: {text!r} (expected e.g. 12.4 or cu124)")
    major, minor = int(m.group(1)), int(m.group(2))
    if not 7 <= major <= 20:
        raise UsageError(f"not a CUDA version: {text!r} (CUDA major {major} does not exist)")
    return CudaVersion(major, minor)


@total_ordering
@dataclass(frozen=True)
class Backend:
    """A PyTorch build variant: ``cpu``, ``cuXYZ`` or ``rocmX.Y``."""

    kind: str  # "cpu" | "cuda" | "rocm"
    major: int = 0
    minor: int = 0

    @classmethod
    def parse(cls, text: str) -> Backend:
        s = text.strip().lower().replace(" ", "")
        if s == "cpu":
            return cls("cpu")
        m = _ROCM_RE.match(s)
        if m:
            return cls("rocm", int(m.group(1)), int(m.group(2)))
        try:
            v = parse_cuda_version(s)
        except UsageError:
            raise UsageError(
                f"unknown variant {text!r}: expected cpu, cuXYZ (e.g. cu124), CUDA X.Y or rocmX.Y"
            ) from None
        return cls("cuda", v.major, v.minor)

    @classmethod
    def cuda(cls, version: CudaVersion) -> Backend:
        return cls("cuda", version.major, version.minor)

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def cuda_version(self) -> CudaVersion | None:
        return CudaVersion(self.major, self.minor) if self.is_cuda else None

    @property
    def tag(self) -> str:
        """The name PyTorch's index uses: ``cpu``, ``cu124``, ``rocm6.2``."""
        if self.kind == "cpu":
            return "cpu"
        if self.kind == "cuda":
            return f"cu{self.major}{self.minor}"
        return f"rocm{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.tag

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Backend):
            return NotImplemented
        if self.kind == "cpu" or other.kind == "cpu":
            return self.kind == "cpu" and other.kind != "cpu"
        if self.kind != other.kind:
            raise TypeError(f"cannot compare {self.tag} with {other.tag}: CUDA and ROCm are not ordered")
        return (self.major, self.minor) < (other.major, other.minor)
