"""Reading the user's files without surprises: a FIFO, socket or device named where a file belongs is refused,
never opened for a blocking read (it would hang); a folder, an unreadable or an oversized file is one line, exit 2.
llmenv's own data files (knowledge tables, wheel listings, index pages, the base link) are written atomically here;
a user's pyproject.toml goes through ``llmenv.project.atomic_write``, which also keeps its mode and symlink."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from llmenv.errors import UsageError

__all__ = ["read_regular", "write_text_atomic"]


def read_regular(path: Path, *, limit: int = 256 << 20) -> bytes | None:
    """A file's bytes, None when it does not exist. A folder, a FIFO, a device or an unreadable or oversized
    file is a UsageError (exit 2): nothing blocks on a FIFO (opened non-blocking, checked before reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a file") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{path} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file (a FIFO, socket or device); llmenv reads only files")
        if st.st_size > limit:
            raise UsageError(f"{path} is {st.st_size >> 20} MiB: too large to be what llmenv reads")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder (mode 0644), flushed to disk,
    then ``os.replace``; on any failure or interruption the old file stays and no temporary file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; llmenv's data files are ordinary data
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
