"""Resolution: versions that exist but cannot be used here (pre-releases, local labels, no wheel for the platform)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend
from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    TORCH_FAMILY,
    builds,
    first_torch_with_python,
    last_torch_with_python,
    torch_release,
    torch_variant_url,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Derivation, Log, Term, parse_term, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    is_pre,
    local_label,
    major_minor,
    pins_on,
    platform_marker,
    requirement_fix,
    requirer_text,
    requires_python_fix,
    uv_derivations,
    version_of,
    wheel_name,
    with_marker,
)

# ------------------------------------------------------------------------------------------------------------
# prerelease, local-version, python-version


def check_prerelease(log: Log) -> list[Cause]:
    """A requirement names a pre-release (rc, beta, dev) that the resolver would not select."""
    terms: list[Term] = []
    ev: list[str] = []
    for d in uv_derivations(log):
        pre = [t for t in d.no_version if is_pre(t) and not local_label(t)]
        if pre:
            terms += pre
            ev += list(d.statements)
    hint = log.hint(r"`(?P<pkg>[^`]+)` was requested with a pre-release marker(?: \(e\.g\., (?P<eg>[^)]+)\))?|Pre-releases are available for `(?P<pkg2>[^`]+)`|pre-releases weren't enabled|Only pre-releases of `(?P<pkg3>[^`]+)`")
    if hint and hint.group("eg"):
        eg = parse_term(hint.group("eg").replace(" ", ""))
        if eg is not None and not is_pre(eg):
            hint = None  # the "marker" is only the upper bound uv derived from a `==X.Y.*` range
    if hint:
        pkg = hint.group("pkg") or hint.group("pkg2") or hint.group("pkg3")
        if pkg and not any(t.name == canonicalize_name(pkg) for t in terms):
            t = parse_term(pkg)
            if t:
                terms.append(t)
        ev.append(next(h for h in log.hints if hint.group(0) in h))
    if not terms:
        return []
    t = terms[0]
    req = t.text
    who = next((dep for d in log.derivations for dep in d.deps if dep.dst.name == t.name), None)
    chain = [f"{requirer_text(who)} requires {who.dst.text}"] if who else []
    summary = f"{req} is a pre-release, and the resolver did not select it"
    if who and who.src is not None:
        summary += f" for {who.src.text}"
    reason = ("By default uv selects a pre-release only when a requirement you declare yourself names one "
              "(`if-necessary-or-explicit`); older uv versions did not take pre-releases for transitive "
              "requirements like this one. If the pre-release is missing from the index you use, allowing "
              "pre-releases will not help: check that the index carries it.")
    fixes = [
        fix_toml("Allow pre-releases for this project", toml.tool_uv(prerelease="allow")),
        fix_cmd("Or, with uv pip", "uv pip install --prerelease=allow ..."),
        fix_cmd("Or name the pre-release yourself, so the default policy accepts it", f"uv add \"{req}\""),
    ]
    return [Cause(kind="prerelease", packages=uniq(x.name for x in terms), summary=summary, chain=tuple(chain),
                  reason=reason, fixes=tuple(fixes), evidence=uniq(ev))]


def _project_torch_index(log: Log, tag: str) -> str | None:
    """The name of an index the project already has for this variant (PyTorch's, or a mirror of it)."""
    if log.project is None:
        return None
    for ix in log.project.indexes:
        if ix.name and (ix.url.rstrip("/").rsplit("/", 1)[-1].lower() == tag or ix.name.lower().endswith(tag)):
            return ix.name
    return None


def _torch_index_fixes(log: Log, name: str, version: Version, local: str) -> list[Fix]:
    """Route a torch-family package to the PyTorch index of its variant instead of pinning ``+local``."""
    fixes: list[Fix] = []
    public = version.public
    tag = local.lower()
    own = _project_torch_index(log, tag)
    if own is not None:
        assert log.project is not None
        return [fix_toml(
            f"Route {name} to the index {own!r} that {log.project.path} already has for {tag} builds (an "
            "explicit index serves only the packages routed to it)",
            toml.sources({name: [{"index": own}]}),
        )]
    try:
        backend = Backend.parse(tag)
    except Exception:
        backend = None
    rel = torch_release(public) if name == "torch" else None
    # llmenv's torch table lists the CUDA variants; a cpu or rocm build it does not list may still exist
    known = rel is not None and (tag in rel.variants or backend is None or backend.kind != "cuda")
    idx_name = f"pytorch-{tag}"
    if backend is not None and (rel is None or known):
        fixes.append(fix_toml(
            f"Take {name} {public} from PyTorch's {tag} index and drop the +{tag} label from the requirement "
            f"(PyPI never carries local versions): require \"{name}=={public}\"",
            toml.index(idx_name, torch_variant_url(tag)) + "\n\n"
            + toml.sources({name: [{"index": idx_name}]}),
        ))
    if rel is not None and not known:
        fixes.append(fix_cmd(
            f"torch {public} has no {tag} build; it exists for " + ", ".join(sorted(rel.variants))
            + " — let llmenv pick the variant for your driver",
            f"llmenv plan torch=={public}",
        ))
    return fixes


# pip (24.1 and later) rejects a wheel whose file name and metadata disagree on the version:
# "Requested flash-attn==2.6.3+cu123torch2.4cxx11abifalse from file:///...whl has inconsistent version: expected
# '2.6.3+cu123torch2.4cxx11abifalse', but metadata has '2.6.3'"
_INCONSISTENT = re.compile(
    r"Requested (?P<req>[A-Za-z0-9][A-Za-z0-9._-]{0,100}==[^\s]{1,200}) from .{1,1000}? has inconsistent version: "
    r"expected '(?P<want>[^']{1,200})', but metadata has '(?P<have>[^']{1,200})'"
)


def _inconsistent_version(log: Log, m: re.Match[str]) -> Cause:
    t = parse_term(m.group("req"))
    name = t.name if t else m.group("req").split("==")[0].lower()
    want, have = m.group("want").replace(" ", ""), m.group("have").replace(" ", "")  # a terminal wrapped them
    ev = uniq(log.lines_matching(r"inconsistent version|Discarding|No matching distribution"))[:3]
    return Cause(
        kind="local-version", packages=(name,),
        summary=f"the {name} wheel's file name says {want}, its metadata says {have}: pip discards it",
        chain=ev,
        reason=("A wheel's file name carries a local version label (`+...`) that its own metadata does not. pip 24.1 "
                "and later check that the two agree and refuse the wheel (older pip installed it anyway); uv "
                "releases of March 2025 did the same (astral-sh/uv#12282)."),
        fixes=(
            fix_cmd("Require the version the metadata states, from that wheel", f"pip install \"{name}=={have}\" "
                    "--find-links <the folder or page with the wheel>"),
            fix_cmd("Or use a pip that still accepts such wheels", "pip install \"pip<24.1\""),
        ),
        evidence=ev, version=want,
    )


def check_local_version(log: Log) -> list[Cause]:
    """A requirement pins a local version label (``+cu121``, ``+cpu``) that the indexes consulted don't carry."""
    found: list[tuple[Term, str]] = []
    for d in uv_derivations(log):
        for t in d.no_version:
            if local_label(t):
                found.append((t, d.statements[0] if d.statements else t.text))
    for m in log.missing:
        if local_label(m.term):
            found.append((m.term, m.line))
    inconsistent = log.flat("inconsistent version", _INCONSISTENT, before=400, after=200)
    if inconsistent is not None:
        return [_inconsistent_version(log, inconsistent)]
    if not found:
        return []
    t, line = found[0]
    local = local_label(t) or ""
    ver = next(v for v in t.versions if v.local)
    summary = f"no index consulted has {t.text}"
    reason = (f"`+{local}` is a local version label: such builds are published only on the index of that "
              "build (PyTorch's per-variant indexes, for torch), never on PyPI. The resolver looked where "
              f"{t.display} {ver.public}+{local} does not exist.")
    fixes = _torch_index_fixes(log, t.name, ver, local) if t.name in TORCH_FAMILY else []
    pinner = next((dep.src for d in log.derivations for dep in d.deps if dep.dst.name == t.name and dep.src), None)
    if not fixes and pinner is not None:
        fixes.append(fix_cmd(f"{pinner.text} pins this exact build: add the index that publishes it (for builds made "
                              "by PyTorch, its per-CUDA index)",
                              f"uv pip install \"{pinner.text}\" --extra-index-url <URL of the index with {t.text}>"))
    elif not fixes:
        fixes.append(fix_cmd(f"Require {t.display}=={ver.public} and add the index that publishes +{local} builds",
                              f"uv add \"{t.display}=={ver.public}\" --index <URL of the index with +{local} builds>"))
    ev = uniq([line] + [x[1] for x in found[1:]])
    at = next((x for x in uv_derivations(log) if t in x.no_version), None)
    return [Cause(kind="local-version", packages=uniq(x[0].name for x in found), summary=summary,
                  chain=(line,), reason=reason, fixes=tuple(fixes), evidence=ev, version=version_of(t),
                  pins=pins_on(at, [t.name]))]

# ------------------------------------------------------------------------------------------------------------
# no-wheel-for-platform


_DIST_PLATFORM = re.compile(
    r"Distribution `(?P<dist>[^`@ ]+)(?: @ (?P<src>[^`]+))?` can't be installed because (?:it doesn't have a source distribution or wheel for the current platform|the binary distribution is incompatible with the current platform)"
)
_HINT_PLATFORMS = re.compile(
    r"You're on (?P<os>[^(]+)\(`(?P<tag>[^`]+)`\), but `(?P<pkg>[^`]+)` \(v(?P<ver>[^)]+)\) only has wheels for the following platforms?: (?P<have>.+?)(?:; consider adding (?:\"(?P<marker>[^\"]+)\"|your platform) to `tool\.uv\.required-environments`.*)?$"
)
_HINT_PY = re.compile(
    r"You're using (?P<impl>\S+) (?P<py>[\d.]+) \(`(?P<tag>[^`]+)`\), but `(?P<pkg>[^`]+)` \(v(?P<ver>[^)]+)\) only has wheels with the following Python (?:ABI|implementation) tags?: (?P<have>.+)$"
)


def check_no_wheel_for_platform(log: Log) -> list[Cause]:
    """The chosen version has no wheel (and no sdist) for this platform or Python."""
    dist = log.first(_DIST_PLATFORM)
    hp = log.hint(_HINT_PLATFORMS.pattern)
    hy = log.hint(_HINT_PY.pattern)
    lock_time = [(t, what, d) for d in uv_derivations(log) for t, what in d.no_wheels]
    pip_wheel = log.first(r"(?P<whl>\S{1,300}\.whl) is not a supported wheel on this platform")
    url_wheel = log.first(r"A URL dependency is incompatible with the current platform: (?P<whl>\S{1,1000}\.whl)")
    pip_none = [m for m in log.missing if not m.available and not local_label(m.term)]
    if not (dist or lock_time or pip_wheel or url_wheel or pip_none):
        return []
    ev: list[str] = []
    fixes: list[Fix] = []
    name: str | None = None
    summary = ""
    reason = ("uv resolves one version for every platform (a universal lock), then installs the wheel that "
              "matches this machine. Binary packages publish wheels per platform and Python; when the chosen "
              "version has none for this machine, and no source distribution, it cannot be installed here.")
    t: Term | None = None
    version: str | None = None
    python: str | None = None
    if dist:
        ev.append(dist.string.strip())
        t = parse_term(dist.group("dist"))
        name = t.name if t else dist.group("dist")
        version = version_of(t) if t else None
        summary = f"{dist.group('dist')} has no wheel (and no source distribution) for this platform"
        src = re.sub(r"^(?:registry\+)?(https?):/+", r"\1://", dist.group("src") or "")
        if hp:
            ev.append(next(h for h in log.hints if hp.group(0) in h))
            summary = (f"{hp.group('pkg')} {hp.group('ver')} has wheels only for {hp.group('have').strip()}, "
                       f"not for this machine ({hp.group('tag')})")
            marker = hp.group("marker") or platform_marker(hp.group("tag"))
            if marker:
                fixes.append(fix_toml(
                    "Make the lock pick a version that has wheels for this platform (uv's own suggestion)",
                    toml.tool_uv(**{"required_environments": [marker]})))
            have_markers = [m for m in (platform_marker(x) for x in re.findall(r"`([^`]+)`", hp.group("have"))) if m]
            url = src
            if url.startswith(("http://", "https://")) and "download.pytorch.org" in url and have_markers:
                tag = url.rstrip("/").rsplit("/", 1)[-1]
                idx = f"pytorch-{tag}" if tag != "whl" else "pytorch"
                marker_or = " or ".join(f"({m})" for m in uniq(have_markers)) if len(uniq(have_markers)) > 1 else have_markers[0]
                fixes.insert(0, fix_toml(
                    f"Take {name} from {url} only where it has wheels; elsewhere the plain version from PyPI is "
                    f"used (depend on {name} without a +local label)",
                    toml.index(idx, url) + "\n\n" + toml.sources({name or "": [{"index": idx, "marker": marker_or}]}),
                ))
        if hy:
            ev.append(next(h for h in log.hints if hy.group(0) in h))
            summary = (f"{hy.group('pkg')} {hy.group('ver')} has no wheel for {hy.group('impl')} {hy.group('py')} "
                       f"(only {hy.group('have').strip()})")
            py_fixes, python = _python_tag_fixes(log, hy)
            fixes += py_fixes
        if "download.pytorch.org" in src and not hp and not hy:
            tag = src.rstrip("/").rsplit("/", 1)[-1]
            idx = f"pytorch-{tag}" if tag != "whl" else "pytorch"
            fixes.append(fix_toml(
                f"Take {name} from {src} only on x86_64, where PyTorch's CUDA builds are published; other "
                f"platforms then take {name} from PyPI (depend on {name} without a +local label)",
                toml.index(idx, src) + "\n\n"
                + toml.sources({name or "torch": [{"index": idx, "marker": "platform_machine == 'x86_64'"}]}),
            ))
        if t is not None and local_label(t) and name in TORCH_FAMILY:
            reason += (f" `+{local_label(t)}` builds come only from PyTorch's index, and only for the platforms it "
                       "builds them for.")
            rel = torch_release(t.pinned) if name == "torch" and t.pinned else None
            if rel is not None and hp:
                plat = platform_marker(hp.group("tag")) or ""
                os_ = "linux" if "linux" in plat else "darwin" if "darwin" in plat else "windows"
                arch = "aarch64" if "aarch64" in plat else "arm64" if "arm64" in plat else "x86_64"
                if rel.has_platform(os_, arch):
                    reason += f" PyPI's torch {rel.version} does have a wheel for this platform."
    for lt, what, d in lock_time[:1]:
        ev += list(d.statements)
        name = name or lt.name
        version = version or version_of(lt, d)
        summary, lt_fixes = _lock_time(log, lt, what, d)
        fixes += lt_fixes
    for wm in (url_wheel, pip_wheel):
        if wm is None:
            continue
        ev.append(wm.string.strip())
        whl = wheel_name(wm.group("whl"))
        name = name or whl
        on = log.hint(r"The wheel is compatible with (?P<have>[^(]+)\(`(?P<htag>[^`]+)`\), but you're on (?P<os>[^(]+)\(`(?P<tag>[^`]+)`\)")
        if on:
            ev.append(next(h for h in log.hints if on.group(0) in h))
            summary = summary or (f"the {whl or 'URL'} wheel is built for {on.group('htag')}, and this machine is "
                                  f"{on.group('tag')}")
        summary = summary or f"{wm.group('whl').rsplit('/', 1)[-1]} was built for another platform or Python"
        if not dist and not lock_time:
            reason = ("A wheel's file name states the Python (`cp310`), ABI and platform it was built for; pip and "
                      "uv install it only on a matching interpreter and machine. Pick the wheel built for yours.")
        if whl in builds().build_with_torch:
            fixes.append(fix_cmd(f"Let llmenv pick the {whl} wheel built for this platform, Python, torch and CUDA",
                                  f"llmenv plan {whl}"))
        break
    for m in pip_none:
        ev.append(m.line)
        name = name or m.term.name
        summary = summary or (f"pip found no file of {m.term.display} it could install on this Python and platform "
                              "in the indexes it searched")
        reason = ("pip lists the versions it could use here; an empty list means the indexes it searched have no "
                  f"wheel of {m.term.display} for this Python and platform (or no {m.term.display} at all).")
        if m.term.name in TORCH_FAMILY:
            fixes.append(fix_cmd("Let llmenv find the torch build and index for this machine", "llmenv plan torch"))
        break
    if not fixes:
        fixes.append(fix_cmd("Let llmenv pick versions that have wheels for your target", f"llmenv plan {name or ''}".strip()))
    if hp and version is None:
        version = hp.group("ver")
    return [Cause(kind="no-wheel-for-platform", packages=uniq([name or ""]), summary=summary, chain=tuple(uniq(ev))[:3],
                  reason=reason, fixes=tuple(fixes), evidence=uniq(ev), version=version, python=python)]


def _python_tag_fixes(log: Log, hy: re.Match[str]) -> tuple[list[Fix], str | None]:
    """uv installs for a Python the chosen version has no wheel for ("You're using CPython 3.8 (`cp38`), but
    `torch` (v2.5.1) only has wheels with ... `cp39`, ..."): the Python bound that avoids it, and a release that
    has wheels for this Python. Older than every wheel: raise the floor; newer: cap below it."""
    here = major_minor(hy.group("py")) or ""
    tags = sorted(int(m) for m in re.findall(r"cp3(\d+)", hy.group("have")))
    fixes: list[Fix] = []
    python: str | None = None
    if not tags or not here:
        return fixes, None
    minor = int(here.split(".")[1])
    older = minor < tags[0]
    python = f">=3.{tags[0]}" if older else f"<3.{tags[-1] + 1}" if minor > tags[-1] else None
    if python:
        fixes.append(requires_python_fix(log, python, "Keep the project on Pythons this release has wheels for"))
        fixes.append(fix_cmd("And use such a Python here", f"uv python pin 3.{tags[0] if older else tags[-1]}"))
    if canonicalize_name(hy.group("pkg")) == "torch":
        rel = last_torch_with_python(here) if older else first_torch_with_python(here)
        if rel is not None:
            bound = f"<={rel.version}" if older else f">={rel.version}"
            fixes.append(fix_cmd(f"Or use a torch that has wheels for Python {here} (torch{bound})",
                                 f"uv add \"torch{bound}\""))
    return fixes, python


_ENV_OF = {"linux": "linux", "macos": "darwin", "windows": "win32", "android": "android", "ios": "ios",
           "freebsd": "freebsd"}
_FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}


def _negate(marker: str) -> str | None:
    """The marker of every environment outside ``marker`` (a conjunction of simple clauses)."""
    if re.search(r"\bor\b|[()]", marker):
        return None
    out = []
    for clause in re.split(r"\s+and\s+", marker.strip()):
        m = re.fullmatch(r"(?P<k>[a-z_]+)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<v>'[^']*'|\"[^\"]*\")", clause.strip())
        if not m:
            return None
        out.append(f"{m.group('k')} {_FLIP[m.group('op')]} {m.group('v')}")
    return " or ".join(out)


def _outside(what: str, split: str | None) -> str | None:
    """A marker for the environments that have wheels: outside the fork, or outside the platform uv names."""
    env = _ENV_OF.get(what.lower())
    if env:
        return f"sys_platform != '{env}'"
    if split and not re.search(r"python_(?:full_)?version", split):
        return _negate(split)
    return _negate(what) if " " in what else None


def _keep_envs(envs: Sequence[str], what: str, split: str | None) -> list[str]:
    """The project's environments that do not name the failing one (by its platform or fork marker)."""
    env = _ENV_OF.get(what.lower())
    needle = f"'{env}'" if env else (split or what)
    return [e for e in envs if needle not in e]


def _lock_time(log: Log, lt: Term, what: str, d: Derivation) -> tuple[str, list[Fix]]:
    """A version uv chose has no wheel for one of the environments the lock must cover (uv's "no
    Windows-compatible wheels", "no wheels with a matching platform tag"): the summary and fixes."""
    eg = re.search(re.escape(lt.text) + r" has no wheels with a matching [^(]*\(e\.g\., (?P<eg>`[^`]+`)\)", d.text)
    summary = (f"{lt.text} has no wheels with a matching {what}" + (f" (e.g. {eg.group('eg')})" if eg else "")
               if what.endswith("tag") else f"{lt.text} has no wheels for {what}")
    if d.split:
        summary += f" (uv's fork {d.split})"
    marker = (_exclude_marker(eg.group("eg")) if eg else None) or _outside(what, d.split)
    fixes: list[Fix] = []
    p = log.project
    if p is not None and (p.environments or p.required_environments):
        key, envs = ("environments", p.environments) if p.environments else ("required-environments",
                                                                               p.required_environments)
        keep = _keep_envs(envs, what, d.split)
        if keep and len(keep) < len(envs):
            fixes.append(fix_toml(f"Leave that environment out of {key} in {p.path} (now "
                                  + ", ".join(toml.q(e) for e in envs) + ")",
                                  toml.tool_uv(**{key.replace("-", "_"): keep})))
    elif marker and log.hint(r"The resolution failed for an environment that is not the current one"):
        fixes.append(fix_toml("Lock only the environments that have wheels (uv's own suggestion: "
                              "tool.uv.environments)", toml.tool_uv(environments=[marker])))
    where = marker or "platform_machine == 'x86_64'"
    title = f"Or limit the requirement on {lt.display} to the platforms that have its wheels ({where})"
    fixes.append(requirement_fix(log, lt.name, lambda r: with_marker(r, where), title) or fix_toml(
        f"Or pick a version of {lt.display} that has wheels there, or limit this requirement to platforms that have "
        f"them: {with_marker(lt.text, where)!r}",
        "# in [project] dependencies (or the extra that requires it):\n# " + toml.q(with_marker(lt.text, where)),
    ))
    fixes.append(fix_cmd("Or drop that environment from tool.uv.required-environments / environments",
                         "llmenv check pyproject.toml"))
    return summary, fixes




def _exclude_marker(tag: str) -> str | None:
    """A PEP 508 marker that leaves out the platform of a wheel tag (``win_amd64`` -> not Windows)."""
    t = tag.strip("`").lower()
    if t.startswith("win"):
        return "sys_platform != 'win32'"
    if t.startswith("macosx"):
        return "sys_platform != 'darwin'"
    if "linux" in t:
        for arch in ("aarch64", "ppc64le", "s390x", "armv7l"):
            if t.endswith(arch):
                return f"platform_machine != '{arch}'"
    return None


def _older_python(tags: str) -> str | None:
    vers = [int(m) for m in re.findall(r"cp3(\d+)", tags)]
    return f"3.{max(vers)}" if vers else None
