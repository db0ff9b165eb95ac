"""Where the planned torch, torchvision and torchaudio come from, in the project's own routing style.

A project that routes torch itself (``[tool.uv.sources] torch = [{ index = "pytorch-cpu", extra = "cpu" }, ...]``)
keeps its routing: llmenv never rewrites the user's entries. For the target it either

- finds the user's route already leads to the planned variant (an index serving ``cu128`` for a ``cu128`` plan,
  for every member of the family) and adds nothing;
- adds its index and a route in the same style: a new extra or dependency group (``cu124``, declared conflicting
  with the user's) when the user routes per extra or group, a marker entry for the target's platform when the
  user routes per platform and none of the entries covers the target;
- or refuses, naming the entry that sends the target elsewhere (``tool.uv.sources.torch[0]``).

A project without torch routing gets llmenv's: the planned index on the target's platform, the CPU index
elsewhere. torch, torchvision and torchaudio always share one index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from llmenv.backend import Backend
from llmenv.check._urls import variant as url_variant
from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import IndexSpec
from llmenv.intent import ProjectConstraints, UserSource, applies

__all__ = ["TORCH_FAMILY", "NewScope", "Route", "route_torch", "routed_variants"]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
_LOCAL_VARIANT = re.compile(r"\+(cpu|cu\d+|rocm[\d.]+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class NewScope:
    """An extra or dependency group llmenv adds for the planned variant, next to the user's."""

    kind: str  # "extra" | "group"
    name: str
    requirements: tuple[str, ...]
    siblings: tuple[tuple[str, str], ...]  # the user's scopes that route torch: declared conflicting with it


@dataclass(frozen=True, kw_only=True)
class Route:
    """What llmenv writes for the torch family."""

    sources: Mapping[str, Any] = field(
        default_factory=dict
    )  # package -> llmenv's whole value (no user routing)
    appended: Mapping[str, tuple[Mapping[str, str], ...]] = field(
        default_factory=dict
    )  # added to the user's list
    indexes: tuple[IndexSpec, ...] = ()  # the indexes llmenv writes for torch
    scope: NewScope | None = None
    notes: tuple[str, ...] = ()


def _variant_of_url(url: str) -> Backend | None:
    v = url_variant(url)
    if v is not None:
        return v
    m = _LOCAL_VARIANT.search(url.rsplit("/", 1)[-1])
    if m:
        try:
            return Backend.parse(m.group(1))
        except UsageError:
            return None
    return None


def _entry_variant(
    e: UserSource, project: ProjectConstraints, planned: Sequence[IndexSpec]
) -> Backend | None:
    if e.index is not None:
        ix = project.index_named(e.index)
        url = ix.get("url") if ix is not None else next((s.url for s in planned if s.name == e.index), None)
        return _variant_of_url(str(url)) if url else None
    for k in ("url", "path"):
        if isinstance(e.table.get(k), str):
            return _variant_of_url(e.table[k])
    return None


def _entry_index_url(e: UserSource, project: ProjectConstraints) -> str | None:
    if e.index is None:
        return None
    ix = project.index_named(e.index)
    return str(ix["url"]) if ix is not None and isinstance(ix.get("url"), str) else None


def _agrees(e: UserSource, project: ProjectConstraints, want: Backend, want_index: IndexSpec | None) -> bool:
    got = _entry_variant(e, project, (want_index,) if want_index else ())
    if got is not None:
        return got == want
    # No variant in the URL (a single custom index): the same index, by URL or name, agrees.
    if want_index is None:
        return False
    url = _entry_index_url(e, project)
    return e.index == want_index.name or (url is not None and url.rstrip("/") == want_index.url.rstrip("/"))


def _live(
    entries: Sequence[UserSource], envs: Sequence[Mapping[str, str]], scope: tuple[str, str] | None
) -> list[UserSource]:
    """The entries that decide where the package comes from on the target in ``scope`` (None: no extra/group)."""
    out = []
    for e in entries:
        s = e.scope
        if s is not None and s != scope:
            continue
        extra = s[1] if s is not None and s[0] == "extra" else ""
        if applies(e.marker, envs, extra=extra):
            out.append(e)
    return out


def _llmenv_sources(plan: Any, family: Sequence[str], unplanned: Sequence[str]) -> dict[str, Any]:
    """llmenv's own routing: each planned platform to its own index (``llmenv.platforms``); the CPU index for the
    platforms the lock admits but nobody planned (``unplanned``; the render says so), and nothing else."""
    from llmenv.platforms import builds_of, others_marker, torch_sources

    torch = plan.packages["torch"]
    builds = builds_of(plan)
    if torch.index is None and len(builds) < 2:
        return {}
    target = plan.target
    planned = [b.platform for b in builds] or [target.platform]
    by_extra: Mapping[str, str] = plan.extra.get("torch-by-extra", {})
    cpu = next((i.name for i in plan.indexes if i.name != torch.index and i.name.endswith("-cpu")), None)
    others = [{"index": cpu, "marker": others_marker(planned)}] if cpu and unplanned else []
    if len(set(by_extra.values())) > 1:
        marker = target.platform_marker()
        entries: list[dict[str, str]] = [
            {"index": idx, "marker": marker, "extra": e} for e, idx in by_extra.items()
        ]
        return {name: [*entries, *others] for name in family}
    if torch.variant == "cpu" and len(builds) < 2:
        return {name: {"index": torch.index} for name in family}
    routed = torch_sources(builds, family)
    return {name: [*routed.get(name, []), *others] for name in family}


def _others(target: Any) -> str:
    env = target.marker_environment()
    if target.os == "windows":
        return "sys_platform != 'win32'"
    return f"sys_platform != '{env['sys_platform']}' or platform_machine != '{env['platform_machine']}'"


def _refuse(e: UserSource, name: str, want: str, why: str) -> NoAnswer:
    where = (
        f"index {e.index!r}" if e.index else (e.table.get("url") or e.table.get("path") or "another source")
    )
    return NoAnswer(
        f"{e.location} routes {name} on this target to {where}, but the plan needs {want}{why}; "
        "llmenv keeps your routing, so it stops here (pyproject.toml unchanged)",
        hint=f"point {e.location} at the {want} index, or remove it so that llmenv routes {name}",
    )


def routed_variants(
    project: ProjectConstraints, envs: Sequence[Mapping[str, str]]
) -> tuple[tuple[Backend, UserSource], ...]:
    """The torch variants the user's own routing offers the target (each with the entry that offers it): the
    unscoped entry that covers the target, else every extra / group entry. Empty: no routing of theirs decides."""
    lead = project.sources.get("torch")
    if not lead:
        return ()
    unscoped = _live(lead, envs, None)
    entries = unscoped[:1] or [e for e in lead if e.scope is not None and _live([e], envs, e.scope)]
    out = []
    for e in entries:
        v = _entry_variant(e, project, ())
        if v is not None:
            out.append((v, e))
    return tuple(out)


def route_torch(
    plan: Any,
    project: ProjectConstraints,
    envs: Sequence[Mapping[str, str]],
    *,
    family: Sequence[str],
    unplanned: Sequence[str] = (),
) -> Route:
    """The torch family's routing for ``plan``. ``family``: the members the project will require;
    ``unplanned``: platforms the lock admits that the plan did not plan (they get the CPU index)."""
    torch = plan.packages.get("torch")
    if torch is None:
        return Route()
    family = [n for n in TORCH_FAMILY if n in family]
    user = {n: project.sources[n] for n in TORCH_FAMILY if n in project.sources}
    planned_index = next((i for i in plan.indexes if i.name == torch.index), None) if torch.index else None
    if not user:
        sources = _llmenv_sources(plan, family, unplanned)
        names = {
            str(e["index"])
            for v in sources.values()
            for e in (v if isinstance(v, list) else [v])
            if isinstance(e, Mapping) and "index" in e
        }
        return Route(sources=sources, indexes=tuple(i for i in plan.indexes if i.name in names))
    if plan.extra.get("torch-by-extra") and len(set(plan.extra["torch-by-extra"].values())) > 1:
        first = next(iter(user.values()))[0]
        raise NoAnswer(
            f"the plan puts each engine in its own extra with its own torch index, and {first.location} already "
            "routes torch: llmenv will not mix the two (pyproject.toml unchanged)",
            hint="ask for one engine extra, or remove your torch routing",
        )
    want = Backend.parse(torch.variant) if torch.variant else Backend("cpu")
    want_label = (
        f"{torch.variant} ({planned_index.url})" if planned_index else f"the default index's {torch.variant}"
    )
    why = f" (torch {torch.version}+{torch.variant} is the plan for this target)"
    lead_name = "torch" if "torch" in user else next(iter(user))
    lead = user[lead_name]

    unscoped = _live(lead, envs, None)
    if unscoped:
        e = unscoped[0]
        if not _agrees(e, project, want, planned_index):
            raise _refuse(e, lead_name, want_label, why)
        return _complete(plan, project, envs, user, family, None, e, want, planned_index, why)
    scoped = [e for e in lead if e.scope is not None and _live([e], envs, e.scope)]
    agree = [e for e in scoped if _agrees(e, project, want, planned_index)]
    if agree:
        e = agree[0]
        return _complete(plan, project, envs, user, family, e.scope, e, want, planned_index, why)
    if scoped:
        return _new_scope(plan, project, user, family, scoped, planned_index, torch)
    # Only entries for other platforms: a marker entry for the target, in the same list.
    if planned_index is None:
        return Route(
            notes=(
                f"{lead_name} comes from the default index on this target (your sources route other platforms)",
            )
        )
    entry = {"index": planned_index.name, "marker": plan.target.platform_marker()}
    appended = {n: (entry,) for n in family}
    return Route(
        appended=appended,
        indexes=(planned_index,),
        notes=(
            f"tool.uv.sources: added a route for {', '.join(family)} on {plan.target.platform_marker()} to "
            f"{planned_index.name} (your entries cover other platforms only)",
        ),
    )


def _complete(
    plan: Any,
    project: ProjectConstraints,
    envs: Sequence[Mapping[str, str]],
    user: Mapping[str, Sequence[UserSource]],
    family: Sequence[str],
    scope: tuple[str, str] | None,
    decided_by: UserSource,
    want: Backend,
    planned_index: IndexSpec | None,
    why: str,
) -> Route:
    """The user's route agrees for the lead member: every other member must agree too (one index for all)."""
    appended: dict[str, tuple[Mapping[str, str], ...]] = {}
    for name in family:
        entries = user.get(name)
        if entries is None:
            # A member the user does not route would come from the default index: give it the same route.
            appended[name] = tuple(_plain_entry(e) for e in user[decided_by.package])
            continue
        live = _live(entries, envs, scope)
        if not live:
            raise NoAnswer(
                f"{name} has no route for this target in tool.uv.sources.{name} while torch comes from "
                f"{decided_by.location}: torch, torchvision and torchaudio must come from one index "
                "(pyproject.toml unchanged)",
                hint=f"route {name} like torch",
            )
        if not _agrees(live[0], project, want, planned_index):
            raise _refuse(live[0], name, f"the index torch comes from ({decided_by.location})", why)
    where = f"{scope[0]} {scope[1]!r}" if scope else decided_by.location
    notes = [f"torch routing kept: the target gets {want} through {where}"]
    if scope:
        flag = "--extra" if scope[0] == "extra" else "--group"
        notes.append(f"install it with `uv sync {flag} {scope[1]}`")
    if appended:
        notes.append(f"tool.uv.sources: {', '.join(appended)} routed like torch (one index for the family)")
    return Route(appended=appended, notes=tuple(notes))


def _plain_entry(e: UserSource) -> dict[str, str]:
    return {k: str(v) for k, v in e.table.items()}


def _new_scope(
    plan: Any,
    project: ProjectConstraints,
    user: Mapping[str, Sequence[UserSource]],
    family: Sequence[str],
    scoped: Sequence[UserSource],
    planned_index: IndexSpec | None,
    torch: Any,
) -> Route:
    """The user routes torch per extra or group and none of theirs fits: one more, named after the variant."""
    kind = scoped[0].scope[0] if scoped[0].scope else "extra"
    siblings = tuple(dict.fromkeys(e.scope for e in scoped if e.scope is not None and e.scope[0] == kind))
    taken = set(project.extras) | set(project.groups)
    name = str(torch.variant)
    if name in taken:
        name = f"llmenv-{torch.variant}"
    if name in taken:
        raise NoAnswer(
            f"llmenv would add the {kind} {name!r} for {torch.variant}, but the project has one already"
        )
    if planned_index is None:
        raise NoAnswer(
            f"your torch routing ({scoped[0].location}) is per {kind}; the plan takes torch from the default index, "
            "which no extra or group can select (pyproject.toml unchanged)",
            hint="give --torch-index, or route torch yourself",
        )
    lines = []
    for member in family:
        text = _sibling_text(
            project, member, siblings, torch if member == "torch" else plan.packages.get(member)
        )
        lines.append(text)
    entry = {"index": planned_index.name, kind: name}
    appended = {m: (entry,) for m in family}
    flag = "--extra" if kind == "extra" else "--group"
    notes = [
        f"your torch routing is per {kind} ({', '.join(s[1] for s in siblings)}) and none serves {torch.variant}: "
        f"added the {kind} {name!r} ({', '.join(family)} from {planned_index.name}), declared conflicting with "
        f"{', '.join(repr(s[1]) for s in siblings)}",
        f"install it with `uv sync {flag} {name}`"
        + (
            " --no-default-groups"
            if kind == "group" and any(s[1] in (project.default_groups or ()) for s in siblings)
            else ""
        ),
    ]
    return Route(
        appended=appended,
        indexes=(planned_index,),
        scope=NewScope(kind=kind, name=name, requirements=tuple(lines), siblings=siblings),
        notes=tuple(notes),
    )


def _sibling_text(
    project: ProjectConstraints, member: str, siblings: Sequence[tuple[str, str]], choice: Any
) -> str:
    """The requirement as the user's sibling scopes write it (when it allows the planned version), else the name."""
    from packaging.version import InvalidVersion, Version

    for r in project.requirements:
        if r.name != canonicalize_name(member) or (r.scope, r.scope_name) not in siblings:
            continue
        try:
            ok = choice is None or r.requirement.specifier.contains(Version(choice.version), prereleases=True)
        except InvalidVersion:
            ok = True
        if ok:
            return r.text
    return member
