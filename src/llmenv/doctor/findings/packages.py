"""What every compiled package is checked for: its extension loads, the CUDA runtime it links, its torch pin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from llmenv.doctor.findings.facts import (
    MachineFacts,
    as_dict,
    as_list,
)
from llmenv.doctor.findings.model import Finding
from llmenv.knowledge import Knowledge


def cudart(info: Mapping[str, Any]) -> dict[int, list[str]]:
    """CUDA runtime major -> the package's libraries that link it (DT_NEEDED libcudart.so.N)."""
    out: dict[int, list[str]] = {}
    for lib in as_list(info.get("libraries")):
        for n in as_list(as_dict(lib).get("needed")):
            m = re.fullmatch(r"libcudart\.so\.(\d+)", str(n))
            if m:
                out.setdefault(int(m.group(1)), []).append(str(lib.get("file")))
    return out


def _torch_pins(info: Mapping[str, Any], markers: Mapping[str, str]) -> list[Requirement]:
    env = {**markers, "extra": ""}
    pins = []
    for r in as_list(info.get("requires")):
        try:
            req = Requirement(str(r))
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "torch":
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(env):
                continue
        except (InvalidMarker, KeyError, ValueError):
            continue
        pins.append(req)
    return pins


def _explain_load_error(
    error: str, facts: MachineFacts, built: dict[str, str] | None
) -> tuple[str, list[str]]:
    """A one-line reason for a failed load, and the evidence behind it."""
    t = facts.torch
    notes = []
    abi = ("TRUE" if t.get("cxx11_abi") else "FALSE") if facts.torch_ok else None
    mm = f"{facts.torch_version.major}.{facts.torch_version.minor}" if facts.torch_version else "?"
    have = (
        f"torch {t.get('version')} (CUDA {t.get('cuda')}, cxx11abi{abi})"
        if facts.torch_ok
        else "no importable torch"
    )
    notes.append(f"installed: {have}")
    m = re.search(r"undefined symbol: (\S+)", error)
    if m:
        sym = m.group(1)
        # Itanium mangling: the new-ABI std::string is std::__cxx11::basic_string, the old one is abbreviated `Ss`.
        sym_abi = "TRUE" if "__cxx11" in sym else ("FALSE" if re.search(r"Ss(?![a-z])", sym) else None)
        if sym_abi:
            flag = 1 if sym_abi == "TRUE" else 0
            notes.append(
                f"`{sym}` names the {'new' if flag else 'old'} std::string: compiled with _GLIBCXX_USE_CXX11_ABI={flag}"
            )
        if abi is None:
            return f"`{sym}` is undefined, and torch itself cannot be imported (see the torch finding)", notes
        if sym_abi and sym_abi != abi:
            return (
                f"C++ ABI mismatch: it was compiled with _GLIBCXX_USE_CXX11_ABI={1 if sym_abi == 'TRUE' else 0}, "
                f"torch {t.get('version')} with {1 if abi == 'TRUE' else 0} (undefined symbol `{sym}`)",
                notes,
            )
        if built and built["cxx11_abi"] != abi:
            return (
                f"C++ ABI mismatch: built with cxx11abi{built['cxx11_abi']}, torch uses cxx11abi{abi}",
                notes,
            )
        if built and built["torch"] != mm:
            return (
                f"built for torch {built['torch']}, but torch {mm} is installed (undefined symbol `{sym}`)",
                notes,
            )
        return f"built against another torch than {t.get('version')} (undefined symbol `{sym}`)", notes
    m = _MISSING_LIBRARY.search(error)
    if (
        m
        and facts.torch_ok
        and facts.torch_cuda is None
        and not facts.torch_hip
        and _TORCH_CUDA_LIBRARY.fullmatch(m.group(1))
    ):
        return (
            f"built for a CUDA build of torch, but torch {t.get('version')} is a CPU-only build ({m.group(1)} is not "
            "there)",
            notes,
        )
    if m:
        lib = m.group(1)
        cm = re.fullmatch(r"libcudart\.so\.(\d+)", lib)
        if cm and facts.torch_cuda and int(cm.group(1)) != facts.torch_cuda.major:
            return (
                f"built for CUDA {cm.group(1)}, but torch uses CUDA {facts.torch_cuda} ({lib} is not installed)",
                notes,
            )
        return f"a library it needs is missing: {lib}", notes
    if not facts.torch_ok:
        return "it cannot be loaded, and torch itself cannot be imported (see the torch finding)", notes
    return "it cannot be loaded", notes


# The NVIDIA driver's own libraries (installed with the kernel module, never by a wheel): a package that needs one
# cannot load where there is no driver, and that says nothing about the package.
DRIVER_LIBRARY = re.compile(r"lib(cuda|nvidia-ml|nvidia-ptxjitcompiler|nvcuvid|nvidia-encode)\.so(\.\d+)*")
# What a CUDA build of torch brings (torch/lib, the nvidia-* wheels) and a CPU-only build does not.
_TORCH_CUDA_LIBRARY = re.compile(
    r"lib(c10_cuda|torch_cuda|cudart|cublas|cublasLt|cudnn|cusparse|nccl)\.so(\.\d+)*"
)
_MISSING_LIBRARY = re.compile(r"(lib[\w.+-]+\.so[\d.]*): cannot open shared object file")


@dataclass
class _Part:
    """What one part of a package's check found: evidence, and problems as (status, text) with their fixes."""

    evidence: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def add(self, other: _Part) -> None:
        self.evidence += other.evidence
        self.problems += other.problems
        self.fixes += other.fixes


def _loaded(load: Mapping[str, Any], name: str) -> str:
    module = load.get("module")
    if load.get("loader") == "torch.ops.load_library":
        return f"torch.ops.load_library({module}: a torch operator library, no Python module, as {name} loads it)"
    return f"import {module}"


def _failed_load(
    load: Mapping[str, Any], facts: MachineFacts, name: str, built: dict[str, str] | None
) -> _Part:
    part = _Part()
    err = str(load.get("error") or "failed")
    module = load.get("module")
    part.evidence.append(f"{_loaded(load, name)}: {err}")
    missing = _MISSING_LIBRARY.search(err)
    if missing and DRIVER_LIBRARY.fullmatch(missing.group(1)):
        lib = missing.group(1)
        if not facts.driver and not facts.gpus:
            part.problems.append(
                (
                    "warn",
                    f"{module} needs {lib}, the NVIDIA driver's library, and this machine has no driver: it "
                    "cannot be loaded here (a login or build node); the rest of its checks hold",
                )
            )
            part.fixes.append(
                "nothing to do on a login or build node: it loads on a GPU node with the driver"
            )
            return part
        part.problems.append(
            (
                "fail",
                f"{module} fails to load: the NVIDIA driver's {lib} cannot be found, although a driver "
                f"({facts.driver or 'GPUs'}) is present",
            )
        )
        part.fixes.append(
            "a container needs the NVIDIA runtime's driver libraries (`--gpus all` / NVIDIA Container Toolkit); "
            "elsewhere, check that the driver's libraries are in the loader's path (`ldconfig -p | grep libcuda`)"
        )
        return part
    if "timed out" in err:
        part.problems.append(("fail", f"{module} did not load: loading it hung ({err})"))
        part.fixes.append(
            f"load it by hand to see where it hangs: `python -X faulthandler -c 'import {name.replace('-', '_')}'`"
        )
        return part
    reason, notes = _explain_load_error(err, facts, built)
    if isinstance(load.get("signal"), int):
        reason = f"loading it crashed the process ({_signal(int(load['signal']))})"
    part.evidence += notes
    part.problems.append(("fail", f"{module} fails to load: {reason}"))
    part.fixes.append(rebuild_fix(name, facts))
    return part


def _signal(number: int) -> str:
    import signal

    try:
        return f"{signal.Signals(number).name}, signal {number}"
    except ValueError:
        return f"signal {number}"


def _missing_extension(
    info: Mapping[str, Any], probe: Mapping[str, Any], facts: MachineFacts, name: str
) -> _Part:
    """The package's compiled extension is not among its files: what ``import <package>`` does then decides."""
    part = _Part()
    load = as_dict(info.get("load"))
    module = load.get("module")
    part.evidence.append(f"{module}: not among the package's files (its RECORD)")
    imp = as_dict(info.get("import"))
    environ = as_dict(probe.get("environ"))
    triton_amd = (
        name == "flash-attn"
        and bool(facts.torch_hip)
        and environ.get("FLASH_ATTENTION_TRITON_AMD_ENABLE") == "TRUE"
    )
    if imp:
        part.evidence.append(f"import {imp.get('module')}: {'ok' if imp.get('ok') else imp.get('error')}")
    if triton_amd and imp.get("ok") is not False:
        part.evidence.append(
            "FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE: FlashAttention's Triton backend on ROCm"
        )
        return part
    if imp.get("ok"):
        part.problems.append(
            (
                "warn",
                f"built without its compiled extension ({module}): it imports, but its compiled kernels are missing",
            )
        )
        part.fixes.append(missing_extension_fix(name, facts))
    elif (
        imp or name == "flash-attn"
    ):  # flash_attn_interface imports flash_attn_2_cuda (unless Triton on ROCm)
        how = f"`import {imp.get('module')}` fails" if imp else "`import flash_attn` fails without it"
        part.problems.append(("fail", f"installed without its compiled extension ({module}): {how}"))
        part.fixes.append(missing_extension_fix(name, facts))
    else:
        part.problems.append(("warn", f"installed without its compiled extension ({module})"))
        part.fixes.append(missing_extension_fix(name, facts))
    return part


def missing_extension_fix(name: str, facts: MachineFacts) -> str:
    if name == "flash-attn" and facts.torch_hip:
        return (
            "on ROCm, set FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE where it runs (its Triton backend), or build the CK "
            "backend: GPU_ARCHS=<gfx> `uv pip install flash-attn --no-build-isolation`"
        )
    if name == "flash-attn":
        return (
            "this is the wheel flash-attn's setup.py builds when FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE and its "
            "prebuilt wheel cannot be downloaded (Python files only); " + rebuild_fix(name, facts)
        )
    return f"reinstall {name} from a wheel that has it: `uv sync --reinstall-package {name}`"


def _extension(
    info: Mapping[str, Any],
    probe: Mapping[str, Any],
    facts: MachineFacts,
    name: str,
    built: dict[str, str] | None,
) -> _Part:
    load = as_dict(info.get("load"))
    if not load:
        return _Part()
    if load.get("ok"):
        return _Part(evidence=[f"{_loaded(load, name)}: ok"])
    if load.get("ok") is None:
        return _missing_extension(info, probe, facts, name)
    return _failed_load(load, facts, name, built)


def _runtime(info: Mapping[str, Any], facts: MachineFacts, name: str) -> _Part:
    """The CUDA runtime its binaries link, against torch's."""
    part = _Part()
    links = cudart(info)
    for major, files in sorted(links.items()):
        part.evidence.append(
            f"links libcudart.so.{major}: {', '.join(files[:3])}{' ...' if len(files) > 3 else ''}"
        )
    if facts.torch_cuda and links and facts.torch_cuda.major not in links:
        majors = "/".join(str(m) for m in sorted(links))
        part.problems.append(
            ("fail", f"its binaries link the CUDA {majors} runtime, torch uses CUDA {facts.torch_cuda}")
        )
        part.fixes.append(
            f"install the {name} build for CUDA {facts.torch_cuda.major} (or the torch build for CUDA {majors})"
        )
    return part


def _pins(info: Mapping[str, Any], probe: Mapping[str, Any], facts: MachineFacts, name: str) -> _Part:
    part = _Part()
    version = info.get("version")
    from llmenv.base.model import admits

    for req in _torch_pins(info, as_dict(probe.get("markers"))):
        part.evidence.append(f"requires {req}")
        fits, relaxed = admits(req.specifier, str(facts.torch_version)) if facts.torch_version else (True, None)
        if relaxed:  # NVIDIA's torch 2.6.0a0+… is its build of 2.6.0 (llmenv.base.model.admits)
            part.evidence.append(f"{req} is relaxed for torch {facts.torch_version}: {relaxed}")
        if facts.torch_version and req.specifier and not fits:
            part.problems.append(
                ("fail", f"{name} {version} requires {req}, but torch {facts.torch_version} is installed")
            )
            part.fixes.append(
                f"let uv resolve them together (`uv sync`; `llmenv plan {name}=={version}` shows the torch it "
                "needs) or pick the release built for the installed torch"
            )
    return part


def check_package(
    probe: Mapping[str, Any],
    facts: MachineFacts,
    kb: Knowledge,
    name: str,
    *,
    built: tuple[dict[str, str], str] | None = None,
) -> list[Finding]:
    """The common checks of one installed package; ``built``: what its wheel says it was built for, and where."""
    info = as_dict(as_dict(probe.get("packages")).get(name))
    if not info:
        return []
    version = info.get("version")
    part = _Part()
    if info.get("error"):
        part.problems.append(("fail", f"the probe could not read it: {info['error']}"))
    if built:
        b, where = built
        part.evidence.append(
            f"built for torch {b['torch']}, CUDA {b['cuda']}, cxx11abi{b['cxx11_abi']} (from {where})"
        )
    build_info = as_dict(info.get("build_info"))
    if build_info.get("torch"):
        part.evidence.append(
            f"built for torch {build_info.get('torch')}, Python {build_info.get('python')} ({build_info.get('file')})"
        )
    fixes_before = len(part.fixes)
    part.add(_extension(info, probe, facts, name, built[0] if built else None))
    runtime = _runtime(info, facts, name)
    if len(part.fixes) > fixes_before:  # a load failure's fix covers the runtime too
        runtime.fixes = []
    part.add(runtime)
    part.add(_pins(info, probe, facts, name))
    if part.problems:
        status = "fail" if any(st == "fail" for st, _ in part.problems) else "warn"
        return [
            Finding(
                check=name,
                status=status,
                summary=f"{name} {version}: " + "; ".join(text for _, text in part.problems),
                evidence=tuple(part.evidence),
                fix=" — ".join(dict.fromkeys(part.fixes)) or None,
            )
        ]
    return [Finding(check=name, status="ok", summary=f"{name} {version}", evidence=tuple(part.evidence))]


def rebuild_fix(name: str, facts: MachineFacts) -> str:
    t = facts.torch
    if not facts.torch_ok:
        return f"fix torch first (see the torch finding), then reinstall {name}: `uv sync --reinstall-package {name}`"
    if name == "flash-attn" and facts.torch_cuda is None and not facts.torch_hip:
        return (
            f"flash-attn runs on a CUDA (or ROCm) build of torch, and torch {t.get('version')} is CPU-only: install "
            "the GPU build of torch first (see torch.cuda), then the flash-attn wheel built for it "
            "(`llmenv plan flash-attn` finds it)"
        )
    if name == "flash-attn" and facts.torch_version:
        abi = "TRUE" if t.get("cxx11_abi") else "FALSE"
        cu = facts.torch_cuda.major if facts.torch_cuda else "?"
        return (
            f"install the flash-attn wheel built for torch {facts.torch_version.major}.{facts.torch_version.minor}, "
            f"cu{cu}, cxx11abi{abi} (`llmenv plan flash-attn` finds it), or build it against this torch: "
            "FLASH_ATTENTION_FORCE_BUILD=TRUE `uv pip install flash-attn --no-build-isolation`"
        )
    return f"reinstall {name} built for the installed torch {t.get('version')}: `uv sync --reinstall-package {name}`"
