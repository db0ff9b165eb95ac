"""A framework asked for with extras that cannot live together (``verl[vllm,sglang]``): one plan per engine
extra, written as the project's own extras declared in ``[tool.uv] conflicts`` (uv resolves each apart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from llmenv.errors import NoAnswer
from llmenv.indexes import IndexSpec
from llmenv.plan.model import Choice, Plan, Rejection
from llmenv.request import Request

__all__ = ["plan_alternatives"]


def plan_alternatives(
    request: Request,
    framework_req: Requirement,
    engine_extras: Sequence[str],
    make: Callable[[Request], Plan],
) -> Plan:
    """``make(request)`` plans one alternative; the first fixes the framework release the others use."""
    name = canonicalize_name(framework_req.name)
    common = [e for e in sorted(framework_req.extras) if e not in engine_extras]
    subs: dict[str, Plan] = {}
    warnings: list[str] = []
    for extra in engine_extras:
        fr = Requirement(str(framework_req))
        fr.extras = {*common, extra}
        if subs:  # later alternatives use the framework release the first one chose
            fr.specifier = SpecifierSet(f"=={next(iter(subs.values())).packages[name].version}")
        others = tuple(r for r in request.requirements if r is not framework_req)
        try:
            subs[extra] = make(replace(request, requirements=(fr, *others)))
        except NoAnswer as e:
            if not subs and extra == engine_extras[-1]:
                raise
            warnings.append(f"{name}[{extra}] left out: {e.message}")
    if not subs:
        raise NoAnswer(f"no extra of {framework_req} fits this target")
    first = next(iter(subs.values()))
    if len(subs) == 1:
        return replace(first, warnings=first.warnings + tuple(warnings))
    return _combine(name, subs, warnings)


def _combine(name: str, subs: dict[str, Plan], warnings: list[str]) -> Plan:
    first = next(iter(subs.values()))
    base = [d for d in first.dependencies if all(d in p.dependencies for p in subs.values())]
    base_names = {Requirement(d.split(" ;")[0]).name for d in base}
    if name not in base_names:
        base.append(f"{name}=={first.packages[name].version}")
    optional = {extra: [d for d in p.dependencies if d not in base] for extra, p in subs.items()}
    indexes: dict[str, IndexSpec] = {}
    for p in subs.values():
        for idx in p.indexes:
            indexes.setdefault(idx.name, idx)
    reasons: list[str] = [
        f"{name} extras {', '.join(subs)} pin different engines: each becomes an extra of this project, declared "
        "in [tool.uv] conflicts, so uv resolves them apart (install one with `uv sync --extra NAME`)"
    ]
    rejected: list[Rejection] = []
    packages: dict[str, Choice] = {}
    for extra, p in subs.items():
        reasons += [f"[{extra}] {r}" for r in p.reasons]
        rejected += p.rejected
        for pkg, c in p.packages.items():
            packages.setdefault(pkg, c)
    sections = dict(first.extra)
    sections["optional-dependencies"] = optional
    sections["conflicts"] = [[{"extra": e} for e in subs]]
    sections["torch-by-extra"] = {
        e: p.packages["torch"].index
        for e, p in subs.items()
        if "torch" in p.packages and p.packages["torch"].index
    }
    common = [py for py in first.pythons if all(py in p.pythons for p in subs.values())]
    return replace(
        first,
        pythons=tuple(common) or first.pythons,
        packages=packages,
        dependencies=tuple(base),
        indexes=tuple(indexes.values()),
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        warnings=tuple(w for p in subs.values() for w in p.warnings) + tuple(warnings),
        extra=sections,
    )
