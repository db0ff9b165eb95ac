"""Where packages come from: PyPI mirrors and PyTorch indexes, as strategy objects.

A ``TorchSource`` answers two questions: which CUDA variants of a torch release can it serve, and which uv index
(if any) serves a variant. The official PyTorch index and its mirrors serve every variant from a per-variant URL;
a flat mirror (Aliyun) is an HTML page of links (``format = "flat"``); ``pypi`` means torch comes from the default
index, so only the CUDA build PyPI ships for that release is available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from llmenv.backend import Backend
from llmenv.errors import UsageError

__all__ = [
    "MIRRORS",
    "IndexSpec",
    "Mirror",
    "TorchSource",
    "parse_mirrors",
    "torch_source",
    "web_url",
]

PYTORCH_INDEX = "https://download.pytorch.org/whl/{variant}"


@dataclass(frozen=True, kw_only=True)
class IndexSpec:
    """One ``[[tool.uv.index]]`` entry."""

    name: str
    url: str
    explicit: bool = False
    default: bool = False
    flat: bool = False

    def to_toml(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "url": self.url}
        if self.flat:
            d["format"] = "flat"
        if self.explicit:
            d["explicit"] = True
        if self.default:
            d["default"] = True
        return d


@dataclass(frozen=True, kw_only=True)
class Mirror:
    name: str
    pypi: str | None
    pytorch: str | None = None  # with {variant}
    pytorch_flat: bool = False
    about: str = ""


# Public mirrors named in the seed recipe (Tsinghua PyPI, Aliyun's flat PyTorch index, NJU) and USTC.
MIRRORS: dict[str, Mirror] = {
    "tuna": Mirror(
        name="tuna", pypi="https://pypi.tuna.tsinghua.edu.cn/simple", about="Tsinghua University PyPI mirror"
    ),
    "aliyun": Mirror(
        name="aliyun",
        pypi="https://mirrors.aliyun.com/pypi/simple/",
        pytorch="https://mirrors.aliyun.com/pytorch-wheels/{variant}/",
        pytorch_flat=True,
        about="Alibaba Cloud: PyPI mirror, and PyTorch wheels as a flat page of links",
    ),
    "nju": Mirror(
        name="nju",
        pypi="https://mirror.nju.edu.cn/pypi/web/simple",
        pytorch="https://mirror.nju.edu.cn/pytorch/whl/{variant}",
        about="Nanjing University: PyPI and PyTorch index mirrors",
    ),
    "ustc": Mirror(name="ustc", pypi="https://mirrors.ustc.edu.cn/pypi/simple", about="USTC PyPI mirror"),
}


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # a URL scheme (two letters at least: C:\\ is a drive)


def web_url(value: str | None, what: str, *, file: bool = False) -> str | None:
    """A flag that must be an http(s):// URL (or file:// with ``file``); anything else is bad input."""
    if value is None:
        return None
    p = urlparse(value.strip())
    schemes = ("http", "https", "file") if file else ("http", "https")
    if p.scheme not in schemes or (p.scheme != "file" and not p.netloc):
        raise UsageError(f"{what} {value!r}: give an {' or '.join(s + '://' for s in schemes)} URL")
    return value.strip()


def _check_url(url: str, what: str) -> str:
    p = urlparse(url)
    if p.scheme not in ("http", "https", "file") or (p.scheme != "file" and not p.netloc):
        raise UsageError(f"{what}: not a URL, a mirror name ({', '.join(MIRRORS)}) or a folder: {url!r}")
    return url.rstrip("/") if p.scheme != "file" else url


def parse_mirrors(values: list[str]) -> tuple[IndexSpec | None, Mirror | None]:
    """``--mirror`` values -> (the default index replacing PyPI, mirror serving PyTorch wheels).

    The first value that serves each wins.
    """
    pypi: IndexSpec | None = None
    pytorch: Mirror | None = None
    for v in values:
        if v in MIRRORS:
            m = MIRRORS[v]
        elif "://" in v:
            url = _check_url(v, "--mirror")
            m = Mirror(name="mirror", pypi=url)
        else:
            from llmenv._suggest import closest

            guess = closest(v, MIRRORS, cutoff=0.5)
            tip = f"; did you mean {guess!r}?" if guess else ""
            raise UsageError(f"unknown mirror {v!r}{tip} (known: {', '.join(MIRRORS)}, or a URL)")
        if pypi is None and m.pypi:
            pypi = IndexSpec(name="pypi-mirror", url=m.pypi, default=True)
        if pytorch is None and m.pytorch:
            pytorch = m
    return pypi, pytorch


@dataclass(frozen=True, kw_only=True)
class TorchSource:
    """How torch is fetched. ``template`` None means the default index (PyPI or its mirror)."""

    template: str | None
    flat: bool = False
    label: str = "PyTorch index"

    @property
    def is_pypi(self) -> bool:
        return self.template is None

    def index_for(self, variant: Backend) -> IndexSpec | None:
        if self.template is None:
            return None
        url = self.template.replace("{variant}", variant.tag)
        if "{variant}" not in self.template and not self.flat:
            # One URL for every variant: a single custom index.
            return IndexSpec(name="pytorch", url=url, explicit=True, flat=self.flat)
        return IndexSpec(name=f"pytorch-{variant.tag}", url=url, explicit=True, flat=self.flat)

    def to_record(self) -> str:
        return "pypi" if self.template is None else self.template


def torch_source(
    torch_index: str | None, mirror: Mirror | None, project_dir: Path | None = None
) -> TorchSource:
    """``--torch-index`` (URL with ``{variant}``, a folder or ``file://`` URL = flat, or ``pypi``) or a mirror."""
    if torch_index is not None:
        s = torch_index.strip()
        if s == "pypi":
            return TorchSource(template=None, label="the default index (PyPI)")
        if s.startswith("file://"):
            return TorchSource(template=s.rstrip("/"), flat=True, label="local folder")
        if "://" not in s:
            if _SCHEME.match(s):  # javascript:..., data:..., mailto:...: a URL uv must never be given
                raise UsageError(
                    f"--torch-index {s!r}: only http(s):// and file:// URLs or a folder can be a torch index"
                )
            path = Path(s.replace("{variant}", "cpu")).expanduser()
            base = project_dir or Path.cwd()
            if not (path if path.is_absolute() else base / path).parent.exists():
                raise UsageError(f"--torch-index: no such folder: {s!r} (give a URL, a folder, or pypi)")
            return TorchSource(template=s, flat=True, label="local folder")
        return TorchSource(template=_check_url(s, "--torch-index"), label="custom PyTorch index")
    if mirror is not None and mirror.pytorch:
        return TorchSource(
            template=mirror.pytorch, flat=mirror.pytorch_flat, label=f"{mirror.name} PyTorch mirror"
        )
    return TorchSource(template=PYTORCH_INDEX, label="PyTorch index")
