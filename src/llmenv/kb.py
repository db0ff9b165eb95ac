"""``llmenv kb refresh``: read the frameworks' pins from PyPI into a snapshot the planner uses.

The snapshot (schema 1, documented in docs/knowledge.md) holds, per tracked package, every release with its
requires-python, Requires-Dist lines, extras, yanked flag, upload date and where its metadata came from. The
frameworks and the engines' companions get their full metadata; the packages their pins reach get the index's
facts only (versions, requires-python, upload date), which is all the planner needs of them.

Everything is read first; the snapshot is written (atomically) only when every package was read, so a failed or
interrupted refresh leaves the previous knowledge as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import httpx
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.knowledge.refresh._pool import Pool, wait_all
from llmenv.pypi import BadDistribution, CoreMetadata, DistFile, Project, PyPIClient, PyPIError, candidates

__all__ = [
    "FULL",
    "SCHEMA",
    "TRACKED",
    "Progress",
    "RefreshResult",
    "build_snapshot",
    "refresh",
    "wheel_tags",
    "write_snapshot",
]

SCHEMA = 1

# package -> read its metadata (True) or only the index's facts (False). Order is the snapshot's order.
TRACKED: Mapping[str, bool] = {
    "vllm": True,
    "sglang": True,
    "verl": True,
    "openrlhf": True,
    "xformers": True,
    "flashinfer-python": True,
    "torch": False,
    # The torch table pairs each torch release with the torchvision / torchaudio whose Requires-Dist admits it.
    "torchvision": True,
    "torchaudio": True,
    "flash-attn": False,
    "ray": False,
    "transformers": False,
    "deepspeed": False,
    # Binary packages the frameworks and engines require whose wheels cover fewer Pythons than the stack's own
    # requires-python (verl's tensordict / torchcodec had no 3.14 wheels when verl allowed 3.14; vLLM's
    # xgrammar; SGLang's kernels): the planner reads their wheel tags to cap requires-python.
    "tensordict": False,
    "torchcodec": False,
    "xgrammar": False,
    "sgl-kernel": False,
    "sglang-kernel": False,
}
FULL = frozenset(name for name, full in TRACKED.items() if full)
# The bundled (filtered) snapshot keeps, besides Requires-Dist lines naming a tracked package, those naming the
# engines' compiled kernels under their other names (flashinfer = flashinfer-python's old name, sgl-kernel /
# sglang-kernel, flash-attn-4) ...
ALSO_KEPT = ("flashinfer", "sgl-kernel", "sglang-kernel", "flash-attn-4")
# ... and every line of the RL frameworks: an override rewrites a framework's whole metadata from them.
KEPT_WHOLE = ("verl", "openrlhf")


class Progress(Protocol):
    """Where a refresh reports how far it is (the CLI draws a bar on a terminal)."""

    def add(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def add(self, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class RefreshResult:
    """A refresh's outcome: the snapshot when every package was read, else the failures (package -> why)."""

    snapshot: dict[str, Any] | None
    failures: Mapping[str, str]
    warnings: tuple[str, ...] = ()
    releases: int = 0
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.snapshot is not None and not self.failures


def _date(ts: str | None) -> str | None:
    return ts[:10] if ts else None


def wheel_tags(files: Iterable[DistFile]) -> list[str]:
    """The distinct "{python}-{abi}-{platform}" triples of the wheels among ``files``, sorted (a compressed
    tag set such as ``cp38.cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64`` gives one triple per tag).
    The file names are all that is read: no request."""
    out: set[str] = set()
    for f in files:
        if f.kind != "wheel":
            continue
        try:
            tags = parse_wheel_filename(f.filename)[3]
        except (InvalidWheelFilename, InvalidVersion):
            continue
        out.update(str(t) for t in tags)
    return sorted(out)


def _release_entry(
    files: list[DistFile], meta: CoreMetadata | None, chosen: DistFile | None
) -> dict[str, Any]:
    uploads = sorted(f.uploaded for f in files if f.uploaded)
    rep = chosen or candidates(files)[0]
    requires_python = (meta.requires_python if meta else None) or rep.requires_python
    # What installs today: the files not yanked, or all of them when the whole release is yanked.
    live = [f for f in files if not f.yanked] or files
    return {
        "requires_python": requires_python,
        "requires_dist": list(meta.requires_dist) if meta else [],
        "provides_extras": list(meta.provides_extras) if meta else [],
        "yanked": all(f.yanked for f in files),
        "uploaded": _date(uploads[0]) if uploads else None,
        "from": meta.source if meta else "none",
        "file": rep.filename,
        "wheels": wheel_tags(live),
        "sdist": any(f.kind == "sdist" for f in live),
    }


def release_entry(
    client: PyPIClient, files: list[DistFile], *, full: bool
) -> tuple[dict[str, Any], str | None]:
    """One release's snapshot entry: from the first of its files (``candidates`` order) whose metadata reads,
    or from the index alone (``full=False``, or no file readable: then the second item says why)."""
    if not full:
        return _release_entry(files, None, None), None
    last = ""
    for f in candidates(files):
        try:
            meta = client.metadata(f)
        except BadDistribution as e:
            last = str(e)
            continue
        return _release_entry(files, meta, f), None
    return _release_entry(files, None, None), f"no readable metadata ({last})"


def compare_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(differences, added): releases of ``old`` whose entry differs in ``new`` or is gone, and releases
    only ``new`` has (published since ``old`` was made)."""
    differences: list[str] = []
    added: list[str] = []
    for name, entry in old["packages"].items():
        fresh = new["packages"].get(name, {}).get("releases", {})
        for version, rel in entry["releases"].items():
            if version not in fresh:
                differences.append(f"{name} {version}: no longer on the index")
            elif fresh[version] != rel:
                keys = sorted(
                    k for k in set(rel) | set(fresh[version]) if rel.get(k) != fresh[version].get(k)
                )
                differences.append(f"{name} {version}: {', '.join(keys)} differ")
        added += [f"{name} {v}" for v in fresh if v not in entry["releases"]]
    for name in new["packages"]:
        if name not in old["packages"]:
            differences.append(f"{name}: not in the old snapshot")
    return differences, added


def _names(line: str) -> str | None:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def filter_snapshot(
    snapshot: Mapping[str, Any], keep: Iterable[str] | None = None, whole: Iterable[str] = KEPT_WHOLE
) -> dict[str, Any]:
    """Keep only the Requires-Dist lines naming a package in ``keep`` (default: the tracked ones and
    ``ALSO_KEPT``), except in the packages of ``whole``, which keep every line. Marks the snapshot filtered."""
    if keep is None:
        keep = [*snapshot["packages"], *ALSO_KEPT]
    names = {canonicalize_name(n) for n in keep}
    whole = {canonicalize_name(n) for n in whole}
    out = dict(snapshot)
    out["filtered"] = True
    out["filter"] = {"names": sorted(names), "whole": sorted(whole)}
    packages: dict[str, Any] = {}
    for pkg, entry in snapshot["packages"].items():
        releases = {}
        for v, r in entry["releases"].items():
            r = dict(r)
            if canonicalize_name(pkg) not in whole:
                r["requires_dist"] = [line for line in r["requires_dist"] if _names(line) in names]
            releases[v] = r
        packages[pkg] = {**entry, "releases": releases}
    out["packages"] = packages
    return out


def build_snapshot(
    packages: Mapping[str, dict[str, dict[str, Any]]], *, index: str, generated: datetime
) -> dict[str, Any]:
    """The snapshot object from package -> version -> release entry (releases newest first)."""
    return {
        "schema": SCHEMA,
        "generated": generated.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "index": index,
        "filtered": False,
        "sources": {
            "index": f"{index} (PEP 691 JSON)",
            "metadata": "PEP 658 .metadata when offered, else the wheel's METADATA by HTTP range reads, "
            "else the sdist's PKG-INFO / egg-info requires.txt",
        },
        "packages": {
            name: {
                "full": name in FULL,
                "releases": dict(sorted(releases.items(), key=lambda kv: Version(kv[0]), reverse=True)),
            }
            for name, releases in packages.items()
        },
    }


def refresh(
    client: PyPIClient,
    *,
    packages: Mapping[str, bool] = TRACKED,
    jobs: int = 8,
    progress: Progress | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> RefreshResult:
    """Read every release of ``packages`` (name -> read full metadata) with ``jobs`` requests at once.

    Returns the snapshot only when nothing failed; HTTP failures (after the client's retries) fail their
    package. A file with broken metadata is skipped for the release's next file; a release none of whose files
    can be read is kept with ``"from": "none"`` and reported in ``warnings``.
    """
    bar: Progress = progress or _NoProgress()
    failures: dict[str, str] = {}
    warnings: list[str] = []
    entries: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in packages}
    bar.add(len(packages))

    def read_release(name: str, version: Version, files: list[DistFile]) -> tuple[str, str, dict[str, Any]]:
        entry, problem = release_entry(client, files, full=True)
        if problem:
            warnings.append(f"{name} {version}: {problem}")
        return name, str(version), entry

    with Pool(jobs, name="llmenv-kb") as pool:
        pages: dict[Future[Project], str] = {pool.submit(client.project, name): name for name in packages}
        work: dict[Future[tuple[str, str, dict[str, Any]]], str] = {}
        for fut in wait_all(pages):
            name = pages[fut]
            try:
                project = fut.result()
            except (PyPIError, httpx.HTTPError) as e:
                failures[name] = str(e) or type(e).__name__
                bar.advance()
                continue
            releases = project.releases()
            if not releases:
                failures[name] = f"no installable files for {name} on {client.index_url}"
            elif packages[name]:
                bar.add(len(releases))
                for version, files in releases.items():
                    work[pool.submit(read_release, name, version, files)] = name
            else:
                for version, files in releases.items():
                    entries[name][str(version)] = _release_entry(files, None, None)
            bar.advance()
        for job in wait_all(work):
            bar.advance()
            name = work[job]
            try:
                _, ver, entry = job.result()
            except (PyPIError, httpx.HTTPError) as e:
                failures.setdefault(name, str(e) or type(e).__name__)
                continue
            entries[name][ver] = entry

    stats = {
        "requests": client.stats.requests,
        "retries": client.stats.retries,
        "index_cached": client.stats.index_cached,
        "metadata_cached": client.stats.metadata_cached,
        "sources": dict(client.stats.sources),
    }
    count = sum(len(r) for r in entries.values())
    if failures:
        return RefreshResult(snapshot=None, failures=failures, warnings=tuple(warnings), stats=stats)
    snap = build_snapshot(entries, index=client.index_url, generated=now())
    return RefreshResult(
        snapshot=snap, failures={}, warnings=tuple(sorted(warnings)), releases=count, stats=stats
    )


def dumps(snapshot: Mapping[str, Any]) -> str:
    """The snapshot's bytes: one release per line, so a refresh reads as a small diff."""
    lines = ["{"]
    head = [(k, v) for k, v in snapshot.items() if k != "packages"]
    for k, v in head:
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "packages": {')
    pkgs = list(snapshot["packages"].items())
    for i, (name, entry) in enumerate(pkgs):
        lines.append(f"    {json.dumps(name)}: {{")
        for k, v in entry.items():
            if k != "releases":
                lines.append(f"      {json.dumps(k)}: {json.dumps(v)},")
        lines.append('      "releases": {')
        rels = list(entry["releases"].items())
        for j, (ver, rel) in enumerate(rels):
            comma = "," if j < len(rels) - 1 else ""
            lines.append(f"        {json.dumps(ver)}: {json.dumps(rel, ensure_ascii=False)}{comma}")
        lines.append("      }")
        lines.append("    }" + ("," if i < len(pkgs) - 1 else ""))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_snapshot(path: Path, snapshot: Mapping[str, Any]) -> None:
    """Write atomically (``llmenv.files.write_text_atomic``)."""
    from llmenv.files import write_text_atomic

    write_text_atomic(path, dumps(snapshot))
