"""Small broken projects that make the REAL uv fail, offline, against local indexes of generated wheels,
and what ``llmenv explain`` must say about each failure.

tests/test_explain_produced.py runs every scenario with the bundled uv and checks the explanation (and, where
a fix is an edit, that applying it makes uv succeed). The logs are also stored under
tests/fixtures/uv-errors/produced/ so they are checked even where uv is not runnable; regenerate them with

    .venv/bin/python -m tests.explain_scenarios [--network]
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from .wheelfactory import make_wheel

PRODUCED = Path(__file__).parent / "fixtures" / "uv-errors" / "produced"

# An sdist whose PEP 517 backend (in-tree, no build requirements, so it builds offline) imports torch the way
# flash-attn's setup.py does. With torch in the build environment it reports metadata like a real package.
_BACKEND = """\
import os

def _meta():
    return "Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n" + "".join(
        "Requires-Dist: %s\\n" % r for r in {requires!r})

def get_requires_for_build_wheel(config_settings=None):
    import torch  # noqa: F401  -- like flash-attn's setup.py
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    import torch  # noqa: F401
    d = os.path.join(metadata_directory, "{dist}-{version}.dist-info")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(_meta())
    return os.path.basename(d)

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    {build_body}
"""


def make_backend_sdist(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    build_body: str = "raise RuntimeError('not needed to lock')",
) -> Path:
    """An sdist with an in-tree build backend (``backend-path``), so uv can build it with no network."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-.]+", "_", name).lower()
    base = f"{dist}-{version}"
    members = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        f"{base}/backend.py": _BACKEND.format(
            name=name, version=version, dist=dist, requires=list(requires), build_body=build_body
        ),
    }
    out = folder / f"{base}.tar.gz"
    with tarfile.open(out, "w:gz") as t:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return out


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    kind: str | None  # the cause kind explain must name first; None: explain must say "unknown"
    packages: tuple[str, ...]  # each must be among the cause's packages
    setup: Callable[[Path, Path], list[str]]  # (project dir, index dir) -> uv arguments
    fix: int | None = None  # the 1-based fix of the first cause that, applied, makes uv succeed
    after_fix: Callable[[Path], None] | None = None  # edits the fix's title asks for besides the snippet
    env: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, object] = field(default_factory=dict)  # the first cause's structured fields (planner)


def _project(d: Path, body: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n' + body, encoding="utf-8"
    )


def _find_links(idx: Path) -> list[str]:
    return ["--no-index", "--find-links", str(idx)]


def _simple_index(root: Path, files: Mapping[str, list[tuple[Path, str | None]]]) -> str:
    """A PEP 503 simple index of static pages under ``root`` (file:// URL), each link with its
    data-requires-python: uv checks a registry's wheel tags against requires-python, as on PyPI (a
    --find-links folder gets no such check)."""
    import html

    root.mkdir(parents=True, exist_ok=True)
    for project, entries in files.items():
        page = root / project
        page.mkdir(parents=True, exist_ok=True)
        links = []
        for path, rp in entries:
            target = page / path.name
            if path != target:
                target.write_bytes(path.read_bytes())
            attr = f' data-requires-python="{html.escape(rp)}"' if rp else ""
            links.append(f'<a href="{html.escape(path.name)}"{attr}>{html.escape(path.name)}</a>')
        (page / "index.html").write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    (root / "index.html").write_text(
        "<html><body>" + "".join(f'<a href="{p}/">{p}</a>' for p in files) + "</body></html>\n"
    )
    return root.as_uri()


def _cp(minors: tuple[int, ...], platform: str = "manylinux_2_28_x86_64") -> list[str]:
    return [f"cp3{m}-cp3{m}-{platform}" for m in minors]


def _registry(idx: Path, wheels: list[tuple[str, str, str]]) -> str:
    """A local registry index of (name, version, tag) wheels; returns its [[tool.uv.index]] entry."""
    files: dict[str, list[tuple[Path, str | None]]] = {}
    for name, version, tag in wheels:
        files.setdefault(name, []).append((make_wheel(idx / "files", name, version, tag=tag), None))
    url = _simple_index(idx / "simple", files)
    return f'\n[[tool.uv.index]]\nname = "local"\nurl = "{url}"\ndefault = true\n'


# a dependency whose markers make uv fork the lock at Python 3.14 (numpy 2 on 3.14 and later, 1 before)
_FORK_314 = "\"numpy>=2; python_version >= '3.14'\", \"numpy<2; python_version < '3.14'\""
_NUMPYS = [("numpy", "2.0.0", "py3-none-any"), ("numpy", "1.26.4", "py3-none-any")]


# --- scenarios ---------------------------------------------------------------------------------------------


def _python_fork_no_wheels(d: Path, idx: Path) -> list[str]:
    wheels = [("torch", "2.5.1", tag) for tag in _cp((10, 11, 12, 13))] + _NUMPYS
    _project(
        d,
        f'dependencies = ["torch==2.5.1", {_FORK_314}]\n\n[tool.uv]\n'
        "required-environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
        + _registry(idx, wheels),
    )
    return ["lock"]


def _python_fork_url_wheel(d: Path, idx: Path) -> list[str]:
    whl = make_wheel(
        idx / "release", "flash-attn", "2.7.4.post1+cu12torch2.6cxx11abiFALSE",
        filename="flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl",
    )
    _project(d, f'dependencies = ["flash-attn @ {whl.as_uri()}", {_FORK_314}]\n' + _registry(idx, _NUMPYS))
    return ["lock"]


def _url_wheels_overlap(d: Path, idx: Path) -> list[str]:
    urls = [
        make_wheel(
            idx / "release", "flash-attn", "2.7.4.post1+cu12torch2.6cxx11abiFALSE",
            filename=f"flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp3{m}-cp3{m}-linux_x86_64.whl",
        ).as_uri()
        for m in (11, 12)
    ]
    _project(
        d,
        f'dependencies = ["flash-attn @ {urls[0]} ; python_version < \'3.12\'", '
        f'"flash-attn @ {urls[1]} ; python_version >= \'3.11\'"]\n' + _registry(idx, _NUMPYS),
    )
    return ["lock"]


def _url_wheel_vs_dependency(d: Path, idx: Path) -> list[str]:
    ours, theirs = (
        make_wheel(idx / "release", "flash-attn", f"{v}+cu12torch{t}",
                   filename=f"flash_attn-{v}+cu12torch{t}-cp311-cp311-linux_x86_64.whl").as_uri()
        for v, t in (("2.7.4.post1", "2.6cxx11abiFALSE"), ("2.8.3", "2.7cxx11abiTRUE"))
    )
    lib = d / "mylib"
    lib.mkdir(parents=True)
    (lib / "pyproject.toml").write_text(
        f'[project]\nname = "mylib"\nversion = "0.3.0"\ndependencies = ["flash-attn @ {theirs}"]\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        encoding="utf-8",
    )
    (lib / "backend.py").write_text("def get_requires_for_build_wheel(config_settings=None):\n    return []\n")
    _project(
        d,
        f'dependencies = ["flash-attn @ {ours}", "mylib"]\n\n[tool.uv.sources]\nmylib = {{ path = "mylib" }}\n'
        + _registry(idx, _NUMPYS),
    )
    return ["lock"]


def _platform_fork_no_wheels(d: Path, idx: Path) -> list[str]:
    wheels = [("torch", "2.6.0", tag) for tag in _cp((10, 11, 12, 13))]
    _project(
        d,
        'dependencies = ["torch==2.6.0"]\n\n[tool.uv]\n'
        "environments = [\"sys_platform == 'linux'\", \"sys_platform == 'darwin'\"]\n" + _registry(idx, wheels),
    )
    return ["lock"]


def _pin_in_python_fork(d: Path, idx: Path) -> list[str]:
    for v in ("2.6.0", "2.7.0"):
        make_wheel(idx, "torch", v)
    make_wheel(idx, "vllm", "0.8.5", requires=["torch==2.6.0"])
    _project(
        d,
        "dependencies = [\"torch==2.7.0; python_version >= '3.12'\", \"torch; python_version < '3.12'\", "
        '"vllm==0.8.5"]\n',
    )
    return ["lock", *_find_links(idx)]


def _network_dns_index(d: Path, idx: Path) -> list[str]:
    # .invalid never resolves (RFC 6761): a DNS failure on every machine
    _project(d, 'dependencies = ["numpy"]\n\n[[tool.uv.index]]\nname = "mirror"\n'
             'url = "https://pypi.mirror.invalid/simple"\ndefault = true\n')
    return ["lock"]


def _network_git_unresolvable(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "mylib", "1.0.0")
    _project(d, 'dependencies = ["mylib"]\n\n[tool.uv.sources]\nmylib = { git = "https://git.invalid/org/mylib" }\n')
    return ["lock", *_find_links(idx)]


def _local_version_unrouted(d: Path, idx: Path) -> list[str]:
    make_wheel(idx / "cu124", "torch", "2.6.0+cu124")
    make_wheel(idx / "pypi", "torch", "2.6.0")
    _project(
        d,
        'dependencies = ["torch==2.6.0+cu124"]\n\n'
        f'[[tool.uv.index]]\nname = "pytorch-cu124"\nurl = "{(idx / "cu124").as_uri()}"\nformat = "flat"\n'
        "explicit = true\n\n"
        f'[[tool.uv.index]]\nname = "local"\nurl = "{(idx / "pypi").as_uri()}"\nformat = "flat"\ndefault = true\n',
    )
    return ["lock"]



def _workspace_verl(d: Path, idx: Path) -> list[str]:
    for v in ("2.6.0", "2.8.0"):
        make_wheel(idx, "torch", v)
    make_wheel(idx, "vllm", "0.8.5", requires=["torch==2.6.0"])
    make_wheel(idx, "sglang", "0.4.6.post5", requires=["torch==2.6.0"])
    _project(
        d,
        'dependencies = ["torch==2.8.0", "verl"]\n\n[tool.uv.sources]\nverl = { workspace = true }\n\n'
        '[tool.uv.workspace]\nmembers = ["verl"]\n',
    )
    (d / "verl").mkdir()
    (d / "verl" / "pyproject.toml").write_text(
        '[project]\nname = "verl"\nversion = "0.5.0.dev0"\nrequires-python = ">=3.10"\ndependencies = []\n\n'
        '[project.optional-dependencies]\nvllm = ["vllm<=0.8.5"]\nsglang = ["sglang==0.4.6.post5", "torch==2.6.0"]\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
        encoding="utf-8",
    )
    return ["lock", *_find_links(idx)]


def _drop_workspace(d: Path) -> None:
    doc = tomlkit.parse((d / "pyproject.toml").read_text(encoding="utf-8"))
    del doc["tool"]["uv"]["workspace"]  # type: ignore[union-attr]
    (d / "pyproject.toml").write_text(tomlkit.dumps(doc), encoding="utf-8")


def _engine_pin(d: Path, idx: Path) -> list[str]:
    for v in ("2.6.0", "2.7.0"):
        make_wheel(idx, "torch", v)
    make_wheel(idx, "vllm", "0.8.5", requires=["torch==2.6.0"])
    _project(d, 'dependencies = ["torch==2.7.0", "vllm==0.8.5"]\n')
    return ["lock", *_find_links(idx)]


def _build_needs_torch(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    make_wheel(idx, "einops", "0.8.0")
    make_backend_sdist(idx, "flash-attn", "2.7.4", requires=("torch", "einops"))
    _project(d, 'dependencies = ["torch==2.6.0", "flash-attn==2.7.4"]\n')
    return ["lock", *_find_links(idx)]


def _extras_conflict(d: Path, idx: Path) -> list[str]:
    for v in ("2.6.0", "2.7.0"):
        make_wheel(idx, "torch", v)
    make_wheel(idx, "vllm", "0.9.2", requires=["torch==2.7.0"])
    make_wheel(idx, "sglang", "0.4.6.post5", requires=["torch==2.6.0"])
    _project(
        d,
        'dependencies = []\n\n[project.optional-dependencies]\nvllm = ["vllm==0.9.2"]\n'
        'sglang = ["sglang==0.4.6.post5"]\n',
    )
    return ["lock", *_find_links(idx)]


def _wheel_missing_sync(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0+cpu", tag="py3-none-manylinux_2_28_aarch64")
    _project(d, 'dependencies = ["torch==2.6.0+cpu"]\n')
    return ["sync", *_find_links(idx)]


def _wheel_missing_required_env(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    make_wheel(idx, "torchaudio", "2.6.0+cpu", requires=["torch==2.6.0"], tag="py3-none-linux_x86_64")
    _project(
        d,
        'dependencies = ["torchaudio==2.6.0+cpu"]\n\n[tool.uv]\nrequired-environments = '
        "[\"sys_platform == 'linux' and platform_machine == 'aarch64'\"]\n",
    )
    return ["lock", *_find_links(idx)]


def _match_runtime(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    make_wheel(idx, "einops", "0.8.0")
    make_backend_sdist(idx, "flash-attn", "2.7.4", requires=("torch", "einops"))
    _project(
        d,
        'dependencies = ["torch==2.6.0"]\n\n[project.optional-dependencies]\nfa = ["flash-attn==2.7.4"]\n\n'
        '[tool.uv.extra-build-dependencies]\nflash-attn = [{ requirement = "torch", match-runtime = true }]\n',
    )
    return ["lock", *_find_links(idx)]


def _prerelease_missing(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "flashinfer-python", "0.2.8")
    make_wheel(idx, "sglang", "0.4.9.post6", extras={"srt": ["flashinfer-python==0.2.9rc2"]})
    _project(d, 'dependencies = ["sglang[srt]==0.4.9.post6"]\n')
    return ["lock", *_find_links(idx)]


def _local_version(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    _project(d, 'dependencies = ["torch==2.6.0+cu124"]\n')
    return ["lock", *_find_links(idx)]


def _python_range(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "vllm", "0.10.0", requires_python=">=3.11")
    _project(d, 'dependencies = ["vllm==0.10.0"]\n')
    return ["lock", *_find_links(idx)]


def _locked_stale(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    make_wheel(idx, "einops", "0.8.0")
    _project(d, 'dependencies = ["torch==2.6.0"]\n')
    subprocess.run(
        [_uv(), "lock", "--python", sys.executable, *_find_links(idx)],
        cwd=d,
        env=_env(d.parent),
        capture_output=True,
        check=True,
    )
    _project(d, 'dependencies = ["torch==2.6.0", "einops"]\n')
    return ["sync", "--locked", *_find_links(idx)]


def _first_index(d: Path, idx: Path) -> list[str]:
    for sub, version in (("pytorch", "2022.12.7"), ("main", "2024.8.30")):
        folder = idx / sub / "certifi"
        whl = make_wheel(folder, "certifi", version)
        (folder / "index.html").write_text(f'<html><body><a href="{whl.name}">{whl.name}</a></body></html>')
        (idx / sub / "index.html").write_text('<html><body><a href="certifi/">certifi</a></body></html>')
    _project(
        d,
        'dependencies = ["certifi>=2024"]\n\n'
        f'[[tool.uv.index]]\nname = "pytorch"\nurl = "{(idx / "pytorch").as_uri()}"\n\n'
        f'[[tool.uv.index]]\nname = "main"\nurl = "{(idx / "main").as_uri()}"\ndefault = true\n',
    )
    return ["lock"]


def _not_in_find_links(d: Path, idx: Path) -> list[str]:
    make_wheel(idx, "torch", "2.6.0")
    _project(d, 'dependencies = ["torch==2.6.0", "flashinfer-python>=0.2"]\n')
    return ["lock", *_find_links(idx)]


def _unknown_build_error(d: Path, idx: Path) -> list[str]:
    # the backend needs torch for metadata (given below) and then fails in build_wheel with its own error
    make_backend_sdist(idx, "oddpkg", "1.0", build_body="raise ValueError('unsupported configuration: foo')")
    make_wheel(idx, "torch", "2.6.0")
    _project(d, 'dependencies = ["oddpkg==1.0"]\n\n[tool.uv.extra-build-dependencies]\noddpkg = ["torch"]\n')
    return ["sync", *_find_links(idx)]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "workspace_verl",
        "verl as a workspace member: its [sglang] extra pins torch==2.6.0, the project torch==2.8.0",
        "workspace-extras",
        ("verl",),
        _workspace_verl,
        fix=1,
        after_fix=_drop_workspace,
    ),
    Scenario(
        "engine_pin",
        "torch==2.7.0 pinned against vllm 0.8.5's exact torch==2.6.0",
        "pin-conflict",
        ("torch", "vllm"),
        _engine_pin,
        fix=1,
    ),
    Scenario(
        "build_needs_torch",
        "flash-attn sdist whose build imports torch, built in isolation",
        "build-needs-torch",
        ("flash-attn",),
        _build_needs_torch,
        fix=1,
    ),
    Scenario(
        "extras_conflict",
        "extras [vllm] and [sglang] pin different torch, not declared as conflicting",
        "extra-conflict",
        ("torch",),
        _extras_conflict,
        fix=1,
    ),
    Scenario(
        "wheel_missing_sync",
        "torch==2.6.0+cpu with a wheel only for linux aarch64, synced on x86_64",
        "no-wheel-for-platform",
        ("torch",),
        _wheel_missing_sync,
    ),
    Scenario(
        "wheel_missing_required_env",
        "torchaudio+cpu (x86_64 wheel only) with aarch64 in required-environments",
        "no-wheel-for-platform",
        ("torchaudio",),
        _wheel_missing_required_env,
        fix=1,
    ),
    Scenario(
        "match_runtime_no_metadata",
        "extra-build-dependencies match-runtime on an sdist without static metadata",
        "no-static-metadata",
        ("flash-attn",),
        _match_runtime,
        fix=1,
    ),
    Scenario(
        "prerelease_missing",
        "sglang[srt] pins flashinfer-python==0.2.9rc2, which the index lacks",
        "prerelease",
        ("flashinfer-python",),
        _prerelease_missing,
    ),
    Scenario(
        "local_version",
        "torch==2.6.0+cu124 required from an index that has only torch 2.6.0",
        "local-version",
        ("torch",),
        _local_version,
    ),
    Scenario(
        "python_range",
        "requires-python >=3.10 but the only vllm needs Python >=3.11",
        "python-version",
        ("vllm",),
        _python_range,
        fix=1,
    ),
    Scenario(
        "locked_stale", "uv sync --locked after pyproject.toml changed", "lockfile", (), _locked_stale, fix=1
    ),
    Scenario(
        "first_index",
        "certifi found on the first index only at an old version (first-index strategy)",
        "index",
        ("certifi",),
        _first_index,
        fix=1,
    ),
    Scenario(
        "not_in_find_links",
        "a dependency absent from the --find-links folder under --no-index",
        "index",
        ("flashinfer-python",),
        _not_in_find_links,
    ),
    Scenario(
        "unknown_build_error", "a build backend raising an unrecognized error", None, (), _unknown_build_error
    ),
    Scenario(
        "python_fork_no_wheels",
        "torch 2.5.1 wheels up to cp313 and a lock forked at Python 3.14 (numpy markers), Linux required",
        "python-version",
        ("torch",),
        _python_fork_no_wheels,
        fix=1,
        fields={"version": "2.5.1", "split": "python_full_version >= '3.14'", "python": "<3.14"},
    ),
    Scenario(
        "python_fork_url_wheel",
        "a cp312 flash-attn wheel URL in a lock forked at Python 3.14",
        "python-version",
        ("flash-attn",),
        _python_fork_url_wheel,
        fix=1,
        fields={"split": "python_full_version >= '3.14'", "python": "<3.14"},
    ),
    Scenario(
        "url_wheels_overlap",
        "two flash-attn wheel URLs whose Python markers overlap at 3.11",
        "conflicting-urls",
        ("flash-attn",),
        _url_wheels_overlap,
        fix=1,
        fields={"split": "python_full_version == '3.11.*'", "python": None},
    ),
    Scenario(
        "url_wheel_vs_dependency",
        "the project's flash-attn wheel URL against another one a path dependency requires",
        "conflicting-urls",
        ("flash-attn",),
        _url_wheel_vs_dependency,
        fix=1,
        fields={"split": None},
    ),
    Scenario(
        "platform_fork_no_wheels",
        "torch with only Linux wheels, environments = Linux and macOS",
        "no-wheel-for-platform",
        ("torch",),
        _platform_fork_no_wheels,
        fix=1,
        fields={"version": "2.6.0", "split": "sys_platform == 'darwin'", "python": None},
    ),
    Scenario(
        "pin_in_python_fork",
        "torch==2.7.0 on Python >= 3.12 against vllm 0.8.5's torch==2.6.0",
        "pin-conflict",
        ("torch", "vllm"),
        _pin_in_python_fork,
        fix=1,
        fields={"version": "2.6.0", "split": "python_full_version >= '3.12'", "python": "<3.12"},
    ),
    Scenario(
        "network_dns_index",
        "the project's default index on a host that does not resolve",
        "network",
        (),
        _network_dns_index,
        env={"UV_HTTP_RETRIES": "0"},
    ),
    Scenario(
        "network_git_unresolvable",
        "a git source whose host does not resolve; the release is on the index",
        "network",
        ("mylib",),
        _network_git_unresolvable,
        fix=1,
    ),
    Scenario(
        "local_version_unrouted",
        "torch==2.6.0+cu124 with the project's explicit cu124 index not routed to torch",
        "local-version",
        ("torch",),
        _local_version_unrouted,
        fix=1,
        fields={"version": "2.6.0+cu124"},
    ),
)


# Against PyPI (tests marked `network`): `uv pip compile` for a Linux x86_64 target, as `uv pip` users see it.
@dataclass(frozen=True)
class PypiScenario:
    name: str
    about: str
    requirements: tuple[str, ...]
    kind: str
    packages: tuple[str, ...]


PYPI_SCENARIOS: tuple[PypiScenario, ...] = (
    PypiScenario(
        "pypi_vllm_torch_pin",
        "torch==2.7.0 against vllm 0.8.5's exact torch==2.6.0 (PyPI metadata)",
        ("vllm==0.8.5", "torch==2.7.0"),
        "pin-conflict",
        ("torch", "vllm"),
    ),
    PypiScenario(
        "pypi_verl_sglang_torch_pin",
        "verl[sglang]==0.4.1 (torch==2.6.0) with torch==2.7.1 (PyPI metadata)",
        ("verl[sglang]==0.4.1", "torch==2.7.1"),
        "pin-conflict",
        ("torch", "verl"),
    ),
    PypiScenario(
        "pypi_torch_local_label",
        "torch==2.6.0+cu124 asked from PyPI, which has no local versions",
        ("torch==2.6.0+cu124",),
        "local-version",
        ("torch",),
    ),
)


def static_and_dynamic_project(d: Path) -> list[str]:
    """A setuptools project (from PyPI) whose `dependencies` is both given and listed in `project.dynamic`."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\ndependencies = ["packaging"]\n'
        'dynamic = ["dependencies"]\n\n[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n',
        encoding="utf-8",
    )
    (d / "demo").mkdir(exist_ok=True)
    (d / "demo" / "__init__.py").write_text("")
    return ["lock"]


def run_pip_compile(s: PypiScenario, base: Path) -> tuple[int, str]:
    base.mkdir(parents=True, exist_ok=True)
    (base / "requirements.in").write_text("\n".join(s.requirements) + "\n", encoding="utf-8")
    p = subprocess.run(
        [
            _uv(),
            "pip",
            "compile",
            "--no-header",
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "requirements.in",
        ],
        cwd=base,
        env=_env(base),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "requested Python version" not in ln)
    return p.returncode, out


# Recorded where only PyPI resolves (this project's sandbox): the real uv reaching real hosts that do not resolve
# there. Not run by the suite (on a machine with the internet they succeed); their logs are stored as
# produced/network_*.txt and read by tests/test_explain_network.py. Re-record: --record-network.
@dataclass(frozen=True)
class RecordedScenario:
    name: str
    about: str
    pyproject: str
    args: tuple[str, ...] = ("lock",)
    env: Mapping[str, str] = field(default_factory=dict)


RECORDED: tuple[RecordedScenario, ...] = (
    RecordedScenario(
        "network_torch_index", "torch routed to download.pytorch.org/whl/cu124, which does not resolve",
        'dependencies = ["torch==2.6.0"]\n\n[[tool.uv.index]]\nname = "pytorch-cu124"\n'
        'url = "https://download.pytorch.org/whl/cu124"\nexplicit = true\n\n'
        '[tool.uv.sources]\ntorch = [{ index = "pytorch-cu124" }]\n',
    ),
    RecordedScenario(
        "network_github_wheel", "a flash-attn wheel URL on github.com releases, which does not resolve",
        'dependencies = ["flash-attn @ https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/'
        'flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"]\n',
    ),
    RecordedScenario(
        "network_tuna_default", "the Tsinghua PyPI mirror as the default index, which does not resolve",
        'dependencies = ["numpy"]\n\n[[tool.uv.index]]\nname = "tuna"\n'
        'url = "https://pypi.tuna.tsinghua.edu.cn/simple"\ndefault = true\n',
    ),
    RecordedScenario(
        "network_git_github", "verl as a git source on github.com, which does not resolve",
        'dependencies = ["verl"]\n\n[tool.uv.sources]\nverl = { git = "https://github.com/volcengine/verl", tag = "v0.4.1" }\n',
    ),
    RecordedScenario(
        "network_aliyun_torch", "torch from Aliyun's flat mirror of the PyTorch wheels, which does not resolve",
        'dependencies = ["torch==2.6.0"]\n\n[[tool.uv.index]]\nname = "pytorch-cu124"\n'
        'url = "https://mirrors.aliyun.com/pytorch-wheels/cu124/"\nformat = "flat"\nexplicit = true\n\n'
        '[tool.uv.sources]\ntorch = [{ index = "pytorch-cu124" }]\n',
    ),
    RecordedScenario(
        "network_python_download", "uv python install: python-build-standalone on github.com does not resolve",
        "", args=("python", "install", "3.12.9"), env={"UV_PYTHON_DOWNLOADS": "automatic"},
    ),
)


def write_recorded_fixtures(base: Path) -> None:
    version = subprocess.run([_uv(), "--version"], capture_output=True, text=True).stdout.strip()
    for s in RECORDED:
        b = base / s.name
        d = b / "project"
        _project(d, s.pyproject)
        env = {**_env(b), "UV_HTTP_RETRIES": "0", "UV_PYTHON_INSTALL_DIR": str(b / "pythons"), **s.env}
        argv = [_uv(), *s.args] if s.args[0] == "python" else [_uv(), s.args[0], "--python", sys.executable, *s.args[1:]]
        p = subprocess.run(argv, cwd=d, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode != 0, f"{s.name}: uv unexpectedly succeeded (is the host reachable here?)"
        header = f"# recorded by tests/explain_scenarios.py --record-network with {version}: {s.about}\n"
        (PRODUCED / f"{s.name}.txt").write_text(header + mask(p.stdout + p.stderr, b), encoding="utf-8")
        print(f"{s.name}: exit {p.returncode}")


# --- running -----------------------------------------------------------------------------------------------


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


def _env(base: Path) -> dict[str, str]:
    """uv's environment: reads the project's [tool.uv] (no UV_NO_CONFIG) but no user or system uv.toml, its
    own cache, never downloads Pythons."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    (base / "xdg").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "XDG_CONFIG_HOME": str(base / "xdg"),
            "XDG_CONFIG_DIRS": str(base / "xdg"),
            "UV_CACHE_DIR": str(base / "cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "NO_COLOR": "1",
        }
    )
    return env


def run_uv(args: list[str], cwd: Path, base: Path, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    p = subprocess.run(
        [_uv(), *args[:1], "--python", sys.executable, *args[1:]],
        cwd=cwd,
        env={**_env(base), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return p.returncode, p.stdout + p.stderr


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    project: Path
    index: Path
    args: list[str]


def run(s: Scenario, base: Path) -> Run:
    """Build the scenario under ``base`` and run uv on it."""
    d, idx = base / "project", base / "index"
    idx.mkdir(parents=True, exist_ok=True)
    args = s.setup(d, idx)
    code, out = run_uv(args, d, base, s.env)
    return Run(code, out, d, idx, args)


def mask(text: str, base: Path) -> str:
    """Stable logs: no temporary paths, no interpreter path, no cache hashes."""
    text = text.replace(str(base), "<tmp>")
    text = re.sub(
        r"Using CPython \S+ interpreter at: \S+", "Using CPython <version> interpreter at: <python>", text
    )
    text = re.sub(r"(sdists-v\d+/index)/[0-9a-f]+/", r"\1/<hash>/", text)
    text = re.sub(r"/[A-Za-z0-9_-]{16}/src/", "/<id>/src/", text)
    return re.sub(r"Resolved (\d+) packages in \S+", r"Resolved \1 packages in <time>", text)


def merge_snippet(pyproject: Path, snippet: str) -> None:
    """Merge a TOML fix into pyproject.toml: tables deep-merged, [[tool.uv.index]] merged by name, other arrays
    of tables appended, any other value replaced (as a person applying the snippet would)."""
    doc = tomlkit.parse(pyproject.read_text(encoding="utf-8")).unwrap()
    add = tomlkit.parse(snippet).unwrap()

    def merge(dst: dict, src: dict) -> None:  # type: ignore[type-arg]
        for k, v in src.items():
            if k == "index" and isinstance(v, list) and isinstance(dst.get(k), list):
                for entry in v:
                    same = next((e for e in dst[k] if e.get("name") == entry.get("name")), None)
                    if same is None:
                        dst[k].append(entry)
                    else:
                        same.update(entry)
            elif isinstance(v, dict) and isinstance(dst.get(k), dict) and not _is_value(k, v):
                merge(dst[k], v)
            elif k == "dependency-metadata" and isinstance(dst.get(k), list):
                dst[k].extend(v)
            else:
                dst[k] = v

    merge(doc, add)
    pyproject.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _is_value(key: str, v: dict) -> bool:  # type: ignore[type-arg]
    """A table that is one setting's value (a source, build variables), replaced whole rather than merged."""
    return "index" in v or "url" in v or "path" in v or "git" in v or "workspace" in v


def write_fixtures(base: Path) -> None:
    import uv  # noqa: F401

    version = subprocess.run([_uv(), "--version"], capture_output=True, text=True).stdout.strip()
    PRODUCED.mkdir(parents=True, exist_ok=True)
    for s in SCENARIOS:
        b = base / s.name
        r = run(s, b)
        assert r.code != 0, f"{s.name}: uv unexpectedly succeeded:\n{r.out}"
        header = f"# produced by tests/explain_scenarios.py with {version}: {s.about}\n"
        (PRODUCED / f"{s.name}.txt").write_text(header + mask(r.out, b), encoding="utf-8")
        print(f"{s.name}: exit {r.code}")


def write_pypi_fixtures(base: Path) -> None:
    version = subprocess.run([_uv(), "--version"], capture_output=True, text=True).stdout.strip()
    d = base / "static_and_dynamic" / "project"
    code, out = run_uv(static_and_dynamic_project(d), d, base / "static_and_dynamic")
    assert code != 0, out
    (PRODUCED / "pypi_static_and_dynamic_dependencies.txt").write_text(
        f"# produced by tests/explain_scenarios.py --network with {version} against PyPI (setuptools): "
        "`dependencies` both given and in project.dynamic\n" + mask(out, base / "static_and_dynamic"),
        encoding="utf-8",
    )
    for s in PYPI_SCENARIOS:
        code, out = run_pip_compile(s, base / s.name)
        assert code != 0, f"{s.name}: uv unexpectedly succeeded:\n{out}"
        header = (
            f"# produced by tests/explain_scenarios.py --network with {version} against PyPI: {s.about}\n"
        )
        (PRODUCED / f"{s.name}.txt").write_text(header + mask(out, base / s.name) + "\n", encoding="utf-8")
        print(f"{s.name}: exit {code}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if "--record-network" in sys.argv:
            write_recorded_fixtures(Path(tmp) / "recorded")
            sys.exit(0)
        write_fixtures(Path(tmp))
        if "--network" in sys.argv:
            write_pypi_fixtures(Path(tmp) / "pypi")
