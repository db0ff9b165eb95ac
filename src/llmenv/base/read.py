"""Read a base's installed packages and its torch statically: dist-info METADATA, torch's own files.

Nothing is imported or run here. The packages come from ``*.dist-info/METADATA`` (and ``*.egg-info``) in the
site folders, first folder first (what ``importlib.metadata`` and the import system see). The torch facts come
from files every torch build installs:

* ``torch/version.py`` (generated at build time: ``__version__``, ``cuda``, ``hip``);
* ``torch/share/cmake/Torch/TorchConfig.cmake``, configured with ``-D_GLIBCXX_USE_CXX11_ABI=0|1``
  (pytorch ``cmake/TorchConfig.cmake.in``). Without it: NVIDIA's builds always use the cxx11 ABI (facts D4), and
  PyPI's torch does from 2.7 on (facts B).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping
from email.parser import HeaderParser

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.base.files import Files
from llmenv.base.interpreter import Interpreter
from llmenv.base.model import (
    BaseEnvironment,
    BasePackage,
    BaseTorch,
    cuda_or_none,
    nvidia_build,
    nvidia_release,
)

__all__ = ["parse_torch_version_file", "read_base", "read_nccl", "read_packages", "read_torch"]

_ABI = re.compile(r"-D_GLIBCXX_USE_CXX11_ABI=([01])")
_LIBNCCL = re.compile(r"^libnccl\.so\.(\d+\.\d+\.\d+)$")
_NCCL_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/local/cuda/lib64",
)


def _metadata(text: str) -> tuple[str, str, tuple[str, ...]] | None:
    headers = HeaderParser().parsestr(text)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return (
        str(name).strip(),
        str(version).strip(),
        tuple(str(r) for r in headers.get_all("Requires-Dist") or ()),
    )


def _dist_metadata(site: str, entry: str, files: Files) -> str | None:
    if entry.endswith(".dist-info"):
        return files.read_head(f"{site}/{entry}/METADATA")
    if entry.endswith(".egg-info"):  # a folder (setup.py install / develop) or a single PKG-INFO file
        return files.read_head(f"{site}/{entry}/PKG-INFO") or files.read_head(f"{site}/{entry}")
    return None


def read_packages(
    site: Iterable[str], files: Files | None = None, *, only: str | None = None
) -> dict[str, BasePackage]:
    """Every distribution installed in the ``site`` folders: normalized name -> package (the first one wins).
    ``only``: just that one (its metadata folders are found by name, nothing else is read)."""
    files = files or Files()
    out: dict[str, BasePackage] = {}
    prefix = canonicalize_name(only).replace("-", "_") if only else None
    for folder in site:
        for entry in files.listdir(folder):
            if prefix is not None and canonicalize_name(entry.split("-")[0]).replace("-", "_") != prefix:
                continue
            text = _dist_metadata(folder, entry, files)
            meta = _metadata(text) if text else None
            if meta is None:
                continue
            name = canonicalize_name(meta[0])
            if name not in out:
                out[name] = BasePackage(
                    name=name, version=meta[1], location=folder, dist=entry, requires=meta[2]
                )
    return out


def parse_torch_version_file(text: str) -> dict[str, str | None]:
    """``torch/version.py`` -> its literal assignments (``__version__``, ``cuda``, ``hip``, ``git_version``)."""
    out: dict[str, str | None] = {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return out
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            literal = value.value
            if literal is None or isinstance(literal, str):
                out[target.id] = literal
    return out


def _abi(torch_dir: str, version: str, files: Files) -> tuple[bool, str]:
    cmake = f"{torch_dir}/share/cmake/Torch/TorchConfig.cmake"
    m = _ABI.search(files.read_text(cmake) or "")
    if m:
        return m.group(1) == "1", f"{cmake}: -D_GLIBCXX_USE_CXX11_ABI={m.group(1)}"
    if nvidia_build(version):
        return True, "NVIDIA's torch builds use the cxx11 ABI (facts D4)"
    try:
        new = Version(version).release[:2] >= (2, 7)
    except InvalidVersion:
        new = False
    return new, f"PyPI torch {'>= 2.7 uses' if new else '<= 2.6 uses the pre-'} cxx11 ABI (facts B)"


def read_torch(pkg: BasePackage, files: Files | None = None) -> BaseTorch:
    """The base torch's build facts, from its files (never imported)."""
    files = files or Files()
    torch_dir = f"{pkg.location}/torch"
    vfile = f"{torch_dir}/version.py"
    facts = parse_torch_version_file(files.read_text(vfile) or "")
    cuda = cuda_or_none(facts.get("cuda"))
    if cuda is not None:
        cuda_fact = f"{vfile}: cuda = {facts.get('cuda')!r}"
    else:
        cuda_fact = f"{vfile}: no CUDA" if "cuda" in facts else f"{vfile} not readable: CUDA unknown"
    abi, abi_fact = _abi(torch_dir, pkg.version, files)
    return BaseTorch(
        version=pkg.version,
        cuda=cuda,
        hip=facts.get("hip"),
        cxx11_abi=abi,
        abi_fact=abi_fact,
        cuda_fact=cuda_fact,
        location=torch_dir,
    )


def read_nccl(
    packages: Mapping[str, BasePackage], environ: Mapping[str, str], files: Files | None = None
) -> tuple[str | None, str | None]:
    """The NCCL the base torch loads: an ``nvidia-nccl-cuNN`` wheel, else the system library (NGC builds
    torch against ``libnccl.so.2`` from the image, whose ``NCCL_VERSION`` says it)."""
    files = files or Files()
    for name, pkg in sorted(packages.items()):
        if re.fullmatch(r"nvidia-nccl-cu\d+", name):
            return pkg.version, f"{name} {pkg.version} installed in {pkg.location}"
    for folder in _NCCL_DIRS:
        if files.exists(f"{folder}/libnccl.so.2"):
            m = _LIBNCCL.match(os.path.basename(files.realpath(f"{folder}/libnccl.so.2")))
            if m:
                return m.group(1), f"{folder}/libnccl.so.2 -> libnccl.so.{m.group(1)}"
    v = environ.get("NCCL_VERSION", "").strip()
    if re.fullmatch(r"\d+\.\d+\.\d+(-\d+)?", v):
        return v.split("-")[0], f"NCCL_VERSION={v}"
    return None, None


_ARCH = re.compile(r"^(\d{1,2})\.(\d)(\+PTX)?$")


def _with_archs(torch: BaseTorch, environ: Mapping[str, str]) -> BaseTorch:
    """NGC sets ``TORCH_CUDA_ARCH_LIST`` to the architectures its torch was built for (facts J1, 25.04:
    ``7.5 8.0 8.6 9.0 10.0 12.0+PTX``); it describes the image's torch only inside NGC."""
    text = environ.get("TORCH_CUDA_ARCH_LIST", "")
    if not environ.get("NVIDIA_PYTORCH_VERSION") or not nvidia_build(torch.version) or not text.strip():
        return torch
    items = text.replace(";", " ").split()
    if not items or not all(_ARCH.match(i) for i in items):
        return torch
    from dataclasses import replace

    return replace(torch, archs=tuple(items), archs_fact=f"TORCH_CUDA_ARCH_LIST={text.strip()} (NGC)")


def read_base(
    interp: Interpreter,
    *,
    environ: Mapping[str, str],
    files: Files | None = None,
    origin: str,
    image: str | None = None,
) -> BaseEnvironment:
    """Everything the base interpreter has, read from its site folders."""
    files = files or Files()
    packages = read_packages(interp.site, files)
    torch = read_torch(packages["torch"], files) if "torch" in packages else None
    if torch is not None and torch.cuda is not None:
        torch = _with_archs(torch, environ)
    nccl, nccl_fact = read_nccl(packages, environ, files)
    from llmenv.base.link import base_modules
    from llmenv.base.model import MODULE_DISTS

    modules = tuple(sorted(m for m in base_modules(interp.site, files) if m in MODULE_DISTS))
    if image is None and torch is not None and nvidia_release(torch.version):
        image = f"NGC {nvidia_release(torch.version)}"
    return BaseEnvironment(
        python=interp.python,
        python_version=interp.version,
        site=interp.site,
        packages=packages,
        torch=torch,
        nccl=nccl,
        nccl_fact=nccl_fact,
        origin=origin,
        image=image,
        modules=modules,
    )
