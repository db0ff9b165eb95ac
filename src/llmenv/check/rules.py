"""The rules of ``llmenv check``: one small function each, registered with its stable code.

A rule takes the ``Project`` view and yields ``Hit``s (location, message, why, fix); the registry turns them into
findings carrying the rule's code and severity. Codes are documented in docs/check.md; a test keeps the two in step.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv._suggest import closest
from llmenv.check import _envs, _urls
from llmenv.check._findings import Hit, Rule
from llmenv.check._pins import Clash, Item, clashes, own_items, scopes
from llmenv.check._project import Index, Project, Source, loc, loc_join
from llmenv.check._registry import REGISTRY, rule
from llmenv.check._rules_python import environments_fix
from llmenv.check._toml import toml_value as _toml
from llmenv.knowledge import read_data
from llmenv.knowledge.engines import engine_versions

__all__ = ["RULES", "rule_for"]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


@cache
def _packages() -> Mapping[str, Any]:
    data: Mapping[str, Any] = read_data("check_packages.json")
    return data


@cache
def _settings() -> Mapping[str, Any]:
    data: Mapping[str, Any] = read_data("uv_settings.json")
    return data


def _index_block(ix: Index, **changes: Any) -> str:
    lines = ["[[tool.uv.index]]"]
    values: dict[str, Any] = {}
    values["name"] = ix.name or f"pytorch-{_urls.variant(ix.url) or 'index'}"
    values["url"] = ix.url
    values.update({k: v for k, v in changes.items() if v is not None})
    for drop in [k for k, v in changes.items() if v is None]:
        values.pop(drop, None)
    lines += [f"{k.replace('_', '-')} = {_toml(v)}" for k, v in values.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Indexes
# ---------------------------------------------------------------------------------------------------------------


def _legacy_urls(project: Project, keys: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(key, location, url) of ``index-url`` / ``extra-index-url`` / ``find-links`` values."""
    for key in keys:
        v = project.uv.get(key)
        if isinstance(v, str):
            yield key, loc("tool", "uv", key), v
        elif isinstance(v, list):
            for i, u in enumerate(v):
                if isinstance(u, str):
                    yield key, loc("tool", "uv", key, i), u


@rule("torch-index-not-explicit", "warning", "a PyTorch index (or mirror) is searched for every package")
def torch_index_not_explicit(project: Project) -> Iterator[Hit]:
    why = (
        "uv searches a non-explicit index for every package, and by default takes each package from the first "
        "index that has it. The PyTorch indexes also carry copies of common packages (numpy, jinja2, requests, "
        "...), often older or with fewer wheels, so those copies win over PyPI: the lock picks stale versions or "
        "fails on a missing wheel. An explicit index serves only the packages routed to it in [tool.uv.sources]."
    )
    for ix in project.indexes:
        if ix.explicit or not _urls.is_pytorch_index(ix.url):
            continue
        routed = any(s.index == ix.name for ss in project.sources.values() for s in ss)
        fix = _index_block(ix, explicit=True, default=None)
        if not routed:
            name = ix.name or f"pytorch-{_urls.variant(ix.url) or 'index'}"
            fix += f'\n\n[tool.uv.sources]\ntorch = {{ index = "{name}" }}'
        extra = " and is the default index (it replaces PyPI)" if ix.default else ""
        yield Hit(
            location=loc_join(ix.location, "explicit"),
            message=f"the PyTorch index {ix.label} is not explicit{extra}",
            why=why,
            fix=fix,
        )
    for key, where, url in _legacy_urls(project, ("index-url", "extra-index-url")):
        if _urls.is_pytorch_index(url):
            name = f"pytorch-{_urls.variant(url) or 'index'}"
            yield Hit(
                location=where,
                message=f"the PyTorch index {url} is given as `{key}`, so uv searches it for every package",
                why=why,
                fix=f'remove it from `{key}`, then:\n[[tool.uv.index]]\nname = "{name}"\nurl = "{url}"\n'
                f'explicit = true\n\n[tool.uv.sources]\ntorch = {{ index = "{name}" }}',
            )


def _applies_on(project: Project, src: Source) -> list[_envs.Env]:
    return [e for e in _envs.sample(project) if _envs.holds(src.marker, e)]


@rule(
    "torch-cuda-source-without-marker",
    "warning",
    "torch/torchvision/torchaudio routed to a CUDA index on platforms that index has no wheels for",
)
def torch_cuda_source_without_marker(project: Project) -> Iterator[Hit]:
    for pkg in TORCH_FAMILY:
        for src in project.sources.get(pkg, ()):
            ix = project.index_named(src.index) if src.index else None
            variant = _urls.cuda_variant(ix.url) if ix else None
            if ix is None or variant is None:
                continue
            envs = _applies_on(project, src)
            on_mac = any(e.sys_platform == "darwin" for e in envs)
            on_arm = any(e.sys_platform == "linux" and e.machine == "aarch64" for e in envs)
            old_cuda = variant.cuda_version is not None and (variant.major, variant.minor) < (12, 8)
            where = loc_join(src.location, "index")
            written = src.get("marker")
            if on_mac:
                want = "sys_platform == 'linux'"
                marker = f"({written}) and {want}" if isinstance(written, str) else want
                yield Hit(
                    location=where,
                    message=f"{src.key} comes from the CUDA index {ix.label} {_when(src)}, macOS included",
                    why=(
                        f"The {variant.tag} index has no macOS wheels: with no platform marker the universal lock "
                        "routes macOS to it too, so `uv lock` fails or `uv sync` on a Mac finds no wheel. A marker "
                        "keeps the CUDA build on Linux and lets other platforms take torch from PyPI."
                    ),
                    fix=_source_fix(src, marker)
                    + "\n\nor, if only Linux matters:\n[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]",
                    severity="info" if src.scoped else None,
                )
            elif on_arm and old_cuda:
                want = "platform_machine == 'x86_64'"
                marker = f"({written}) and {want}" if isinstance(written, str) else want
                yield Hit(
                    location=where,
                    message=f"{src.key} comes from the {variant.tag} index on Linux aarch64 too",
                    why=(
                        f"Older CUDA indexes such as {variant.tag} lack linux aarch64 wheels for many torch "
                        "releases (astral-sh/uv#8746: torch 2.5.1+cu121 has none), and the lock picks one version "
                        "for every platform; check the index, or keep it to x86_64."
                    ),
                    fix=_source_fix(src, marker),
                    severity="info",
                )


def _when(src: Source) -> str:
    for kind in ("extra", "group"):
        if isinstance(src.get(kind), str):
            return f"whenever {kind} {src.get(kind)!r} is selected, on every platform"
    return "on every platform"


def _source_fix(src: Source, marker: str) -> str:
    table = {k: v for k, v in src.table.items()}
    table["marker"] = marker
    return f"[tool.uv.sources]\n{src.key} = [\n    {_toml(table)},\n]  # other platforms take it from PyPI"


@rule("flat-index-declared-as-simple", "error", "a page of links declared as a simple (PEP 503) index")
def flat_index_declared_as_simple(project: Project) -> Iterator[Hit]:
    tail = (
        "uv asks a simple index for <url>/<package>/, which does not exist under a page of links, so it finds "
        "nothing there: the packages you meant to take from it come from another index or are not found."
    )
    for ix in project.indexes:
        reason = _urls.flat_page_reason(ix.url)
        if ix.format == "flat" or reason is None:
            continue
        yield Hit(
            location=loc_join(ix.location, "format"),
            message=f"index {ix.label} is a page of links but is declared as a simple index",
            why=f"{reason[0].upper()}{reason[1:]}. {tail}",
            fix=_index_block(ix, **({"explicit": True} if ix.explicit else {}), format="flat"),
        )
    for key, where, url in _legacy_urls(project, ("index-url", "extra-index-url")):
        reason = _urls.flat_page_reason(url)
        if reason is not None:
            yield Hit(
                location=where,
                message=f"{url} is a page of links but is given as `{key}`",
                why=f"{reason[0].upper()}{reason[1:]}. {tail}",
                fix=f'remove it from `{key}`, then:\n[tool.uv]\nfind-links = ["{url}"]',
            )


@rule("insecure-index-url", "warning", "an index or link page fetched over plain http://")
def insecure_index_url(project: Project) -> Iterator[Hit]:
    why = (
        "Plain HTTP is neither encrypted nor authenticated: anything on the network path can serve other wheels "
        "in place of the ones you meant, and credentials in the URL travel in clear."
    )
    found: list[tuple[str, str]] = [(loc_join(ix.location, "url"), ix.url) for ix in project.indexes]
    found += [
        (where, url)
        for _, where, url in _legacy_urls(project, ("index-url", "extra-index-url", "find-links"))
    ]
    for ss in project.sources.values():
        for s in ss:
            if isinstance(s.get("url"), str):
                found.append((loc_join(s.location, "url"), s.get("url")))
    for where, url in found:
        if _urls.is_insecure(url):
            yield Hit(
                location=where,
                message=f"{url} is fetched over plain http://",
                why=why,
                fix=_https_fix(where, url),
            )


def _https_fix(where: str, url: str) -> str:
    new = "https://" + url[len("http://") :]
    return f'url = "{new}"' if where.endswith(".url") else f'{where} = "{new}"'


# ---------------------------------------------------------------------------------------------------------------
# Builds and platforms
# ---------------------------------------------------------------------------------------------------------------


def _torch_in(values: Any) -> bool:
    if not isinstance(values, list):
        return False
    for v in values:
        text = v if isinstance(v, str) else v.get("requirement") if isinstance(v, Mapping) else None
        if isinstance(text, str):
            try:
                if canonicalize_name(Requirement(text).name) == "torch":
                    return True
            except InvalidRequirement:
                continue
    return False


def _build_configured(project: Project, name: str) -> bool:
    extra_build = project.uv.get("extra-build-dependencies")
    if isinstance(extra_build, Mapping):
        for key, values in extra_build.items():
            if canonicalize_name(str(key)) == name and _torch_in(values):
                return True
    return project.uv.get("no-build-isolation") is True or name in project.package_list(
        "no-build-isolation-package"
    )


def _prebuilt(project: Project, name: str) -> bool:
    for dep in project.deps_named([name]):
        url = dep.requirement.url
        if url and url.split("#")[0].split("?")[0].endswith(".whl"):
            return True
    for src in project.sources.get(name, ()):
        if src.wheel_url() or src.index is not None:
            return True
    if project.uv.get("find-links"):
        return True
    return any(ix.format == "flat" and not ix.explicit for ix in project.indexes)


_BUILD_WHY = {
    "flash-attn": (
        "flash-attn's setup.py imports torch without declaring it as a build requirement, and uv builds in an "
        "isolated environment: the build stops at `No module named 'torch'` (astral-sh/uv#6437). Given torch, it "
        "then compiles CUDA kernels for hours unless a prebuilt wheel matches."
    ),
    "deepspeed": (
        "deepspeed's setup.py imports torch to pre-compile its ops; in uv's isolated build it finds none, so it "
        "builds a wheel without pre-compiled ops (they are JIT-compiled at first use), and with DS_BUILD_OPS=1 "
        "the build fails (astral-sh/uv#15039). Harmless unless you want pre-compiled ops."
    ),
}


@rule(
    "build-needs-torch-unconfigured",
    "error",
    "a package whose build imports torch, with neither a prebuilt wheel source nor build configuration",
)
def build_needs_torch_unconfigured(project: Project) -> Iterator[Hit]:
    for entry in _packages()["build_needs_torch"]:
        name = canonicalize_name(entry["name"])
        deps = project.deps_named([name])
        if entry.get("only_with_extra"):
            deps = [
                d
                for d in deps
                if entry["only_with_extra"] in {canonicalize_name(e) for e in d.requirement.extras}
            ]
        if not deps or _prebuilt(project, name) or _build_configured(project, name):
            continue
        dep = deps[0]
        built = "transformer-engine-torch" if name == "transformer-engine" else dep.requirement.name
        why = _BUILD_WHY.get(name) or (
            f"{built} is published as a source distribution whose setup.py imports torch; uv builds it in an "
            "isolated environment without torch, so the build fails (or, given some torch, builds against a "
            "different one than your environment's)."
        )
        yield Hit(
            location=dep.location,
            message=f"{dep.requirement.name} is built from source and its build needs torch, but the project gives "
            "it neither a prebuilt wheel nor torch at build time",
            why=why,
            fix=(
                f'[tool.uv.extra-build-dependencies]\n{built} = [{{ requirement = "torch", match-runtime = true }}]'
                '\n\nor point it at a prebuilt wheel ([tool.uv.sources] url = "...whl"); '
                "`llmenv plan` names one for your torch, CUDA and Python"
            ),
            severity=str(entry["severity"]),
        )


def _is_cuda_only(name: str) -> bool:
    data = _packages()
    return name in {canonicalize_name(n) for n in data["cuda_only"]} or any(
        fnmatch.fnmatchcase(name, p) for p in data["cuda_only_patterns"]
    )


@rule("cuda-project-without-environments", "warning", "a CUDA project locks for every platform")
def cuda_project_without_environments(project: Project) -> Iterator[Hit]:
    if project.environments is not None:
        return
    reasons = []
    for pkg in TORCH_FAMILY:
        for src in project.sources.get(pkg, ()):
            ix = project.index_named(src.index) if src.index else None
            if ix is not None and _urls.cuda_variant(ix.url) is not None:
                reasons.append(f"{src.key} comes from {ix.label}")
                break
    cuda_deps = sorted(
        {d.requirement.name for d in project.deps if d.scope != "override" and _is_cuda_only(d.name)}
    )
    if cuda_deps:
        shown = ", ".join(cuda_deps[:4]) + (", ..." if len(cuda_deps) > 4 else "")
        reasons.append(f"it depends on {shown}")
    if not reasons:
        return
    yield Hit(
        location=loc("tool", "uv", "environments"),
        message=f"a CUDA project ({'; '.join(reasons)}) has no `environments`",
        why=(
            "Without `environments` uv locks for every platform and Python, macOS and Windows included. CUDA-only "
            "packages have no wheels there, so uv backtracks into old source releases to read their metadata "
            "(vllm==0.1.3 in IBM/ai-atlas-nexus#269) or fails to find a version: the lock is slower and can fail "
            "for machines nobody uses."
        ),
        fix=environments_fix(project),
    )


@rule("heavy-framework-workspace-member", "warning", "an RL / inference framework as a workspace member")
def heavy_framework_workspace_member(project: Project) -> Iterator[Hit]:
    heavy = {canonicalize_name(n) for n in _packages()["heavy_frameworks"]}
    why = (
        "uv locks a workspace as one project: every extra of every member is resolved together with yours, so "
        "each framework extra's pins (verl[sglang] pins torch==2.7.1, say) must agree with your torch even if you "
        "never install that extra. An editable path source resolves only the extras you ask for."
    )
    reported: set[str] = set()
    members = project.uv.get("workspace", {})
    paths: dict[str, tuple[int, str]] = {}
    if isinstance(members, Mapping) and isinstance(members.get("members"), list):
        for i, m in enumerate(members["members"]):
            if isinstance(m, str):
                paths.setdefault(canonicalize_name(m.rstrip("/").rsplit("/", 1)[-1]), (i, m))
    for name, ss in project.sources.items():
        for src in ss:
            if name in heavy and src.is_workspace:
                reported.add(name)
                path = paths.get(name, (0, f"./{src.key}"))[1]
                yield Hit(
                    location=loc_join(src.location, "workspace"),
                    message=f"{src.key} is a workspace member",
                    why=why,
                    fix=_path_fix(src.key, path),
                )
    for name, (i, path) in paths.items():
        if name in heavy and name not in reported:
            yield Hit(
                location=loc("tool", "uv", "workspace", "members", i),
                message=f"{path} ({name}) is a workspace member",
                why=why,
                fix=_path_fix(name, path),
            )


def _path_fix(name: str, path: str) -> str:
    rel = path if path.startswith((".", "/")) else f"./{path}"
    return (
        f'remove "{path}" from tool.uv.workspace.members, then:\n'
        f'[tool.uv.sources]\n{name} = {{ path = "{rel}", editable = true }}'
    )


# ---------------------------------------------------------------------------------------------------------------
# Pins
# ---------------------------------------------------------------------------------------------------------------


def _set_clashes(project: Project) -> list[tuple[str, Clash]]:
    """(set label, clash) for every set (base; base + each extra / group) that cannot be satisfied, deduplicated."""
    envs = _envs.sample(project)
    base = own_items(project, "base", None)
    out: list[tuple[str, Clash]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for c in clashes(base, base, envs):
        if c.key not in seen:
            seen.add(c.key)
            out.append(("the base dependencies", c))
    for kind, name in scopes(project):
        own = own_items(project, kind, name)
        for c in clashes(own, [*own, *base], envs):
            if c.key not in seen:
                seen.add(c.key)
                out.append((f"{kind} {name!r}", c))
    return out


def _override_fix(c: Clash) -> str:
    # Suggest keeping the project's own pin: a direct base requirement first, then any direct one.
    direct = [i for i in (c.a, c.b) if i.kind == "direct"]
    keep = next((i for i in direct if i.dep.scope == "base"), direct[0] if direct else c.b)
    return (
        f"make the pins agree, or, if you know {keep.text} works for both, override it:\n"
        f'[tool.uv]\noverride-dependencies = ["{keep.text}"]'
    )


@rule("pins-cannot-coexist", "error", "two requirements in one install set that no version satisfies")
def pins_cannot_coexist(project: Project) -> Iterator[Hit]:
    for label, c in _set_clashes(project):
        if "engine" in (c.a.kind, c.b.kind):
            continue
        yield Hit(
            location=c.a.dep.location,
            message=f"in {label}, {c.a.origin} and {c.b.origin} cannot both hold",
            why=(
                f"No {c.a.name} version satisfies both. uv resolves the base dependencies together with every "
                "extra and group in one universal lock, so `uv lock` fails for the whole project (a conflict "
                "between an extra and the base cannot be declared away with `conflicts`)."
            ),
            fix=_override_fix(c),
        )


@rule("engine-torch-mismatch", "error", "an inference engine pinned next to a torch it was not built for")
def engine_torch_mismatch(project: Project) -> Iterator[Hit]:
    for label, c in _set_clashes(project):
        if "engine" not in (c.a.kind, c.b.kind):
            continue
        engine, other = (c.a, c.b) if c.a.kind == "engine" else (c.b, c.a)
        yield Hit(
            location=engine.dep.location,
            message=f"in {label}, {engine.via} pins torch=={engine.spec_version()} but {other.origin} asks "
            "for another torch",
            why=(
                f"{engine.via} is built against one torch and declares it as an exact pin (PyPI metadata), so the "
                "lock cannot satisfy both; forcing it with an override installs a binary built for another torch "
                "(`undefined symbol` at import)."
            ),
            fix=_engine_fix(engine, other),
        )


def _engine_fix(engine: Item, other: Item) -> str:
    lines = [f'{other.dep.location} = "torch=={engine.spec_version()}"' if other.kind == "direct" else ""]
    req = Requirement(engine.via or "")
    name = canonicalize_name(req.name)
    if other.kind == "direct":
        fits = [v for v, t in engine_versions(name) if other.spec.contains(Version(t), prereleases=True)]
        if fits:
            lines.append(
                f'or {engine.dep.location} = "{req.name}{_extras(req)}=={max(fits)}"  '
                f"(pins a torch that {other.text} allows)"
            )
    elif other.via:
        lines.append(
            f"choose releases of {req.name} and {Requirement(other.via).name} that pin the same torch"
        )
    return "\n".join(x for x in lines if x)


def _extras(req: Requirement) -> str:
    return f"[{','.join(sorted(req.extras))}]" if req.extras else ""


@rule(
    "extras-conflict-undeclared",
    "error",
    "two extras or groups whose pins cannot coexist, not declared in [tool.uv] conflicts",
)
def extras_conflict_undeclared(project: Project) -> Iterator[Hit]:
    envs = _envs.sample(project)
    all_scopes = scopes(project)
    own = {s: own_items(project, *s) for s in all_scopes}
    for i, x in enumerate(all_scopes):
        for y in all_scopes[i + 1 :]:
            if project.declared_conflict(x, y):
                continue
            shared = {id(a.dep) for a in own[x]} & {id(b.dep) for b in own[y]}
            left = [a for a in own[x] if id(a.dep) not in shared]
            right = [b for b in own[y] if id(b.dep) not in shared]
            found = clashes(left, right, envs)
            if not found:
                continue
            c = found[0]
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            entry = f'[{{ {x[0]} = "{x[1]}" }}, {{ {y[0]} = "{y[1]}" }}]'
            has = isinstance(project.uv.get("conflicts"), list)
            yield Hit(
                location=loc("tool", "uv", "conflicts"),
                message=f"{x[0]} {x[1]!r} and {y[0]} {y[1]!r} cannot be installed together: "
                f"{c.a.origin} vs {c.b.origin}{more}",
                why=(
                    "uv resolves all extras and groups together in one universal lock unless they are declared "
                    "as conflicting; then it resolves them in separate forks. Undeclared, `uv lock` fails "
                    "(roboflow/rf-detr#1263)."
                ),
                fix=(
                    f"add to tool.uv.conflicts:\n    {entry},"
                    if has
                    else f"[tool.uv]\nconflicts = [\n    {entry},\n]"
                ),
            )


# ---------------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------------


@rule("no-required-version", "info", "no [tool.uv] required-version")
def no_required_version(project: Project) -> Iterator[Hit]:
    if "required-version" in project.uv:
        return
    yield Hit(
        location=loc("tool", "uv", "required-version"),
        message="the project does not say which uv it needs",
        why=(
            "uv's behaviour on these configurations changes between releases (uv 0.11.0 broke match-runtime "
            "builds of flash-attn: NovaSky-AI/SkyRL#1382), and settings newer than a collaborator's uv are "
            "errors or silently ignored. `required-version` makes an unsuitable uv stop with a clear message."
        ),
        fix=f'[tool.uv]\nrequired-version = ">={_uv_floor()}"',
    )


def _uv_floor() -> str:
    return str(_settings()["uv_version"])


def _unknown_keys(table: Any, where: tuple[str | int, ...] | str, known: Iterable[str]) -> Iterator[Hit]:
    if not isinstance(table, Mapping):
        return
    known = list(known)
    base = where if isinstance(where, str) else loc(*where)
    for key, value in table.items():
        if key in known:
            continue
        guess = closest(str(key), known)
        location = loc_join(base, str(key))
        if guess:
            yield Hit(
                location=location,
                message=f"`{key}` is not a uv setting; did you mean `{guess}`?",
                why=(
                    "uv rejects unknown keys in [tool.uv] and in sources with a parse error, and silently ignores "
                    "them in [[tool.uv.index]] entries, where the setting you meant then never applies."
                ),
                fix=f"{guess} = {_toml(value)}",
            )
        else:
            yield Hit(
                location=location,
                message=f"`{key}` is not a setting uv {_uv_floor()} knows",
                why="uv rejects unknown keys (or, in an index entry, ignores them); a newer uv may know it.",
                fix=f"remove `{key}`, or check it against https://docs.astral.sh/uv/reference/settings/",
                severity="warning",
            )


@rule("unknown-uv-key", "error", "a misspelt key in [tool.uv], an index entry, a source or the workspace")
def unknown_uv_key(project: Project) -> Iterator[Hit]:
    settings = _settings()
    uv = project.uv
    yield from _unknown_keys(uv, ("tool", "uv"), settings["tool_uv"])
    raw_indexes = uv.get("index")
    if isinstance(raw_indexes, list):
        for i, entry in enumerate(raw_indexes):
            yield from _unknown_keys(entry, ("tool", "uv", "index", i), settings["index"])
    for ss in project.sources.values():
        for src in ss:
            yield from _unknown_keys(src.table, src.location, settings["source"])
    yield from _unknown_keys(uv.get("workspace"), ("tool", "uv", "workspace"), settings["workspace"])


@rule("invalid-requirement", "error", "a requirement string that is not PEP 508")
def invalid_requirement(project: Project) -> Iterator[Hit]:
    for p in project.problems:
        if p.what == "requirement":
            yield Hit(
                location=p.location,
                message=f"{p.text!r} is not a valid requirement",
                why=f"uv refuses to read the project: {p.error}",
                fix="write it as NAME[EXTRAS] SPECIFIER ; MARKER, e.g. \"torch>=2.6 ; sys_platform == 'linux'\"",
            )


@rule("invalid-marker", "error", "an environment marker that does not parse")
def invalid_marker(project: Project) -> Iterator[Hit]:
    for p in project.problems:
        if p.what == "marker":
            yield Hit(
                location=p.location,
                message=f"{p.text!r} is not a valid environment marker",
                why=f"uv refuses to read the project: {p.error}",
                fix="e.g. \"sys_platform == 'linux' and platform_machine == 'x86_64'\"",
            )


from llmenv.check import _rules_fields, _rules_torch  # noqa: E402, F401  (register their rules)

RULES: tuple[Rule, ...] = tuple(REGISTRY)


def rule_for(code: str) -> Rule:
    for r in RULES:
        if r.code == code:
            return r
    raise KeyError(code)
