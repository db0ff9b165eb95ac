"""``llmenv wheelhouse [--project DIR] DIR``: every wheel the lock needs on the target platform, in one folder."""

from __future__ import annotations

import argparse

from llmenv.cli._context import Context

HELP = (
    "Fill DIR with every wheel the project's uv.lock needs on its target platform ([tool.llmenv.target], else "
    "[tool.uv] required-environments), sha256-checked against the lock: locked wheels (prebuilt flash-attn "
    "included) are downloaded or copied; a package locked only as a source distribution is taken from --add "
    "or from the wheel uv built into its cache. DIR/simple is a hashed index of them (PEP 503 pages with "
    "#sha256= links). Then `llmenv init --wheelhouse DIR` points the project at that index, so uv.lock records "
    "the hashes and nodes without internet install from it, build nothing, and refuse a swapped wheel. "
    "Exit 1 when a needed wheel is missing."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the wheelhouse folder (created if needed)")
    p.add_argument("--project", metavar="DIR", default=".", help="the project folder (default: the current one)")
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="WHEEL",
        help="a wheel you built (e.g. flash-attn compiled once from source) for a package of the lock; repeatable",
    )
    p.add_argument("--python", metavar="X.Y", help="the target's Python (default: the recorded target's)")
    p.add_argument(
        "--glibc",
        metavar="X.Y",
        help="the compute nodes' glibc, to pick manylinux wheels they can run (default: any)",
    )
    sel = p.add_argument_group("what to include (as `uv sync` would install it; default: the default groups)")
    sel.add_argument("--extra", action="append", default=[], metavar="NAME", help="an optional dependency group")
    sel.add_argument("--all-extras", action="store_true", help="every optional dependency group")
    sel.add_argument("--group", action="append", default=[], metavar="NAME", help="a dependency group")
    sel.add_argument("--all-groups", action="store_true", help="every dependency group")
    sel.add_argument("--no-dev", action="store_true", help="leave out the dev group")
    p.add_argument("--no-uv-cache", action="store_true", help="do not look for built wheels in uv's cache")
    p.add_argument("--prune", action="store_true", help="delete wheels in DIR that this lock does not need")
    p.add_argument("--jobs", type=int, default=8, metavar="N", help="parallel downloads (default: 8)")
    p.add_argument(
        "--index-only",
        action="store_true",
        help="only (re)write DIR/simple for the wheels already in DIR (ones you put there), hashing them as they "
        "are now; needs no project",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _selection_flags(args: argparse.Namespace) -> list[str]:
    flags: list[str] = []
    for e in args.extra:
        flags += ["--extra", e]
    for g in args.group:
        flags += ["--group", g]
    if args.all_extras:
        flags.append("--all-extras")
    if args.all_groups:
        flags.append("--all-groups")
    if args.no_dev:
        flags.append("--no-dev")
    return flags


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.errors import UsageError
    from llmenv.lockfile import export_pylock, read_toml
    from llmenv.shape import check_pyproject
    from llmenv.uvrun import checked_uv
    from llmenv.wheelhouse import cache_wheels, fill, select, target_from_project, uv_cache_dir
    from llmenv.wheelindex import BadWheel, check_wheel

    if args.index_only:
        return _index_only(args, ctx)
    project = (ctx.cwd / args.project).resolve()
    if not (project / "pyproject.toml").is_file():
        raise UsageError(f"no pyproject.toml in {project}")
    if not (project / "uv.lock").is_file():
        raise UsageError(f"no uv.lock in {project}", hint=f"create it with `llmenv lock --project {project}`")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    added = [(ctx.cwd / a).resolve() for a in args.add]
    for a in added:
        if not a.is_file():
            raise UsageError(f"--add {a}: no such file")
        try:
            check_wheel(a)
        except BadWheel as e:
            raise UsageError(f"--add {a}: not a wheel: {e}") from None
    dest = (ctx.cwd / args.dir).resolve()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is a file, not a folder")
    pyproject = read_toml(project / "pyproject.toml")
    check_pyproject(pyproject, str(project / "pyproject.toml"))
    target, target_from = target_from_project(pyproject, project, python=args.python, glibc=args.glibc)
    uv = checked_uv(ctx.environ)
    lock = export_pylock(uv, project, selection=_selection_flags(args), environ=ctx.environ)
    cache = None if args.no_uv_cache else uv_cache_dir(uv, ctx.environ)
    chosen = select(lock, target, added=added, built=cache_wheels(cache))
    result = fill(chosen, dest, jobs=args.jobs, prune=args.prune)
    if args.json:
        ctx.ui.json(
            {
                "dir": str(dest),
                "project": str(project),
                "target": {**target.marker_environment(), "glibc": target.glibc, "from": target_from},
                "wheels": [p.to_dict() for p in chosen.picks],
                "missing": [{"name": n, "version": v, "why": w} for n, v, w in chosen.missing],
                "local": [{"name": n, "path": p} for n, p in chosen.local],
                "downloaded": list(result.downloaded),
                "copied": list(result.copied),
                "kept": list(result.kept),
                "stale": list(result.stale),
                "pruned": result.pruned,
                "index": str(dest / "simple"),
                "indexed": result.indexed,
                "bytes": result.bytes,
                "notes": list(chosen.notes),
            }
        )
    else:
        mib = result.bytes / 2**20
        ctx.ui.print(
            f"{dest}: {len(chosen.picks)} wheel(s) for {target.describe()} (from {target_from}): "
            f"{len(result.downloaded)} downloaded, {len(result.copied)} copied, {len(result.kept)} already there "
            f"({mib:.1f} MiB in {result.seconds:.1f} s); {result.indexed} in its hashed index {dest / 'simple'}",
            style="head",
        )
        for p in chosen.picks:
            if p.source != "lock":
                ctx.ui.print(f"  {p.name} {p.version}: {p.filename} (from {p.source}: {p.path})")
        for note in chosen.notes:
            ctx.ui.print(f"  note: {note}", style="dim")
        for n, path in chosen.local:
            ctx.ui.print(
                f"  {n}: a source tree ({path}), installed from the project on each node, not from the wheelhouse",
                style="warn",
            )
        if result.stale:
            verb = "deleted" if result.pruned else "not needed by this lock (--prune deletes them)"
            ctx.ui.print(f"  {len(result.stale)} other wheel(s) {verb}: {', '.join(result.stale[:5])}", style="dim")
        for n, v, why in chosen.missing:
            ctx.ui.print(f"  MISSING {n} {v}: {why}", style="fail")
        if not chosen.missing:
            ctx.ui.print(
                f"next: llmenv init {project} --wheelhouse {dest} && llmenv lock --project {project} -- --offline; "
                "then on the nodes: uv sync --frozen --offline",
                style="hint",
            )
    return 1 if chosen.missing else 0


def _index_only(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.wheelhouse import index_folder

    dest = (ctx.cwd / args.dir).resolve()
    indexed, bad = index_folder(dest)
    if args.json:
        ctx.ui.json({"dir": str(dest), "index": str(dest / "simple"), "indexed": indexed, "not_indexed": bad})
    else:
        ctx.ui.print(f"{dest}: {indexed} wheel(s) in the hashed index {dest / 'simple'}", style="head")
        for line in bad:
            ctx.ui.print(f"  NOT INDEXED {line}", style="fail")
    return 1 if bad else 0
