"""The one ordering of candidates, kept as data (``RANKING``) and applied by ``rank_key``.

A candidate is better than another when its key is smaller, comparing the keys in the order of ``RANKING``
(documented in docs/planning.md). The search walks the candidates in this order (``order_*``), so the first
candidate that satisfies every constraint is the best one; ``rank_key`` is the same order written as one value,
used to compare a candidate needing a source build with one that does not, and by the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import total_ordering
from typing import Any, Protocol, TypeVar

from packaging.version import Version

from llmenv.backend import Backend

__all__ = ["RANKING", "Desc", "RankKey", "order_options", "order_pythons", "order_torch", "rank_key"]


@dataclass(frozen=True)
class RankKey:
    name: str
    rule: str


RANKING: tuple[RankKey, ...] = (
    RankKey("builds", "no source build of a compiled extension, when any candidate avoids one"),
    RankKey("framework", "the newest framework release (verl, OpenRLHF) the pins allow"),
    RankKey("engine", "then the newest engine release (vLLM, SGLang)"),
    RankKey("cuda-major", "the newest CUDA major the driver runs and the GPUs' architectures are covered by"),
    RankKey("torch", "the newest torch release"),
    RankKey("cuda-minor", "the newest CUDA minor of that major"),
    RankKey(
        "python",
        "the Python: the one --python (or this machine) gives when it works, else the highest every chosen "
        "binary package has wheels for",
    ),
    RankKey("relaxed", "the fewest framework pins relaxed (--allow-overrides)"),
    RankKey("extension", "the newest compiled-extension release, then the earlier wheel source"),
)


@total_ordering
@dataclass(frozen=True)
class Desc:
    """Orders a value the other way round: ``Desc(2) < Desc(1)`` (newest first)."""

    value: Any

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Desc):
            return NotImplemented
        return bool(other.value < self.value)


_ZERO = Version("0")


def _v(version: Version | None) -> Desc:
    return Desc(version if version is not None else _ZERO)


class _Option(Protocol):
    @property
    def version(self) -> Version: ...
    @property
    def prebuilt(self) -> bool: ...
    @property
    def priority(self) -> int: ...


class _Ranked(Protocol):
    """What the ranking reads of a candidate."""

    @property
    def builds(self) -> int: ...
    @property
    def framework_version(self) -> Version | None: ...
    @property
    def engine_version(self) -> Version | None: ...
    @property
    def variant(self) -> Backend | None: ...
    @property
    def torch_version(self) -> Version | None: ...
    @property
    def python(self) -> str: ...
    @property
    def relaxed_count(self) -> int: ...
    @property
    def option_order(self) -> tuple[tuple[Version, int], ...]: ...


def _cuda(variant: Backend | None) -> tuple[Desc, Desc]:
    """A CUDA (or ROCm) build's major and minor, newest first; the CPU build last."""
    if variant is None or not (variant.is_cuda or variant.is_rocm):
        return Desc(-1), Desc((-1, -1))
    return Desc(variant.major), Desc((variant.minor, variant.patch))


def python_preference(python: str, preferred: str | None) -> tuple[int, Desc]:
    """The preferred Python first, then the highest."""
    return (0 if python == preferred else 1, Desc(Version(python)))


def rank_key(c: _Ranked, preferred_python: str | None) -> tuple[Any, ...]:
    """The candidate's place in ``RANKING`` (smaller is better), one element per key."""
    major, minor = _cuda(c.variant)
    return (
        c.builds,
        _v(c.framework_version),
        _v(c.engine_version),
        major,
        _v(c.torch_version),
        minor,
        python_preference(c.python, preferred_python),
        c.relaxed_count,
        tuple((Desc(v), source) for v, source in c.option_order),
    )


class _TorchLike(Protocol):
    @property
    def version(self) -> Version: ...
    @property
    def variant(self) -> Backend: ...


T = TypeVar("T", bound=_TorchLike)


def order_torch(options: Iterable[T]) -> list[T]:
    """CUDA major first, then the torch release, then the CUDA minor (keys cuda-major, torch, cuda-minor)."""

    def key(o: T) -> tuple[Any, ...]:
        major, minor = _cuda(o.variant)
        return (major, Desc(o.version), minor)

    return sorted(options, key=key)


def order_pythons(pythons: Iterable[str], preferred: str | None) -> list[str]:
    return sorted(set(pythons), key=lambda p: python_preference(p, preferred))


OptionT = TypeVar("OptionT", bound=_Option)


def order_options(options: Sequence[OptionT]) -> list[OptionT]:
    """Prebuilt before build, then the sources you named (``priority``), then the newest version; equal ones
    keep their provider order (sort is stable)."""
    return sorted(options, key=lambda o: (not o.prebuilt, o.priority, Desc(o.version)))
