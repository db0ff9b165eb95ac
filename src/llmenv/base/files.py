"""The filesystem the base readers look at, rooted so that tests hand them a fake image tree.

``Files()`` is this machine. ``Files(root=tmp)`` reads ``tmp/usr/local/lib/...`` for ``/usr/local/lib/...``:
paths in and out stay the image's absolute paths, so what a test builds reads like the real image.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

__all__ = ["Files"]

# A METADATA, version.py or TorchConfig.cmake is a few KiB; anything far larger is not what we look for.
_READ_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Files:
    root: str = "/"

    def real(self, path: str) -> str:
        """The path on this machine of the image's ``path``."""
        if self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def _image(self, real: str, *, resolved: bool = False) -> str:
        if self.root in ("", "/"):
            return real
        root = os.path.realpath(self.root) if resolved else os.path.abspath(self.root)
        rel = os.path.relpath(real, root)
        return "/" if rel == "." else "/" + rel

    def read_text(self, path: str) -> str | None:
        try:
            with open(self.real(path), encoding="utf-8", errors="replace") as f:
                return f.read(_READ_LIMIT)
        except (OSError, ValueError):
            return None

    def read_head(self, path: str, limit: int = 1 << 20) -> str | None:
        """The text up to the first blank line (a METADATA's headers, not its long description)."""
        try:
            with open(self.real(path), "rb") as f:
                data = b""
                while len(data) < limit:
                    chunk = f.read(16384)
                    if not chunk:
                        break
                    data += chunk
                    end = data.find(b"\n\n")
                    if end >= 0:
                        data = data[: end + 1]
                        break
        except (OSError, ValueError):
            return None
        return data.decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.real(path)))
        except (OSError, ValueError):
            return []

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self.real(path))

    def is_file(self, path: str) -> bool:
        return os.path.isfile(self.real(path))

    def exists(self, path: str) -> bool:
        return os.path.lexists(self.real(path))

    def realpath(self, path: str) -> str:
        """Symlinks resolved (inside the root: a fake tree uses relative links)."""
        return self._image(os.path.realpath(self.real(path)), resolved=True)

    def glob(self, pattern: str) -> list[str]:
        """Matches of an absolute pattern, sorted (``/usr/local/lib/python3.*/dist-packages``)."""
        return sorted(self._image(os.path.abspath(p)) for p in glob.glob(self.real(pattern)))
