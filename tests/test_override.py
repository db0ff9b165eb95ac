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


# ------------------------------------------------------------------------------------- overrides are the last word


def _framework(tmp_path: Path) -> tuple[Path, Path]:
    whl = tmp_path / "whl"
    wheel = make_wheel(
        whl, "framework", "1.0", requires=["transformers==4.56.1", "ray[default]==2.48.0", "flash-attn==2.8.3"]
    )
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0.1.0"\ndependencies = ["framework==1.0"]\n')
    return proj, wheel


def _entry(proj: Path, name: str) -> dict:  # type: ignore[type-arg]
    doc = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()
    return next(e for e in doc["tool"]["uv"]["dependency-metadata"] if e["name"] == name)


def test_overrides_accumulate_and_are_recorded(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj, wheel = _framework(tmp_path)
    base = ("override", "framework==1.0", "--project", str(proj))
    assert run_cli(*base, "--set", "transformers==4.57.1", "--from", str(wheel), cwd=tmp_path).code == 0
    # The second one reads the project's entry (no --from, no network) and keeps the first one's pin.
    r = run_cli(*base, "--set", "ray[default]==2.43.0", "--drop", "flash-attn", cwd=tmp_path)
    assert r.code == 0, r.err
    assert _entry(proj, "framework")["requires-dist"] == ["transformers==4.57.1", "ray[default]==2.43.0"]
    record = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()["tool"]["llmenv"]["overrides"]
    assert record["framework"] == {
        "version": "1.0",
        "set": ["transformers==4.57.1", "ray[default]==2.43.0"],
        "drop": ["flash-attn"],
        "from": str(wheel),
    }
    # A later pin on the same name replaces the earlier one.
    assert run_cli(*base, "--set", "transformers==4.58.0", cwd=tmp_path).code == 0
    assert _entry(proj, "framework")["requires-dist"][0] == "transformers==4.58.0"


def test_set_of_a_name_the_package_does_not_require_is_a_typo_unless_add(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj, wheel = _framework(tmp_path)
    base = ("override", "framework==1.0", "--from", str(wheel), "--project", str(proj))
    before = (proj / "pyproject.toml").read_text()
    r = run_cli(*base, "--set", "transformer==4.57.1", cwd=tmp_path)
    assert r.code == 2 and "does not require transformer (did you mean transformers?)" in r.err
    assert "--add" in r.err and (proj / "pyproject.toml").read_text() == before
    r = run_cli(*base, "--set", "numpy<2", "--add", cwd=tmp_path)
    assert r.code == 0, r.err
    assert _entry(proj, "framework")["requires-dist"][-1] == "numpy<2"


def test_an_override_of_what_init_writes_survives_init(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """flash-attn built from source: init writes its static metadata; the user drops einops from it."""
    target = ["--driver", "580.159.04", "--gpu", "9.0", "--python", "3.12", "--build", "flash-attn"]
    assert run_cli("init", ".", "torch", "flash-attn", *target, cwd=tmp_path).code == 0
    version = _entry(tmp_path, "flash-attn")["version"]
    assert "einops" in _entry(tmp_path, "flash-attn")["requires-dist"]
    r = run_cli("override", f"flash-attn=={version}", "--drop", "einops", cwd=tmp_path)
    assert r.code == 0, r.err
    after = (tmp_path / "pyproject.toml").read_text()
    assert _entry(tmp_path, "flash-attn")["requires-dist"] == ["torch"]
    # init again, with its arguments and with none: the override is applied last, the file does not change.
    assert run_cli("init", ".", "torch", "flash-attn", *target, cwd=tmp_path).code == 0
    assert (tmp_path / "pyproject.toml").read_text() == after
    assert run_cli("init", cwd=tmp_path).code == 0
    assert (tmp_path / "pyproject.toml").read_text() == after


def test_an_override_survives_the_command_wheelhouse_prints_next(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """init -> lock -> override -> wheelhouse, then its `next:` command (init --wheelhouse, lock --offline)."""
    import re

    from .pypi_server import IndexServer

    x86 = "cp311-cp311-manylinux_2_28_x86_64"
    torch = make_wheel(tmp_path / "whl" / "cpu", "torch", "2.6.0+cpu", tag=x86, requires=["filelock>=3"])
    server = IndexServer().start()
    try:
        server.add("filelock", make_wheel(tmp_path / "files", "filelock", "3.1"))
        flags = ("--cuda", "cpu", "--python", "3.11", "--torch-index", f"{tmp_path / 'whl'}/{{variant}}")
        assert run_cli("init", "./proj", "torch==2.6.0", *flags, "--mirror", server.url, cwd=tmp_path).code == 0
        r = run_cli("override", "torch==2.6.0", "--from", str(torch), "--set", "filelock==3.1", "--project", "proj", cwd=tmp_path)
        assert r.code == 0, r.err
        assert run_cli("lock", "--project", "proj", cwd=tmp_path).code == 0
        r = run_cli("wheelhouse", "--project", "proj", str(tmp_path / "wh"), cwd=tmp_path)
        assert r.code == 0, r.err
        command = re.search(r"next: llmenv (init \S+ --wheelhouse \S+)", r.out + r.err)
        assert command is not None, r.out + r.err
        r = run_cli(*command.group(1).split(), cwd=tmp_path)
        assert r.code == 0, r.err
    finally:
        server.stop()
    doc = tomlkit.parse((tmp_path / "proj" / "pyproject.toml").read_text()).unwrap()
    entry = next(e for e in doc["tool"]["uv"]["dependency-metadata"] if e["name"] == "torch")
    assert entry["requires-dist"] == ["filelock==3.1"]
    assert doc["tool"]["llmenv"]["overrides"]["torch"]["set"] == ["filelock==3.1"]
    assert run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path).code == 0
