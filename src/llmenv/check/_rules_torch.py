"""Rules on where torch, torchvision and torchaudio come from on each machine of the lock."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.version import Version

from llmenv.backend import Backend
from llmenv.check import _envs, _urls
from llmenv.check._findings import Hit
from llmenv.check._pins import scopes
from llmenv.check._project import Project, Source, loc_join
from llmenv.check._registry import rule
from llmenv.check._sets import Scope, set_deps, source_scope

__all__ = ["Route", "route"]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where one package comes from on one machine in one install: a source entry and its index's variant
    (None: the default index, PyPI)."""

    source: Source | None
    variant: Backend | None

    @property
    def label(self) -> str:
        if self.source is None:
            return "the default index"
        return f"{self.source.index} ({self.variant.tag if self.variant else 'no PyTorch variant'})"


def route(project: Project, package: str, env: _envs.Env, scope: Scope) -> Route:
    """The first source entry of ``package`` whose marker holds on ``env`` and whose extra / group (if any) is
    ``scope``; uv takes the package from the default index when none applies."""
    for src in project.sources.get(package, ()):
        own = source_scope(src)
        if (own is not None and own != scope) or not _envs.holds(src.marker, env):
            continue
        ix = project.index_named(src.index) if src.index else None
        return Route(source=src, variant=_urls.variant(ix.url) if ix else None)
    return Route(source=None, variant=None)


def _installs(project: Project) -> list[tuple[Scope, set[str]]]:
    """(scope, direct torch-family requirements) of every install: the base, and the base plus each extra / group."""
    out = []
    for scope in [None, *scopes(project)]:
        names = {d.name for d in set_deps(project, scope) if d.name in TORCH_FAMILY}
        if names:
            out.append((scope, names))
    return out


def _severity(a: Backend, b: Backend) -> str | None:
    same_kind_major = a.kind == b.kind and (a.kind == "cpu" or a.major == b.major)
    return None if same_kind_major else "error"


@rule(
    "torch-family-variants-differ",
    "warning",
    "torch and torchvision / torchaudio routed to different PyTorch variants in one install",
)
def torch_family_variants_differ(project: Project) -> Iterator[Hit]:
    seen: set[tuple[str, str, str]] = set()
    for scope, names in _installs(project):
        if "torch" not in names:
            continue
        for env in _envs.sample(project):
            torch = route(project, "torch", env, scope)
            for other in sorted(names - {"torch"}):
                r = route(project, other, env, scope)
                if (
                    torch.variant is None
                    or r.variant is None
                    or torch.variant == r.variant
                    or r.source is None
                ):
                    continue
                key = (other, torch.variant.tag, r.variant.tag)
                if key in seen:
                    continue
                seen.add(key)
                assert torch.source is not None
                yield Hit(
                    location=loc_join(r.source.location, "index"),
                    message=f"on {env.label}, torch comes from {torch.label} but {other} from {r.label}",
                    why=(
                        f"{other}'s compiled ops are built against one torch build; the {r.variant.tag} build next "
                        f"to a {torch.variant.tag} torch "
                        + (
                            'fails at import ("compiled with different CUDA major versions") or finds no '
                            "kernel for the other device."
                            if _severity(torch.variant, r.variant)
                            else "may load, but mixes two CUDA runtimes in one process; a lock that works "
                            "today breaks when one index drops the release."
                        )
                    ),
                    fix=f"route {other} like torch: {loc_join(r.source.location, 'index')} = "
                    f'"{torch.source.index}"',
                    severity=_severity(torch.variant, r.variant),
                )


def _gpu_platforms(project: Project, envs: Sequence[_envs.Env]) -> set[tuple[str, str]]:
    out = set()
    for scope, names in _installs(project):
        if "torch" in names:
            for e in envs:
                v = route(project, "torch", e, scope).variant
                if v is not None and v.kind in ("cuda", "rocm"):
                    out.add(e.platform)
    return out


def _pypi_cpu_only(project: Project) -> bool:
    """Is the newest torch the project allows one whose linux aarch64 wheel on PyPI is CPU-only (<= 2.10.0)?
    (G_aarch64.md G1, from the wheels' bytes.) No claim when the releases of torch are not known."""
    specs = [d.requirement.specifier for d in project.deps_named(["torch"])]
    releases = project.catalog.releases("torch") or ()
    allowed = [r.version for r in releases if not r.yanked and all(s.contains(r.version) for s in specs)]
    return bool(allowed) and max(allowed) < Version("2.11.0")


@rule(
    "gpu-platform-routed-to-cpu",
    "warning",
    "a GPU project whose lock admits a Linux platform that gets CPU-only torch",
)
def gpu_platform_routed_to_cpu(project: Project) -> Iterator[Hit]:
    envs = [e for e in _envs.sample(project) if e.sys_platform == "linux"]
    gpu = _gpu_platforms(project, envs)
    if not gpu:
        return
    reported: set[tuple[str, str]] = set()
    for scope, names in _installs(project):
        if "torch" not in names:
            continue
        for e in envs:
            if e.platform in gpu or e.platform in reported:
                continue
            r = route(project, "torch", e, scope)
            cpu_index = r.variant is not None and r.variant.kind == "cpu"
            pypi_cpu = r.source is None and e.machine == "aarch64" and _pypi_cpu_only(project)
            if not (cpu_index or pypi_cpu):
                continue
            reported.add(e.platform)
            yield _cpu_hit(project, e, r, gpu)


def _cpu_hit(project: Project, env: _envs.Env, r: Route, gpu: set[tuple[str, str]]) -> Hit:
    where = loc_join(r.source.location, "index") if r.source else "tool.uv.sources.torch"
    got = f"the CPU index {r.label}" if r.source else "PyPI, whose linux aarch64 torch up to 2.10 is CPU-only"
    others = ", ".join(f"{o} {a}" for o, a in sorted(gpu))
    verb = "gets" if len(gpu) == 1 else "get"
    return Hit(
        location=where if r.source else "tool.uv.environments",
        message=f"the lock admits {env.label}, where torch comes from {got}, while {others} {verb} a GPU build",
        why=(
            "A GPU machine of that platform (a GH200 / GB200 node, a DGX Spark) syncs the lock and silently gets "
            "CPU torch: `torch.cuda.is_available()` is False and nothing fails until the first CUDA call. "
            "download.pytorch.org has linux aarch64 CUDA builds from torch 2.4 (cu124 for 2.4-2.5, cu126 for "
            "2.6, cu128 for 2.7, cu129 for 2.8, cu126/cu128/cu130 from 2.9); PyPI's aarch64 torch is CUDA from "
            "2.11 on."
        ),
        fix=(
            f"route {env.label} to a CUDA index that has {env.label} wheels of your torch (a source entry with "
            f'marker "{_marker(env.platform)}"; see why for the variant), or '
            f"leave the platform out of the lock:\n[tool.uv]\nenvironments = "
            f"[{', '.join(json.dumps(_marker(p)) for p in sorted(gpu))}]"
        ),
    )


def _marker(plat: tuple[str, str]) -> str:
    return f"sys_platform == '{plat[0]}' and platform_machine == '{plat[1]}'"
