"""A wheelhouse's hashed index: PEP 503 pages under ``DIR/simple/`` whose links carry ``#sha256=``.

uv reads a local simple index (``[[tool.uv.index]] url = "DIR/simple"``, a path or ``file://`` URL) like a
remote one: it records each link's sha256 in ``uv.lock`` and checks the file against it when it installs, so a
wheel swapped in the folder after indexing is refused on the node. (A flat folder, ``format = "flat"``, gives
``path`` entries with no hash: nothing would be checked.) The wheels themselves stay in ``DIR`` (flat, so
``--find-links DIR`` works too); each page links ``../../<file>``.

Only files llmenv verified are indexed: hashed against the lock, or checked to be a readable wheel of the name
and version its file name says (:func:`check_wheel`).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import zipfile
from collections.abc import Mapping
from email.parser import HeaderParser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from llmenv.files import write_text_atomic

__all__ = ["INDEX", "BadWheel", "check_wheel", "index_url_path", "read_index", "sha256_of", "write_index"]

INDEX = "simple"


class BadWheel(Exception):
    """A file named like a wheel that is not one (not a zip, a corrupt member, the wrong METADATA)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_wheel(path: Path, filename: str | None = None) -> None:
    """BadWheel unless ``path`` is a zip whose members all read back (CRC) with one ``*.dist-info/METADATA``
    naming the package and version that ``filename`` (default: the path's name) says."""
    filename = filename or path.name
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise BadWheel("not a wheel file name") from None
    try:
        with zipfile.ZipFile(path) as z:
            broken = z.testzip()
            if broken is not None:
                raise BadWheel(f"{broken} is corrupt in the archive")
            metas = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(metas) != 1:
                raise BadWheel("no single .dist-info/METADATA in it")
            meta = HeaderParser().parsestr(z.read(metas[0]).decode("utf-8", errors="replace"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise BadWheel(f"not a zip archive ({e})") from None
    except OSError as e:
        raise BadWheel(f"cannot be read ({e.strerror or e})") from None
    got_name, got_version = meta.get("Name") or "", meta.get("Version") or ""
    if canonicalize_name(got_name) != name:
        raise BadWheel(f"its METADATA names {got_name!r}, not {str(name)!r}")
    try:  # a release asset may add a local label to the file name only (flash_attn-2.7.4.post1+cu12torch2.6...)
        meta_version = Version(got_version)
        same = meta_version == version or (meta_version.public == version.public and meta_version.local is None)
    except InvalidVersion:
        same = False
    if not same:
        raise BadWheel(f"its METADATA says version {got_version!r}, not {version}")


def index_url_path(folder: Path) -> Path:
    return folder / INDEX


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def read_index(folder: Path) -> dict[str, str] | None:
    """``{wheel file name: sha256}`` as the index under ``folder`` lists them; None when there is no index.
    Only links to a file of the folder itself (``../../<file>#sha256=<hex>``) count."""
    root = index_url_path(folder)
    if not (root / "index.html").is_file():
        return None
    out: dict[str, str] = {}
    for page in sorted(root.glob("*/index.html")):
        parser = _Links()
        try:
            parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for href in parser.hrefs:
            target, _, fragment = href.partition("#sha256=")
            if not target.startswith("../../") or "/" in target[6:] or len(fragment) != 64:
                continue
            out[unquote(target[6:])] = fragment.lower()
    return out


_HEAD = '<!DOCTYPE html>\n<html>\n<head><meta name="pypi:repository-version" content="1.0"><title>{t}</title></head>\n<body>\n'


def write_index(folder: Path, files: Mapping[str, str]) -> int:
    """(Re)write the index of ``folder`` to list exactly ``files`` (``{wheel file name: sha256}``); returns how
    many projects it serves. Each page is written atomically; pages of projects no longer there are removed."""
    projects: dict[str, list[tuple[str, str]]] = {}
    for filename, sha in files.items():
        project = str(parse_wheel_filename(filename)[0])
        projects.setdefault(project, []).append((filename, sha))
    root = index_url_path(folder)
    for name, items in sorted(projects.items()):
        links = "".join(
            f'<a href="../../{quote(f)}#sha256={sha}">{html.escape(f)}</a><br/>\n' for f, sha in sorted(items)
        )
        write_text_atomic(root / name / "index.html", _HEAD.format(t=f"Links for {name}") + links + "</body>\n</html>\n")
    if root.is_dir():
        for page in root.glob("*/index.html"):
            if page.parent.name not in projects:
                page.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    page.parent.rmdir()
    listing = "".join(f'<a href="{quote(n)}/">{html.escape(n)}</a><br/>\n' for n in sorted(projects))
    write_text_atomic(root / "index.html", _HEAD.format(t="Simple index") + listing + "</body>\n</html>\n")
    return len(projects)
