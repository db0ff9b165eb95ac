"""AMD GPUs and the ROCm on a machine: pure parsers of what the kernel and AMD's tools print (facts H2, H3).

What a planner needs is the LLVM target of each GPU (``gfx942``: which code a ROCm torch build must carry) and the
host's ROCm release (which ROCm builds of torch its driver stack runs). Where they come from, in the order
detection asks (``llmenv.detect``):

1. the kernel's KFD topology, ``/sys/class/kfd/kfd/topology/nodes/*/properties``: a ``key value`` line per
   property; a GPU node has a non-zero ``gfx_target_version`` (CPU nodes: 0). No ROCm user space is needed.
2. ``amd-smi static --asic`` (``TARGET_GRAPHICS_VERSION: gfx950``), ``rocminfo`` (``Name: gfx942`` of GPU agents),
   ``rocm-smi --showproductname --json`` (whose ``GFX Version`` spells the stepping in decimal:
   ``gfx9010`` is gfx90a, not a target of its own).
3. the ROCm release: ``/opt/rocm/.info/version`` (``6.4.0-47``), else ``amd-smi version``
   (``ROCm version: 7.2.0``; ``N/A`` when none is installed).

Decoding ``gfx_target_version``: major = v // 10000, minor = (v // 100) % 100, stepping = v % 100, written
``gfx{major}{minor:x}{stepping:x}`` (90010 -> gfx90a, 90402 -> gfx942, 110501 -> gfx1151; Linux
``drivers/gpu/drm/amd/amdkfd/kfd_device.c``). Reading the GC IP version as a name is wrong on the 9.4.x line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmenv.backend import RocmVersion, parse_rocm_version
from llmenv.errors import UsageError

if TYPE_CHECKING:
    from llmenv.detect import System

__all__ = [
    "KNOWN_GFX",
    "AmdGpu",
    "gfx_from_override",
    "gfx_from_target_version",
    "kfd_gpu",
    "parse_amd_smi_static",
    "parse_amd_smi_version",
    "parse_gfx",
    "parse_kfd_properties",
    "parse_rocm_smi_json",
    "parse_rocm_version_file",
    "parse_rocminfo",
    "probe",
]

# LLVM targets of AMD GPUs ROCm has run on (ROCm/rocm-docs gpu-specs.rst @2b48ffc; the kernel's kfd_device.c
# table; facts amd_gpu_gfx.csv). gfx940 / gfx941 were pre-release MI300A / MI300X silicon (A0): their code does
# not run on production MI300 (ROCm/legacy-rocm-build#4825, iree-org/iree#19206).
KNOWN_GFX = frozenset(
    {
        "gfx900",
        "gfx906",
        "gfx908",
        "gfx90a",
        "gfx940",
        "gfx941",
        "gfx942",
        "gfx950",
        "gfx1030",
        "gfx1100",
        "gfx1101",
        "gfx1102",
        "gfx1103",
        "gfx1150",
        "gfx1151",
        "gfx1152",
        "gfx1200",
        "gfx1201",
    }
)
# PCI device ids seen in captures (facts amd_gpu_gfx.csv, [S]): a KFD node names only its id.
_PRODUCTS = {
    0x74A1: "AMD Instinct MI300X",
    0x75A0: "AMD Instinct MI350X",
    0x740C: "AMD Instinct MI250X/MI250",
    0x738C: "AMD Instinct MI100",
}
KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"


@dataclass(frozen=True, kw_only=True)
class AmdGpu:
    """One AMD GPU: its LLVM target (``gfx942``) is what ROCm builds are compiled for."""

    name: str
    gfx: str
    memory_mib: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "gfx": self.gfx, "memory_mib": self.memory_mib}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AmdGpu:
        return cls(
            name=str(d.get("name") or "AMD GPU"),
            gfx=parse_gfx(str(d["gfx"])),
            memory_mib=int(d["memory_mib"]) if d.get("memory_mib") is not None else None,
        )


def parse_gfx(text: str) -> str:
    """``gfx942``, ``GFX942``, ``gfx942:sramecc+:xnack-`` or ``amdgcn-amd-amdhsa--gfx942`` -> ``gfx942``.

    UsageError for a name no AMD GPU has (``gfx9420``, ``gfx1103x``)."""
    s = text.strip().lower()
    s = s.split("--")[-1].split(":")[0]
    if s not in KNOWN_GFX:
        raise UsageError(
            f"not an AMD GPU architecture llmenv knows: {text!r} (expected e.g. gfx90a, gfx942, gfx950, gfx1100)"
        )
    return s


def gfx_from_target_version(value: int) -> str | None:
    """KFD's ``gfx_target_version`` -> the LLVM target (90402 -> ``gfx942``); None for a CPU node (0) or a value
    that is no target (a minor or stepping over 15)."""
    if value <= 0:
        return None
    major, minor, stepping = value // 10000, (value // 100) % 100, value % 100
    if major == 0 or minor > 15 or stepping > 15:
        return None
    return f"gfx{major}{minor:x}{stepping:x}"


def gfx_from_override(text: str) -> str | None:
    """``HSA_OVERRIDE_GFX_VERSION`` (``11.0.0``, ``9.4.2``, ``10.3.0``) -> the target the runtime will load code
    for (``gfx1100``, ``gfx942``, ``gfx1030``); None when it is not of that form."""
    m = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{1,2})\s*", text)
    if not m:
        return None
    major, minor, stepping = (int(g) for g in m.groups())
    return gfx_from_target_version(major * 10000 + minor * 100 + stepping)


# ---------------------------------------------------------------------------------------------- parsers


def parse_kfd_properties(text: str) -> dict[str, int]:
    """A KFD topology ``properties`` file (``gfx_target_version 90402`` per line) -> its integer properties."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def kfd_gpu(properties: Mapping[str, int], memory_bytes: int | None = None) -> AmdGpu | None:
    """The GPU a KFD node describes (None for a CPU node or a target llmenv does not know)."""
    gfx = gfx_from_target_version(properties.get("gfx_target_version", 0))
    if gfx is None or gfx not in KNOWN_GFX:
        return None
    name = _PRODUCTS.get(properties.get("device_id", -1), f"AMD GPU ({gfx})")
    memory = memory_bytes or properties.get("local_mem_size") or None
    return AmdGpu(name=name, gfx=gfx, memory_mib=memory // (1024 * 1024) if memory else None)


def parse_rocminfo(text: str) -> list[AmdGpu]:
    """``rocminfo`` -> the GPU agents (``Device Type: GPU``), each with its ``Name: gfxNNN`` and marketing name.

    CPU agents and ISA lines (``amdgcn-amd-amdhsa--gfx11-generic``) are not GPUs."""
    gpus: list[AmdGpu] = []
    for agent in re.split(r"^\*{5,}\s*\nAgent \d+\s*\n\*{5,}\s*$", text, flags=re.MULTILINE)[1:]:
        fields: dict[str, str] = {}
        for line in agent.splitlines():
            m = re.match(r"^  (\S[^:]*?):\s+(.*?)\s*$", line)  # the agent's own fields (two spaces in)
            if m and m.group(1) not in fields:
                fields[m.group(1)] = m.group(2)
        if fields.get("Device Type") != "GPU":
            continue
        name = fields.get("Name", "")
        if not re.fullmatch(r"gfx[0-9a-f]+", name) or name not in KNOWN_GFX:
            continue
        gpus.append(AmdGpu(name=fields.get("Marketing Name") or f"AMD GPU ({name})", gfx=name))
    return gpus


def parse_amd_smi_static(text: str) -> list[AmdGpu]:
    """``amd-smi static --asic [--vram]`` -> one GPU per ``GPU: N`` block (``MARKET_NAME``,
    ``TARGET_GRAPHICS_VERSION``; ``VRAM: SIZE: 196592 MB`` when asked for)."""
    gpus: list[AmdGpu] = []
    for block in re.split(r"^GPU:\s*\d+\s*$", text, flags=re.MULTILINE)[1:]:
        target = re.search(r"^\s*TARGET_GRAPHICS_VERSION:\s*(\S+)", block, re.MULTILINE)
        if not target or target.group(1).lower() not in KNOWN_GFX:
            continue
        name = re.search(r"^\s*MARKET_NAME:\s*(.+?)\s*$", block, re.MULTILINE)
        vram = re.search(r"^\s*VRAM:\s*\n(?:\s+\w+:.*\n)*?\s+SIZE:\s*(\d+)\s*MB", block, re.MULTILINE)
        gfx = target.group(1).lower()
        gpus.append(
            AmdGpu(
                name=name.group(1) if name else f"AMD GPU ({gfx})",
                gfx=gfx,
                memory_mib=int(vram.group(1)) if vram else None,
            )
        )
    return gpus


def parse_amd_smi_version(text: str) -> RocmVersion | None:
    """``amd-smi version`` (``... | ROCm version: 7.2.0 | ...``) or the boxed header of ``amd-smi``
    (``ROCm version: 7.0.0``) -> the ROCm release; None when it says ``N/A``."""
    m = re.search(r"ROCm version:\s*([^|\s]+)", text)
    if not m or m.group(1).upper() == "N/A":
        return None
    try:
        return parse_rocm_version(m.group(1))
    except UsageError:
        return None


def _rocm_smi_gfx(raw: str) -> str | None:
    """rocm-smi's ``gfx`` + major, minor and stepping in decimal (``gfx9010`` = 9, 0, 10 = gfx90a): the one
    reading that is a known target."""
    s = raw.strip().lower()
    if s in KNOWN_GFX:
        return s
    digits = s.removeprefix("gfx")
    if not digits.isdigit():
        return None
    found = set()
    for n in (1, 2):  # major of one or two digits, minor of one, the rest the stepping
        if len(digits) > n + 1:
            v = int(digits[:n]) * 10000 + int(digits[n]) * 100 + int(digits[n + 1 :])
            gfx = gfx_from_target_version(v)
            if gfx in KNOWN_GFX:
                found.add(gfx)
    return found.pop() if len(found) == 1 else None


def parse_rocm_smi_json(text: str) -> list[AmdGpu]:
    """``rocm-smi --showproductname --json`` -> GPUs. Its ``GFX Version`` spells the stepping in decimal
    (``gfx9010`` is gfx90a; ROCm/rocm_smi_lib#159), so it is decoded, never taken as a name."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    gpus: list[AmdGpu] = []
    for card, fields in data.items() if isinstance(data, dict) else ():
        if not str(card).startswith("card") or not isinstance(fields, dict):
            continue
        gfx = _rocm_smi_gfx(str(fields.get("GFX Version", "")))
        if gfx is None:
            continue
        name = str(fields.get("Card Series") or fields.get("Device Name") or f"AMD GPU ({gfx})")
        gpus.append(AmdGpu(name=name, gfx=gfx))
    return gpus


def parse_rocm_version_file(text: str) -> RocmVersion | None:
    """``/opt/rocm/.info/version`` (one line ``6.4.0-47``) -> ROCm 6.4.0."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    try:
        return parse_rocm_version(line)
    except UsageError:
        return None


# ---------------------------------------------------------------------------------------------- probes


def _kfd(sys_: System) -> tuple[AmdGpu, ...] | None:
    """The GPUs of the KFD topology; None when there is none (no amdgpu driver loaded)."""
    nodes = sys_.listdir(KFD_NODES)
    if nodes is None:
        return None
    gpus = []
    for node in sorted((n for n in nodes if n.isdigit()), key=int):
        props = parse_kfd_properties(sys_.read_text(f"{KFD_NODES}/{node}/properties") or "")
        bank = parse_kfd_properties(sys_.read_text(f"{KFD_NODES}/{node}/mem_banks/0/properties") or "")
        vram = bank.get("size_in_bytes") if bank.get("heap_type") in (1, 2) else None  # FB public / private
        gpu = kfd_gpu(props, vram)
        if gpu is not None:
            gpus.append(gpu)
    return tuple(gpus)


def _tool(sys_: System, name: str, root: str) -> str:
    return sys_.which(name) or os.path.join(root, "bin", name)


def _tools(sys_: System, root: str) -> tuple[tuple[AmdGpu, ...], str] | None:
    """GPUs from AMD's tools, when KFD lists none of them (an unreadable topology): amd-smi, rocminfo, rocm-smi."""
    tries: tuple[tuple[str, list[str], Callable[[str], list[AmdGpu]]], ...] = (
        ("amd-smi", ["static", "--asic", "--vram"], parse_amd_smi_static),
        ("rocminfo", [], parse_rocminfo),
        ("rocm-smi", ["--showproductname", "--json"], parse_rocm_smi_json),
    )
    for name, argv, parse in tries:
        r = sys_.run([_tool(sys_, name, root), *argv])
        if r and r[0] == 0:
            gpus = parse(r[1])
            if gpus:
                return tuple(gpus), name
    return None


def _rocm_release(sys_: System, root: str) -> tuple[RocmVersion, str] | None:
    text = sys_.read_text(os.path.join(root, ".info", "version"))
    version = parse_rocm_version_file(text) if text else None
    if version is not None:
        return version, f"{root}/.info/version"
    r = sys_.run([_tool(sys_, "amd-smi", root), "version"])
    version = parse_amd_smi_version(r[1]) if r and r[0] == 0 else None
    return (version, "amd-smi version") if version is not None else None


def probe(sys_: System) -> dict[str, Any]:
    """AMD GPUs and the ROCm release of this machine: ``{"amd_gpus": ..., "rocm": ..., "origins": {...}}``.

    ``LLMENV_ROCM`` (a release, or ``none``) overrides the ROCm found; ``HSA_OVERRIDE_GFX_VERSION`` makes the
    runtime load code for another target, so the GPUs are planned as that target (said in the origins)."""
    env = sys_.environ
    root = env.get("ROCM_PATH") or "/opt/rocm"
    out: dict[str, Any] = {}
    origins: dict[str, str] = {}
    kfd = _kfd(sys_)
    gpus: tuple[AmdGpu, ...] = kfd or ()
    if kfd:
        origins["amd_gpus"] = "KFD topology (gfx_target_version)"
    elif kfd is not None:  # a KFD without readable GPU nodes: ask AMD's tools
        found = _tools(sys_, root)
        if found:
            gpus, origins["amd_gpus"] = found
    override = gfx_from_override(env.get("HSA_OVERRIDE_GFX_VERSION", ""))
    if gpus and override in KNOWN_GFX:
        gpus = tuple(
            AmdGpu(name=f"{g.name} (runs as {override})", gfx=override, memory_mib=g.memory_mib) for g in gpus
        )
        origins["amd_gpus"] += f", HSA_OVERRIDE_GFX_VERSION={env['HSA_OVERRIDE_GFX_VERSION'].strip()}"
    if gpus:
        out["amd_gpus"] = gpus
    if env.get("LLMENV_ROCM"):
        value = env["LLMENV_ROCM"].strip()
        out["rocm"] = None if value.lower() in ("none", "cpu") else parse_rocm_version(value)
        origins["rocm"] = "environment"
    elif gpus or kfd is not None:
        release = _rocm_release(sys_, root)
        if release is not None:
            out["rocm"], origins["rocm"] = release
    out["origins"] = origins
    return out
