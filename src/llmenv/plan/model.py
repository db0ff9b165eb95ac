"""What the planner returns: a Plan made of Choices, with the Rejections that explain every alternative.

Frozen, plain data. ``Plan.to_dict`` is the ``plan --json`` contract (docs/planning.md, PRODUCT.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmenv.indexes import IndexSpec, TorchSource
from llmenv.target import Target

__all__ = ["REJECTION_KINDS", "TORCH_FAMILY", "Attempt", "Choice", "Plan", "Rejection"]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
# fact: a cited fact rules it out; pin: a requirement (yours, a framework's, an engine's) excludes it;
# ranking: it works, but a better-ranked candidate was chosen (``take`` says how to get it); uv: ``uv lock``
# failed on it (the closed loop).
REJECTION_KINDS = ("fact", "pin", "ranking", "uv")


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One planned package."""

    name: str
    version: str
    source: str  # index | pypi | prebuilt | build | path | default
    variant: str | None = None
    url: str | None = None
    index: str | None = None
    extras: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "source": self.source}
        if self.variant:
            d["variant"] = self.variant
        if self.url:
            d["url"] = self.url
        if self.index:
            d["index"] = self.index
        if self.extras:
            d["extras"] = list(self.extras)
        return d


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """Why ``package`` ``version`` (``+variant``) is not in the plan. ``fact`` names the knowledge it rests on
    (a table, a release's metadata); ``take`` how to get it anyway (ranking rejections)."""

    package: str
    version: str
    reason: str
    variant: str | None = None
    kind: str = "fact"
    take: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"package": self.package, "version": self.version}
        if self.variant:
            d["variant"] = self.variant
        d["reason"] = self.reason
        d["kind"] = self.kind
        if self.take:
            d["take"] = self.take
        return d

    @property
    def text(self) -> str:
        """The reason with the way to take it, as one clause."""
        return f"{self.reason}: {self.take}" if self.take else self.reason

    def __str__(self) -> str:
        v = f"{self.version}+{self.variant}" if self.variant else self.version
        return f"{self.package} {v}: {self.text}"


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One ``uv lock`` of a candidate (``init --lock``, ``plan --verify``)."""

    number: int
    candidate: str  # in words: "openrlhf 0.8.3, vllm 0.8.5.post1, torch 2.6.0+cu124, Python 3.11"
    ok: bool
    reason: str = ""  # uv's failure in one line
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"attempt": self.number, "candidate": self.candidate, "ok": self.ok}
        if self.reason:
            d["reason"] = self.reason
        d["seconds"] = round(self.seconds, 2)
        return d


def _build_dict(b: Any) -> dict[str, Any]:
    """One platform's torch build of a lock for several platforms (``llmenv.platforms.PlatformBuild``)."""
    d: dict[str, Any] = {"platform": b.platform, "torch": b.version, "variant": b.variant}
    d["index"] = b.index.name if b.index is not None else None
    if b.warning:
        d["warning"] = b.warning
    return d


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A whole stack for one target. ``pythons``: the Python minors the project supports, ascending, the first
    being the planned one (written to ``.python-version``) and the last the highest every chosen binary package
    has wheels for; ``requires_python`` is their range."""

    target: Target
    policy: str
    pythons: tuple[str, ...]
    packages: Mapping[str, Choice]
    dependencies: tuple[str, ...]  # PEP 508 lines for [project] dependencies
    torch_source: TorchSource
    indexes: tuple[IndexSpec, ...] = ()
    build: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    overrides: tuple[Mapping[str, Any], ...] = ()
    reasons: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    warnings: tuple[str, ...] = ()
    # Planner sections for the renderer: sources, extra-build-dependencies / -variables, dependency-metadata,
    # optional-dependencies, conflicts, torch-by-extra, paths.
    extra: Mapping[str, Any] = field(default_factory=dict)
    attempts: tuple[Attempt, ...] = ()
    verified: bool = False  # a real `uv lock` of this plan succeeded
    candidate: str = ""  # the chosen candidate in words
    key: tuple[str, ...] = ()  # its identity (the closed loop's feedback refers to it)
    # What the closed loop needs to read uv's verdict: every package the candidate chose or whose requirements
    # it read (a failure naming none of them is not the plan's), the framework, and the packages it pins exactly.
    related: frozenset[str] = frozenset()
    framework: str | None = None
    framework_pins: frozenset[str] = frozenset()

    @property
    def python(self) -> str:
        """The planned interpreter (``.python-version``)."""
        return self.pythons[0]

    @property
    def python_floor(self) -> str:
        return self.pythons[0]

    @property
    def python_cap(self) -> str:
        """The highest Python minor the stack has wheels for (``requires-python`` stops below the next one)."""
        return self.pythons[-1]

    @property
    def requires_python(self) -> str:
        hi_major, hi_minor = (int(p) for p in self.python_cap.split("."))
        return f">={self.python_floor},<{hi_major}.{hi_minor + 1}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "policy": self.policy,
            "python": self.python,
            "requires-python": self.requires_python,
            "packages": {name: c.to_dict() for name, c in self.packages.items()},
            "dependencies": list(self.dependencies),
            "build": {k: dict(v) for k, v in self.build.items()},
            "overrides": [dict(o) for o in self.overrides],
            "reasons": list(self.reasons),
            "rejected": [r.to_dict() for r in self.rejected],
            "warnings": list(self.warnings),
            "verified": self.verified,
            "attempts": [a.to_dict() for a in self.attempts],
            **(
                {"platforms": [_build_dict(b) for b in self.extra["platforms"]]}
                if self.extra.get("platforms")
                else {}
            ),
        }
