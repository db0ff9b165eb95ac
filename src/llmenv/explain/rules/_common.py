"""What every rule family uses: the Rule record, fix constructors, readings of terms and tags."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Dep, Derivation, Log, Term


@dataclass(frozen=True)
class Rule:
    kind: str
    check: Callable[[Log], list[Cause]]
    doc: str


def fix_toml(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="pyproject")


def fix_cmd(title: str, edit: str) -> Fix:
    return Fix(title=title, edit=edit, kind="command")


def uv_derivations(log: Log) -> list[Derivation]:
    return [d for d in log.derivations if d.tool == "uv"]


def requirer_text(dep: Dep) -> str:
    if dep.src is not None:
        return dep.src.text
    return {"installed": "the environment", "the user": "you"}.get(dep.root or "", dep.root or "your project")


def is_pre(t: Term) -> bool:
    """Does the requirement ask for a pre-release? An exclusive upper bound does not: uv writes ``==1.26.*`` as
    ``>=1.26, <1.27.dev0`` (below 1.27's first pre-release) and then calls that "a pre-release marker"."""
    try:
        clauses = list(SpecifierSet(t.spec))
    except InvalidSpecifier:
        return any(v.is_prerelease for v in t.versions)
    for c in clauses:
        if c.operator in ("<", "!="):
            continue
        try:
            if Version(c.version.rstrip(".*").rstrip(".")).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


def local_label(t: Term) -> str | None:
    for v in t.versions:
        if v.local:
            return v.local
    return None


def platform_marker(tag: str) -> str | None:
    """A wheel platform tag as a PEP 508 marker: ``manylinux_2_28_aarch64`` -> linux and aarch64."""
    t = tag.strip("`").lower()
    if t.startswith("win"):
        return "sys_platform == 'win32'" + (" and platform_machine == 'ARM64'" if t.endswith("arm64") else "")
    if t.startswith("macosx"):
        arch = "arm64" if t.endswith("arm64") else "x86_64"
        return f"sys_platform == 'darwin' and platform_machine == '{arch}'"
    if "linux" in t:
        for arch in ("x86_64", "aarch64", "ppc64le", "s390x", "armv7l"):
            if t.endswith(arch):
                return f"sys_platform == 'linux' and platform_machine == '{arch}'"
    return None


def is_version(v: str) -> bool:
    try:
        Version(v)
    except InvalidVersion:
        return False
    return True


def major_minor(v: str) -> str | None:
    m = re.search(r"(\d+)\.(\d+)", v)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def next_minor(v: str) -> str:
    major, minor = v.split(".")
    return f"{major}.{int(minor) + 1}"


def wheel_name(url: str) -> str | None:
    """The distribution a wheel file (or URL) is of: ``.../flash_attn-2.8.3%2Bcu12...whl`` -> ``flash-attn``."""
    from urllib.parse import unquote

    try:
        return str(parse_wheel_filename(unquote(url.rsplit("/", 1)[-1]))[0])
    except (InvalidWheelFilename, InvalidVersion):
        return None


def python_in(spec: str) -> str | None:
    """The newest of 3.9..3.14 inside a Requires-Python spec (e.g. ``>=3.9,<3.13`` -> 3.12)."""
    try:
        s = SpecifierSet(spec.replace(" ", "").rstrip("."))
    except Exception:
        return None
    for minor in range(14, 8, -1):
        if Version(f"3.{minor}.0") in s or Version(f"3.{minor}.99") in s:
            return f"3.{minor}"
    return None


def newest_version(versions: Sequence[str]) -> str:
    best: tuple[Version, str] | None = None
    for v in versions:
        try:
            pv = Version(v)
        except InvalidVersion:
            continue
        if best is None or pv > best[0]:
            best = (pv, v)
    return best[1] if best else versions[-1]
