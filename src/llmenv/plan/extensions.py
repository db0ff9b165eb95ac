"""Compiled extensions (flash-attn, ...) as data: each way to get one is an ``ExtensionOption``.

The search does not know where wheels come from. For every compiled extension in the stack it asks the
extension's providers, in order, for the options that fit the chosen torch build; each option is a prebuilt
wheel set from some source (``kind="prebuilt"``) or a source build (``kind="build"``). The constraints
(``constraints.py``) then test each option against the target — the wheels' Python tags, the CUDA they were
compiled with against the driver, the GPU architectures they carry, known breakages — and the ranking prefers
prebuilt over build, then the newest version, then the earlier provider.

Today's providers: the official flash-attn release wheels (``official_flash_attn``: Dao-AILab's GitHub
assets, described by ``knowledge/data/flash_attn.json``) and, always last, the tuned source build of a PyPI
sdist (``flash_attn_source_build``). More sources (community wheel sets, Astral's GPU index, the PyTorch index's
extension packages, ...) slot in as more providers: see ``ExtensionProvider``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.target import Target

__all__ = [
    "EXTENSIONS",
    "OPTION_KINDS",
    "TUNED_BUILDS",
    "ExtensionOption",
    "ExtensionProvider",
    "TorchBuild",
    "default_providers",
    "flash_attn_rocm_build",
    "flash_attn_source_build",
    "official_flash_attn",
    "user_wheels",
]

OPTION_KINDS = ("prebuilt", "build")


@dataclass(frozen=True, kw_only=True)
class TorchBuild:
    """The torch an extension is chosen for: release, variant (``cu124``, ``cpu``) and C++ ABI."""

    version: Version
    variant: Backend
    cxx11_abi: bool

    @property
    def cuda(self) -> CudaVersion | None:
        return self.variant.cuda_version

    @property
    def mm(self) -> str:
        """``2.6`` for torch 2.6.0: what extension wheels are built against."""
        release = self.version.release
        return f"{release[0]}.{release[1] if len(release) > 1 else 0}"


@dataclass(frozen=True, kw_only=True)
class ExtensionOption:
    """One way to get ``package`` ``version`` for one torch build.

    ``kind``: ``prebuilt`` (wheels from ``source``: one URL per Python in ``urls``, or an ``index`` holding them
    under the local version label ``local``) or ``build`` (compiled on the target from the sdist).
    The facts the constraints test: ``cuda`` the CUDA the wheels were compiled with (the driver must run it;
    None for a build, which uses the target's nvcc); ``cuda_major`` the CUDA major of the torch they link
    (``libcudart.so.N``); ``torch`` the torch versions they were built against; ``cxx11_abi`` (None: either);
    ``pythons`` the Python minors with a wheel (empty for a build: any); ``platform`` (``linux-x86_64``,
    ``any``); ``archs`` the GPU architectures whose code they carry (a build: what its setup.py can compile,
    ``"80"``, ``"90"``, ...) and ``ptx``; ``requires_dist`` static metadata (written for a build, so that
    ``uv lock`` needs no build). ``unavailable`` is set when the provider knows this release has no option for
    the torch build, and why (the reason is shown under "not chosen"). ``fact`` names where the facts are from.
    ``fits``: the provider's own per-Python test, when it knows more than these fields say.
    """

    package: str
    version: Version
    kind: str
    source: str
    index: str | None = None
    urls: Mapping[str, str] = field(default_factory=dict)
    local: str | None = None
    cuda: CudaVersion | None = None
    cuda_major: int | None = None
    torch: SpecifierSet = field(default_factory=SpecifierSet)
    cxx11_abi: bool | None = None
    pythons: tuple[str, ...] = ()
    platform: str = "linux-x86_64"
    archs: tuple[str, ...] | None = ()  # None: unknown (a listing does not say which SASS a wheel carries)
    ptx: bool = False
    requires_dist: tuple[str, ...] = ()
    unavailable: str | None = None
    fact: str = ""
    index_flat: bool = True  # ``index`` is a flat folder or page (False: a PEP 503/691 simple index)
    priority: int = (
        0  # lower first, before the version: sources you named (--wheels) come before the known ones
    )
    # A provider's own test of the option for (torch build, target, Python): None fits, else why not. For facts
    # the fields above cannot carry (a listing's glibc, a wheel's tags).
    fits: Callable[[TorchBuild, Target, str], str | None] | None = field(
        default=None, compare=False, repr=False
    )
    index_name: str | None = None  # the [[tool.uv.index]] name of ``index`` (None: "flash-attn-wheels")
    # Packages that come with it from the same index, at exactly these versions (the transformer-engine trio).
    together: tuple[tuple[str, str], ...] = ()
    pinned: bool = True  # False: no exact version is written; uv resolves it from the default index
    extras: tuple[str, ...] = ()  # extras its dependency line asks for (flash-attn-4[cu13] on a CUDA 13 torch)
    notes: tuple[str, ...] = ()  # facts the "why" line adds (where its architectures come from, ...)

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option kind must be one of {OPTION_KINDS}, not {self.kind!r}")

    @property
    def prebuilt(self) -> bool:
        return self.kind == "prebuilt"

    @property
    def default_index(self) -> bool:
        """From the default index (PyPI): neither an index of its own nor direct URLs."""
        return self.index is None and not self.urls

    @property
    def shown(self) -> str:
        """The version as "not chosen" names it: a source you named shows its local label (several builds of
        one version sit side by side there)."""
        return f"{self.version}+{self.local}" if self.priority < 0 and self.local else str(self.version)

    @property
    def label(self) -> str:
        """``flash-attn 2.7.4.post1 (prebuilt, dao-ailab)``."""
        return f"{self.package} {self.version} ({self.kind}, {self.source})"

    def url_for(self, python: str) -> str | None:
        return self.urls.get(python)


# A provider: (package, torch build, target) -> the options it knows, best first. Providers never decide: the
# constraints test every option they return (an option whose facts do not fit is listed with the reason).
ExtensionProvider = Callable[[str, TorchBuild, Target], Iterable[ExtensionOption]]

# The compiled (or CUDA-coupled) extensions the planner chooses an option for (others are left to uv).
EXTENSIONS = (
    "flash-attn",
    "flash-attn-3",
    "flash-attn-4",
    "mamba-ssm",
    "causal-conv1d",
    "transformer-engine",
    "deepspeed",
    "xformers",
)
# The extensions llmenv has a tuned source-build recipe for (--build PKG).
TUNED_BUILDS = ("flash-attn",)

_FA_FACT = "knowledge/data/flash_attn.json (Dao-AILab release assets and setup.py at each tag)"


def _abi(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def official_flash_attn(
    *, github_proxy: str | None = None, wheelhouse: str | None = None
) -> ExtensionProvider:
    """flash-attn's official wheels (GitHub release assets of Dao-AILab/flash-attention), as its setup.py
    names them: flash-attn version x the CUDA major of torch x torch major.minor x C++ ABI x Python, Linux
    x86_64. ``github_proxy`` prefixes each URL; ``wheelhouse`` (a mirror or folder holding the same files, a
    flat index) replaces the URLs."""

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        from llmenv.knowledge.flash_attn import load_flash_attn

        if package != "flash-attn" or torch.cuda is None:
            return
        table = load_flash_attn()
        for rel in table.releases:
            v = str(rel.version)
            base = ExtensionOption(
                package=package, version=rel.version, kind="prebuilt", source="dao-ailab", fact=_FA_FACT
            )
            if not rel.builds:
                yield _unavailable(
                    base, "its release assets are not known to llmenv (no prebuilt wheel assumed)"
                )
                continue
            tag = rel.cuda_tag(torch.cuda)
            if tag is None:
                yield _unavailable(
                    base,
                    f"it names no wheel for a CUDA {torch.cuda.major} torch (setup.py knows {rel.cuda_naming} only)",
                )
                continue
            builds = {
                py: b
                for py in rel.python
                if (
                    b := rel.wheel_build(
                        cuda_tag=tag, torch_mm=torch.mm, python=py, cxx11_abi=torch.cxx11_abi
                    )
                )
            }
            if not builds:
                yield _unavailable(
                    base, f"no prebuilt wheel for {tag} torch{torch.mm} cxx11abi{_abi(torch.cxx11_abi)}"
                )
                continue
            urls: dict[str, str] = {}
            if wheelhouse is None:
                for py in builds:
                    name = table.filename(
                        v, cuda_tag=tag, torch_mm=torch.mm, python=py, cxx11_abi=torch.cxx11_abi
                    )
                    url = table.url(v, name)
                    urls[py] = f"{github_proxy.rstrip('/')}/{url}" if github_proxy else url
            nvcc = max((b.nvcc_cuda for b in builds.values()), default=None)
            yield ExtensionOption(
                package=package,
                version=rel.version,
                kind="prebuilt",
                source="dao-ailab" if wheelhouse is None else "wheelhouse",
                index=wheelhouse,
                urls=urls,
                local=f"{tag}torch{torch.mm}cxx11abi{_abi(torch.cxx11_abi)}",
                cuda=nvcc,
                cuda_major=torch.cuda.major,
                torch=SpecifierSet(f"=={torch.mm}.*"),
                cxx11_abi=torch.cxx11_abi,
                pythons=tuple(builds),
                platform=rel.platform.replace("_", "-", 1),
                archs=rel.wheel_archs,
                requires_dist=table.requires_dist,
                fact=_FA_FACT,
            )

    return provide


def _unavailable(base: ExtensionOption, why: str) -> ExtensionOption:
    return ExtensionOption(
        package=base.package,
        version=base.version,
        kind=base.kind,
        source=base.source,
        platform=base.platform,
        requires_dist=base.requires_dist,
        fact=base.fact,
        unavailable=why,
    )


def flash_attn_source_build(
    sdists: Sequence[Version] | Callable[[], Sequence[Version]] = (),
) -> ExtensionProvider:
    """The source build of a flash-attn sdist from PyPI (``sdists``: the versions the pins snapshot says have
    one; empty: the release table's ``pypi_sdist`` flags), compiled against the installed torch
    (match-runtime) for the target's GPUs only. Always the last option."""

    made: list[ExtensionOption] = []  # the same for every torch build: made once

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        from llmenv.knowledge.flash_attn import load_flash_attn

        if package != "flash-attn" or torch.variant.is_rocm:
            return  # a ROCm torch: flash_attn_rocm_build
        if not made:
            table = load_flash_attn()
            known = {r.version: r for r in table.releases}
            newest = table.releases[0]
            have = (
                sdists() if callable(sdists) else sdists
            )  # the snapshot is read only when a build is asked about
            versions = sorted(set(have) or {r.version for r in table.releases if r.pypi_sdist}, reverse=True)
            for v in versions:
                facts = known.get(v) or (newest if v > newest.version else None)
                made.append(
                    ExtensionOption(
                        package=package,
                        version=v,
                        kind="build",
                        source="pypi-sdist",
                        fact=_FA_FACT,
                        platform="any",
                        requires_dist=table.requires_dist,
                        archs=facts.buildable_archs(None) if facts else (),
                        unavailable=None
                        if facts
                        else "not in llmenv's release table (its build facts are unknown)",
                    )
                )
        yield from made

    return provide


# flash-attn's ROCm backends (CK, Triton) as read at Dao-AILab/flash-attention @0251105 (facts H6): releases from
# 2.8.0 on are planned for ROCm; older ones are not known to llmenv to build there.
_ROCM_FLOOR = Version("2.8.0")


def flash_attn_rocm_build(
    sdists: Sequence[Version] | Callable[[], Sequence[Version]] = (),
) -> ExtensionProvider:
    """The ROCm source build of a flash-attn sdist (no ROCm wheels exist anywhere: facts H6), for a ROCm torch.
    Which backend (CK with GPU_ARCHS, or Triton) is decided for the target's GPUs (``llmenv.rocm``)."""

    made: list[ExtensionOption] = []  # the same for every ROCm torch build: made once

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        if package != "flash-attn" or not torch.variant.is_rocm:
            return
        if not made:
            made.extend(_rocm_options(package, sdists() if callable(sdists) else sdists))
        yield from made

    return provide


def _rocm_options(package: str, sdists: Sequence[Version]) -> Iterator[ExtensionOption]:
    from llmenv.knowledge.flash_attn import load_flash_attn

    table = load_flash_attn()
    versions = sorted(set(sdists) or {r.version for r in table.releases if r.pypi_sdist}, reverse=True)
    for v in versions:
        yield ExtensionOption(
            package=package,
            version=v,
            kind="build",
            source="pypi-sdist",
            platform="linux-x86_64",
            archs=None,  # gfx targets: llmenv.rocm.flash_attn_backend decided them for the target
            requires_dist=("torch", "einops"),
            unavailable=None
            if v >= _ROCM_FLOOR
            else "its ROCm build is not known to llmenv (facts H6 are of 2.8)",
            fact="Dao-AILab/flash-attention setup.py and README @0251105 (facts H6)",
        )


def user_wheels(users: Sequence[Any]) -> ExtensionProvider:
    """The wheels of the sources you named (``--wheels``: ``llmenv.sources.user.UserWheels``), tested by
    ``llmenv.sources.match`` (platform and glibc, Python tags, torch minor, CUDA major, C++ ABI, driver). They
    rank before the known sources (``priority``); the GPU architectures they carry are unknown."""

    def provide(package: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
        from llmenv.sources.match import for_target, listed_test, why_not

        for user in users:
            groups: dict[tuple[str, str], list[Any]] = {}
            for w in user.of(package):
                if w.build is not None:
                    groups.setdefault((w.build.public, w.build.local.label), []).append(w)
            source = f"--wheels {user.location}"
            for (public, label), wheels in groups.items():
                fb = for_target(torch, target)
                pythons = tuple(py for py in _PYTHONS if any(why_not(w, fb, py) is None for w in wheels))
                urls = {
                    py: next(w.url for w in wheels if w.url and why_not(w, fb, py) is None)
                    for py in pythons
                    if any(w.url and why_not(w, fb, py) is None for w in wheels)
                }
                yield ExtensionOption(
                    package=package,
                    version=Version(public),
                    kind="prebuilt",
                    source=source,
                    index=user.location,
                    index_flat=user.kind != "index",
                    urls=urls,
                    local=label or None,
                    pythons=pythons,
                    platform="any",
                    archs=None,
                    priority=-1,
                    fits=listed_test(wheels, source),
                    fact=f"the listing of {source}",
                )

    return provide


_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")


def default_providers(
    *,
    github_proxy: str | None = None,
    wheelhouse: str | None = None,
    sdists: Sequence[Version] | Callable[[], Sequence[Version]] = (),
    users: Sequence[Any] = (),
    pins: Callable[[str], Sequence[Any]] | None = None,
    listings: Any = None,
    kb: Any = None,
) -> Mapping[str, tuple[ExtensionProvider, ...]]:
    """package -> its providers, in order: the sources you named (``users``, read from --wheels); the index
    sources (Astral's GPU index, the PyTorch index: hash-locked, mirrorable); the official flash-attn wheels
    (through ``wheelhouse``, a mirror of them, when no listing of it was read); the other release assets
    (mjun0812); the default index (PyPI wheels, as the pins snapshot says); the source build last. Options of
    equal version keep this order (``ranking.order_options``). ``listings``: the wheel listings (default: the
    refreshed snapshot, else the bundled one). ``kb``: the knowledge (its ``extension_builds`` table: xformers'
    build records, flash-attn-4's metadata; default ``llmenv.knowledge.load()``)."""
    from llmenv.sources.providers import listed, pypi_sdist, pypi_wheels, transformer_engine

    first = (user_wheels(users),) if users else ()
    indexes = (listed("astral", listings=listings), listed("pytorch", listings=listings))
    assets = (listed("mjun0812", github_proxy=github_proxy, listings=listings),)
    pypi = pypi_wheels(pins, (lambda: kb.extension_builds) if kb is not None else None)
    out: dict[str, tuple[ExtensionProvider, ...]] = {
        "flash-attn": (
            *first,
            *indexes,
            official_flash_attn(github_proxy=github_proxy, wheelhouse=None if users else wheelhouse),
            *assets,
            flash_attn_rocm_build(sdists),
            flash_attn_source_build(sdists),
        ),
        "flash-attn-3": (*first, *indexes, *assets),
        "flash-attn-4": (*first, pypi),
        "transformer-engine": (*first, transformer_engine(listings=listings), pypi_sdist("transformer-engine")),
        "deepspeed": (*first, *indexes, pypi),
        "xformers": (*first, *indexes, pypi),
    }
    for pkg in ("mamba-ssm", "causal-conv1d"):
        out[pkg] = (*first, *indexes, pypi_sdist(pkg))
    return out
