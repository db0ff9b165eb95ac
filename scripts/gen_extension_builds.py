"""Make the knowledge's ``extension-builds`` table (src/llmenv/knowledge/data/extension_builds.json) from PyPI:

- xformers: the CUDA, the torch and the GPU architectures each release's Linux x86_64 wheel was compiled with, as
  the wheel records them itself (``xformers/cpp_lib.json``: ``version.cuda``, ``version.torch``,
  ``env.TORCH_CUDA_ARCH_LIST``), read with HTTP range requests (the central directory and that one member);
- flash-attn-4 (pure Python): each release's Requires-Python and Requires-Dist, from its PEP 658 metadata (the
  ``nvidia-cutlass-dsl`` pin the planner keeps coherent with the engines' pins).

    python scripts/gen_extension_builds.py [--output PATH] [--index https://pypi.org/simple] [--facts DIR]

With ``--facts`` (the shared facts folder), the engines' own ``nvidia-cutlass-dsl`` requirements are copied from
its ``*_requires_dist_raw.csv`` tables (PyPI metadata of every vLLM / SGLang release), for the bundled pins
snapshot keeps only the Requires-Dist lines that name a tracked package.

Every fact keeps the file it was read from and its sha256 (the index's), so it can be checked again.

``kb refresh`` does not rebuild this table (it needs range reads of every xformers wheel, and the engines'
cutlass pins come from the facts); this script is its generator. ``--output "$LLMENV_DATA_DIR/extension_builds.json"``
writes a user copy, which the loader uses instead of the bundled one when it parses (``kb show`` says which).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion, Version

DEFAULT = Path(__file__).resolve().parents[1] / "src/llmenv/knowledge/data/extension_builds.json"
JSON = "application/vnd.pypi.simple.v1+json"
XFORMERS_FROM = Version("0.0.24")  # torch 2.2: older releases pin torch llmenv never plans


class _Ranged(io.RawIOBase):
    """A remote file read with HTTP range requests (zipfile seeks to the central directory, then one member)."""

    def __init__(self, http: httpx.Client, url: str) -> None:
        head = http.head(url, follow_redirects=True)
        head.raise_for_status()
        self.http, self.url, self.size, self.pos = http, str(head.url), int(head.headers["content-length"]), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.size:
            return 0
        end = min(self.size, self.pos + len(buffer)) - 1
        r = self.http.get(self.url, headers={"Range": f"bytes={self.pos}-{end}"})
        r.raise_for_status()
        data = r.content
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _files(http: httpx.Client, index: str, project: str) -> list[dict[str, Any]]:
    r = http.get(f"{index.rstrip('/')}/{project}/", headers={"Accept": JSON})
    r.raise_for_status()
    return list(r.json()["files"])


def _releases(files: list[dict[str, Any]], pick: Any) -> Iterator[tuple[Version, dict[str, Any]]]:
    """(version, the one wheel file ``pick`` chooses) per final, not yanked release, newest first."""
    best: dict[Version, dict[str, Any]] = {}
    for f in files:
        name = f["filename"]
        if not name.endswith(".whl") or f.get("yanked"):
            continue
        try:
            version = parse_wheel_filename(name)[1]
        except (InvalidVersion, ValueError):
            continue
        if version.is_devrelease or version.local or not pick(name):
            continue
        best.setdefault(version, f)
    yield from sorted(best.items(), reverse=True)


def xformers(http: httpx.Client, index: str) -> list[dict[str, Any]]:
    out = []
    files = _files(http, index, "xformers")
    for version, f in _releases(files, lambda n: n.endswith("manylinux_2_28_x86_64.whl") or "manylinux2014_x86_64" in n):
        if version < XFORMERS_FROM:
            continue
        with zipfile.ZipFile(io.BufferedReader(_Ranged(http, f["url"]), 1 << 16)) as z:
            member = next((n for n in z.namelist() if n.endswith("xformers/cpp_lib.json")), None)
            if member is None:
                print(f"xformers {version}: no cpp_lib.json in {f['filename']}", file=sys.stderr)
                continue
            info = json.loads(z.read(member))
        cuda = info["version"].get("cuda")
        out.append(
            {
                "version": str(version),
                "file": f["filename"],
                "sha256": f["hashes"]["sha256"],
                "cuda": f"{cuda // 100}.{cuda % 100}" if cuda else None,
                "torch": info["version"].get("torch"),
                "arch_list": info.get("env", {}).get("TORCH_CUDA_ARCH_LIST"),
            }
        )
        print(f"xformers {version}: {out[-1]['torch']} CUDA {out[-1]['cuda']} [{out[-1]['arch_list']}]", file=sys.stderr)
    return out


def _metadata(http: httpx.Client, f: dict[str, Any]) -> str:
    """A wheel's METADATA: its PEP 658 file when the index serves one, else read from the wheel by ranges."""
    if f.get("core-metadata") or f.get("data-dist-info-metadata"):
        r = http.get(f["url"] + ".metadata")
        if r.status_code == 200:
            return r.text
    with zipfile.ZipFile(io.BufferedReader(_Ranged(http, f["url"]), 1 << 16)) as z:
        member = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return z.read(member).decode("utf-8")


def flash_attn_4(http: httpx.Client, index: str) -> list[dict[str, Any]]:
    from email.parser import Parser

    out = []
    for version, f in _releases(_files(http, index, "flash-attn-4"), lambda n: n.endswith("-none-any.whl")):
        if version.major < 4:  # 0.0.1 is a placeholder
            continue
        meta = Parser().parsestr(_metadata(http, f))
        out.append(
            {
                "version": str(version),
                "file": f["filename"],
                "sha256": f["hashes"]["sha256"],
                "uploaded": (f.get("upload-time") or "")[:10],
                "requires_python": meta.get("Requires-Python"),
                "requires_dist": meta.get_all("Requires-Dist") or [],
            }
        )
    return out


def engine_pins(facts: Path, name: str = "nvidia-cutlass-dsl") -> dict[str, dict[str, list[str]]]:
    """engine -> release -> its Requires-Dist lines on ``name`` (facts tables of PyPI metadata)."""
    import csv

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    out: dict[str, dict[str, list[str]]] = {}
    for engine in ("vllm", "sglang"):
        with (facts / f"{engine}_requires_dist_raw.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    req = Requirement(row["requirement"])
                except InvalidRequirement:
                    continue
                if canonicalize_name(req.name) == name:
                    out.setdefault(engine, {}).setdefault(row["version"], []).append(row["requirement"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=DEFAULT)
    p.add_argument("--index", default="https://pypi.org/simple")
    p.add_argument("--facts", type=Path, default=None)
    args = p.parse_args(argv)
    old = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    with httpx.Client(timeout=60, follow_redirects=True, headers={"User-Agent": "llmenv"}) as http:
        data = {
            "about": "What PyPI's wheels of some compiled (or CUDA-coupled) extensions were built with, read from the "
            "wheels themselves by scripts/gen_extension_builds.py: xformers' own build record (cpp_lib.json: the "
            "CUDA, the torch it was compiled against, TORCH_CUDA_ARCH_LIST); flash-attn-4's metadata (its "
            "nvidia-cutlass-dsl pin).",
            "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "index": args.index,
            "sources": [
                f"{args.index.rstrip('/')}/xformers/ (PEP 691; each release's Linux x86_64 wheel, "
                "xformers/cpp_lib.json read by HTTP range requests)",
                f"{args.index.rstrip('/')}/flash-attn-4/ (PEP 691; PEP 658 metadata)",
                "facts/vllm_requires_dist_raw.csv, facts/sglang_requires_dist_raw.csv (PyPI metadata of each "
                "release, [V])",
            ],
            "xformers": xformers(http, args.index),
            "flash-attn-4": flash_attn_4(http, args.index),
            "engine_cutlass_pins": engine_pins(args.facts) if args.facts else old.get("engine_cutlass_pins", {}),
            "engine_cutlass_from": "facts/vllm_requires_dist_raw.csv, facts/sglang_requires_dist_raw.csv (PyPI "
            "metadata of each release, [V])",
        }
    from llmenv.files import write_text_atomic

    write_text_atomic(args.output, json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
