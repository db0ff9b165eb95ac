"""``llmenv kb refresh | show``: read the frameworks' pins from PyPI; show the snapshot in use."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmenv.cli._context import Context
from llmenv.errors import NoAnswer, UsageError

TABLES = ("pins", "wheel-sources")
HELP = (
    "Refresh llmenv's knowledge of the frameworks' pins (vllm, sglang, verl, openrlhf and what they pin) "
    "from PyPI, or show the snapshot in use."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser(
        "refresh",
        help="read every release's metadata from the index into the user snapshot",
        description="Read every release of the tracked packages from a PEP 691 index (PyPI by default) and "
        "write a snapshot that then takes precedence over the bundled one. A failed or interrupted refresh "
        "writes nothing.",
    )
    r.add_argument(
        "--only",
        action="append",
        choices=TABLES,
        metavar="TABLE",
        help=f"refresh only this table (repeatable; {', '.join(TABLES)}; default: all)",
    )
    r.add_argument("--index", metavar="URL", default=None, help="a PEP 691 (JSON) simple index; default PyPI")
    r.add_argument(
        "--github-proxy",
        metavar="URL",
        default=None,
        help="prefix for GitHub API and download URLs (wheel-sources: the release-assets sources)",
    )
    r.add_argument(
        "--facts",
        metavar="DIR",
        type=Path,
        default=None,
        help="with --bundled: the facts folder a wheel source that cannot be reached is rebuilt from",
    )
    r.add_argument(
        "--output",
        metavar="PATH",
        type=Path,
        default=None,
        help="where to write the snapshot (default: the user data directory's pins.json)",
    )
    r.add_argument(
        "--bundled",
        action="store_true",
        help="write the filtered form shipped in the package (Requires-Dist lines naming tracked "
        "packages only)",
    )
    r.add_argument(
        "--check",
        metavar="PATH",
        type=Path,
        default=None,
        help="write nothing; read again and compare with the snapshot at PATH: exit 1 when a release "
        "it holds reads differently now (releases published since are only counted)",
    )
    r.add_argument("--jobs", type=int, default=8, metavar="N", help="requests at once (default 8)")
    r.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="retries of a request after a 5xx, a timeout or a connection error (default 3)",
    )
    r.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)")
    r.add_argument("--no-cache", action="store_true", help="neither read nor write the metadata cache")
    s = sub.add_parser(
        "show",
        help="which snapshot is in use, its date, index and counts",
        description="Show which pins snapshot is in use (bundled or user), its date, index and "
        "the releases it knows per package.",
    )
    s.add_argument("--json", action="store_true", help="print one JSON object")


def cache_dir(environ: Mapping[str, str]) -> Path:
    """``$LLMENV_CACHE_DIR``, else platformdirs' user cache directory."""
    if environ.get("LLMENV_CACHE_DIR"):
        return Path(environ["LLMENV_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmenv"))


class _Bar:
    """A rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, ctx: Context) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=ctx.ui.err, no_color=bool(ctx.environ.get("NO_COLOR")))
        self._p = Progress(
            TextColumn("reading PyPI"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._p.add_task("refresh", total=0)

    def __enter__(self) -> _Bar:
        self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._p.stop()

    def add(self, total: int) -> None:
        t = self._p.tasks[0].total or 0
        self._p.update(self._task, total=t + total)

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._task, n)


def _refresh(args: argparse.Namespace, ctx: Context) -> int:
    """Each table asked for (all by default), all or nothing per table (per source for the wheel sources)."""
    tables = set(args.only or TABLES) if args.check is None else {"pins"}
    code = _refresh_pins(args, ctx) if "pins" in tables else 0
    if "wheel-sources" in tables:
        code = max(code, _refresh_wheel_sources(args, ctx))
    return code


def _refresh_wheel_sources(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.indexes import web_url
    from llmenv.sources.kbcli import refresh_wheel_sources

    proxy = web_url(args.github_proxy, "--github-proxy")
    try:
        code, path = refresh_wheel_sources(
            ctx.ui.print,
            ctx.environ,
            github_proxy=proxy,
            bundled=args.bundled,
            facts=args.facts,
            retries=args.retries,
        )
    except OSError as e:
        raise UsageError(f"cannot write the wheel listings: {e.strerror or e}; the ones in use are unchanged") from e
    ctx.ui.print(f"wrote {path}")
    return code


def _refresh_pins(args: argparse.Namespace, ctx: Context) -> int:
    from contextlib import nullcontext

    from llmenv.kb import filter_snapshot, refresh, write_snapshot
    from llmenv.knowledge.pins import user_data_dir, user_snapshot_path
    from llmenv.pypi import DEFAULT_INDEX, Cache, PyPIClient

    if args.jobs < 1 or args.retries < 0 or args.timeout <= 0:
        raise UsageError("--jobs must be >= 1, --retries >= 0 and --timeout > 0")
    index = (args.index or DEFAULT_INDEX).rstrip("/")
    if not index.startswith(("http://", "https://")):
        raise UsageError(f"--index {index!r}: an http(s) URL of a PEP 691 simple index is needed")
    out = args.output if args.output is not None else user_snapshot_path(user_data_dir(ctx.environ))
    if not out.is_absolute():
        out = ctx.cwd / out
    cache = None if args.no_cache else Cache(cache_dir(ctx.environ) / "pypi")
    isatty = getattr(ctx.ui.err, "isatty", None)
    bar = _Bar(ctx) if isatty and isatty() else None
    started = time.monotonic()
    with (
        PyPIClient(index, cache=cache, retries=args.retries, timeout=args.timeout) as client,
        bar or nullcontext(),
    ):
        result = refresh(client, jobs=args.jobs, progress=bar)
    took = time.monotonic() - started
    for w in result.warnings:
        ctx.ui.eprint(f"warning: {w}", style="warn")
    if result.snapshot is None:
        failed = "; ".join(f"{name}: {why}" for name, why in sorted(result.failures.items()))
        raise NoAnswer(
            f"kb refresh failed — {failed}",
            hint=f"nothing was written; the previous knowledge is unchanged ({out})",
        )
    snapshot = filter_snapshot(result.snapshot) if args.bundled else result.snapshot
    st = result.stats
    if args.check is not None:
        return _check(ctx, args.check if args.check.is_absolute() else ctx.cwd / args.check, snapshot)
    try:
        write_snapshot(out, snapshot)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}; the previous knowledge is unchanged") from e
    sources = ", ".join(f"{n} {k}" for k, n in sorted(st["sources"].items())) or "none fetched"
    ctx.ui.print(
        f"read {len(snapshot['packages'])} packages, {result.releases} releases from {index} in {took:.1f} s "
        f"({st['requests']} requests; metadata: {sources}; {st['metadata_cached']} from cache)"
    )
    ctx.ui.print(f"wrote {out}" + (" (filtered, bundled form)" if args.bundled else ""))
    return 0


def _check(ctx: Context, path: Path, snapshot: Mapping[str, Any]) -> int:
    import json

    from llmenv.kb import compare_snapshots

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"--check {path}: cannot read the snapshot ({e})") from e
    if bool(old.get("filtered")) != bool(snapshot.get("filtered")):
        raise UsageError(
            f"--check {path}: one snapshot is filtered and the other is not (use --bundled "
            "for the bundled one)"
        )
    differences, added = compare_snapshots(old, snapshot)
    for d in differences:
        ctx.ui.print(f"differs: {d}")
    releases = sum(len(p["releases"]) for p in old["packages"].values())
    tail = f"; {len(added)} releases published since" if added else ""
    if differences:
        ctx.ui.eprint(
            f"{path}: {len(differences)} of {releases} releases read differently now{tail}", style="fail"
        )
        return 1
    ctx.ui.print(f"{path}: all {releases} releases read the same again{tail}")
    return 0


def _show(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.knowledge.pins import load_pins, user_data_dir

    pins = load_pins(user_data_dir(ctx.environ))
    rows: dict[str, dict[str, Any]] = {}
    for name in pins.names():
        rels = pins.releases(name)
        newest = pins.newest(name) or (rels[0] if rels else None)
        rows[name] = {
            "releases": len(rels),
            "newest": str(newest.version) if newest else None,
            "requires_dist": pins.full(name),
        }
    where = str(pins.path) if pins.path else "package data"
    if pins.ignored:
        ctx.ui.eprint(f"warning: user snapshot ignored: {pins.ignored}", style="warn")
    from llmenv.sources.kbcli import show_lines

    if args.json:
        ctx.ui.json(
            {
                "wheel_listings": show_lines(ctx.environ),
                "snapshot": pins.origin,
                "path": str(pins.path) if pins.path else None,
                "generated": pins.generated,
                "index": pins.index,
                "filtered": pins.filtered,
                "ignored": pins.ignored,
                "packages": rows,
            }
        )
        return 0
    ctx.ui.print(f"snapshot   {pins.origin} ({where})")
    ctx.ui.print(f"generated  {pins.generated}")
    ctx.ui.print(f"index      {pins.index}")
    if pins.filtered:
        ctx.ui.print("filtered   yes (Requires-Dist lines naming tracked packages; verl and openrlhf whole)")
    ctx.ui.print()
    ctx.ui.print(f"{'package':<20}{'releases':>9}  {'newest':<14}metadata", style="head")
    for name, row in rows.items():
        meta = "requires-dist" if row["requires_dist"] else "index only"
        ctx.ui.print(f"{name:<20}{row['releases']:>9}  {row['newest'] or '-':<14}{meta}")
    ctx.ui.print()
    for line in show_lines(ctx.environ):
        ctx.ui.print(line)
    return 0


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "refresh":
        return _refresh(args, ctx)
    return _show(args, ctx)
