"""Extension providers over the wheel listings (``listing.py``) and the default index (the pins snapshot): the
prebuilt options the planner's search chooses among, between the official flash-attn wheels and the source build.

- ``listed(source_id)``: every wheel a known source lists for the package and the torch build, one option per
  (release, local build or channel, platform). An index source (Astral's GPU index, the PyTorch index) gives an
  ``index`` option — hash-locked, mirrorable, exclude-newer works — under a ``[[tool.uv.index]]`` name of its
  own (``astral-cu128``); a release-assets source (mjun0812) gives one direct URL per Python, through
  ``--github-proxy`` when given.
- ``transformer_engine()``: the transformer-engine trio (the metapackage, ``transformer-engine-cu{12,13}`` and
  ``transformer-engine-torch``) from one Astral channel, versions equal.
- ``pypi_wheels(pins, builds)``: xformers' PyPI wheels (torch pin from the metadata; CUDA, torch build and GPU
  architectures from each wheel's own build record: the knowledge's ``extension-builds`` table); deepspeed's PyPI releases (an sdist whose ops are
  JIT-compiled); flash-attn-4 (pure Python, its nvidia-cutlass-dsl pin checked against the engines').
- ``pypi_sdist(package)``: the last resort for packages without a tuned recipe: uv builds the PyPI sdist against
  the installed torch (kind ``build``, so the search first looks for any candidate that avoids it).

Providers never decide: the constraints test every option (``llmenv.plan.constraints``).

The GPU architectures of a listed wheel: flash-attn's are its setup.py's defaults for the release and the nvcc of
the build (``FlashAttnRelease.buildable_archs``), flash-attn-3's are sm_90a (hopper/setup.py), xformers' are in
its build record; anything else is unknown (``archs=None``): such a wheel is taken to carry code only for GPUs
its build CUDA knows (no sm_100 from CUDA 12.4), and the driver must run its build CUDA under the policy — the
SASS waiver of minor-version compatibility needs architectures that are known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion
from llmenv.plan.extensions import ExtensionOption, ExtensionProvider, TorchBuild
from llmenv.sources.catalog import WheelSource, source
from llmenv.sources.listing import ListedWheel, Listings, load_listings
from llmenv.sources.match import listed_test
from llmenv.sources.normalize import WheelBuild, implied_cxx11_abi
from llmenv.target import Target

if TYPE_CHECKING:
    from llmenv.knowledge.extension_builds import ExtensionBuilds

__all__ = ["PYTHONS", "listed", "pypi_sdist", "pypi_wheels", "transformer_engine"]

PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
TE_TORCH = "transformer-engine-torch"


@dataclass(frozen=True, kw_only=True)
class _Group:
    """The listed wheels of one option: one release, one local build (or channel), one platform."""

    version: Version
    at: str
    label: str
    platform: str
    wheels: tuple[ListedWheel, ...]

    @property
    def build(self) -> WheelBuild:
        b = self.wheels[0].build
        assert b is not None
        return b


def _public(w: ListedWheel) -> Version | None:
    try:
        return Version(w.build.public) if w.build is not None else None
    except InvalidVersion:
        return None


def _groups(wheels: Sequence[ListedWheel], torch: TorchBuild) -> list[_Group]:
    """The wheels for this torch build (its version inside their torch range; CUDA or CPU as torch is), grouped."""
    out: dict[tuple[Version, str, str], list[ListedWheel]] = {}
    for w in wheels:
        b = w.build
        v = _public(w)
        if b is None or v is None or not b.torch_allows(str(torch.version)):
            continue
        if (b.local.device == "cpu") != (torch.cuda is None) or b.local.device in ("rocm", "xpu"):
            continue
        key = (v, b.local.label or w.at, f"{b.os}-{b.arch}")
        out.setdefault(key, []).append(w)
    groups = []
    for (v, label, plat), ws in out.items():
        ws.sort(key=_tag_key, reverse=True)  # a file re-published under a later release tag: that one
        groups.append(_Group(version=v, at=ws[0].at, label=label, platform=plat, wheels=tuple(ws)))
    return groups


def _tag_key(w: ListedWheel) -> Version:
    try:
        return Version(w.at.removeprefix("v")) if not w.channel else Version("0")
    except InvalidVersion:
        return Version("0")


def _built_with(b: WheelBuild) -> CudaVersion | None:
    """The CUDA a wheel's code was compiled with, when its name (or channel) says it."""
    return b.cuda if b.local.cuda_means in ("nvcc", "torch", "build") else None


def _order(groups: list[_Group], torch: TorchBuild) -> list[_Group]:
    """Newest release first; then the build of torch's own CUDA, then the same major (newest CUDA first);
    test channels last."""

    def key(g: _Group) -> tuple[Any, ...]:
        b = g.build
        cuda = _built_with(b)
        same = torch.cuda is not None and b.cuda_major == torch.cuda.major
        exact = torch.cuda is not None and cuda == torch.cuda
        return (
            _Desc(g.version),
            not exact,
            not same,
            _Desc(cuda or CudaVersion(0, 0)),
            g.at.startswith("test/"),
        )

    return sorted(groups, key=key)


@dataclass(frozen=True)
class _Desc:
    value: Any

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)


def _archs(package: str, version: Version, cuda: CudaVersion | None) -> tuple[tuple[str, ...] | None, str]:
    """(the GPU architectures a listed wheel carries, where that comes from); None: unknown."""
    if package == "flash-attn":
        from llmenv.knowledge.flash_attn import load_flash_attn

        rel = load_flash_attn().release(version)
        nvcc = Version(str(cuda)) if cuda is not None else None
        if rel is not None:
            return rel.buildable_archs(nvcc), f"flash-attn {version}'s setup.py defaults for nvcc {cuda}"
        if version.major == 2 and nvcc is not None:  # before the table: setup.py always built sm_80 (+ sm_90)
            archs = ("80", "90") if nvcc >= Version("11.8") else ("80",)
            return archs, f"flash-attn 2.x setup.py before FLASH_ATTN_CUDA_ARCHS (facts D) with nvcc {cuda}"
        return None, ""
    if package == "flash-attn-3":
        return ("90a",), "hopper/setup.py builds sm_90a (facts C3, F6)"
    return None, ""


def _pythons(wheels: Sequence[ListedWheel]) -> tuple[str, ...]:
    return tuple(py for py in PYTHONS if any(w.build is not None and w.build.installs_on(py) for w in wheels))


def _abi(b: WheelBuild) -> bool | None:
    if b.cxx11_abi is not None:
        return b.cxx11_abi
    if b.local.torch is not None:
        return implied_cxx11_abi(b.local.torch, cuda=b.cuda, arch=b.arch)
    return None  # a stable-ABI build: either


def _fact(src: WheelSource, listings: Listings) -> str:
    got = listings.listing(src.id)
    origin = f"listing: {got.origin}, {got.status}" if got is not None else "no listing"
    return f"{src.title} ({src.evidence}; {origin})"


def _option(
    src: WheelSource, package: str, g: _Group, torch: TorchBuild, listings: Listings, github_proxy: str | None
) -> ExtensionOption:
    b = g.build
    cuda = _built_with(b)
    archs, arch_note = _archs(package, g.version, cuda)
    pythons = _pythons(g.wheels)
    urls: dict[str, str] = {}
    index = index_name = None
    if src.is_index:
        index = src.index_url(g.at)  # the channel's path under the index (``cu128``, ``test/cu128``)
        index_name = f"{src.id}-{g.at.replace('/', '-')}"
    else:
        for py in pythons:
            w = next(w for w in g.wheels if w.build is not None and w.build.installs_on(py))
            urls[py] = w.url or src.download_url(w.at, w.filename, github_proxy=github_proxy)
    return ExtensionOption(
        package=package,
        version=g.version,
        kind="prebuilt",
        source=src.id,
        index=index,
        index_name=index_name,
        index_flat=False,
        urls=urls,
        local=b.local.label or None,
        cuda=cuda,
        cuda_major=b.cuda_major,
        torch=SpecifierSet(b.torch) if b.torch else SpecifierSet(),
        cxx11_abi=_abi(b),
        pythons=pythons,
        platform=g.platform,
        archs=archs,
        fits=listed_test(g.wheels, src.id),
        fact=_fact(src, listings),
        notes=(f"its architectures: {arch_note}",) if arch_note else (),
    )


_NEWEST: dict[tuple[int, str, str], tuple[Listings, Version | None]] = {}


def _newest(listings: Listings, package: str, sid: str) -> Version | None:
    """The newest release the source lists of the package (from the file names' text: nothing is parsed)."""
    key = (id(listings), package, sid)
    got = _NEWEST.get(key)
    if got is None or got[0] is not listings:  # (the listings are held, so an id is never reused here)
        versions = set()
        for public in listings.versions(package, source=sid):
            try:
                versions.add(Version(public))
            except InvalidVersion:
                continue
        got = _NEWEST[key] = (listings, max(versions, default=None))
    return got[1]


def _none_for(src: WheelSource, package: str, torch: TorchBuild, listings: Listings) -> ExtensionOption | None:
    """What "not chosen" says when the source lists the package, but nothing for this torch build."""
    newest = _newest(listings, package, src.id)
    if newest is None:
        return None
    what = f"CUDA {torch.cuda.major}" if torch.cuda is not None else "CPU"
    return ExtensionOption(
        package=package,
        version=newest,
        kind="prebuilt",
        source=src.id,
        fact=_fact(src, listings),
        platform="any",
        unavailable=f"{src.id} lists no {package} wheel for torch {torch.mm} ({what})",
    )


def listed(
    source_id: str, *, github_proxy: str | None = None, listings: Listings | None = None
) -> ExtensionProvider:
    """The wheels source ``source_id`` lists (``kb refresh``'s snapshot, else the bundled one), as options."""
    cache: dict[tuple[str, str], list[_Group]] = {}

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        src = source(source_id)
        if not src.serves(package):
            return
        ls = listings or load_listings()
        key = (package, f"{torch.version}+{torch.variant}")
        if key not in cache:
            wheels = ls.wheels(package, source=source_id, torch_minor=torch.mm)
            cache[key] = _order(_groups(wheels, torch), torch)
        groups = cache[key]
        if not groups:
            none = _none_for(src, package, torch, ls)
            if none is not None:
                yield none
            return
        for g in groups:
            yield _option(src, package, g, torch, ls, github_proxy)

    return provide


# -------------------------------------------------------------------------------------- transformer-engine


def transformer_engine(*, listings: Listings | None = None) -> ExtensionProvider:
    """The transformer-engine trio from one Astral channel: ``transformer-engine`` (the metapackage, no local
    label), ``transformer-engine-cu{major}`` (``+cu.X.Y``) and ``transformer-engine-torch``
    (``+cu.X.Y.torch.M.m``), all of one version (Astral patches TE's equality check to public versions)."""

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        if package != "transformer-engine" or torch.cuda is None:
            return
        src = source("astral")
        ls = listings or load_listings()
        ext = _order(_groups(ls.wheels(TE_TORCH, source="astral", torch_minor=torch.mm), torch), torch)
        if not ext:
            none = _none_for(src, TE_TORCH, torch, ls)
            if none is not None:
                yield _as_te(none)
            return
        for g in ext:
            yield _te_option(src, g, torch, ls)

    return provide


def _as_te(opt: ExtensionOption) -> ExtensionOption:
    from dataclasses import replace

    return replace(opt, package="transformer-engine")


def _same(ls: Listings, name: str, at: str, version: Version, platform: str | None) -> ListedWheel | None:
    for w in ls.wheels(name, source="astral"):
        b = w.build
        if b is None or w.at != at or _public(w) != version:
            continue
        if platform is None or (b.os, b.arch) == ("any", "any") or f"{b.os}-{b.arch}" == platform:
            return w
    return None


def _te_option(src: WheelSource, g: _Group, torch: TorchBuild, ls: Listings) -> ExtensionOption:
    opt = _option(src, TE_TORCH, g, torch, ls, None)
    major = g.build.cuda_major
    core = f"transformer-engine-cu{major}"
    meta = _same(ls, "transformer-engine", g.at, g.version, None)
    core_wheel = _same(ls, core, g.at, g.version, g.platform)
    missing = [n for n, w in (("transformer-engine", meta), (core, core_wheel)) if w is None]
    from dataclasses import replace

    together: tuple[tuple[str, str], ...] = ((TE_TORCH, str(g.build.version)),)
    if core_wheel is not None and core_wheel.build is not None:
        together = ((core, core_wheel.build.version), *together)
    return replace(
        opt,
        package="transformer-engine",
        local=None,
        together=together,
        unavailable=(
            f"astral {g.at} has {TE_TORCH} {g.version} but no {' or '.join(missing)} of that version: the "
            "three must come from one index"
            if missing
            else None
        ),
        notes=(f"with {core} and {TE_TORCH} {g.version} from the same index (Astral {g.at})",),
    )


# ----------------------------------------------------------------------------------------- default index


def pypi_wheels(
    pins: Callable[[str], Sequence[Any]] | None, builds: Callable[[], ExtensionBuilds] | None = None
) -> ExtensionProvider:
    """Options from the default index (PyPI), as the pins snapshot and the build records say. ``builds``: the
    knowledge's ``extension-builds`` table (default: the one ``llmenv.knowledge.load()`` gives), read when first
    needed."""

    def table() -> ExtensionBuilds:
        if builds is not None:
            return builds()
        from llmenv.knowledge import load

        return load().extension_builds

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        if package == "flash-attn-4":
            yield from _fa4(torch, table())
            return
        if pins is None or package not in ("xformers", "deepspeed"):
            return
        try:
            releases = pins(package)
        except Exception:  # a snapshot without the package: nothing known of it
            releases = ()
        if not releases:
            yield _unknown(package)
            return
        for rel in releases:
            if rel.yanked or rel.version.is_devrelease or rel.version.is_prerelease:
                continue
            if package == "xformers":
                yield from _xformers(rel, torch, table())
            else:
                yield from _deepspeed(rel, torch)

    return provide


_PYPI_FACT = "the pins snapshot (PyPI metadata and wheel tags)"


def _unknown(package: str) -> ExtensionOption:
    """A package the pins snapshot does not track: uv resolves it from the default index, unchecked."""
    return ExtensionOption(
        package=package,
        version=Version("0"),
        kind="prebuilt",
        source="pypi",
        platform="any",
        pythons=PYTHONS,
        archs=None,
        pinned=False,
        fact="not in the pins snapshot",
        notes=("not in llmenv's pins snapshot: uv resolves it from the default index, unchecked",),
    )


def _torch_spec(rel: Any) -> SpecifierSet:
    out = SpecifierSet()
    for r in rel.requires_dist:
        if r.name.lower() == "torch" and r.marker is None:
            out &= r.specifier
    return out


def _xformers(rel: Any, torch: TorchBuild, table: ExtensionBuilds) -> Iterator[ExtensionOption]:
    from llmenv.plan.constraints import torch_admits

    spec = _torch_spec(rel)
    if str(spec) and not torch_admits(spec, torch.version):
        return
    build = table.xformers_build(rel.version)
    for arch in ("x86_64", "aarch64"):
        pythons = tuple(rel.pythons("linux", arch, PYTHONS, builds=False)) if hasattr(rel, "pythons") else ()
        if not pythons:
            continue
        known = build is not None and arch == "x86_64"
        yield ExtensionOption(
            package="xformers",
            version=rel.version,
            kind="prebuilt",
            source="pypi",
            torch=spec,
            cuda=build.cuda if known and build else None,
            cuda_major=build.torch_cuda_major if known and build else None,
            pythons=pythons,
            platform=f"linux-{arch}",
            archs=build.archs if known and build else None,
            fact=_PYPI_FACT + ("; its wheel's build record (the extension-builds table)" if known else ""),
            # the why line already says "built with CUDA X" from `cuda`: the note adds the torch it was built against
            notes=(f"its build record names torch {build.torch}",) if known and build else (),
        )
    if getattr(rel, "sdist", False):
        yield _xformers_build(rel, spec)


def _xformers_build(rel: Any, spec: SpecifierSet) -> ExtensionOption:
    """The release's sdist, built against the installed torch — only where it has no wheel at all (uv installs
    a wheel that exists, fitting or not)."""

    def fits(t: TorchBuild, tg: Target, py: str) -> str | None:
        if not hasattr(rel, "pythons") or py not in rel.pythons(tg.os, tg.arch, (py,), builds=False):
            return None
        return f"xformers {rel.version} has a wheel for Python {py} here: uv installs it rather than build"

    return ExtensionOption(
        package="xformers",
        version=rel.version,
        kind="build",
        source="pypi-sdist",
        torch=spec,
        platform="any",
        archs=None,
        fits=fits,
        fact=_PYPI_FACT,
    )


def _deepspeed(rel: Any, torch: TorchBuild) -> Iterator[ExtensionOption]:
    pythons = tuple(rel.pythons("linux", "x86_64", PYTHONS)) if hasattr(rel, "pythons") else PYTHONS
    yield ExtensionOption(
        package="deepspeed",
        version=rel.version,
        kind="prebuilt",
        source="pypi",
        pythons=pythons,
        platform="any",
        archs=None,
        fact=_PYPI_FACT,
        notes=(
            "its sdist builds in seconds without torch's CUDA: its ops are JIT-compiled on first use (nvcc "
            "needed then); Astral's wheels carry them pre-compiled",
        ),
    )


def _fa4(torch: TorchBuild, table: ExtensionBuilds) -> Iterator[ExtensionOption]:
    for rel in table.fa4_releases():
        rp = rel.requires_python
        cu13 = torch.cuda is not None and torch.cuda.major >= 13 and rel.has_cu13
        yield ExtensionOption(
            package="flash-attn-4",
            version=rel.version,
            kind="prebuilt",
            source="pypi",
            pythons=tuple(p for p in PYTHONS if rp is None or rp.contains(f"{p}.0", prereleases=True)),
            platform="any",
            archs=None,
            requires_dist=rel.requires_dist,
            extras=("cu13",) if cu13 else (),
            fact="flash-attn-4's PyPI metadata (the extension-builds table)",
            notes=("pure Python (CuTeDSL kernels are compiled at run time for the GPU)",),
        )


def pypi_sdist(package: str) -> ExtensionProvider:
    """The PyPI sdist uv builds against the installed torch (match-runtime): a build, ranked last, no exact
    version (uv resolves it)."""

    def provide(name: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        if name != package:
            return
        yield ExtensionOption(
            package=package,
            version=Version("0"),
            kind="build",
            source="pypi-sdist",
            platform="any",
            archs=None,
            pinned=False,
            fact="PyPI (an sdist whose setup.py imports torch)",
        )

    return provide
