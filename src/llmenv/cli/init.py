"""``llmenv init``: write (or update) the uv project for a plan, and optionally lock it."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

from llmenv.cli._context import Context
from llmenv.cli._planning import (
    add_planning_arguments,
    add_project_arguments,
    build_plan,
    render_plan,
    resolve_inputs,
)
from llmenv.errors import UsageError

HELP = (
    "Create a uv project for the plan (creating DIR if needed), or edit the pyproject.toml in DIR in place, "
    "keeping every byte llmenv does not manage. DIR is the first argument when it is an existing folder or "
    "looks like a path (., ./x, /x, ~/x, x/); otherwise it is the current folder. Without SPECs, the ones "
    "recorded in [tool.llmenv] are used (or torch)."
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


def split_dir(args: list[str], cwd: Path) -> tuple[Path, list[str]]:
    if args and _looks_like_dir(args[0], cwd):
        p = Path(args[0]).expanduser()
        return (p if p.is_absolute() else cwd / p), args[1:]
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
    from packaging.utils import canonicalize_name

    from llmenv.indexes import web_url
    from llmenv.project import ProjectFile, diff
    from llmenv.render import ProjectOptions, render

    folder, specs = split_dir(list(args.args), ctx.cwd)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder (DIR must be a folder)")
    pyproject = folder / "pyproject.toml"
    project = ProjectFile.open(pyproject)
    recorded: dict[str, Any] = {}
    tool = project.doc.get("tool")
    if isinstance(tool, dict) and isinstance(tool.get("llmenv"), dict):
        recorded = tool["llmenv"].unwrap() if hasattr(tool["llmenv"], "unwrap") else dict(tool["llmenv"])
    # Local SPECs are written relative to the current folder; they are recorded relative to the project.
    inputs = resolve_inputs(
        ctx,
        specs=specs,
        args=args,
        recorded=recorded,
        spec_base=ctx.cwd if specs else folder,
        project_dir=folder,
    )
    inputs, follow = _with_companions(inputs, project.doc, recorded)
    plan = build_plan(inputs)
    paths = {}
    for loc in inputs.request.locals:
        base = ctx.cwd if specs else folder
        rel = os.path.relpath((base / loc.path).resolve(), folder.resolve())
        paths[loc.name] = rel if rel.startswith(".") else f"./{rel}"
    if paths:
        plan = _with_paths(plan, paths)
    github_proxy = inputs.github_proxy
    python_mirror = web_url(args.python_mirror or recorded.get("python-mirror"), "--python-mirror", file=True)
    groups = _groups(args.groups, list(recorded.get("groups", [])))
    wheelhouse, wheelhouse_names = _wheelhouse(args, recorded, ctx.cwd, folder)
    record: dict[str, Any] = {
        "specs": [_relocate(s, ctx.cwd if specs else folder, folder) for s in inputs.specs],
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
    options = ProjectOptions(
        name=args.name or recorded.get("name") or canonicalize_name(folder.resolve().name) or "project",
        pypi_index=inputs.pypi_index,
        python_mirror=python_mirror,
        github_proxy=github_proxy,
        groups=groups,
        record=record,
        user_owned=follow,
        wheelhouse=wheelhouse,
        wheelhouse_names=wheelhouse_names,
    )
    project.doc = render(project.doc, plan, options)
    new_text = project.text()
    if args.dry_run:
        d = diff(project.original_text, new_text, "pyproject.toml")
        if args.json:
            ctx.ui.json({"plan": plan.to_dict(), "diff": d, "path": str(pyproject)})
        else:
            ctx.ui.print(d if d else f"{pyproject}: no change")
        return 0
    from llmenv.uvrun import checked_uv, deferred_signals, guard, run_uv

    # Everything that can refuse --lock refuses before the first write: a missing or too-old uv, a uv.lock
    # that is a folder or unreadable. From the write on, the guard restores both files unless the lock succeeds
    # (failure, Ctrl-C, SIGTERM).
    binary = checked_uv(ctx.environ) if args.lock else None
    with guard(pyproject, folder / "uv.lock") if args.lock else contextlib.nullcontext() as held:
        if not folder.exists():
            try:
                folder.mkdir(parents=True)
            except OSError as e:
                raise UsageError(f"cannot create {folder}: {e.strerror}") from None
        with deferred_signals():
            wrote = project.write()
        if args.json:
            ctx.ui.json({"plan": plan.to_dict(), "path": str(pyproject), "written": wrote})
        else:
            for line in render_plan(plan):
                ctx.ui.print(line)
            ctx.ui.print("")
            ctx.ui.print(f"{'wrote' if wrote else 'unchanged'} {pyproject}")
        if held is not None:
            return run_uv(ctx, ["lock"], folder, restore=held, binary=binary)
    return 0


def _wheelhouse(
    args: argparse.Namespace, recorded: dict[str, Any], cwd: Path, folder: Path
) -> tuple[Any, frozenset[str]]:
    """--wheelhouse DIR (or the recorded one) -> the flat index entry, and the packages the folder holds.

    Written relative to the project (``./wheels``) when inside it, else as an absolute path (a shared filesystem
    mounted at the same path on every node)."""
    from llmenv.indexes import IndexSpec
    from llmenv.wheelhouse import wheel_names
    from llmenv.wheelindex import INDEX

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
    sized = [k for k in ("cpus", "memory_gib") if t.origins.get(k, "").startswith(("--", "[tool.llmenv]"))]
    if sized:
        d["sized"] = sized  # said of the build machine: a re-plan sizes MAX_JOBS from them again
    return d


def _with_paths(plan: Any, paths: dict[str, str]) -> Any:
    from dataclasses import replace

    extra = dict(plan.extra)
    extra["paths"] = paths
    return replace(plan, extra=extra)


def _with_companions(inputs: Any, doc: Any, recorded: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """torchvision / torchaudio that the user has in the project follow the planned torch (same release, same
    index). They stay the user's: recorded under ``follow``, never dropped by a later run with other SPECs."""
    from dataclasses import replace

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    managed = set(recorded.get("managed", {}).get("dependencies", []))
    follow = set(recorded.get("follow", []))
    for line in doc.get("project", {}).get("dependencies", []) or []:
        try:
            n = canonicalize_name(Requirement(str(line)).name)
        except InvalidRequirement:
            continue
        if n in ("torchvision", "torchaudio") and n not in managed:
            follow.add(n)
    names = inputs.request.names()
    if "torch" not in names or not follow:
        return inputs, ()
    extra = [Requirement(n) for n in sorted(follow) if n not in names]
    request = replace(inputs.request, requirements=inputs.request.requirements + tuple(extra))
    return replace(inputs, request=request), tuple(sorted(follow))
