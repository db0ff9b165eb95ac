"""When no candidate satisfies the constraints: the answer "no", with the fact that blocked the best part and
what would work instead (another Python, dropping a pin, --allow-overrides, --cuda-policy minor)."""

from __future__ import annotations

from dataclasses import replace

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from llmenv.errors import NoAnswer
from llmenv.plan.candidates import KNOWN_PYTHONS, Candidate, release_requirements, spec_of
from llmenv.plan.extensions import EXTENSIONS
from llmenv.plan.model import Rejection
from llmenv.plan.problem import Problem
from llmenv.plan.ranking import order_pythons
from llmenv.plan.search import Outcome, search

__all__ = ["no_plan"]


def _top(problem: Problem) -> tuple[str, SpecifierSet]:
    if problem.framework is not None:
        return problem.framework.name, problem.framework.spec
    if problem.engine is not None:
        return problem.engine.name, problem.engine.spec
    return "torch", problem.torch_spec


def _where(problem: Problem) -> str:
    t = problem.target
    if t.is_cpu:
        return f"{t.os} {t.arch}, Python {problem.pythons[0] if len(problem.pythons) == 1 else 'any'}"
    gpus = f" ({', '.join(g.sm for g in t.gpus)})" if t.gpus else ""
    py = f", Python {problem.pythons[0]}" if len(problem.pythons) == 1 else ""
    return f"CUDA <= {t.cuda}{gpus}{py}"


def _first(problem: Problem, outcome: Outcome, name: str) -> Rejection | None:
    """The best-ranked rejection of the asked package: one of a release the project allows, when there is one
    (the project's own bounds are said apart)."""
    mine = [r for r in outcome.rejected if r.package == name]
    found = mine or list(outcome.rejected)
    allowed = [r for r in found if not problem.held.cited(r.reason)]
    return (allowed or found)[0] if found else None


def _project_answer(problem: Problem, outcome: Outcome, asked: str, first: Rejection | None) -> NoAnswer | None:
    """When the project's own requirements (plan/held.py) took part in the "no": say which lines."""
    if not problem.held:
        return None
    lines = list(dict.fromkeys(x for r in outcome.rejected for x in problem.held.cited(r.reason)))
    if not lines:
        return None
    hint = "those are the project's own requirements: change them, or ask for versions they allow"
    if first is not None and problem.held.cited(first.reason):
        removed = any(b.removes for b in problem.held.bounds.get(canonicalize_name(first.package), ()))
        said = first.reason if removed else str(first)  # an override that removes the package: no version is it
        return NoAnswer(f"{asked} does not fit the project's own requirements: {said}", hint=hint)
    return None


def _project_note(problem: Problem, outcome: Outcome) -> str:
    lines = list(dict.fromkeys(x for r in outcome.rejected for x in problem.held.cited(r.reason)))
    return f"; the project's own requirements narrowed it: {', '.join(lines)}" if lines else ""


def _other_python(problem: Problem) -> Candidate | None:
    """With --python fixed and no plan: the best candidate with any Python (the highest that works)."""
    if len(problem.pythons) != 1:
        return None
    pythons = problem.held.pythons(order_pythons(KNOWN_PYTHONS, None))  # within the project's requires-python
    if not pythons:
        return None
    free = replace(problem, pythons=pythons, preferred_python=None)
    return search(free).winner


def _blocked_python(problem: Problem, outcome: Outcome, alt: Candidate) -> str | None:
    """``openrlhf 0.8.0–0.8.3 (pinning vllm 0.8.5.post1): ships wheels for Python 3.10–3.11 only ...``: the
    rejection, under the fixed Python, of the part the free search chose, with its neighbours of equal reason."""
    pick = alt.framework or alt.engine
    if pick is None:
        return None
    rejected = [r for r in outcome.rejected if r.package == pick.name]
    hit = next((i for i, r in enumerate(rejected) if r.version == str(pick.version)), None)
    if hit is None:
        return None
    same = rejected[hit].reason

    def alike(r: Rejection) -> bool:
        """The same reason, and (with an engine) a pin of the same engine release."""
        if r.reason != same:
            return False
        if alt.framework is None or alt.engine is None:
            return True
        rel = next((x for x in problem.pins(pick.name) if str(x.version) == r.version), None)
        if rel is None:
            return False
        reqs = release_requirements(rel, alt.framework.extras, problem.target.marker_environment())
        return spec_of(reqs, alt.engine.name).contains(alt.engine.version, prereleases=True)

    lo = hi = hit
    while lo > 0 and alike(rejected[lo - 1]):
        lo -= 1
    while hi + 1 < len(rejected) and alike(rejected[hi + 1]):
        hi += 1
    versions = rejected[hi].version + ("" if lo == hi else f"–{rejected[lo].version}")
    pins = f" (pinning {alt.engine.name} {alt.engine.version})" if alt.framework and alt.engine else ""
    return f"{pick.name} {versions}{pins}: {same}"


def no_plan(problem: Problem, outcome: Outcome) -> NoAnswer:
    """The NoAnswer (exit 1) for a search that found nothing."""
    name, spec = _top(problem)
    asked = f"{name}{spec}" if str(spec) else name
    first = _first(problem, outcome, name)
    held = _project_answer(problem, outcome, asked, first)
    if held is not None:
        return held
    if first is not None and first.package == "driver":
        return NoAnswer(first.reason, hint="plan for another driver with --driver VERSION (or --cuda X.Y)")
    ext = next((p for p in EXTENSIONS if first is not None and first.reason.startswith(f"{p} ")), None)
    if name == "torch" and ext is not None and first is not None:
        spec_ext = problem.extensions.get(ext, SpecifierSet())
        message = f"no {ext}{spec_ext} option fits torch {first.version} on {_where(problem)}: {first.text}"
    elif name == "torch":
        detail = f": {first.version} — {first.text}" if first else ""
        message = f"{asked} has no build for {_where(problem)}{detail}"
    else:
        detail = f": {first.package} {first.version} {first.text}" if first else ""
        message = f"no release of {asked} fits this target{detail}"
    hint = None
    if problem.target.is_cpu and first is not None and "needs an NVIDIA GPU" in first.reason:
        return NoAnswer(message, hint="plan for a GPU machine with --driver VERSION --gpu CC")
    other = _other_python(problem)
    if other is not None:
        blocked = _blocked_python(problem, outcome, other)
        if blocked is not None:
            message = f"no release of {asked} fits this target with Python {problem.pythons[0]}: {blocked}"
        message += f"; Python {other.python} works"
        hint = f"use --python {other.python}" + (
            "" if problem.allow_overrides else f", or --allow-overrides to take a newer {name}"
        )
    if hint is None and name == "torch" and str(spec):
        alt: Candidate | None = search(replace(problem, torch_spec=SpecifierSet())).winner
        if alt is not None and alt.torch is not None:
            message += f"; the newest that has is {alt.torch.version} ({alt.torch.variant})"
            hint = f"drop the pin, or ask for torch=={alt.torch.version}"
    if hint is None and any(r.kind == "pin" and "you asked for" in r.reason for r in outcome.rejected):
        hint = f"relax the pin with --allow-overrides, or write an override: llmenv override {name}==VERSION --set REQ"
    if hint is None and problem.policy == "strict" and not problem.target.is_cpu:
        alt = search(replace(problem, policy="minor")).winner
        if alt is not None:
            hint = "--cuda-policy minor would allow a newer CUDA minor of the same major"
    if hint is None and name != "torch" and not problem.allow_overrides:
        hint = "--allow-overrides keeps the newest release and relaxes its pins; --cuda-policy minor may allow more"
    note = _project_note(problem, outcome)
    if note:
        message += note
        hint = hint or "those are the project's own requirements: change them, or plan for a target that runs them"
    return NoAnswer(message, hint=hint)
