"""The doctor's judgement: pure functions from the probe's JSON to findings (``ok | warn | fail``).

One function per check, each ``check_X(probe, facts, kb) -> list[Finding]`` (empty when the check does not apply,
e.g. a package that is not installed), grouped by area: ``system`` (Python, glibc, nvcc), ``torch_cuda`` (torch,
its CUDA, the driver, NCCL), ``arch`` (GPU architectures of the compiled code), ``packages`` (what every compiled
package is checked for), ``extensions`` (flash-attn, xformers...), ``engines`` (vLLM, SGLang). ``diagnose`` runs
them all in a fixed order. Nothing here touches the machine: the probe (``probe.py``) read it, so a captured probe
output replays to the very same findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmenv.doctor.findings.arch import check_flash_attn_arch, check_torch_arch
from llmenv.doctor.findings.engines import ENGINES, check_engine
from llmenv.doctor.findings.extensions import EXTENSIONS, check_extension, check_flash_attn
from llmenv.doctor.findings.facts import MachineFacts, as_dict, machine_facts
from llmenv.doctor.findings.lock import LockedSets, check_lock
from llmenv.doctor.findings.model import STATUSES, Finding, Report
from llmenv.doctor.findings.system import check_glibc, check_nvcc, check_python
from llmenv.doctor.findings.torch_cuda import check_driver, check_nccl, check_torch, check_torch_cuda
from llmenv.knowledge import Knowledge

__all__ = [
    "CHECKS",
    "PACKAGES",
    "STATUSES",
    "Finding",
    "MachineFacts",
    "Report",
    "diagnose",
    "machine_facts",
    "probe_failed",
]

# Packages checked for the CUDA runtime they link and their torch pin, in report order.
PACKAGES = ("flash-attn", *ENGINES, *EXTENSIONS)

CHECKS = (
    "python",
    "torch",
    "torch.cuda",
    "torch.arch",
    "driver",
    "nvcc",
    "nccl",
    "glibc",
    "flash-attn",
    "flash-attn.arch",
    *PACKAGES[1:],
    "lock",
)


def probe_failed(python: str, why: str, detail: str = "") -> Report:
    """The report when the probe itself could not run or said nothing readable."""
    return Report(
        python=python,
        findings=(
            Finding(
                check="probe",
                status="fail",
                summary=f"could not inspect {python}: {why}",
                evidence=(detail[-2000:],) if detail else (),
                fix="check that this interpreter runs (`"
                + python
                + " -c 'import sys'`); recreate the environment "
                "with `uv sync` if it does not",
            ),
        ),
    )


# The probe's sections each check reads: a partial probe output (the interpreter crashed or hung half-way) is
# judged only by the checks whose sections were read, so that nothing absent is reported as "not installed".
_NEEDS: dict[str, tuple[str, ...]] = {
    "python": ("python", "binaries"),
    "torch": ("torch", "driver"),
    "nvcc": ("toolkit", "torch"),
    "glibc": ("platform", "binaries"),
    "packages": ("packages", "torch", "driver"),
    "lock": ("distributions", "markers"),
}


def diagnose(
    probe: Mapping[str, Any],
    *,
    kb: Knowledge,
    python: str | None = None,
    builds_from_source: bool | None = None,
    lock: LockedSets | None = None,
    lock_error: str | None = None,
) -> Report:
    """Every finding for one probe output, in report order."""
    exe = python or str(as_dict(probe.get("python")).get("executable") or "python")
    if probe.get("error") and "torch" not in probe:
        return probe_failed(exe, "the probe failed", str(probe["error"]))
    partial = bool(probe.get("partial"))

    def runs(area: str) -> bool:
        return not partial or all(k in probe for k in _NEEDS[area])

    facts = machine_facts(probe, kb)
    findings: list[Finding] = []
    if runs("python"):
        findings += check_python(probe, facts, kb)
    if runs("torch"):
        for check in (check_torch, check_torch_cuda, check_torch_arch, check_driver):
            findings += check(probe, facts, kb)
    if runs("nvcc"):
        findings += check_nvcc(probe, facts, kb, builds_from_source=builds_from_source)
    if runs("torch"):
        findings += check_nccl(probe, facts, kb)
    if runs("glibc"):
        findings += check_glibc(probe, facts, kb)
    if runs("packages"):
        findings += check_flash_attn(probe, facts, kb)
        findings += check_flash_attn_arch(probe, facts, kb)
        for name in ENGINES:
            findings += check_engine(probe, facts, kb, name)
        for name in EXTENSIONS:
            findings += check_extension(probe, facts, kb, name)
    if runs("lock"):
        installed = {str(k): str(v) for k, v in as_dict(probe.get("distributions")).items()}
        markers = {str(k): str(v) for k, v in as_dict(probe.get("markers")).items()}
        findings += check_lock(lock, installed, markers, error=lock_error)
    return Report(python=exe, findings=tuple(findings))
