"""``llmenv override``: write a package's metadata with relaxed pins as ``[[tool.uv.dependency-metadata]]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmenv.cli._context import Context
from llmenv.errors import UsageError

HELP = (
    "Write PKG's real metadata (from --from a local tree or wheel, else from PyPI), with the pins you --set or "
    "--drop, as a [[tool.uv.dependency-metadata]] entry in the project, so uv resolves with it. setup.py is read "
    "statically, never run."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "package", metavar="PKG[==VERSION]", help="the package whose pins to relax, e.g. openrlhf==0.8.11"
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="REQ",
        help="replace PKG's requirement on that package, e.g. transformers==4.57.1 (repeatable)",
    )
    p.add_argument(
        "--drop",
        dest="drops",
        action="append",
        default=[],
        metavar="NAME",
        help="remove PKG's requirement on NAME (repeatable)",
    )
    p.add_argument(
        "--from", dest="source", metavar="PATH", help="a local source tree or a wheel file to read"
    )
    p.add_argument("--project", metavar="DIR", default=".", help="the project folder (default: .)")
    p.add_argument("--dry-run", action="store_true", help="print the diff and write nothing")


def _version_in_project(doc: object, name: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from llmenv.plan import exact_pin

    deps = doc.get("project", {}).get("dependencies", []) if isinstance(doc, dict) else []
    for line in deps or []:
        try:
            r = Requirement(str(line))
        except InvalidRequirement:
            continue
        if canonicalize_name(r.name) == canonicalize_name(name):
            v = exact_pin(r.specifier)
            return str(v) if v else None
    return None


def run(args: argparse.Namespace, ctx: Context) -> int:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from llmenv import metadata
    from llmenv.override import apply_override, parse_sets
    from llmenv.plan import exact_pin
    from llmenv.project import ProjectFile, diff
    from llmenv.render import write_dependency_metadata

    try:
        req = Requirement(args.package)
    except InvalidRequirement as e:
        raise UsageError(f"{args.package!r}: not PKG or PKG==VERSION ({str(e).splitlines()[0]})") from None
    if req.extras or req.marker or req.url or (str(req.specifier) and exact_pin(req.specifier) is None):
        raise UsageError(f"{args.package!r}: give PKG or PKG==VERSION")
    sets = parse_sets(args.sets)
    if not sets and not args.drops:
        raise UsageError("nothing to override: give --set REQ and/or --drop NAME")
    folder = Path(args.project).expanduser()
    folder = folder if folder.is_absolute() else ctx.cwd / folder
    project = ProjectFile.open(folder / "pyproject.toml")
    if project.original is None:
        raise UsageError(f"no pyproject.toml in {folder} (run `llmenv init` first)")
    version = str(exact_pin(req.specifier)) if str(req.specifier) else None
    name = canonicalize_name(req.name)
    if args.source:
        src = Path(args.source).expanduser()
        src = src if src.is_absolute() else ctx.cwd / src
        if src.is_dir():
            meta = metadata.from_tree(src)
        elif src.suffix == ".whl" and src.is_file():
            meta = metadata.from_wheel(src)
        else:
            raise UsageError(f"--from {args.source}: neither a source tree nor a wheel file")
        if meta.name and canonicalize_name(meta.name) != name:
            raise UsageError(f"--from {args.source} is {meta.name}, not {req.name}")
        version = version or meta.version
        if version is None:
            raise UsageError(f"{args.source}: its version is not static; give {req.name}==VERSION")
    else:
        version = version or _version_in_project(project.doc.unwrap(), name)
        if version is None:
            raise UsageError(f"which {req.name}? give {req.name}==VERSION (the project pins none)")
        meta = metadata.from_pypi(name, version)
    override = apply_override(meta, name=name, version=version, sets=sets, drops=args.drops)
    project.doc = write_dependency_metadata(project.doc, [override.entry()])
    for c in override.changes:
        before = ", ".join(c.before) or "(not required)"
        after = ", ".join(c.after) or "(dropped)"
        ctx.ui.print(f"{name} {version}: {before} -> {after}")
    if args.dry_run:
        ctx.ui.print(diff(project.original_text, project.text(), "pyproject.toml") or "no change")
        return 0
    wrote = project.write()
    ctx.ui.print(
        f"{'wrote' if wrote else 'unchanged'} {project.path} ([[tool.uv.dependency-metadata]] {name} {version}, "
        f"read from {meta.source})"
    )
    return 0
