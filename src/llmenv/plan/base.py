"""Planning on a base (``Target.base``: a container's torch, or ``--base-python``): its torch and every package
it has are fixed facts, the search fits the rest around them.

* torch: the one candidate is the base's build (``source: base``); a pin on it (yours, the framework's, the
  engine's) holds when ``llmenv.base.model.admits`` says so — NVIDIA's ``2.6.0a0+…`` meets an engine's
  ``torch==2.6.0`` (the pin is relaxed, and the reason says it); the GPUs must be covered when the image says
  which architectures it was built for; the driver running its CUDA is a warning, not a rejection (NGC images
  carry CUDA forward-compatibility libraries, and the base is what it is).
* torchvision / torchaudio and compiled extensions the base has (NGC ships flash-attn) are the base's, held to
  the same pins; ones it lacks come from an index, and a prebuilt extension wheel must fit the base torch's
  release, CUDA major and C++ ABI (the ordinary option rules, tested against the base's ``TorchBuild``). A
  source build against the base's torch is not planned (it would need ``--no-build-isolation``).
* the Python is the base interpreter's.

Nothing here writes files: ``plan_extra`` gives the renderer ``exclude-dependencies`` (every base distribution)
and the ``[tool.llmenv.base]`` record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmenv.backend import Backend, CudaVersion
from llmenv.base.model import BaseEnvironment, admits, torch_linked
from llmenv.knowledge import Knowledge, TorchRelease, TorchVariant
from llmenv.plan.candidates import Candidate, Requirements, TorchPick, spec_of
from llmenv.plan.extensions import ExtensionOption, ExtensionProvider, TorchBuild
from llmenv.target import Target

__all__ = [
    "base_pick",
    "base_providers",
    "base_reasons",
    "base_warnings",
    "companion_problem",
    "engine_torch",
    "pin_problem",
    "plan_extra",
    "torch_problem",
]


def _archs(items: Sequence[str]) -> tuple[tuple[tuple[int, int], ...], bool]:
    out, ptx = [], False
    for item in items:
        if item.endswith("+PTX"):
            ptx, item = True, item.removesuffix("+PTX")
        major, minor = item.split(".")
        out.append((int(major), int(minor)))
    return tuple(sorted(set(out))), ptx


def base_release(base: BaseEnvironment, kb: Knowledge) -> TorchRelease:
    """The base's torch in the shape of a release of the torch table (its own facts, not the table's)."""
    t = base.torch
    assert t is not None
    known = kb.torch_release(t.release)
    variants: dict[str, TorchVariant] = {}
    if t.archs:
        archs, ptx = _archs(t.archs)
        variants[t.variant] = TorchVariant(
            backend=Backend.parse(t.variant), archs=archs, ptx=ptx, status="V", cxx11_abi=t.cxx11_abi
        )
    return TorchRelease(
        version=Version(t.version),
        python=(base.minor,),
        cxx11_abi=t.cxx11_abi,
        pypi_cuda=t.cuda or (known.pypi_cuda if known else CudaVersion(12, 4)),
        platforms=(),
        variants=variants,
        torchvision=base.version_of("torchvision") or (known.torchvision if known else None),
        torchaudio=base.version_of("torchaudio") or (known.torchaudio if known else None),
    )


def base_pick(base: BaseEnvironment, kb: Knowledge) -> TorchPick:
    assert base.torch is not None
    return TorchPick(release=base_release(base, kb), variant=Backend.parse(base.torch.variant), source="base")


def _where(base: BaseEnvironment) -> str:
    return f"{base.image}, {base.python}" if base.image else base.python


def torch_problem(base: BaseEnvironment, spec: SpecifierSet) -> str | None:
    """The base torch against the torch pins gathered on the way down (yours, framework's, engine's)."""
    assert base.torch is not None
    if admits(spec, base.torch.version)[0]:
        return None
    return f"the base's torch {base.torch.version} ({_where(base)}) is fixed, and torch{spec} is required"


def companion_problem(base: BaseEnvironment, name: str, spec: SpecifierSet) -> str | None:
    """torchvision / torchaudio the base has are fixed too; one it lacks is left to uv (from an index)."""
    have = base.version_of(name)
    if have is None or admits(spec, have)[0]:
        return None
    return f"the base's {name} {have} is fixed, and {name}{spec} is required"


def engine_torch(
    kb: Knowledge, base: BaseEnvironment, name: str, tspec: SpecifierSet
) -> tuple[TorchRelease | None, str | None]:
    """(the PyPI torch release an engine pins — its kernels are built with that torch's CUDA —, why the engine
    cannot run on the base torch)."""
    assert base.torch is not None
    if not admits(tspec, base.torch.version)[0]:
        return None, f"pins torch{tspec}; the base's torch {base.torch.version} ({_where(base)}) is fixed"
    known = [t for t in kb.torch if tspec.contains(t.version, prereleases=True)]
    return (known[0] if known else base_release(base, kb)), None


def pin_problem(base: BaseEnvironment, reqs: Requirements) -> str | None:
    """A framework's or engine's pin on a torch-linked package the base has (triton, an ``nvidia-*`` library,
    torchvision...) that the base's version does not meet: uv cannot install another, so it is a rejection."""
    for name in sorted(reqs):
        have = base.version_of(name)
        spec = spec_of(reqs, name)
        if have is None or name == "torch" or not torch_linked(name) or admits(spec, have)[0]:
            continue
        return f"pins {name}{spec}; the base's {name} {have} is fixed"
    return None


def _unmet(cand: Candidate, base: BaseEnvironment) -> list[str]:
    """Pins on the base's other packages it does not meet (uv will not install another: they are excluded)."""
    out = []
    for who, reqs in (
        (cand.framework, cand.framework_requirements),
        (cand.engine, cand.engine_requirements),
    ):
        for name in sorted(reqs) if who is not None else ():
            have = base.version_of(name)
            spec = spec_of(reqs, name)
            if have is None or torch_linked(name) or admits(spec, have)[0]:
                continue
            assert who is not None
            out.append(
                f"{who.name} {who.version} requires {name}{spec}; the base has {name} {have}, and uv installs "
                f"no other (exclude-dependencies): drop {name} from [tool.uv] exclude-dependencies to let uv put "
                "one into the environment (it then shadows the base's)"
            )
    return out


# ------------------------------------------------------------------------------------------- extensions


def _base_option(base: BaseEnvironment, package: str) -> ExtensionOption:
    version = base.version_of(package)
    assert version is not None
    return ExtensionOption(
        package=package,
        version=Version(version),
        kind="prebuilt",
        source="base",
        pythons=(base.minor,),
        platform="any",
        archs=None,
        torch=SpecifierSet(),
        priority=-100,
        fact=f"installed in the base ({base.packages[package].location})",
    )


def base_providers(
    base: BaseEnvironment, providers: Mapping[str, Sequence[ExtensionProvider]]
) -> dict[str, tuple[ExtensionProvider, ...]]:
    """A compiled extension the base has is the base's (uv never installs it: it is excluded); for the others,
    the usual providers, with source builds marked unavailable."""

    def fixed(package: str) -> ExtensionProvider:
        def provide(pkg: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
            yield _base_option(base, package)

        return provide

    def no_builds(provider: ExtensionProvider) -> ExtensionProvider:
        def provide(pkg: str, torch: TorchBuild, target: Target) -> Iterator[ExtensionOption]:
            for opt in provider(pkg, torch, target):
                if opt.prebuilt:
                    yield opt
                else:
                    yield _unavailable(opt, base)

        return provide

    out: dict[str, tuple[ExtensionProvider, ...]] = {}
    for package, given in providers.items():
        out[package] = (fixed(package),) if base.has(package) else tuple(no_builds(p) for p in given)
    return out


def _unavailable(opt: ExtensionOption, base: BaseEnvironment) -> ExtensionOption:
    from dataclasses import replace

    why = (
        f"a source build against the base's torch needs --no-build-isolation (its build must see the base's "
        f"torch {base.torch.version if base.torch else ''}), which llmenv does not plan"
    )
    return replace(opt, unavailable=why)


# ----------------------------------------------------------------------------------------- the plan


def plan_extra(base: BaseEnvironment) -> dict[str, Any]:
    """What the renderer writes for a base: uv never resolves the base's distributions, and the record."""
    return {"exclude-dependencies": list(base.names()), "base": base.record()}


def _relaxed(cand: Candidate, base: BaseEnvironment) -> list[str]:
    out = []
    for who, reqs in (
        (cand.framework, cand.framework_requirements),
        (cand.engine, cand.engine_requirements),
    ):
        if who is None:
            continue
        for name in sorted(reqs):
            have = base.version_of(name)
            spec = spec_of(reqs, name)
            if have is None or not str(spec):
                continue
            ok, why = admits(spec, have)
            if ok and why:
                out.append(
                    f"{who.name} {who.version} pins {name}{spec}, relaxed for the base's {have}: {why}; uv does "
                    f"not resolve {name}"
                )
    return out


def base_reasons(cand: Candidate, base: BaseEnvironment) -> list[str]:
    t = base.torch
    assert t is not None
    abi = "cxx11" if t.cxx11_abi else "pre-cxx11"
    cuda = f"CUDA {t.cuda}" if t.cuda else ("ROCm " + t.hip if t.hip else "no CUDA")
    out = [
        f"torch {t.version} is the base's ({base.origin or base.python}): fixed — uv never resolves or installs "
        f"the base's {len(base.packages)} distributions ([tool.uv] exclude-dependencies), the environment imports "
        "them from the base (`llmenv sync` links it)",
        f"torch {t.version}: {cuda} ({t.cuda_fact}), C++ ABI {abi} ({t.abi_fact})"
        + (f", built for {' '.join(t.archs)} ({t.archs_fact})" if t.archs else ""),
    ]
    out += _relaxed(cand, base)
    for name in ("torchvision", "torchaudio"):
        if base.has(name) and (name in cand.engine_requirements or name in cand.framework_requirements):
            out.append(f"{name} {base.version_of(name)} is the base's")
    for name, opt in cand.options.items():
        if opt.source == "base":
            out.append(f"{name} {opt.version} is the base's")
        elif opt.prebuilt and t.parsed.is_prerelease:
            out.append(
                f"{name} {opt.version}: its wheel is built for torch {t.mm} releases with CUDA {opt.cuda_major} "
                f"and the {abi} ABI, as the base's torch {t.version} is (NVIDIA's build of {t.release}): "
                "`llmenv doctor` loads it after the sync"
            )
    return out


def base_warnings(
    cand: Candidate, base: BaseEnvironment, target: Target, kb: Knowledge, policy: str
) -> list[str]:
    t = base.torch
    assert t is not None
    out = []
    if (
        t.cuda is not None
        and target.cuda is not None
        and not kb.cuda.runs(t.cuda, driver_cuda=target.cuda, driver=target.driver, policy=policy)
    ):
        out.append(
            f"the base's torch is built with CUDA {t.cuda}; the driver supports CUDA <= {target.cuda}: it runs "
            "only through the image's CUDA forward-compatibility libraries (data-center GPUs), else "
            "torch.cuda is unavailable (`llmenv doctor` says which)"
        )
    out += _unmet(cand, base)
    if not t.parsed.is_prerelease:
        return out
    compiled = []
    if cand.engine is not None:
        compiled.append(f"{cand.engine.name} {cand.engine.version}")
    for name in ("torchvision", "torchaudio"):
        if not base.has(name) and (name in cand.engine_requirements or name in cand.framework_requirements):
            compiled.append(name)
    if compiled:
        out.append(
            f"{', '.join(compiled)}: wheels from the index are built against PyPI's torch {t.release}, not "
            f"NVIDIA's {t.version}; their compiled code may not load on it (`llmenv doctor` loads it after the "
            "sync)"
        )
    return out
