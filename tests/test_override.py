"""`llmenv override`: a package's real metadata with pins set or dropped, as [[tool.uv.dependency-metadata]]."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from llmenv.errors import UsageError
from llmenv.metadata import StaticMetadata
from llmenv.override import apply_override, parse_sets

from .wheelfactory import make_wheel

META = StaticMetadata(
    name="openrlhf",
    version="0.8.11",
    requires_dist=(
        "transformers==4.56.1",
        "ray[default]==2.48.0",
        'vllm==0.10.2; extra == "vllm"',
        "flash-attn==2.8.3",
    ),
    provides_extras=("vllm",),
    requires_python=">=3.10",
    source="wheel",
)


def test_set_keeps_the_marker_and_drop_removes() -> None:
    o = apply_override(
        META,
        name="openrlhf",
        version="0.8.11",
        sets=parse_sets(["transformers==4.57.1", "vllm==0.8.5.post1"]),
        drops=["flash-attn"],
    )
    assert o.requires_dist == (
        "transformers==4.57.1",
        "ray[default]==2.48.0",
        'vllm==0.8.5.post1; extra == "vllm"',
    )
    assert {c.package: (c.before, c.after) for c in o.changes}["flash-attn"] == (("flash-attn==2.8.3",), ())
    e = o.entry()
    assert e["provides-extras"] == ["vllm"] and e["requires-python"] == ">=3.10"


def test_set_of_a_new_package_is_a_typo_unless_added_and_bad_input_is_usage_error() -> None:
    with pytest.raises(UsageError, match="does not require numpy"):
        apply_override(META, name="openrlhf", version="0.8.11", sets=parse_sets(["numpy<2"]), drops=[])
    with pytest.raises(UsageError, match="did you mean transformers"):
        apply_override(
            META, name="openrlhf", version="0.8.11", sets=parse_sets(["transformer==4.57.1"]), drops=[]
        )
    o = apply_override(
        META, name="openrlhf", version="0.8.11", sets=[], drops=[], adds=parse_sets(["numpy<2"])
    )
    assert o.requires_dist[-1] == "numpy<2"
    with pytest.raises(UsageError):
        apply_override(META, name="openrlhf", version="0.8.11", sets=[], drops=["nope"])
    with pytest.raises(UsageError):
        parse_sets(["transformers==="])


def test_override_from_a_wheel_makes_the_real_uv_lock(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    whl = tmp_path / "whl"
    wheel = make_wheel(whl, "framework", "1.0", requires=["transformers==4.56.1"])
    make_wheel(whl, "transformers", "4.56.1")
    make_wheel(whl, "transformers", "4.57.1")
    proj = tmp_path / "proj"
    proj.mkdir()
    original = (
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        "# the user wants a newer transformers than the framework pins\n"
        'dependencies = ["framework==1.0", "transformers==4.57.1"]\n'
    )
    (proj / "pyproject.toml").write_text(original)
    lock = ["lock", "--project", "proj", "--", "--offline", "--no-index", "--find-links", str(whl)]
    r = run_cli(*lock, cwd=tmp_path)
    assert r.code == 1 and "transformers==4.56.1" in r.err
    r = run_cli(
        "override",
        "framework==1.0",
        "--set",
        "transformers==4.57.1",
        "--from",
        str(wheel),
        "--project",
        "proj",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert "transformers==4.56.1 -> transformers==4.57.1" in r.out
    text = (proj / "pyproject.toml").read_text()
    assert text.startswith(original)  # every byte of the user's file kept
    r = run_cli(*lock, cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    assert [p["version"] for p in doc["package"] if p["name"] == "transformers"] == ["4.57.1"]
    # Running it again changes nothing.
    r = run_cli(
        "override",
        "framework==1.0",
        "--set",
        "transformers==4.57.1",
        "--from",
        str(wheel),
        "--project",
        "proj",
        cwd=tmp_path,
    )
    assert "unchanged" in r.out and (proj / "pyproject.toml").read_text() == text


def test_override_bad_input(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("override", "openrlhf==0.8.11", "--set", "x==1", cwd=tmp_path)
    assert r.code == 2 and "no pyproject.toml" in r.err
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    r = run_cli("override", "openrlhf", "--set", "x==1", cwd=tmp_path)
    assert r.code == 2 and "give openrlhf==VERSION" in r.err
    r = run_cli("override", "openrlhf==0.8.11", cwd=tmp_path)
    assert r.code == 2 and "nothing to override" in r.err
    r = run_cli("override", "openrlhf>=1", "--set", "x==1", cwd=tmp_path)
    assert r.code == 2


@pytest.mark.network
def test_seed_openrlhf_override_for_real(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """openrlhf==0.8.11 pins transformers==4.56.1; after the override a project asking for 4.57.1 locks (PyPI)."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0.1.0"\nrequires-python = ">=3.11,<3.12"\n'
        'dependencies = ["openrlhf==0.8.11", "transformers==4.57.1"]\n\n'
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n\n"
        # flash-attn ships only an sdist whose build needs torch: static metadata lets uv lock without building it
        # (what `llmenv init` writes for a flash-attn source build).
        '[[tool.uv.dependency-metadata]]\nname = "flash-attn"\nversion = "2.8.3"\nrequires-dist = ["torch", "einops"]\n'
    )
    r = run_cli("lock", cwd=tmp_path)
    assert r.code == 1 and "transformers==4.56.1" in r.err
    r = run_cli("override", "openrlhf==0.8.11", "--set", "transformers==4.57.1", cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli("lock", cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "uv.lock").read_text()).unwrap()
    assert [p["version"] for p in doc["package"] if p["name"] == "transformers"] == ["4.57.1"]
