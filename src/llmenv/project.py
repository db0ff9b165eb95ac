"""The user's pyproject.toml: read with the error's location, written atomically, restored on failure.

A user's ``pyproject.toml`` is precious: llmenv keeps every byte it does not manage, writes through a temporary
file and ``os.replace`` (never a half-written file), and puts the previous bytes back when a later step fails.
A symlinked file is written through to its target (the link stays a link). Two llmenv runs editing one project
take turns (``locked``: an exclusive lock on the file's folder from the read to the last write), and a file that
changed on disk since llmenv read it is not overwritten.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.toml_document import TOMLDocument

from llmenv._tomledit import match_newlines
from llmenv.errors import UsageError
from llmenv.files import read_regular
from llmenv.shape import check_pyproject

__all__ = ["ProjectFile", "atomic_write", "diff", "locked", "parse_toml", "resolve_pyproject"]


def resolve_pyproject(path: Path) -> Path:
    """A folder means its pyproject.toml."""
    return path / "pyproject.toml" if path.is_dir() else path


def parse_toml(text: str, where: str) -> TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as e:
        raise UsageError(f"{where}: not valid TOML at line {e.line}, column {e.col}: {_reason(e)}") from None
    except TOMLKitError as e:  # a key given twice: tomlkit says which, tomllib (3.11+) says where
        raise UsageError(f"{where}: not valid TOML: {_located(text, e)}") from None


def _located(text: str, e: Exception) -> str:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as located:
            return f"{e} ({located})" if "line" in str(located) else str(e)
    return str(e)


def _reason(e: ParseError) -> str:
    msg = str(e)
    return msg.split(" at line ")[0] if " at line " in msg else msg


def real_path(path: Path) -> Path:
    """Where the bytes of ``path`` live: a symlink's target (followed to the end), else the path itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``. A symlink is
    written through: its target gets the new bytes and the link stays."""
    path = real_path(path)
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:  # a new file: what open() would give it (mkstemp makes it 0600)
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


@contextlib.contextmanager
def locked(path: Path, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` (of its real file) for the block, so that two llmenv runs
    editing one project take turns instead of one losing the other's edits. ``on_wait`` is called once when
    another run holds the lock (before waiting for it). The folder is locked rather than the file because the
    file is replaced on each write; no lock file is left behind. Where there is no ``flock`` (Windows) the block
    runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = real_path(path).parent
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as e:
        raise UsageError(f"cannot open {folder}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a filesystem without locks: run unlocked rather than not at all
            pass
        yield
    finally:
        os.close(fd)


def diff(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


@dataclass
class ProjectFile:
    """A pyproject.toml on disk: its original bytes (None when it did not exist) and the parsed document."""

    path: Path
    original: bytes | None
    doc: TOMLDocument

    @classmethod
    def open(cls, path: Path) -> ProjectFile:
        if path.is_dir():
            raise UsageError(f"{path} is a folder, not a pyproject.toml")
        raw = read_regular(path)  # a FIFO or device is refused, never read (it would block)
        if raw is None:
            return cls(path=path, original=None, doc=tomlkit.document())
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not UTF-8 text") from None
        doc = parse_toml(text, str(path))
        check_pyproject(doc.unwrap(), str(path))  # wrong-typed fields llmenv uses: one line, before any edit
        return cls(path=path, original=raw, doc=doc)

    @property
    def original_text(self) -> str:
        return self.original.decode("utf-8") if self.original is not None else ""

    def text(self) -> str:
        """The document as it would be written, in the original file's line endings."""
        return match_newlines(tomlkit.dumps(self.doc), self.original_text)

    def changed(self) -> bool:
        return self.text() != self.original_text or self.original is None

    def write(self) -> bool:
        """Write the document when it changed; returns whether the file was written."""
        if not self.changed():
            return False
        target = real_path(self.path)
        if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
            raise UsageError(f"cannot write {self.path}: permission denied")
        self._unchanged_on_disk()
        atomic_write(self.path, self.text().encode("utf-8"))
        return True

    def _unchanged_on_disk(self) -> None:
        """Refuse to overwrite edits made by someone else (an editor, a run that does not take the lock) since
        the file was read."""
        try:
            now: bytes | None = real_path(self.path).read_bytes()
        except FileNotFoundError:
            now = None
        except OSError:
            return  # the write reports what is wrong with the file
        if now != self.original:
            raise UsageError(
                f"{self.path} changed on disk while llmenv was editing it; nothing written",
                hint="run the command again",
            )

    def restore(self) -> None:
        """Put the previous bytes back (or remove the file llmenv created)."""
        if self.original is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            atomic_write(self.path, self.original)
