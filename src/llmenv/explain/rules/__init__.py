"""The rules, by family, and their registry ``RULES`` (most specific first).

A rule reads the parsed log (``llmenv.explain._parse.Log``) and returns the causes of its kind that the log
supports, each with its evidence (the log's own lines or statements). A rule states only what its evidence
says; general knowledge (how uv builds, which torch builds exist) goes into ``reason`` and ``fixes``.
``explain`` runs every rule and drops a cause whose evidence an earlier (more specific) cause already
explained, so the order of ``RULES`` is the order of specificity.

Families (one module each): ``project`` (uv.lock, uv's version, settings, static metadata),
``resolution_pins`` / ``resolution_python`` / ``resolution_wheels`` / ``resolution_sources`` (the resolver's failures), ``index`` (where the
resolver looked), ``network`` (servers that could not be reached), ``build`` (source builds), ``runtime`` (an installed environment that cannot run).
"""

from __future__ import annotations

from llmenv.explain._model import Cause
from llmenv.explain.rules._common import Rule
from llmenv.explain.rules.build import (
    check_build_cuda_mismatch,
    check_build_missing_cuda,
    check_build_missing_dependency,
    check_build_needs_torch,
    check_build_oom,
    check_build_toolchain,
)
from llmenv.explain.rules.index import check_index
from llmenv.explain.rules.network import check_network, rank
from llmenv.explain.rules.project import (
    check_config,
    check_lockfile,
    check_no_static_metadata,
    check_uv_version,
)
from llmenv.explain.rules.resolution_pins import (
    check_extra_conflict,
    check_pin_conflict,
    check_workspace_extras,
)
from llmenv.explain.rules.resolution_python import check_python_version
from llmenv.explain.rules.resolution_sources import check_conflicting_urls
from llmenv.explain.rules.resolution_wheels import (
    check_local_version,
    check_no_wheel_for_platform,
    check_prerelease,
)
from llmenv.explain.rules.runtime import check_abi_mismatch, check_driver_too_old, check_gpu_arch

__all__ = ["KINDS", "RULES", "Cause", "Rule", "rank"]

RULES: tuple[Rule, ...] = (
    Rule("lockfile", check_lockfile, "uv.lock missing, stale under --locked, or unreadable"),
    Rule("uv-version", check_uv_version, "the running uv is older than the project needs"),
    Rule("config", check_config, "pyproject.toml / uv.toml has a setting uv rejects"),
    Rule("no-static-metadata", check_no_static_metadata, "match-runtime needs static metadata the package lacks"),
    Rule("conflicting-urls", check_conflicting_urls, "one package required from two URLs or indexes in one fork"),
    Rule("workspace-extras", check_workspace_extras, "a workspace member's unwanted extra clashes with your pins"),
    Rule("extra-conflict", check_extra_conflict, "two extras/groups pin incompatible versions, not declared as conflicting"),
    Rule("prerelease", check_prerelease, "a pre-release the resolver would not select"),
    Rule("python-version", check_python_version, "the Python version or requires-python is outside a dependency's support"),
    Rule("local-version", check_local_version, "a +local version label the indexes consulted don't carry"),
    Rule("no-wheel-for-platform", check_no_wheel_for_platform, "no wheel (or sdist) for this platform/Python"),
    Rule("index", check_index, "the package/version is not where the resolver looked"),
    Rule("pin-conflict", check_pin_conflict, "two requirements pin one package to versions that don't overlap"),
    Rule("build-needs-torch", check_build_needs_torch, "a source build imports torch; its build env has none"),
    Rule("build-missing-dependency", check_build_missing_dependency, "a source build imports another missing module"),
    Rule("build-missing-cuda", check_build_missing_cuda, "a source build needs the CUDA toolkit, which is missing"),
    Rule("build-cuda-mismatch", check_build_cuda_mismatch, "nvcc's CUDA differs from torch's CUDA"),
    Rule("build-toolchain", check_build_toolchain, "gcc or nvcc too new/old for the build"),
    Rule("build-oom", check_build_oom, "the compiler was killed for lack of memory"),
    Rule("abi-mismatch", check_abi_mismatch, "a compiled extension built against another torch (undefined symbol)"),
    Rule("driver-too-old", check_driver_too_old, "the NVIDIA driver is older than torch's CUDA"),
    Rule("gpu-arch", check_gpu_arch, "torch has no kernels for this GPU architecture"),
    Rule("network", check_network, "an index or download could not be reached"),
)

KINDS: tuple[str, ...] = tuple(r.kind for r in RULES)
