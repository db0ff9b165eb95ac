"""What reading a base costs (issue 15): the static reading detection does on every plan inside an image, and
the one interpreter run `--base-python` does, each against a baseline in the same run.

Usage: python bench/bench_base.py [--packages N] [--runs N]

* find_base: an NGC-like image tree (a Debian /usr/bin/python3, N distributions in
  /usr/local/lib/python3.12/dist-packages with METADATA the size of real ones, torch's version.py and
  TorchConfig.cmake) read by `llmenv.base.find_base` — against `importlib.metadata.distributions()` listing the
  same folder and reading every METADATA (what `pip list` does), in the same process.
* no image: `find_base` on this machine with an empty environment (what every plan outside an image pays).
* probe: `probe_interpreter(sys.executable)` (one `python -I -c ...`) against `python -I -c pass`.
Each figure is the median of its runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.fake_base import torch_files  # noqa: E402

from llmenv.base import Files, find_base, probe_interpreter  # noqa: E402

SITE = "usr/local/lib/python3.12/dist-packages"
# A METADATA like numpy's or transformers' (headers, ~40 Requires-Dist, a long description).
META = (
    "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: a package\nLicense: BSD\n"
    + "".join(f"Requires-Dist: dep{i}>=1.0 ; extra == 'all'\n" for i in range(40))
    + "\n"
    + "A long description.\n" * 300
)


def image_tree(root: Path, n: int) -> None:
    site = root / SITE
    for i in range(n):
        d = site / f"pkg{i}-1.0.dist-info"
        d.mkdir(parents=True)
        (d / "METADATA").write_text(META.format(name=f"pkg{i}", version="1.0"))
    d = site / "torch-2.6.0a0+ecf3bae40a.nv25.1.dist-info"
    d.mkdir()
    (d / "METADATA").write_text(META.format(name="torch", version="2.6.0a0+ecf3bae40a.nv25.1"))
    for rel, text in torch_files("2.6.0a0+ecf3bae40a.nv25.1", "12.8", 1).items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.12").write_text("")
    os.symlink("python3.12", root / "usr/bin/python3")


def median(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        image_tree(root, args.packages)
        files = Files(root=str(root))
        env = {"NVIDIA_PYTORCH_VERSION": "25.01"}
        base = find_base(env, files)
        assert base is not None and base.torch is not None and len(base.packages) == args.packages + 1
        ours = median(lambda: find_base(env, files), args.runs)
        folder = str(root / SITE)

        def pip_list() -> None:
            for d in metadata.distributions(path=[folder]):
                d.metadata["Name"]

        baseline = median(pip_list, args.runs)
        none = median(lambda: find_base({}, Files()), args.runs)
    probe = median(lambda: probe_interpreter(sys.executable), args.runs)
    bare = median(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True), args.runs)
    print(f"find_base, NGC-like image with {args.packages + 1} distributions: {ours * 1000:.1f} ms")
    print(
        f"  importlib.metadata over the same folder:      {baseline * 1000:.1f} ms (ratio {ours / baseline:.2f})"
    )
    print(f"find_base outside an image (this machine):    {none * 1000:.2f} ms")
    print(f"probe_interpreter (python -I -c SNIPPET):     {probe * 1000:.1f} ms")
    print(f"  python -I -c pass:                          {bare * 1000:.1f} ms (ratio {probe / bare:.2f})")


if __name__ == "__main__":
    main()
