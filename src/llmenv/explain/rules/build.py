"""Source builds: torch, CUDA, the toolchain or memory missing from a package's build."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion
from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    builds,
    newest_torch_for_cuda,
    torch_variant_url,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    requirement_fix,
    with_floor,
)

# ------------------------------------------------------------------------------------------------------------
# builds


def _build_for(log: Log, near: str | None = None) -> tuple[str | None, str | None]:
    """The package being built (name, version), preferring the build failure reported closest to ``near``.
    Without a build line, torch's extension builder names the module it compiles (``-DTORCH_EXTENSION_NAME=``);
    a module llmenv knows maps to its distribution."""
    if log.builds:
        b = log.builds[-1]
        return b.name, b.version
    ext = log.first(r"-DTORCH_EXTENSION_NAME=(?P<mod>[A-Za-z0-9_]+)")
    if ext and ext.group("mod") in builds().modules:
        return builds().modules[ext.group("mod")], None
    return None, None


def _label(name: str | None, version: str | None) -> str:
    """How a summary names the package being built; never a made-up name when the log gives none."""
    if name is None:
        return "a package the log does not name"
    return f"{name}=={version}" if version else name


def _build_fixes_torch(pkg: str, version: str | None) -> list[Fix]:
    info = builds().build_with_torch.get(pkg)
    fixes: list[Fix] = []
    if info is not None and info.requires_dist:
        # No build variable goes with it: flash-attn's FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE, once recommended
        # to "fetch the prebuilt wheel", yields a wheel without the CUDA extension whenever that download
        # fails (its setup.py falls back silently). Its setup.py tries the prebuilt wheel by itself.
        edit = toml.extra_build_dependencies(pkg, "torch", match_runtime=True) + "\n\n" + toml.dependency_metadata(
            pkg, version, info.requires_dist)
        title = (f"Give {pkg}'s isolated build the torch of your lock (match-runtime), with its metadata declared "
                 "statically as match-runtime requires")
        fixes.append(fix_toml(title, edit))
    fixes.append(fix_toml(f"Add torch to {pkg}'s build environment (uv's own suggestion; needs uv >= 0.8)",
                           toml.extra_build_dependencies(pkg, "torch")))
    if info is not None and info.prebuilt:
        fixes.append(fix_cmd(f"Or let llmenv choose a prebuilt {pkg} wheel for your torch, CUDA and Python",
                              f"llmenv plan {pkg}"))
    fixes.append(fix_cmd("With an older uv: install torch first, then build without isolation",
                          f"uv pip install torch && uv sync --no-build-isolation-package {pkg}"))
    return fixes


# the exception itself, not torch's "UserWarning: Failed to initialize NumPy: No module named 'numpy'"
_NO_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '(?P<mod>[A-Za-z0-9_.]+)'")
_TORCH_MISSING = re.compile(
    r"No module named 'torch'|Unable to import torch|without torch installed|torch (?:is )?not (?:installed|found)|"
    r"requires? (?:PyTorch|torch) to be installed|Please install (?:PyTorch|torch)",
    re.IGNORECASE,
)


def check_build_needs_torch(log: Log) -> list[Cause]:
    """An sdist's build imports torch, but its isolated build environment has no torch."""
    hint = log.hint(r"`(?P<pkg>[A-Za-z0-9._-]+)(?:@(?P<ver>[^`]+))?` depends on `torch`, but doesn't declare it as a build dependency")
    if not hint:  # the hint wrapped by a terminal
        hint = log.flat("declare", r"indicates that `?(?P<pkg>[A-Za-z0-9._-]{1,100})(?:(?:==|@)(?P<ver>[^`\s,]{1,100}))?`? depends on `?torch`?, but doesn't declare it as a build dependency", before=500)
    torch_lines = log.lines_matching(_TORCH_MISSING)
    if not hint and not (torch_lines and log.builds):
        return []
    name, version = _build_for(log)
    if hint:
        name = canonicalize_name(hint.group("pkg"))
        version = hint.group("ver") or version
    pkg = name or "the package"
    label = _label(name, version)
    ev = uniq([b.line for b in log.builds if b.name == name] + torch_lines[-2:]
              + ([next((h for h in log.hints if "doesn't declare it as a build dependency" in h), "")] if hint else []))
    chain = uniq([f"{label} is built from source (no wheel was used)", *torch_lines[-1:]])
    return [Cause(
        kind="build-needs-torch", packages=uniq([name or "", "torch"]),
        summary=f"building {label} needs torch, and its build environment has none",
        chain=chain,
        reason=(f"uv and pip build a source distribution in an isolated environment holding only its declared "
                f"build requirements. {pkg}'s build imports torch without declaring it, so the build fails even "
                "when torch is in your project."),
        fixes=tuple(_build_fixes_torch(pkg, version)), evidence=ev,
    )]


def check_build_missing_dependency(log: Log) -> list[Cause]:
    """An sdist's build imports a module (other than torch) that is not in its build environment."""
    if not log.builds:
        return []
    mods = [m for m in log.find(_NO_MODULE) if m.group("mod").split(".")[0] != "torch"]
    if not mods:
        return []
    mod = mods[-1].group("mod")
    dist = builds().distribution_of(mod)
    name, version = _build_for(log)
    pkg = name or "the package"
    label = _label(name, version)
    ev = uniq([b.line for b in log.builds if b.name == name] + [mods[-1].string.strip()])
    return [Cause(
        kind="build-missing-dependency", packages=uniq([name or "", dist]),
        summary=f"building {label} imports {mod}, which is not in its build environment",
        chain=(f"{label} is built from source", mods[-1].string.strip()),
        reason=(f"The build environment holds only {pkg}'s declared build requirements; {mod} "
                f"(distribution {dist}) is missing from them."),
        fixes=(fix_toml(f"Add {dist} to {pkg}'s build environment", toml.extra_build_dependencies(pkg, dist)),
               fix_cmd("Or install it first and build without isolation",
                        f"uv pip install {dist} && uv sync --no-build-isolation-package {pkg}")),
        evidence=ev,
    )]


_CUDA_MISSING = re.compile(
    r"CUDA_HOME environment variable is not set|Cannot find CUDA_HOME|CUDA_HOME (?:is )?not (?:set|found)|"
    r"CUDA_HOME does not exist|MissingCUDAException|"
    r"nvcc was not found|nvcc: (?:command )?not found|No such file or directory: '[^']*nvcc'|"
    r"Could not find (?:any )?(?:CUDA|nvcc)|CUDA toolkit (?:was )?not found|"
    r"Failed to find CUDA|Unable to find (?:the )?CUDA",
    re.IGNORECASE,
)
# a header of the CUDA stack the compiler cannot find (the toolkit's own, or cuDNN / NCCL that ship beside it)
_CUDA_HEADER = re.compile(
    r"(?P<h>(?:cuda_runtime|cuda_runtime_api|cuda|cuda_fp16|cuda_bf16|cublas_v2|cublasLt|cusparse|cusolverDn|cufft|"
    r"curand|nvrtc|cudnn|nccl)\.h): No such file or directory"
)


def check_build_missing_cuda(log: Log) -> list[Cause]:
    """A source build needs the CUDA toolkit (nvcc, headers, CUDA_HOME) and the machine has none."""
    hits = log.find(_CUDA_MISSING)
    headers = log.find(_CUDA_HEADER)
    if not hits and not headers:
        return []
    name, version = _build_for(log)
    pkg = name or "the package"
    label = _label(name, version)
    lines = uniq(m.string.strip() for m in (hits or headers))
    ev = uniq([b.line for b in log.builds if b.name == name] + list(lines[-2:]))
    fixes: list[Fix] = []
    header = headers[0].group("h") if headers and not hits else None
    if header is None:
        summary = f"building {label} needs the CUDA toolkit (nvcc / CUDA_HOME), which was not found"
        reason = (f"{pkg} compiles CUDA code when built from source, which needs the CUDA toolkit (nvcc and "
                  "headers, found through CUDA_HOME); the NVIDIA driver alone is not enough.")
    else:
        summary = f"building {label} cannot find the CUDA header {header}"
        reason = (f"{pkg}'s CUDA code includes {header}, which is not on the compiler's include path: "
                  + ("cuDNN's (or NCCL's) development headers are installed separately from the CUDA toolkit "
                     "and the runtime libraries that torch's wheels bring." if header.startswith(("cudnn", "nccl"))
                     else "the CUDA toolkit's headers are missing, or CUDA_HOME points elsewhere."))
    since = builds().wheels_since.get(name or "")
    if since is not None and version:
        try:
            old = Version(version) < since
        except InvalidVersion:
            old = False
        if old:
            reason += (f" {label} is older than every {pkg} release llmenv knows to ship wheels ({since} and "
                       f"later): if you did not ask for {version}, the resolver backtracked to an old "
                       "source-only release.")
            title = f"Give {pkg} a version floor so the resolver cannot fall back to {version}"
            fixes.append(requirement_fix(log, pkg, lambda r: with_floor(r, str(since)), title) or fix_toml(
                title, f"# wherever {pkg} is required ([project] dependencies or an extra):\n# \"{pkg}>={since}\""))
            fixes.append(fix_cmd("And commit uv.lock, so the resolution is not repeated on every clone", "uv lock"))
    info = builds().build_with_torch.get(name or "")
    rocm = log.first(r"torch\.__version__\s*=\s*(?P<v>\S+\+rocm[\d.]+)")
    if rocm and name == "flash-attn":
        reason += (f" The torch in this build is a ROCm build ({rocm.group('v')}): flash-attn must be told to "
                   "build for ROCm instead of CUDA.")
        fixes.append(fix_toml("Build flash-attn for ROCm (its BUILD_TARGET switch)",
                               toml.extra_build_variables(pkg, {"BUILD_TARGET": "rocm"})))
    if info is not None and info.prebuilt:
        fixes.append(fix_cmd(f"Use a prebuilt {pkg} wheel that matches your torch, CUDA and Python", f"llmenv plan {pkg}"))
    target = pkg if name else "PACKAGE"
    if header is not None and header.startswith(("cudnn", "nccl")):
        fixes.append(fix_toml(f"Or install {header[:-2]}'s development headers and add their folder to the "
                               "compiler's include path (adjust the path)",
                               toml.extra_build_variables(target, {"CPATH": f"/usr/local/cuda/include:/path/to/{header[:-2]}/include"})))
    else:
        fixes.append(fix_toml(f"Or install the CUDA toolkit and point {pkg}'s build at it (adjust the path)",
                               toml.extra_build_variables(target, {"CUDA_HOME": "/usr/local/cuda"})))
    return [Cause(kind="build-missing-cuda", packages=uniq([name or ""]), summary=summary,
                  chain=uniq([f"{label} is built from source", *lines[-1:]]), reason=reason,
                  fixes=tuple(fixes), evidence=ev)]


_CUDA_MISMATCH = (
    # torch.utils.cpp_extension
    re.compile(r"detected CUDA version \((?P<nvcc>[\d.]+)\) mismatches the version that was used to compile\s+PyTorch \((?P<torch>[\d.]+)\)"),
    # setup.py checks of their own (apex): "... compiled with a version of Cuda that does not match the version
    # used to compile Pytorch binaries. Pytorch binaries were compiled with Cuda 10.0.130."
    re.compile(r"compiled with a version of Cuda that does not match the version used to compile Pytorch binaries\.?"
               r"(?:\s+Pytorch binaries were compiled with Cuda (?P<torch>\d+\.\d+(?:\.\d+)?))?", re.IGNORECASE),
)
_NVCC_RELEASE = re.compile(r"Cuda compilation tools, release (?P<v>\d+\.\d+)")


def check_build_cuda_mismatch(log: Log) -> list[Cause]:
    """nvcc's CUDA differs from the CUDA torch was built with; torch (or the package's setup.py) refuses to
    build extensions."""
    m = log.flat("mismatches", _CUDA_MISMATCH[0], before=200) or log.flat("binaries", _CUDA_MISMATCH[1], before=300)
    if not m:
        return []
    groups = m.groupdict()
    nvcc_m = log.first(_NVCC_RELEASE)
    nvcc = groups.get("nvcc") or (nvcc_m.group("v") if nvcc_m else None)
    tcuda = groups.get("torch")
    name, _ = _build_for(log)
    pkg = name or "the package"
    ev = uniq(log.lines_matching(r"detected CUDA version|mismatches the version|does not match the version used to compile"
                                 r"|binaries were compiled with Cuda|Cuda compilation tools, release")
              + [b.line for b in log.builds if b.name == name])
    fixes: list[Fix] = []
    found = None
    cv = None
    if nvcc:
        try:
            cv = CudaVersion(*(int(x) for x in nvcc.split(".")[:2]))
            found = newest_torch_for_cuda(cv, same_major=True)
        except (ValueError, TypeError):
            found = None
    if found and cv is not None:
        rel, backend = found
        fixes.append(fix_toml(
            f"Use a torch built with CUDA {cv.major}.x like your nvcc {nvcc}: torch {rel.version} ({backend.tag}); "
            f"require \"torch=={rel.version}\"",
            toml.index(f"pytorch-{backend.tag}", torch_variant_url(backend.tag)) + "\n\n"
            + toml.sources({"torch": [{"index": f"pytorch-{backend.tag}"}]}),
        ))
    toolkit = ".".join((tcuda or "").split(".")[:2])
    fixes.append(fix_toml(f"Or point {pkg}'s build at a CUDA {toolkit or '<torch.version.cuda>'} toolkit (adjust the path)",
                           toml.extra_build_variables(pkg if name else "PACKAGE",
                                                      {"CUDA_HOME": f"/usr/local/cuda-{toolkit or 'X.Y'}"})))
    found_s = f"nvcc {nvcc}" if nvcc else "the CUDA toolkit found"
    torch_s = f" ({tcuda})" if tcuda else ""
    summary = (f"{found_s} differs from the CUDA torch was built with{torch_s}" if nvcc else
               f"the CUDA toolkit building {pkg} differs from the CUDA torch was built with{torch_s}")
    reason = ("Extensions compiled against torch must use the CUDA toolkit torch was built with: torch's extension "
              "builder refuses a different major version, and some packages' setup.py (apex's) any difference.")
    return [Cause(kind="build-cuda-mismatch", packages=uniq([name or "", "torch"]), summary=summary,
                  chain=ev, reason=reason, fixes=tuple(fixes), evidence=ev)]


_TOOLCHAIN = re.compile(
    r"unsupported GNU version|gcc versions? later than \d+ (?:are|is) not supported|"
    r"nvcc fatal\s*:\s*Unsupported gpu architecture '(?P<arch>compute_\d+[a-z]?)'|"
    r"Unsupported gpu architecture|The current installed version of g\+\+ \([^)]*\) is greater than the maximum required version",
    re.IGNORECASE,
)


def check_build_toolchain(log: Log) -> list[Cause]:
    """The host compiler or nvcc is too new or too old for the build (gcc unsupported by nvcc, an arch nvcc
    does not know)."""
    hits = log.find(_TOOLCHAIN)
    if not hits:
        return []
    name, _ = _build_for(log)
    pkg = name or "the package"
    label = _label(name, None)
    ev = uniq([h.string.strip() for h in hits] + [b.line for b in log.builds if b.name == name])
    arch = next((h.group("arch") for h in hits if h.group("arch")), None)
    info = builds().build_with_torch.get(name or "")
    archs_var = info.archs_variable if info else "TORCH_CUDA_ARCH_LIST"
    fixes: tuple[Fix, ...]
    if arch:
        summary = f"nvcc does not know the GPU architecture {arch} that the build of {label} asks for"
        reason = ("Each CUDA toolkit compiles for the GPU architectures it knows; newer architectures need a newer "
                  "nvcc (sm_100/sm_120 need CUDA 12.8 or later).")
        fixes = (
            fix_toml("Build only for the architectures your nvcc supports (your GPU's, e.g. 9.0)",
                      toml.extra_build_variables(pkg if name else "PACKAGE",
                                                 {archs_var: "90" if archs_var == "FLASH_ATTN_CUDA_ARCHS" else "9.0"})),
            fix_cmd("Or install a newer CUDA toolkit (and point CUDA_HOME at it)", "nvcc --version"),
        )
    else:
        summary = f"nvcc rejects the host C++ compiler while building {label}"
        reason = "Each CUDA toolkit supports host compilers (gcc/g++) only up to a certain version."
        fixes = (
            fix_toml("Build with an older gcc that your CUDA supports (install it first; adjust the version)",
                      toml.extra_build_variables(pkg if name else "PACKAGE",
                                                 {"CC": "gcc-12", "CXX": "g++-12", "NVCC_CCBIN": "g++-12"})),
        )
    return [Cause(kind="build-toolchain", packages=uniq([name or ""]), summary=summary, chain=ev, reason=reason,
                  fixes=fixes, evidence=ev)]


_OOM = re.compile(
    r"Killed signal terminated program|fatal error: Killed|^\s*Killed\s*$|died due to signal 9|"
    r"exit code[:\s]*(?:137|-9)\b|exit status[:\s]*(?:137|-9)\b|code=(?:137|-9)\b|"
    r"returned non-zero exit status[:\s]*(?:137|-9)\b|"
    r"virtual memory exhausted|std::bad_alloc|out of memory allocating|Cannot allocate memory|"
    r"c\+\+: fatal error: Killed|oom-kill",
    re.IGNORECASE,
)


def check_build_oom(log: Log) -> list[Cause]:
    """The compiler was killed for lack of memory: too many parallel compile jobs for this machine's RAM."""
    hits = [m for m in log.find(_OOM) if "CUDA out of memory" not in m.string]
    if not hits:
        return []
    name, version = _build_for(log)
    if name is None and not any(k in log.text for k in ("ninja", "nvcc", "cc1plus", "c++", "gcc", "setup.py", "build")):
        return []
    pkg = name or "the package"
    label = _label(name, version)
    info = builds().build_with_torch.get(name or "")
    variables = {info.jobs_variable if info else "MAX_JOBS": "2"}
    if name == "flash-attn":
        variables["NVCC_THREADS"] = "2"
    ev = uniq([h.string.strip() for h in hits][-3:] + [b.line for b in log.builds if b.name == name])
    fixes = [fix_toml(f"Compile {pkg} with fewer parallel jobs (each nvcc job can take several GB of RAM)",
                       toml.extra_build_variables(pkg if name else "PACKAGE", variables))]
    if info is not None and info.prebuilt:
        fixes.append(fix_cmd(f"Or avoid compiling: use a prebuilt {pkg} wheel for your torch/CUDA/Python",
                              f"llmenv plan {pkg}"))
    if info is not None:
        fixes.append(fix_toml("And compile only for your GPU's architecture (here 9.0; use yours)",
                               toml.extra_build_variables(pkg, {info.archs_variable: "90" if info.archs_variable == "FLASH_ATTN_CUDA_ARCHS" else "9.0"})))
    return [Cause(kind="build-oom", packages=uniq([name or ""]),
                  summary=f"the compiler was killed (out of memory) while building {label}",
                  chain=ev, reason=("Building CUDA extensions runs many nvcc/cc1plus processes in parallel (ninja "
                                    "starts one per CPU by default); together they exhaust RAM and the kernel kills "
                                    "one ('Killed', signal 9, exit 137)."),
                  fixes=tuple(fixes), evidence=ev)]
