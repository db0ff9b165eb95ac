"""What ``explain`` returns: a Diagnosis made of Causes, each with ranked Fixes. Frozen, plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FIX_KINDS", "Cause", "Diagnosis", "Fix", "Pin"]

FIX_KINDS = ("pyproject", "command")


@dataclass(frozen=True, kw_only=True)
class Fix:
    """One way out. ``edit`` is a TOML snippet for pyproject.toml (``kind="pyproject"``) or a shell command
    (``kind="command"``); ``title`` says in plain words what it does."""

    title: str
    edit: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in FIX_KINDS:
            raise ValueError(f"fix kind must be one of {FIX_KINDS}, not {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "edit": self.edit, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fix:
        return cls(title=str(d["title"]), edit=str(d["edit"]), kind=str(d["kind"]))


@dataclass(frozen=True, kw_only=True)
class Pin:
    """One requirement the failure rests on, as the log states it: ``by`` (a package, or a root: "your project",
    "you", "the environment") at ``by_version`` requires ``package`` ``spec`` (``==2.6.0``, ``>=4.51``)."""

    by: str
    by_version: str | None
    package: str
    spec: str

    @property
    def exact(self) -> str | None:
        """The version of an exact ``==X`` pin (no wildcard), else None."""
        if self.spec.startswith("==") and "*" not in self.spec and "," not in self.spec:
            return self.spec.lstrip("=")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "by_version": self.by_version, "package": self.package, "spec": self.spec}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pin:
        return cls(by=str(d["by"]), by_version=d.get("by_version"), package=str(d["package"]), spec=str(d["spec"]))


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One cause of the failure.

    ``kind`` is from the documented set (``KINDS``); ``packages`` the distributions involved (normalized names);
    ``summary`` one line; ``chain`` the pins and steps that led there, as the log states them; ``reason`` the
    underlying reason in plain words; ``fixes`` ranked, best first; ``evidence`` the log lines it rests on.

    The structured part the planner's closed loop consumes (a uv failure becomes a rejection of the candidate):
    ``version`` the version of ``packages[0]`` the failure is about, when the log names one; ``split`` the
    marker of the resolution fork that failed, as uv prints it (``python_full_version >= '3.13'``), when the
    failure is confined to one fork; ``python`` the Python bound that removes the failure
    (``requires-python`` upper bound such as ``<3.13``, or a raised floor such as ``>=3.11``), when a
    ``requires-python`` bound removes the failure; ``pins`` the requirements a resolution failure rests on (for a
    pin conflict: which package pins which version, the pins the closed loop may relax).
    """

    kind: str
    packages: tuple[str, ...]
    summary: str
    chain: tuple[str, ...] = ()
    reason: str = ""
    fixes: tuple[Fix, ...] = ()
    evidence: tuple[str, ...] = field(default=(), compare=False)
    version: str | None = None
    split: str | None = None
    python: str | None = None
    pins: tuple[Pin, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "packages": list(self.packages),
            "summary": self.summary,
            "chain": list(self.chain),
            "reason": self.reason,
            "fixes": [f.to_dict() for f in self.fixes],
            "evidence": list(self.evidence),
            "version": self.version,
            "split": self.split,
            "python": self.python,
            "pins": [p.to_dict() for p in self.pins],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cause:
        return cls(
            kind=str(d["kind"]),
            packages=tuple(d.get("packages", ())),
            summary=str(d["summary"]),
            chain=tuple(d.get("chain", ())),
            reason=str(d.get("reason", "")),
            fixes=tuple(Fix.from_dict(f) for f in d.get("fixes", ())),
            evidence=tuple(d.get("evidence", ())),
            version=d.get("version"),
            split=d.get("split"),
            python=d.get("python"),
            pins=tuple(Pin.from_dict(p) for p in d.get("pins", ())),
        )


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The causes found, best first. ``unknown`` is true when no rule recognized the failure; ``lines`` are the
    lines of the log that matter (errors, hints, the last exception), shown when the cause is unknown."""

    causes: tuple[Cause, ...]
    unknown: bool
    lines: tuple[str, ...] = ()
    failed: bool = True  # False when the log shows no failure at all

    def to_dict(self) -> dict[str, Any]:
        return {
            "causes": [c.to_dict() for c in self.causes],
            "unknown": self.unknown,
            "lines": list(self.lines),
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Diagnosis:
        return cls(
            causes=tuple(Cause.from_dict(c) for c in d.get("causes", ())),
            unknown=bool(d["unknown"]),
            lines=tuple(d.get("lines", ())),
            failed=bool(d.get("failed", True)),
        )

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(c.kind for c in self.causes)
