"""One plan for several platforms (``--platform linux-x86_64 --platform linux-aarch64``): each platform planned
with its own facts, one project.

The target's own platform is planned first (the primary). Every other platform is planned as the same machine
on that platform (same GPUs, driver, Python) with the primary's framework, engine and torch release pinned, so the
lock holds one version of each, and each platform its own torch build (``+cu128`` on x86_64, ``+cu130`` on
aarch64) and its own extension wheels. When a platform has no build of that torch that runs there, an older torch
is tried for all (bounded); when none fits, the plan is refused with that platform's reason. macOS has no GPU
builds of torch: it gets the CPU build, and the plan says so (a warning, never silence).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import IndexSpec
from llmenv.plan.model import TORCH_FAMILY, Plan, Rejection
from llmenv.platforms import build_of, builds_of, platform_target
from llmenv.request import Request
from llmenv.target import Target

__all__ = ["MAX_TORCH_TRIES", "builds_of", "newest_everywhere", "plan_platforms"]

MAX_TORCH_TRIES = 6
_PINNED_KINDS = ("default",)  # framework / engine choices (their source is the default index)


def _no_gpu_target(t: Target) -> Target:
    return t.with_(cuda=None, driver=None, gpus=(), rocm=None, amd_gpus=())


def _pins(primary: Plan) -> list[Requirement]:
    """The primary's framework, engine and torch family versions: the same on every platform."""
    out = []
    for name, c in primary.packages.items():
        if c.source == "path" or c.version in ("", "local"):
            continue
        if name in TORCH_FAMILY or c.source in _PINNED_KINDS:
            req = Requirement(f"{name}=={c.version}")
            req.extras = set(c.extras)
            out.append(req)
    return out


def _pinned(request: Request, pins: Sequence[Requirement]) -> Request:
    by_name = {canonicalize_name(p.name): p for p in pins}
    reqs = []
    for r in request.requirements:
        pin = by_name.pop(canonicalize_name(r.name), None)
        if pin is None:
            reqs.append(r)
            continue
        new = Requirement(str(r))
        new.specifier &= pin.specifier
        reqs.append(new)
    return replace(request, requirements=(*reqs, *by_name.values()))


def _secondary(
    target: Target,
    platform: str,
    request: Request,
    primary: Plan,
    plan_one: Callable[[Target, Request], Plan],
) -> tuple[Plan, str | None]:
    from llmenv.plan.extensions import EXTENSIONS

    sub = platform_target(target, platform)
    warning = None
    if sub.os == "darwin" and not sub.is_cpu:
        sub = _no_gpu_target(sub)
        left = sorted(n for n in request.names() if n in EXTENSIONS)
        request = replace(
            request,
            requirements=tuple(
                r for r in request.requirements if canonicalize_name(r.name) not in EXTENSIONS
            ),
        )
        warning = (
            f"{platform} gets torch's CPU build: PyTorch publishes no CUDA or ROCm builds for macOS (the lock "
            "is for development there)"
            + (f"; {', '.join(left)} is not installed there (GPU only)" if left else "")
        )
    return plan_one(sub, _pinned(request, _pins(primary))), warning


def plan_platforms(
    target: Target,
    request: Request,
    plan_one: Callable[[Target, Request], Plan],
    *,
    cap: str | None = None,
    skipped: Sequence[Rejection] = (),
) -> Plan:
    """Plan ``request`` for every platform of ``target.lock_platforms``; one Plan for the one project. ``cap``:
    the torch versions worth planning at all, ``skipped`` the newer ones and why (``newest_everywhere``)."""
    base = target.with_(platforms=())
    if target.base is not None:
        raise UsageError(
            f"one lock for {', '.join(target.lock_platforms)} on a base environment ({target.base.image or target.base.python}): "
            "a base's torch is one machine's, so its lock is that platform's only — plan the others in projects "
            "of their own (or drop --platform / --base-python)"
        )
    for platform in target.lock_platforms[1:]:
        if base.is_rocm and platform.startswith(("linux-", "windows-")) and platform != "linux-x86_64":
            raise NoAnswer(
                f"one lock for {', '.join(target.lock_platforms)}: {platform} cannot have an AMD ROCm build — "
                "PyTorch builds ROCm wheels for Linux x86_64 only (facts H1)",
                hint=f"plan {platform} in a project of its own (with its own GPUs), or leave it out of --platform",
            )
    if cap is not None:
        try:
            plan = _plan_all(target, base, _capped(request, cap), plan_one)
        except NoAnswer:
            pass  # the screen and your pins leave nothing: plan as asked, each failing release in turn
        else:
            return replace(plan, rejected=(*skipped, *plan.rejected))
    return _plan_all(target, base, request, plan_one)


def _plan_all(
    target: Target, base: Target, request: Request, plan_one: Callable[[Target, Request], Plan]
) -> Plan:
    torch_cap: str | None = None
    hints: list[str | None] = []
    passed: list[Rejection] = []  # torch releases the primary chose that another platform cannot have
    for _ in range(MAX_TORCH_TRIES):
        req = request if torch_cap is None else _capped(request, f"<{torch_cap}")
        try:
            primary = plan_one(base, req)
        except NoAnswer as err:
            if not passed:
                raise
            raise _refusal(target, passed, hints) from err
        others: list[tuple[str, Plan, str | None]] = []
        failed: tuple[str, NoAnswer] | None = None
        for platform in target.lock_platforms[1:]:
            try:
                sub, warning = _secondary(base, platform, req, primary, plan_one)
            except NoAnswer as err:
                failed = (platform, err)
                break
            others.append((platform, sub, warning))
        if failed is None:
            plan = merge(target, primary, others)
            return replace(plan, rejected=(*passed, *plan.rejected)) if passed else plan
        hints.append(failed[1].hint)
        torch = primary.packages.get("torch")
        passed.append(
            Rejection(
                package="torch",
                version=torch.version if torch else "-",
                reason=f"[{failed[0]}] {failed[1].message}",
                kind="fact",
            )
        )
        if torch is None:
            break
        torch_cap = torch.version
    raise _refusal(target, passed, hints)


def _refusal(target: Target, passed: Sequence[Rejection], hints: Sequence[str | None] = ()) -> NoAnswer:
    last = passed[-1]
    hint = next((h for h in reversed(hints) if h), None)
    return NoAnswer(
        f"one lock for {', '.join(target.lock_platforms)}: no torch has a build that runs on every platform "
        f"(torch {last.version}: {last.reason})",
        hint=hint or "plan that platform in a project of its own, or leave it out of --platform",
    )


def _capped(request: Request, spec: str) -> Request:
    """Ask for a torch within ``spec`` (``<2.14.1``: the primary's torch had no build on another platform)."""
    reqs = list(request.requirements)
    for i, r in enumerate(reqs):
        if canonicalize_name(r.name) == "torch":
            new = Requirement(str(r))
            new.specifier &= spec
            reqs[i] = new
            return replace(request, requirements=tuple(reqs))
    return replace(request, requirements=(*reqs, Requirement(f"torch{spec}")))


def newest_everywhere(
    target: Target, releases: Sequence[Any], why_not: Callable[[Any, Target], str | None]
) -> tuple[str | None, tuple[Rejection, ...]]:
    """(``<=V`` for the newest torch release with a build that runs on every GPU platform of the lock but the
    first, when that is not the newest release; the newer releases, each with the platform that has no build of
    it). A quick screen before the whole plans (each platform's driver and architecture rules; macOS has no GPU
    build and is not asked), so that the usual case — a release newer on x86_64 than on aarch64 — is planned
    once, not retried."""
    others = [p for p in target.lock_platforms[1:] if not p.startswith("darwin-")]
    if not others or not releases:
        return None, ()
    subs = [(p, platform_target(target.with_(platforms=()), p)) for p in others]
    skipped: list[Rejection] = []
    for r in releases:
        blocked = next(((p, why) for p, sub in subs if (why := why_not(r, sub)) is not None), None)
        if blocked is None:
            return (f"<={r.version}" if skipped else None), tuple(skipped)
        skipped.append(
            Rejection(
                package="torch", version=str(r.version), reason=f"[{blocked[0]}] {blocked[1]}", kind="fact"
            )
        )
    return None, ()


def _union(lines: Sequence[str]) -> tuple[str, ...]:
    """The platforms' dependency lines as one list: the same requirement for several platforms is one line with
    their markers joined (``flash-attn==2.8.3 ; (x86_64) or (aarch64)``); a line without a marker holds for all."""
    merged: dict[str, list[str]] = {}  # requirement without marker -> markers ("" = everywhere)
    for line in lines:
        req = Requirement(line)
        marker = line.split(";", 1)[1].strip() if req.marker is not None else ""  # as the plan wrote it
        req.marker = None
        markers = merged.setdefault(str(req), [])
        if marker not in markers:
            markers.append(marker)
    out = []
    for head, markers in merged.items():
        if "" in markers:
            out.append(head)
        elif len(markers) == 1:
            out.append(f"{head} ; {markers[0]}")
        else:
            out.append(f"{head} ; " + " or ".join(f"({m})" for m in markers))
    return tuple(out)


def _merge_extra(primary: Plan, others: Sequence[Plan]) -> dict[str, Any]:
    extra: dict[str, Any] = dict(primary.extra)
    sources: dict[str, list[Any]] = {
        k: list(v) if isinstance(v, list) else [v] for k, v in extra.get("sources", {}).items()
    }
    for p in others:
        for name, value in p.extra.get("sources", {}).items():
            entries = value if isinstance(value, list) else [value]
            have = sources.setdefault(name, [])
            have += [e for e in entries if e not in have]
        for key in ("extra-build-dependencies", "extra-build-variables"):
            for name, value in p.extra.get(key, {}).items():
                extra.setdefault(key, {}).setdefault(name, value)
        names = {m["name"] for m in extra.get("dependency-metadata", [])}
        for m in p.extra.get("dependency-metadata", []):
            if m["name"] not in names:
                extra.setdefault("dependency-metadata", []).append(m)
                names.add(m["name"])
    if sources:
        extra["sources"] = sources
    return extra


def merge(target: Target, primary: Plan, others: Sequence[tuple[str, Plan, str | None]]) -> Plan:
    """The primary plan extended with every other platform's torch build, sources and warnings."""
    builds = [b for b in [build_of(primary)] if b is not None]
    warnings = list(primary.warnings)
    reasons = list(primary.reasons)
    rejected = list(primary.rejected)
    indexes: dict[str, IndexSpec] = {i.name: i for i in primary.indexes}
    pythons = list(primary.pythons)
    for platform, p, warning in others:
        b = build_of(p, warning)
        if b is not None:
            builds.append(b)
            reasons.append(
                f"[{platform}] torch {b.version}+{b.variant}"
                + (f" from {b.index.name}" if b.index else " from the default index")
            )
        reasons += [f"[{platform}] {r}" for r in p.reasons if r not in primary.reasons]
        warnings += ([warning] if warning else []) + [f"[{platform}] {w}" for w in p.warnings]
        rejected += [replace(r, reason=f"[{platform}] {r.reason}") for r in p.rejected]
        for i in p.indexes:
            indexes.setdefault(i.name, i)
        pythons = [py for py in pythons if py in p.pythons]
    if not pythons:
        raise NoAnswer(
            f"one lock for {', '.join(target.lock_platforms)}: no Python has wheels for every platform "
            f"({base_span(primary)} on {primary.target.platform})"
        )
    extra = _merge_extra(primary, [p for _, p, _ in others])
    extra["platforms"] = builds
    deps = _union([*primary.dependencies, *(d for _, p, _ in others for d in p.dependencies)])
    return replace(
        primary,
        target=primary.target.with_(platforms=target.lock_platforms),
        pythons=tuple(pythons),
        dependencies=deps,
        indexes=tuple(indexes.values()),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        rejected=tuple(rejected),
        extra=extra,
    )


def base_span(plan: Plan) -> str:
    return f"Python {plan.pythons[0]}–{plan.pythons[-1]}"
