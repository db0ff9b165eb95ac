"""Property tests (Hypothesis): init's edit of generated pyproject.toml files keeps their bytes — blank lines,
comments (and the table each heads), indentation, one-line arrays, trailing commas, line endings — adds in the
file's own style, and is idempotent."""

from __future__ import annotations

import difflib
from itertools import pairwise
from pathlib import Path

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmenv._tomledit import array_append, match_newlines
from llmenv.indexes import torch_source
from llmenv.plan import make_plan
from llmenv.render import ProjectOptions, edit
from llmenv.request import parse_specs
from llmenv.target import Target

PLAN = make_plan(
    Target(os="linux", arch="x86_64", python="3.12"), parse_specs(["torch"], Path.cwd()), source=torch_source(None, None)
)
OPTIONS = ProjectOptions(name="p", requested=("torch",), record={"specs": ["torch"]})
NAMES = ["numpy", "requests>=2", "rich", "pyyaml==6.0.1", "tqdm; python_version >= '3.10'", "httpx[http2]"]


@st.composite
def arrays(draw: st.DrawFn, indent: str) -> str:
    items = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=4, unique=True))
    if draw(st.booleans()) or not items:  # one line
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"
    lines = []
    for n, item in enumerate(items):
        if n and draw(st.booleans()):
            lines.append("")  # a blank line inside
        if draw(st.booleans()):
            lines.append(f"{indent}# about {item.split('>')[0].split('=')[0]}")
        last = n == len(items) - 1
        comma = "," if (not last or draw(st.booleans())) else ""
        trail = "  # pinned" if draw(st.booleans()) else ""
        lines.append(f'{indent}"{item}"{comma}{trail}')
    return "[\n" + "\n".join(lines) + "\n]"


@st.composite
def documents(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["  ", "    ", "\t"]))
    project = ['[project]', 'name = "gen"', 'version = "0.1.0"']
    if draw(st.booleans()):
        project.append("")
    if draw(st.booleans()):
        project.append("# what it needs")
    project.append(f"dependencies = {draw(arrays(indent))}")
    if draw(st.booleans()):
        project.append('keywords = ["a", "b"]')
    tables = [project]
    if draw(st.booleans()):
        tables.append(["[tool.uv]", 'prerelease = "allow"'])
    tables.append(["[tool.ruff]", "line-length = 100"])
    tables = [tables[0], *draw(st.permutations(tables[1:]))]
    out: list[str] = []
    for t in tables:
        if out:
            if draw(st.booleans()):
                out.append("")  # or none: a header right under the last line
            if draw(st.booleans()):
                out.append(f"# heads {t[0]}")
        out += t
    text = "\n".join(out) + "\n"
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


def _edit(text: str) -> str:
    result = edit(tomlkit.parse(text), PLAN, OPTIONS)
    return match_newlines(tomlkit.dumps(result.doc), text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_edit_keeps_every_byte_around_what_it_adds(text: str) -> None:
    new = _edit(text)
    doc = tomlkit.parse(new).unwrap()
    assert doc["project"]["dependencies"][-1] == "torch"
    old_lines, new_lines = text.splitlines(), new.splitlines()
    # Only insertions, but for the one line of a one-line array and an item that gains its comma.
    for line in difflib.ndiff(old_lines, new_lines):
        if line.startswith("- "):
            gone = line[2:]
            assert gone.startswith("dependencies = [") or f"{gone.split('  #')[0]}," in new, gone
    # Line endings are the file's.
    if "\r\n" in text:
        assert new.count("\r\n") == new.count("\n")
    else:
        assert "\r" not in new
    # A comment stays right above the table it heads.
    for a, b in pairwise(old_lines):
        if a.startswith("# heads"):
            assert new_lines[new_lines.index(a) + 1] == b
    # The dependency llmenv adds takes the array's indentation.
    items = [ln for ln in old_lines if ln.lstrip().startswith('"') and not ln.startswith("keywords")]
    torch_line = next((ln for ln in new_lines if ln.strip().startswith('"torch"')), None)
    if items and torch_line is not None:
        assert torch_line[: len(torch_line) - len(torch_line.lstrip())] == items[0][: len(items[0]) - len(items[0].lstrip())]
    # And a second edit changes nothing.
    assert _edit(new) == new


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["  ", "    ", "\t"]), st.data())
def test_an_appended_item_follows_the_arrays_layout(indent: str, data: st.DataObject) -> None:
    text = f"x = {data.draw(arrays(indent))}\n"
    doc = tomlkit.parse(text)
    before = list(doc["x"])
    array_append(doc["x"], "new")
    out = tomlkit.dumps(doc)
    assert tomlkit.parse(out)["x"] == [*before, "new"]
    if "\n" not in text.strip():
        assert out.count("\n") == 1  # a one-line array stays on one line
    else:
        assert f'\n{indent}"new"' in out
        last_item = [ln for ln in text.splitlines() if ln.lstrip().startswith('"')][-1:] or [","]
        had_comma = last_item[0].split("  #")[0].rstrip().endswith(",")
        assert out.rstrip().rstrip("]").rstrip().endswith('"new",') == (had_comma or not before)
