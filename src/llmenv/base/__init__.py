"""A base environment (a container image's torch, or any ``--base-python``) as facts, and how a project reuses it.

``model`` the data; ``files`` the (rooted) filesystem read; ``interpreter`` which folders an interpreter imports
from; ``read`` its packages and torch, statically; ``image`` detection of NGC / pytorch images; ``link`` the uv
mechanism (``exclude-dependencies`` + a ``.pth`` link). See docs/containers.md.
"""

from __future__ import annotations

from llmenv.base.files import Files
from llmenv.base.image import Image, detect_image, find_base
from llmenv.base.interpreter import Interpreter, probe_interpreter, static_interpreter
from llmenv.base.model import (
    BaseEnvironment,
    BasePackage,
    BaseTorch,
    nvidia_build,
    nvidia_release,
    torch_linked,
)
from llmenv.base.read import read_base, read_packages, read_torch

__all__ = [
    "BaseEnvironment",
    "BasePackage",
    "BaseTorch",
    "Files",
    "Image",
    "Interpreter",
    "detect_image",
    "find_base",
    "nvidia_build",
    "nvidia_release",
    "probe_interpreter",
    "read_base",
    "read_packages",
    "read_torch",
    "static_interpreter",
    "torch_linked",
]
