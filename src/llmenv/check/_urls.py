"""What an index URL is: a PyTorch index (or mirror), which variant it serves, a flat page of links, insecure."""

from __future__ import annotations

from urllib.parse import urlsplit

from llmenv.backend import Backend
from llmenv.errors import UsageError

__all__ = ["cuda_variant", "flat_page_reason", "is_insecure", "is_pytorch_index", "variant"]

# The official index (and its R2 origin) serves /whl/<variant>; mirrors keep "pytorch" in the host or the path
# (mirrors.aliyun.com/pytorch-wheels/cu124, mirror.nju.edu.cn/pytorch/whl/cu124, mirror.sjtu.edu.cn/pytorch-wheels).
_PYTORCH_HOSTS = ("download.pytorch.org", "download-r2.pytorch.org")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
# Pages of links that are not PEP 503 indexes: each needs `format = "flat"` (or `find-links`).
_FLAT_PREFIXES = (
    (
        "mirrors.aliyun.com",
        "/pytorch-wheels",
        "Aliyun's PyTorch mirror is a page of links (pip -f), not a simple index",
    ),
    (
        "mirror.sjtu.edu.cn",
        "/pytorch-wheels",
        "SJTU's PyTorch mirror is a page of links (pip -f), not a simple index",
    ),
    ("data.pyg.org", "/whl", "PyG's wheel pages are find-links pages (pip -f https://data.pyg.org/whl/...)"),
)
# flashinfer.ai/whl/<cuda>/<torch>/ is a simple index; one level deeper is a single project's page of links.
_FLASHINFER_PROJECTS = ("flashinfer", "flashinfer-python", "flashinfer-jit-cache", "flashinfer-cubin")


def _segments(url: str) -> list[str]:
    return [s for s in urlsplit(url).path.lower().split("/") if s]


def variant(url: str) -> Backend | None:
    """The PyTorch variant a URL serves, from a path segment like ``cu124``, ``cpu`` or ``rocm6.2``."""
    for seg in reversed(_segments(url)):
        if seg == "cpu" or seg.startswith(("cu", "rocm")):
            try:
                return Backend.parse(seg)
            except UsageError:
                continue
    return None


def cuda_variant(url: str) -> Backend | None:
    v = variant(url)
    return v if v is not None and v.is_cuda else None


def is_pytorch_index(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in _PYTORCH_HOSTS:
        return parts.path.startswith("/whl")
    return ("pytorch" in host or any("pytorch" in s for s in _segments(url))) and variant(url) is not None


def flat_page_reason(url: str) -> str | None:
    """Why this URL is a page of links rather than a simple index; None when it looks like a simple index."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.lower()
    if path.endswith((".html", ".htm")):
        return "the URL is an HTML page of links (it ends in .html), the layout of a find-links page"
    for h, prefix, why in _FLAT_PREFIXES:
        if host == h and path.startswith(prefix):
            return why
    segs = _segments(url)
    if host == "github.com" and "releases" in segs:
        return "a GitHub release page lists assets, not a PEP 503 index"
    if host == "flashinfer.ai" and segs and segs[-1] in _FLASHINFER_PROJECTS:
        return f"{url} is one project's page of links inside FlashInfer's index, not the index root"
    return None


def is_insecure(url: str) -> bool:
    """``http://`` to anything but this machine (plain HTTP lets anyone on the path swap the wheels)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    return not (host in _LOCAL_HOSTS or host.endswith(".localhost"))
