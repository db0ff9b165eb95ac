"""Score `llmenv explain --json` on a folder of held-out logs against its expected.toml.

    .venv/bin/python bench/explain_heldout.py [DIR]        (default: tests/fixtures/uv-errors/heldout)

Each log is piped (without its "# source:" header) to the real CLI, `llmenv explain - --json`. A verdict per log:

- ``right``: the first cause has the expected kind;
- ``honest unknown``: the log alone cannot show the cause (expected "unknown") and explain says it does not know;
- ``wrong kind``: explain names another cause (for an expected "unknown", a made-up cause);
- ``wrong unknown``: the log shows the cause, explain says it does not know.

Accuracy is (right + honest unknown) / logs. ``supported`` checks the issue's second bar: every package a cause
names, and every version in a summary or chain, appears in the log itself. Prints a Markdown table and the totals.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import tomlkit

ROOT = Path(__file__).resolve().parents[1]
LLMENV = ROOT / ".venv" / "bin" / "llmenv"
_VERSION = re.compile(
    r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.post|\.dev)\d+)*(?:\+[A-Za-z0-9.]+)?(?![\w])"
)


def _body(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _norm(s: str) -> str:
    return re.sub(r"[-_.]+", "-", s.lower())


def _unsupported(log: str, causes: list[dict[str, object]]) -> list[str]:
    """Packages and versions the causes state that the log does not contain."""
    bad: list[str] = []
    norm = _norm(log)
    for c in causes:
        kind = str(c["kind"])
        for pkg in c["packages"]:  # type: ignore[union-attr]
            symbol = kind == "abi-mismatch" and pkg == "torch" and re.search(r"_ZN\d*(?:3c10|2at|5torch)", log)
            if _norm(str(pkg)) not in norm and not symbol:
                bad.append(f"package {pkg}")
        for text in (c["summary"], *c.get("chain", [])):  # type: ignore[misc]
            for tok in _VERSION.findall(str(text)):
                major, minor = tok.split(".")[:2]
                ok = (
                    tok in log
                    or (kind == "driver-too-old" and f"found version {int(major) * 1000 + int(minor) * 10}" in log)
                    or (kind == "gpu-arch" and f"sm_{major}{minor}" in log)
                )
                if not ok:
                    bad.append(f"version {tok}")
    return bad


def score(folder: Path) -> int:
    expected = tomlkit.parse((folder / "expected.toml").read_text(encoding="utf-8")).unwrap()
    counts = {"right": 0, "honest unknown": 0, "wrong kind": 0, "wrong unknown": 0}
    unsupported = 0
    missing_pkgs = 0
    print("| log | expected | got | verdict | expected packages named | states only what the log shows |")
    print("|---|---|---|---|---|---|")
    for name in sorted(expected):
        want = expected[name]["kind"]
        log = _body(folder / name)
        out = subprocess.run([str(LLMENV), "explain", "-", "--json"], input=log, capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            print(f"| {name} | {want} | (exit {out.returncode}) | error | | |")
            counts["wrong unknown"] += 1
            continue
        data = json.loads(out.stdout)
        causes = data["causes"]
        got = causes[0]["kind"] if causes else "unknown"
        if got == want:
            verdict = "honest unknown" if want == "unknown" else "right"
        elif got == "unknown":
            verdict = "wrong unknown"
        else:
            verdict = "wrong kind"
        counts[verdict] += 1
        bad = _unsupported(log, causes)
        unsupported += bool(bad)
        shown = ", ".join(c["kind"] for c in causes) or "unknown"
        lacking = [p for p in expected[name].get("packages", []) if not causes or p not in causes[0]["packages"]]
        missing_pkgs += bool(lacking) and want != "unknown"
        pk = "—" if want == "unknown" else ("no: " + ", ".join(lacking) if lacking else "yes")
        print(f"| {name.removesuffix('.txt')} | {want} | {shown} | {verdict} | {pk} | "
              f"{'no: ' + '; '.join(bad) if bad else 'yes'} |")
    n = sum(counts.values())
    ok = counts["right"] + counts["honest unknown"]
    print()
    print(f"accuracy: {ok}/{n} = {ok / n:.0%} ({', '.join(f'{k}: {v}' for k, v in counts.items())}); "
          f"first cause lacks an expected package: {missing_pkgs}; logs with an unsupported statement: {unsupported}")
    return 0


if __name__ == "__main__":
    sys.exit(score(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "uv-errors" / "heldout"))
