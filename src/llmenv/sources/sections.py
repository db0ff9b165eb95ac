"""The chosen wheel sources as what the renderer writes (plan-side data: ``Plan.indexes`` and
``Plan.extra["sources"]`` / ``["extra-build-dependencies"]``):

- an index option (Astral, the PyTorch index, a ``--wheels`` index or folder) -> an explicit
  ``[[tool.uv.index]]`` (``explicit = true``: only the packages routed to it come from it) and a
  ``[tool.uv.sources]`` entry routing the package — and the packages that come with it (the TE trio) — to it on
  the target's platform; a PyTorch-index option reuses the torch source's entry for that variant (a mirror of
  download.pytorch.org serves it too);
- a URL option (release assets) -> one URL per planned Python, each under its ``python_version`` marker (uv takes
  one URL per package per fork);
- a default-index option -> nothing: uv resolves it from PyPI at the pinned version;
- vLLM routed to its variant index -> the index ``vllm-cuNNN`` (``wheels.vllm.ai/{version}/cuNNN``) and the
  source entry;
- a source build without a tuned recipe -> ``extra-build-dependencies`` with torch ``match-runtime`` (the build
  sees the installed torch), as ``llmenv check`` asks of such packages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmenv.backend import Backend
from llmenv.indexes import IndexSpec, TorchSource
from llmenv.plan.extensions import ExtensionOption

__all__ = ["BUILT_AS", "FA_INDEX", "index_for", "option_sources", "untuned_build", "vllm_index"]

FA_INDEX = "flash-attn-wheels"  # the name of a --wheels source's index (what llmenv wrote before)
# The package an untuned PyPI build compiles (transformer-engine's torch extension is its own sdist).
BUILT_AS: Mapping[str, str] = {"transformer-engine": "transformer-engine-torch"}


def index_for(opt: ExtensionOption, torch_source: TorchSource) -> IndexSpec | None:
    """The ``[[tool.uv.index]]`` entry an option's wheels come from (None: URLs or the default index)."""
    if not opt.index:
        return None
    if opt.source == "pytorch" and opt.index_name and not torch_source.is_pypi:
        tag = opt.index_name.removeprefix("pytorch-")
        try:
            variant = Backend.parse(tag)
        except ValueError:
            variant = None
        same = torch_source.index_for(variant) if variant is not None else None
        if same is not None and not same.flat:
            return same
    return IndexSpec(name=opt.index_name or FA_INDEX, url=opt.index, explicit=True, flat=opt.index_flat)


def option_sources(
    opt: ExtensionOption, index: IndexSpec | None, marker: str, pythons: Sequence[str]
) -> dict[str, Any]:
    """``[tool.uv.sources]`` entries of a prebuilt option (and the packages that come with it)."""
    if index is not None:
        entry = [{"index": index.name, "marker": marker}]
        return {name: entry for name in (opt.package, *(n for n, _ in opt.together))}
    if opt.urls:
        return {
            opt.package: [
                {"url": opt.urls[py], "marker": f"{marker} and python_version == '{py}'"}
                for py in pythons
                if py in opt.urls
            ]
        }
    return {}


def vllm_index(route: Any) -> IndexSpec:
    """vLLM's variant index of one release (``route``: a ``llmenv.sources.vllm.VllmVariant``)."""
    return IndexSpec(name=route.index_name, url=route.url, explicit=True)


def untuned_build(opt: ExtensionOption, torch_major: int | None) -> tuple[dict[str, Any], list[str]]:
    """(extra-build-dependencies, warnings) for a PyPI sdist build without a tuned recipe."""
    built = BUILT_AS.get(opt.package, opt.package)
    cuda = f" of CUDA {torch_major}.x (torch's CUDA major)" if torch_major else ""
    warning = (
        f"no prebuilt {opt.package} wheel fits this stack: `uv sync` builds {built} from its PyPI sdist against "
        f"the installed torch (match-runtime); the building machine needs nvcc{cuda}, and it can take long"
    )
    return {built: [{"requirement": "torch", "match-runtime": True}]}, [warning]
