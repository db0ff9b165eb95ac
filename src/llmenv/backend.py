"""Compute backends as ordered values: ``cpu`` < ``cu118`` < ``cu124`` < ``cu130``; ROCm apart.

``cu124``, ``cu12.4``, ``cuda12.4``, ``12.4`` and ``CUDA 12.4`` all parse to the same backend. CPU sorts
lowest. Comparing a CUDA backend with a ROCm one is an error: neither is "newer".

ROCm versions are AMD's release numbers, compared as numbers: ``rocm6.2.4`` is 6.2.4 (a PyTorch index of its own,
apart from ``rocm6.2``) and ``rocm7.14`` is ROCm 7.14 — newer than 7.2, not "7.1.4" (facts H1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from llmenv.errors import UsageError

__all__ = ["Backend", "CudaVersion", "RocmVersion", "parse_cuda_version", "parse_rocm_version"]

_CUDA_RE = re.compile(r"^(?:cu|cuda|cuda\s*)?(\d{1,2})\.?(\d)$", re.IGNORECASE)
_CUDA_DOTTED_RE = re.compile(r"^(?:cu|cuda\s*)?(\d{1,2})\.(\d{1,2})(?:\.\d+)?$", re.IGNORECASE)
_ROCM_RE = re.compile(r"^rocm(\d{1,2})\.(\d{1,2})(?:\.(\d{1,2}))?$", re.IGNORECASE)
# ``6.4``, ``6.4.0``, ``6.4.0-47`` (/opt/rocm/.info/version), ``rocm6.2.4``, ``ROCm 7.14``.
_ROCM_VERSION_RE = re.compile(
    r"^(?:rocm\s*)?(\d{1,2})\.(\d{1,2})(?:\.(\d{1,3}))?(?:[-+~][\w.+~-]*)?$", re.IGNORECASE
)


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
class RocmVersion:
    """A ROCm release: major.minor, and the patch where one matters (``6.2.4``; 0 otherwise)."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch else "")

    @property
    def release(self) -> tuple[int, int]:
        """The minor release (``6.2.4`` -> (6, 2)): what AMD's compatibility statements count in."""
        return self.major, self.minor

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, RocmVersion):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)


def parse_rocm_version(text: str) -> RocmVersion:
    """Parse ``6.4``, ``6.4.0-47``, ``rocm6.2.4`` or ``7.14`` into a RocmVersion; UsageError otherwise."""
    s = text.strip()
    m = _ROCM_VERSION_RE.match(s)
    if not m:
        raise UsageError(f"not a ROCm version: {text!r} (expected e.g. 6.4 or 7.2.1)")
    major, minor = int(m.group(1)), int(m.group(2))
    if not 1 <= major <= 30:
        raise UsageError(f"not a ROCm version: {text!r} (ROCm major {major} does not exist)")
    return RocmVersion(major, minor, int(m.group(3) or 0))


@total_ordering
@dataclass(frozen=True)
class Backend:
    """A PyTorch build variant: ``cpu``, ``cuXYZ`` or ``rocmX.Y[.Z]``."""

    kind: str  # "cpu" | "cuda" | "rocm"
    major: int = 0
    minor: int = 0
    patch: int = 0  # ROCm only: rocm6.2.4

    @classmethod
    def parse(cls, text: str) -> Backend:
        s = text.strip().lower().replace(" ", "")
        if s == "cpu":
            return cls("cpu")
        m = _ROCM_RE.match(s)
        if m:
            return cls("rocm", int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
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

    @classmethod
    def rocm(cls, version: RocmVersion) -> Backend:
        return cls("rocm", version.major, version.minor, version.patch)

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def is_rocm(self) -> bool:
        return self.kind == "rocm"

    @property
    def cuda_version(self) -> CudaVersion | None:
        return CudaVersion(self.major, self.minor) if self.is_cuda else None

    @property
    def rocm_version(self) -> RocmVersion | None:
        return RocmVersion(self.major, self.minor, self.patch) if self.is_rocm else None

    @property
    def tag(self) -> str:
        """The name PyTorch's index uses: ``cpu``, ``cu124``, ``rocm6.2``, ``rocm6.2.4``."""
        if self.kind == "cpu":
            return "cpu"
        if self.kind == "cuda":
            return f"cu{self.major}{self.minor}"
        return f"rocm{RocmVersion(self.major, self.minor, self.patch)}"

    def __str__(self) -> str:
        return self.tag

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Backend):
            return NotImplemented
        if self.kind == "cpu" or other.kind == "cpu":
            return self.kind == "cpu" and other.kind != "cpu"
        if self.kind != other.kind:
            raise TypeError(f"cannot compare {self.tag} with {other.tag}: CUDA and ROCm are not ordered")
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)
