"""``llmenv kb refresh`` for the wheel sources' listings (the part cli/kb.py delegates): read every source again
(``refresh.refresh_listings``: PEP 691 / 503 indexes, the GitHub releases API through ``--github-proxy``), all
or nothing per source, and write the snapshot atomically — the user's (``$LLMENV_DATA_DIR/wheel_listings.json``),
or with ``--bundled`` the one shipped in the package, where a source that cannot be reached is rebuilt from the
facts folder (``--facts``). A failed source keeps the listing in use; the command then exits 1 naming it.
``kb show`` prints one line per source (``listing.summary``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import httpx

from llmenv.sources.listing import LISTINGS_NAME, load_listings, summary, user_listings_path, write_listings
from llmenv.sources.refresh import ListingsRefresh, refresh_listings

__all__ = ["bundled_path", "read_wheel_sources", "show_lines", "target_path", "write_wheel_sources"]


def bundled_path() -> Path:
    """The package's own listings file (what ``--bundled`` rewrites, in a source checkout)."""
    return Path(str(resources.files("llmenv.knowledge") / "data" / LISTINGS_NAME))


def _client() -> httpx.Client:
    return httpx.Client(timeout=30, follow_redirects=True, headers={"User-Agent": "llmenv"})


def read_wheel_sources(
    environ: Mapping[str, str],
    *,
    github_proxy: str | None = None,
    bundled: bool = False,
    facts: Path | None = None,
    retries: int = 3,
    client: Callable[[], httpx.Client] | None = None,
) -> ListingsRefresh:
    """Read every source again (nothing is written): the listings in use are the previous ones."""
    current = load_listings(environ)
    with (client or _client)() as http:
        return refresh_listings(
            http,
            github_proxy=github_proxy,
            previous=current.to_dict(),
            facts=facts if bundled else None,
            retries=retries,
        )


def write_wheel_sources(result: ListingsRefresh, path: Path, say: Callable[[str], None]) -> tuple[str, ...]:
    """Write the refreshed snapshot atomically; ``say`` gets one line per source. The sources not refreshed."""
    for sid in result.refreshed:
        say(f"{'wheel-sources':<14}{sid}: refreshed, {result.files.get(sid, 0)} files")
    for sid, why in result.failures.items():
        kept = (
            "rebuilt from the facts"
            if sid in result.from_facts
            else "kept the listing in use"
            if sid in result.kept
            else "nothing known"
        )
        say(f"{'wheel-sources':<14}{sid}: not refreshed ({why.splitlines()[0][:160]}); {kept}")
    write_listings(path, result.snapshot)
    return tuple(result.failures)


def target_path(environ: Mapping[str, str], *, bundled: bool = False, folder: Path | None = None) -> Path:
    """Where the listings are written: ``folder`` (kb refresh --output), the package data, or the user's."""
    if folder is not None:
        return folder / LISTINGS_NAME
    return bundled_path() if bundled else user_listings_path(environ)


def show_lines(environ: Mapping[str, str]) -> list[str]:
    """The listings in use, one line per source (for ``kb show``)."""
    ls = load_listings(environ)
    where = str(ls.path) if ls.path else "package data"
    head = f"wheel listings {ls.origin} ({where}), generated {ls.generated}"
    lines = [head, *(f"  {line}" for line in summary(ls))]
    if ls.ignored:
        lines.append(f"  user listings ignored: {ls.ignored}")
    return lines
