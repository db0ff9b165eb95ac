"""One normalizer for the local-version dialects of CUDA-extension wheels.

A wheel's file name says, in its PEP 427 tags, the Python, ABI and platform it installs on; its local version
(after ``+``) says, in one of several producers' dialects, the CUDA, torch and C++ ABI it was built for:

============================== ======================= ====================================================
dialect (example)              producer                what the CUDA part means
============================== ======================= ====================================================
``cu12torch2.8cxx11abiTRUE``   Dao-AILab releases      the CUDA *major* of the torch it runs with (setup.py
                                                       maps any 12.x torch to ``cu12``; ``cu123`` / ``cu118``
                                                       up to 2.6.3 also mean "a CUDA 12 / 11 torch")
``rocm62torch2.6cxx11abiTRUE`` Dao-AILab (ROCm guess)  HIP major.minor of the torch
``cu130torch2.11``             mjun0812 FA2            the nvcc the wheel was built with (major.minor); the
                                                       torch it was built against has the same major
``cu124torch2.5gite2743ab``    mjun0812 FA3            as above, plus the FA3 commit
``cu.12.8.torch.2.11``         Astral GPU index        ``torch.version.cuda`` of the torch it was built
                                                       against (and the toolkit of its build image)
``cu.13.0``                    Astral torch-free cores the CUDA of the build; any torch
``cpu`` / ``cpu.torch.2.9``    Astral CPU channel      no CUDA
``cu12.8torch2.10.0cxx11abi…`` older Astral READMEs    as the canonical Astral form (now excluded by Astral)
``cu130`` / ``rocm6.4`` / …    PyTorch index, vLLM,    the CUDA (ROCm) of the build
                               FlashInfer, sgl-kernel
``rocm700`` / ``rocm721``      vLLM ROCm wheels        ROCm 7.0 / 7.2.1 (``rocm100`` = 10.0)
``g2f3f441f8``                 vLLM nightlies          a commit; the CUDA is the index path's variant
============================== ======================= ====================================================

(facts F1, ``F_wheel_sources.md``.) The normalizer never guesses what a dialect does not say: a field it does not
encode is None, and the caller supplies it — the index channel a wheel was listed under (``cu128``), the torch
requirement from the wheel's metadata (stable-ABI builds name a range, not a minor), or :func:`implied_cxx11_abi`
for builds made against PyTorch's own wheels.

Pure and fast (a plan normalizes thousands of names): regular expressions, results cached per local version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llmenv.backend import CudaVersion

__all__ = [
    "DIALECTS",
    "LocalBuild",
    "WheelBuild",
    "channel_build",
    "implied_cxx11_abi",
    "parse_local",
    "parse_wheel",
    "platform_of",
]

_TORCH = r"(?P<torch>\d+\.\d+)(?:\.(?P<torch_patch>\d+))?"
_ABI = r"cxx11abi(?P<abi>TRUE|FALSE)"

# (dialect, regex, what its CUDA number means). Order matters only where two could match; none do today.
_DIALECTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("dao", re.compile(rf"^cu(?P<cu>\d{{2,3}})torch{_TORCH}{_ABI}$"), "torch-major"),
    ("dao-rocm", re.compile(rf"^rocm(?P<rocm>\d{{2,3}})torch{_TORCH}{_ABI}$"), "torch"),
    ("mjun-fa3", re.compile(rf"^cu(?P<cu>\d{{3}})torch{_TORCH}git(?P<git>[0-9a-f]{{7,40}})$"), "nvcc"),
    ("mjun", re.compile(rf"^cu(?P<cu>\d{{3}})torch{_TORCH}$"), "nvcc"),
    ("astral", re.compile(rf"^cu\.(?P<major>\d+)\.(?P<minor>\d+)\.torch\.{_TORCH}$"), "torch"),
    ("astral-core", re.compile(r"^cu\.(?P<major>\d+)\.(?P<minor>\d+)$"), "build"),
    ("cpu", re.compile(rf"^cpu(?:\.torch\.{_TORCH})?$"), "none"),
    (
        "astral-legacy",
        re.compile(rf"^(?:(?P<build>\d+)\.)?cu(?P<major>\d+)\.(?P<minor>\d+)torch{_TORCH}(?:{_ABI})?$"),
        "torch",
    ),
    ("cuda", re.compile(r"^cu(?P<cu>\d{2,3})$"), "build"),
    ("rocm", re.compile(r"^rocm(?P<rocm_dotted>\d+\.\d+(?:\.\d+)?)$"), "build"),
    ("rocm-vllm", re.compile(r"^rocm(?P<rocm>\d{2,4})$"), "build"),
    ("xpu", re.compile(r"^xpu$"), "none"),
    ("git", re.compile(r"^g(?P<git>[0-9a-f]{7,40})$"), "none"),
)
DIALECTS: tuple[str, ...] = tuple(d for d, _, _ in _DIALECTS)


@dataclass(frozen=True, slots=True)
class LocalBuild:
    """What a local version says about a build. Fields the dialect does not encode are None.

    ``cuda_major`` is always set for a CUDA build; ``cuda`` (major.minor) only where the dialect says the minor.
    ``cuda_means`` says whose CUDA it is: ``torch-major`` (the CUDA major of the torch it runs with — Dao-AILab),
    ``torch`` (the torch build's CUDA — Astral), ``nvcc`` (the compiler of the build — mjun0812), ``build``
    (the build's CUDA, torch-independent or the torch family itself), ``none`` (no CUDA in the name).
    """

    dialect: str  # one of DIALECTS, "none" (no local version) or "unknown"
    device: str | None  # "cuda" | "rocm" | "cpu" | "xpu" | None (not said)
    cuda_major: int | None = None
    cuda: CudaVersion | None = None
    cuda_means: str = "none"
    rocm: str | None = None  # "6.2", "7.2.1"
    torch: str | None = None  # torch major.minor the build is for, e.g. "2.8"
    cxx11_abi: bool | None = None
    git: str | None = None
    label: str = ""  # the local version as written

    @property
    def torch_specifier(self) -> str | None:
        """``==2.8.*`` for a build tied to one torch minor; None when the name ties it to none."""
        return f"=={self.torch}.*" if self.torch else None


def _cu_digits(d: str) -> tuple[int, int | None]:
    """``12`` -> (12, None); ``118`` -> (11, 8); ``130`` -> (13, 0): two digits are a major, three major.minor."""
    if len(d) == 2:
        return int(d), None
    return int(d[:2]), int(d[2:])


def _rocm_digits(d: str, *, vllm: bool) -> str:
    """``62`` -> 6.2 (Dao: HIP major+minor); vLLM ``700`` -> 7.0, ``721`` -> 7.2.1, ``72`` -> 7.2, ``100`` -> 10.0."""
    if vllm and d.startswith("1") and len(d) >= 3:
        major, rest = d[:2], d[2:]
    else:
        major, rest = d[0], d[1:]
    parts = [major, rest[0] if rest else "0", *(rest[1:2] if len(rest) > 1 else [])]
    if len(parts) == 3 and parts[2] == "0":
        parts = parts[:2]
    return ".".join(parts)


@lru_cache(maxsize=4096)
def parse_local(label: str | None) -> LocalBuild:
    """The build a local version label describes (without the ``+``). None or "" -> dialect ``none``."""
    if not label:
        return LocalBuild(dialect="none", device=None)
    for dialect, rx, means in _DIALECTS:
        m = rx.match(label)
        if m is None:
            continue
        g = m.groupdict()
        abi = {"TRUE": True, "FALSE": False}.get(g.get("abi") or "")
        torch = g.get("torch")
        if g.get("cu"):
            major, minor = _cu_digits(g["cu"])
            cuda = CudaVersion(major, minor) if minor is not None and means != "torch-major" else None
            return LocalBuild(
                dialect=dialect, device="cuda", cuda_major=major, cuda=cuda, cuda_means=means,
                torch=torch, cxx11_abi=abi, git=g.get("git"), label=label,
            )  # fmt: skip
        if g.get("major"):
            major, minor = int(g["major"]), int(g["minor"])
            return LocalBuild(
                dialect=dialect, device="cuda", cuda_major=major, cuda=CudaVersion(major, minor),
                cuda_means=means, torch=torch, cxx11_abi=abi, label=label,
            )  # fmt: skip
        if g.get("rocm") or g.get("rocm_dotted"):
            rocm = g.get("rocm_dotted") or _rocm_digits(g["rocm"], vllm=dialect == "rocm-vllm")
            return LocalBuild(
                dialect=dialect, device="rocm", rocm=rocm, cuda_means="none", torch=torch, cxx11_abi=abi,
                label=label,
            )  # fmt: skip
        device = {"cpu": "cpu", "xpu": "xpu"}.get(dialect)
        return LocalBuild(dialect=dialect, device=device, torch=torch, git=g.get("git"), label=label)
    return LocalBuild(dialect="unknown", device=None, label=label)


def channel_build(channel: str | None) -> LocalBuild:
    """The build an index channel (``cu128``, ``cu130``, ``cpu``, ``rocm6.4``) implies for wheels listed in it."""
    if not channel:
        return LocalBuild(dialect="none", device=None)
    b = parse_local(channel)
    return b if b.dialect in ("cuda", "cpu", "rocm", "xpu") else LocalBuild(dialect="none", device=None)


def implied_cxx11_abi(torch: str, *, cuda: CudaVersion | None, arch: str = "x86_64") -> bool:
    """The C++ ABI of PyTorch's own wheel of ``torch`` (major.minor) for that CUDA and arch (facts D4, F9 #3).

    TRUE from 2.7; for 2.6 only the cu126 build (and every linux-aarch64 build); FALSE before. What mjun0812 and
    Astral wheels follow, since they build against those torch wheels and do not say their ABI. ``cuda`` is the
    wheel's: an Astral wheel's is its torch's; an mjun0812 wheel's is its nvcc, whose nearest same-major torch 2.6
    variant at or above 12.6 is cu126 (``get_torch_cuda_version.py``).
    """
    v = Version(torch)
    if v >= Version("2.7"):
        return True
    if v >= Version("2.6"):
        return arch == "aarch64" or (cuda is not None and cuda.major == 12 and cuda.minor >= 6)
    return False


_PLAT_RE = re.compile(r"^(?:manylinux_(?P<a>\d+)_(?P<b>\d+)|(?P<legacy>manylinux1|manylinux2010|manylinux2014)|"
                      r"(?P<linux>linux)|(?P<musl>musllinux_\d+_\d+))_(?P<arch>x86_64|aarch64|i686|ppc64le|s390x)$")  # fmt: skip
_LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def platform_of(platforms: tuple[str, ...]) -> tuple[str, str, tuple[int, int] | None]:
    """(os, arch, the lowest glibc the tags need) of a wheel's platform tags; glibc None = not said / not glibc.

    ``linux_x86_64`` claims no glibc (the builder's); the manylinux tags of one wheel are alternatives, so the
    lowest wins. ``any`` -> ("any", "any", None).
    """
    os_name, arch, glibc = "unknown", "unknown", None
    for p in platforms:
        if p == "any":
            return "any", "any", None
        if p == "win_amd64":
            return "windows", "x86_64", None
        if p.startswith("macosx_"):
            return "darwin", "arm64" if p.endswith("arm64") else "x86_64", None
        m = _PLAT_RE.match(p)
        if m is None:
            continue
        os_name, arch = "linux", m.group("arch")
        if m.group("a"):
            g = (int(m.group("a")), int(m.group("b")))
        elif m.group("legacy"):
            g = _LEGACY_GLIBC[m.group("legacy")]
        else:
            continue
        glibc = g if glibc is None or g < glibc else glibc
    return os_name, arch, glibc


_WHEEL_RE = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-(?P<build>\d[^-]*))?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)
_INTERP_RE = re.compile(r"^(?P<impl>cp|py|pp)(?P<major>\d)(?P<minor>\d*)(?P<t>t?)$")


@dataclass(frozen=True, slots=True)
class WheelBuild:
    """A wheel file name, normalized: its project and version, its build (local), and where it installs.

    ``torch`` is a specifier: ``==2.8.*`` from the local version, else the ``torch_requirement`` the caller read
    from the wheel's metadata (``>=2.9`` for a stable-ABI build), else None (not tied to a torch, or not said).
    ``cuda_major`` / ``cuda`` come from the local version, else from the index channel the wheel was listed in.
    """

    filename: str
    name: str  # canonical project name
    version: str  # as written, with the local part
    public: str
    local: LocalBuild
    python_tags: tuple[str, ...]  # cp312, cp39, py3, cp313t
    abi_tag: str  # cp312, abi3, none, cp313t
    platforms: tuple[str, ...]
    os: str
    arch: str
    glibc: tuple[int, int] | None
    cuda_major: int | None
    cuda: CudaVersion | None
    torch: str | None
    cxx11_abi: bool | None
    channel: str | None = None
    _py: tuple[tuple[str, int, int | None, bool], ...] = field(default=(), repr=False, compare=False)

    @property
    def stable_abi(self) -> bool:
        """Built against torch's stable ABI or Python's limited API with no torch minor in its name."""
        return self.local.torch is None and self.abi_tag in ("abi3", "none")

    def installs_on(self, python: str, *, free_threaded: bool = False) -> bool:
        """Does this wheel install on CPython ``python`` (``3.12``)? ``cp39-abi3`` on 3.9+, ``py3`` on any 3."""
        major, minor = (int(p) for p in python.split(".")[:2])
        threaded = self.abi_tag.startswith("cp") and self.abi_tag.endswith("t")  # cp313t: free-threaded ABI
        for impl, maj, mn, _ in self._py:
            if maj != major or impl == "pp":
                continue
            if impl == "py" or self.abi_tag == "none":
                if (mn is None or mn <= minor) and self.abi_tag == "none":
                    return True
                continue
            if self.abi_tag == "abi3":
                if mn is not None and mn <= minor and not free_threaded:
                    return True
            elif mn == minor and threaded == free_threaded:
                return True
        return False

    def torch_allows(self, torch_version: str) -> bool:
        """Does the build's torch specifier allow ``torch_version`` (``2.8.0``)? True when it names none."""
        return self.torch is None or _allows(self.torch, torch_version)


@lru_cache(maxsize=4096)
def _allows(spec: str, version: str) -> bool:
    try:
        return SpecifierSet(spec).contains(Version(version).public, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _torch_spec(requirement: str | None) -> str | None:
    """``torch>=2.9`` / ``torch (==2.9.*)`` / ``>=2.9`` -> the specifier; None when it is not one."""
    if not requirement:
        return None
    text = requirement.strip()
    text = re.sub(r"^torch\s*", "", text, flags=re.IGNORECASE).split(";")[0].strip().strip("()").strip()
    if not text:
        return None
    try:
        return str(SpecifierSet(text))
    except InvalidSpecifier:
        return None


def parse_wheel(
    filename: str, *, channel: str | None = None, torch_requirement: str | None = None
) -> WheelBuild | None:
    """Normalize a wheel file name; None when it is not a wheel name (PEP 427) with a valid version.

    ``channel``: the index channel it was listed in (``cu128``), for the CUDA when the name says none.
    ``torch_requirement``: its metadata's torch requirement (``torch>=2.10``), for the torch when the local
    version names none (stable-ABI builds, PyTorch-index wheels, local folders).
    """
    m = _WHEEL_RE.match(filename)
    if m is None:
        return None
    version = m.group("version")
    public, _, label = version.partition("+")
    try:
        Version(public)
    except InvalidVersion:
        return None
    local = parse_local(label or None)
    py_tags = tuple(m.group("py").split("."))
    py: list[tuple[str, int, int | None, bool]] = []
    for tag in py_tags:
        im = _INTERP_RE.match(tag)
        if im:
            mn = im.group("minor")
            py.append(
                (im.group("impl"), int(im.group("major")), int(mn) if mn else None, bool(im.group("t")))
            )
    platforms = tuple(m.group("plat").split("."))
    os_name, arch, glibc = platform_of(platforms)
    fallback = channel_build(channel)
    cuda_major = local.cuda_major if local.cuda_major is not None else fallback.cuda_major
    cuda = local.cuda if local.cuda_major is not None else fallback.cuda
    torch = local.torch_specifier or _torch_spec(torch_requirement)
    return WheelBuild(
        filename=filename,
        name=canonicalize_name(m.group("name")),
        version=version,
        public=public,
        local=local,
        python_tags=py_tags,
        abi_tag=m.group("abi"),
        platforms=platforms,
        os=os_name,
        arch=arch,
        glibc=glibc,
        cuda_major=cuda_major,
        cuda=cuda,
        torch=torch,
        cxx11_abi=local.cxx11_abi,
        channel=channel,
        _py=tuple(py),
    )
