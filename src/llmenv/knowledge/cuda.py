"""CUDA toolkit -> minimum NVIDIA driver (``data/cuda.json``): curated from NVIDIA's release notes, and dated.

No machine-readable source publishes Table 3 ("CUDA Toolkit and Corresponding Driver Versions"), so ``kb
refresh`` does not rewrite this table. A CUDA release whose floor is not in any source llmenv could read (13.4,
13.5 when this was written) is listed as *floor unknown*, with the place the value must come from: it is a known
CUDA version, but no driver can be named for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from packaging.version import Version

from llmenv.backend import CudaVersion, parse_cuda_version

__all__ = ["CudaTable", "UnknownFloor"]


class UnknownFloor(NamedTuple):
    """A CUDA release that exists but whose Table-3 minimum driver llmenv does not know."""

    cuda: CudaVersion
    released: str | None  # when NVIDIA published it (GA)
    where: str  # where the floor must come from
    hint: str | None = None  # what secondary sources suggest (never used as the floor)


@dataclass(frozen=True, kw_only=True)
class CudaTable:
    """CUDA toolkit -> minimum driver (strict), and per-major floors (minor-version compatibility)."""

    toolkits: tuple[tuple[CudaVersion, str], ...]  # (CUDA, minimum driver as NVIDIA writes it), ascending
    major_floors: Mapping[int, Version]
    dropped_below: Mapping[int, tuple[int, int]]  # CUDA major -> lowest compute capability it can build
    sources: Mapping[str, str]
    verified: str
    unknown_floors: tuple[UnknownFloor, ...] = ()  # ascending

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CudaTable:
        known = [t for t in d["toolkits"] if t.get("min_driver")]
        toolkits = tuple(sorted((parse_cuda_version(t["cuda"]), str(t["min_driver"])) for t in known))
        unknown = sorted(
            (
                UnknownFloor(
                    cuda=parse_cuda_version(t["cuda"]),
                    released=t.get("released"),
                    where=str(t["floor_source"]),
                    hint=t.get("hint"),
                )
                for t in d["toolkits"]
                if not t.get("min_driver")
            ),
            key=lambda u: u.cuda,
        )
        floors = {int(f["major"]): Version(f["min_driver"]) for f in d["minor_compat"]}
        dropped = {}
        for x in d.get("dropped_archs", ()):
            major, minor = (int(p) for p in str(x["below"]).split("."))
            dropped[int(x["cuda_major"])] = (major, minor)
        return cls(
            toolkits=toolkits,
            major_floors=floors,
            dropped_below=dropped,
            sources=d["sources"],
            verified=d["verified"],
            unknown_floors=tuple(unknown),
        )

    @property
    def newest(self) -> CudaVersion:
        """The newest CUDA release the table knows of (its floor may be unknown)."""
        return max([c for c, _ in self.toolkits] + [u.cuda for u in self.unknown_floors])

    def unknown_floor(self, cuda: CudaVersion) -> UnknownFloor | None:
        """The entry for a CUDA release known to exist whose minimum driver is unknown."""
        return next((u for u in self.unknown_floors if u.cuda == cuda), None)

    def max_cuda(self, driver: str) -> CudaVersion | None:
        """The newest CUDA toolkit whose minimum driver (Table 3) is <= ``driver``; None below CUDA 11.8.

        A CUDA release with an unknown floor is never the answer: nothing says this driver runs it.
        """
        v = Version(driver)
        best = None
        for cuda, floor in self.toolkits:
            if v >= Version(floor):
                best = cuda
        return best

    def min_driver(self, cuda: CudaVersion) -> str | None:
        """Table 3's minimum driver for this CUDA minor (or the next listed minor when it is absent); None when
        the floor is unknown (13.4 / 13.5) or the CUDA is newer than the table."""
        if self.unknown_floor(cuda) is not None:
            return None
        for c, floor in self.toolkits:
            if c >= cuda:
                return floor if not any(cuda <= u.cuda < c for u in self.unknown_floors) else None
        return None

    def runs(self, cuda: CudaVersion, *, driver_cuda: CudaVersion, driver: str | None, policy: str) -> bool:
        """Can a driver whose own CUDA version is ``driver_cuda`` run binaries built with ``cuda``?

        strict: only if ``cuda <= driver_cuda``. minor: also any newer minor of the same major, when the driver
        is at least that major's minor-version-compatibility floor (what uv's ``--torch-backend=auto`` does).
        """
        if cuda <= driver_cuda:
            return True
        if policy != "minor" or cuda.major != driver_cuda.major:
            return False
        floor = self.major_floors.get(cuda.major)
        if floor is None:
            return False
        return driver is None or Version(driver) >= floor
