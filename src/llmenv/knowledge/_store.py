"""Where each table's JSON comes from: the copy bundled in the package, or the user's (``kb refresh`` writes it).

A refreshable table found in the user data directory wins when it parses; a broken one is set aside (the bundled
copy is used, and ``kb show`` says why). The curated tables (the CUDA -> driver table, build and check facts) are
always the bundled ones.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["TABLES", "Table", "TableInfo", "bundled_text", "read_bundled", "user_data_dir"]


class Table(NamedTuple):
    """One table: its file, what it holds, and whether ``kb refresh`` rewrites it (a NamedTuple: cheap to
    define, and defined at every start)."""

    name: str
    file: str
    what: str
    refreshable: bool  # kb refresh writes it into the user data directory
    source: str  # where kb refresh reads it from (or why it is curated)
    # "module:function" turning the table's JSON into its typed form, for a table read with
    # ``Knowledge.table(name)`` (one defined outside this package: it is imported when first read)
    parser: str = ""
    # a table made by a script rather than by ``kb refresh`` (its user copy still wins when it parses: the
    # script's ``--output`` can write it there)
    generator: str = ""


TABLES: Mapping[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="torch",
            file="torch.json",
            what="torch releases x platforms x variants (Python, ABI, architectures, torchvision/torchaudio)",
            refreshable=True,
            source="the PyTorch index's pages and wheels, PyPI",
        ),
        Table(
            name="cuda",
            file="cuda.json",
            what="CUDA toolkit -> minimum NVIDIA driver",
            refreshable=False,
            source="curated: NVIDIA release notes Table 3 (no machine-readable source)",
        ),
        Table(
            name="pins",
            file="pins.json",
            what="every release's Requires-Dist of the frameworks, engines and what they pin",
            refreshable=True,
            source="PyPI (PEP 691 pages, PEP 658 metadata or wheel range reads)",
        ),
        Table(
            name="engines",
            file="engine_torch_pins.json",
            what="the exact torch pin of each vLLM / SGLang release",
            refreshable=True,
            source="derived from the pins table",
        ),
        Table(
            name="flash-attn",
            file="flash_attn.json",
            what="flash-attn releases: prebuilt wheel matrix, build facts, known breakages",
            refreshable=True,
            source="GitHub releases API (Dao-AILab/flash-attention assets); build facts curated",
        ),
        Table(
            name="extension-builds",
            file="extension_builds.json",
            what="what PyPI's xformers / flash-attn-4 wheels were built with or require; the engines' cutlass pins",
            refreshable=True,
            source="scripts/gen_extension_builds.py: PyPI (xformers' cpp_lib.json, flash-attn-4's metadata), facts",
            generator="scripts/gen_extension_builds.py",
        ),
        Table(
            name="wheel-sources",
            file="wheel_listings.json",
            what="the files each prebuilt-wheel source lists (Astral, the PyTorch index, vLLM, GitHub releases)",
            refreshable=True,
            source="each source's index (PEP 691 / 503) or GitHub releases API; the facts where unreachable",
            parser="llmenv.sources.listing:parse_listings",
        ),
        Table(
            name="wheel-catalog",
            file="wheel_sources.json",
            what="the prebuilt-wheel sources: format, URL templates, local-version dialect, mirroring",
            refreshable=False,
            source="curated from each producer's build configuration (facts F_wheel_sources.md)",
        ),
        Table(
            name="pinned-requires",
            file="pinned_requires.json",
            what="Requires-Dist of a few exact releases real projects pin",
            refreshable=False,
            source="curated from PyPI metadata",
        ),
        Table(
            name="builds",
            file="builds.json",
            what="packages that build from source, and what their builds need",
            refreshable=False,
            source="curated",
        ),
        Table(
            name="check-packages",
            file="check_packages.json",
            what="package facts `llmenv check` uses",
            refreshable=False,
            source="curated",
        ),
        Table(
            name="rocm",
            file="rocm.json",
            what="AMD ROCm: which ROCm builds run on which host, their gfx targets, vLLM's and flash-attn's ROCm",
            refreshable=False,
            source="curated: AMD's kernel/user-space support matrix, uv-torch's gfx table, vLLM and flash-attn docs",
        ),
        Table(
            name="uv-settings",
            file="uv_settings.json",
            what="uv settings `llmenv check` knows",
            refreshable=False,
            source="curated from uv's documentation",
        ),
    )
}


class TableInfo(NamedTuple):
    """What ``kb show`` says of one table."""

    name: str
    what: str
    origin: str  # "bundled" | "user"
    path: Path | None
    date: str | None  # the day it was read (refreshed) or verified (curated)
    source: str
    refreshable: bool
    ignored: str | None = None  # why the user's copy was not used
    made_by: str = ""  # the script that makes it, when ``kb refresh`` does not

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "what": self.what,
            "origin": self.origin,
            "path": str(self.path) if self.path else None,
            "date": self.date,
            "source": self.source,
            "refreshable": self.refreshable,
            "ignored": self.ignored,
            "made_by": self.made_by or None,
        }


_DATE = re.compile(r'"(generated|verified)"\s*:\s*"(\d{4}-\d{2}-\d{2})')


def peek_date(head: str) -> str | None:
    """A table's date from the start of its text (``generated``, else ``verified``), without parsing it all:
    every table llmenv writes names them within its first lines."""
    found: dict[str, str] = {m.group(1): m.group(2) for m in _DATE.finditer(head)}
    return found.get("generated") or found.get("verified")


def head_of(path: Path | None, file: str, size: int = 4096) -> str:
    """The first ``size`` characters of a user table (``path``) or of the bundled ``file``."""
    if path is not None:
        with open(path, encoding="utf-8") as f:
            return f.read(size)
    with bundled_file(file).open(encoding="utf-8") as f:
        return f.read(size)


_DATA = Path(__file__).resolve().parent / "data"


def bundled_file(file: str) -> Traversable:
    """A bundled table: a plain file next to this module when the package is installed as files (a wheel, an
    editable install: no importlib.resources, whose import pulls in tempfile and zipfile), else the package
    resource (a zip)."""
    path = _DATA / file
    if path.is_file():
        return path
    from importlib import resources

    return resources.files("llmenv.knowledge").joinpath("data").joinpath(file)


def bundled_text(file: str) -> str:
    return bundled_file(file).read_text(encoding="utf-8")


def read_bundled(file: str) -> Any:
    return json.loads(bundled_text(file))


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where llmenv keeps user data: ``$LLMENV_DATA_DIR``, else platformdirs' user data dir."""
    env = environ if environ is not None else os.environ
    if env.get("LLMENV_DATA_DIR"):
        return Path(env["LLMENV_DATA_DIR"])
    import platformdirs

    return Path(platformdirs.user_data_dir("llmenv"))


def stamp(path: Path) -> tuple[int, int] | None:
    """(mtime, size) of a user table, or None when there is none: a rewritten file is read again."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
