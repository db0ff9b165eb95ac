"""The finer behaviour of the rules added for issue 19 (and issue 14 item 4): where each stays silent, how
severities are chosen, and that the fixes they print are the edits that work."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmenv.check import Catalog, Finding, Project, check_text, parse, rule_for
from llmenv.check._python import lower_bound, marker_boundaries, minors, rewrite
from llmenv.check._releases import installs_on, url_wheel
from llmenv.check._rules_python import environments_fix, python_plan
from llmenv.knowledge.pins import load_pins, read_pins

from .check_index import catalog

PINS = load_pins(Path("/nonexistent"))
BASE = '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'


def run(code: str, text: str, cat: Catalog | None = None) -> list[Finding]:
    project = Project.from_dict(parse(text, file="pyproject.toml"), catalog=cat or catalog(pins=PINS))
    return rule_for(code).run(project)


def project(deps: str, rp: str = ">=3.10", tail: str = "") -> str:
    return f'[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = "{rp}"\ndependencies = [{deps}]\n{tail}'


XF = "https://download.pytorch.org/whl/cu121/xformers-0.0.28.post1-cp311-cp311-manylinux_2_28_x86_64.whl"
XF2 = "https://download.pytorch.org/whl/cu124/xformers-0.0.28.post1-cp311-cp311-manylinux_2_28_x86_64.whl"


# ---- conflicting-urls -------------------------------------------------------------------------------------------


def test_urls_with_disjoint_markers_do_not_conflict() -> None:
    deps = f"\"xformers @ {XF} ; sys_platform == 'linux'\", \"xformers @ {XF2} ; sys_platform == 'win32'\""
    assert run("conflicting-urls", project(deps)) == []


def test_a_base_url_meets_every_extra_even_with_conflicts_declared() -> None:
    text = project(
        f'"xformers @ {XF}"',
        tail=f'[project.optional-dependencies]\na = ["xformers @ {XF2}"]\nb = ["numpy"]\n'
        '[tool.uv]\nconflicts = [[{ extra = "a" }, { extra = "b" }]]\n',
    )
    (f,) = run("conflicting-urls", text)
    assert f.location == "project.optional-dependencies.a[0]" and "the base dependencies" in f.message
    assert "conflicts" not in f.fix.split("or give")[0]  # the base cannot be declared away


def test_the_same_url_with_and_without_its_hash_is_one_url() -> None:
    deps = f'"xformers @ {XF}#sha256=' + "0" * 64 + '"'
    text = project(deps, tail=f'[project.optional-dependencies]\na = ["xformers @ {XF}"]\n')
    assert run("conflicting-urls", text) == []


def test_extra_scoped_url_sources_need_conflicts() -> None:
    tail = (
        '[project.optional-dependencies]\na = ["xformers"]\nb = ["xformers"]\n'
        f'[tool.uv.sources]\nxformers = [{{ url = "{XF}", extra = "a" }}, {{ url = "{XF2}", extra = "b" }}]\n'
    )
    (f,) = run("conflicting-urls", project("", tail=tail))
    assert f.location == "tool.uv.sources.xformers[1].url"
    assert '[{ extra = "a" }, { extra = "b" }]' in f.fix
    fixed = tail.replace(
        "[tool.uv.sources]", '[tool.uv]\nconflicts = [[{ extra = "a" }, { extra = "b" }]]\n[tool.uv.sources]'
    )
    assert run("conflicting-urls", project("", tail=fixed)) == []


# ---- url-version-mismatch ---------------------------------------------------------------------------------------

FA = (
    "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
    "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"
)


def test_a_pin_without_local_version_accepts_the_local_wheel() -> None:
    text = project(
        '"flash-attn==2.7.4.post1"', tail=f'[project.optional-dependencies]\nfa = ["flash-attn @ {FA}"]\n'
    )
    assert run("url-version-mismatch", text) == []


def test_an_engine_pin_implies_the_torch_a_url_wheel_must_match() -> None:
    torch = "https://download.pytorch.org/whl/cu126/torch-2.7.0%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl"
    (f,) = run("url-version-mismatch", project(f'"vllm==0.8.5", "torch @ {torch}"'))
    assert "2.7.0+cu126" in f.message and "vllm==0.8.5" in f.message


# ---- requires-python-below-package ------------------------------------------------------------------------------


def test_a_python_marker_on_the_requirement_narrows_the_floor() -> None:
    deps = "\"math-verify[antlr4_11_0]==0.6.0 ; python_version >= '3.10'\""
    assert run("requires-python-below-package", project(deps, rp=">=3.8")) == []


def test_the_fix_names_the_newest_release_that_still_supports_the_floor() -> None:
    (f,) = run("requires-python-below-package", project('"matplotlib==3.10.9"', rp=">=3.9,<3.15"))
    assert '"matplotlib==3.10.9" needs Python >=3.10' in f.message and "starts at 3.9" in f.message
    assert 'requires-python = ">=3.10,<3.15"' in f.fix  # the user's cap is kept
    assert '"matplotlib==3.9.4"' in f.fix
    assert "\"matplotlib==3.10.9 ; python_version >= '3.10'\"" in f.fix


def test_a_floor_with_a_patch_level_is_compared_in_full() -> None:
    assert lower_bound(parse_spec(">=3.9.2,<4")) is not None
    assert run("requires-python-below-package", project('"math-verify==0.6.0"', rp=">=3.10.2")) == []


def parse_spec(text: str):  # type: ignore[no-untyped-def]
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(text)


# ---- python-without-wheels --------------------------------------------------------------------------------------


def test_a_release_with_an_sdist_is_buildable_so_silent() -> None:
    assert run("python-without-wheels", project('"matplotlib==3.9.4"', rp=">=3.9")) == []


def test_without_environments_only_linux_gaps_are_reported() -> None:
    (f,) = run("python-without-wheels", project('"ray[default]==2.40.0"', rp=">=3.9"))
    assert "3.13, 3.14, 3.15 on linux x86_64, linux aarch64" in f.message and "windows" not in f.message
    assert f.severity == "warning" and 'requires-python = ">=3.9,<3.13"' in f.fix


def test_with_environments_but_no_python_split_it_stays_a_warning() -> None:
    tail = "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
    (f,) = run("python-without-wheels", project('"ray[default]==2.10.0"', rp=">=3.8", tail=tail))
    assert f.severity == "warning" and "a requirement that splits" in f.why


def test_no_wheel_for_any_python_of_the_range_is_an_error() -> None:
    (f,) = run("python-without-wheels", project('"ray[default]==2.10.0"', rp=">=3.12"))
    assert f.severity == "error" and "cp312" in f.why


def test_a_url_wheel_for_one_python_under_a_wide_range() -> None:
    (f,) = run("python-without-wheels", project(f'"flash-attn @ {FA}"', rp=">=3.10"))
    assert "3.10, 3.12, 3.13, 3.14, 3.15 on linux x86_64" in f.message
    assert 'requires-python = ">=3.11,<3.12"' in f.fix


def test_a_git_source_replaces_the_registry_release() -> None:
    tail = '[tool.uv.sources]\nray = { git = "https://github.com/ray-project/ray" }\n'
    assert run("python-without-wheels", project('"ray[default]==2.10.0"', rp=">=3.8", tail=tail)) == []


# ---- the environments fix ----------------------------------------------------------------------------------------


def _fix(text: str) -> str:
    return environments_fix(Project.from_dict(parse(text, file="pyproject.toml"), catalog=catalog(pins=PINS)))


def test_environments_fix_caps_requires_python_from_the_wheels() -> None:
    fix = _fix(project('"ray[default]==2.10.0", "vllm"', rp=">=3.10"))
    assert "platform_machine == 'aarch64'" in fix
    assert fix.endswith('[project]\nrequires-python = ">=3.10,<3.12"')


def test_environments_fix_leaves_out_aarch64_when_a_wheel_only_pin_has_none() -> None:
    fix = _fix(project(f'"flash-attn @ {FA}"', rp="==3.11.*"))
    assert "x86_64" in fix and "aarch64" not in fix and "requires-python" not in fix


def test_environments_fix_needs_no_cap_when_the_wheels_cover_the_range() -> None:
    assert "requires-python" not in _fix(project('"vllm"', rp=">=3.10,<3.12"))


# ---- python-not-checked -----------------------------------------------------------------------------------------


def test_offline_untracked_pins_are_named_not_guessed() -> None:
    (f,) = run("python-not-checked", project('"math-verify==0.6.0", "ray==2.10.0"'), Catalog(pins=PINS))
    assert "math-verify==0.6.0 (not in the pins snapshot" in f.message and "ray" not in f.message
    assert f.fix.startswith("llmenv check --online")
    old = read_pins(Path(__file__).parent / "fixtures" / "pins" / "snapshot.json")  # written before wheel tags
    (f,) = run("python-not-checked", project('"vllm==0.8.5"'), Catalog(pins=old))
    assert "vllm==0.8.5 (the pins snapshot does not record its wheels)" in f.message


# ---- wrong-type / dynamic-field-also-static / deprecated-dev-dependencies ----------------------------------------


def test_a_string_of_dependencies_is_an_error_whose_fix_is_the_array() -> None:
    (f,) = run("wrong-type", BASE + 'dependencies = "torch"\n')
    assert f.location == "project.dependencies" and f.fix == 'dependencies = ["torch"]'
    assert check_text(BASE + 'dependencies = "torch"\n').errors >= 1


def test_every_dynamic_field_given_statically() -> None:
    text = '[project]\nname = "d"\nversion = "1"\ndynamic = ["version", "readme"]\nreadme = "README.md"\n'
    assert {f.location for f in run("dynamic-field-also-static", text)} == {
        "project.version",
        "project.readme",
    }


def test_dev_dependencies_fix_merges_into_an_existing_dev_group() -> None:
    text = BASE + '[dependency-groups]\ndev = ["ruff"]\n[tool.uv]\ndev-dependencies = ["ruff", "pytest"]\n'
    (f,) = run("deprecated-dev-dependencies", text)
    assert 'dev = [\n    "ruff",\n    "pytest",\n]' in f.fix


# ---- torch-family-variants-differ / gpu-platform-routed-to-cpu --------------------------------------------------

IDX = (
    '[[tool.uv.index]]\nname = "cu124"\nurl = "https://download.pytorch.org/whl/cu124"\nexplicit = true\n'
    '[[tool.uv.index]]\nname = "cu126"\nurl = "https://download.pytorch.org/whl/cu126"\nexplicit = true\n'
    '[[tool.uv.index]]\nname = "cpu"\nurl = "https://download.pytorch.org/whl/cpu"\nexplicit = true\n'
)
LINUX = "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n"


def test_same_major_different_minor_is_a_warning() -> None:
    tail = LINUX + IDX + '[tool.uv.sources]\ntorch = { index = "cu126" }\ntorchvision = { index = "cu124" }\n'
    (f,) = run("torch-family-variants-differ", project('"torch", "torchvision"', tail=tail))
    assert f.severity == "warning" and f.fix.endswith('= "cu126"')


def test_extra_scoped_variants_that_agree_are_silent() -> None:
    tail = (
        '[project.optional-dependencies]\ncpu = ["torch", "torchvision"]\ncu126 = ["torch", "torchvision"]\n'
        '[tool.uv]\nconflicts = [[{ extra = "cpu" }, { extra = "cu126" }]]\n' + IDX + "[tool.uv.sources]\n"
        'torch = [{ index = "cpu", extra = "cpu" }, { index = "cu126", extra = "cu126" }]\n'
        'torchvision = [{ index = "cpu", extra = "cpu" }, { index = "cu126", extra = "cu126" }]\n'
    )
    assert run("torch-family-variants-differ", project("", tail=tail)) == []


def test_pypi_torch_on_aarch64_is_cpu_up_to_2_10() -> None:
    source = '[tool.uv.sources]\ntorch = { index = "cu126", marker = "platform_machine == \'x86_64\'" }\n'
    (f,) = run("gpu-platform-routed-to-cpu", project('"torch==2.6.0"', tail=LINUX + IDX + source))
    assert f.location == "tool.uv.environments" and "PyPI" in f.message and "linux aarch64" in f.message
    assert run("gpu-platform-routed-to-cpu", project('"torch>=2.11"', tail=LINUX + IDX + source)) == []


def test_a_cpu_only_project_is_not_a_gpu_project() -> None:
    source = '[tool.uv.sources]\ntorch = { index = "cpu" }\n'
    assert run("gpu-platform-routed-to-cpu", project('"torch"', tail=LINUX + IDX + source)) == []


# ---- the helpers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "floor", "cap", "want"),
    [
        (">=3.8", None, "3.12", ">=3.8,<3.12"),
        (">=3.9,<3.15", "3.10", None, ">=3.10,<3.15"),
        ("~=3.12.3", None, "3.13", "~=3.12.3,<3.13"),
        ("==3.12.*", "3.12", None, ">=3.12"),
        (">=3.10,!=3.11.0", None, "3.13", ">=3.10,<3.13,!=3.11.0"),
    ],
)
def test_rewrite_keeps_what_it_does_not_change(
    spec: str, floor: str | None, cap: str | None, want: str
) -> None:
    assert rewrite(parse_spec(spec), floor=floor, cap=cap) == want


def test_python_plan_takes_the_first_run_of_good_minors() -> None:
    assert python_plan(["3.8", "3.9", "3.10", "3.11", "3.12"], {"3.8", "3.9", "3.10", "3.11"}) == (
        None,
        "3.12",
    )
    assert python_plan(["3.10", "3.11", "3.12", "3.13"], {"3.11", "3.12"}) == ("3.11", "3.13")
    assert python_plan(["3.10", "3.11"], {"3.10", "3.11"}) == (None, None)


def test_wheel_tags_install_where_packaging_says() -> None:
    _, r = url_wheel("https://x/n-1-cp38-abi3-manylinux2014_aarch64.whl") or ("", None)
    assert r is not None
    assert r.pythons("linux", "aarch64", ["3.8", "3.12", "3.15"]) == ("3.8", "3.12", "3.15")
    assert r.pythons("linux", "x86_64", ["3.12"]) == ()
    assert installs_on(r.wheel_tags, "linux", "aarch64", "3.13")
    assert minors(parse_spec(">=3.9.2,<3.12")) == ["3.9", "3.10", "3.11"]


def test_python_boundaries_come_from_direct_markers() -> None:
    from packaging.markers import Marker

    from llmenv.check import _envs

    p = Project.from_dict(parse(project(""), file="x"))
    envs = _envs.sample(p, minors(parse_spec(">=3.10")))
    assert marker_boundaries([Marker("python_version >= '3.12'"), None], envs) == {"3.12"}


def test_environments_fix_keeps_aarch64_when_the_x86_only_wheel_is_marked_so() -> None:
    fix = _fix(project(f"\"flash-attn @ {FA} ; platform_machine == 'x86_64'\"", rp="==3.11.*"))
    assert "platform_machine == 'aarch64'" in fix
