"""Where text goes: plain lines for pipes and NO_COLOR, rich styling on a terminal.

Commands build plain strings (never markup inside messages); this module decides how they look. Colour follows
https://no-color.org (``NO_COLOR``) and ``FORCE_COLOR``; a non-tty stream gets plain text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["Ui", "dump_json"]

_STYLES = {
    "ok": "green",
    "warn": "yellow",
    "fail": "bold red",
    "error": "bold red",
    "head": "bold",
    "dim": "dim",
    "hint": "cyan",
}


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False)


@dataclass
class Ui:
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=dict)

    def _color(self, stream: IO[str]) -> bool:
        if self.environ.get("NO_COLOR"):
            return False
        if self.environ.get("FORCE_COLOR"):
            return True
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    def _write(self, stream: IO[str], text: str, style: str | None) -> None:
        if style and self._color(stream):
            from rich.console import Console
            from rich.text import Text

            Console(file=stream, force_terminal=True, soft_wrap=True, highlight=False).print(
                Text(text, style=_STYLES.get(style, style))
            )
        else:
            stream.write(text + "\n")

    def print(self, text: str = "", style: str | None = None) -> None:
        self._write(self.out, text, style)

    def eprint(self, text: str = "", style: str | None = None) -> None:
        self._write(self.err, text, style)

    def json(self, obj: Any) -> None:
        text = dump_json(obj)
        encoding = getattr(self.out, "encoding", None)
        if encoding:
            try:
                text.encode(encoding)
            except (UnicodeEncodeError, LookupError):  # an ascii stream: \u escapes keep the JSON exact
                text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=True)
        self.out.write(text + "\n")
