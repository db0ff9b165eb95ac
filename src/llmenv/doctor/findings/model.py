"""What the doctor reports: findings (``ok | warn | fail``, evidence, a fix) and the report of one environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUSES = ("ok", "warn", "fail")


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: str
    status: str  # ok | warn | fail
    summary: str
    evidence: tuple[str, ...] = ()
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"finding status must be one of {STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            check=str(d["check"]),
            status=str(d["status"]),
            summary=str(d["summary"]),
            evidence=tuple(str(e) for e in d.get("evidence") or ()),
            fix=d.get("fix"),
        )


@dataclass(frozen=True, kw_only=True)
class Report:
    python: str  # the interpreter inspected
    findings: tuple[Finding, ...]

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    @property
    def failed(self) -> bool:
        return self.count("fail") > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "findings": [f.to_dict() for f in self.findings],
            **{s: self.count(s) for s in STATUSES},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(python=str(d["python"]), findings=tuple(Finding.from_dict(f) for f in d["findings"]))
