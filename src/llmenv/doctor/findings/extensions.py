"""flash-attn and the other compiled kernel packages (xformers, sgl-kernel, flashinfer): what they were built for,
and the checks every compiled package gets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from llmenv.doctor.findings.facts import (
    MachineFacts,
    as_dict,
    parse_version,
)
from llmenv.doctor.findings.model import Finding
from llmenv.doctor.findings.packages import check_package
from llmenv.knowledge import Knowledge

EXTENSIONS = ("sgl-kernel", "xformers", "flashinfer-python", "flashinfer-jit-cache")
_FA_LOCAL = re.compile(r"cu(\d+)torch(\d+\.\d+)cxx11abi(TRUE|FALSE)", re.IGNORECASE)


def flash_attn_build(info: Mapping[str, Any]) -> tuple[dict[str, str], str] | None:
    """What a flash-attn wheel says it was built for: ``+cu12torch2.6cxx11abiFALSE`` in its version or file name."""
    candidates = []
    v = parse_version(info.get("version"))
    if v is not None and v.local:
        candidates.append((v.local, f"its version, {v}"))
    url = str(info.get("direct_url") or "")
    if url:
        filename = url.rstrip("/").rsplit("/", 1)[-1]
        try:
            _, fv, _, _ = parse_wheel_filename(filename.replace("%2B", "+").replace("%2b", "+"))
            if fv.local:
                candidates.append((fv.local, f"the wheel it was installed from, {filename}"))
        except (InvalidWheelFilename, InvalidVersion):
            pass
    for local, where in candidates:
        m = _FA_LOCAL.search(local)
        if m:
            return {"cuda": m.group(1), "torch": m.group(2), "cxx11_abi": m.group(3).upper()}, where
    return None


def check_flash_attn(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    info = as_dict(as_dict(probe.get("packages")).get("flash-attn"))
    if not info:
        return []
    return check_package(probe, facts, kb, "flash-attn", built=flash_attn_build(info))


def check_extension(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge, name: str) -> list[Finding]:
    """xformers (its build info, cpp_lib.json, is read by the probe), sgl-kernel, flashinfer: the common checks."""
    return check_package(probe, facts, kb, name)
