"""What the checks share, read once from the probe's JSON: the torch build, the GPUs (NVIDIA, with their compute
capability; AMD, with their gfx target), the driver and its CUDA, the CPU architecture.

The readers here never fail: a missing or malformed reading is ``None`` / empty, and the checks say so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from llmenv.amd import gfx_from_override, gfx_from_target_version
from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.detect import parse_nvidia_smi_query, parse_proc_driver_version
from llmenv.errors import UsageError
from llmenv.knowledge import Knowledge
from llmenv.target import Gpu, gpus_from_capabilities, parse_driver_version

# ---------------------------------------------------------------------------------------------- reading


def as_dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


@dataclass(frozen=True, kw_only=True)
class AmdGpu:
    name: str
    gfx: str  # the LLVM target, e.g. gfx942 (feature suffixes such as ":sramecc+:xnack-" removed)


@dataclass(frozen=True, kw_only=True)
class MachineFacts:
    """What the checks share, read once from the probe output."""

    python: str | None
    torch: dict[str, Any]
    torch_version: Version | None
    torch_cuda: CudaVersion | None
    torch_ok: bool  # installed and importable
    gpus: tuple[Gpu, ...]
    gpus_from: str | None
    driver: str | None
    driver_from: str | None
    driver_cuda: CudaVersion | None
    driver_cuda_from: str | None
    torch_hip: str | None = None  # torch.version.hip of a ROCm build
    amd_gpus: tuple[AmdGpu, ...] = ()
    amd_gpus_from: str | None = None
    gfx_override: str | None = None  # HSA_OVERRIDE_GFX_VERSION as a target name, e.g. gfx1100
    machine: str | None = None  # platform.machine(): x86_64, aarch64


def parse_version(text: Any) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def parse_cuda(text: Any) -> CudaVersion | None:
    try:
        return parse_cuda_version(str(text)) if text else None
    except UsageError:
        return None


def _override(probe: Mapping[str, Any], key: str) -> str | None:
    """An ``LLMENV_DRIVER`` / ``LLMENV_GPU`` / ``LLMENV_CUDA`` value the probe saw (it wins, as in ``detect``)."""
    value = as_dict(as_dict(probe.get("driver")).get("override")).get(key)
    return str(value) if value else None


def _gpus(probe: Mapping[str, Any]) -> tuple[tuple[Gpu, ...], str | None]:
    driver = as_dict(probe.get("driver"))
    forced = _override(probe, "gpu")
    if forced:
        try:
            return gpus_from_capabilities(forced.split(",")), "LLMENV_GPU"
        except UsageError:
            pass  # a malformed override is ignored here, as a broken reading is
    found = []
    for g in as_list(as_dict(driver.get("libcuda")).get("gpus")):
        try:
            cap = tuple(int(x) for x in g["capability"])
            found.append(
                Gpu(
                    name=str(g.get("name") or "GPU"),
                    capability=(cap[0], cap[1]),
                    memory_mib=g.get("memory_mib"),
                )
            )
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    if found:
        return tuple(found), "libcuda"
    torch = as_dict(probe.get("torch"))
    for g in as_list(torch.get("devices")) if not torch.get("hip") else ():  # a ROCm torch's devices are AMD
        try:
            cap = tuple(int(x) for x in g["capability"])
            found.append(Gpu(name=str(g.get("name") or "GPU"), capability=(cap[0], cap[1])))
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    if found:
        return tuple(found), "torch.cuda"
    rows = parse_nvidia_smi_query(str(driver.get("nvidia_smi_query") or ""))
    if rows:
        return tuple(r["gpu"] for r in rows), "nvidia-smi"
    return (), None


def _driver(probe: Mapping[str, Any]) -> tuple[str | None, str | None]:
    driver = as_dict(probe.get("driver"))
    forced = _override(probe, "driver")
    if forced:
        try:
            return parse_driver_version(forced), "LLMENV_DRIVER"
        except UsageError:
            pass
    nvml = as_dict(driver.get("nvml")).get("version")
    if nvml:
        return str(nvml), "NVML"
    for path, text in sorted(
        as_dict(driver.get("files")).items(), key=lambda kv: not kv[0].startswith("/sys")
    ):
        v = parse_proc_driver_version(str(text))
        if v:
            return v, path
    rows = parse_nvidia_smi_query(str(driver.get("nvidia_smi_query") or ""))
    if rows:
        return str(rows[0]["driver"]), "nvidia-smi"
    return None, None


def _amd_gpus(probe: Mapping[str, Any]) -> tuple[tuple[AmdGpu, ...], str | None]:
    torch = as_dict(probe.get("torch"))
    if torch.get("hip"):
        found = [
            AmdGpu(name=str(d.get("name") or "AMD GPU"), gfx=str(d["gcn_arch"]).split(":")[0])
            for d in as_list(torch.get("devices"))
            if isinstance(d, dict) and d.get("gcn_arch")
        ]
        if found:
            return tuple(found), "torch.cuda.get_device_properties().gcnArchName"
    found = []
    for node in as_list(as_dict(as_dict(probe.get("driver")).get("amd")).get("kfd")):
        try:
            target = int(as_dict(node)["gfx_target_version"])
        except (KeyError, TypeError, ValueError):
            continue
        found.append(AmdGpu(name=str(node.get("name") or "AMD GPU"), gfx=gfx_from_target_version(target) or f"gfx target {target}"))
    return (tuple(found), "KFD topology (gfx_target_version)") if found else ((), None)


def machine_facts(probe: Mapping[str, Any], kb: Knowledge) -> MachineFacts:
    torch = as_dict(probe.get("torch"))
    driver, driver_from = _driver(probe)
    gpus, gpus_from = _gpus(probe)
    amd_gpus, amd_from = _amd_gpus(probe)
    override = as_dict(as_dict(probe.get("driver")).get("amd")).get("hsa_override_gfx_version") or as_dict(
        probe.get("environ")
    ).get("HSA_OVERRIDE_GFX_VERSION")
    driver_cuda, driver_cuda_from = None, None
    raw = as_dict(as_dict(probe.get("driver")).get("libcuda")).get("cuda_driver_version")
    forced_cuda = _override(probe, "cuda")
    if forced_cuda and forced_cuda.lower() != "cpu" and parse_cuda(forced_cuda):
        driver_cuda, driver_cuda_from = parse_cuda(forced_cuda), "LLMENV_CUDA"
    elif driver_from == "LLMENV_DRIVER":
        # The overridden driver's CUDA, not the one libcuda reports for the real driver (as in ``detect``).
        try:
            driver_cuda = kb.cuda.max_cuda(driver) if driver else None
        except InvalidVersion:
            driver_cuda = None
        driver_cuda_from = "LLMENV_DRIVER (CUDA release notes, Table 3)" if driver_cuda else None
    elif isinstance(raw, int) and raw > 0:
        driver_cuda, driver_cuda_from = (
            CudaVersion(raw // 1000, raw % 1000 // 10),
            f"cuDriverGetVersion() = {raw}",
        )
    elif driver:
        try:
            driver_cuda = kb.cuda.max_cuda(driver)
        except InvalidVersion:
            driver_cuda = None
        driver_cuda_from = "the driver's version (CUDA release notes, Table 3)" if driver_cuda else None
    return MachineFacts(
        python=as_dict(probe.get("python")).get("version"),
        torch=torch,
        torch_version=parse_version(torch.get("version") or torch.get("dist_version")),
        torch_cuda=parse_cuda(torch.get("cuda")),
        torch_ok=bool(torch.get("installed")) and not torch.get("import_error") and "version" in torch,
        gpus=gpus,
        gpus_from=gpus_from,
        driver=driver,
        driver_from=driver_from,
        driver_cuda=driver_cuda,
        driver_cuda_from=driver_cuda_from,
        torch_hip=str(torch["hip"]) if torch.get("hip") else None,
        amd_gpus=amd_gpus,
        amd_gpus_from=amd_from,
        gfx_override=gfx_from_override(str(override)) if override else None,
        machine=str(as_dict(probe.get("platform")).get("machine") or "") or None,
    )


def driver_str(v: Version | str | None) -> str:
    """A driver version as NVIDIA writes it: ``Version("580.65.06")`` prints ``580.65.6``; this gives ``580.65.06``."""
    if v is None:
        return "?"
    if isinstance(v, str):
        return v
    parts = [str(v.release[0])] + [f"{x:02d}" for x in v.release[1:]]
    return ".".join(parts)


def gpu_list(gpus: Sequence[Gpu]) -> str:
    return ", ".join(f"{g.name} (cc {g.cc})" for g in gpus)


def amd_list(gpus: Sequence[AmdGpu]) -> str:
    return ", ".join(f"{g.name} ({g.gfx})" for g in gpus)


def codes_text(names: Iterable[str]) -> str:
    return " ".join(names) or "none"
