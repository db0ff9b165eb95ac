"""Index: the package or version is not where the resolver looked (the index, find-links, the first-index strategy,
credentials)."""

from __future__ import annotations

from packaging.utils import canonicalize_name

from llmenv.explain import _toml as toml
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, Term
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    is_pre,
    local_label,
    newest_version,
    uv_derivations,
)

# ------------------------------------------------------------------------------------------------------------
# index


def check_index(log: Log) -> list[Cause]:
    """The package or version is not where the resolver looked: wrong or missing index, first-index strategy,
    a stale find-links page, credentials."""
    out: list[Cause] = []
    first_index = log.hint(r"`(?P<pkg>[^`]+)` was found on (?P<found>\S+), but not at the requested version \((?P<req>[^)]+)\)\. A compatible version may be available on a subsequent index \(e\.g\., (?P<next>[^)]+)\)")
    if first_index:
        pkg, found = first_index.group("pkg"), first_index.group("found").rstrip(",")
        ev: tuple[str, ...] = (next(h for h in log.hints if first_index.group(0) in h),)
        idx = "pytorch" if "pytorch" in found else "extra"
        out.append(Cause(
            kind="index", packages=(canonicalize_name(pkg),),
            summary=f"{pkg} was found on {found}, which lacks {first_index.group('req')}; uv did not look further",
            chain=ev,
            reason=("By default uv takes each package from the first index that has it at all (protection against "
                    "dependency confusion). An extra index that mirrors common packages (PyTorch's does) then "
                    "shadows PyPI for them."),
            fixes=(
                fix_toml("Make that index explicit, so only the packages you route to it come from there",
                          toml.index(idx, found) + "\n\n" + toml.sources({"torch": {"index": idx}})),
                fix_toml("Or let uv consider every index for every package (weaker protection)",
                          toml.tool_uv(index_strategy="unsafe-best-match")),
            ),
            evidence=ev,
        ))
    for d in uv_derivations(log):
        for t, where in d.not_found:
            ev = d.statements
            if where == "cache":
                summary = f"{t.display} is not in uv's cache, and uv ran offline"
                fixes: tuple[Fix, ...] = (fix_cmd("Run once with the network (without --offline)", "uv lock"),)
            elif where == "provided package locations":
                summary = f"{t.display} is in none of the --find-links locations, and index lookups are off"
                fixes = (fix_cmd("Add the folder or page that holds it", "uv lock --find-links <DIR or URL>"),)
            else:
                summary = f"{t.display} was not found on the package index"
                fixes = (
                    fix_cmd("Check the name; if it lives on another index (a vendor's wheel index), add that index",
                             f"uv add {t.display} --index <URL>"),
                )
            out.append(Cause(kind="index", packages=(t.name,), summary=summary, chain=ev,
                             reason="The resolver only sees the indexes and find-links locations configured for it.",
                             fixes=fixes, evidence=ev))
    for d in uv_derivations(log):
        for t in d.no_version:
            if is_pre(t) or local_label(t) or t.pinned is None:
                continue
            ev = d.statements
            out.append(Cause(
                kind="index", packages=(t.name,),
                summary=f"no index consulted has {t.text}",
                chain=ev,
                reason=(f"The version exists nowhere uv looked. Either it is published elsewhere (another index, "
                        f"a find-links page), or {t.display} is also on an earlier index that lacks this version: "
                        "by default uv takes each package from the first index that has it at all."),
                fixes=tuple(_no_version_fixes(t, log)),
                evidence=ev,
            ))
    auth = log.hint(r"An index URL \((?P<url>[^)]+)\) (?:could not be queried due to a lack of valid authentication credentials|returned a 403 Forbidden)")
    if auth:
        ev = (next(h for h in log.hints if auth.group(0) in h),)
        out.append(Cause(kind="index", packages=(), summary=f"the index {auth.group('url')} refused uv (authentication)",
                         chain=ev, reason="The index needs credentials uv did not have.",
                         fixes=(fix_cmd("Give uv the index's credentials (named index)",
                                         "export UV_INDEX_<NAME>_USERNAME=... UV_INDEX_<NAME>_PASSWORD=..."),),
                         evidence=ev))
    noindex = log.hint(r"Packages were unavailable because index lookups were disabled")
    if noindex and not out:
        ev = (next(h for h in log.hints if noindex.group(0) in h),)
        out.append(Cause(kind="index", packages=(), summary="index lookups were disabled (--no-index) and the "
                         "--find-links locations lack a package", chain=ev,
                         reason="With --no-index, uv reads only the --find-links locations.",
                         fixes=(fix_cmd("Add the location that has the package", "--find-links <DIR or URL>"),),
                         evidence=ev))
    for m in log.missing:
        if not m.available or local_label(m.term) or is_pre(m.term):
            continue
        newest = newest_version(m.available)
        ev = (m.line,)
        out.append(Cause(
            kind="index", packages=(m.term.name,),
            summary=(f"the locations pip searched list {m.term.display} only up to {newest}, none of which "
                     f"satisfies {m.term.spec or 'the requirement'}"),
            chain=ev,
            reason=(f"pip found {m.term.display} but not a version matching {m.term.text}: the index or "
                    "--find-links page in use does not carry it (yet), or points at the wrong page."),
            fixes=(
                fix_cmd(f"Point pip/uv at an index or --find-links page that carries {m.term.text}",
                         f"uv pip install \"{m.term.text}\" --find-links <URL that lists it>"),
                fix_cmd(f"Or accept a version the index has ({newest})",
                         f"uv pip install \"{m.term.display}=={newest}\""),
            ),
            evidence=ev,
        ))
        break
    return out


def _no_version_fixes(t: Term, log: Log) -> list[Fix]:
    fixes: list[Fix] = []
    extra = next((m.group(0).rstrip("/.,)`'\"") for m in log.find(r"https?://download\.pytorch\.org/whl/[A-Za-z0-9._/-]*")), None)
    if extra:
        tag = extra.rstrip("/").rsplit("/", 1)[-1]
        name = f"pytorch-{tag}" if tag != "whl" else "pytorch"
        fixes.append(fix_toml(
            f"Keep the PyTorch index from shadowing PyPI for {t.display}: make it explicit and route only the torch "
            "packages to it",
            toml.index(name, extra) + "\n\n" + toml.sources({"torch": {"index": name}}),
        ))
    if log.tool == "uv" and "you require " in log.text:
        fixes.append(fix_cmd("Let uv consider every index for every package (weaker protection against "
                              "dependency confusion)", "uv pip install --index-strategy unsafe-best-match ..."))
    else:
        fixes.append(fix_toml("Let uv consider every index for every package (weaker protection against "
                               "dependency confusion)", toml.tool_uv(index_strategy="unsafe-best-match")))
    fixes.append(fix_cmd(f"Or add the index that publishes {t.text}", f"uv add \"{t.text}\" --index <URL>"))
    return fixes
