"""The doctor's judgement: pure functions from the probe's JSON to findings (``ok | warn | fail``).

One function per check, each ``check_X(probe, ...) -> list[Finding]`` (empty when the check does not apply, e.g.
a package that is not installed). ``diagnose`` runs them all in a fixed order. Nothing here touches the machine:
the probe (``probe.py``) read it, so a captured probe output replays to the very same findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion, parse_cuda_version
from llmenv.cuda_arch import ArchCode, covers, parse_arch_list
from llmenv.detect import parse_nvcc_version, parse_nvidia_smi_query, parse_proc_driver_version
from llmenv.errors import UsageError
from llmenv.knowledge import Knowledge
from llmenv.target import Gpu, gpus_from_capabilities, parse_driver_version

__all__ = [
    "CHECKS",
    "STATUSES",
    "Finding",
    "MachineFacts",
    "Report",
    "diagnose",
    "machine_facts",
    "probe_failed",
]

STATUSES = ("ok", "warn", "fail")

# Packages checked for the CUDA runtime they link and their torch pin, in report order.
PACKAGES = (
    "flash-attn",
    "vllm",
    "sglang",
    "sgl-kernel",
    "xformers",
    "flashinfer-python",
    "flashinfer-jit-cache",
)
# FlashAttention-2 runs on Ampere, Ada and Hopper and newer (README; facts C3): sm_80 is the floor.
FA2_MIN_CC = (8, 0)


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: str
    status: str  # ok | warn | fail
    summary: str
    evidence: tuple[str, ...] = ()
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"finding status must be one of {STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            check=str(d["check"]),
            status=str(d["status"]),
            summary=str(d["summary"]),
            evidence=tuple(str(e) for e in d.get("evidence") or ()),
            fix=d.get("fix"),
        )


@dataclass(frozen=True, kw_only=True)
class Report:
    python: str  # the interpreter inspected
    findings: tuple[Finding, ...]

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    @property
    def failed(self) -> bool:
        return self.count("fail") > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "findings": [f.to_dict() for f in self.findings],
            **{s: self.count(s) for s in STATUSES},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(python=str(d["python"]), findings=tuple(Finding.from_dict(f) for f in d["findings"]))


# ---------------------------------------------------------------------------------------------- reading


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


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


def _version(text: Any) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def _cuda(text: Any) -> CudaVersion | None:
    try:
        return parse_cuda_version(str(text)) if text else None
    except UsageError:
        return None


def _override(probe: Mapping[str, Any], key: str) -> str | None:
    """An ``LLMENV_DRIVER`` / ``LLMENV_GPU`` / ``LLMENV_CUDA`` value the probe saw (it wins, as in ``detect``)."""
    value = _dict(_dict(probe.get("driver")).get("override")).get(key)
    return str(value) if value else None


def _gpus(probe: Mapping[str, Any]) -> tuple[tuple[Gpu, ...], str | None]:
    driver = _dict(probe.get("driver"))
    forced = _override(probe, "gpu")
    if forced:
        try:
            return gpus_from_capabilities(forced.split(",")), "LLMENV_GPU"
        except UsageError:
            pass  # a malformed override is ignored here, as a broken reading is
    found = []
    for g in _list(_dict(driver.get("libcuda")).get("gpus")):
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
    for g in _list(_dict(probe.get("torch")).get("devices")):
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
    driver = _dict(probe.get("driver"))
    forced = _override(probe, "driver")
    if forced:
        try:
            return parse_driver_version(forced), "LLMENV_DRIVER"
        except UsageError:
            pass
    nvml = _dict(driver.get("nvml")).get("version")
    if nvml:
        return str(nvml), "NVML"
    for path, text in sorted(_dict(driver.get("files")).items(), key=lambda kv: not kv[0].startswith("/sys")):
        v = parse_proc_driver_version(str(text))
        if v:
            return v, path
    rows = parse_nvidia_smi_query(str(driver.get("nvidia_smi_query") or ""))
    if rows:
        return str(rows[0]["driver"]), "nvidia-smi"
    return None, None


def machine_facts(probe: Mapping[str, Any], kb: Knowledge) -> MachineFacts:
    torch = _dict(probe.get("torch"))
    driver, driver_from = _driver(probe)
    gpus, gpus_from = _gpus(probe)
    driver_cuda, driver_cuda_from = None, None
    raw = _dict(_dict(probe.get("driver")).get("libcuda")).get("cuda_driver_version")
    forced_cuda = _override(probe, "cuda")
    if forced_cuda and forced_cuda.lower() != "cpu" and _cuda(forced_cuda):
        driver_cuda, driver_cuda_from = _cuda(forced_cuda), "LLMENV_CUDA"
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
        python=_dict(probe.get("python")).get("version"),
        torch=torch,
        torch_version=_version(torch.get("version") or torch.get("dist_version")),
        torch_cuda=_cuda(torch.get("cuda")),
        torch_ok=bool(torch.get("installed")) and not torch.get("import_error") and "version" in torch,
        gpus=gpus,
        gpus_from=gpus_from,
        driver=driver,
        driver_from=driver_from,
        driver_cuda=driver_cuda,
        driver_cuda_from=driver_cuda_from,
    )


def _driver_str(v: Version | str | None) -> str:
    """A driver version as NVIDIA writes it: ``Version("580.65.06")`` prints ``580.65.6``; this gives ``580.65.06``."""
    if v is None:
        return "?"
    if isinstance(v, str):
        return v
    parts = [str(v.release[0])] + [f"{x:02d}" for x in v.release[1:]]
    return ".".join(parts)


def _gpu_list(gpus: Sequence[Gpu]) -> str:
    return ", ".join(f"{g.name} (cc {g.cc})" for g in gpus)


def _codes(names: Iterable[str]) -> str:
    return " ".join(names) or "none"


# ---------------------------------------------------------------------------------------------- checks


def _python_tags(version: str, free_threaded: bool) -> set[tuple[str, str]]:
    """(interpreter, abi) pairs a CPython of this version accepts: cp312-cp312, cp312-abi3 ... cp32-abi3, py3-none."""
    major, minor = (int(x) for x in version.split(".")[:2])
    abi = f"cp{major}{minor}{'t' if free_threaded else ''}"
    pairs = {(t.interpreter, t.abi) for t in cpython_tags((major, minor), abis=[abi], platforms=["p"])}
    pairs |= {
        (t.interpreter, t.abi)
        for t in compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=["p"])
    }
    return pairs


def _tags(strings: Iterable[str]) -> set[Tag]:
    out: set[Tag] = set()
    for s in strings:
        try:
            out |= parse_tag(str(s))
        except ValueError:
            continue
    return out


def check_python(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    py = _dict(probe.get("python"))
    version = str(py.get("version") or "")
    if not re.match(r"^\d+\.\d+", version):
        return [Finding(check="python", status="fail", summary="the probe could not read the Python version")]
    free = bool(py.get("free_threaded"))
    evidence = [f"{py.get('implementation', 'cpython')} {version} at {py.get('executable')}"]
    if free:
        evidence.append("free-threaded build (no GIL)")
    accepted = _python_tags(version, free)
    wrong = []
    for b in _list(probe.get("binaries")):
        tags = _tags(_list(_dict(b).get("tags")))
        if tags and not any((t.interpreter, t.abi) in accepted for t in tags):
            built = sorted({t.interpreter for t in tags})
            wrong.append(f"{b.get('name')} {b.get('version')} (built for {', '.join(built)})")
    release = kb.torch_release(facts.torch_version.public) if facts.torch_version else None
    short = ".".join(version.split(".")[:2])
    if wrong:
        return [
            Finding(
                check="python",
                status="fail",
                summary=f"{len(wrong)} installed binary package(s) were built for another Python than {short}",
                evidence=(*evidence, *wrong),
                fix="reinstall them for this interpreter: `uv sync --reinstall` (a copied or re-pointed .venv keeps "
                "the old Python's binaries)",
            )
        ]
    if release is not None and short not in release.python:
        return [
            Finding(
                check="python",
                status="warn",
                summary=f"torch {release.version} publishes no wheels for Python {short}",
                evidence=(*evidence, f"torch {release.version} supports Python {', '.join(release.python)}"),
                fix=f"use a Python torch {release.version} supports, e.g. `uv python pin {release.python[-1]}`",
            )
        ]
    return [Finding(check="python", status="ok", summary=f"Python {version}", evidence=tuple(evidence))]


def check_torch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    t = facts.torch
    if not t.get("installed"):
        return [
            Finding(
                check="torch",
                status="warn",
                summary="torch is not installed in this environment: nothing to check against",
                fix="add it with `llmenv init . torch` (picks the CUDA build for this machine), then `llmenv sync`",
            )
        ]
    if t.get("import_error") or "version" not in t:
        err = str(t.get("import_error") or _dict(probe.get("torch")).get("error") or "unknown error")
        evidence = [f"import torch: {err}"]
        if t.get("dist_version"):
            evidence.insert(0, f"installed distribution: torch {t['dist_version']}")
        missing = re.search(r"(lib[\w.+-]+\.so[\d.]*): cannot open shared object file", err)
        fix = "reinstall it: `uv sync --reinstall-package torch`"
        if missing:
            fix = (
                f"{missing.group(1)} is missing: torch's CUDA libraries come from the nvidia-* packages it requires; "
                "reinstall them with `uv sync --reinstall-package torch`, and do not point LD_LIBRARY_PATH at another CUDA"
            )
        return [
            Finding(
                check="torch",
                status="fail",
                summary="torch is installed but cannot be imported",
                evidence=tuple(evidence),
                fix=fix,
            )
        ]
    build = (
        f"CUDA {t.get('cuda')}"
        if t.get("cuda")
        else ("ROCm " + str(t["hip"]) if t.get("hip") else "CPU only")
    )
    evidence = [
        f"torch.__version__ = {t.get('version')}",
        f"torch.version.cuda = {t.get('cuda')}",
        f"torch._C._GLIBCXX_USE_CXX11_ABI = {t.get('cxx11_abi')}",
    ]
    if t.get("location"):
        evidence.append(f"at {t['location']}")
    return [
        Finding(
            check="torch",
            status="ok",
            summary=f"torch {t.get('version')} ({build}, "
            f"C++11 ABI {'TRUE' if t.get('cxx11_abi') else 'FALSE'})",
            evidence=tuple(evidence),
        )
    ]


def check_torch_cuda(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    if not facts.torch_ok:
        return []
    t = facts.torch
    gpus = facts.gpus
    evidence = [f"torch.cuda.is_available() = {bool(t.get('cuda_available'))}"]
    if gpus:
        evidence.append(f"GPUs ({facts.gpus_from}): {_gpu_list(gpus)}")
    evidence += [f"warning: {w}" for w in _list(t.get("cuda_warnings"))]
    if t.get("cuda_error"):
        evidence.append(f"error: {t['cuda_error']}")
    if facts.torch_cuda is None:
        if gpus:
            return [
                Finding(
                    check="torch.cuda",
                    status="fail",
                    summary=f"torch {t.get('version')} is a CPU-only build, but this machine has {len(gpus)} NVIDIA GPU(s)",
                    evidence=tuple(evidence),
                    fix="install a CUDA build of torch: `llmenv init . torch` routes torch to the PyTorch index of the "
                    "right CUDA variant (or `uv pip install torch --torch-backend=auto`)",
                )
            ]
        return [
            Finding(
                check="torch.cuda",
                status="ok",
                summary="CPU-only torch on a machine with no NVIDIA GPU",
                evidence=tuple(evidence),
            )
        ]
    if t.get("cuda_available"):
        n = len(_list(t.get("devices")))
        return [
            Finding(
                check="torch.cuda",
                status="ok",
                summary=f"CUDA is available to torch ({n} device(s))",
                evidence=tuple(evidence),
            )
        ]
    if gpus or facts.driver:
        return [
            Finding(
                check="torch.cuda",
                status="fail",
                summary="torch cannot use the GPU: torch.cuda.is_available() is False",
                evidence=tuple(evidence),
                fix="see the `driver` finding; also check CUDA_VISIBLE_DEVICES and that /dev/nvidia* is visible "
                "(containers need the NVIDIA runtime)",
            )
        ]
    return [
        Finding(
            check="torch.cuda",
            status="warn",
            summary=f"torch is a CUDA {facts.torch_cuda} build, but no NVIDIA GPU or driver is visible here",
            evidence=tuple(evidence),
            fix="nothing to do on a login or build node; on a GPU node, check the driver and CUDA_VISIBLE_DEVICES",
        )
    ]


def check_torch_arch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    if not facts.torch_ok or facts.torch_cuda is None:
        return []
    names = [str(a) for a in _list(facts.torch.get("arch_list"))]
    codes = parse_arch_list(names)
    evidence = [f"compiled for: {_codes(names)}"]
    if not codes:
        return [
            Finding(
                check="torch.arch",
                status="warn",
                summary="torch reports no compiled GPU architectures",
                evidence=tuple(evidence),
            )
        ]
    if not facts.gpus:
        return [
            Finding(
                check="torch.arch",
                status="ok",
                summary=f"torch is compiled for {_codes(names)}; no GPU here to check against",
                evidence=tuple(evidence),
            )
        ]
    return [
        _coverage(
            "torch.arch",
            "torch",
            codes,
            facts.gpus,
            evidence,
            fix_fail=lambda ccs: (
                "install a torch build compiled for "
                + ", ".join(ccs)
                + ": `llmenv plan "
                + " ".join(f"--gpu {c}" for c in ccs)
                + " torch` picks the variant"
            ),
        )
    ]


def _coverage(
    check: str,
    what: str,
    codes: Sequence[ArchCode],
    gpus: Sequence[Gpu],
    evidence: list[str],
    *,
    fix_fail: Callable[[list[str]], str],
) -> Finding:
    sass = [c for c in codes if not c.ptx]
    missing, jit = [], []
    for g in gpus:
        if covers(sass, g.capability):
            evidence.append(
                f"{g.name} (cc {g.cc}): SASS {', '.join(c.name for c in sass if c.runs_on(g.capability))}"
            )
        elif covers(codes, g.capability):
            jit.append(g)
            evidence.append(f"{g.name} (cc {g.cc}): only PTX, JIT-compiled by the driver at first use")
        else:
            missing.append(g)
            evidence.append(f"{g.name} (cc {g.cc}): no SASS for {g.sm} and no PTX it can JIT")
    if missing:
        ccs = sorted({g.cc for g in missing})
        return Finding(
            check=check,
            status="fail",
            summary=f"{what} has no code for {', '.join('cc ' + c for c in ccs)} ({_gpu_list(missing)})",
            evidence=tuple(evidence),
            fix=fix_fail(ccs),
        )
    if jit:
        return Finding(
            check=check,
            status="warn",
            summary=f"{what} runs on {_gpu_list(jit)} only through PTX JIT (slow first start; fails if the "
            "driver is older than the toolkit that wrote the PTX)",
            evidence=tuple(evidence),
            fix=fix_fail(sorted({g.cc for g in jit})).replace("install", "prefer", 1),
        )
    sms = ", ".join(sorted({g.sm for g in gpus}))
    return Finding(
        check=check, status="ok", summary=f"{what} has SASS for every GPU ({sms})", evidence=tuple(evidence)
    )


def check_driver(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    evidence = []
    if facts.driver:
        evidence.append(f"driver {facts.driver} (from {facts.driver_from})")
    if facts.driver_cuda:
        evidence.append(f"driver's CUDA {facts.driver_cuda} (from {facts.driver_cuda_from})")
    errors = [
        f"{k}: {v['error']}"
        for k, v in _dict(_dict(probe.get("driver"))).items()
        if isinstance(v, dict) and v.get("error")
    ]
    torch_cuda = facts.torch_cuda
    if torch_cuda:
        evidence.append(f"torch.version.cuda = {torch_cuda}")
    if not facts.driver and not facts.driver_cuda:
        evidence += errors
        if torch_cuda:
            return [
                Finding(
                    check="driver",
                    status="warn",
                    summary=f"no NVIDIA driver found: torch's CUDA {torch_cuda} build cannot use a GPU here",
                    evidence=tuple(evidence),
                    fix="on a GPU node install the NVIDIA driver (or run the container with the NVIDIA runtime)",
                )
            ]
        return [
            Finding(
                check="driver",
                status="ok",
                summary="no NVIDIA driver (nothing to check)",
                evidence=tuple(evidence),
            )
        ]
    if facts.driver_cuda is None:
        return [
            Finding(
                check="driver",
                status="warn",
                summary=f"driver {facts.driver} is older than any CUDA llmenv knows (11.8 needs 520.61.05)",
                evidence=tuple(evidence),
                fix="upgrade the NVIDIA driver",
            )
        ]
    head = f"driver {facts.driver or '?'} supports CUDA {facts.driver_cuda}"
    if torch_cuda is None:
        return [Finding(check="driver", status="ok", summary=head, evidence=tuple(evidence))]
    table = kb.cuda
    if table.runs(torch_cuda, driver_cuda=facts.driver_cuda, driver=facts.driver, policy="strict"):
        return [
            Finding(
                check="driver",
                status="ok",
                summary=f"{head}; torch's CUDA {torch_cuda} runs on it (strict rule)",
                evidence=tuple(evidence),
            )
        ]
    need = _driver_str(table.min_driver(torch_cuda))
    floor = _driver_str(table.major_floors.get(torch_cuda.major))
    if table.runs(torch_cuda, driver_cuda=facts.driver_cuda, driver=facts.driver, policy="minor"):
        evidence.append(f"CUDA {torch_cuda.major}.x minor-version compatibility needs driver >= {floor}")
        return [
            Finding(
                check="driver",
                status="warn",
                summary=f"{head}; torch's CUDA {torch_cuda} runs only through minor-version compatibility",
                evidence=tuple(evidence),
                fix=f"works for most code, but PTX JIT and features that need a newer driver fail; upgrade the driver to "
                f">= {need} or install torch's cu{facts.driver_cuda.major}{facts.driver_cuda.minor} build "
                f"(`llmenv plan torch` picks it)",
            )
        ]
    evidence.append(f"CUDA {torch_cuda} needs driver >= {need} (minor-version compatibility: >= {floor})")
    return [
        Finding(
            check="driver",
            status="fail",
            summary=f"{head}, but torch was built with CUDA {torch_cuda}: its kernels cannot run",
            evidence=tuple(evidence),
            fix=f"install a torch build for CUDA <= {facts.driver_cuda} (`llmenv plan torch` picks the variant), or "
            f"upgrade the driver to >= {need}",
        )
    ]


def check_nvcc(
    probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge, *, builds_from_source: bool | None
) -> list[Finding]:
    tk = _dict(probe.get("toolkit"))
    evidence = []
    home = tk.get("cuda_home")
    if home:
        evidence.append(f"CUDA_HOME = {home} (from {tk.get('cuda_home_source')})")
    nvcc_text = str(tk.get("nvcc_version_text") or "")
    nvcc = parse_nvcc_version(nvcc_text)
    if tk.get("nvcc"):
        evidence.append(f"nvcc {nvcc or '(version unreadable)'} at {tk['nvcc']}")
    if tk.get("nvcc_error"):
        evidence.append(f"nvcc --version: {tk['nvcc_error']}")
    if builds_from_source:
        evidence.append("the project builds packages from source (tool.uv build settings)")
    env_home = _dict(probe.get("environ")).get("CUDA_HOME")
    if env_home and not tk.get("cuda_home_exists"):
        return [
            Finding(
                check="nvcc",
                status="warn" if not builds_from_source else "fail",
                summary=f"CUDA_HOME points to {env_home}, which does not exist",
                evidence=tuple(evidence),
                fix="unset CUDA_HOME or point it at a CUDA toolkit",
            )
        ]
    if not nvcc:
        if builds_from_source:
            return [
                Finding(
                    check="nvcc",
                    status="fail",
                    summary="packages are built from source, but no CUDA compiler (nvcc) was found",
                    evidence=tuple(evidence),
                    fix=f"install {f'the CUDA {facts.torch_cuda}' if facts.torch_cuda else 'a CUDA'} toolkit "
                    "and set CUDA_HOME, or use prebuilt wheels (`llmenv plan flash-attn` finds one)",
                )
            ]
        return [
            Finding(
                check="nvcc",
                status="ok",
                summary="no CUDA compiler (nvcc): only needed when a package builds from source",
                evidence=tuple(evidence),
            )
        ]
    cuda = _cuda(nvcc)
    torch_cuda = facts.torch_cuda if facts.torch_ok else None
    head = f"nvcc {nvcc}"
    if torch_cuda is None or cuda is None:
        return [Finding(check="nvcc", status="ok", summary=head, evidence=tuple(evidence))]
    evidence.append(f"torch.version.cuda = {torch_cuda}")
    if cuda.major != torch_cuda.major:
        return [
            Finding(
                check="nvcc",
                status="fail" if builds_from_source else "warn",
                summary=f"{head} is CUDA {cuda.major}, torch is CUDA {torch_cuda.major}: torch refuses to build extensions "
                "with it",
                evidence=tuple(evidence),
                fix=f"point CUDA_HOME at a CUDA {torch_cuda} toolkit before building (flash-attn, deepspeed, ...), or "
                "use prebuilt wheels",
            )
        ]
    if cuda != torch_cuda:
        return [
            Finding(
                check="nvcc",
                status="ok",
                summary=f"{head} and torch's CUDA {torch_cuda} share a major version (builds work; torch warns)",
                evidence=tuple(evidence),
            )
        ]
    return [
        Finding(
            check="nvcc",
            status="ok",
            summary=f"{head} matches torch's CUDA {torch_cuda}",
            evidence=tuple(evidence),
        )
    ]


def check_nccl(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    if not facts.torch_ok or facts.torch_cuda is None:
        return []
    t = facts.torch
    evidence = []
    nccl_dists = [
        b for b in _list(probe.get("binaries")) if str(_dict(b).get("name", "")).startswith("nvidia-nccl-")
    ]
    for b in nccl_dists:
        evidence.append(f"{b.get('name')} {b.get('version')} installed")
    if not t.get("nccl"):
        if t.get("nccl_error"):
            evidence.append(f"torch.cuda.nccl.version(): {t['nccl_error']}")
        return [
            Finding(
                check="nccl",
                status="warn",
                summary="torch reports no NCCL: multi-GPU communication will fail",
                evidence=tuple(evidence),
                fix="reinstall torch: `uv sync --reinstall-package torch`",
            )
        ]
    evidence.insert(0, f"torch.cuda.nccl.version() = {t['nccl']}")
    wrong = [
        b
        for b in nccl_dists
        if re.fullmatch(r"nvidia-nccl-cu(\d+)", str(b.get("name")))
        and str(b["name"]).rsplit("cu", 1)[1] != str(facts.torch_cuda.major)
    ]
    if wrong:
        return [
            Finding(
                check="nccl",
                status="warn",
                summary=f"NCCL {t['nccl']}; {wrong[0].get('name')} is for another CUDA major than torch's "
                f"CUDA {facts.torch_cuda}",
                evidence=tuple(evidence),
                fix=f"remove it or pin the nvidia-nccl-cu{facts.torch_cuda.major} torch requires",
            )
        ]
    return [Finding(check="nccl", status="ok", summary=f"NCCL {t['nccl']}", evidence=tuple(evidence))]


_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _manylinux(platform: str) -> tuple[int, int] | None:
    m = _MANYLINUX.match(platform)
    if m:
        return int(m.group(1)), int(m.group(2))
    return _LEGACY.get(platform.split("_", 1)[0])


def _glibc_tuple(text: Any) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", str(text or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_glibc(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    plat = _dict(probe.get("platform"))
    glibc = _glibc_tuple(plat.get("glibc"))
    if glibc is None:
        return [
            Finding(
                check="glibc",
                status="ok",
                summary=f"not a glibc system ({plat.get('system')}): nothing to check",
            )
        ]
    packages = _dict(probe.get("packages"))
    needs: list[tuple[tuple[int, int], str, str]] = []  # (glibc, package, how we know)
    for b in _list(probe.get("binaries")):
        name = str(_dict(b).get("name"))
        tags = _tags(_list(b.get("tags")))
        floors = [m for m in (_manylinux(t.platform) for t in tags) if m]
        if floors:
            need = min(floors)
            needs.append((need, f"{name} {b.get('version')}", f"manylinux_{need[0]}_{need[1]} wheel"))
        elif any(t.platform.startswith("linux_") for t in tags):
            libs = [
                _glibc_tuple(lib.get("glibc")) for lib in _list(_dict(packages.get(name)).get("libraries"))
            ]
            known = [x for x in libs if x]
            if known:
                need = max(known)
                needs.append((need, f"{name} {b.get('version')}", f"GLIBC_{need[0]}.{need[1]} symbols"))
    have = f"{glibc[0]}.{glibc[1]}"
    too_new = sorted((n for n in needs if n[0] > glibc), reverse=True)
    if too_new:
        evidence = [f"glibc {have}"] + [f"{p} needs glibc >= {g[0]}.{g[1]} ({how})" for g, p, how in too_new]
        return [
            Finding(
                check="glibc",
                status="fail",
                summary=f"{len(too_new)} package(s) need a newer glibc than this system's {have}",
                evidence=tuple(evidence),
                fix="they were installed for another machine: lock with this machine's glibc (`uv sync` here) or pin "
                "releases that publish older manylinux wheels",
            )
        ]
    evidence = [f"glibc {have}"]
    if needs:
        g, p, how = max(needs)
        evidence.append(f"highest requirement: {p} needs glibc >= {g[0]}.{g[1]} ({how})")
    return [
        Finding(
            check="glibc",
            status="ok",
            summary=f"glibc {have} satisfies every installed binary wheel",
            evidence=tuple(evidence),
        )
    ]


# ---------------------------------------------------------------------------------------------- packages

_FA_LOCAL = re.compile(r"cu(\d+)torch(\d+\.\d+)cxx11abi(TRUE|FALSE)", re.IGNORECASE)


def _flash_attn_build(info: Mapping[str, Any]) -> tuple[dict[str, str], str] | None:
    """What a flash-attn wheel says it was built for: ``+cu12torch2.6cxx11abiFALSE`` in its version or file name."""
    candidates = []
    v = _version(info.get("version"))
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


def _cudart(info: Mapping[str, Any]) -> dict[int, list[str]]:
    """CUDA runtime major -> the package's libraries that link it (DT_NEEDED libcudart.so.N)."""
    out: dict[int, list[str]] = {}
    for lib in _list(info.get("libraries")):
        for n in _list(_dict(lib).get("needed")):
            m = re.fullmatch(r"libcudart\.so\.(\d+)", str(n))
            if m:
                out.setdefault(int(m.group(1)), []).append(str(lib.get("file")))
    return out


def _torch_pins(info: Mapping[str, Any], markers: Mapping[str, str]) -> list[Requirement]:
    env = {**markers, "extra": ""}
    pins = []
    for r in _list(info.get("requires")):
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


def _explain_load_error(error: str, facts: MachineFacts, built: dict[str, str] | None) -> tuple[str, list[str]]:
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


def check_package(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge, name: str) -> list[Finding]:
    info = _dict(_dict(probe.get("packages")).get(name))
    if not info:
        return []
    version = info.get("version")
    evidence: list[str] = []
    problems: list[str] = []
    fixes: list[str] = []
    if info.get("error"):
        problems.append(f"the probe could not read it: {info['error']}")
    built = _flash_attn_build(info) if name == "flash-attn" else None
    if built:
        b, where = built
        evidence.append(
            f"built for torch {b['torch']}, CUDA {b['cuda']}, cxx11abi{b['cxx11_abi']} (from {where})"
        )
    # the extension module, loaded in a separate process
    load = _dict(info.get("load"))
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
            fixes.append(_rebuild_fix(name, facts))
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
    pins = _torch_pins(info, _dict(probe.get("markers")))
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


def _rebuild_fix(name: str, facts: MachineFacts) -> str:
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


def check_flash_attn_arch(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    info = _dict(_dict(probe.get("packages")).get("flash-attn"))
    if not info:
        return []
    dump = _dict(info.get("cuobjdump"))
    gpus = facts.gpus
    old = [g for g in gpus if g.capability < FA2_MIN_CC]
    evidence = []
    if old:
        evidence.append("FlashAttention-2 supports Ampere (cc 8.0) and newer")
        return [
            Finding(
                check="flash-attn.arch",
                status="fail",
                summary=f"FlashAttention-2 does not run on {_gpu_list(old)}",
                evidence=tuple(evidence),
                fix="use PyTorch's SDPA attention (attn_implementation='sdpa') on these GPUs",
            )
        ]
    if not dump or (dump.get("error") and not dump.get("sass") and not dump.get("ptx")):
        why = "cuobjdump not found" if not dump else f"cuobjdump: {dump.get('error')}"
        return [
            Finding(
                check="flash-attn.arch",
                status="ok",
                summary=f"flash-attn's compiled architectures are unknown ({why})",
                evidence=(why,),
            )
        ]
    sass = [str(x) for x in _list(dump.get("sass"))]
    ptx = [str(x).replace("sm_", "compute_", 1) for x in _list(dump.get("ptx"))]
    codes = parse_arch_list(sass + ptx)
    evidence.append(f"cuobjdump: SASS {_codes(sass)}; PTX {_codes(ptx)}")
    if not codes:
        return [
            Finding(
                check="flash-attn.arch",
                status="fail" if gpus else "warn",
                summary="flash-attn's extension contains no GPU code",
                evidence=tuple(evidence),
                fix=_rebuild_fix("flash-attn", facts),
            )
        ]
    if not gpus:
        return [
            Finding(
                check="flash-attn.arch",
                status="ok",
                summary=f"flash-attn is compiled for {_codes(sass + ptx)}; no GPU here to check against",
                evidence=tuple(evidence),
            )
        ]
    return [
        _coverage(
            "flash-attn.arch",
            "flash-attn",
            codes,
            gpus,
            evidence,
            fix_fail=lambda ccs: (
                "build flash-attn for "
                + ", ".join(ccs)
                + ": FLASH_ATTN_CUDA_ARCHS="
                + ";".join(c.replace(".", "") for c in ccs)
                + " FLASH_ATTENTION_FORCE_BUILD=TRUE `uv pip install flash-attn --no-build-isolation`"
            ),
        )
    ]


# ---------------------------------------------------------------------------------------------- all

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


def diagnose(
    probe: Mapping[str, Any],
    *,
    kb: Knowledge,
    python: str | None = None,
    builds_from_source: bool | None = None,
) -> Report:
    """Every finding for one probe output, in report order."""
    exe = python or str(_dict(probe.get("python")).get("executable") or "python")
    if probe.get("error") and "torch" not in probe:
        return probe_failed(exe, "the probe failed", str(probe["error"]))
    facts = machine_facts(probe, kb)
    findings: list[Finding] = []
    for check in (check_python, check_torch, check_torch_cuda, check_torch_arch, check_driver):
        findings += check(probe, facts, kb)
    findings += check_nvcc(probe, facts, kb, builds_from_source=builds_from_source)
    findings += check_nccl(probe, facts, kb)
    findings += check_glibc(probe, facts, kb)
    findings += check_package(probe, facts, kb, "flash-attn")
    findings += check_flash_attn_arch(probe, facts, kb)
    for name in PACKAGES[1:]:
        findings += check_package(probe, facts, kb, name)
    return Report(python=exe, findings=tuple(findings))
