"""Doctor's check of a project that reuses a base (``[tool.llmenv.base]``): does the environment see the base's
torch, and does nothing shadow it?

Read statically from the environment's site-packages and the base's folders (the probe, when there is one,
adds where ``import torch`` really came from). One finding, ``base``:

* fail: the environment is not linked to the base (no ``_llmenv_base.pth`` or one naming other folders); the
  base's folders are gone (another image); a copy of torch, its family, triton or a CUDA library wheel in the
  environment (it shadows the base's); torch imported from anywhere but the base; a package in the environment
  whose requirement on a torch-linked base package the base's version does not meet;
* warn: the base's torch is not the one the project was made for (the image changed); a copy of another base
  package; an unmet requirement on another base package;
* ok: otherwise, naming the base torch and the relaxed pins (``torch==2.6.0`` on NVIDIA's ``2.6.0a0+…``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from llmenv.base.link import PTH_NAME, linked_site, site_packages
from llmenv.base.model import BasePackage, BaseRecord, admits, torch_linked
from llmenv.base.project import shadows
from llmenv.base.read import read_packages
from llmenv.doctor.findings import Finding

__all__ = ["check_base"]

CHECK = "base"


def _link_problem(venv: Path, record: BaseRecord) -> str | None:
    pth = site_packages(venv, record.python_version) / PTH_NAME
    try:
        linked = linked_site(pth.read_text(encoding="utf-8"))
    except OSError:
        return f"{pth} is missing: the environment does not see the base's packages"
    if linked != record.site:
        return f"{pth} links {list(linked)}, the project's base is {list(record.site)}"
    return None


def _unmet(
    own: Mapping[str, BasePackage], base: Mapping[str, BasePackage], markers: Mapping[str, str]
) -> tuple[list[tuple[str, bool]], list[str]]:
    """Requirements of the environment's packages on base packages: (unmet lines with fatality, relaxed lines)."""
    here: Mapping[str, Any] = default_environment()
    env = {k: str(v) for k, v in {**here, **markers}.items()}
    env["extra"] = ""
    unmet: list[tuple[str, bool]] = []
    relaxed: list[str] = []
    for pkg in own.values():
        for text in pkg.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonicalize_name(req.name)
            if name not in base or name in own or (req.marker and not req.marker.evaluate(env)):
                continue
            ok, why = admits(req.specifier, base[name].version)
            if not ok:
                line = f"{pkg.name} {pkg.version} requires {req.name}{req.specifier}; the base has {base[name].version}"
                unmet.append((line, torch_linked(name)))
            elif why:
                relaxed.append(
                    f"{pkg.name} {pkg.version} requires {req.name}{req.specifier}, relaxed for the base's "
                    f"{base[name].version}: {why}"
                )
    return unmet, relaxed


def _probe_torch(probe: Mapping[str, Any] | None, record: BaseRecord) -> str | None:
    t = probe.get("torch") if probe else None
    if not isinstance(t, dict) or not t.get("location"):
        return None
    where = os.path.normpath(str(t["location"]))
    if any(where == os.path.join(s, "torch") for s in map(os.path.normpath, record.site)):
        return None
    return f"import torch loads {where}, not the base's"


def check_base(venv: Path, record: BaseRecord, probe: Mapping[str, Any] | None = None) -> list[Finding]:
    """The ``base`` finding for the environment ``venv`` of a project reusing the base ``record``."""
    fails: list[str] = []
    warns: list[str] = []
    evidence = [
        f"base interpreter {record.python} (Python {record.python_version}), folders {list(record.site)}"
    ]
    missing = [s for s in record.site if not os.path.isdir(s)]
    if missing:
        fails.append(f"the base's folders {missing} do not exist here (another image?)")
    problem = _link_problem(venv, record)
    if problem:
        fails.append(problem)
    base = read_packages(record.site)
    torch = base.get("torch")
    if torch is None:
        fails.append("the base has no torch")
    elif record.torch and torch.version != record.torch:
        warns.append(f"the base's torch is {torch.version}; the project was made for {record.torch}")
    else:
        evidence.append(f"base torch {torch.version} in {torch.location}")
    for s in shadows(venv, record):
        text = f"the environment has its own {s.name} {s.version} ({s.where}), shadowing the base's {s.base_version}"
        (fails if s.fatal else warns).append(text)
    seen = _probe_torch(probe, record)
    if seen:
        fails.append(seen)
    markers = probe.get("markers") if probe and isinstance(probe.get("markers"), dict) else {}
    own = read_packages([str(site_packages(venv, record.python_version))])
    unmet, relaxed = _unmet(own, base, markers or {})
    fails += [line for line, fatal in unmet if fatal]
    warns += [line for line, fatal in unmet if not fatal]
    evidence += relaxed
    return [_finding(fails, warns, evidence, torch)]


def _finding(fails: list[str], warns: list[str], evidence: list[str], torch: BasePackage | None) -> Finding:
    if fails:
        return Finding(
            check=CHECK,
            status="fail",
            summary=fails[0],
            evidence=tuple(fails[1:] + warns + evidence),
            fix="`llmenv sync` links the environment again; a second torch comes from a dependency that is not in "
            "[tool.uv] exclude-dependencies: re-run `llmenv init --base-python ...`, then "
            "`uv pip uninstall --python <env> <name>`",
        )
    if warns:
        return Finding(
            check=CHECK,
            status="warn",
            summary=warns[0],
            evidence=tuple(warns[1:] + evidence),
            fix="re-run `llmenv init --base-python ...` for this image, then `llmenv sync`",
        )
    version = torch.version if torch else "?"
    return Finding(
        check=CHECK,
        status="ok",
        summary=f"uses the base's torch {version}; nothing in the environment shadows it",
        evidence=tuple(evidence),
    )
