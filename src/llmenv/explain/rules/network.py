"""Network: a server could not be reached. What failed (a DNS lookup, a timeout, TLS, a refused connection, a
server error) and which host (PyTorch's index, GitHub, PyPI, a PyPI mirror, a git remote) decide the fix: the
knob that replaces that host, never the host that failed or one the project already uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from llmenv.explain import _toml as toml
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Log, uniq
from llmenv.explain.rules._common import fix_cmd, fix_toml

_NETWORK = re.compile(
    r"error sending request for url|dns error|failed to lookup address|Connection refused|Connection reset|"
    r"(?:operation|request|connection) timed out|Read timed out|NewConnectionError|ConnectTimeoutError|"
    r"Max retries exceeded|CERTIFICATE_VERIFY_FAILED|invalid peer certificate|certificate verify failed|"
    r"HTTP status server error \(5\d\d|Network is unreachable|Temporary failure in name resolution|"
    r"Name or service not known|nodename nor servname provided|getaddrinfo failed|Could not resolve host|"
    r"Retrying \(Retry\(total=|due to network timeout|Failed to fetch: `https?://|tls handshake|No such host is known|"
    r"Name does not resolve",
    re.IGNORECASE,
)
_DNS = re.compile(r"dns error|failed to lookup address|No such host is known|Name does not resolve|Temporary failure in name resolution|Name or service not known|"
                  r"nodename nor servname|getaddrinfo failed|Could not resolve host|No address associated with hostname|"
                  r"Failed to resolve '", re.IGNORECASE)
_TLS = re.compile(r"CERTIFICATE_VERIFY_FAILED|invalid peer certificate|certificate verify failed|SSLError|tls handshake|"
                  r"UnknownIssuer|self[- ]signed certificate", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed out|ConnectTimeoutError|due to network timeout|operation timed out", re.IGNORECASE)
_REFUSED = re.compile(r"Connection refused|Connection reset|Network is unreachable|Connection aborted", re.IGNORECASE)
_URL = re.compile(r"(?:git\+)?https?://[^\s`'\")<>]{1,2000}")
_HOST_ARG = re.compile(r"host='(?P<host>[A-Za-z0-9.-]{1,253})'")

PYTORCH = {"download.pytorch.org"}
GITHUB = {"github.com", "objects.githubusercontent.com", "release-assets.githubusercontent.com",
          "codeload.github.com", "raw.githubusercontent.com"}
PYPI = {"pypi.org", "files.pythonhosted.org", "pypi.python.org"}
# PyPI mirrors and PyTorch-wheel mirrors llmenv knows (llmenv.indexes.MIRRORS), by host
PYPI_MIRRORS = {"pypi.tuna.tsinghua.edu.cn": "tuna", "mirrors.aliyun.com": "aliyun", "mirror.nju.edu.cn": "nju",
                "mirrors.ustc.edu.cn": "ustc"}
TORCH_MIRRORS = {"aliyun": ("mirrors.aliyun.com", "https://mirrors.aliyun.com/pytorch-wheels/{variant}/", True),
                 "nju": ("mirror.nju.edu.cn", "https://mirror.nju.edu.cn/pytorch/whl/{variant}", False)}
GITHUB_PROXY = "https://hk.gh-proxy.com/"  # the GitHub proxy of the seed recipe
PBS = "github.com/astral-sh/python-build-standalone"


@dataclass(frozen=True)
class Failure:
    what: str  # "dns" | "tls" | "timeout" | "refused" | "server"
    url: str | None
    host: str | None
    git: bool  # a git remote (uv runs git for git sources)
    package: str | None  # the distribution being fetched, when the log names it
    lines: tuple[str, ...]


def _what(text: str) -> str:
    for kind, rx in (("dns", _DNS), ("tls", _TLS), ("timeout", _TIMEOUT), ("refused", _REFUSED)):
        if rx.search(text):
            return kind
    return "server"


def _failure(log: Log) -> Failure | None:
    hits = log.find(_NETWORK)
    if not hits:
        return None
    ev = uniq(h.string.strip() for h in hits)[:4]
    context = uniq([*log.lines_matching(r"Failed to (?:fetch|download|read|build|clone|install)|Could not fetch URL|"
                                        r"unable to access|Git operation failed|HTTPSConnectionPool"), *ev])[:12]
    text = "\n".join(context)
    urls = [m.group(0).rstrip(".,:;") for m in _URL.finditer(text)]
    url = next((u for u in urls if "/simple/" in u or "/whl/" in u or u.endswith(".whl")), urls[0] if urls else None)
    host = (urlparse(url.removeprefix("git+")).hostname if url else None) or (
        m.group("host") if (m := _HOST_ARG.search(text)) else None)
    # a git remote only when git itself failed (a git+https requirement elsewhere in the chain may be fine)
    git = bool(re.search(r"Git operation failed|git fetch|git clone|unable to access '", text)) or (
        url is not None and url.startswith("git+"))
    pkg = re.search(r"Failed to (?:download and build|download|build) `(?P<p>[A-Za-z0-9][A-Za-z0-9._-]{0,100})"
                    r"(?: @ |==|`)", text)
    return Failure(what=_what(text), url=url, host=(host or "").lower() or None, git=git,
                   package=pkg.group("p").lower().replace("_", "-") if pkg else None,
                   lines=uniq([*(ln for ln in context if ln not in ev)][:2] + list(ev)))


def _used_hosts(log: Log) -> frozenset[str]:
    return log.project.hosts if log.project is not None else frozenset()


def _variant(url: str | None) -> str | None:
    m = re.search(r"/(cu\d{2,3}|cpu|rocm\d+(?:\.\d+)*|xpu)(?:/|$)", url or "")
    return m.group(1) if m else None


def _project_index(log: Log, host: str | None) -> tuple[str, str] | None:
    """The project's own [[tool.uv.index]] entry on the failing host: (name, url)."""
    if log.project is None or host is None:
        return None
    return next(((i.name, i.url) for i in log.project.indexes if i.name and i.host == host), None)


def _torch_fixes(log: Log, f: Failure) -> list[Fix]:
    fixes: list[Fix] = []
    tag = _variant(f.url) or "cu124"
    avoid = {f.host} | set(_used_hosts(log))
    own = _project_index(log, f.host)
    for name, (mhost, template, flat) in TORCH_MIRRORS.items():
        if mhost in avoid:
            continue
        url = template.replace("{variant}", tag)
        if own is not None:
            assert log.project is not None
            fixes.append(fix_toml(f"Point the index {own[0]!r} of {log.project.path} at the {name} mirror of "
                                  f"PyTorch's {tag} wheels", toml.index(own[0], url, flat=flat)))
        elif name == "aliyun":  # a flat page of links: only --mirror writes it as one
            fixes.append(fix_cmd("Take torch from Aliyun's mirror of PyTorch's wheels (--mirror aliyun also takes PyPI "
                                 "packages from Aliyun)", "llmenv init . --mirror aliyun"))
        else:
            fixes.append(fix_cmd(f"Take torch from the {name} mirror of PyTorch's wheels",
                                 f"llmenv init . --torch-index {template}"))
    fixes.append(fix_cmd("Take torch from PyPI (its wheels bundle one CUDA build per release)",
                         "llmenv init . --torch-index pypi"))
    return _or(fixes)


def _or(fixes: list[Fix]) -> list[Fix]:
    """Alternatives read "Fix", "Or fix", "Or fix"."""
    out = fixes[:1]
    for f in fixes[1:]:
        t = f.title if f.title.startswith("Or ") else "Or " + f.title[:1].lower() + f.title[1:]
        out.append(Fix(title=t, edit=f.edit, kind=f.kind))
    return out


def _github_fixes(log: Log, f: Failure) -> list[Fix]:
    url = (f.url or "").removeprefix("git+")
    if PBS in url:
        title = "Download uv-managed Pythons through a mirror or proxy of python-build-standalone"
        return [fix_toml(title + " (the GitHub proxy of the seed recipe, or your own)",
                         toml.tool_uv(python_install_mirror=f"{GITHUB_PROXY}https://{PBS}/releases/download")),
                fix_cmd("Or have llmenv write it", f"llmenv init . --python-mirror {GITHUB_PROXY}https://{PBS}/releases/download"),
                fix_cmd("Or use a Python that is already installed", "uv python pin 3.12 && uv sync --python-preference only-system")]
    return [fix_cmd("Download GitHub release wheels through a GitHub proxy (the one of the seed recipe, or yours)",
                    f"llmenv init . --github-proxy {GITHUB_PROXY}"),
            fix_cmd("Or take the wheels from a mirror or a local folder of them (a flat index)",
                    "llmenv init . --flash-attn-wheels <URL or DIR>")]


def _pypi_fixes(log: Log, f: Failure) -> list[Fix]:
    avoid = {f.host} | set(_used_hosts(log))
    fixes: list[Fix] = []
    own = _project_index(log, f.host)
    for host, name in PYPI_MIRRORS.items():
        if host in avoid:
            continue
        if own is not None:
            assert log.project is not None
            from llmenv.indexes import MIRRORS

            url = MIRRORS[name].pypi or ""
            fixes.append(fix_toml(f"Point the index {own[0]!r} of {log.project.path} at the {name} mirror instead",
                                  toml.index(own[0], url, explicit=False)))
        else:
            fixes.append(fix_cmd(f"Use the {name} PyPI mirror", f"llmenv init . --mirror {name}"))
        if len(fixes) == 2:
            break
    if f.host in PYPI_MIRRORS:
        fixes.append(fix_cmd("Use PyPI itself: drop the mirror's index (or its `default = true`)",
                             "llmenv check pyproject.toml"))
    return _or(fixes)


def _git_fixes(log: Log, f: Failure) -> list[Fix]:
    """A git source whose remote cannot be reached: its release from the index, or the remote through a proxy."""
    url = (f.url or "").removeprefix("git+")
    name = f.package or (url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").split("@")[0] if url else "PACKAGE")
    where = log.project.path if log.project is not None else "pyproject.toml"
    fixes = [fix_cmd(f"Use the release of {name} on your index instead of the git source (remove `{name}` from "
                     f"[tool.uv.sources] in {where} to make it for good)", f"uv lock --no-sources-package {name}")]
    if f.host in GITHUB:
        fixes.append(fix_cmd("Or reach github.com through a proxy (git reads this for every GitHub URL)",
                             f"git config --global url.\"{GITHUB_PROXY}https://github.com/\".insteadOf "
                             "\"https://github.com/\""))
    return fixes


def _host_fixes(log: Log, f: Failure) -> list[Fix]:
    host = f.host or ""
    if f.git:
        return _git_fixes(log, f)
    if host in PYTORCH or (host in ("mirrors.aliyun.com", "mirror.nju.edu.cn") and "pytorch" in (f.url or "")):
        return _torch_fixes(log, f)
    if host in GITHUB:
        return _github_fixes(log, f)
    if host in PYPI or host in PYPI_MIRRORS:
        return _pypi_fixes(log, f)
    return [fix_cmd(f"Check that {host or 'the index'} is the right address and is reachable from here (a proxy: "
                    "HTTPS_PROXY)", f"curl -sSI {f.url or 'https://' + host}")]


_WHY = {
    "dns": ("the name {host} did not resolve (DNS): this machine cannot look it up — offline, blocked, a proxy "
            "it needs, or a typo in the URL. It is not a timeout: a longer UV_HTTP_TIMEOUT does not help."),
    "tls": "the TLS certificate {host} presented was not trusted (often a corporate proxy that re-signs traffic).",
    "timeout": "{host} did not answer in time: slow or blocked from here.",
    "refused": "the connection to {host} was refused or cut: a firewall, a proxy, or the server is down.",
    "server": "{host} answered with an error.",
}


def _fixes(log: Log, f: Failure) -> list[Fix]:
    """The host's replacement first; what the kind of failure adds goes where it helps most: trusting the system's
    certificates before anything for TLS, a longer timeout after the first other host, a retry last."""
    fixes = _host_fixes(log, f)
    if f.what == "tls":
        return [fix_cmd("Use the system's certificate store (corporate proxies)", "uv lock --native-tls"), *fixes]
    if f.what == "timeout" and not f.git:  # git has its own timeouts: UV_HTTP_TIMEOUT does not reach it
        return [*fixes[:1], fix_cmd("Or retry with a longer timeout", "UV_HTTP_TIMEOUT=300 uv lock"), *fixes[1:]]
    if f.what == "server":
        return [*fixes, fix_cmd("Or retry later; the server may be down for a while", "uv lock")]
    return fixes


def check_network(log: Log) -> list[Cause]:
    """An index, a download or a git remote could not be reached: a DNS failure, a timeout, TLS, a refused
    connection, a server error; the fix replaces the host that failed."""
    f = _failure(log)
    if f is None:
        return []
    host = f.host or "a package index"
    what = {"dns": "could not resolve", "tls": "does not trust the certificate of", "timeout": "timed out reaching",
            "refused": "was refused by", "server": "got a server error from"}[f.what]
    tool = "git" if f.git else ("uv" if log.tool == "uv" else "pip" if log.tool == "pip" else "uv/pip")
    summary = f"{tool} {what} {host}" + (" (a git source)" if f.git else "")
    fixes = _fixes(log, f)
    return [Cause(kind="network", packages=(f.package,) if f.package else (), summary=summary, chain=f.lines,
                  reason=_WHY[f.what].format(host=host) + " The packages and their versions are not the problem.",
                  fixes=tuple(fixes), evidence=f.lines)]


# a failure to reach an index that did not recover: what the resolver then misses follows from it
_NETWORK_FINAL = re.compile(
    r"Could not fetch URL|Max retries exceeded|Retry\(total=0|Temporary failure in name resolution|"
    r"Name or service not known|getaddrinfo failed|error sending request for url|Failed to fetch|dns error|"
    r"failed to lookup address|due to network timeout|CERTIFICATE_VERIFY_FAILED|invalid peer certificate",
    re.IGNORECASE,
)
# causes that only say a version was not found where the resolver looked
_NOT_FOUND_KINDS = ("index", "local-version", "no-wheel-for-platform")


def rank(log: Log, causes: Sequence[Cause]) -> list[Cause]:
    """Order causes for people: when the log shows an index could not be reached at all, the network comes
    before "not found" causes, which are its consequence (pip reports the versions it could not fetch as
    missing)."""
    net = [c for c in causes if c.kind == "network"]
    if not net or not log.find(_NETWORK_FINAL):
        return list(causes)
    first = next(i for i, c in enumerate(causes) if c.kind == "network" or c.kind in _NOT_FOUND_KINDS)
    rest = [c for c in causes[first:] if c.kind != "network"]
    return [*causes[:first], *net, *rest]
