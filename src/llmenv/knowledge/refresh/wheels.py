"""What a torch wheel's bytes say, read by HTTP range requests: CUDA or ROCm inside, architectures, C++ ABI.

Only the zip's directory and one member, ``torch/lib/libtorch_python.so``, are read (streamed and decompressed
as it arrives, never stored):

* the architectures: the string ``torch._C._cuda_getArchFlags()`` returns is compiled into it
  (``sm_70 sm_75 ... sm_120``, ``compute_120`` for embedded PTX; ROCm builds: ``gfx90a;gfx942;...``);
* the C++ ABI: a cxx11-ABI build's symbols mention ``__cxx11`` thousands of times, a pre-cxx11 one never;
* whether it is a GPU build: ``torch/lib/libtorch_cuda.so`` (or ``libtorch_hip.so``) is in the directory.

Nothing read is run. Results are cached by file URL + sha256 (a file on an index never changes).
"""

from __future__ import annotations

import re
import threading
import zipfile
from dataclasses import dataclass
from typing import Any

from llmenv.pypi import BadDistribution, DistFile, PyPIClient

__all__ = ["TorchBinary", "arch_names", "scan_torch_wheel"]

_CACHE = "torch-wheel-v1"
_MEMBER = "torch/lib/libtorch_python.so"
_CUDA_LIBS = ("torch/lib/libtorch_cuda.so", "torch/lib/libtorch_cuda_cu.so")
_HIP_LIBS = ("torch/lib/libtorch_hip.so",)
_ARCH_RE = re.compile(rb"(?:sm|compute)_\d{2,3}[af]?(?: (?:sm|compute)_\d{2,3}[af]?)+")
_GFX_RE = re.compile(rb"gfx[0-9a-f]{3,4}(?:[; ]gfx[0-9a-f]{3,4})+")
_CXX11 = b"__cxx11"
_OVERLAP = 512  # bytes kept between chunks so a string cut in two is still found
_CXX11_MIN = 100  # more __cxx11 mentions than this: a cxx11-ABI build


@dataclass(frozen=True, kw_only=True)
class TorchBinary:
    gpu: str | None  # "cuda" | "rocm" | None (a CPU-only wheel)
    archs: tuple[str, ...] | None  # ("8.0", "9.0", "12.0+PTX"); None: no arch string found
    gfx: tuple[str, ...] | None
    cxx11_abi: bool | None  # None: the count was neither clearly 0 nor clearly many

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "archs": list(self.archs) if self.archs is not None else None,
            "gfx": list(self.gfx) if self.gfx is not None else None,
            "cxx11_abi": self.cxx11_abi,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TorchBinary:
        return cls(
            gpu=d.get("gpu"),
            archs=tuple(d["archs"]) if d.get("archs") is not None else None,
            gfx=tuple(d["gfx"]) if d.get("gfx") is not None else None,
            cxx11_abi=d.get("cxx11_abi"),
        )


def arch_names(flags: str) -> tuple[str, ...]:
    """``"sm_70 sm_80 sm_90 compute_90"`` -> ``("7.0", "8.0", "9.0+PTX")`` (the table's form).

    Arch-specific targets (``sm_90a``) are left out: the table lists the portable SASS; PTX is marked on the
    architecture it was generated for (added as its own entry when no SASS of it exists)."""
    sass: list[tuple[int, int]] = []
    ptx: list[tuple[int, int]] = []
    for word in flags.split():
        m = re.fullmatch(r"(sm|compute)_(\d{1,2})(\d)", word)
        if not m:
            continue
        cc = (int(m.group(2)), int(m.group(3)))
        (ptx if m.group(1) == "compute" else sass).append(cc)
    out = sorted(set(sass) | set(ptx))
    return tuple(f"{a}.{b}" + ("+PTX" if (a, b) in ptx else "") for a, b in out)


class _Scan:
    """Feed decompressed chunks; keeps the longest arch / gfx string and counts ``__cxx11``."""

    def __init__(self) -> None:
        self.cxx11 = 0
        self.arch = b""
        self.gfx = b""
        self._tail = b""

    def feed(self, data: bytes) -> None:
        buf = self._tail + data
        self.cxx11 += buf.count(_CXX11) - self._tail.count(_CXX11)
        for m in _ARCH_RE.finditer(buf):
            if len(m.group(0)) > len(self.arch):
                self.arch = m.group(0)
        for m in _GFX_RE.finditer(buf):
            if len(m.group(0)) > len(self.gfx):
                self.gfx = m.group(0)
        self._tail = buf[-_OVERLAP:]


def _read(zf: zipfile.ZipFile, filename: str, cancel: threading.Event | None) -> TorchBinary:
    names = set(zf.namelist())
    gpu = "cuda" if names & set(_CUDA_LIBS) else "rocm" if names & set(_HIP_LIBS) else None
    if _MEMBER not in names:
        raise BadDistribution(f"{filename}: no {_MEMBER}")
    scan = _Scan()
    with zf.open(_MEMBER) as f:
        while chunk := f.read(1 << 20):
            if cancel is not None and cancel.is_set():
                raise InterruptedError("cancelled")
            scan.feed(chunk)
    abi = True if scan.cxx11 > _CXX11_MIN else False if scan.cxx11 == 0 else None
    archs = arch_names(scan.arch.decode()) if scan.arch else None
    gfx = tuple(sorted(set(re.split(r"[; ]", scan.gfx.decode())))) if scan.gfx else None
    return TorchBinary(gpu=gpu, archs=archs or None, gfx=gfx, cxx11_abi=abi)


def scan_torch_wheel(
    client: PyPIClient, file: DistFile, *, cancel: threading.Event | None = None
) -> TorchBinary:
    """Read a torch wheel's directory and ``libtorch_python.so`` (cached by URL + sha256)."""
    key = f"{file.url}#{file.sha256 or ''}"
    cached = client.cache.get(_CACHE, key) if client.cache else None
    if isinstance(cached, dict) and "gpu" in cached:
        client.stats.add("metadata_cached")
        return TorchBinary.from_dict(cached)
    got = client.read_zip(file, lambda zf: _read(zf, file.filename, cancel))
    client.stats.source("wheel-scan")
    if client.cache:
        client.cache.put(_CACHE, key, got.to_dict())
    return got
