"""Rebuild the torch table (schema 2) from its machine-readable sources.

* **PyPI** (``/simple/torch/``): the releases, each platform's wheel tags and Python versions, and — for the
  Linux wheels — the build PyPI ships: its CUDA (the ``nvidia-cuda-runtime-cuXX`` / ``cuda-toolkit`` pin in
  Requires-Dist that applies on that platform), architectures and C++ ABI (``wheels.scan_torch_wheel``), or
  that it is CPU-only (no ``libtorch_cuda.so``).
* **The PyTorch index** (``/whl/<variant>/torch/``, or a mirror): which variants exist per release and platform
  (the file names give version, variant, Python tag and platform), each variant's architectures and ABI from
  its wheel's bytes. A root page (``/whl/torch/``) lists every variant at once when the index has one; otherwise
  each candidate variant's page is asked for (404: no such variant).
* **The pins table** (torchvision / torchaudio Requires-Dist and upload dates): the companion releases.

A fact read from a wheel records the file (name and sha256); it is kept without reading the wheel again while the
index serves that very file (``reread`` forces a read). Facts curated from build matrices name no file: the first
refresh that reaches the index reads those wheels (about 8 MB of each, by range requests; cached afterwards).
The result is the whole table or nothing: any failure of a source fails the table, and the old one stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from llmenv.knowledge.pins import PinnedRelease
from llmenv.knowledge.refresh._pool import Pool, wait_all
from llmenv.knowledge.refresh.wheels import TorchBinary, scan_torch_wheel
from llmenv.knowledge.torch import TorchTable, wheel_tag_platform
from llmenv.pypi import BadDistribution, CoreMetadata, DistFile, PyPIClient, PyPIError

__all__ = ["TorchSource", "Wheel", "build_torch_table", "companion", "compatible", "read_index", "read_pypi"]

_LINUX = ("linux-x86_64", "linux-aarch64")
# Requires-Dist names whose exact pin says which CUDA the PyPI build bundles.
_CUDA_PINS = {
    "cuda-toolkit",
    "nvidia-cuda-runtime",
    "nvidia-cuda-runtime-cu11",
    "nvidia-cuda-runtime-cu12",
    "nvidia-cuda-runtime-cu13",
}


@dataclass(frozen=True, kw_only=True)
class TorchSource:
    """Where the PyTorch index's pages are: ``template`` with ``{variant}`` (a per-variant index or mirror), or
    one index for every variant. ``flat``: a page of links per variant (Aliyun's layout)."""

    template: str
    flat: bool = False

    def page(self, tag: str | None) -> str:
        base = self.template.replace("{variant}", tag or "").rstrip("/")
        return base + "/" if self.flat else base + "/torch/"

    @property
    def root(self) -> str | None:
        """The all-variants page of an index laid out like download.pytorch.org (``/whl/torch/``)."""
        if self.flat or not self.template.rstrip("/").endswith("/{variant}"):
            return None
        return self.template.rstrip("/").removesuffix("/{variant}") + "/torch/"


@dataclass(frozen=True, kw_only=True)
class Wheel:
    """One torch wheel file, as its name describes it."""

    file: DistFile
    version: Version  # public
    local: str | None  # the variant ("cu126", "rocm6.2.4"); None for PyPI's builds
    platform: str  # "linux-x86_64"
    tag: str  # the wheel's platform tag
    python: str | None  # "3.12" (None: not a CPython wheel)
    free_threaded: bool


def wheel(f: DistFile) -> Wheel | None:
    """A torch wheel of a platform the table follows; None for anything else (sdists, 32-bit, other OSes)."""
    if f.kind != "wheel":
        return None
    try:
        _, v, _, tags = parse_wheel_filename(f.filename)
    except ValueError:
        return None
    t = next(iter(tags))
    key = wheel_tag_platform(t.platform)
    if key is None:
        return None
    py = t.interpreter[2:] if t.interpreter.startswith("cp") and len(t.interpreter) > 3 else None
    return Wheel(
        file=f,
        version=Version(v.public),
        local=v.local,
        platform=key,
        tag=t.platform,
        python=f"{py[0]}.{py[1:]}" if py else None,
        free_threaded=t.abi.endswith("t") and t.abi.startswith("cp"),
    )


def _minor_key(py: str) -> Version:
    return Version(py)


def _pythons(wheels: Iterable[Wheel]) -> tuple[list[str], list[str]]:
    gil = {w.python for w in wheels if w.python and not w.free_threaded}
    ft = {w.python for w in wheels if w.python and w.free_threaded}
    return sorted(gil, key=_minor_key), sorted(ft, key=_minor_key)


def _inspect(wheels: Sequence[Wheel]) -> Wheel:
    """The wheel whose bytes speak for the group: cp311 (what the facts used) else the oldest Python."""
    gil = sorted(
        (w for w in wheels if w.python and not w.free_threaded), key=lambda w: _minor_key(w.python or "")
    )
    return next((w for w in gil if w.python == "3.11"), gil[0] if gil else wheels[0])


def _marker_env(platform: str, python: str) -> dict[str, str]:
    os_, arch = platform.split("-")
    system = {"linux": "Linux", "darwin": "Darwin", "windows": "Windows"}[os_]
    return {
        "platform_machine": arch,
        "platform_system": system,
        "sys_platform": {"windows": "win32"}.get(os_, os_),
        "os_name": "nt" if os_ == "windows" else "posix",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def cuda_of(meta: CoreMetadata, platform: str, python: str) -> str | None:
    """The CUDA (``"12.8"``) a PyPI torch build bundles, from the exact runtime pin that applies on the platform."""
    env = _marker_env(platform, python)
    for line in meta.requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) not in _CUDA_PINS:
            continue
        if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
            continue
        exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if exact:
            parts = exact[0].split(".")
            return f"{parts[0]}.{parts[1]}"
    return None


# ------------------------------------------------------------------------------------------------ PyPI


@dataclass
class _Job:
    """Reads for the table, run in the pool: wheel scans and metadata."""

    pool: Pool
    client: PyPIClient
    futures: list[Future[Any]] = field(default_factory=list)

    def scan(self, w: Wheel, client: PyPIClient | None = None) -> Future[TorchBinary]:
        c = client or self.client
        fut = self.pool.submit(lambda: scan_torch_wheel(c, w.file, cancel=self.pool.cancel))
        self.futures.append(fut)
        return fut

    def metadata(self, w: Wheel) -> Future[CoreMetadata]:
        fut = self.pool.submit(self.client.metadata, w.file)
        self.futures.append(fut)
        return fut

    def wait(self) -> None:
        for fut in wait_all(self.futures):
            fut.result()  # the first failure ends the table


def _identity(w: Wheel) -> dict[str, str]:
    """What a fact read from a wheel records of it: the file name, and its sha256 when the index gives one."""
    return {"inspected": w.file.filename, **({"sha256": w.file.sha256} if w.file.sha256 else {})}


def _same_file(old: Mapping[str, Any], w: Wheel) -> bool:
    """Was the old fact read from this very file (same name and the same sha256)? Then it still holds; a fact
    with no file recorded (curated from build matrices) is read again from the wheel."""
    return (
        bool(w.file.sha256) and old.get("inspected") == w.file.filename and old.get("sha256") == w.file.sha256
    )


def _platform_pypi(
    key: str, wheels: Sequence[Wheel], old: Mapping[str, Any] | None, job: _Job, reread: bool
) -> Callable[[], dict[str, Any]]:
    """The PyPI part of one release on one platform; the wheel reads run in the pool, the dict is built after."""
    gil, ft = _pythons(wheels)
    entry: dict[str, Any] = {"wheels": sorted({w.tag for w in wheels}), "python": gil}
    if ft:
        entry["free_threaded"] = ft
    if key not in _LINUX:
        return lambda: entry
    chosen = _inspect(wheels)
    seen = _identity(chosen)
    if old and not reread and _same_file(old, chosen) and old.get("cxx11_abi") is not None:
        carried = {k: old[k] for k in ("cxx11_abi", "pypi") if k in old}
        return lambda: {**entry, **carried, **seen}
    scan = job.scan(chosen)
    meta = job.metadata(chosen)

    def build() -> dict[str, Any]:
        binary = scan.result()
        out = {**entry, "cxx11_abi": binary.cxx11_abi, **seen}
        if binary.gpu == "cuda":
            cuda = cuda_of(meta.result(), key, chosen.python or "3.11")
            if cuda is None and old and old.get("pypi"):
                cuda = old["pypi"]["cuda"]
            if cuda is None:
                raise BadDistribution(f"{chosen.file.filename}: a CUDA build that pins no CUDA runtime")
            out["pypi"] = {"cuda": cuda, "archs": list(binary.archs) if binary.archs else None, "status": "V"}
        return out

    return build


def read_pypi(
    client: PyPIClient, *, since: Version, old: Mapping[str, Mapping[str, Any]], job: _Job, reread: bool
) -> tuple[dict[Version, dict[str, Callable[[], dict[str, Any]]]], dict[Version, date | None]]:
    """Per stable release (>= ``since``) and platform, a builder of its PyPI part; and each release's upload
    day. ``old``: version -> the old table's release entry."""
    groups: dict[Version, dict[str, list[Wheel]]] = {}
    uploaded: dict[Version, date | None] = {}
    for f in client.project("torch").files:
        w = wheel(f)
        if w is None or w.local or w.version.is_prerelease or w.version.is_devrelease or w.version < since:
            continue
        groups.setdefault(w.version, {}).setdefault(w.platform, []).append(w)
        if f.uploaded:
            day = date.fromisoformat(f.uploaded[:10])
            prev = uploaded.get(w.version)
            uploaded[w.version] = day if prev is None or day < prev else prev
    builders: dict[Version, dict[str, Callable[[], dict[str, Any]]]] = {}
    for v, platforms in sorted(groups.items()):
        if all(w.file.yanked for ws in platforms.values() for w in ws):
            continue
        prior = old.get(str(v), {}).get("platforms", {})
        builders[v] = {
            key: _platform_pypi(key, ws, prior.get(key), job, reread) for key, ws in sorted(platforms.items())
        }
    return builders, uploaded


# --------------------------------------------------------------------------------------------- the index


def candidates(old_tags: Iterable[str], cuda_versions: Iterable[str]) -> list[str]:
    """The variant pages to ask for when the index has no all-variants page: the old table's variants and a
    cuXY for every CUDA release the CUDA table knows (a new CUDA's builds appear as a new page)."""
    tags = set(old_tags) | {"cu" + c.replace(".", "") for c in cuda_versions}
    return sorted(tags)


def read_index(client: PyPIClient, source: TorchSource, tags: Sequence[str], pool: Pool) -> list[Wheel]:
    """Every variant wheel (local version label = its page's variant) the index lists. A page that answers 404
    is a variant that does not exist; any other failure fails the read (PyPIError)."""
    if source.root is not None:
        try:
            return [w for f in client.page(source.root, "torch").files if (w := wheel(f)) and w.local]
        except PyPIError as e:
            if e.status != 404:
                raise
    if "{variant}" not in source.template:
        return [w for f in client.page(source.page(None), "torch").files if (w := wheel(f)) and w.local]

    def one(tag: str) -> list[Wheel]:
        try:
            files = client.page(source.page(tag), "torch").files
        except PyPIError as e:
            if e.status == 404:
                return []
            raise
        return [w for f in files if (w := wheel(f)) and w.local == tag]

    futures = [pool.submit(one, tag) for tag in tags]
    out: list[Wheel] = []
    for fut in wait_all(futures):
        out += fut.result()
    if not out:  # every page missing is a wrong URL, not "torch has no builds"
        raise PyPIError(f"{source.page('<variant>')}: no torch wheel on any variant page ({', '.join(tags)})")
    return out


def _variant_entry(
    tag: str,
    wheels: Sequence[Wheel],
    old: Mapping[str, Any] | None,
    job: _Job,
    index: PyPIClient,
    reread: bool,
) -> Callable[[list[str], bool | None], dict[str, Any]]:
    """One variant of one release on one platform: kept from the old table when verified, else read."""
    gil, _ = _pythons(wheels)
    rocm = tag.startswith("rocm")
    chosen = _inspect(wheels)
    known = old is not None and _same_file(old, chosen)
    scan = None if (known and not reread) else job.scan(chosen, index)

    def build(pypi_python: list[str], abi: bool | None) -> dict[str, Any]:
        if scan is None:
            assert old is not None
            entry = dict(old)
        else:
            b = scan.result()
            entry = (
                {"gfx": list(b.gfx) if b.gfx else None}
                if rocm
                else {"archs": list(b.archs) if b.archs else None}
            )
            found = entry.get("gfx" if rocm else "archs") is not None
            entry["status"] = "V" if found else "U"  # on the index for sure; its architectures not found
            entry.update(_identity(chosen))
            if b.cxx11_abi is not None and (rocm or b.cxx11_abi != abi):
                entry["cxx11_abi"] = b.cxx11_abi
            if old is not None and old.get("advertised") is False:
                entry["advertised"] = False
        if gil != pypi_python:
            entry["python"] = gil
        else:
            entry.pop("python", None)
        return entry

    return build


# ------------------------------------------------------------------------------------------ companions


def _torch_req(rel: PinnedRelease) -> SpecifierSet | None:
    """The torch requirement of a torchvision / torchaudio release (None: it names no torch: admits any)."""
    for r in rel.requires_dist:
        if canonicalize_name(r.name) == "torch" and (r.marker is None or "extra" not in str(r.marker)):
            return r.specifier
    return None


def companion(torch: Version, uploaded: date | None, releases: Sequence[PinnedRelease]) -> str | None:
    """The torchvision / torchaudio release that goes with a torch release.

    One that pins ``torch==X`` exactly wins. Otherwise the earliest release whose torch requirement admits the
    torch and that was uploaded with it or after it (a day's grace): torchvision 0.29.1 (``torch>=2.14.0``,
    uploaded with torch 2.14.1) goes with 2.14.1, 0.29.2 with 2.15.0. A release uploaded before the torch existed
    was not built for it, whatever its requirement admits; one that names no torch at all (torchaudio 2.11.0)
    goes only with the torch uploaded with it.
    """
    known = [r for r in releases if r.metadata_known and not r.yanked and not r.version.is_prerelease]
    exact = [r for r in known if (s := _torch_req(r)) is not None and any(x.operator == "==" for x in s)]
    exact = [r for r in exact if (s := _torch_req(r)) is not None and s.contains(torch)]
    if exact:
        return str(max(r.version for r in exact))
    if uploaded is None:
        return None
    fits = []
    for r in known:
        spec = _torch_req(r)
        if (spec is not None and not spec.contains(torch)) or r.uploaded is None:
            continue
        if spec is None and abs((r.uploaded - uploaded).days) > 1:
            continue  # it names no torch (torchaudio 2.11.0): only the torch released with it
        if r.uploaded >= uploaded - timedelta(days=1):
            fits.append(r)
    if not fits:
        return None
    first = min(fits, key=lambda r: (r.uploaded or date.max, r.version))
    return str(first.version)


def compatible(
    torch: Version,
    releases: Sequence[PinnedRelease],
    *,
    first: str | None,
    torches: Mapping[Version, date | None],
) -> list[str]:
    """Every torchvision / torchaudio release whose metadata admits this torch, newest first, the built-for one
    (``first``) leading: what a pin elsewhere may take. One that names no torch version (torchaudio 2.11.0; a
    bare ``torch``) admits the torch uploaded with it and later ones; with no torch of its day in the table
    (torchvision 0.3.0), none."""
    known = [r for r in releases if r.metadata_known and not r.yanked and not r.version.is_prerelease]

    def admits(r: PinnedRelease) -> bool:
        spec = _torch_req(r)
        if spec is not None and str(spec):
            return spec.contains(torch)
        if r.uploaded is None:  # no torch, or a bare "torch": only what was released with it, and later
            return False
        day = r.uploaded
        partners = [v for v, up in torches.items() if up is not None and abs((up - day).days) <= 1]
        return bool(partners) and torch >= min(partners)

    fits = [r for r in known if admits(r)]
    out = [str(r.version) for r in sorted(fits, key=lambda r: r.version, reverse=True)]
    if first in out:
        out.remove(first)
        out.insert(0, first)
    return out


# --------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True, kw_only=True)
class Inputs:
    pypi: PyPIClient
    index: PyPIClient | None  # None: PyPI only, the index's variants kept from the old table
    source: TorchSource | None
    old: Mapping[str, Any]  # the old table (schema 2)
    torchvision: Sequence[PinnedRelease]
    torchaudio: Sequence[PinnedRelease]
    cuda_versions: Sequence[str]
    reread: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def build_torch_table(inputs: Inputs, pool: Pool) -> tuple[dict[str, Any], list[str]]:
    """The new table and notes. Raises PyPIError / httpx errors / BadDistribution when a source fails."""
    old_releases = {r["version"]: r for r in inputs.old["releases"]}
    since = min(Version(v) for v in old_releases)
    job = _Job(pool=pool, client=inputs.pypi)
    pypi, uploaded = read_pypi(inputs.pypi, since=since, old=old_releases, job=job, reread=inputs.reread)
    variants = _read_variants(inputs, old_releases, job, pool)
    job.wait()
    releases, notes = [], []
    for v in sorted(pypi):
        platforms = {key: build() for key, build in pypi[v].items()}
        x86 = platforms.get("linux-x86_64")
        if x86 is None or "pypi" not in x86:
            notes.append(f"torch {v}: no Linux x86_64 CUDA wheel on PyPI; left out")
            continue
        _add_variants(platforms, variants, v, old_releases.get(str(v)), indexed=inputs.index is not None)
        day = uploaded.get(v)
        rel: dict[str, Any] = {"version": str(v), "uploaded": day.isoformat() if day else None}
        compat: dict[str, list[str]] = {}
        for name, rels in (("torchvision", inputs.torchvision), ("torchaudio", inputs.torchaudio)):
            if any(r.metadata_known for r in rels):
                rel[name] = companion(v, uploaded.get(v), rels)
                compat[name] = compatible(v, rels, first=rel[name], torches=uploaded)
            else:  # the pins in use did not read its Requires-Dist: the old pairing stands
                rel[name] = old_releases.get(str(v), {}).get(name)
                compat[name] = list(old_releases.get(str(v), {}).get("compatible", {}).get(name, []))
        rel["compatible"] = {k: vs for k, vs in compat.items() if vs}
        rel["platforms"] = {key: _ordered(p) for key, p in sorted(platforms.items())}
        releases.append(rel)
    table = _table(inputs, releases)
    TorchTable.from_dict(table).check()  # what the loader would read: fails here, not at plan time
    return table, notes


def _read_variants(
    inputs: Inputs, old: Mapping[str, Mapping[str, Any]], job: _Job, pool: Pool
) -> dict[tuple[str, str, str], Callable[..., dict[str, Any]]]:
    """(version, platform, tag) -> a builder of the variant's entry, from the index's pages."""
    if inputs.index is None or inputs.source is None:
        return {}
    old_tags = {
        t
        for r in old.values()
        for p in r["platforms"].values()
        for t in (*p.get("variants", {}), *p.get("rocm", {}))
    }
    tags = candidates(old_tags, inputs.cuda_versions)
    groups: dict[tuple[str, str, str], list[Wheel]] = {}
    for w in read_index(inputs.index, inputs.source, tags, pool):
        if w.platform in _LINUX and not w.version.is_prerelease and not w.version.is_devrelease:
            groups.setdefault((str(w.version), w.platform, str(w.local)), []).append(w)
    out = {}
    for (v, key, tag), ws in groups.items():
        prior = old.get(v, {}).get("platforms", {}).get(key, {})
        prior_v = prior.get("rocm" if tag.startswith("rocm") else "variants", {}).get(tag)
        out[(v, key, tag)] = _variant_entry(tag, ws, prior_v, job, inputs.index, inputs.reread)
    return out


_KEYS = (
    "wheels",
    "python",
    "free_threaded",
    "cxx11_abi",
    "inspected",
    "sha256",
    "pypi",
    "variants",
    "rocm",
    "complete",
)


def _ordered(platform: Mapping[str, Any]) -> dict[str, Any]:
    """One key order whether a fact was read or kept, so that a refresh reads as a small diff."""
    return {k: platform[k] for k in (*_KEYS, *sorted(set(platform) - set(_KEYS))) if k in platform}


def _variant_order(tag: str) -> tuple[int, ...]:
    digits = tag.removeprefix("rocm").removeprefix("cu")
    return tuple(int(p) for p in digits.split(".")) if "." in digits else (int(digits[:-1]), int(digits[-1]))


def _add_variants(
    platforms: dict[str, dict[str, Any]],
    variants: Mapping[tuple[str, str, str], Callable[..., dict[str, Any]]],
    v: Version,
    old: Mapping[str, Any] | None,
    *,
    indexed: bool,
) -> None:
    """Fill each Linux platform's variants: from the index when it was read, else kept from the old table."""
    for key in _LINUX:
        mine = {tag: b for (ver, k, tag), b in variants.items() if ver == str(v) and k == key}
        if not indexed:
            prior = (old or {}).get("platforms", {}).get(key)
            if prior is None and key not in platforms:
                continue
            p = platforms.setdefault(key, {"wheels": [], "python": []})
            p["variants"] = dict((prior or {}).get("variants", {}))
            if (prior or {}).get("rocm"):
                p["rocm"] = dict(prior["rocm"])
            p["complete"] = bool((prior or {}).get("complete", False)) and prior is not None
            continue
        if not mine and key not in platforms:
            continue
        p = platforms.setdefault(key, {"wheels": [], "python": []})
        cuda = {t: b for t, b in mine.items() if t.startswith("cu")}
        rocm = {t: b for t, b in mine.items() if t.startswith("rocm")}
        abi = p.get("cxx11_abi")
        p["variants"] = {t: cuda[t](p["python"], abi) for t in sorted(cuda, key=_variant_order)}
        if rocm:
            p["rocm"] = {t: rocm[t](p["python"], abi) for t in sorted(rocm, key=_variant_order)}
        p["complete"] = True


def _table(inputs: Inputs, releases: list[dict[str, Any]]) -> dict[str, Any]:
    day = inputs.now.astimezone(timezone.utc).date().isoformat()
    index = inputs.source.template if inputs.source is not None else None
    sources = dict(inputs.old.get("sources", {}))
    how = f"{inputs.pypi.index_url} (torch's wheels: tags, Requires-Dist, libtorch_python.so by range reads)"
    if index:
        how += f" and the PyTorch index {index} (variant pages, each variant's wheel by range reads)"
        where = f"the PyTorch index {index} and {inputs.pypi.index_url}"
    else:
        how += "; the PyTorch index was not read: the variants are the previous table's (complete=false)"
        where = f"{inputs.pypi.index_url}; the index's variants kept (PyTorch index not read)"
    sources["refresh"] = f"llmenv kb refresh, {day}: {how}; torchvision/torchaudio from the pins table"
    return {
        "schema": 2,
        "about": inputs.old.get("about", "torch releases x platforms x variants"),
        "verified": day,
        "generated": inputs.now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "read_from": where,
        "index": index or inputs.old.get("index"),
        "pypi": inputs.pypi.index_url,
        "sources": sources,
        "releases": releases,
    }
