"""What every compiled package is checked for: its extension loads, the CUDA runtime it links, its torch pin."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def _cudart(info: Mapping[str, Any]) -> dict[int, list[str]]:
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
    m = re.search(r"(lib[\w.+-]+\.so[\d.]*): cannot open shared object file", error)
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
    evidence: list[str] = []
    problems: list[str] = []
    fixes: list[str] = []
    if info.get("error"):
        problems.append(f"the probe could not read it: {info['error']}")
    if built:
        b, where = built
        evidence.append(
            f"built for torch {b['torch']}, CUDA {b['cuda']}, cxx11abi{b['cxx11_abi']} (from {where})"
        )
    # the extension module, loaded in a separate process
    load = as_dict(info.get("load"))
    if load:
        if load.get("ok"):
            evidence.append(f"import {load.get('module')}: ok")
        elif load.get("ok") is None:
            evidence.append(f"import {load.get('module')}: {load.get('error')}")
        else:
            err = str(load.get("error") or "failed")
            evidence.append(f"import {load.get('module')}: {err}")
            reason, notes = _explain_load_error(err, facts, built[0] if built else None)
            evidence += notes
            problems.append(f"{load.get('module')} fails to load: {reason}")
            fixes.append(rebuild_fix(name, facts))
    # the CUDA runtime its binaries link
    cudart = _cudart(info)
    for major, files in sorted(cudart.items()):
        evidence.append(
            f"links libcudart.so.{major}: {', '.join(files[:3])}{' ...' if len(files) > 3 else ''}"
        )
    if facts.torch_cuda and cudart and facts.torch_cuda.major not in cudart:
        majors = "/".join(str(m) for m in sorted(cudart))
        problems.append(f"its binaries link the CUDA {majors} runtime, torch uses CUDA {facts.torch_cuda}")
        if not fixes:
            fixes.append(
                f"install the {name} build for CUDA {facts.torch_cuda.major} (or the torch build for CUDA {majors})"
            )
    # its torch pin
    pins = _torch_pins(info, as_dict(probe.get("markers")))
    for req in pins:
        evidence.append(f"requires {req}")
        if (
            facts.torch_version
            and req.specifier
            and not req.specifier.contains(facts.torch_version, prereleases=True)
        ):
            problems.append(f"{name} {version} requires {req}, but torch {facts.torch_version} is installed")
            fixes.append(
                f"let uv resolve them together (`uv sync`; `llmenv plan {name}=={version}` shows the torch it "
                "needs) or pick the release built for the installed torch"
            )
    if problems:
        return [
            Finding(
                check=name,
                status="fail",
                summary=f"{name} {version}: " + "; ".join(problems),
                evidence=tuple(evidence),
                fix=" — ".join(dict.fromkeys(fixes)) or None,
            )
        ]
    return [Finding(check=name, status="ok", summary=f"{name} {version}", evidence=tuple(evidence))]


def rebuild_fix(name: str, facts: MachineFacts) -> str:
    t = facts.torch
    if not facts.torch_ok:
        return f"fix torch first (see the torch finding), then reinstall {name}: `uv sync --reinstall-package {name}`"
    if name == "flash-attn" and facts.torch_version:
        abi = "TRUE" if t.get("cxx11_abi") else "FALSE"
        cu = facts.torch_cuda.major if facts.torch_cuda else "?"
        return (
            f"install the flash-attn wheel built for torch {facts.torch_version.major}.{facts.torch_version.minor}, "
            f"cu{cu}, cxx11abi{abi} (`llmenv plan flash-attn` finds it), or build it against this torch: "
            "FLASH_ATTENTION_FORCE_BUILD=TRUE `uv pip install flash-attn --no-build-isolation`"
        )
    return f"reinstall {name} built for the installed torch {t.get('version')}: `uv sync --reinstall-package {name}`"
