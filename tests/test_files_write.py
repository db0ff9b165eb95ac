"""llmenv.files.write_text_atomic: the one writer of llmenv's own data files (knowledge tables, wheel listings,
the wheelhouse index pages, the base link file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmenv import files


def test_writes_new_file_0644_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "t.json"
    files.write_text_atomic(path, "{}\n")
    assert path.read_text() == "{}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.json"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    path = tmp_path / "t.json"
    path.write_text("old\n")

    def fail(src: str, dst: str) -> None:
        raise error

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(type(error)):
        files.write_text_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]
