"""`llmenv init` treats the user's project as constraints (issue 12): one test per promise, several with the real
uv locking what init wrote against local flat indexes of generated wheels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit

from llmenv.errors import NoAnswer, UsageError
from llmenv.render import python_range, required_version

from .wheelfactory import make_wheel

CUDA12_8 = ["--driver", "570.124.06", "--gpu", "9.0", "--python", "3.11"]
CUDA12_4 = ["--driver", "550.54.14", "--gpu", "8.0", "--python", "3.11"]
CUDA13 = ["--driver", "580.65.06", "--gpu", "9.0", "--python", "3.11"]
HEAD = '[project]\nname = "p"\nversion = "0.1.0"\n'


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path / "pyproject.toml"


def _doc(path: Path) -> dict:  # type: ignore[type-arg]
    return tomlkit.parse(path.read_text()).unwrap()


def _init(run_cli, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli("init", str(tmp_path), *args, "--json", cwd=tmp_path)


def _refused(r, path: Path, before: str, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 1, r.err
    assert path.read_text() == before  # the file keeps its bytes
    for w in words:
        assert w in r.err, r.err


# ---------------------------------------------------------------------------------------------------------- pins


def test_an_engine_the_project_pins_decides_torch(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, HEAD + 'requires-python = ">=3.10"\ndependencies = ["vllm==0.8.5.post1"]\n')
    r = _init(run_cli, tmp_path, "torch", *CUDA13)
    assert r.code == 0, r.err
    assert json.loads(r.out)["plan"]["packages"]["torch"]["version"] == "2.6.0"  # what vllm 0.8.5.post1 pins
    doc = _doc(path)
    assert doc["project"]["dependencies"] == ["vllm==0.8.5.post1", "torch"]
    assert doc["tool"]["uv"]["constraint-dependencies"] == ["torch==2.6.0"]


def test_a_plan_that_breaks_the_projects_pins_is_refused_naming_them(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = HEAD + 'dependencies = ["vllm==0.8.5.post1"]\n'
    path = _write(tmp_path, before)
    r = _init(run_cli, tmp_path, "torch==2.11.0", *CUDA13)
    _refused(r, path, before, "vllm==0.8.5.post1", "project.dependencies[0]")
    before = HEAD + 'dependencies = ["torch==2.9.1"]\n'
    path = _write(tmp_path, before)
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)  # torch 2.9.1 has no CUDA 12.4 build
    _refused(r, path, before, "project.dependencies[0]: torch==2.9.1")


def test_a_range_that_holds_the_plan_stays_as_written(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, HEAD + 'dependencies = [\n  "torch>=2.5",  # ours\n]\n')
    assert _init(run_cli, tmp_path, "torch", *CUDA12_4).code == 0
    text = path.read_text()
    assert '  "torch>=2.5",  # ours\n' in text
    assert _doc(path)["tool"]["uv"]["constraint-dependencies"] == ["torch==2.6.0"]


def test_a_spec_the_project_keeps_in_an_extra_or_group_stays_there(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = HEAD + 'dependencies = ["numpy"]\n\n[project.optional-dependencies]\ngpu = ["torch"]\n\n'
    text += '[dependency-groups]\nserve = ["vllm>=0.8"]\n'
    path = _write(tmp_path, text)
    assert _init(run_cli, tmp_path, "torch", "vllm", *CUDA12_4).code == 0
    doc = _doc(path)
    base = doc["project"]["dependencies"]
    assert base[0] == "numpy" and "torch" not in base and "vllm" not in base  # (vllm's torchvision joins torch's)
    assert doc["project"]["optional-dependencies"]["gpu"] == ["torch"]
    assert doc["dependency-groups"]["serve"] == ["vllm>=0.8"]
    assert "vllm==0.8.5.post1" in doc["tool"]["uv"]["constraint-dependencies"]


def test_an_override_that_removes_a_planned_package_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = HEAD + 'dependencies = ["torch"]\n\n[tool.uv]\noverride-dependencies = ["torch; sys_platform == \'never\'"]\n'
    path = _write(tmp_path, before)
    _refused(_init(run_cli, tmp_path, "torch", *CUDA12_4), path, before, "tool.uv.override-dependencies[0]")


# -------------------------------------------------------------------------------------------- requires-python


class _Plan:
    def __init__(self, pythons: tuple[str, ...], target_python: str = "3.11") -> None:
        from llmenv.target import Target

        self.pythons = pythons
        self.target = Target(os="linux", arch="x86_64", python=target_python)

    @property
    def requires_python(self) -> str:
        lo, hi = self.pythons[0], self.pythons[-1]
        return f">={lo},<3.{int(hi.split('.')[1]) + 1}"


@pytest.mark.parametrize(
    ("user", "want", "narrowed"),
    [
        (None, ">=3.11,<3.14", True),
        (">=3.11,<3.13", ">=3.11,<3.13", False),  # inside the plan's: kept as written
        ("==3.11.*", "==3.11.*", False),
        (">=3.9", ">=3.11,<3.14", True),  # floor raised to the plan's, cap added
        (">=3.10,<3.16", ">=3.11,<3.14", True),  # a wider cap is never kept
        ("~=3.11", "~=3.11,<3.14", True),
        (">=3.11,!=3.12.1", ">=3.11,!=3.12.1,<3.14", True),
    ],
)
def test_requires_python_is_intersected_never_widened(user: str | None, want: str, narrowed: bool) -> None:
    text, kept, was_narrowed = python_range(user, _Plan(("3.11", "3.12", "3.13")))  # type: ignore[arg-type]
    assert (text, was_narrowed) == (want, narrowed)
    assert kept and kept[0] == "3.11"


def test_requires_python_that_leaves_out_the_target_is_refused() -> None:
    with pytest.raises(NoAnswer, match=r"excludes the target.s Python 3\.11"):
        python_range("==3.12.*", _Plan(("3.11", "3.12", "3.13")))  # type: ignore[arg-type]
    with pytest.raises(NoAnswer, match="allows none of the Pythons"):
        python_range("<3.10", _Plan(("3.11", "3.12")))  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        python_range(">=three", _Plan(("3.11",)))  # type: ignore[arg-type]


def test_a_requires_python_without_the_target_python_is_refused_naming_one_it_allows(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = HEAD + 'requires-python = "==3.12.*"\ndependencies = []\n'
    path = _write(tmp_path, before)
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)  # --python 3.11
    _refused(r, path, before, "project.requires-python = '==3.12.*' excludes the target's Python 3.11")
    assert "--python 3.12" in r.err
    r = run_cli("plan", "torch", *CUDA12_4, cwd=tmp_path)  # plan in the folder holds to it the same way
    assert r.code == 1 and "--python 3.12" in r.err
    r = run_cli("plan", "torch", *CUDA12_4, "--no-project", cwd=tmp_path)
    assert r.code == 0, r.err


def test_a_lock_for_several_platforms_holds_every_platform_to_the_project(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The project's torch==2.9.1 holds the plan of each platform of the lock, not only the first one."""
    _write(tmp_path, HEAD + 'requires-python = ">=3.10"\ndependencies = ["torch==2.9.1"]\n')
    platforms = ("--platform", "linux-x86_64", "--platform", "linux-aarch64")
    r = run_cli("plan", "torch", "--driver", "570.124.06", "--gpu", "9.0", "--python", "3.11", *platforms, "--json", cwd=tmp_path)
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["packages"]["torch"]["version"] == "2.9.1"
    assert {p["torch"] for p in plan["platforms"]} == {"2.9.1"} and len(plan["platforms"]) == 2
    assert plan["requires-python"].startswith(">=3.10,")  # the project's floor, on every platform


def test_a_narrowed_requires_python_is_said_and_narrowed_from_the_users_value_next_time(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The floor of an existing project stays where the chosen packages have wheels (torch 2.6.0: 3.9–3.13), and
    rises only when one needs it (torch 2.14.1 on a CUDA 13 driver: 3.10–3.14), naming it."""
    path = _write(tmp_path, HEAD + 'requires-python = ">=3.9"\ndependencies = []\n')
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["plan"]["requires-python"] == ">=3.9,<3.14" and out["plan"]["python"] == "3.11"
    assert "requires-python: '>=3.9' narrowed to '>=3.9,<3.14' (capped below 3.14: torch 2.6.0 ships wheels for " \
        "Python 3.9–3.13 only)" in out["notes"]
    assert (tmp_path / ".python-version").read_text() == "3.11\n"  # the planned Python, not the floor
    r = _init(run_cli, tmp_path, "torch", *CUDA13)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    torch = out["plan"]["packages"]["torch"]["version"]
    assert out["plan"]["requires-python"] == ">=3.10,<3.15"
    assert f"floor raised to 3.10: torch {torch} ships wheels for Python 3.10–3.14 only" in " ".join(out["notes"])
    assert out["plan"]["python-range"]["floor"] == f"torch {torch} ships wheels for Python 3.10–3.14 only"
    assert _doc(path)["tool"]["llmenv"]["narrowed"]["requires-python"]["was"] == ">=3.9"
    # The next run starts from the user's >=3.9, not from what llmenv wrote.
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)
    assert r.code == 0, r.err
    assert _doc(path)["project"]["requires-python"] == ">=3.9,<3.14"


def test_a_new_project_starts_at_the_planned_python(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = _init(run_cli, tmp_path / "new", "torch", *CUDA12_4)
    assert r.code == 0, r.err
    assert json.loads(r.out)["plan"]["requires-python"] == ">=3.11,<3.14"
    assert "floor" not in json.loads(r.out)["plan"]["python-range"]


# ------------------------------------------------------------------------------- environments, required-version


def test_environments_are_kept_and_only_extended_for_the_target(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = HEAD + 'dependencies = []\n\n[tool.uv]\nenvironments = ["sys_platform == \'darwin\'"]\n'
    path = _write(tmp_path, text)
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)
    assert r.code == 0, r.err
    assert _doc(path)["tool"]["uv"]["environments"] == [
        "sys_platform == 'darwin'",
        "sys_platform == 'linux' and platform_machine == 'x86_64'",
    ]
    assert any(n.startswith("environments: added") for n in json.loads(r.out)["notes"])
    # Ones that cover the target are kept byte for byte; none stays none.
    for env in ('environments = [\n  "sys_platform == \'linux\'",\n  "sys_platform == \'darwin\'",\n]\n', ""):
        text = HEAD + f"dependencies = []\n\n[tool.uv]\n{env}"
        path = _write(tmp_path, text)
        assert _init(run_cli, tmp_path, "torch", *CUDA12_4).code == 0
        after = path.read_text()
        assert (env in after) if env else ("environments" not in _doc(path)["tool"]["uv"])


@pytest.mark.parametrize(
    ("user", "want"),
    [(None, ">=0.9.0"), (">=0.11.1", ">=0.11.1"), (">=0.8.10", ">=0.9.0"), (">=0.8,<0.20", ">=0.9.0,<0.20")],
)
def test_required_version_is_never_lowered(user: str | None, want: str) -> None:
    assert required_version(user)[0] == want


def test_a_required_version_that_excludes_what_llmenv_writes_is_refused() -> None:
    with pytest.raises(NoAnswer, match=r"excludes uv >= 0\.9\.0"):
        required_version("==0.7.2")


# ------------------------------------------------------------------------------------------- dynamic, setup.py


def test_dynamic_dependencies_get_constraints_and_sources_only(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = '[project]\nname = "p"\ndynamic = ["version", "dependencies", "requires-python"]\n'
    path = _write(tmp_path, text)
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)
    assert r.code == 0, r.err
    doc = _doc(path)
    assert set(doc["project"]) == {"name", "dynamic"}  # nothing dynamic written
    assert doc["tool"]["uv"]["constraint-dependencies"] == ["torch==2.6.0"]
    assert doc["tool"]["uv"]["sources"]["torch"][0]["index"] == "pytorch-cu124"
    notes = json.loads(r.out)["notes"]
    assert any("dependencies is dynamic" in n for n in notes) and any("requires-python is dynamic" in n for n in notes)


def test_a_setup_py_project_is_never_shadowed(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)  # no pyproject.toml at all: none is created
    assert r.code == 1 and "setup.py" in r.err and not (tmp_path / "pyproject.toml").exists()
    before = "[tool.black]\nline-length = 119\n"
    path = _write(tmp_path, before)
    _refused(_init(run_cli, tmp_path, "torch", *CUDA12_4), path, before, "no [project] table")


# -------------------------------------------------------------------------------------------------- routing


def _variant_indexes(root: Path, variants: tuple[str, ...], torch: str = "2.11.0", vision: str = "0.26.0") -> Path:
    for v in variants:
        make_wheel(root / v, "torch", f"{torch}+{v}")
        make_wheel(root / v, "torchvision", f"{vision}+{v}", requires=[f"torch=={torch}"])
    return root


def _extras_project(whl: Path, kind: str = "extra") -> str:
    """The uv docs' per-extra (or per-group) recipe: cpu and cu130, conflicting, torch and torchvision routed."""
    table = "[project.optional-dependencies]" if kind == "extra" else "[dependency-groups]"
    return (
        '[project]\nname = "p"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = []\n\n'
        f'{table}\ncpu = [\n  "torch>=2.11.0",\n  "torchvision>=0.26.0",\n]\ncu130 = [\n  "torch>=2.11.0",\n'
        f'  "torchvision>=0.26.0",\n]\n\n[tool.uv]\nconflicts = [\n  [\n    {{ {kind} = "cpu" }},\n'
        f'    {{ {kind} = "cu130" }},\n  ],\n]\n\n[tool.uv.sources]\n'
        f'torch = [\n  {{ index = "pytorch-cpu", {kind} = "cpu" }},\n  {{ index = "pytorch-cu130", {kind} = "cu130" }},\n]\n'
        f'torchvision = [\n  {{ index = "pytorch-cpu", {kind} = "cpu" }},\n  {{ index = "pytorch-cu130", {kind} = "cu130" }},\n]\n\n'
        f'[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "{whl}/cpu"\nformat = "flat"\nexplicit = true\n\n'
        f'[[tool.uv.index]]\nname = "pytorch-cu130"\nurl = "{whl}/cu130"\nformat = "flat"\nexplicit = true\n'
    )


@pytest.mark.parametrize("kind", ["extra", "group"])
def test_per_extra_routing_gets_one_more_extra_in_its_style_and_locks(run_cli, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    whl = _variant_indexes(tmp_path / "whl", ("cpu", "cu128", "cu130"))
    proj = tmp_path / "proj"
    proj.mkdir()
    original = _extras_project(whl, kind)
    path = _write(proj, original)
    spec = "torch==2.11.0"  # the release the local index holds (its newest CUDA 12 build the driver runs: cu128)
    r = run_cli("init", str(proj), spec, *CUDA12_8, "--torch-index", f"{whl}/{{variant}}", "--json", cwd=tmp_path)
    assert r.code == 0, r.err
    assert json.loads(r.out)["plan"]["packages"]["torch"]["variant"] == "cu128"
    doc = _doc(path)
    table = doc["project"]["optional-dependencies"] if kind == "extra" else doc["dependency-groups"]
    assert table["cu128"] == ["torch>=2.11.0", "torchvision>=0.26.0"]  # the user's text, from the siblings
    for name in ("torch", "torchvision"):  # the user's entries kept, one more in their style, one index for both
        assert doc["tool"]["uv"]["sources"][name] == [
            {"index": "pytorch-cpu", kind: "cpu"},
            {"index": "pytorch-cu130", kind: "cu130"},
            {"index": "pytorch-cu128", kind: "cu128"},
        ]
    assert doc["tool"]["uv"]["conflicts"] == [[{kind: "cpu"}, {kind: "cu130"}, {kind: "cu128"}]]
    notes = json.loads(r.out)["notes"]
    assert any(f"uv sync --{kind} cu128" in n for n in notes)
    r = run_cli("lock", "--project", str(proj), "--", "--offline", cwd=tmp_path)
    assert r.code == 0, r.err
    lock = tomlkit.parse((proj / "uv.lock").read_text()).unwrap()
    assert {p["version"] for p in lock["package"] if p["name"] == "torch"} == {
        "2.11.0+cpu",
        "2.11.0+cu128",
        "2.11.0+cu130",
    }
    # Again, and with no arguments: byte-identical.
    after = path.read_text()
    assert run_cli("init", str(proj), spec, *CUDA12_8, "--torch-index", f"{whl}/{{variant}}", cwd=tmp_path).code == 0
    assert run_cli("init", str(proj), cwd=tmp_path).code == 0
    assert path.read_text() == after


def test_per_extra_routing_that_serves_the_plan_is_kept_as_it_is(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    whl = _variant_indexes(tmp_path / "whl", ("cpu", "cu130"))
    path = _write(tmp_path, _extras_project(whl))
    r = _init(run_cli, tmp_path, "torch", *CUDA13, "--torch-index", f"{whl}/{{variant}}")
    assert r.code == 0, r.err
    doc = _doc(path)
    assert set(doc["project"]["optional-dependencies"]) == {"cpu", "cu130"}
    assert doc["tool"]["uv"]["sources"]["torch"] == [
        {"index": "pytorch-cpu", "extra": "cpu"},
        {"index": "pytorch-cu130", "extra": "cu130"},
    ]
    assert any("uv sync --extra cu130" in n for n in json.loads(r.out)["notes"])


def _marker_project(variant: str) -> str:
    return (
        HEAD + 'dependencies = ["torch>=2.5", "torchvision"]\n\n[tool.uv.sources]\n'
        f"torch = [{{ index = \"pytorch-{variant}\", marker = \"sys_platform == 'linux'\" }}]\n"
        f"torchvision = [{{ index = \"pytorch-{variant}\", marker = \"sys_platform == 'linux'\" }}]\n\n"
        f'[[tool.uv.index]]\nname = "pytorch-{variant}"\nurl = "https://download.pytorch.org/whl/{variant}"\n'
        "explicit = true\n"
    )


def test_marker_routing_keeps_torch_on_the_users_variant_when_the_driver_runs_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, _marker_project("cu128"))
    r = _init(run_cli, tmp_path, "torch", *CUDA13)  # the driver runs cu130 too; the project says cu128
    assert r.code == 0, r.err
    plan = json.loads(r.out)["plan"]
    assert plan["packages"]["torch"]["variant"] == "cu128"
    assert plan["reasons"][0].startswith("torch stays on cu128: the project routes it there (tool.uv.sources.torch[0])")
    doc = _doc(path)
    assert doc["tool"]["uv"]["sources"]["torch"] == [{"index": "pytorch-cu128", "marker": "sys_platform == 'linux'"}]
    assert [i["name"] for i in doc["tool"]["uv"]["index"]] == ["pytorch-cu128"]  # no second torch index


def test_marker_routing_the_driver_cannot_run_is_refused_naming_the_entry(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = _marker_project("cu128")
    path = _write(tmp_path, before)
    _refused(_init(run_cli, tmp_path, "torch", *CUDA12_4), path, before, "tool.uv.sources.torch[0]", "cu128")


def test_routing_for_other_platforms_only_gets_a_route_for_the_target(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        HEAD + 'dependencies = ["torch"]\n\n[tool.uv.sources]\n'
        "torch = [{ index = \"pytorch-cpu\", marker = \"sys_platform == 'darwin'\" }]\n\n"
        '[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "https://download.pytorch.org/whl/cpu"\nexplicit = true\n'
    )
    path = _write(tmp_path, text)
    r = _init(run_cli, tmp_path, "torch", *CUDA12_4)
    assert r.code == 0, r.err
    assert _doc(path)["tool"]["uv"]["sources"]["torch"] == [
        {"index": "pytorch-cpu", "marker": "sys_platform == 'darwin'"},
        {"index": "pytorch-cu124", "marker": "sys_platform == 'linux' and platform_machine == 'x86_64'"},
    ]


def test_torchvision_routed_apart_from_torch_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = _marker_project("cu128").replace(
        'torchvision = [{ index = "pytorch-cu128"', 'torchvision = [{ index = "pytorch-cu130"'
    ) + '\n[[tool.uv.index]]\nname = "pytorch-cu130"\nurl = "https://download.pytorch.org/whl/cu130"\nexplicit = true\n'
    path = _write(tmp_path, before)
    _refused(_init(run_cli, tmp_path, "torch", *CUDA13), path, before, "tool.uv.sources.torchvision[0]")


# ------------------------------------------------------------------------------------------------------ bytes


def test_bytes_around_the_edits_are_the_users(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        "[project]\r\nname = \"p\"\r\nversion = \"0.1.0\"\r\ndependencies = [\r\n  \"numpy\",\r\n\r\n"
        "  # the web part\r\n  \"fastapi\"\r\n]\r\nkeywords = [\"a\", \"b\"]\r\n\r\n"
        "[tool.uv]\r\nprerelease = \"allow\"\r\n\r\n# heads the ruff table\r\n[tool.ruff]\r\nline-length = 100\r\n"
    )
    path = tmp_path / "pyproject.toml"
    path.write_bytes(text.encode())
    assert _init(run_cli, tmp_path, "torch", *CUDA12_4).code == 0
    after = path.read_bytes().decode()
    assert after.count("\r\n") == after.count("\n")  # CRLF throughout
    assert '  # the web part\r\n  "fastapi",\r\n  "torch"\r\n]' in after  # blank line, comment, indent, no trailing comma
    assert 'keywords = ["a", "b"]' in after
    assert 'prerelease = "allow"\r\nrequired-version = ">=0.9.0"\r\n' in after
    assert "# heads the ruff table\r\n[tool.ruff]" in after  # the comment stays with the table under it


def test_a_symlinked_pyproject_is_written_through(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    real = tmp_path / "shared" / "pyproject.toml"
    real.parent.mkdir()
    real.write_text(HEAD + "dependencies = []\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").symlink_to(real)
    assert run_cli("init", str(proj), "torch", *CUDA12_4, cwd=tmp_path).code == 0
    assert (proj / "pyproject.toml").is_symlink()
    assert "torch" in _doc(real)["project"]["dependencies"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["pyproject.toml"]  # no temporary left


def test_a_file_changed_on_disk_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    from llmenv.project import ProjectFile

    path = _write(tmp_path, HEAD)
    project = ProjectFile.open(path)
    project.doc["project"]["version"] = "0.2.0"
    path.write_text(HEAD + "# someone else's edit\n")
    with pytest.raises(UsageError, match="changed on disk"):
        project.write()
    assert path.read_text().endswith("# someone else's edit\n")


# -------------------------------------------------------------------------------------------- check after write


def test_an_error_the_edit_would_bring_is_refused_naming_the_finding(tmp_path: Path) -> None:
    from llmenv.cli.init import _check_after

    before = HEAD + 'dependencies = ["vllm==0.8.5.post1"]\n'
    _check_after(before, before + "# a comment\n", tmp_path / "pyproject.toml")  # no new error: fine
    after = HEAD + 'dependencies = ["vllm==0.8.5.post1"]\n\n[tool.uv]\nconstraint-dependencies = ["torch==2.11.0"]\n'
    with pytest.raises(NoAnswer, match="engine-torch-mismatch") as e:
        _check_after(before, after, tmp_path / "pyproject.toml")
    assert "left unchanged" in e.value.message
    _check_after(after, after + "# same errors as before\n", tmp_path / "pyproject.toml")  # the file's own: fine


# --------------------------------------------------------------------------------------------------- init NAME


def test_a_first_argument_that_is_no_known_package_names_the_new_folder(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("init", "myproj", "torch", *CUDA12_4, cwd=tmp_path).code == 0
    assert _doc(tmp_path / "myproj" / "pyproject.toml")["project"]["name"] == "myproj"
    assert run_cli("init", "My Project (v2)", "torch", *CUDA12_4, cwd=tmp_path).code == 0
    assert _doc(tmp_path / "My Project (v2)" / "pyproject.toml")["project"]["name"] == "my-project-v2"
    # A package llmenv plans is a SPEC, in the current folder.
    assert run_cli("init", "torch", *CUDA12_4, cwd=tmp_path).code == 0
    assert _doc(tmp_path / "pyproject.toml")["project"]["dependencies"] == ["torch"]
