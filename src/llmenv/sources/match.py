"""Does a listed wheel of a torch extension fit a planned torch build and target? One small rule per question,
each answering None (fits) or why not — the reason the planner prints under "not chosen".

The rules (facts F9):

- platform: the wheel's OS and architecture are the target's; a manylinux tag needs the target's glibc or newer;
- Python: the wheel's tags install on the Python (``cp312``, ``cp39-abi3`` on 3.9+, ``py3``);
- torch: the torch minor in the name equals the planned torch's, or the stable-ABI range allows it;
- CUDA: the wheel's CUDA major equals torch's (mjun0812 and Astral build against the same-major torch; Dao-AILab
  names the major only) — a strict minor match would discard valid wheels;
- C++ ABI: the name's ``cxx11abi`` flag when it has one, else the ABI of PyTorch's own wheel it was built
  against (:func:`~llmenv.sources.normalize.implied_cxx11_abi`), must equal the planned torch's;
- driver: a wheel built with a newer CUDA minor of the driver's major runs under CUDA minor-version
  compatibility (SASS); a newer major does not run.

GPU architectures are the provider's: a listing does not say which SASS a wheel carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion
from llmenv.sources.listing import ListedWheel
from llmenv.sources.normalize import WheelBuild, implied_cxx11_abi

if TYPE_CHECKING:
    from llmenv.plan.extensions import TorchBuild as PlannedTorch
    from llmenv.target import Target

__all__ = ["Fit", "TorchBuild", "best_fits", "for_target", "listed_test", "why_not"]


@dataclass(frozen=True, kw_only=True)
class TorchBuild:
    """The torch an extension wheel must fit, and where it runs."""

    version: Version
    cuda: CudaVersion | None  # None: a CPU build
    cxx11_abi: bool
    os: str = "linux"
    arch: str = "x86_64"
    glibc: str | None = None  # the target's glibc ("2.35"), None when unknown
    driver_cuda: CudaVersion | None = None  # the newest CUDA the target's driver supports

    @property
    def minor(self) -> str:
        return f"{self.version.major}.{self.version.minor}"


@dataclass(frozen=True, kw_only=True)
class Fit:
    wheel: ListedWheel
    python: str
    notes: tuple[str, ...] = ()  # e.g. "runs under CUDA minor-version compatibility"


def _platform(w: WheelBuild, t: TorchBuild, _: str) -> str | None:
    if (w.os, w.arch) == ("any", "any"):
        return None
    if (w.os, w.arch) != (t.os, t.arch):
        return f"it is a {w.os}-{w.arch} wheel; the target is {t.os}-{t.arch}"
    if w.glibc and t.glibc:
        try:
            have = tuple(int(p) for p in t.glibc.split(".")[:2])
        except ValueError:
            return None
        if have < w.glibc:
            return f"it needs glibc >= {w.glibc[0]}.{w.glibc[1]} ({'.'.join(w.platforms)}); the target has {t.glibc}"
    return None


def _python(w: WheelBuild, _: TorchBuild, python: str) -> str | None:
    return (
        None
        if w.installs_on(python)
        else f"its tags ({'.'.join(w.python_tags)}-{w.abi_tag}) do not install on Python {python}"
    )


def _torch(w: WheelBuild, t: TorchBuild, _: str) -> str | None:
    if w.torch is None or w.torch_allows(str(t.version)):
        return None
    return f"it is built for torch{w.torch}; the plan has torch {t.version}"


def _cuda(w: WheelBuild, t: TorchBuild, _: str) -> str | None:
    if w.local.device in ("cpu", "rocm", "xpu"):
        if t.cuda is None and w.local.device == "cpu":
            return None
        return f"it is a {w.local.device} build; torch is {'CPU' if t.cuda is None else f'CUDA {t.cuda}'}"
    if w.cuda_major is None:
        return None
    if t.cuda is None:
        return f"it is a CUDA {w.cuda_major} build; the plan's torch is a CPU build"
    if w.cuda_major != t.cuda.major:
        return f"it is built for CUDA {w.cuda_major}; torch {t.version} is a CUDA {t.cuda} build (the majors must match)"
    return None


def _abi(w: WheelBuild, t: TorchBuild, _: str) -> str | None:
    abi = w.cxx11_abi
    if abi is None and w.local.torch is not None and w.local.dialect in ("mjun", "astral", "astral-legacy"):
        abi = implied_cxx11_abi(w.local.torch, cuda=w.cuda, arch=w.arch)
    if abi is None or abi == t.cxx11_abi:
        return None
    return (
        f"its C++ ABI is cxx11abi{str(abi).upper()}; torch {t.version} is cxx11abi{str(t.cxx11_abi).upper()}"
    )


def _driver(w: WheelBuild, t: TorchBuild, _: str) -> str | None:
    built = w.cuda if w.local.cuda_means in ("nvcc", "torch", "build") else None
    if built is None or t.driver_cuda is None or built <= t.driver_cuda:
        return None
    if built.major == t.driver_cuda.major:
        return None  # minor-version compatibility: see notes
    return f"it is built with CUDA {built}; the driver supports CUDA <= {t.driver_cuda}"


RULES: tuple[Callable[[WheelBuild, TorchBuild, str], str | None], ...] = (
    _platform,
    _python,
    _torch,
    _cuda,
    _abi,
    _driver,
)


def _notes(w: WheelBuild, t: TorchBuild) -> tuple[str, ...]:
    built = w.cuda if w.local.cuda_means in ("nvcc", "torch", "build") else None
    if built is not None and t.driver_cuda is not None and built > t.driver_cuda:
        return (
            f"built with CUDA {built}, newer than the driver's {t.driver_cuda}: its compiled (SASS) code runs "
            "under CUDA minor-version compatibility",
        )
    return ()


def for_target(torch: PlannedTorch, target: Target) -> TorchBuild:
    """The planner's torch on a target, as the wheel rules read it."""
    return TorchBuild(
        version=torch.version,
        cuda=torch.cuda,
        cxx11_abi=torch.cxx11_abi,
        os=target.os,
        arch=target.arch,
        glibc=target.glibc,
        driver_cuda=target.cuda,
    )


def listed_test(wheels: Sequence[ListedWheel], where: str) -> Callable[[PlannedTorch, Target, str], str | None]:
    """An option's per-Python test for a group of listed wheels (one release and build): None when one of them
    fits the planned torch on the target, else the first wheel's reason, prefixed by where they are listed."""

    def fits(torch: PlannedTorch, target: Target, python: str) -> str | None:
        fit = for_target(torch, target)
        whys = [why_not(w, fit, python) for w in wheels]
        return None if any(w is None for w in whys) else f"in {where}: {whys[0]}"

    return fits


def why_not(wheel: ListedWheel, torch: TorchBuild, python: str) -> str | None:
    """None when ``wheel`` fits ``torch`` on ``python``; else the first rule's reason."""
    w = wheel.build
    if w is None:
        return f"{wheel.filename} is not a wheel file name"
    for rule in RULES:
        why = rule(w, torch, python)
        if why is not None:
            return why
    return None


def _version(w: ListedWheel) -> Version:
    try:
        return Version(w.build.public) if w.build else Version("0")
    except InvalidVersion:
        return Version("0")


def best_fits(
    wheels: Iterable[ListedWheel], torch: TorchBuild, pythons: Sequence[str]
) -> tuple[dict[str, Fit], list[tuple[ListedWheel, str]]]:
    """For each Python, the newest fitting wheel (first listed wins among equals); and every (wheel, why not) of
    the wheels that fit none, with the reason for the first of ``pythons`` (give the target's first)."""
    fits: dict[str, Fit] = {}
    rejected: list[tuple[ListedWheel, str]] = []
    ordered = sorted(wheels, key=_version, reverse=True)  # stable: listing order among equal versions
    for w in ordered:
        ok = False
        first = ""
        for py in pythons:
            why = why_not(w, torch, py)
            if why is None:
                ok = True
                if py not in fits:
                    assert w.build is not None
                    fits[py] = Fit(wheel=w, python=py, notes=_notes(w.build, torch))
            elif not first:
                first = why
        if not ok:
            rejected.append((w, first))
    return fits, rejected
