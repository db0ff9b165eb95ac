"""The user's own wheel source (``--wheels URL|DIR``): a mirror, an index or a local folder, searched like the
known sources.

- a folder: its wheels (and those one sub-folder deep) are read directly, METADATA included (``local.py``);
  uv uses it as a flat index;
- a URL whose page links to ``.whl`` files: a flat page (``find-links``, a served folder, a mirror of GitHub
  release assets that lists its files);
- a URL whose page lists projects: a simple index (PEP 691 / PEP 503), whose project pages are read for the
  packages asked about.

``kind`` says which, so the renderer writes ``format = "flat"`` or a plain index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from llmenv.sources.fetch import Fetcher, FetchError
from llmenv.sources.index import ACCEPT, parse_page, read_project
from llmenv.sources.listing import ListedWheel
from llmenv.sources.local import read_folder

__all__ = ["USER_SOURCE", "UserWheels", "read_user_wheels"]

USER_SOURCE = "wheels"


@dataclass(frozen=True, kw_only=True)
class UserWheels:
    location: str  # the folder (absolute) or URL as given
    kind: str  # "folder" | "flat" | "index"
    wheels: tuple[ListedWheel, ...]
    problems: tuple[str, ...] = ()  # files that could not be read (a folder's broken wheels)

    def of(self, package: str) -> tuple[ListedWheel, ...]:
        name = canonicalize_name(package)
        return tuple(w for w in self.wheels if w.build is not None and w.build.name == name)


def _folder(path: Path) -> UserWheels:
    wheels = []
    problems = []
    for lw in read_folder(path):
        if lw.problem:
            problems.append(f"{lw.path.name}: {lw.problem}")
            continue
        wheels.append(
            ListedWheel(
                source=USER_SOURCE,
                at=lw.at,
                filename=lw.path.name,
                torch_requirement=lw.torch_requirement,
                url=lw.path.resolve().as_uri(),
            )
        )
    return UserWheels(location=str(path), kind="folder", wheels=tuple(wheels), problems=tuple(problems))


def read_user_wheels(location: str, *, fetcher: Fetcher | None, packages: Iterable[str]) -> UserWheels:
    """Read the user's source. A URL needs ``fetcher``; FetchError when it cannot be read (or is neither)."""
    if "://" not in location or location.startswith("file://"):
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.is_dir():
            raise FetchError(f"{location}: no such folder")
        return _folder(path)
    if fetcher is None:
        raise FetchError(f"{location}: a URL source needs the network")
    resp = fetcher.get(location, headers={"Accept": ACCEPT})
    assert resp is not None
    files, projects = parse_page(resp.text, resp.headers.get("content-type", "text/html"), str(resp.url))
    if files:
        return UserWheels(
            location=location,
            kind="flat",
            wheels=tuple(
                ListedWheel(source=USER_SOURCE, at="", filename=f.filename, sha256=f.sha256, url=f.url)
                for f in files
            ),
        )
    if not projects:
        raise FetchError(f"{location}: neither a page of wheels nor a simple index")
    wheels: list[ListedWheel] = []
    for p in packages:
        name = canonicalize_name(p)
        if name not in projects:
            continue
        for f in read_project(fetcher, location, name) or ():
            wheels.append(
                ListedWheel(
                    source=USER_SOURCE,
                    at="",
                    filename=f.filename,
                    sha256=f.sha256,
                    uploaded=f.uploaded,
                    url=f.url,
                )
            )
    return UserWheels(location=location, kind="index", wheels=tuple(wheels))
