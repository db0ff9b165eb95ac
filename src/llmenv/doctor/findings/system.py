"""The interpreter and the system: the Python the binaries were built for, glibc, the CUDA compiler."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag

from llmenv.detect import parse_nvcc_version
from llmenv.doctor.findings.facts import (
    MachineFacts,
    as_dict,
    as_list,
    parse_cuda,
)
from llmenv.doctor.findings.model import Finding
from llmenv.knowledge import Knowledge


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


def parse_tags(strings: Iterable[str]) -> set[Tag]:
    out: set[Tag] = set()
    for s in strings:
        try:
            out |= parse_tag(str(s))
        except ValueError:
            continue
    return out


def check_python(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    py = as_dict(probe.get("python"))
    version = str(py.get("version") or "")
    if not re.match(r"^\d+\.\d+", version):
        return [Finding(check="python", status="fail", summary="the probe could not read the Python version")]
    free = bool(py.get("free_threaded"))
    evidence = [f"{py.get('implementation', 'cpython')} {version} at {py.get('executable')}"]
    if free:
        evidence.append("free-threaded build (no GIL)")
    accepted = _python_tags(version, free)
    wrong = []
    for b in as_list(probe.get("binaries")):
        tags = parse_tags(as_list(as_dict(b).get("tags")))
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


def check_nvcc(
    probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge, *, builds_from_source: bool | None
) -> list[Finding]:
    tk = as_dict(probe.get("toolkit"))
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
    env_home = as_dict(probe.get("environ")).get("CUDA_HOME")
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
    cuda = parse_cuda(nvcc)
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


_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _manylinux(platform: str) -> tuple[int, int] | None:
    m = _MANYLINUX.match(platform)
    if m:
        return int(m.group(1)), int(m.group(2))
    return _LEGACY.get(platform.split("_", 1)[0])


def glibc_tuple(text: Any) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", str(text or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_glibc(probe: Mapping[str, Any], facts: MachineFacts, kb: Knowledge) -> list[Finding]:
    plat = as_dict(probe.get("platform"))
    glibc = glibc_tuple(plat.get("glibc"))
    if glibc is None:
        return [
            Finding(
                check="glibc",
                status="ok",
                summary=f"not a glibc system ({plat.get('system')}): nothing to check",
            )
        ]
    packages = as_dict(probe.get("packages"))
    needs: list[tuple[tuple[int, int], str, str]] = []  # (glibc, package, how we know)
    for b in as_list(probe.get("binaries")):
        name = str(as_dict(b).get("name"))
        tags = parse_tags(as_list(b.get("tags")))
        floors = [m for m in (_manylinux(t.platform) for t in tags) if m]
        if floors:
            need = min(floors)
            needs.append((need, f"{name} {b.get('version')}", f"manylinux_{need[0]}_{need[1]} wheel"))
        elif any(t.platform.startswith("linux_") for t in tags):
            libs = [
                glibc_tuple(lib.get("glibc")) for lib in as_list(as_dict(packages.get(name)).get("libraries"))
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
