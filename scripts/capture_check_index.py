"""Capture the PEP 691 (JSON) pages of a few PyPI projects, trimmed to the releases the check tests use, into
tests/fixtures/check/index/<name>.json. The tests serve them (and stub wheels of the same file names) offline.

    python scripts/capture_check_index.py
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import httpx
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "check" / "index"
WANT = {
    "ray": ["2.10.0", "2.40.0"],
    "math-verify": ["0.5.2", "0.6.0"],
    "matplotlib": ["3.9.4", "3.10.9"],
}
KEEP = ("filename", "url", "hashes", "requires-python", "yanked", "upload-time", "size")


def version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except ValueError:
        return None


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with httpx.Client(headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30) as http:
        for name, versions in WANT.items():
            page = http.get(f"https://pypi.org/simple/{name}/").raise_for_status().json()
            wanted = {Version(v) for v in versions}
            files = [{k: f[k] for k in KEEP if k in f} for f in page["files"] if version_of(f["filename"]) in wanted]
            body = {
                "meta": page["meta"],
                "name": page["name"],
                "captured": f"https://pypi.org/simple/{name}/ on {date.today()}, trimmed to {', '.join(versions)}",
                "files": files,
            }
            (OUT / f"{name}.json").write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
            print(f"{name}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
