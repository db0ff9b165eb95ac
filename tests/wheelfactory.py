"""Tiny, valid wheels made on the fly, for running the real uv against local indexes with no network.

``make_wheel(folder, "torch", "2.6.0+cu124", requires=[...])`` writes a wheel whose METADATA says what we want;
a folder of such wheels is a flat index (``[[tool.uv.index]] format = "flat"``, or ``find-links``).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

__all__ = ["make_sdist_only", "make_wheel", "wheel_name"]


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def wheel_name(name: str, version: str, tag: str = "py3-none-any") -> str:
    dist = canonicalize_name(name).replace("-", "_")
    return f"{dist}-{version}-{tag}.whl"


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    extras: Mapping[str, Iterable[str]] | None = None,
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    filename: str | None = None,
    files: Mapping[str, str] | None = None,
    module: bool = True,
    local_in_dist_info: bool = False,
) -> Path:
    """Write a wheel into ``folder`` and return its path. ``filename`` overrides the standard name
    (to imitate release assets such as ``flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-...whl``);
    ``module=False`` leaves out the ``<name>/__init__.py`` package (a wheel of only ``files``).
    ``local_in_dist_info=True`` names the ``.dist-info`` folder with the whole version, local label included, as
    real wheels do (``torch-2.6.0+cu124.dist-info``; installers read the version from that name)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    public = version.split("+")[0] if filename is None else version
    di = f"{dist}-{public if filename is None else version.split('+')[0]}.dist-info"
    if local_in_dist_info:
        di = f"{dist}-{version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
    ]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {r}" for r in requires]
    for extra, reqs in (extras or {}).items():
        meta.append(f"Provides-Extra: {extra}")
        meta += [
            f"Requires-Dist: {r} ; extra == '{extra}'"
            if ";" not in r
            else f"Requires-Dist: {r.split(';')[0].strip()} ; ({r.split(';', 1)[1].strip()}) and extra == '{extra}'"
            for r in reqs
        ]
    contents: dict[str, bytes] = {
        **({f"{dist}/__init__.py": f"__version__ = {version!r}\n".encode()} if module else {}),
        f"{di}/METADATA": ("\n".join(meta) + "\n").encode(),
        f"{di}/WHEEL": f"Wheel-Version: 1.0\nGenerator: llmenv-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
    }
    for path, text in (files or {}).items():
        contents[path] = text.encode()
    record = [_record_line(p, d) for p, d in contents.items()] + [f"{di}/RECORD,,"]
    contents[f"{di}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = folder / (filename or wheel_name(name, version, tag))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in contents.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2024, 1, 1, 0, 0, 0)), d)
    return out


def make_sdist_only(folder: Path, name: str, version: str, setup_py: str) -> Path:
    """A source distribution whose ``setup.py`` is given (to make builds fail or need torch)."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    base = f"{dist}-{version}"
    out = folder / f"{base}.tar.gz"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    members = {
        f"{base}/setup.py": setup_py,
        f"{base}/PKG-INFO": pkg_info,
        f"{base}/pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
    }
    with tarfile.open(out, "w:gz") as t:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return out
