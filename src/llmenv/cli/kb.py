"""``llmenv kb refresh | show``: refresh every table llmenv plans with from its source; show what is in use."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from llmenv.cli._context import Context
from llmenv.errors import NoAnswer, UsageError

HELP = (
    "Refresh llmenv's knowledge (torch builds from the PyTorch index and PyPI, the frameworks' pins from PyPI, "
    "flash-attn wheels from GitHub) or show every table in use with its date and source."
)
TABLE_NAMES = ("pins", "engines", "torch", "flash-attn", "wheel-sources")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser(
        "refresh",
        help="read every refreshable table again from its source into the user data directory",
        description="Read the pins (PyPI), the engines' torch pins (from the pins), the torch table (the "
        "PyTorch index and PyPI), the flash-attn wheels (GitHub releases) and the wheel sources' listings (each "
        "source's index or releases API, all or nothing per source) again. A table whose source fails "
        "is not refreshed and the one in use stays; the others are written (each atomically) once every read "
        "is over. An interrupted refresh writes nothing. Exit 1 when a table could not be refreshed.",
    )
    r.add_argument(
        "--only",
        action="append",
        choices=TABLE_NAMES,
        metavar="TABLE",
        help=f"refresh only this table (repeatable; {', '.join(TABLE_NAMES)})",
    )
    g = r.add_argument_group("sources")
    g.add_argument(
        "--index", metavar="URL", default=None, help="a simple index for PyPI's part; default PyPI"
    )
    g.add_argument(
        "--torch-index",
        metavar="URL|pypi",
        default=None,
        help="the PyTorch index or a mirror ({variant} is replaced, e.g. cu126; default "
        "https://download.pytorch.org/whl/{variant}); 'pypi' reads torch from PyPI only and keeps the "
        "index's variants of the table in use",
    )
    g.add_argument(
        "--mirror",
        action="append",
        metavar="NAME|URL",
        help="tuna, aliyun, nju, ustc or a PyPI mirror URL: where PyPI (and, for aliyun / nju, the PyTorch "
        "index) is read from (repeatable; the first that serves each wins)",
    )
    g.add_argument(
        "--github-proxy", metavar="URL", help="prefix for GitHub API requests (URL/https://api...)"
    )
    o = r.add_argument_group("output")
    o.add_argument(
        "--output",
        metavar="DIR",
        type=Path,
        default=None,
        help="the folder to write the tables into (default: the user data directory; with --bundled, "
        "the package's knowledge/data)",
    )
    o.add_argument(
        "--bundled",
        action="store_true",
        help="the form shipped in the package (the pins' Requires-Dist lines filtered to tracked packages)",
    )
    o.add_argument(
        "--facts",
        metavar="DIR",
        type=Path,
        default=None,
        help="with --bundled: the facts folder a wheel source that cannot be reached is rebuilt from",
    )
    o.add_argument(
        "--check",
        metavar="DIR",
        type=Path,
        default=None,
        help="write nothing; read again and compare with the tables in DIR: exit 1 when something they hold "
        "reads differently now (releases published since are only counted)",
    )
    h = r.add_argument_group("how")
    h.add_argument("--reread", action="store_true", help="read every torch wheel again (facts are not kept)")
    h.add_argument("--jobs", type=int, default=8, metavar="N", help="requests at once (default 8)")
    h.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="retries of a request after a 5xx, a timeout or a connection error (default 3)",
    )
    h.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)")
    h.add_argument("--no-cache", action="store_true", help="neither read nor write the metadata cache")
    s = sub.add_parser(
        "show",
        help="every table in use: bundled or refreshed, its date and source; the pins per package",
        description="List every knowledge table (bundled or refreshed by `kb refresh`) with its date and source, "
        "then the pins snapshot's releases per package.",
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


def _check_numbers(args: argparse.Namespace) -> None:
    """Bad numbers are bad input (exit 2): ``--timeout nan`` used to reach httpx and fail inside it."""
    import math

    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: at least 1 request at once is needed")
    if args.retries < 0:
        raise UsageError(f"--retries {args.retries}: give 0 or more")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout}: give a number of seconds above 0 (e.g. 30)")


def _http_url(value: str, flag: str) -> str:
    from urllib.parse import urlparse

    p = urlparse(value)
    if p.scheme not in ("http", "https") or not p.netloc:
        raise UsageError(f"{flag} {value!r}: an http(s) URL is needed")
    return value.rstrip("/")


def _torch_source(args: argparse.Namespace, mirror: Any) -> Any:
    """--torch-index / the mirror's PyTorch part / the default index; None for 'pypi'."""
    from llmenv.indexes import PYTORCH_INDEX
    from llmenv.knowledge.refresh.torch import TorchSource

    if args.torch_index is not None:
        if args.torch_index.strip() == "pypi":
            return None
        return TorchSource(template=_http_url(args.torch_index.strip(), "--torch-index"))
    if mirror is not None and mirror.pytorch:
        return TorchSource(template=_http_url(mirror.pytorch, "--mirror"), flat=mirror.pytorch_flat)
    return TorchSource(template=PYTORCH_INDEX)


def _folders(args: argparse.Namespace, ctx: Context) -> tuple[Path, Path | None]:
    from llmenv.knowledge import user_data_dir

    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else ctx.cwd / p

    if args.output is not None:
        out = absolute(args.output)
    elif args.bundled:
        import llmenv.knowledge

        out = Path(llmenv.knowledge.__file__).parent / "data"
    else:
        out = user_data_dir(ctx.environ)
    if out.suffix == ".json":
        raise UsageError(f"--output {args.output}: give a folder (the tables are written into it)")
    check = absolute(args.check) if args.check is not None else None
    if check is not None and check.is_file():
        check = check.parent  # a table's file names its folder
    return out, check


def _refresh(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.indexes import parse_mirrors
    from llmenv.knowledge import load, user_data_dir
    from llmenv.knowledge.refresh.tables import Sources, refresh_tables
    from llmenv.pypi import DEFAULT_INDEX, Cache, PyPIClient

    _check_numbers(args)
    pypi_mirror, mirror = parse_mirrors(list(args.mirror or []))
    index = _http_url(args.index or (pypi_mirror.url if pypi_mirror else DEFAULT_INDEX), "--index")
    source = _torch_source(args, mirror)
    proxy = _http_url(args.github_proxy, "--github-proxy") if args.github_proxy else None
    out, check = _folders(args, ctx)
    cache = None if args.no_cache else Cache(cache_dir(ctx.environ) / "pypi")
    isatty = getattr(ctx.ui.err, "isatty", None)
    bar = _Bar(ctx) if isatty and isatty() else None
    # What the refresh starts from (facts it may keep): the tables in use, the bundled ones for --bundled, the
    # compared ones for --check (which reads every wheel again: a check that kept facts would prove nothing).
    kb = load(check if check is not None else out if args.bundled else user_data_dir(ctx.environ))
    started = time.monotonic()
    wanted = tuple(args.only or TABLE_NAMES)
    tables = tuple(t for t in wanted if t != "wheel-sources")
    outcomes: Sequence[Any] = []

    def client(url: str) -> PyPIClient:
        return PyPIClient(url, cache=cache, retries=args.retries, timeout=args.timeout)

    with ExitStack() as stack:
        clients = [stack.enter_context(client(u)) for u in (index, index, "https://api.github.com")]
        if bar is not None:
            stack.enter_context(bar)
        sources = Sources(
            pypi=clients[0],
            torch_index=clients[1] if source is not None else None,
            torch_source=source,
            github=clients[2],
            github_proxy=proxy,
            github_token=ctx.environ.get("GITHUB_TOKEN") or None,
            jobs=args.jobs,
            reread=args.reread or check is not None,
        )
        if tables:
            outcomes = refresh_tables(sources, kb, tables=tables, progress=bar, check=check is not None)
    listings = None if check is not None or "wheel-sources" not in wanted else _read_listings(ctx, proxy, args)
    took = time.monotonic() - started
    if check is not None:
        return _check(ctx, check, outcomes)
    if listings is None:
        return _report(ctx, kb, outcomes, out, bundled=args.bundled, took=took)
    # every read is over: the tables, then the listings (each source all or nothing) are written
    try:
        code = _report(ctx, kb, outcomes, out, bundled=args.bundled, took=took) if outcomes else 0
    finally:
        failed = _write_listings(ctx, listings, out, args)
    if failed:
        raise NoAnswer(
            f"kb refresh: {len(failed)} wheel sources not refreshed ({', '.join(failed)})",
            hint="each kept the listing in use (rebuilt from --facts when given); the others were written",
        )
    return code


def _read_listings(ctx: Context, proxy: str | None, args: argparse.Namespace) -> Any:
    """The wheel sources' listings read again (llmenv.sources.kbcli), before anything is written."""
    from llmenv.sources.kbcli import read_wheel_sources

    return read_wheel_sources(
        ctx.environ, github_proxy=proxy, bundled=args.bundled, facts=args.facts, retries=args.retries
    )


def _write_listings(ctx: Context, listings: Any, out: Path, args: argparse.Namespace) -> tuple[str, ...]:
    from llmenv.sources.kbcli import write_wheel_sources
    from llmenv.sources.listing import LISTINGS_NAME

    path = out / LISTINGS_NAME
    try:
        failed = write_wheel_sources(listings, path, ctx.ui.print)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}; the listings in use are unchanged") from e
    ctx.ui.print(f"wrote {path}")
    return failed


def _report(ctx: Context, kb: Any, outcomes: Sequence[Any], out: Path, *, bundled: bool, took: float) -> int:
    from llmenv.kb import filter_snapshot
    from llmenv.knowledge.refresh.tables import write_table

    for o in outcomes:
        for w in o.warnings:
            ctx.ui.eprint(f"warning: {o.name}: {w}", style="warn")
    written = []
    for o in outcomes:
        if o.data is None:
            continue
        data = filter_snapshot(o.data) if bundled and o.name == "pins" else o.data
        try:
            written.append(write_table(out, o.name, data))
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror or e}; the tables in use are unchanged") from e
    for o in outcomes:
        if o.ok:
            ctx.ui.print(f"{o.name:<11} refreshed: {o.summary}")
        else:
            info = kb.info(o.name)
            kept = f"kept the {info.origin} table of {info.date}" if info.date else "kept the table in use"
            ctx.ui.eprint(f"{o.name:<11} not refreshed: {o.why}; {kept}", style="warn")
        for note in o.notes:
            ctx.ui.print(f"{'':<11} note: {note}")
    if written:
        ctx.ui.print(f"wrote {', '.join(str(p) for p in written)}" + (" (bundled form)" if bundled else ""))
    ctx.ui.print(f"took {took:.1f} s")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        names = ", ".join(o.name for o in failed)
        raise NoAnswer(
            f"kb refresh: {len(failed)} of {len(outcomes)} tables not refreshed ({names})",
            hint="the tables in use stay as they were" + ("; the others were written" if written else ""),
        )
    return 0


def _check(ctx: Context, folder: Path, outcomes: Sequence[Any]) -> int:
    import json

    from llmenv.kb import filter_snapshot
    from llmenv.knowledge._store import TABLES
    from llmenv.knowledge.refresh.check import compare

    bad = checked = 0
    for o in outcomes:
        path = folder / TABLES[o.name].file
        if o.data is None:
            ctx.ui.eprint(f"{o.name:<11} not checked: {o.why}", style="warn")
            continue
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"--check {path}: cannot read the table ({e})") from e
        new = filter_snapshot(o.data) if o.name == "pins" and old.get("filtered") else o.data
        if o.name == "pins" and bool(old.get("filtered")) != bool(new.get("filtered")):
            raise UsageError(f"--check {path}: one snapshot is filtered and the other is not")
        differences, added = compare(o.name, old, new, partial=o.partial)
        checked += 1
        for d in differences:
            ctx.ui.print(f"{o.name:<11} differs: {d}")
        for note in o.notes:
            ctx.ui.print(f"{'':<11} note: {note}")
        since = f"; {len(added)} published since" if added else ""
        if differences:
            bad += 1
            ctx.ui.eprint(
                f"{o.name:<11} {path}: {len(differences)} entries read differently now{since}", style="fail"
            )
        else:
            ctx.ui.print(
                f"{o.name:<11} {path}: reads the same again{since}" + (" (PyPI part)" if o.partial else "")
            )
    if not checked:
        raise NoAnswer("kb refresh --check: nothing could be checked (no source answered)")
    if bad:
        raise NoAnswer(f"kb refresh --check: {bad} of {checked} tables read differently now")
    return 0


def _show(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.knowledge import load, user_data_dir

    kb = load(user_data_dir(ctx.environ))
    pins = kb.pins
    tables = kb.tables()
    rows: dict[str, dict[str, Any]] = {}
    for name in pins.names():
        rels = pins.releases(name)
        newest = pins.newest(name) or (rels[0] if rels else None)
        rows[name] = {
            "releases": len(rels),
            "newest": str(newest.version) if newest else None,
            "requires_dist": pins.full(name),
        }
    for t in tables:
        if t.ignored:
            ctx.ui.eprint(f"warning: the user's {t.name} table is not used: {t.ignored}", style="warn")
    from llmenv.sources.kbcli import show_lines

    if args.json:
        ctx.ui.json(
            {
                "tables": [t.to_dict() for t in tables],
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
    w = max([len("table"), *(len(t.name) for t in tables)]) + 2  # the longest name (extension-builds) gets a gap too
    ctx.ui.print(f"{'table':<{w}}{'in use':<9}{'date':<12}source", style="head")
    for t in tables:
        origin = t.origin + ("" if t.refreshable and not t.made_by else "*")
        ctx.ui.print(f"{t.name:<{w}}{origin:<9}{t.date or '-':<12}{t.source}")
    ctx.ui.print("(* not rewritten by `kb refresh`: curated, or made by its script; a user copy of a script's wins)")
    ctx.ui.print()
    where = str(pins.path) if pins.path else "package data"
    ctx.ui.print(f"pins snapshot  {pins.origin} ({where})")
    ctx.ui.print(f"generated      {pins.generated}")
    ctx.ui.print(f"index          {pins.index}")
    if pins.filtered:
        ctx.ui.print(
            "filtered       yes (Requires-Dist lines naming tracked packages; verl and openrlhf whole)"
        )
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
