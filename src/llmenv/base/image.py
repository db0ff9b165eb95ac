"""Is llmenv running inside an image that ships torch? Environment variables and paths, read only.

The signs (facts J1-J3): NGC sets ``NVIDIA_PYTORCH_VERSION`` (the container release, ``25.01``, not torch's
version), ``NVIDIA_PRODUCT_NAME=PyTorch``, and from 25.03 ships ``/etc/pip/constraint.txt``, with the torch
source in ``/opt/pytorch``; its torch is in the system interpreter's ``/usr/local/lib/python3.X/dist-packages``
(conda's ``/opt/conda`` up to ~2022). ``pytorch/pytorch`` images set ``PYTORCH_VERSION`` and keep torch in
``/opt/conda`` up to 2.9, in ``/usr/local/lib/python3.X/dist-packages`` from 2.10. A torch whose version is
NVIDIA's ``X.Y.0a0+<commit>.nvYY.MM`` in a system interpreter is an NGC image (or one built from it) even when
the variables are gone. Nothing is run: the interpreter's layout is read (``static_interpreter``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmenv.base.files import Files
from llmenv.base.interpreter import static_interpreter
from llmenv.base.model import BaseEnvironment, nvidia_build, nvidia_release
from llmenv.base.read import read_base, read_packages

__all__ = ["Image", "detect_image", "find_base"]

# Where each kind of image keeps its interpreter, most likely first.
_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_CONDA_PYTHONS = ("/opt/conda/bin/python3", "/opt/conda/bin/python")
_CONTAINER_FILES = ("/.dockerenv", "/run/.containerenv", "/singularity")


@dataclass(frozen=True, kw_only=True)
class Image:
    kind: str  # "ngc" | "pytorch" | "container"
    release: str | None  # NGC's YY.MM, pytorch's PYTORCH_VERSION
    evidence: tuple[str, ...]
    pythons: tuple[str, ...]  # interpreters to read, in order

    @property
    def name(self) -> str:
        if self.kind == "ngc":
            return f"NGC {self.release}" if self.release else "NGC"
        if self.kind == "pytorch":
            return f"pytorch/pytorch {self.release}" if self.release else "pytorch/pytorch"
        return "a container"


def _system_torch(files: Files) -> tuple[str, str] | None:
    """(site folder, torch version) of a torch installed for a system or conda interpreter."""
    for pattern in (
        "/usr/local/lib/python3.*/dist-packages",
        "/usr/lib/python3/dist-packages",
        "/opt/conda/lib/python3.*/site-packages",
        "/usr/local/lib/python3.*/site-packages",
    ):
        for folder in files.glob(pattern):
            if files.is_dir(f"{folder}/torch"):
                pkg = read_packages([folder], files, only="torch").get("torch")
                if pkg:
                    return folder, pkg.version
    return None


def _pythons_for(folder: str | None) -> tuple[str, ...]:
    if folder and folder.startswith("/opt/conda/"):
        return (*_CONDA_PYTHONS, *_SYSTEM_PYTHONS)
    return (*_SYSTEM_PYTHONS, *_CONDA_PYTHONS)


def _ngc_signs(environ: Mapping[str, str], files: Files, torch: tuple[str, str] | None) -> list[str]:
    signs = []
    if environ.get("NVIDIA_PYTORCH_VERSION", "").strip():
        signs.append(f"NVIDIA_PYTORCH_VERSION={environ['NVIDIA_PYTORCH_VERSION'].strip()}")
    if environ.get("NVIDIA_PRODUCT_NAME", "").strip().lower() == "pytorch":
        signs.append("NVIDIA_PRODUCT_NAME=PyTorch")
    if files.is_file("/etc/pip/constraint.txt") and files.is_dir("/opt/pytorch"):
        signs.append("/etc/pip/constraint.txt and /opt/pytorch (NGC >= 25.03)")
    if torch and nvidia_build(torch[1]):
        signs.append(f"torch {torch[1]} is NVIDIA's build")
    return signs


def detect_image(environ: Mapping[str, str], files: Files | None = None) -> Image | None:
    """The image llmenv runs in, when it is one that ships torch; None otherwise."""
    files = files or Files()
    torch = _system_torch(files)
    where = [f"torch {torch[1]} in {torch[0]}"] if torch else []
    pythons = _pythons_for(torch[0] if torch else None)
    ngc = _ngc_signs(environ, files, torch)
    if ngc:
        release = environ.get("NVIDIA_PYTORCH_VERSION", "").strip() or None
        if release is None and torch:
            release = nvidia_release(torch[1])
        return Image(kind="ngc", release=release, evidence=(*ngc, *where), pythons=pythons)
    pytorch = (environ.get("PYTORCH_VERSION") or environ.get("PYTORCH_BUILD_VERSION") or "").strip()
    if pytorch:
        return Image(
            kind="pytorch", release=pytorch, evidence=(f"PYTORCH_VERSION={pytorch}", *where), pythons=pythons
        )
    marker = next((p for p in _CONTAINER_FILES if files.exists(p)), None)
    if torch and marker:
        return Image(kind="container", release=None, evidence=(marker, *where), pythons=pythons)
    return None


def find_base(environ: Mapping[str, str], files: Files | None = None) -> BaseEnvironment | None:
    """The base environment of the image llmenv runs in (its first interpreter that has torch), or None."""
    files = files or Files()
    image = detect_image(environ, files)
    if image is None:
        return None
    for python in image.pythons:
        interp = static_interpreter(python, files)
        if interp is None or not interp.site:
            continue
        base = read_base(
            interp,
            environ=environ,
            files=files,
            origin=f"{image.name} ({'; '.join(image.evidence)})",
            image=image.name,
        )
        if base.torch is not None:
            return base
    return None
