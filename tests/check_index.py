"""Real PyPI pages, offline, for the check tests.

``tests/fixtures/check/index/<name>.json`` are PEP 691 pages captured from pypi.org (trimmed to a few releases;
``scripts/capture_check_index.py``). ``catalog()`` serves them to llmenv's PyPI client through an in-process
transport (every other package: 404); ``stub_index()`` serves stub wheels and sdists of exactly those file names
and Requires-Python over loopback HTTP, so the real uv resolves against the same facts check reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from llmenv.check import Catalog
from llmenv.pypi import SIMPLE_JSON, PyPIClient

from .pypi_server import IndexServer
from .wheelfactory import make_sdist_only, make_wheel

PAGES = Path(__file__).parent / "fixtures" / "check" / "index"
TEST_INDEX = "https://pypi.test/simple"

__all__ = ["PAGES", "catalog", "lock", "pages", "serve_wheel", "stub_index"]


@cache
def pages() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(PAGES.glob("*.json"))}


def _answer(request: httpx.Request) -> httpx.Response:
    name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    page = pages().get(name)
    if page is None:
        return httpx.Response(404, text="no such project")
    return httpx.Response(200, json=page, headers={"content-type": SIMPLE_JSON})


def catalog(*, pins: Any = None) -> Catalog:
    """A Catalog that reads the captured pages as if online (``pins``: a snapshot behind it, default none)."""
    client = PyPIClient(TEST_INDEX, transport=httpx.MockTransport(_answer), retries=0)
    return Catalog(pins=pins, client=client)


def _stub(folder: Path, project: str, f: dict[str, Any]) -> Path:
    filename = f["filename"]
    rp = f.get("requires-python")
    if filename.endswith(".whl"):
        _, version, _, tags = parse_wheel_filename(filename)
        tag = sorted(str(t) for t in tags)[0]
        return make_wheel(folder, project, str(version), tag=tag, filename=filename, requires_python=rp)
    _, version = parse_sdist_filename(filename)
    path = make_sdist_only(folder, project, str(version), "raise SystemExit('a stub sdist is never built')\n")
    return path.rename(folder / filename) if path.name != filename else path


def stub_index(tmp: Path, names: Iterable[str] | None = None) -> IndexServer:
    """A started loopback PEP 691 index with stub files for the captured pages (``names``: some of them)."""
    server = IndexServer()
    for project, page in pages().items():
        if names is not None and project not in names:
            continue
        for f in page["files"]:
            path = _stub(tmp / "stubs" / project, project, f)
            server.add(project, path, requires_python=f.get("requires-python"), pep658=path.suffix == ".whl")
    return server.start()


def serve_wheel(server: IndexServer, tmp: Path, project: str, version: str, url: str, **kw: Any) -> str:
    """Serve a stub wheel named like the file at ``url``; returns its loopback URL."""
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    tag = sorted(str(t) for t in parse_wheel_filename(filename)[3])[0]
    path = make_wheel(tmp / "urls" / project, project, version, tag=tag, filename=filename, **kw)
    server.add(project, path)
    root = server.url.removesuffix("/simple")
    return f"{root}/files/{project}/{filename}"


def lock(
    project_dir: Path, index: str | None, python: str = "3.12", extra: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``uv lock`` of ``project_dir`` against ``index`` (the default index; None: no index at all)."""
    import uv

    interpreter = _python(python)
    args = [uv.find_uv_bin(), "lock", "--python", interpreter, "--no-python-downloads", *extra]
    args += ["--default-index", index] if index else ["--no-index"]
    return subprocess.run(args, cwd=project_dir, capture_output=True, text=True, timeout=120, check=False)


def _python(minor: str) -> str:
    found = sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python"))
    return str(found[-1]) if found else sys.executable


def said(out: subprocess.CompletedProcess[str]) -> str:
    """uv's stderr with its line wrapping undone."""
    return " ".join(out.stderr.split())
