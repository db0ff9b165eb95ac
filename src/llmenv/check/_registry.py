"""The registry of check's rules: ``@rule(code, severity, summary)`` registers one function."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from llmenv.check._findings import Hit, Rule
from llmenv.check._project import Project

__all__ = ["REGISTRY", "RuleFunc", "rule"]

RuleFunc = Callable[[Project], Iterable[Hit]]
REGISTRY: list[Rule] = []


def rule(code: str, severity: str, summary: str) -> Callable[[RuleFunc], RuleFunc]:
    def register(func: RuleFunc) -> RuleFunc:
        REGISTRY.append(Rule(code=code, severity=severity, summary=summary, func=func))
        return func

    return register
