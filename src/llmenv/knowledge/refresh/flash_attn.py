"""Rebuild the flash-attn table's wheel matrix from the GitHub releases API (Dao-AILab/flash-attention).

Each release's assets are its prebuilt wheels, named
``flash_attn-{version}+{cuda}torch{mm}cxx11abi{TRUE|FALSE}-cp{py}-cp{py}-{platform}.whl``: the names give the
wheel CUDA tag, torch minor, ABI and Python, so the matrix (build lines, Pythons, ABIs, exclusions, single missing
files) is what was actually uploaded. The rest — the nvcc CI used, the architectures in the wheels, setup.py's
build rules and naming, known breakages — has no machine-readable source: kept from the table for releases it
knows; a new release inherits them from the release before it, marked [U] in its note. ``pypi_sdist`` comes from
the pins table (the flash-attn releases PyPI carries).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from packaging.version import InvalidVersion, Version

from llmenv.knowledge.pins import PinnedRelease
from llmenv.pypi import PyPIClient

__all__ = ["API", "REPO", "build_flash_attn_table", "matrix", "read_releases", "releases_url"]

API = "https://api.github.com"
REPO = "Dao-AILab/flash-attention"
_PLATFORM = "linux_x86_64"
_ASSET = re.compile(
    r"^flash_attn-(?P<version>[^+]+)\+(?P<cuda>cu\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)"
    r"-cp(?P<py>\d+)-cp\d+t?-(?P<platform>[a-z0-9_]+)\.whl$"
)
_PAGE = 100


def releases_url(proxy: str | None, page: int) -> str:
    url = f"{API}/repos/{REPO}/releases?per_page={_PAGE}&page={page}"
    return f"{proxy.rstrip('/')}/{url}" if proxy else url


def read_releases(client: PyPIClient, *, proxy: str | None, token: str | None = None) -> list[dict[str, Any]]:
    """Every published release (not drafts), all pages. ``token`` is sent to api.github.com only."""
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token and not proxy:
        headers["Authorization"] = f"Bearer {token}"
    out: list[dict[str, Any]] = []
    for page in range(1, 50):
        got = client.get_json(releases_url(proxy, page), headers)
        if not isinstance(got, list):
            raise ValueError(f"{releases_url(proxy, page)}: not a list of releases")
        out += [r for r in got if isinstance(r, dict) and not r.get("draft")]
        if len(got) < _PAGE:
            break
    return out


def _py(digits: str) -> str:
    return f"{digits[0]}.{digits[1:]}"


def matrix(names: Iterable[str], version: str) -> dict[str, Any] | None:
    """The compact matrix of one release's wheel assets (Linux x86_64), or None when it has none.

    Returns ``lines`` (cuda tag -> torch minors), ``python``, ``cxx11_abi``, ``exclude`` ((torch, Python) pairs
    missing for every line and ABI) and ``missing`` (single holes), plus ``others`` (platforms of other assets)."""
    have: set[tuple[str, str, str, bool]] = set()
    others: set[str] = set()
    for name in names:
        m = _ASSET.match(name)
        if not m or m["version"] != version:
            continue
        if m["platform"] != _PLATFORM:
            others.add(m["platform"])
            continue
        have.add((m["cuda"], m["torch"], _py(m["py"]), m["abi"] == "TRUE"))
    if not have:
        return {"others": sorted(others)} if others else None
    lines: dict[str, set[str]] = {}
    for cuda, mm, _, _ in have:
        lines.setdefault(cuda, set()).add(mm)
    pythons = sorted({h[2] for h in have}, key=Version)
    abis = sorted({h[3] for h in have})
    holes = {
        (c, mm, py, abi) for c, mms in lines.items() for mm in mms for py in pythons for abi in abis
    } - have
    exclude: dict[str, list[str]] = {}
    for mm in sorted({mm for mms in lines.values() for mm in mms}, key=Version):
        for py in pythons:
            cells = {(c, mm, py, abi) for c, mms in lines.items() if mm in mms for abi in abis}
            if cells <= holes:
                exclude.setdefault(mm, []).append(py)
    missing = sorted(h for h in holes if h[2] not in exclude.get(h[1], []))
    return {
        "lines": {c: sorted(mms, key=Version) for c, mms in sorted(lines.items())},
        "python": pythons,
        "cxx11_abi": abis,
        "exclude": [{"torch": t, "python": pys} for t, pys in exclude.items()],
        "missing": [list(h) for h in missing],
        "others": sorted(others),
    }


Guess = Callable[[int, Sequence[str]], str]  # (CUDA major, torch minors of the line) -> an nvcc version


def _nvcc(
    cuda: str,
    mms: Sequence[str],
    own: Mapping[str, Any] | None,
    earlier: Sequence[Mapping[str, Any]],
    guess: Guess,
) -> tuple[str, bool]:
    """The nvcc of a build line and whether it is inferred: the release's own line when the table has it; else
    the same line of the newest earlier release; else ``guess`` (the newest CUDA of that major the torch
    table has builds of for those torch minors: CI compiles with a toolkit its torch builds use)."""
    for rel in ([own] if own else []) + list(earlier):
        for b in rel.get("builds", ()):
            if b["cuda"] == cuda:
                return str(b["nvcc"]), rel is not own
    return guess(int(cuda.removeprefix("cu")[:2]), mms), True


def _builds(
    m: Mapping[str, Any], own: Mapping[str, Any] | None, earlier: Sequence[Mapping[str, Any]], guess: Guess
) -> tuple[list[dict[str, Any]], bool]:
    same = {b["cuda"]: b for b in (own or {}).get("builds", ())}
    out, inferred = [], False
    for cuda, mms in m["lines"].items():
        nvcc, guessed = _nvcc(cuda, mms, own, earlier, guess)
        inferred |= guessed
        exact = {_mm(t): t for t in same.get(cuda, {}).get("torch", ())}
        out.append({"cuda": cuda, "nvcc": nvcc, "torch": [exact.get(mm, mm) for mm in mms]})
    return out, inferred


def _mm(torch: str) -> str:
    v = Version(torch)
    return f"{v.major}.{v.minor}"


_CURATED = ("cuda_naming", "wheel_archs", "build")


def _entry(
    version: Version,
    rel: Mapping[str, Any],
    old: Mapping[str, Mapping[str, Any]],
    sdists: set[Version],
    guess: Guess,
) -> dict[str, Any]:
    """One release's entry: its matrix from the assets, the curated facts from the old table (or inherited)."""
    key = str(version)
    earlier = sorted((Version(v) for v in old if Version(v) < version), reverse=True)
    prior = [old[str(v)] for v in earlier]
    mine = old.get(key)
    base = dict(mine) if mine else ({k: prior[0][k] for k in _CURATED if k in prior[0]} if prior else {})
    m = matrix((a.get("name", "") for a in rel.get("assets", ())), key) or {}
    entry: dict[str, Any] = {"version": key, **{k: v for k, v in base.items() if k in _CURATED}}
    entry["pypi_sdist"] = version in sdists
    entry["date"] = str(rel.get("published_at") or rel.get("created_at") or base.get("date", ""))[:10]
    notes = []
    if "lines" in m:
        entry["builds"], inferred = _builds(m, mine, prior, guess)
        entry.update(python=m["python"], cxx11_abi=m["cxx11_abi"], platform=_PLATFORM, exclude=m["exclude"])
        if m["missing"]:
            entry["missing"] = m["missing"]
        if inferred:
            notes.append(
                "the nvcc of a build line is not in the asset names: taken from an earlier release [U]"
            )
    else:
        entry.update(builds=[], python=[], cxx11_abi=[], platform=_PLATFORM, exclude=[])
        notes.append("no prebuilt Linux x86_64 wheel among the release's assets")
    if m.get("others"):
        notes.append(f"wheels for {', '.join(m['others'])} too (not planned with yet)")
    if not mine:
        src = f"v{earlier[0]}" if earlier else "nothing (no earlier release)"
        notes.append(f"architectures, nvcc rule and build facts inherited from {src} [U]: check setup.py")
    entry["status"] = "U" if not mine else "V"
    if notes:
        entry["note"] = "; ".join(notes)
    return entry


def sdist_versions(releases: Sequence[PinnedRelease]) -> set[Version]:
    """The flash-attn releases PyPI has a source distribution of (flash-attn uploads only sdists)."""
    out = set()
    for r in releases:
        if r.yanked:
            continue
        if r.sdist is True or (r.sdist is None and (r.file or "").endswith((".tar.gz", ".zip"))):
            out.add(r.version)
    return out


def build_flash_attn_table(
    old: Mapping[str, Any],
    api_releases: Sequence[Mapping[str, Any]],
    *,
    pypi: Sequence[PinnedRelease],
    guess: Guess,
    read_from: str,
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The new table (every top-level fact kept) and notes."""
    olds = {r["version"]: r for r in old["releases"]}
    sdists = sdist_versions(pypi)
    seen: dict[Version, dict[str, Any]] = {}
    for rel in api_releases:
        if rel.get("prerelease"):
            continue
        try:
            v = Version(str(rel.get("tag_name", "")).removeprefix("v"))
        except InvalidVersion:
            continue
        seen[v] = _entry(v, rel, olds, sdists, guess)
    gone = sorted(Version(v) for v in olds if Version(v) not in seen)
    notes = [f"{len(gone)} releases the table has are not among those read ({gone[0]} ... {gone[-1]}): kept"]
    notes = notes if gone else []
    for v, r in olds.items():
        seen.setdefault(Version(v), dict(r))
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    sources = dict(old.get("sources", {}))
    sources["builds, python, cxx11_abi, exclude, date"] = (
        f"the assets of each release, GitHub releases API of {REPO} ({read_from}), read {when.date()}"
    )
    table = {k: v for k, v in old.items() if k != "releases"}
    table.update(
        verified=when.date().isoformat(),
        generated=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        read_from=read_from,
        sources=sources,
        releases=[seen[v] for v in sorted(seen)],
    )
    return table, notes
