"""``llmenv init``: write (or update) the uv project for a plan, and optionally lock it."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmenv import uvrun
from llmenv.cli._context import Context
from llmenv.cli._planning import (
    add_planning_arguments,
    add_project_arguments,
    build_plan,
    render_plan,
    resolve_inputs,
)
from llmenv.errors import UsageError
from llmenv.uvrun import checked_uv, deferred_signals, guard

HELP = (
    "Create a uv project for the plan (creating DIR if needed), or edit the pyproject.toml in DIR with the "
    "project as the constraint: its requirements, requires-python, environments and torch routing are kept "
    "(narrowed or extended only where said), or init refuses naming what stops it. DIR is the first argument "
    "when it is an existing folder, looks like a path (., ./x, /x, ~/x, x/), or is a bare name that is not a "
    "package llmenv plans (like `uv init NAME`: `llmenv init myproj vllm` creates ./myproj); otherwise it is "
    "the current folder. Without SPECs, the ones recorded in [tool.llmenv] are used (or torch)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "args",
        nargs="*",
        metavar="[DIR] SPEC",
        help="the project folder, then requirements or ./path[extras]",
    )
    add_planning_arguments(p)
    add_project_arguments(p)
    g = p.add_argument_group("project")
    g.add_argument("--name", help="project name for a new pyproject.toml (default: the folder name)")
    g.add_argument(
        "--python-mirror", metavar="URL", help="mirror of python-build-standalone for uv-managed Pythons"
    )
    g.add_argument("--groups", metavar="LIST", help="dependency groups to add: dev,lint,format")
    g.add_argument(
        "--wheelhouse",
        metavar="DIR",
        help="a folder of wheels (`llmenv wheelhouse DIR`) for nodes without internet: its hashed index "
        "(DIR/simple) becomes the first index, so uv.lock records every wheel's sha256 and a node refuses a "
        "swapped one; the planned sources of the packages it holds point at it, and the lock covers the "
        "target platform only; recorded in [tool.llmenv]",
    )
    g.add_argument("--no-wheelhouse", action="store_true", help="forget a recorded --wheelhouse")
    g.add_argument(
        "--lock", action="store_true", help="run `uv lock` afterwards; restore the file if it fails"
    )
    g.add_argument("--dry-run", action="store_true", help="print the diff and write nothing")
    g.add_argument(
        "--json", action="store_true", help="print the plan as JSON (with --dry-run: and the diff)"
    )


def _looks_like_dir(arg: str, cwd: Path) -> bool:
    if "[" in arg:
        return False
    p = Path(arg).expanduser()
    path = p if p.is_absolute() else cwd / p
    if path.exists():
        return True
    return arg in (".", "..") or arg.startswith(("./", "../", "/", "~")) or arg.endswith("/")


def _new_project_name(arg: str) -> bool:
    """``uv init NAME``'s habit: a first argument that is no requirement llmenv plans names the new project's
    folder. A bare name llmenv knows (torch, vllm, verl, flash-attn, ... — the packages of its knowledge) is a
    SPEC; any other bare name, or a name that is no requirement at all (``my project``), is the folder."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    if not arg or arg.startswith("-") or "/" in arg or "\\" in arg:
        return False
    try:
        req = Requirement(arg)
    except InvalidRequirement:
        return "[" not in arg and ";" not in arg and "@" not in arg and not any(c in arg for c in "<>=!~")
    if req.extras or req.specifier or req.marker or req.url:
        return False
    return canonicalize_name(req.name) not in _known_packages()


def _known_packages() -> set[str]:
    from packaging.utils import canonicalize_name

    from llmenv.knowledge.pins import load_pins

    return {canonicalize_name(n) for n in load_pins().names()} | {"torch", "torchvision", "torchaudio", "flash-attn"}


def split_dir(args: list[str], cwd: Path) -> tuple[Path, list[str]]:
    if args and _looks_like_dir(args[0], cwd):
        p = Path(args[0]).expanduser()
        return (p if p.is_absolute() else cwd / p), args[1:]
    if args and _new_project_name(args[0]):
        return cwd / args[0], args[1:]
    return cwd, list(args)


def _groups(value: str | None, recorded: list[str]) -> tuple[str, ...]:
    from llmenv.render import GROUPS

    if value is None:
        return tuple(recorded)
    groups = tuple(g.strip() for g in value.split(",") if g.strip())
    for g in groups:
        if g not in GROUPS:
            raise UsageError(f"unknown group {g!r} in --groups (known: {', '.join(GROUPS)})")
    return groups


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.project import locked

    folder, specs = split_dir(list(args.args), ctx.cwd)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder (DIR must be a folder)")
    if args.dry_run:
        return _init(args, ctx, folder, specs)
    # Two runs on one project take turns: the lock is held from reading the file to the last write (--lock too).
    anchor = folder
    while not anchor.exists() and anchor.parent != anchor:
        anchor = anchor.parent
    where = folder / "pyproject.toml"
    with locked(
        anchor / "pyproject.toml",
        on_wait=lambda: ctx.ui.eprint(f"waiting for another llmenv run editing {where} ..."),
    ):
        return _init(args, ctx, folder, specs)


def _init(args: argparse.Namespace, ctx: Context, folder: Path, specs: list[str]) -> int:
    import tomlkit

    from llmenv.intent import ProjectConstraints
    from llmenv.project import ProjectFile, diff, parse_toml
    from llmenv.render import edit

    pyproject = folder / "pyproject.toml"
    project = ProjectFile.open(pyproject)
    recorded: dict[str, Any] = {}
    tool = project.doc.get("tool")
    if isinstance(tool, dict) and isinstance(tool.get("llmenv"), dict):
        recorded = tool["llmenv"].unwrap() if hasattr(tool["llmenv"], "unwrap") else dict(tool["llmenv"])
    build_script = "setup.py" if (folder / "setup.py").is_file() else None
    constraints = ProjectConstraints.read(
        project.doc.unwrap(), new_file=project.original is None, build_script=build_script
    )
    _refuse_shadowing(constraints, folder)
    # Local SPECs are written relative to the current folder; they are recorded relative to the project.
    inputs = resolve_inputs(
        ctx,
        specs=specs,
        args=args,
        recorded=recorded,
        spec_base=ctx.cwd if specs else folder,
        project_dir=folder,
    )
    inputs, follow = _with_companions(inputs, constraints, recorded)
    plan = _plan_within(inputs, constraints)
    paths = {}
    for loc in inputs.request.locals:
        base = ctx.cwd if specs else folder
        rel = os.path.relpath((base / loc.path).resolve(), folder.resolve())
        paths[loc.name] = rel if rel.startswith(".") else f"./{rel}"

    def rendered(p: Any) -> tuple[Any, Any]:
        """The plan with its path sources, and the edit of the user's file for it (their bytes kept)."""
        if paths:
            p = _with_paths(p, paths)
        options = _options(
            args, ctx, folder, inputs, p, recorded, follow, project.original is None, build_script, bool(specs)
        )
        original = parse_toml(project.original_text, str(pyproject)) if project.original is not None else None
        result = edit(original if original is not None else tomlkit.document(), p, options, constraints)
        project.doc = result.doc
        return p, result

    plan, result = rendered(plan)
    new_text = project.text()
    _check_after(project.original_text, new_text, pyproject)
    if args.dry_run:
        d = diff(project.original_text, new_text, "pyproject.toml")
        if args.json:
            ctx.ui.json(
                {"plan": plan.to_dict(), "diff": d, "notes": list(result.notes), "path": str(pyproject)}
            )
        else:
            ctx.ui.print(d if d else f"{pyproject}: no change")
            for n in result.notes:
                ctx.ui.print(f"  {n}")
        return 0
    if args.lock:
        return _lock(ctx, args, inputs, constraints, (plan, result), project, folder, rendered)
    _mkdir(folder)
    with deferred_signals():
        wrote = project.write()
        _python_version(folder, plan.python)
    _report(ctx, args, plan, result.notes, wrote, pyproject)
    return 0


def _mkdir(folder: Path) -> None:
    if not folder.exists():
        try:
            folder.mkdir(parents=True)
        except OSError as e:
            raise UsageError(f"cannot create {folder}: {e.strerror}") from None


def _python_version(folder: Path, python: str) -> bool:
    """``.python-version`` with the planned Python, so uv uses that interpreter (written only when it differs)."""
    from llmenv.project import atomic_write

    path = folder / ".python-version"
    want = f"{python}\n"
    try:
        if path.read_text(encoding="utf-8") == want:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write(path, want.encode("utf-8"))
    return True


def _report(ctx: Context, args: argparse.Namespace, plan: Any, notes: Any, wrote: bool, pyproject: Path) -> None:
    if args.json:
        ctx.ui.json({"plan": plan.to_dict(), "path": str(pyproject), "written": wrote, "notes": list(notes)})
    else:
        _print_result(ctx, plan, notes, wrote, pyproject)


def _lock(
    ctx: Context,
    args: argparse.Namespace,
    inputs: Any,
    constraints: Any,
    first: tuple[Any, Any],
    project: Any,
    folder: Path,
    rendered: Callable[[Any], tuple[Any, Any]],
) -> int:
    """``--lock``: the closed loop in place. Everything that can refuse does so before the first write (a missing
    or too-old uv, a uv.lock or .python-version that is a folder); from the write on, the guard restores the
    files between attempts and unless a lock succeeds (failure, Ctrl-C, SIGTERM)."""
    from llmenv.verify import LockFailed, LockRun, lock_loop

    binary = checked_uv(ctx.environ)
    pyproject = folder / "pyproject.toml"
    env = dict(ctx.environ)
    if not ctx.environ.get("FORCE_COLOR"):
        env.setdefault("UV_NO_PROGRESS", "1")
    plans = iter([first[0]])
    done: list[tuple[Any, Any]] = [first]  # the plan the document was last rendered for, and its edit

    def plan_for(fb: Any) -> Any:
        got = next(plans, None)  # the plan already made (and rendered) is the first candidate
        if got is None:
            done.append(rendered(_plan_within(inputs, constraints, fb)))
            got = done[-1][0]
        return got

    def write(p: Any) -> None:
        if p is not done[-1][0]:
            done.append(rendered(p))
        _mkdir(folder)
        with deferred_signals():
            project.write()
            _python_version(folder, p.python)

    def lock(timeout: float) -> LockRun:
        # On a base, uv locks with the base interpreter (it would otherwise look for, or download, another).
        base = done[-1][0].target.base
        python = ["--python", base.python] if base is not None else []
        r = uvrun.run_child([binary, "lock", *python], cwd=folder, env=env, timeout=timeout)
        return LockRun(code=r.code, output=r.output, timed_out=r.timed_out)

    with guard(pyproject, folder / "uv.lock", folder / ".python-version") as held:
        try:
            plan = lock_loop(
                plan_for=plan_for,
                write=write,
                lock=lock,
                restore=held.restore,
                allow_overrides=inputs.allow_overrides,
                max_attempts=args.max_attempts,
                progress=lambda line: ctx.ui.eprint(f"llmenv: {line}"),
            )
        except LockFailed as e:
            held.restore()
            ctx.ui.eprint(f"llmenv: restored {pyproject} to its previous bytes", style="error")
            for a in e.attempts:
                ctx.ui.eprint(f"  attempt {a.number}: {a.candidate}: {a.reason or 'locked'}")
            _explain_log(ctx, e.log)
            raise
        held.keep()
    _report(ctx, args, plan, done[-1][1].notes, True, pyproject)
    if not args.json:
        ctx.ui.print(f"locked {folder / 'uv.lock'}")
    return 0


def _explain_log(ctx: Context, log: str) -> None:
    from llmenv.explain import explain, render_lines

    if not log.strip():
        return
    ctx.ui.eprint("")
    for line in render_lines(explain(log)):
        ctx.ui.eprint(line)


def _print_result(ctx: Context, plan: Any, notes: Any, wrote: bool, pyproject: Path) -> None:
    for line in render_plan(plan):
        ctx.ui.print(line)
    if notes:
        ctx.ui.print("")
        ctx.ui.print("project (your file is the constraint: kept, or narrowed / extended where said)")
        for n in notes:
            ctx.ui.print(f"  - {n}")
    ctx.ui.print("")
    ctx.ui.print(f"{'wrote' if wrote else 'unchanged'} {pyproject}")


def _plan_within(inputs: Any, constraints: Any, feedback: Any = None) -> Any:
    """The plan, within the project's own requirements: they narrow the request, and a plan that still breaks
    one of them is refused naming it (exit 1, the file unchanged). Interim, until the planner takes
    ProjectConstraints as constraint functions (see /work/coord/project.md)."""
    from dataclasses import replace

    from llmenv.errors import NoAnswer
    from llmenv.intent import incompatibilities, narrow_request, target_envs

    request, narrowed_by = narrow_request(inputs.request, constraints, target_envs(inputs.target))
    try:
        plan = _within_routing(replace(inputs, request=request), constraints, feedback)
    except NoAnswer as e:
        if narrowed_by:
            e.message += "; the project's own requirements narrowed the request: " + ", ".join(
                dict.fromkeys(str(r) for r in narrowed_by)
            )
            e.hint = "those are the project's requirements: change them, or plan for a target that runs them"
        raise
    problems = incompatibilities(plan, constraints, target_envs(plan.target, plan.pythons))
    if problems:
        raise NoAnswer(
            "the plan does not fit the project's own requirements: "
            + "; ".join(problems)
            + " (pyproject.toml unchanged)",
            hint="ask for versions the project allows (e.g. SPEC torch==X), or change those requirements",
        )
    return plan


def _within_routing(inputs: Any, constraints: Any, feedback: Any = None) -> Any:
    """The plan, kept to the torch variant the project's own routing gives the target when the driver runs it.

    An interim step until the planner takes ProjectConstraints: when the user routes torch to, say, cu128 and the
    driver would also run cu130, planning for a target capped at CUDA 12.8 (strict) yields the cu128 plan; its
    reasons say the real driver and why the variant is the project's. Any other case keeps the first plan (and
    routing then refuses, naming the entry)."""
    from dataclasses import replace

    from llmenv.backend import Backend
    from llmenv.errors import NoAnswer
    from llmenv.intent import target_envs
    from llmenv.plan import Rejection
    from llmenv.routing import routed_variants

    plan = build_plan(inputs, feedback)
    torch = plan.packages.get("torch")
    t = inputs.target
    offered = routed_variants(constraints, target_envs(t, plan.pythons))
    if torch is None or not torch.variant or not offered or t.cuda is None:
        return plan
    chosen = Backend.parse(torch.variant)
    if any(v == chosen for v, _ in offered):
        return plan
    runnable = [
        (v, e) for v, e in offered if v.is_cuda and v.cuda_version is not None and v.cuda_version <= t.cuda
    ]
    if not runnable:
        return plan
    best, entry = max(runnable, key=lambda ve: ve[0])
    request = inputs.request
    torch_req = request.get("torch")
    if torch_req is not None:  # only the releases that have a build for the user's variant
        from packaging.requirements import Requirement

        from llmenv.intent import releases_with_variant

        kept = Requirement(str(torch_req))
        kept.specifier &= releases_with_variant(best.tag)
        others = tuple(r for r in request.requirements if r is not torch_req)
        request = replace(request, requirements=(kept, *others))
    try:
        capped = build_plan(
            replace(inputs, request=request, target=t.with_(cuda=best.cuda_version), policy="strict"), feedback
        )
    except NoAnswer:
        return plan
    ct = capped.packages.get("torch")
    if ct is None or ct.variant != best.tag:
        return plan
    where = f"{entry.location} ({entry.scope[0]} {entry.scope[1]!r})" if entry.scope else entry.location
    real = next((r for r in plan.reasons if r.startswith("driver ")), None)
    cap_text = f"supports CUDA <= {best.cuda_version}"
    reasons = [real if (real and r.startswith("driver ") and cap_text in r) else r for r in capped.reasons]
    reasons.insert(
        0, f"torch stays on {best}: the project routes it there ({where}), and driver {t.driver} runs it"
    )
    rejected = [r for r in capped.rejected if cap_text not in r.reason]
    rejected.insert(
        0,
        Rejection(
            package="torch",
            version=torch.version,
            variant=torch.variant,
            reason=f"the project's torch routing ({where}) serves {best}",
        ),
    )
    return replace(capped, target=t, reasons=tuple(reasons), rejected=tuple(rejected))


def _refuse_shadowing(constraints: Any, folder: Path) -> None:
    """A setup.py project with no [project] table: uv would lock none of its requirements; llmenv will not add a
    [project] table over setup.py."""
    from llmenv.errors import NoAnswer

    if constraints.has_project or constraints.build_script is None:
        return
    raise NoAnswer(
        f"{folder} is built by its {constraints.build_script} and has no [project] table: uv does not read "
        "setup.py for a project (its lock would hold none of your requirements), and llmenv will not add a "
        "[project] table over setup.py (it would shadow it); nothing written",
        hint='add [project] with name and dynamic = ["version", "dependencies"] to pyproject.toml (setuptools then '
        "reads them from setup.py), and run llmenv init again",
    )


def _check_after(before: str, after: str, path: Path) -> None:
    """`llmenv check` on what init would write: an error the file did not have is init's, so nothing is
    written (the file keeps its bytes) and the answer is no, naming the finding. (The file as it was is only
    checked when the new one has errors.)"""
    from collections import Counter

    from llmenv.check import check_text
    from llmenv.errors import NoAnswer

    if after == before:
        return
    errors = [f for f in check_text(after, file=str(path)).findings if f.severity == "error"]
    if not errors:
        return
    had: Counter[str] = Counter()
    if before:
        try:
            had = Counter(f.code for f in check_text(before, file=str(path)).findings if f.severity == "error")
        except UsageError:
            had = Counter()
    new = []
    seen: Counter[str] = Counter()
    for f in errors:
        seen[f.code] += 1
        if seen[f.code] > had[f.code]:
            new.append(f)
    if new:
        f = new[0]
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        raise NoAnswer(
            f"llmenv's edit would bring `llmenv check` error {f.code} at {f.location}: {f.message}{more}; "
            f"{path} left unchanged",
            hint=f.fix.splitlines()[0] if f.fix else None,
        )


def _options(
    args: argparse.Namespace,
    ctx: Context,
    folder: Path,
    inputs: Any,
    plan: Any,
    recorded: dict[str, Any],
    follow: tuple[str, ...],
    new_file: bool,
    build_script: str | None,
    specs_given: bool,
) -> Any:
    from llmenv.indexes import web_url
    from llmenv.render import ProjectOptions

    base = ctx.cwd if specs_given else folder
    github_proxy = inputs.github_proxy
    python_mirror = web_url(args.python_mirror or recorded.get("python-mirror"), "--python-mirror", file=True)
    groups = _groups(args.groups, list(recorded.get("groups", [])))
    wheelhouse, wheelhouse_names = _wheelhouse(args, recorded, ctx.cwd, folder)
    record: dict[str, Any] = {
        "specs": [_relocate(s, base, folder) for s in inputs.specs],
        "policy": inputs.policy,
        "target": _record_target(plan.target),
    }
    if inputs.flags.get("mirror"):
        record["mirror"] = list(inputs.flags["mirror"])
    if inputs.flags.get("torch-index"):
        record["torch-index"] = inputs.flags["torch-index"]
    if github_proxy:
        record["github-proxy"] = github_proxy
    if inputs.wheels:
        record["wheels"] = list(inputs.wheels)
    if inputs.build:
        record["build"] = sorted(inputs.build)
    if python_mirror:
        record["python-mirror"] = python_mirror
    if groups:
        record["groups"] = list(groups)
    if wheelhouse:
        record["wheelhouse"] = wheelhouse.url.removesuffix("/simple")  # the folder; its index is DIR/simple
    if inputs.allow_overrides:
        record["allow-overrides"] = True
    if follow:
        record["follow"] = list(follow)
    if plan.extra.get("base"):
        record["base"] = dict(plan.extra["base"])  # [tool.llmenv.base]: what `llmenv sync` and doctor read
    overrides = recorded.get("overrides")
    if isinstance(overrides, dict) and overrides:
        record["overrides"] = overrides  # `llmenv override`'s: kept, and applied last
    return ProjectOptions(
        name=args.name or recorded.get("name") or project_name(folder),
        pypi_index=inputs.pypi_index,
        python_mirror=python_mirror,
        github_proxy=github_proxy,
        groups=groups,
        record=record,
        user_owned=follow,
        wheelhouse=wheelhouse,
        wheelhouse_names=wheelhouse_names,
        requested=tuple(inputs.specs),
        overrides=overrides if isinstance(overrides, dict) else {},
        build_script=build_script,
        new_file=new_file,
    )


def project_name(folder: Path) -> str:
    """A valid project name from a folder name: ``My Project (v2)`` -> ``my-project-v2`` (PEP 508 names are
    letters, digits and ``-_.``, starting and ending with a letter or digit)."""
    from packaging.utils import canonicalize_name

    raw = folder.resolve().name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-_.")
    return canonicalize_name(cleaned) if cleaned else "project"


def _wheelhouse(
    args: argparse.Namespace, recorded: dict[str, Any], cwd: Path, folder: Path
) -> tuple[Any, frozenset[str]]:
    """--wheelhouse DIR (or the recorded one) -> the flat index entry, and the packages the folder holds.

    Written relative to the project (``./wheels``) when inside it, else as an absolute path (a shared filesystem
    mounted at the same path on every node)."""
    if args.no_wheelhouse:
        if args.wheelhouse:
            raise UsageError("--wheelhouse and --no-wheelhouse contradict each other")
        return None, frozenset()
    if args.wheelhouse:
        path = (cwd / Path(args.wheelhouse).expanduser()).resolve()
        what = f"--wheelhouse {args.wheelhouse}"
    elif recorded.get("wheelhouse"):
        written = str(recorded["wheelhouse"])
        path = (folder / written).resolve() if written.startswith(".") else Path(written)
        what = f"the recorded wheelhouse {written} ([tool.llmenv], --no-wheelhouse forgets it)"
    else:
        return None, frozenset()
    if not path.is_dir():
        raise UsageError(f"{what}: no such folder", hint="fill it with `llmenv wheelhouse DIR` first")
    from llmenv.indexes import IndexSpec
    from llmenv.wheelhouse import wheel_names
    from llmenv.wheelindex import INDEX

    names = wheel_names(path)
    if names is None:  # wheels without hashes: uv would lock them as bare paths and install a swapped one
        raise UsageError(
            f"{what}: no hashed index (simple/) there",
            hint=f"fill it with `llmenv wheelhouse {path}`, or index the wheels in it as they are now with "
            f"`llmenv wheelhouse --index-only {path}`",
        )
    if not names:
        raise UsageError(f"{what}: no wheels there", hint="fill it with `llmenv wheelhouse DIR` first")
    index = path / INDEX
    try:
        rel = index.relative_to(folder.resolve())
        url = f"./{rel.as_posix()}"
    except ValueError:
        url = str(index)
    return IndexSpec(name="wheelhouse", url=url), names


def _relocate(spec: str, base: Path, folder: Path) -> str:
    """Record a local SPEC relative to the project folder, so a re-run from anywhere finds it."""
    from llmenv.request import _LOCAL_RE

    m = _LOCAL_RE.match(spec.strip())
    if not m:
        return spec
    path = m.group("path")
    rel = os.path.relpath((base / path).expanduser().resolve(), folder.resolve())
    rel = rel if rel.startswith(".") else f"./{rel}"
    extras = m.group("extras")
    return f"{rel}[{extras}]" if extras else rel


def _record_target(t: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"os": t.os, "arch": t.arch, "python": t.python}
    if t.cpus is not None:
        d["cpus"] = t.cpus
    if t.memory_gib is not None:
        d["memory_gib"] = round(t.memory_gib, 1)
    if t.driver:
        d["driver"] = t.driver
    if t.cuda:
        d["cuda"] = str(t.cuda)
    if t.gpus:
        d["gpus"] = [{"name": g.name, "compute_capability": g.cc} for g in t.gpus]
    if t.nvcc:
        d["nvcc"] = t.nvcc
    if t.rocm:
        d["rocm"] = str(t.rocm)
    if t.amd_gpus:
        d["amd_gpus"] = [{"name": g.name, "gfx": g.gfx} for g in t.amd_gpus]
    if len(t.lock_platforms) > 1:
        d["platforms"] = list(t.lock_platforms)  # a re-run plans every platform of the lock again
    sized = [k for k in ("cpus", "memory_gib") if t.origins.get(k, "").startswith(("--", "[tool.llmenv]"))]
    if sized:
        d["sized"] = sized  # said of the build machine: a re-plan sizes MAX_JOBS from them again
    return d


def _with_paths(plan: Any, paths: dict[str, str]) -> Any:
    from dataclasses import replace

    extra = dict(plan.extra)
    extra["paths"] = paths
    return replace(plan, extra=extra)


def _with_companions(inputs: Any, constraints: Any, recorded: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """torchvision / torchaudio that the user has in the project (its dependencies, an extra or a group) follow
    the planned torch (same release, same index). They stay the user's: recorded under ``follow``, never dropped
    by a later run with other SPECs."""
    from dataclasses import replace

    from packaging.requirements import Requirement

    follow = set(recorded.get("follow", []))
    for n in ("torchvision", "torchaudio"):
        if constraints.requiring(n):
            follow.add(n)
    names = inputs.request.names()
    if "torch" not in names or not follow:
        return inputs, ()
    extra = [Requirement(n) for n in sorted(follow) if n not in names]
    request = replace(inputs.request, requirements=inputs.request.requirements + tuple(extra))
    return replace(inputs, request=request), tuple(sorted(follow))
