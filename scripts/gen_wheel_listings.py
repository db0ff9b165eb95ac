"""Make the bundled wheel listings (src/llmenv/knowledge/data/wheel_listings.json): every source is read as
`kb refresh` reads it; a source that cannot be reached gets the listing made from the facts folder.

    python scripts/gen_wheel_listings.py /work/shared/facts [--output PATH] [--github-proxy URL]

This is the same code path as the refresh (llmenv.sources.refresh.refresh_listings with facts=...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from llmenv.sources.listing import write_listings
from llmenv.sources.refresh import refresh_listings

DEFAULT = Path(__file__).resolve().parents[1] / "src/llmenv/knowledge/data/wheel_listings.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("facts", type=Path)
    p.add_argument("--output", type=Path, default=DEFAULT)
    p.add_argument("--github-proxy", default=None)
    p.add_argument("--retries", type=int, default=1)
    args = p.parse_args(argv)
    with httpx.Client(timeout=30, follow_redirects=True, headers={"User-Agent": "llmenv"}) as http:
        result = refresh_listings(
            http, facts=args.facts, github_proxy=args.github_proxy, retries=args.retries
        )
    for sid, why in result.failures.items():
        origin = result.snapshot["sources"][sid]["origin"]
        print(f"{sid}: not reachable ({why.splitlines()[0][:160]}); listing from {origin}", file=sys.stderr)
    for sid in result.refreshed:
        print(f"{sid}: refreshed, {result.files[sid]} files", file=sys.stderr)
    write_listings(args.output, result.snapshot)
    print(f"wrote {args.output} ({sum(result.files.values())} files)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
