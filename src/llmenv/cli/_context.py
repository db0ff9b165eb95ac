"""What a command may touch, injected: the machine probes, the environment, the streams, the working directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmenv.detect import System
from llmenv.output import Ui

__all__ = ["Context"]


@dataclass
class Context:
    ui: Ui
    environ: Mapping[str, str]
    cwd: Path
    system: System = field(default_factory=System)

    @classmethod
    def default(cls) -> Context:
        env = dict(os.environ)
        return cls(ui=Ui(environ=env), environ=env, cwd=Path.cwd(), system=System(environ=env))
