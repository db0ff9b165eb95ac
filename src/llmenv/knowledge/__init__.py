"""Cited compatibility facts, as typed, frozen data behind one loader.

``load()`` gives a :class:`Knowledge`: every table llmenv plans with (``torch``, ``cuda``, ``pins``,
``flash_attn``, ``engines``), each parsed the first time it is used. A table ``llmenv kb refresh`` rewrote in the
user data directory (``$LLMENV_DATA_DIR``, else platformdirs') is used instead of the bundled one when it parses;
the planner never knows which it got. ``info(name)`` / ``tables()`` say where each came from and of which date.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from llmenv.knowledge._store import TABLES, TableInfo, head_of, peek_date, read_bundled, stamp, user_data_dir
from llmenv.knowledge.cuda import CudaTable, UnknownFloor
from llmenv.knowledge.torch import RocmVariant, TorchPlatform, TorchRelease, TorchTable, TorchVariant

if TYPE_CHECKING:
    from llmenv.knowledge.engines import EngineTable
    from llmenv.knowledge.extension_builds import ExtensionBuilds
    from llmenv.knowledge.flash_attn import FlashAttnTable
    from llmenv.knowledge.pins import Pins
    from llmenv.knowledge.rocm import RocmTable

__all__ = [
    "CudaTable",
    "Knowledge",
    "RocmVariant",
    "TableInfo",
    "TorchPlatform",
    "TorchRelease",
    "TorchTable",
    "TorchVariant",
    "UnknownFloor",
    "load",
    "read_data",
    "user_data_dir",
    "using",
]


def read_data(name: str) -> Any:
    """Parse one bundled JSON table (``"cuda.json"``)."""
    return read_bundled(name)


def _date(text: str | None) -> str | None:
    return str(text)[:10] if text else None


_ATTRS = {"flash-attn": "flash_attn", "torch": "torch_table", "extension-builds": "extension_builds"}


class Knowledge:
    """Every table, user-refreshed or bundled, parsed on first use. Build one with :func:`load`."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        self._infos: dict[str, TableInfo] = {}
        self._tables: dict[str, Any] = {}

    def _read(self, name: str, parse: Any, bundled: Callable[[], tuple[Any, TableInfo]] | None = None) -> Any:
        """The table ``name`` parsed with ``parse(dict)``: the user's copy when it parses, else the bundled
        (``bundled()``: the bundled table and its info, when they are kept for the process)."""
        spec = TABLES[name]
        ignored = None
        if spec.refreshable and self.user_dir is not None:
            path = self.user_dir / spec.file
            if path.is_file():
                try:
                    raw = json.loads(path.read_text(encoding="utf-8"))
                    table = parse(raw)
                    if hasattr(table, "check"):
                        table.check()
                except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                    why = f"not JSON ({e})" if isinstance(e, json.JSONDecodeError) else f"{type(e).__name__}: {e}"
                    ignored = f"{path}: {why}"
                else:
                    self._infos[name] = self._info(name, "user", path, raw)
                    return table
        if bundled is not None:
            table, info = bundled()
            self._infos[name] = info._replace(ignored=ignored)
            return table
        raw = read_bundled(spec.file)
        self._infos[name] = self._info(name, "bundled", None, raw, ignored)
        return parse(raw)

    def table(self, name: str) -> Any:
        """Table ``name`` in the typed form its ``TABLES`` entry's ``parser`` makes (for tables defined
        outside this package, e.g. the wheel sources' listings): the user's refreshed copy when it parses and
        passes its ``check()``, else the bundled one (parsed once per process). A table with a
        ``with_info(TableInfo)`` method is given where it came from."""
        got = self._tables.get(name)
        if got is None:
            got = self._read(name, _parser(name), lambda: _bundled_table(name))
            with_info = getattr(got, "with_info", None)
            if callable(with_info):
                got = with_info(self._infos[name])
            self._tables[name] = got
        return got

    @staticmethod
    def _info(name: str, origin: str, path: Path | None, raw: Any, ignored: str | None = None) -> TableInfo:
        spec = TABLES[name]
        date = _date(raw.get("generated") or raw.get("verified")) if isinstance(raw, Mapping) else None
        source = spec.source
        if isinstance(raw, Mapping) and raw.get("read_from"):
            source = str(raw["read_from"])
        return TableInfo(
            name=name,
            what=spec.what,
            origin=origin,
            path=path,
            date=date,
            source=source,
            refreshable=spec.refreshable,
            ignored=ignored,
            made_by=spec.generator,
        )

    # -- the tables -----------------------------------------------------------------------------------------

    @cached_property
    def cuda(self) -> CudaTable:
        return self._read("cuda", CudaTable.from_dict)  # type: ignore[no-any-return]

    @cached_property
    def torch_table(self) -> TorchTable:
        return self._read("torch", TorchTable.from_dict)  # type: ignore[no-any-return]

    @property
    def torch(self) -> tuple[TorchRelease, ...]:
        """Every torch release, newest first."""
        return self.torch_table.releases

    @property
    def torch_sources(self) -> Mapping[str, str]:
        return self.torch_table.sources

    def torch_release(self, version: Version | str) -> TorchRelease | None:
        return self.torch_table.release(version)

    @cached_property
    def pins(self) -> Pins:
        from llmenv.knowledge.pins import load_pins

        pins = load_pins(self.user_dir)
        self._infos["pins"] = TableInfo(
            name="pins",
            what=TABLES["pins"].what,
            origin=pins.origin,
            path=pins.path,
            date=_date(pins.generated),
            source=f"{pins.index} (PEP 691 pages; metadata by PEP 658 or wheel range reads)",
            refreshable=True,
            ignored=pins.ignored,
        )
        return pins

    @cached_property
    def flash_attn(self) -> FlashAttnTable:
        from llmenv.knowledge.flash_attn import FlashAttnTable

        return self._read("flash-attn", FlashAttnTable.from_dict)  # type: ignore[no-any-return]

    @cached_property
    def extension_builds(self) -> ExtensionBuilds:
        from llmenv.knowledge.extension_builds import ExtensionBuilds

        return self._read("extension-builds", ExtensionBuilds.from_dict)  # type: ignore[no-any-return]

    @cached_property
    def rocm(self) -> RocmTable:
        from llmenv.knowledge.rocm import RocmTable

        return self._read("rocm", RocmTable.from_dict)  # type: ignore[no-any-return]

    @cached_property
    def engines(self) -> EngineTable:
        from llmenv.knowledge.engines import EngineTable

        return self._read("engines", EngineTable.from_dict)  # type: ignore[no-any-return]

    # -- where they came from -------------------------------------------------------------------------------

    def info(self, name: str) -> TableInfo:
        """Where table ``name`` came from and of which date (reads the table if it was not read yet)."""
        if name not in self._infos:
            attr = _ATTRS.get(name, name)
            if hasattr(type(self), attr):
                getattr(self, attr)
            elif TABLES[name].parser:
                self.table(name)
            else:
                spec = TABLES[name]
                self._infos[name] = self._info(name, "bundled", None, read_bundled(spec.file))
        return self._infos[name]

    def date(self, name: str) -> str | None:
        """The date of table ``name`` without parsing it when it was not read yet (what the plan header needs:
        a plan of torch alone must not pay for parsing the pins)."""
        if name in self._infos:
            return self._infos[name].date
        spec = TABLES[name]
        user = self.user_dir / spec.file if spec.refreshable and self.user_dir is not None else None
        try:
            return peek_date(head_of(user if user is not None and user.is_file() else None, spec.file))
        except (OSError, UnicodeDecodeError):
            return None

    def raw(self, name: str) -> Any:
        """The JSON of table ``name`` as the loader uses it (the user's copy, or the bundled one): what ``kb
        refresh`` starts from."""
        info = self.info(name)
        if info.origin == "user" and info.path is not None and name != "pins":
            return json.loads(info.path.read_text(encoding="utf-8"))
        return read_bundled(TABLES[name].file)

    def tables(self) -> tuple[TableInfo, ...]:
        """Every table, in ``TABLES`` order."""
        return tuple(self.info(name) for name in TABLES)


def _parser(name: str) -> Callable[[Any], Any]:
    module, _, attr = TABLES[name].parser.partition(":")
    fn: Callable[[Any], Any] = getattr(importlib.import_module(module), attr)
    return fn


@cache
def _bundled_table(name: str) -> tuple[Any, TableInfo]:
    """A bundled table read through ``Knowledge.table`` and its info: parsed once per process."""
    raw = read_bundled(TABLES[name].file)
    return _parser(name)(raw), Knowledge._info(name, "bundled", None, raw)


@lru_cache(maxsize=8)
def _load(user_dir: Path | None, stamps: tuple[tuple[int, int] | None, ...]) -> Knowledge:
    del stamps  # part of the cache key only: a refreshed table is read again
    return Knowledge(user_dir)


_CURRENT: ContextVar[Path | None] = ContextVar("llmenv_knowledge_dir", default=None)


@contextmanager
def using(user_dir: Path) -> Iterator[Knowledge]:
    """Within the block, ``load()`` with no argument reads ``user_dir`` (a command's own environment, which
    may differ from ``os.environ``): code deep in the planner that calls ``load()`` gets the same tables."""
    token = _CURRENT.set(user_dir)
    try:
        yield load(user_dir)
    finally:
        _CURRENT.reset(token)


def load(user_dir: Path | None = None) -> Knowledge:
    """The knowledge in use: the user's refreshed tables (in ``user_dir``, default the user data directory)
    where valid, else the bundled ones. Cached per process, per user directory and per state of its files."""
    where = user_dir if user_dir is not None else (_CURRENT.get() or user_data_dir())
    stamps = tuple(stamp(where / t.file) for t in TABLES.values() if t.refreshable)
    return _load(where, stamps)
