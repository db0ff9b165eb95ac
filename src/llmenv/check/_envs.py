"""The machines a universal lock resolves for, as marker environments (narrowed by ``environments``).

uv locks for every platform and Python the project allows. To ask "does this source apply on macOS?" or "can
these two requirements meet on some machine?" statically, we evaluate markers on a small sample: Linux
x86_64/aarch64, macOS arm64/x86_64 and Windows, times the Python minors ``requires-python`` allows, then keep the
ones ``[tool.uv] environments`` accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from packaging.markers import Marker
from packaging.version import Version

from llmenv.check._project import Project

__all__ = ["Env", "holds", "mask", "sample"]

_PLATFORMS = (
    ("linux", "x86_64", "Linux", "posix"),
    ("linux", "aarch64", "Linux", "posix"),
    ("darwin", "arm64", "Darwin", "posix"),
    ("darwin", "x86_64", "Darwin", "posix"),
    ("win32", "AMD64", "Windows", "nt"),
)
_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


@dataclass(frozen=True)
class Env:
    sys_platform: str
    machine: str
    python: str
    values: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        return f"{self.sys_platform} {self.machine}"

    @property
    def platform(self) -> tuple[str, str]:
        """(os, arch) as wheel tags and Targets name them: ("linux", "aarch64"), ("windows", "x86_64")."""
        os = {"win32": "windows"}.get(self.sys_platform, self.sys_platform)
        return os, {"AMD64": "x86_64"}.get(self.machine, self.machine)

    def as_dict(self, extra: str = "") -> dict[str, str]:
        d = dict(self.values)
        d["extra"] = extra
        return d


def _env(sys_platform: str, machine: str, system: str, os_name: str, python: str) -> Env:
    full = f"{python}.0"
    values = {
        "sys_platform": sys_platform,
        "platform_machine": machine,
        "platform_system": system,
        "os_name": os_name,
        "python_version": python,
        "python_full_version": full,
        "implementation_name": "cpython",
        "implementation_version": full,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
    }
    return Env(sys_platform, machine, python, tuple(sorted(values.items())))


def holds(marker: Marker | None, env: Env, extras: Iterable[str] = ("",)) -> bool:
    """Is ``marker`` true on ``env`` (for at least one of ``extras``)? A marker that cannot be evaluated counts as true."""
    if marker is None:
        return True
    for e in extras:
        try:
            if marker.evaluate(env.as_dict(e)):
                return True
        except Exception:  # an odd comparison (e.g. a version op on a non-version): do not guess "never"
            return True
    return False


def mask(marker: Marker | None, envs: tuple[Env, ...]) -> int:
    """Which of ``envs`` ``marker`` holds on, as bits (bit i: envs[i]); markers repeat, so this is cached."""
    if marker is None:
        return (1 << len(envs)) - 1
    return _mask(str(marker), envs)


@lru_cache(maxsize=8192)
def _mask(text: str, envs: tuple[Env, ...]) -> int:
    m = Marker(text)
    return sum(1 << i for i, e in enumerate(envs) if holds(m, e))


def _pythons(project: Project) -> list[str]:
    rp = project.requires_python
    if rp is None:
        return list(_PYTHONS)
    ok = [
        p
        for p in _PYTHONS
        if any(rp.contains(Version(f"{p}.{micro}"), prereleases=True) for micro in (0, 30))
    ]
    return ok or list(_PYTHONS)


def sample(project: Project, pythons: Iterable[str] | None = None) -> tuple[Env, ...]:
    """The sample machines this project's lock covers (for ``pythons`` instead of the minors requires-python
    allows, when given)."""
    minors = list(pythons) if pythons is not None else _pythons(project)
    envs = [_env(*plat, py) for plat in _PLATFORMS for py in minors]
    if project.environments:
        kept = [e for e in envs if any(holds(m, e) for m in project.environments)]
        if kept:
            return tuple(kept)
    return tuple(envs)
