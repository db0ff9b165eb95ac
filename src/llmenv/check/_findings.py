"""Findings, the report that collects them, and the rule record of the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmenv.check._project import Project

__all__ = ["SEVERITIES", "Finding", "Hit", "Report", "Rule"]

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem: what is wrong (``message``), where (``location``, a dotted path), why it hurts, and the edit."""

    severity: str  # error | warning | info
    code: str  # stable, documented in docs/check.md
    location: str  # tool.uv.sources.torch[1].index
    message: str
    why: str
    fix: str  # an exact TOML edit or a command

    def to_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "code": self.code,
            "location": self.location,
            "message": self.message,
            "why": self.why,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            severity=str(d["severity"]),
            code=str(d["code"]),
            location=str(d["location"]),
            message=str(d["message"]),
            why=str(d["why"]),
            fix=str(d["fix"]),
        )


@dataclass(frozen=True, kw_only=True)
class Report:
    """Every finding of one file, in a stable order (errors first, then rule order, then file order)."""

    file: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "findings": [f.to_dict() for f in self.findings],
            "errors": self.errors,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(file=str(d["file"]), findings=tuple(Finding.from_dict(f) for f in d["findings"]))


@dataclass(frozen=True, kw_only=True)
class Hit:
    """What a rule yields; the registry adds the rule's code (and its severity unless the hit overrides it)."""

    location: str
    message: str
    why: str
    fix: str
    severity: str | None = None


@dataclass(frozen=True, kw_only=True)
class Rule:
    code: str
    severity: str  # the usual severity; a hit may lower or raise it
    summary: str
    func: Callable[[Project], Iterable[Hit]]

    def run(self, project: Project) -> list[Finding]:
        out = []
        for h in self.func(project):
            sev = h.severity or self.severity
            if sev not in SEVERITIES:
                raise ValueError(f"rule {self.code}: unknown severity {sev!r}")
            out.append(
                Finding(
                    severity=sev, code=self.code, location=h.location, message=h.message, why=h.why, fix=h.fix
                )
            )
        return out
