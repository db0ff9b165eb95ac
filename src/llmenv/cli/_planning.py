"""Inputs shared by ``plan`` and ``init``: SPECs, TARGET flags, policy and project options -> a Plan."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from llmenv.cli._context import Context
from llmenv.cli._target import (
    add_target_arguments,
    described_by_flags,
    flags_target,
    resolve_target,
    target_flags,
)
from llmenv.errors import NoAnswer, UsageError
from llmenv.indexes import IndexSpec, Mirror, TorchSource, parse_mirrors, torch_source, web_url
from llmenv.knowledge import Knowledge, horizon, user_data_dir
from llmenv.knowledge import load as load_knowledge
from llmenv.knowledge import using as using_knowledge
from llmenv.plan import EXTENSIONS, Feedback, Plan, lazy_pins, make_plan
from llmenv.plan.reasons import group_rejections
from llmenv.request import Request, parse_specs
from llmenv.target import Target

__all__ = [
    "Inputs",
    "add_planning_arguments",
    "add_project_arguments",
    "build_plan",
    "group_rejections",
    "render_plan",
]

DEFAULT_SPECS = ("torch",)


def add_planning_arguments(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument(
        "--build",
        action="append",
        metavar="PKG",
        help="build PKG from source with llmenv's tuned recipe (the target's architectures only; jobs sized "
        "from --cpus / --memory when given) even when a prebuilt wheel exists; repeatable (flash-attn)",
    )
    p.add_argument(
        "--allow-overrides",
        action="store_true",
        help="keep the newest framework and relax its conflicting pins ([[tool.uv.dependency-metadata]])",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=6,
        metavar="N",
        help="with --lock / --verify: lock at most N candidates (default 6; 10 minutes in all)",
    )


def add_project_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where packages come from")
    g.add_argument(
        "--mirror",
        action="append",
        metavar="NAME|URL",
        help="tuna, aliyun, nju, ustc or a PyPI mirror URL (repeatable; the first that serves PyPI / PyTorch wins)",
    )
    g.add_argument(
        "--torch-index",
        metavar="URL",
        help="a PyTorch index or mirror ({variant} is replaced, e.g. cu124); a local folder or file:// URL is a "
        "flat index; 'pypi' takes torch from the default index",
    )
    g.add_argument(
        "--github-proxy",
        metavar="URL",
        help="prefix for GitHub release downloads (flash-attn wheels, managed Pythons)",
    )
    g.add_argument(
        "--wheels",
        action="append",
        dest="wheels",
        metavar="URL|DIR",
        help="a mirror, an index or a local folder of prebuilt wheels, searched before the known sources "
        "(repeatable; a folder's wheels are read, a URL's page is listed)",
    )
    g.add_argument(
        "--flash-attn-wheels", action="append", dest="wheels", metavar="URL|DIR", help="same as --wheels"
    )


@dataclass(frozen=True, kw_only=True)
class Inputs:
    target: Target
    request: Request
    policy: str
    source: TorchSource
    pypi_index: IndexSpec | None
    mirror: Mirror | None
    specs: tuple[str, ...]
    flags: Mapping[str, Any]
    allow_overrides: bool = False
    environ: Mapping[str, str] | None = None
    spec_base: Path | None = None
    github_proxy: str | None = None
    wheels: tuple[str, ...] = ()  # --wheels locations (folders made absolute)
    build: frozenset[str] = frozenset()  # --build PKG
    python_fixed: bool = True  # --python (or the record) fixed the Python
    from_machine: bool = False  # the target is this machine (its nvcc is read when a build is planned)
    system: Any = None
    project: Any = None  # llmenv.intent.ProjectConstraints: the project's file the plan must fit inside
    project_path: Path | None = None  # its pyproject.toml (said in the output)

    @property
    def flash_attn_wheels(self) -> str | None:
        """The first --wheels location (what the old --flash-attn-wheels recorded)."""
        return self.wheels[0] if self.wheels else None


def _base_target(ctx: Context, flags: Mapping[str, Any], recorded: Mapping[str, Any]) -> tuple[Target, bool]:
    """(the target before flags, whether it is this machine): the record, a machine described by flags
    (nothing of this one), or this machine's GPU side (detected now; what a build needs, later)."""
    if "target" in recorded:
        try:
            base = Target.from_dict(recorded["target"])
        except (KeyError, TypeError, ValueError, UsageError) as e:
            raise UsageError(f"[tool.llmenv] target is malformed: {e}") from None
        sized = recorded["target"].get("sized") or []  # cpus / memory that were said of the build machine
        keys: tuple[str, ...] = ("driver", "cuda", "gpus", "python", "rocm", "amd_gpus", "platforms")
        keys = (*keys, *(k for k in ("cpus", "memory_gib") if k in sized))
        return base.with_(origins={k: "[tool.llmenv]" for k in keys}), False
    if described_by_flags(flags):
        from llmenv.detect import machine_platform

        return flags_target(*machine_platform(ctx.system), flags).with_(python=ctx.system.python), False
    from llmenv.detect import detect

    return detect(ctx.system, build=False), True


def resolve_inputs(
    ctx: Context,
    *,
    specs: Sequence[str],
    args: argparse.Namespace,
    recorded: Mapping[str, Any] | None = None,
    spec_base: Path | None = None,
    project_dir: Path | None = None,
) -> Inputs:
    """Merge recorded inputs ([tool.llmenv]), flags and detection. Flags win over the record."""
    recorded = recorded or {}
    flags = target_flags(args)
    base, from_machine = _base_target(ctx, flags, recorded)
    target = resolve_target(base, flags)
    from llmenv.cli._base import attach_base

    target = attach_base(ctx, args, recorded, target, flags)  # a container's torch, or --base-python
    if getattr(args, "max_attempts", 6) < 1:
        raise UsageError(f"--max-attempts must be at least 1, not {args.max_attempts}")
    policy = args.cuda_policy or recorded.get("policy") or "strict"
    mirrors = list(args.mirror if getattr(args, "mirror", None) else recorded.get("mirror", []))
    pypi_index, mirror = parse_mirrors(mirrors)
    torch_index = getattr(args, "torch_index", None) or recorded.get("torch-index")
    source = torch_source(torch_index, mirror, project_dir)
    specs = tuple(specs) or tuple(recorded.get("specs", ())) or DEFAULT_SPECS
    request = parse_specs(specs, spec_base or ctx.cwd)
    return Inputs(
        target=target,
        request=request,
        policy=policy,
        source=source,
        pypi_index=pypi_index,
        mirror=mirror,
        specs=specs,
        flags={**flags, "mirror": mirrors, "torch-index": torch_index},
        allow_overrides=bool(
            getattr(args, "allow_overrides", False) or recorded.get("allow-overrides", False)
        ),
        environ=ctx.environ,
        spec_base=spec_base or ctx.cwd,
        github_proxy=web_url(
            getattr(args, "github_proxy", None) or recorded.get("github-proxy"), "--github-proxy"
        ),
        wheels=tuple(_wheels_location(v, ctx.cwd) for v in _wheels_given(args, recorded)),
        build=_build_given(args, recorded),
        python_fixed="python" in flags or "target" in recorded or target.base is not None,
        from_machine=from_machine,
        system=ctx.system,
    )


def _wheels_given(args: argparse.Namespace, recorded: Mapping[str, Any]) -> list[str]:
    given = getattr(args, "wheels", None)
    if given:
        return list(given)
    rec = recorded.get("wheels") or (
        [recorded["flash-attn-wheels"]] if recorded.get("flash-attn-wheels") else []
    )
    if isinstance(rec, str) or not all(isinstance(v, str) for v in rec):
        raise UsageError("[tool.llmenv] wheels must be a list of URLs or folders")
    return list(rec)


def _wheels_location(value: str, cwd: Path) -> str:
    if "://" in value and not value.startswith("file://"):
        if not value.startswith(("http://", "https://")):
            raise UsageError(f"--wheels {value}: give an http(s) URL or a folder")
        return value
    path = Path(value.removeprefix("file://")).expanduser()
    path = path if path.is_absolute() else cwd / path
    if not path.is_dir():
        raise UsageError(f"--wheels {value}: no such folder (give a folder of wheels or a URL)")
    return str(path)


BUILDABLE = ("flash-attn",)  # packages with a tuned source-build recipe


def _build_given(args: argparse.Namespace, recorded: Mapping[str, Any]) -> frozenset[str]:
    given = getattr(args, "build", None) or recorded.get("build") or []
    if isinstance(given, str) or not all(isinstance(p, str) for p in given):
        raise UsageError("[tool.llmenv] build must be a list of package names")
    out = set()
    for pkg in given:
        name = canonicalize_name(str(pkg))
        if name not in BUILDABLE:
            raise UsageError(
                f"--build {pkg}: llmenv has a tuned source build for {', '.join(BUILDABLE)} only"
            )
        out.add(name)
    return frozenset(out)


def _read_wheels(inputs: Inputs) -> list[Any]:
    """Read every --wheels location: a folder directly, a URL's page over HTTP."""
    if not inputs.wheels:
        return []
    import httpx

    from llmenv.sources.fetch import Fetcher, FetchError
    from llmenv.sources.user import read_user_wheels

    out = []
    with httpx.Client(timeout=30, follow_redirects=True, headers={"User-Agent": "llmenv"}) as http:
        fetcher = Fetcher(http, retries=2)
        for loc in inputs.wheels:
            try:
                out.append(read_user_wheels(loc, fetcher=fetcher, packages=EXTENSIONS))
            except FetchError as e:
                raise UsageError(f"--wheels {loc}: cannot read it ({e})") from None
            fetcher.failed = None
    return out


class _Listings:
    """The wheel sources' listings (the user's `kb refresh` snapshot when it parses, else the bundled one), read
    when a provider first asks: a plan with no compiled extension and no engine never reads the 700 kB table."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self._environ = environ
        self._got: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._got is None:
            from llmenv.sources.listing import load_listings

            self._got = load_listings(self._environ)
        return getattr(self._got, name)


def _listings(inputs: Inputs) -> Any:
    return _Listings(inputs.environ)


def build_plan(inputs: Inputs, feedback: Feedback | None = None) -> Plan:
    with using_knowledge(user_data_dir(inputs.environ)):
        kb = check_horizon(inputs)
        plan = _make_plan(inputs, kb, feedback)
    return note_horizon(plan, kb, inputs)


def _make_plan(inputs: Inputs, kb: Knowledge, feedback: Feedback | None) -> Plan:
    def build_facts(t: Target) -> Target:
        from llmenv.detect import with_build_facts

        return with_build_facts(t, inputs.system)

    plan = make_plan(
        inputs.target,
        inputs.request,
        policy=inputs.policy,
        source=inputs.source,
        allow_overrides=inputs.allow_overrides,
        pins=lazy_pins(inputs.environ),
        local_release=lambda loc: _local_release(inputs, loc),
        flash_attn_wheels=inputs.flash_attn_wheels,
        github_proxy=inputs.github_proxy,
        python_fixed=inputs.python_fixed,
        python_from_machine=True,  # this machine's Python is preferred when the stack works there
        builds=sorted(inputs.build),
        project=inputs.project,
        feedback=feedback,
        build_facts=build_facts if inputs.from_machine else None,
        user_wheels=_read_wheels(inputs) or None,
        listings=_listings(inputs),
        kb=kb,
    )
    for pkg in sorted(inputs.build):
        if pkg not in plan.packages:
            raise UsageError(f"--build {pkg}: the plan has no {pkg} (add it to the SPECs)")
    if inputs.project_path is not None:
        plan = replace(plan, extra={**plan.extra, "project": str(inputs.project_path)})
    return plan


def check_horizon(inputs: Inputs) -> Knowledge:
    """The knowledge in use; NoAnswer (exit 1) when the request lies past it (llmenv.knowledge.horizon)."""
    kb = load_knowledge(user_data_dir(inputs.environ))
    past = horizon.beyond(kb, inputs.request.requirements)
    if past:
        raise NoAnswer("; ".join(b.message for b in past))
    return kb


def note_horizon(plan: Plan, kb: Knowledge, inputs: Inputs) -> Plan:
    """Say what is unknown about the target's CUDA, and how old the knowledge is."""
    t = inputs.target
    given = "cuda" in inputs.flags and "driver" not in inputs.flags
    warnings = horizon.cuda_warnings(kb, cuda=t.cuda, driver=t.driver, given=given)
    note = horizon.stale_note(kb)
    if note:
        warnings.append(f"llmenv's {note} is over {horizon.MAX_AGE_DAYS} days old: run `llmenv kb refresh`")
    if not warnings and not note:
        return plan
    extra = {**plan.extra, "knowledge_note": note} if note else plan.extra
    return replace(plan, warnings=(*plan.warnings, *warnings), extra=extra)


def _local_release(inputs: Inputs, loc: Any) -> Any:
    """A local framework tree's metadata, read statically (setup.py is parsed, never run)."""
    from llmenv.metadata import from_tree
    from llmenv.plan import LocalRelease

    base = inputs.spec_base or Path.cwd()
    return LocalRelease.from_metadata(from_tree((base / loc.path).expanduser()))


def _short(text: str, width: int = 160) -> str:
    """One line of at most ``width`` characters (uv's reasons can run long)."""
    one = " ".join(str(text).split())
    return one if len(one) <= width else one[: width - 1].rstrip() + "…"


def render_plan(plan: Plan, *, max_rejected: int = 8) -> list[str]:
    """Human lines for a plan."""
    t = plan.target
    where = f"{t.os} {t.arch}, Python {t.python}"
    if t.is_cpu:
        where += ", no NVIDIA driver (CPU)"
    elif t.is_rocm:
        where += f", AMD ROCm {t.rocm or '(release unknown)'}" + (f", GPUs {', '.join(t.gfx)}" if t.gfx else "")
    elif t.driver:
        where += f", driver {t.driver} (CUDA <= {t.cuda})"
    else:
        where += f", a driver of CUDA {t.cuda} (CUDA <= {t.cuda}; driver version not given)"
    if t.gpus:
        where += ", GPUs " + ", ".join(sorted({g.sm for g in t.gpus}))
    if len(t.lock_platforms) > 1:
        where += "; one lock for " + ", ".join(t.lock_platforms)
    note = plan.extra.get("knowledge_note")
    lines = [f"plan for {where}" + (f" — {note}" if note else "")]
    if t.base is not None:
        lines.append(f"  on the base {t.base.image or t.base.python}: {t.base.origin}")
    if plan.extra.get("project"):
        lines.append(
            f"  within the project {plan.extra['project']}: its requirements, requires-python and torch routing "
            "hold the plan (--no-project plans without them)"
        )
    lines.append("")
    # Requirements llmenv writes as given (packages it knows nothing special about): shown, not planned.
    as_given = [Requirement(d) for d in plan.dependencies]
    as_given = [r for r in as_given if canonicalize_name(r.name) not in plan.packages]
    width = max((len(n) for n in [*plan.packages, *(r.name for r in as_given)]), default=8)
    for name, c in plan.packages.items():
        detail = c.variant or ""
        src = {
            "index": f"index {c.index}" if c.index else "index",
            "pypi": "default index",
            "default": "default index",
            # a prebuilt option with neither URL nor index is PyPI's own release (deepspeed's quick sdist, xformers)
            "prebuilt": "prebuilt wheel" + (f" (index {c.index})" if c.index else "")
            if c.index or c.url
            else "default index",
            "build": "built from source (see build)",
            "path": "editable path source",
            "base": "the base's (never installed)",
        }.get(c.source, c.source)
        lines.append(f"  {name:<{width}}  {c.version:<12} {detail:<6} {src}".rstrip())
    for r in as_given:
        lines.append(f"  {r.name:<{width}}  {str(r.specifier) or '(any)':<12} {'':<6} default index")
    lines.append(f"  requires-python {plan.requires_python}")
    if plan.overrides:
        lines += ["", "overrides (written as [[tool.uv.dependency-metadata]])"]
        for o in plan.overrides:
            for r in o["relaxed"]:
                why = f" ({_short(r['reason'])})" if r.get("reason") else ""  # uv's reason for a conflict
                lines.append(f"  {o['package']} {o['version']}: {r['from']} -> {r['to']}{why}")
    if plan.build:
        lines += ["", "build"]
        for name, b in plan.build.items():
            env = " ".join(f"{k}={v}" for k, v in b.get("env", {}).items()) or b.get("from", "")
            lines.append(f"  {name}: {env}")
    if plan.reasons:
        lines += ["", "why"]
        lines += [f"  - {r}" for r in plan.reasons]
    if plan.warnings:
        lines += ["", "warnings"]
        lines += [f"  ! {w}" for w in plan.warnings]
    attempts = [a for a in plan.attempts if not a.ok]
    if plan.rejected or attempts:
        groups = [f"attempt {a.number}: {a.candidate}: uv lock failed: {a.reason}" for a in attempts]
        groups += group_rejections([r for r in plan.rejected if r.kind != "uv"])
        lines += ["", "not chosen"]
        lines += [f"  - {g}" for g in groups[: max_rejected + len(attempts)]]
        if len(groups) > max_rejected + len(attempts):
            lines.append(f"  ... and {len(groups) - max_rejected - len(attempts)} more (--json lists all)")
    lines.append("")
    if plan.verified:
        n = len(plan.attempts)
        lines.append(f"verified: uv lock succeeded ({'first attempt' if n == 1 else f'attempt {n} of {n}'})")
    else:
        lines.append("not verified by uv (plan --verify, or init --lock, runs uv lock on it)")
    return lines
