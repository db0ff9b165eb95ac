"""``--allow-overrides``: the framework pins a candidate must relax, and the rewritten framework metadata.

A pin is relaxed when the candidate chose another version of that package (the engine, torch and its family,
a compiled extension), when you pinned the package otherwise, when the engine requires it otherwise, or when
``uv lock`` named it in a conflict (``Feedback.relax``: whichever exact pin uv names, not a fixed list). The
framework's metadata is then written as ``[[tool.uv.dependency-metadata]]`` with those lines replaced
(the seed's OpenRLHF recipe), so uv resolves the framework as if it had asked for the relaxed versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from llmenv.plan.candidates import Candidate, Relaxation, ReleaseLike, extras_of, spec_of
from llmenv.plan.constraints import compatible
from llmenv.plan.problem import Feedback, Problem

__all__ = ["dependency_metadata", "relaxations"]


def _chosen(cand: Candidate) -> dict[str, str]:
    """package -> the exact version the candidate chose for it."""
    out: dict[str, str] = {}
    if cand.engine is not None:
        out[cand.engine.name] = str(cand.engine.version)
    if cand.torch is not None:
        r = cand.torch.release
        out["torch"] = str(r.version)
        for name in ("torchvision", "torchaudio"):
            if getattr(r, name):
                out[name] = str(getattr(r, name))
    for name, opt in cand.options.items():
        out[name] = str(opt.version)
    return out


def relaxations(problem: Problem, cand: Candidate, feedback: Feedback) -> tuple[Relaxation, ...]:
    """The framework requirements that must change for the candidate (only under --allow-overrides)."""
    if not problem.allow_overrides or cand.framework is None:
        return ()
    reqs = cand.framework_requirements
    chosen = _chosen(cand)
    out: list[Relaxation] = []
    for name, lines in reqs.items():
        if name == cand.framework.name:
            continue
        spec = spec_of(reqs, name)
        text = tuple(str(r) for r in lines)
        mine = problem.user.get(name)
        espec = spec_of(cand.engine_requirements, name)
        if name in chosen and not spec.contains(chosen[name], prereleases=True):
            to, why = f"{name}=={chosen[name]}", f"the plan takes {name} {chosen[name]}"
        elif mine is not None and not compatible(spec, mine.specifier):
            to, why = f"{name}{mine.specifier}", f"you asked for {name}{mine.specifier}"
        elif cand.engine is not None and name in cand.engine_requirements and not compatible(spec, espec):
            to, why = f"{name}{espec}", f"{cand.engine.name} {cand.engine.version} requires {name}{espec}"
        elif name in feedback.relax and str(spec):
            to, why = name, f"uv lock: {feedback.relax[name]}"
        else:
            continue
        out.append(Relaxation(package=name, from_spec=f"{name}{spec}", to=to, lines=text, reason=why))
    return tuple(out)


def _rewrite(line: Requirement, to: str) -> str:
    new = Requirement(to)
    new.extras = line.extras
    new.marker = line.marker
    return str(new)


def dependency_metadata(name: str, release: ReleaseLike, relaxed: tuple[Relaxation, ...]) -> dict[str, Any]:
    """The framework's metadata with its relaxed lines replaced: a ``[[tool.uv.dependency-metadata]]`` entry.
    Only the lines that applied to the target and the extras asked for are rewritten; the rest stay."""
    replace: Mapping[str, str] = {line: r.to for r in relaxed for line in r.lines}
    lines = [
        _rewrite(req, replace[str(req)]) if str(req) in replace else str(req) for req in release.requires_dist
    ]
    entry: dict[str, Any] = {"name": name, "version": str(release.version), "requires-dist": lines}
    extras = extras_of(release)
    if extras:
        entry["provides-extras"] = list(extras)
    if release.requires_python:
        entry["requires-python"] = str(release.requires_python)
    return entry


_ = SpecifierSet
