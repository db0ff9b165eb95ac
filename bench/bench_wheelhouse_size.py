"""What one node downloads to build a real stack's environment (issue 7, the 1,000-node estimate): lock the given
requirements against PyPI with the bundled uv, then select, as `llmenv wheelhouse` does, the wheels one platform
needs and add up their sizes as the lock records them. Needs PyPI.

Usage: python bench/bench_wheelhouse_size.py [--python 3.11] [--glibc 2.35] [REQUIREMENT ...]
(default: torch==2.6.0 vllm==0.8.5.post1, the seed's stack for a CUDA 12.4 driver).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("requirements", nargs="*", default=["torch==2.6.0", "vllm==0.8.5.post1"])
    ap.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    ap.add_argument("--glibc", default="2.35")
    args = ap.parse_args()
    import uv

    from llmenv.lockfile import parse_pylock
    from llmenv.wheelhouse import WheelTarget, select

    uv_bin = str(uv.find_uv_bin())
    root = Path(tempfile.mkdtemp(prefix="llmenv-size-"))
    major, minor = args.python.split(".")[:2]
    (root / "pyproject.toml").write_text(
        "[project]\nname = \"size\"\nversion = \"0\"\n"
        f"requires-python = \">={major}.{minor},<{major}.{int(minor) + 1}\"\n"
        f"dependencies = {json.dumps(args.requirements)}\n\n"
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
    )
    t0 = time.perf_counter()
    subprocess.run([uv_bin, "lock", "--quiet", "--cache-dir", str(root / "cache")], cwd=root, check=True)
    lock_s = time.perf_counter() - t0
    out = subprocess.run(
        [uv_bin, "export", "--frozen", "--format", "pylock.toml", "--quiet"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    chosen = select(
        parse_pylock(out, base=root), WheelTarget(os="linux", arch="x86_64", python=args.python, glibc=args.glibc)
    )
    sizes = sorted(((p.file.size or 0) if p.file else 0, p.name, p.version) for p in chosen.picks)
    total = sum(s for s, _, _ in sizes)
    print(f"{' '.join(args.requirements)} on linux x86_64, Python {args.python}, glibc {args.glibc}:")
    print(f"  {len(sizes)} wheels, {total / 2**30:.2f} GiB (locked in {lock_s:.1f} s); missing: {list(chosen.missing)}")
    for size, name, version in reversed(sizes[-8:]):
        print(f"  {name} {version}: {size / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
