"""Read GitHub release assets through the REST API (``GET /repos/{owner}/{repo}/releases``), optionally through a
GitHub proxy that takes the full URL after its own (``--github-proxy https://gh-proxy.com/``).

Pages are followed by the ``Link: <…>; rel="next"`` header (re-proxied when the proxy passes GitHub's own
links through); when a server sends no Link header, by ``page=N`` until a page comes back short. Each asset
keeps its ``digest`` (``sha256:…``, which GitHub publishes for assets) and upload time when the API gives them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llmenv.sources.catalog import GITHUB_API, WheelSource, proxied
from llmenv.sources.fetch import Fetcher, FetchError

__all__ = ["ReleaseAsset", "read_releases"]

PER_PAGE = 100
MAX_PAGES = 100
_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True, kw_only=True)
class ReleaseAsset:
    tag: str
    name: str
    url: str  # browser_download_url as GitHub gives it (not proxied)
    size: int | None = None
    sha256: str | None = None
    uploaded: str | None = None
    prerelease: bool = False
    draft: bool = False


def _assets(release: Any) -> list[ReleaseAsset]:
    if not isinstance(release, dict) or not isinstance(release.get("tag_name"), str):
        raise FetchError("a release without tag_name (not a GitHub releases API answer)")
    out = []
    for a in release.get("assets") or []:
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            continue
        digest = a.get("digest")
        out.append(
            ReleaseAsset(
                tag=release["tag_name"],
                name=a["name"],
                url=str(a.get("browser_download_url") or ""),
                size=a["size"] if isinstance(a.get("size"), int) else None,
                sha256=digest.removeprefix("sha256:")
                if isinstance(digest, str) and digest.startswith("sha256:")
                else None,
                uploaded=a.get("updated_at") or a.get("created_at"),
                prerelease=bool(release.get("prerelease")),
                draft=bool(release.get("draft")),
            )
        )
    return out


def _next(link: str | None, proxy: str | None) -> str | None:
    if not link:
        return None
    m = _NEXT_RE.search(link)
    if m is None:
        return None
    url = m.group(1)
    if proxy and not url.startswith(proxy.rstrip("/")):
        url = proxied(url, proxy)
    return url


def read_releases(
    fetcher: Fetcher,
    source: WheelSource,
    *,
    api: str = GITHUB_API,
    github_proxy: str | None = None,
    max_pages: int = MAX_PAGES,
) -> list[ReleaseAsset]:
    """Every asset of every (non-draft) release of the source's repository. FetchError on any failure."""
    url: str | None = source.releases_api(api=api, github_proxy=github_proxy)
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    out: list[ReleaseAsset] = []
    page = 1
    while url is not None:
        if page > max_pages:
            raise FetchError(f"{source.repo}: more than {max_pages} pages of releases")
        resp = fetcher.get(url, headers=headers)
        assert resp is not None
        try:
            releases = resp.json()
        except ValueError as e:
            raise FetchError(f"{url}: not JSON ({e})") from e
        if not isinstance(releases, list):
            raise FetchError(f"{url}: expected a list of releases")
        for r in releases:
            out += [a for a in _assets(r) if not a.draft]
        nxt = _next(resp.headers.get("link"), github_proxy)
        if nxt is None and "link" not in resp.headers and len(releases) >= PER_PAGE:
            page_url = source.releases_api(api=api, github_proxy=github_proxy)
            nxt = f"{page_url}&page={page + 1}"
        url = nxt
        page += 1
    return out
