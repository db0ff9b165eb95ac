"""``llmenv ray-env``: a Ray runtime environment under which every worker runs inside the project's locked uv
environment.

Ray (>= 2.43) starts each worker with the command in the runtime environment's ``py_executable`` field; with
``uv run --frozen ... python`` in it and the project folder as ``working_dir`` (uploaded to every node), each node
builds the project's environment from uv.lock — exactly the locked versions, nothing re-resolved. Ray's own uv
hook (``ray._private.runtime_env.uv_runtime_env_hook.hook``, default since Ray 2.47) does the same when the
*driver* is started with ``uv run``; this module writes the runtime environment explicitly, so it also works for
``ray job submit`` with any entrypoint and for ``ray.init(runtime_env=...)``. See docs/ray.md.

``shared=True`` is for a project folder that every node mounts at the same path: the workers run its synced
``.venv`` directly (no upload, no uv on the workers).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.errors import NoAnswer, UsageError

__all__ = [
    "MIN_RAY",
    "UV_HOOK",
    "RayEnv",
    "RayEnvOptions",
    "build_variables",
    "project_ray_version",
    "ray_env",
    "to_yaml",
]

# The runtime-env field ``py_executable`` arrived in Ray 2.43.0 (ray-project/ray#50160, with the uv hook of
# #50462); Ray 2.47.0 made the hook the default for drivers started with `uv run` (#53060). Ray 2.43 is the
# oldest Ray that can run workers under `uv run`.
MIN_RAY = Version("2.43.0")
UV_HOOK = "ray._private.runtime_env.uv_runtime_env_hook.hook"
# A `uv run` option takes a value when it is one of these (the rest are flags); used to check extra uv args.
_VENV = ".venv"
_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, kw_only=True)
class RayEnvOptions:
    uv: str = "uv"  # the uv the workers run (on their PATH, or an absolute path valid on every node)
    python: str | None = None  # `uv run --python`: the exact Python the cluster runs (Ray compares X.Y.Z)
    uv_cache_dir: str | None = None
    shared: bool = False
    offline: bool = False
    uv_args: tuple[str, ...] = ()  # more `uv run` options, e.g. ("--extra", "vllm")


@dataclass(frozen=True, kw_only=True)
class RayEnv:
    runtime_env: dict[str, Any]
    ray_version: str
    ray_from: str  # where the version was read: uv.lock, or the project's .venv
    python: str | None
    python_from: str | None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime_env": self.runtime_env,
            "ray_version": self.ray_version,
            "ray_from": self.ray_from,
            "python": self.python,
            "python_from": self.python_from,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------- reading


def _venv_site_packages(project: Path) -> list[Path]:
    venv = project / _VENV
    return sorted(venv.glob("lib/python3*/site-packages")) + sorted(venv.glob("Lib/site-packages"))


def _venv_ray(project: Path) -> str | None:
    for site in _venv_site_packages(project):
        for info in sorted(site.glob("ray-*.dist-info")):
            try:
                text = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            name = re.search(r"^Name:\s*(\S+)", text, re.MULTILINE)
            version = re.search(r"^Version:\s*(\S+)", text, re.MULTILINE)
            if name and version and canonicalize_name(name.group(1)) == "ray":
                return version.group(1)
    return None


def project_ray_version(project: Path, lock: Mapping[str, Any] | None) -> tuple[Version, str] | None:
    """The Ray the project's workers would import: uv.lock's ``ray`` (the oldest, when forks lock several),
    else the one installed in the project's .venv; None when neither has Ray."""
    from llmenv.lockfile import locked_versions

    found: list[tuple[Version, str]] = []
    if lock is not None:
        for v in locked_versions(lock).get("ray", ()):
            try:
                found.append((Version(v), "uv.lock"))
            except InvalidVersion:
                continue
    installed = _venv_ray(project) if not found else None
    if installed:
        with contextlib.suppress(InvalidVersion):
            found.append((Version(installed), f"{_VENV} of the project"))
    return min(found) if found else None


def build_variables(pyproject: Mapping[str, Any]) -> dict[str, str]:
    """``[tool.uv.extra-build-variables]`` (per package) merged into one set of environment variables.

    A variable set to two different values for two packages cannot be one environment variable: UsageError."""
    table = pyproject.get("tool", {}).get("uv", {}).get("extra-build-variables", {}) or {}
    if not isinstance(table, dict):
        raise UsageError("[tool.uv.extra-build-variables] is not a table")
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for package, variables in sorted(table.items()):
        if not isinstance(variables, dict):
            raise UsageError(f"[tool.uv.extra-build-variables] {package}: expected a table of variables")
        for key, value in variables.items():
            value = str(value)
            if key in out and out[key] != value:
                raise UsageError(
                    f"[tool.uv.extra-build-variables] sets {key}={out[key]!r} for {owner[key]} but "
                    f"{value!r} for {package}: one Ray runtime environment cannot hold both"
                )
            out[key], owner[key] = value, package
    return out


def _venv_python_version(project: Path) -> str | None:
    try:
        text = (project / _VENV / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+\.\d+)", text, re.MULTILINE)
    return m.group(1) if m else None


def _python(project: Path, pyproject: Mapping[str, Any], given: str | None) -> tuple[str | None, str | None]:
    if given:
        return given, "--python"
    v = _venv_python_version(project)
    if v:
        return v, f"{_VENV}/pyvenv.cfg"
    try:
        pin = (project / ".python-version").read_text(encoding="utf-8").strip().splitlines()
    except OSError:
        pin = []
    if pin and pin[0].strip():
        return pin[0].strip(), ".python-version"
    target = pyproject.get("tool", {}).get("llmenv", {}).get("target", {})
    if isinstance(target, dict) and target.get("python"):
        return str(target["python"]), "[tool.llmenv.target]"
    return None, None


def _check_uv_args(args: Sequence[str]) -> tuple[str, ...]:
    if args and not args[0].startswith("-"):
        raise UsageError(f"extra `uv run` arguments must be options (e.g. --extra vllm), not {args[0]!r}")
    bad = {"--no-project", "--isolated", "--with", "--with-requirements", "--script"} & set(args)
    if bad:
        raise UsageError(f"`uv run {sorted(bad)[0]}` would leave the locked environment; ray-env does not take it")
    return tuple(args)


# ---------------------------------------------------------------------------------------------- building


def ray_env(project: Path, opts: RayEnvOptions, *, environ: Mapping[str, str]) -> RayEnv:
    """The runtime environment for ``project`` (a folder with pyproject.toml and uv.lock)."""
    from llmenv.lockfile import read_toml

    project = project.resolve()
    if not (project / "pyproject.toml").is_file():
        raise UsageError(f"no pyproject.toml in {project} (run `llmenv init` first)")
    pyproject = read_toml(project / "pyproject.toml")
    lock_path = project / "uv.lock"
    lock = read_toml(lock_path) if lock_path.is_file() else None
    if lock is None and not opts.shared:
        raise UsageError(
            f"no uv.lock in {project}: `uv run --frozen` installs exactly the lock",
            hint=f"create it with `llmenv lock --project {project}`",
        )
    found = project_ray_version(project, lock)
    if found is None:
        raise UsageError(
            "ray is not a dependency of the project: Ray workers import ray from the project's environment",
            hint="add the cluster's Ray, e.g. `uv add 'ray[default]==2.49.2'`, and lock again",
        )
    version, where = found
    if version < MIN_RAY:
        raise UsageError(
            f"ray {version} (in {where}) cannot run workers under uv: the runtime-env field py_executable "
            f"needs Ray >= {MIN_RAY}"
        )
    python, python_from = _python(project, pyproject, opts.python)
    env_vars = build_variables(pyproject)
    cache = opts.uv_cache_dir or environ.get("UV_CACHE_DIR")
    if cache:
        env_vars["UV_CACHE_DIR"] = cache
    notes: list[str] = []
    runtime_env: dict[str, Any]
    if opts.shared:
        venv = project / _VENV
        exe = venv / "bin" / "python"
        if not exe.exists():
            raise NoAnswer(
                f"no environment at {venv}: with --shared the workers run it directly",
                hint=f"create it once with `llmenv sync --project {project}` (on the shared filesystem)",
            )
        env_vars.setdefault("VIRTUAL_ENV", str(venv))
        env_vars.setdefault("PATH", f"{venv / 'bin'}:${{PATH}}")
        runtime_env = {"py_executable": str(exe)}
        notes.append(f"every node must see {project} at this path (a shared filesystem)")
    else:
        argv = [opts.uv, "run", "--frozen"]
        if opts.offline:
            argv.append("--offline")
        if python:
            argv += ["--python", python]
        argv += [*_check_uv_args(opts.uv_args), "python"]
        runtime_env = {
            "working_dir": str(project),
            "py_executable": shlex.join(argv),
            # uv's own .venv carries a .gitignore of "*", a plain venv does not: never upload an environment.
            "excludes": [f"/{_VENV}/"],
        }
        if opts.uv == "uv":
            notes.append("the workers run the `uv` on their PATH (Ray's images ship uv since 2.45); --uv PATH otherwise")
        if python is None:
            notes.append(
                "no Python pinned: uv picks one per node; Ray refuses a worker whose Python differs from the "
                "cluster's (pass --python X.Y.Z)"
            )
    if env_vars:
        runtime_env["env_vars"] = env_vars
    return RayEnv(
        runtime_env=runtime_env,
        ray_version=str(version),
        ray_from=where,
        python=python,
        python_from=python_from,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------- YAML


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block YAML for plain data (dicts, lists, strings, numbers, booleans), for ``ray job submit --runtime-env``.

    Every string is written double-quoted with JSON escapes, which YAML reads the same way; no PyYAML needed."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for k, v in value.items():
            key = k if _SAFE_KEY.match(str(k)) else json.dumps(str(k))
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:\n{to_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        for v in value:
            if isinstance(v, (dict, list)) and v:
                body = to_yaml(v, indent + 2)
                lines.append(f"{pad}- {body.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(v)}\n")
        return "".join(lines)
    return pad + _scalar(value) + "\n"


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v), ensure_ascii=False)
