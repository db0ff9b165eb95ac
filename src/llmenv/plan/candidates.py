"""The parts of a whole-stack candidate, generated lazily from the knowledge: framework and engine releases (the
pins snapshot), torch release x variant (the torch table), the Python, and each compiled extension's option.

A ``Candidate`` is one whole assignment. Nothing here decides: ``constraints.py`` tests the parts, ``ranking.py``
orders them, ``search.py`` walks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.knowledge import TorchRelease
from llmenv.knowledge.pins import minor_version
from llmenv.plan.extensions import ExtensionOption, TorchBuild
from llmenv.target import Target

__all__ = [
    "ENGINES",
    "FRAMEWORKS",
    "KNOWN_PYTHONS",
    "RANGE_PYTHONS",
    "Candidate",
    "EnginePick",
    "FrameworkPick",
    "LocalRelease",
    "PinSource",
    "Relaxation",
    "ReleaseLike",
    "Requirements",
    "TorchPick",
    "engine_from_extras",
    "installable_pythons",
    "release_requirements",
    "spec_of",
    "within",
]

ENGINES = ("vllm", "sglang")
FRAMEWORKS = ("verl", "openrlhf")
# The CPython minors a plan may choose (uv installs any of them); a release's metadata and wheel tags narrow it.
KNOWN_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
# The Pythons a written requires-python range may reach down to (an existing project's floor is kept when every
# chosen package has wheels there); the planned Python itself is one of KNOWN_PYTHONS.
RANGE_PYTHONS = ("3.8", *KNOWN_PYTHONS)

Requirements = Mapping[NormalizedName, Sequence[Requirement]]


class ReleaseLike(Protocol):
    @property
    def version(self) -> Version: ...
    @property
    def requires_python(self) -> SpecifierSet | None: ...
    @property
    def requires_dist(self) -> tuple[Requirement, ...]: ...
    @property
    def yanked(self) -> bool: ...


PinSource = Callable[[str], Sequence[ReleaseLike]]


@dataclass(frozen=True, kw_only=True)
class LocalRelease:
    """A local source tree's metadata (read statically) in the shape of a release."""

    version: Version
    requires_python: SpecifierSet | None
    requires_dist: tuple[Requirement, ...]
    provides_extras: tuple[str, ...] = ()
    yanked: bool = False

    @classmethod
    def from_metadata(cls, meta: Any) -> LocalRelease:
        """From ``llmenv.metadata.StaticMetadata`` (a version it could not read statically counts as 0)."""
        try:
            rp = SpecifierSet(meta.requires_python) if meta.requires_python else None
        except InvalidSpecifier:
            rp = None
        return cls(
            version=Version(meta.version or "0"),
            requires_python=rp,
            requires_dist=tuple(Requirement(line) for line in meta.requires_dist),
            provides_extras=tuple(meta.provides_extras),
        )


def release_requirements(
    release: ReleaseLike, extras: Iterable[str], env: Mapping[str, str]
) -> dict[NormalizedName, list[Requirement]]:
    """The release's requirements that apply on the target with these extras, by package name."""
    from llmenv.knowledge.pins import requirements_for

    out: dict[NormalizedName, list[Requirement]] = {}
    for req in requirements_for(release, extras, env):  # type: ignore[arg-type]
        out.setdefault(canonicalize_name(req.name), []).append(req)
    return out


def spec_of(reqs: Requirements, name: str) -> SpecifierSet:
    s = SpecifierSet()
    for r in reqs.get(canonicalize_name(name), ()):
        s &= r.specifier
    return s


def engine_from_extras(extras: Iterable[str]) -> str | None:
    """``vllm``, ``vllm-latest``, ``sglang`` -> the engine that extra installs."""
    for e in extras:
        for engine in ENGINES:
            if canonicalize_name(e).startswith(engine):
                return engine
    return None


def extras_of(release: ReleaseLike) -> tuple[str, ...]:
    return tuple(getattr(release, "provides_extras", ()) or ())


_WIDE = ("3.6", "3.7", "3.8", *KNOWN_PYTHONS)


# (id of a release, os, arch) -> (the release, the Pythons its wheels install on): a release is asked about many
# times in one search (per framework release, per Python); the release is kept, so its id is not reused.
_WHEELS: dict[tuple[int, str, str], tuple[ReleaseLike, tuple[str, ...]]] = {}


def _wheel_pythons(release: ReleaseLike, os: str, arch: str) -> tuple[str, ...]:
    key = (id(release), os, arch)
    got = _WHEELS.get(key)
    if got is None or got[0] is not release:
        got = (release, tuple(release.pythons(os, arch, _WIDE, builds=False)))  # type: ignore[attr-defined]
        _WHEELS[key] = got
    return got[1]


def installable_pythons(release: ReleaseLike, target: Target, candidates: Sequence[str]) -> tuple[str, ...]:
    """The Pythons among ``candidates`` a release installs on for the target's platform.

    A release with wheels for this platform is installable where its wheels are (its sdist is not planned as a
    build); one without such wheels installs from its sdist wherever its requires-python allows, and not at all
    without one. A release whose files are unknown (a local tree, an old snapshot) is taken at its
    requires-python."""
    rp = release.requires_python
    allowed = tuple(p for p in candidates if rp is None or rp.contains(minor_version(p), prereleases=True))
    pythons = getattr(release, "pythons", None)
    if pythons is None or not getattr(release, "files_known", False):
        return allowed
    wheels = _wheel_pythons(release, target.os, target.arch)
    if wheels:
        return tuple(p for p in allowed if p in wheels)
    return allowed if getattr(release, "sdist", False) else ()


@dataclass(frozen=True, kw_only=True)
class FrameworkPick:
    name: NormalizedName
    release: ReleaseLike
    extras: tuple[str, ...]
    local: bool = False

    @property
    def version(self) -> Version:
        return self.release.version


@dataclass(frozen=True, kw_only=True)
class EnginePick:
    name: NormalizedName
    release: ReleaseLike
    extras: tuple[str, ...]
    torch: TorchRelease  # the torch release it pins

    @property
    def version(self) -> Version:
        return self.release.version

    @property
    def build_cuda(self) -> CudaVersion:
        """Its compiled kernels are built with the CUDA of the PyPI torch it pins."""
        return self.torch.pypi_cuda

    @property
    def line_cuda(self) -> CudaVersion:
        """The CUDA of its PyPI wheel (vLLM: as vllm_pypi_cuda.csv says; else the pinned torch's)."""
        if self.name == "vllm":
            from llmenv.sources.vllm import pypi_cuda

            return pypi_cuda(self.version) or self.build_cuda
        return self.build_cuda


@dataclass(frozen=True, kw_only=True)
class TorchPick:
    release: TorchRelease
    variant: Backend
    source: str  # "index" | "pypi"
    abi: bool | None = None  # the C++ ABI of this build on the target's platform (None: the x86_64 table's)

    @property
    def version(self) -> Version:
        return self.release.version

    @cached_property
    def build(self) -> TorchBuild:
        abi = self.release.abi_of(self.variant) if self.abi is None else self.abi
        return TorchBuild(version=self.version, variant=self.variant, cxx11_abi=abi)

    @property
    def label(self) -> str:
        return f"torch {self.version}+{self.variant}"


@dataclass(frozen=True, kw_only=True)
class Relaxation:
    """A framework requirement rewritten (``--allow-overrides``): ``lines`` are its Requires-Dist lines that
    change, ``to`` the requirement they become."""

    package: str
    from_spec: str
    to: str
    lines: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "from": self.from_spec,
            "to": self.to,
            "requirements": list(self.lines),
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One whole assignment, with what it needs: the Pythons it supports (ascending, from the planned one), the
    framework pins it relaxes, and the requirements of its framework / engine on the target."""

    framework: FrameworkPick | None
    engine: EnginePick | None
    torch: TorchPick | None
    python: str
    options: Mapping[str, ExtensionOption] = field(default_factory=dict)
    pythons: tuple[str, ...] = ()
    python_limit: str = ""  # what caps the range ("openrlhf 0.8.3 ships wheels for Python 3.10–3.11 only")
    python_floor_limit: str = ""  # what raised its floor above the project's own (empty: nothing did)
    relaxed: tuple[Relaxation, ...] = ()
    framework_requirements: Requirements = field(default_factory=dict)
    engine_requirements: Requirements = field(default_factory=dict)

    @property
    def framework_name(self) -> str | None:
        return self.framework.name if self.framework else None

    # -- what the ranking reads
    @property
    def builds(self) -> int:
        return sum(not o.prebuilt for o in self.options.values())

    @property
    def framework_version(self) -> Version | None:
        return self.framework.version if self.framework else None

    @property
    def engine_version(self) -> Version | None:
        return self.engine.version if self.engine else None

    @property
    def variant(self) -> Backend | None:
        return self.torch.variant if self.torch else None

    @property
    def torch_version(self) -> Version | None:
        return self.torch.version if self.torch else None

    @property
    def relaxed_count(self) -> int:
        return len(self.relaxed)

    @property
    def option_order(self) -> tuple[tuple[Version, int], ...]:
        return tuple((o.version, 0) for _, o in sorted(self.options.items()))

    # -- identity and words
    @property
    def key(self) -> tuple[str, ...]:
        """Identity of the assignment (the closed loop excludes a candidate uv failed on by this key)."""
        parts = [
            f"{self.framework.name}=={self.framework.version}" if self.framework else "",
            f"{self.engine.name}=={self.engine.version}" if self.engine else "",
            self.torch.label if self.torch else "",
            self.python,
        ]
        parts += [f"{n}=={o.version}:{o.kind}:{o.source}" for n, o in sorted(self.options.items())]
        return tuple(parts)

    def describe(self) -> str:
        parts = []
        if self.framework:
            parts.append(f"{self.framework.name} {self.framework.version}")
        if self.engine:
            parts.append(f"{self.engine.name} {self.engine.version}")
        if self.torch:
            parts.append(f"torch {self.torch.version}+{self.torch.variant}")
        for n, o in sorted(self.options.items()):
            parts.append(f"{n} {o.version} ({'wheel' if o.prebuilt else 'build'})")
        parts.append(f"Python {self.python}")
        return ", ".join(parts)


# ------------------------------------------------------------------------------------------ generators


def within(
    releases: Sequence[ReleaseLike], spec: SpecifierSet, *, prereleases: bool | None = True
) -> Iterator[ReleaseLike]:
    """The releases ``spec`` allows, newest first. A lazily parsed sequence (``knowledge.pins.Releases``)
    parses only those: a pin on one release of a long history reads that release alone."""
    only = getattr(releases, "within", None)
    if callable(only):
        yield from only(spec, prereleases=prereleases)
        return
    for r in releases:
        if spec.contains(r.version, prereleases=prereleases):
            yield r


def framework_releases(releases: Sequence[ReleaseLike], spec: SpecifierSet) -> Iterator[ReleaseLike]:
    """The framework releases to try, newest first: not yanked, within the user's spec (pre-releases only
    when the spec names one); read as the search reaches them."""
    return (r for r in within(releases, spec, prereleases=None) if not r.yanked)


def constraint_extras(
    release: ReleaseLike, extras: Sequence[str], engine: str | None, given: bool
) -> tuple[str, ...]:
    """The extras whose requirements constrain a framework release: yours, plus, when the engine is asked for
    as a requirement of its own, the framework's extra for that engine (``openrlhf`` + ``vllm<=0.8.5.post1`` is
    constrained like ``openrlhf[vllm]``)."""
    if engine is None or not given or engine_from_extras(extras):
        return tuple(extras)
    provided = sorted(canonicalize_name(e) for e in extras_of(release))
    exact = [e for e in provided if e == engine]
    named = exact or [e for e in provided if e.startswith(engine)]
    return (*extras, named[0]) if named else tuple(extras)


_SPLIT: dict[int, tuple[ReleaseLike, bool]] = {}  # id of a release -> (the release, python_markers_split)


def python_markers_split(release: ReleaseLike) -> bool:
    """Does any requirement's marker depend on the Python version (then requirements differ per Python)?"""
    got = _SPLIT.get(id(release))
    if got is None or got[0] is not release:
        split = any(r.marker is not None and "python" in str(r.marker) for r in release.requires_dist)
        got = _SPLIT[id(release)] = (release, split)
    return got[1]


def other_arches(target: Target) -> tuple[str, ...]:
    """The architectures of the target's OS that a lock for ``sys_platform`` alone also covers."""
    if target.os != "linux":
        return ()
    return tuple(a for a in ("x86_64", "aarch64") if a != target.arch)


def release_of(pins: PinSource, name: str, version: Version) -> ReleaseLike | None:
    """One release of ``name`` (through the source's ``release`` when it has one: no whole history parsed)."""
    one = getattr(pins, "release", None)
    if callable(one):
        got = one(name, version)
        return got  # type: ignore[no-any-return]
    return next((r for r in pins(name) if r.version == version), None)
