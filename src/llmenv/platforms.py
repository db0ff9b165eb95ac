"""One lock for several platforms: where each platform's torch comes from, as uv configuration.

A lock made for ``linux-x86_64`` and ``linux-aarch64`` (``--platform``, repeatable) carries one torch build per
platform: each platform's marker routes the torch family to that platform's index (``pytorch-cu128`` on x86_64,
``pytorch-cu130`` on aarch64), or to the default index where PyPI's wheel is the build wanted (aarch64 torch 2.11+
is CUDA 13 on PyPI). ``environments`` and ``required-environments`` name exactly the planned platforms, so uv
locks (and requires wheels for) each of them and no other platform can sync the lock by accident.

What went wrong before: a GPU lock said ``environments = ["sys_platform == 'linux'"]`` and routed every platform but
the target's to the CPU index (``sys_platform != 'linux' or platform_machine != 'x86_64'``), so a GH200 node
syncing it installed CPU torch without a word. Now a platform gets a CPU build only when the plan says so
(``PlatformBuild.warning``), and a platform nobody planned is not in the lock at all.

Pure: plan data in, TOML-shaped values out (the renderer writes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmenv.indexes import IndexSpec
from llmenv.target import PLATFORMS, Target, parse_platform

__all__ = [
    "PlatformBuild",
    "build_of",
    "builds_of",
    "environments",
    "others_marker",
    "platform_marker",
    "platform_target",
    "torch_sources",
    "unplanned",
]


@dataclass(frozen=True, kw_only=True)
class PlatformBuild:
    """The torch build one platform of the lock gets."""

    platform: str  # "linux-aarch64"
    version: str  # torch release ("2.9.1"): the same public version on every platform
    variant: str  # "cu130" | "cpu" | "rocm6.4"
    index: IndexSpec | None  # None: the default index (PyPI or its mirror)
    warning: str | None = None  # why this platform gets no GPU build (said in the plan, never silent)

    @property
    def gpu(self) -> bool:
        return self.variant != "cpu"


def build_of(plan: Any, warning: str | None = None) -> PlatformBuild | None:
    """The torch build a single-platform plan chose, as the lock's entry for its platform."""
    torch = plan.packages.get("torch")
    if torch is None:
        return None
    index = next((i for i in plan.indexes if i.name == torch.index), None) if torch.index else None
    return PlatformBuild(
        platform=plan.target.platform,
        version=torch.version,
        variant=torch.variant or "cpu",
        index=index,
        warning=warning,
    )


def builds_of(plan: Any) -> list[PlatformBuild]:
    """The per-platform torch builds of a plan (one for a single-platform plan)."""
    got = plan.extra.get("platforms")
    if got:
        return list(got)
    one = build_of(plan)
    return [one] if one else []


def platform_target(base: Target, platform: str) -> Target:
    """``base`` moved to another platform of the lock: the same GPUs, driver and Python, another OS / CPU."""
    os_, _, arch = parse_platform(platform).partition("-")
    return base.with_(os=os_, arch=arch, platforms=())


def platform_marker(platform: str) -> str:
    """``linux-aarch64`` -> ``sys_platform == 'linux' and platform_machine == 'aarch64'`` (as Target writes it)."""
    return platform_target(Target(), platform).platform_marker()


def environments(platforms: Iterable[str]) -> list[str]:
    """``environments`` / ``required-environments`` of a lock for these platforms (in the order given)."""
    return [platform_marker(p) for p in dict.fromkeys(parse_platform(p) for p in platforms)]


def _or(markers: Sequence[str]) -> str:
    if len(markers) == 1:
        return markers[0]
    return " or ".join(f"({m})" for m in markers)


def torch_sources(builds: Sequence[PlatformBuild], family: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """``[tool.uv.sources]`` entries for the torch family: per index, the platforms routed to it (markers joined
    with ``or``), in the order the builds are given. Platforms on the default index get no entry (uv then takes
    the default index for them). torch, torchvision and torchaudio always share one index per platform."""
    by_index: dict[str, list[str]] = {}
    for b in builds:
        if b.index is not None:
            by_index.setdefault(b.index.name, []).append(platform_marker(b.platform))
    entries = [{"index": name, "marker": _or(markers)} for name, markers in by_index.items()]
    return {name: [dict(e) for e in entries] for name in family} if entries else {}


def others_marker(platforms: Iterable[str]) -> str:
    """A marker true on every platform but these (``sys_platform != 'linux' or platform_machine != 'x86_64'``)."""
    parts = []
    for p in dict.fromkeys(parse_platform(x) for x in platforms):
        t = platform_target(Target(), p)
        env = t.marker_environment()
        parts.append(
            "sys_platform != 'win32'"
            if t.os == "windows"
            else f"sys_platform != '{env['sys_platform']}' or platform_machine != '{env['platform_machine']}'"
        )
    return parts[0] if len(parts) == 1 else " and ".join(f"({x})" for x in parts)


def unplanned(admitted: Iterable[str], planned: Iterable[str]) -> list[str]:
    """The platforms of PLATFORMS an ``environments`` list admits (as markers) that the plan did not plan."""
    from packaging.markers import InvalidMarker, Marker

    markers = []
    for m in admitted:
        try:
            markers.append(Marker(m))
        except InvalidMarker:
            return []  # unreadable: check reports it; nothing to say here
    done = set(planned)
    out = []
    for p in PLATFORMS:
        if p in done:
            continue
        env = platform_target(Target(), p).marker_environment()
        if any(m.evaluate(dict(env)) for m in markers):
            out.append(p)
    return out


def warnings(builds: Sequence[PlatformBuild]) -> list[str]:
    """What the plan must say about platforms that get no GPU build."""
    return [b.warning for b in builds if b.warning]


def indexes(builds: Sequence[PlatformBuild]) -> list[IndexSpec]:
    """The indexes the builds need, each once, in order."""
    out: dict[str, IndexSpec] = {}
    for b in builds:
        if b.index is not None:
            out.setdefault(b.index.name, b.index)
    return list(out.values())


def by_platform(builds: Sequence[PlatformBuild]) -> Mapping[str, PlatformBuild]:
    return {b.platform: b for b in builds}
