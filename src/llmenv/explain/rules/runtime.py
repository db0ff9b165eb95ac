"""Run time and ABI: an environment that installed but cannot run (undefined symbols, driver, GPU architecture)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from packaging.version import Version

from llmenv.backend import CudaVersion
from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    builds,
    newest_torch_for_cuda,
    torch_for_gpu,
    torch_variant_url,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    is_version,
)

# ------------------------------------------------------------------------------------------------------------
# run time: abi-mismatch, driver-too-old, gpu-arch


def _dist_of_library(path: str) -> str | None:
    b = builds()
    parts = re.split(r"[/\\]", path)
    if "site-packages" in parts or "dist-packages" in parts:
        i = max(parts.index(p) for p in ("site-packages", "dist-packages") if p in parts)
        rest = parts[i + 1 :]
        if rest:
            first = rest[0]
            mod = first.split(".")[0]
            if mod in b.modules:
                return b.modules[mod]
            if len(rest) > 1:
                return b.distribution_of(first)
            return b.distribution_of(mod)
    base = parts[-1].split(".")[0] if parts else ""
    if base in b.modules:
        return b.modules[base]
    return None


# an extension's own report of the torch it was built for: "xFormers was built for:\n PyTorch 2.6.0+cu124 with
# CUDA None (you have 2.5.1+cu121)"
_BUILT_FOR = re.compile(
    r"(?P<pkg>[A-Za-z][A-Za-z0-9_-]{0,60}) was built for:? PyTorch (?P<built>[A-Za-z0-9.+]{1,60})(?: with CUDA \S{1,30})? "
    r"\(you have (?P<have>[A-Za-z0-9.+]{1,60})\)"
)


def _built_for_other_torch(log: Log) -> Cause | None:
    m = log.flat("(you have ", _BUILT_FOR, before=250, after=100)
    if not m:
        return None
    pkg, built, have = canonicalize_name(m.group("pkg")), m.group("built"), m.group("have")
    ev = uniq([*log.lines_matching(r"was built for|\(you have "), *(x.line for x in log.symbols)])[:4]
    public = Version(have).public if is_version(have) else have
    return Cause(
        kind="abi-mismatch", packages=(pkg, "torch"),
        summary=f"{pkg} was built for torch {built}, but torch {have} is installed",
        chain=ev,
        reason=(f"{pkg}'s compiled extensions are built against one torch release; with another torch they "
                "cannot load (undefined symbols), and its pip / uv metadata pins that torch exactly."),
        fixes=(
            fix_cmd(f"Install the {pkg} release built for your torch (the resolver picks it from {pkg}'s exact "
                     "torch pin)", f"uv pip install \"torch=={public}\" {pkg}"),
            fix_cmd(f"Or move torch to the one {pkg} was built for", f"uv pip install \"torch=={Version(built).public if is_version(built) else built}\""),
        ),
        evidence=ev,
    )


def check_abi_mismatch(log: Log) -> list[Cause]:
    """A compiled extension was built against another torch (version or C++ ABI) than the one installed."""
    own = _built_for_other_torch(log)
    if own is not None:
        return [own]
    if not log.symbols:
        return []
    s = log.symbols[0]
    dist = _dist_of_library(s.library) if s.library else None
    pkg = dist or (s.library.rsplit("/", 1)[-1] if s.library else "a compiled extension")
    ev = tuple(uniq(x.line for x in log.symbols))[:3]
    torchy = bool(re.match(r"_ZN(?:\d+)?(?:c10|at|torch|3c10|2at|5torch)", s.symbol)) or "c10" in s.symbol
    fixes: list[Fix] = []
    if "__cxx11" in s.symbol:
        reason = (f"The missing symbol uses the new C++ string ABI (`__cxx11`): {pkg} was compiled with "
                  "`_GLIBCXX_USE_CXX11_ABI=1`, but the installed torch uses the old ABI. PyPI's torch wheels use "
                  "the old ABI up to 2.6 and the new one from 2.7.")
        abi_fix = "cxx11abiFALSE"
    elif re.search(r"Ss|SsE|RKSs", s.symbol) and torchy:
        reason = (f"The missing symbol uses the old C++ string ABI (`std::string` as `Ss`): {pkg} was compiled "
                  "with `_GLIBCXX_USE_CXX11_ABI=0`, but the installed torch uses the new ABI (PyPI's torch "
                  "wheels do from 2.7 on).")
        abi_fix = "cxx11abiTRUE"
    else:
        reason = (f"{pkg} is a compiled extension built against a different torch release than the one installed; "
                  "torch's C++ symbols change between releases, so the two must match exactly.")
        abi_fix = None
    if dist == "flash-attn":
        title = "Install the flash-attn wheel built for your torch (major.minor, CUDA, Python"
        title += f", {abi_fix})" if abi_fix else ", C++ ABI)"
        fixes.append(fix_cmd(title, "llmenv plan flash-attn"))
    fixes.append(fix_toml(f"Rebuild {pkg} against the torch in your lock (and reinstall it)",
                           toml.extra_build_dependencies(dist or "PACKAGE", "torch", match_runtime=True)))
    fixes.append(fix_cmd("Then force the rebuild (uv does not rebuild it when torch changes)",
                          f"uv sync --reinstall-package {dist or 'PACKAGE'}"))
    if not torchy and dist is None:
        reason = (f"A compiled library ({s.library or 'an extension'}) needs a symbol no loaded library provides: "
                  "it was built against a different version of one of its dependencies.")
    return [Cause(kind="abi-mismatch", packages=uniq([dist or "", "torch" if torchy else ""]),
                  summary=f"{pkg} cannot load: undefined symbol {s.symbol}",
                  chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


_DRIVER_OLD = re.compile(
    r"NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)|"
    r"CUDA driver version is insufficient for CUDA runtime version|cudaErrorInsufficientDriver|"
    r"CUDA_ERROR_SYSTEM_DRIVER_MISMATCH|forward compatibility was attempted on non supported HW",
    re.IGNORECASE,
)


def check_driver_too_old(log: Log) -> list[Cause]:
    """The installed NVIDIA driver is older than the CUDA the installed torch (or library) was built with."""
    hits = log.find(_DRIVER_OLD)
    if not hits:
        return []
    ev = uniq(h.string.strip() for h in hits)[:2]
    found = next((h.group("found") for h in hits if h.group("found")), None)
    fixes: list[Fix] = []
    torch = bool(re.search(r"\btorch\b", log.text))
    summary = ("the NVIDIA driver is too old for the CUDA build of the installed torch" if torch else
               "the NVIDIA driver is older than the CUDA runtime the program was built with")
    if found:
        n = int(found)
        cuda = CudaVersion(n // 1000, (n % 1000) // 10)
        summary = f"the NVIDIA driver supports CUDA up to {cuda}, older than the CUDA the installed torch was built with"
        pick = newest_torch_for_cuda(cuda)
        if pick:
            rel, backend = pick
            idx = f"pytorch-{backend.tag}"
            fixes.append(fix_toml(
                f"Install a torch built for CUDA {cuda} or older: the newest such is torch {rel.version} "
                f"({backend.tag}); require \"torch=={rel.version}\"",
                toml.index(idx, torch_variant_url(backend.tag)) + "\n\n" + toml.sources({"torch": [{"index": idx}]}),
            ))
        fixes.append(fix_cmd("Let llmenv plan the whole stack for this driver", f"llmenv plan torch --cuda {cuda}"))
        mind = _min_driver_note()
        if mind:
            fixes.append(fix_cmd(mind, "nvidia-smi"))
    else:
        fixes.append(fix_cmd("Let llmenv plan a torch build this driver can run", "llmenv plan torch"))
        fixes.append(fix_cmd("Or upgrade the NVIDIA driver (check what it supports)", "nvidia-smi"))
    reason = ("A CUDA program (torch's CUDA builds among them) needs a driver at least as new as the CUDA it was "
              "built with (the newest CUDA a driver supports is in `nvidia-smi`'s header).")
    if found:
        reason += f" `found version {found}` means this driver supports CUDA {int(found) // 1000}.{(int(found) % 1000) // 10}."
    return [Cause(kind="driver-too-old", packages=("torch",) if torch or found else (), summary=summary, chain=ev,
                  reason=reason,
                  fixes=tuple(fixes), evidence=ev)]


def _min_driver_note() -> str:
    return "Or upgrade the NVIDIA driver to one that supports the CUDA of your torch (see nvidia-smi's CUDA Version)"


_GPU_ARCH = re.compile(
    r"with CUDA capability sm_(?P<cc>\d+) is not compatible with the current PyTorch installation|"
    r"no kernel image is available for execution on the device|CUDA error: no kernel image",
    re.IGNORECASE,
)


def check_gpu_arch(log: Log) -> list[Cause]:
    """The installed torch has no kernels for this GPU's architecture (too new or too old a GPU for the build)."""
    hits = log.find(_GPU_ARCH)
    if not hits:
        return []
    ev = uniq(h.string.strip() for h in hits)[:2]
    supports = log.first(r"The current PyTorch install supports CUDA capabilities (?P<list>(?:sm_\d+\s*)+)")
    if supports:
        ev = uniq([*ev, supports.string.strip()])
    cc_raw = next((h.group("cc") for h in hits if h.group("cc")), None)
    fixes: list[Fix] = []
    if cc_raw:
        cc = (int(cc_raw[:-1]), int(cc_raw[-1]))
        summary = f"the installed torch has no kernels for this GPU (compute capability {cc[0]}.{cc[1]})"
        pick = torch_for_gpu(cc)
        if pick:
            rel, backend = pick
            idx = f"pytorch-{backend.tag}"
            fixes.append(fix_toml(
                f"Install a torch build that includes sm_{cc_raw}: torch {rel.version} ({backend.tag}) or newer; "
                f"require \"torch>={rel.version}\"",
                toml.index(idx, torch_variant_url(backend.tag)) + "\n\n" + toml.sources({"torch": [{"index": idx}]}),
            ))
        fixes.append(fix_cmd("Let llmenv plan the stack for this GPU", f"llmenv plan torch --gpu {cc[0]}.{cc[1]}"))
    else:
        summary = "a CUDA kernel has no build for this GPU's architecture"
        fixes.append(fix_cmd("Let llmenv plan a build that covers your GPU (give its compute capability)",
                              "llmenv plan torch --gpu <X.Y>"))
    return [Cause(kind="gpu-arch", packages=("torch",), summary=summary, chain=ev,
                  reason=("Each CUDA build of torch (and of extensions) contains machine code for a list of GPU "
                          "architectures; a GPU outside that list cannot run its kernels."),
                  fixes=tuple(fixes), evidence=ev)]
