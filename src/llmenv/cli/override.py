"""``llmenv override``: write a package's metadata with relaxed pins as ``[[tool.uv.dependency-metadata]]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmenv.cli._context import Context
from llmenv.errors import UsageError

HELP = (
    "Write PKG's real metadata (from --from a local tree or wheel, else from PyPI), with the pins you --set or "
    "--drop, as a [[tool.uv.dependency-metadata]] entry in the project, so uv resolves with it. setup.py is read "
    "statically, never run. Overrides are recorded in [tool.llmenv.overrides]: a later override of the same "
    "release adds to the earlier ones, and `llmenv init` applies them again (last)."
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
        help="replace PKG's requirement on that package, e.g. transformers==4.57.1 (repeatable); a package PKG "
        "does not require is refused (a typo) unless --add is given",
    )
    p.add_argument(
        "--add",
        action="store_true",
        help="let --set add requirements on packages PKG does not require",
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


def _entry(doc: object, name: str) -> dict[str, object] | None:
    """The project's ``[[tool.uv.dependency-metadata]]`` entry for ``name`` (plain), if any."""
    from packaging.utils import canonicalize_name

    uv = doc.get("tool", {}).get("uv", {}) if isinstance(doc, dict) else {}
    for e in uv.get("dependency-metadata", []) if isinstance(uv, dict) else []:
        if isinstance(e, dict) and canonicalize_name(str(e.get("name", ""))) == name:
            return e
    return None


def _recorded(doc: object, name: str) -> object:
    tool = doc.get("tool", {}) if isinstance(doc, dict) else {}
    llm = tool.get("llmenv", {}) if isinstance(tool, dict) else {}
    overrides = llm.get("overrides", {}) if isinstance(llm, dict) else {}
    return overrides.get(name) if isinstance(overrides, dict) else None


def _metadata(
    args: argparse.Namespace, ctx: Context, name: str, version: str | None, doc: dict[str, object]
) -> tuple[object, str]:
    """The metadata the override applies to: the project's own entry for that release when it has one (earlier
    overrides are already in it), else --from PATH, else the release on PyPI."""
    from packaging.utils import canonicalize_name

    from llmenv import metadata
    from llmenv.override import from_entry

    current = _entry(doc, name)
    if (
        current is not None
        and not args.source
        and (version is None or str(current.get("version")) == version)
    ):
        meta = from_entry(current)
        return meta, str(meta.version)
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
            raise UsageError(f"--from {args.source} is {meta.name}, not {args.package}")
        version = version or meta.version
        if version is None:
            raise UsageError(f"{args.source}: its version is not static; give {args.package}==VERSION")
        return meta, version
    version = version or _version_in_project(doc, name)
    if version is None:
        raise UsageError(f"which {args.package}? give {args.package}==VERSION (the project pins none)")
    return metadata.from_pypi(name, version), version


def run(args: argparse.Namespace, ctx: Context) -> int:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from llmenv.override import Ops, apply_override, check_names, parse_sets
    from llmenv.plan import exact_pin
    from llmenv.project import ProjectFile, diff, locked
    from llmenv.render import write_override

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
    path = folder / "pyproject.toml"
    with locked(path, on_wait=lambda: ctx.ui.eprint(f"waiting for another llmenv run editing {path} ...")):
        project = ProjectFile.open(path)
        if project.original is None:
            raise UsageError(f"no pyproject.toml in {folder} (run `llmenv init` first)")
        name = canonicalize_name(req.name)
        doc = project.doc.unwrap()
        meta, version = _metadata(
            args, ctx, name, str(exact_pin(req.specifier)) if str(req.specifier) else None, doc
        )
        earlier = Ops.from_record(_recorded(doc, name))
        if earlier is not None and earlier.version != version:
            earlier = None
        required = {canonicalize_name(Requirement(x).name) for x in meta.requires_dist}  # type: ignore[attr-defined]
        adds = [r for r in sets if args.add and canonicalize_name(r.name) not in required]
        plain_sets = [r for r in sets if r not in adds]
        check_names(meta, name=name, version=version, sets=plain_sets, drops=args.drops, earlier=earlier)  # type: ignore[arg-type]
        new = Ops(
            version=version,
            sets=tuple(str(r) for r in plain_sets),
            drops=tuple(canonicalize_name(d) for d in args.drops),
            adds=tuple(str(r) for r in adds),
            source=str(args.source) if args.source else None,
        )
        ops = earlier.merged(new) if earlier is not None else new
        override = apply_override(
            meta,  # type: ignore[arg-type]
            name=name,
            version=version,
            sets=parse_sets(ops.sets),
            drops=ops.drops,
            adds=parse_sets(ops.adds),
            strict=False,
        )
        project.doc = write_override(project.doc, override.entry(), ops.to_record())
        for c in override.changes:
            if c.before == c.after:
                continue
            before = ", ".join(c.before) or "(not required)"
            after = ", ".join(c.after) or "(dropped)"
            ctx.ui.print(f"{name} {version}: {before} -> {after}")
        if args.dry_run:
            ctx.ui.print(diff(project.original_text, project.text(), "pyproject.toml") or "no change")
            return 0
        wrote = project.write()
    ctx.ui.print(
        f"{'wrote' if wrote else 'unchanged'} {project.path} ([[tool.uv.dependency-metadata]] {name} {version}, "
        f"read from {override.source}; recorded in [tool.llmenv.overrides])"
    )
    return 0
