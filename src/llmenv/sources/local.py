"""A local folder of wheels (``--wheels DIR``), read directly: each wheel's name, and from its METADATA (only the
zip's directory and that one member are read, so a 2 GB wheel costs a few kilobytes) the torch it requires —
which a stable-ABI build does not say in its name.

Sub-folders one level deep are read too (a mirror laid out per channel, ``DIR/cu128/…``); their name is the
file's ``at``.
"""

from __future__ import annotations

import email.parser
import email.policy
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["LocalWheel", "read_folder", "torch_requirement"]


@dataclass(frozen=True, kw_only=True)
class LocalWheel:
    path: Path
    at: str  # "" or the sub-folder's name
    name: str | None  # from METADATA (None when it cannot be read)
    version: str | None
    torch_requirement: str | None
    problem: str | None = None  # why the METADATA could not be read


def torch_requirement(requires_dist: list[str]) -> str | None:
    """The specifier of the unconditional ``torch`` requirement among Requires-Dist lines (``>=2.9``), or None."""
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == "torch" and (req.marker is None or "extra" not in str(req.marker)):
            return str(req.specifier) or None
    return None


def _metadata(path: Path) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        with zipfile.ZipFile(path) as z:
            name = next(
                (n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None
            )
            if name is None:
                return None, None, None, "no *.dist-info/METADATA"
            text = z.read(name).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        return None, None, None, f"not a readable wheel ({e})"
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    return msg.get("Name"), msg.get("Version"), torch_requirement(msg.get_all("Requires-Dist") or []), None


def read_folder(folder: Path) -> list[LocalWheel]:
    """The wheels in ``folder`` and its direct sub-folders, sorted by (at, file name)."""
    out = []
    paths = [(p, "") for p in folder.glob("*.whl")]
    paths += [(p, d.name) for d in folder.iterdir() if d.is_dir() for p in d.glob("*.whl")]
    for p, at in sorted(paths, key=lambda x: (x[1], x[0].name)):
        name, version, torch, problem = _metadata(p)
        out.append(
            LocalWheel(path=p, at=at, name=name, version=version, torch_requirement=torch, problem=problem)
        )
    return out
