"""Resolution: where a package comes from. uv takes one URL (or one index) per package in each fork of the lock;
two different ones for the same package in one fork is an error before any version is chosen."""

from __future__ import annotations

import re
from urllib.parse import unquote

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from llmenv.explain import _toml as toml
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, UrlConflict
from llmenv.explain.rules._common import fix_cmd, fix_toml


def _wheel_python(url: str) -> str | None:
    """The Python a wheel URL is built for, as a marker: ``...-cp312-cp312-linux_x86_64.whl`` -> 3.12."""
    try:
        _, _, _, tags = parse_wheel_filename(unquote(url.rsplit("/", 1)[-1]))
    except (InvalidWheelFilename, InvalidVersion):
        return None
    pys = {t.interpreter for t in tags}
    if len(pys) != 1:
        return None
    m = re.fullmatch(r"cp3(\d+)", pys.pop())
    return f"python_version == '3.{m.group(1)}'" if m else None


def _version(url: str) -> str | None:
    try:
        return str(parse_wheel_filename(unquote(url.rsplit("/", 1)[-1]))[1])
    except (InvalidWheelFilename, InvalidVersion):
        return None


def _own_url(log: Log, c: UrlConflict) -> str | None:
    """The URL the project itself requires (its requirement or its [tool.uv.sources] entry), when it is one of
    the conflicting ones."""
    p = log.project
    if p is None:
        return None
    mine = [u for u in c.urls if any(u in r for r in p.requirements())]
    src = p.sources.get(c.package)
    for s in src if isinstance(src, list) else [src]:
        if isinstance(s, dict) and isinstance(s.get("url"), str) and s["url"] in c.urls:
            mine.append(s["url"])
    return mine[0] if len(set(mine)) == 1 else None


def _url_fixes(log: Log, c: UrlConflict) -> list[Fix]:
    fixes: list[Fix] = []
    urls = [u.removesuffix(" (editable)") for u in c.urls]
    if len(set(c.urls)) == 1 and len(c.urls) > 1:
        # the very same URL reported as conflicting: uv bugs (astral-sh/uv#1865, fixed in 0.1.8; #11452 for git
        # sources reached through a path dependency)
        return [fix_cmd("Upgrade uv (it reported the same URL as conflicting)", "uv self update"),
                fix_toml(f"Or require {c.package} from that URL once, for every requirement on it",
                         toml.tool_uv(override_dependencies=[f"{c.package} @ {urls[0]}"]))]
    pys = [_wheel_python(u) for u in urls]
    if c.what == "URLs" and len(urls) >= 2 and all(pys) and len(set(pys)) == len(pys):
        overrides = [f"{c.package} @ {u} ; {m}" for u, m in zip(urls, pys, strict=True)]
        fixes.append(fix_toml(
            f"Take each {c.package} wheel only on the Python it is built for (one URL per fork), for every "
            f"requirement on {c.package}", toml.tool_uv(override_dependencies=overrides)))
    own = _own_url(log, c)
    order = ([own] if own else []) + [u for u in urls if u != own]
    for i, u in enumerate(order if c.what == "URLs" else []):
        whose = "the one your project requires" if u == own else ("one of them" if i == 0 else "or the other")
        fixes.append(fix_toml(
            f"{'Or use' if fixes else 'Use'} one {c.package} everywhere ({whose}): override every requirement "
            f"on {c.package} with {u.rsplit('/', 1)[-1]}",
            toml.tool_uv(override_dependencies=[f"{c.package} @ {u}"])))
    if c.what == "indexes":
        fixes.append(fix_toml(
            f"Route {c.package} to one index per environment: give each [tool.uv.sources] entry a marker, "
            "the markers disjoint", "# [tool.uv.sources]\n# " + c.package
            + ' = [{ index = "a", marker = "sys_platform == \'linux\'" }, { index = "b", marker = "sys_platform != \'linux\'" }]'))
    fixes.append(fix_cmd("Then lock again", "uv lock"))
    return fixes


def check_conflicting_urls(log: Log) -> list[Cause]:
    """Requirements take one package from two URLs (or indexes) in one fork of the lock: a direct URL or git
    requirement and another one of a dependency, or per-Python URLs whose markers overlap."""
    out = []
    for c in log.url_conflicts:
        where = f"in the fork {c.split}" if c.split else "in every environment"
        by = f" (while resolving {c.requirer.text})" if c.requirer is not None else ""
        same = len(set(c.urls)) == 1 and len(c.urls) > 1
        summary = (f"uv reports the same {c.what[:-1] if c.what == 'URLs' else 'index'} of {c.package} as conflicting "
                   f"{where}" if same else f"{c.package} is required from {len(c.urls) or 'two'} different {c.what} "
                   f"{where}{by}")
        reason = (f"uv locks one source of {c.package} per fork of the resolution: every requirement on it must "
                  f"name the same URL (or index) wherever their markers overlap. Here they do not, so uv stops "
                  "before choosing versions. An override (or markers that do not overlap) leaves one.")
        versions = {v for v in map(_version, c.urls) if v}
        out.append(Cause(
            kind="conflicting-urls", packages=(c.package,), summary=summary, chain=c.lines, reason=reason,
            fixes=tuple(_url_fixes(log, c)), evidence=c.lines, split=c.split,
            version=versions.pop() if len(versions) == 1 else None,
        ))
    return out
