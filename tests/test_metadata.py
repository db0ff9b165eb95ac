"""Static metadata readers for `llmenv override`: pyproject, setup.py (read with ast, never run), wheels, PyPI."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from llmenv.errors import UsageError
from llmenv.metadata import StaticMetadata, from_pypi, from_pyproject, from_setup_py, from_tree, from_wheel
from llmenv.pypi import PyPIClient, requires_txt_to_dist

from .conftest import FIXTURES
from .pypi_server import IndexServer
from .wheelfactory import make_wheel

CASES = FIXTURES / "metadata"


def norm(lines: tuple[str, ...] | list[str]) -> list[str]:
    return sorted(str(Requirement(x)) for x in lines)


# ----------------------------------------------------------------------------- supported setup.py patterns

SUPPORTED = {
    "literal": (
        "lit",
        "1.2.3",
        ">=3.10",
        ["torch==2.6.0", "numpy<2", 'vllm==0.8.5.post1; extra == "vllm"', 'pytest; extra == "dev-tools"'],
        ["vllm", "dev-tools"],
    ),
    "variables": (
        "variables",
        "0.4.0",
        None,
        [
            "ray[default]>=2.41.0",
            "transformers",
            "packaging",
            'tensordict>=0.8.0; extra == "vllm"',
            'vllm<=0.8.5,>=0.7.3; extra == "vllm"',
            'tensordict>=0.8.0; extra == "sglang"',
            'sglang[openai,srt]==0.4.6.post5; extra == "sglang"',
            'torch==2.6.0; extra == "sglang"',
            'sglang[openai,srt]==0.4.6.post5; extra == "all"',
            'tensordict>=0.8.0; extra == "all"',
            'torch==2.6.0; extra == "all"',
            'vllm<=0.8.5,>=0.7.3; extra == "all"',
        ],
        ["vllm", "sglang", "all"],
    ),
    "requirements_file": (
        "reqfile",
        "0.1",
        None,
        [
            "torch==2.6.0",
            "datasets",
            'einops; python_version >= "3.9"',
            "accelerate>=1.0",
            'pytest; extra == "test"',
        ],
        ["test"],
    ),
    "parse_requirements_pip": ("pipreq", None, None, ["flash-attn==2.7.4.post1", "ray==2.43.0"], []),
    "helper_function": (
        "helper",
        "0.8.11",
        None,
        [
            "transformers==4.56.1",
            "ray[default]==2.48.0",
            'vllm==0.8.5.post1; extra == "vllm"',
            'vllm>0.8.5.post1; extra == "vllm-latest"',
        ],
        ["vllm", "vllm-latest"],
    ),
    "helper_opaque": ("opaque", None, None, ["torch>=2.4", "sglang==0.4.6.post5"], []),
    "comprehension": (
        "comp",
        None,
        None,
        ["torch", "ray>=2.9", 'alpha>=1.0; extra == "alpha"', 'beta>=1.0; extra == "beta"'],
        ["alpha", "beta"],
    ),
    "marker_extras": (
        "markers",
        None,
        None,
        [
            "numpy",
            'tomli; python_version < "3.11"',
            'flash-attn>=2.6; platform_system == "Linux" and extra == "cuda"',
            'typing-extensions; python_version < "3.10"',
            'vllm; platform_machine == "x86_64" and extra == "vllm"',
        ],
        ["cuda", "vllm"],
    ),
    "kwargs_dict": ("kwargs", "2.0", None, ["deepspeed==0.15.4", 'ray==2.40.0; extra == "ray"'], ["ray"]),
    "append_extend": (
        "appender",
        None,
        None,
        [
            "torch",
            "xformers==0.0.29.post2",
            "triton",
            "ninja",
            "einops",
            'vllm; extra == "vllm"',
            'sglang; extra == "sglang"',
        ],
        ["vllm", "sglang"],
    ),
    "pathlib_read": ("pathlib-read", "3.1.4", None, ["vllm==0.9.2"], []),
    "setup_cfg_only": (
        "cfgpkg",
        "0.7",
        ">=3.9",
        ["torch>=2.1", 'numpy; python_version >= "3.9"', 'vllm==0.6.3; extra == "vllm"'],
        ["vllm"],
    ),
}


@pytest.mark.parametrize("case", sorted(SUPPORTED))
def test_setup_py_patterns_read_statically(case: str) -> None:
    name, version, python, requires, extras = SUPPORTED[case]
    m = from_setup_py(CASES / case / "setup.py")
    assert (m.name, m.version, m.requires_python) == (name, version, python)
    assert list(m.requires_dist) == requires
    assert list(m.provides_extras) == extras
    assert m.source == "setup.py"
    # every line is valid Requires-Dist, and an extra's lines carry its marker
    for line in m.requires_dist:
        req = Requirement(line)
        if "extra ==" in line:
            assert req.marker is not None


def test_helpers_we_cannot_follow_line_by_line_say_what_they_read() -> None:
    m = from_setup_py(CASES / "helper_opaque" / "setup.py")
    assert m.notes == ("read requirements.txt as a requirements file for load_requirements() (line 11)",)


def test_openrlhf_real_setup_py() -> None:
    """OpenRLHF's own setup.py (tests/fixtures/metadata/openrlhf/SOURCE.md): a helper that reads
    requirements.txt, literal extras; its name and version depend on an environment variable."""
    m = from_setup_py(CASES / "openrlhf" / "setup.py", name="openrlhf")
    assert m.name == "openrlhf" and m.version is None and m.requires_python == ">=3.10"
    assert "transformers==4.57.3" in m.requires_dist and "ray[default]==2.48.0" in m.requires_dist
    assert "flash-attn==2.8.3" in m.requires_dist and len(m.requires_dist) == 26
    assert m.requires_dist[-3:] == (
        'vllm==0.6.5; extra == "vllm"',
        'vllm>0.6.5; extra == "vllm-latest"',
        'sglang; extra == "sglang"',
    )
    assert m.provides_extras == ("vllm", "vllm-latest", "sglang")
    assert any(
        n.startswith("version: line 30 computes it with a condition (`if _is_nightly()`)") for n in m.notes
    )
    assert any("environment variable" in n for n in m.notes)


def test_setup_py_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "setup.py").write_text(
        f"from setuptools import setup\nopen({str(marker)!r}, 'w').write('x')\n"
        "import os\nos.system('touch ran-too')\nsetup(name='x', install_requires=['torch'])\n"
    )
    m = from_setup_py(tmp_path / "setup.py")
    assert m.requires_dist == ("torch",)
    assert not marker.exists() and not (tmp_path / "ran-too").exists()


# ------------------------------------------------------------------------------------------- refusals

REFUSED = {
    "import_call": "setup.py line 7 computes install_requires with a function call (`get_requirements()`)",
    "env_condition": "setup.py line 6 computes install_requires with a condition "
    "(`if os.environ.get('USE_FLASH_ATTN')`)",
    "platform_condition": "setup.py line 6 computes extras_require with a condition "
    "(`if platform.system() == 'Linux'`)",
    "torch_version": "setup.py line 6 computes install_requires with an f-string",
    "outside_file": "setup.py line 3 computes install_requires with a file outside the project",
    "missing_file": "setup.py line 3 computes install_requires with a file that does not exist "
    "(requirements.txt)",
    "subprocess_call": "setup.py line 5 computes install_requires with a function call "
    "(`subprocess.check_output(['cat', 'reqs.txt'])`)",
    "while_loop": "setup.py line 5 computes install_requires with a `while` statement",
    "conditional_setup": "setup.py line 5 calls setup() under a condition (`if sys.version_info >= (3, 8)`)",
    "no_setup": "setup.py: no setup() call found",
    "editable_req": "requirements.txt line 2: an editable requirement",
    "syntax_error": "setup.py line 2: not valid Python",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_static_reading_cannot_follow_is_refused_with_the_line(case: str) -> None:
    with pytest.raises(UsageError) as e:
        from_setup_py(CASES / "refuse" / case / "setup.py")
    msg = e.value.message
    assert msg.startswith(REFUSED[case]), msg
    assert "\n" not in msg
    if case != "syntax_error":
        assert msg.endswith("pass --from a built wheel, or --set REQ for each requirement")


# ------------------------------------------------------------------------------------------- pyproject


def test_pyproject_static() -> None:
    m = from_pyproject(CASES / "pyproject_static" / "pyproject.toml")
    assert (m.name, m.version, m.requires_python, m.dynamic) == ("static-proj", "1.0.0", ">=3.10", ())
    assert list(m.requires_dist) == [
        "torch==2.6.0",
        "transformers>=4.51",
        'vllm==0.8.5.post1; extra == "vllm"',
        'flash-attn; platform_system == "Linux" and extra == "flash-attn"',
    ]
    assert m.provides_extras == ("vllm", "flash-attn")


def test_pyproject_setuptools_dynamic_files_are_read() -> None:
    m = from_tree(CASES / "pyproject_setuptools_dynamic")
    assert (m.name, m.version, m.dynamic) == ("dyn-proj", "0.3.1", ())
    assert list(m.requires_dist) == ["ray>=2.40", 'vllm>=0.8; extra == "vllm"']


def test_pyproject_dynamic_fields_are_reported(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "d"\ndynamic = ["version", "dependencies"]\n[tool.hatch.version]\npath = "x.py"\n'
    )
    m = from_pyproject(tmp_path / "pyproject.toml")
    assert m.dynamic == ("version", "dependencies") and m.requires_dist == () and len(m.notes) == 2
    with pytest.raises(UsageError, match=r"the requirements are dynamic .* no setup\.py"):
        from_tree(tmp_path)


def test_pyproject_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "d"\nversion = "1"\ndependencies = ["torch ==="]\n'
    )
    with pytest.raises(UsageError, match=r"pyproject.toml project.dependencies\[0\]: 'torch ===' is not a"):
        from_pyproject(tmp_path / "pyproject.toml")
    (tmp_path / "pyproject.toml").write_text("[tool.x]\n")
    with pytest.raises(UsageError, match="no \\[project\\] table"):
        from_pyproject(tmp_path / "pyproject.toml")


def test_tree_prefers_pyproject_and_falls_back_to_setup_py(tmp_path: Path) -> None:
    assert from_tree(CASES / "pyproject_static").source == "pyproject.toml"
    assert from_tree(CASES / "literal").source == "setup.py"
    with pytest.raises(UsageError, match=r"no pyproject\.toml"):
        from_tree(tmp_path)


def test_static_metadata_round_trips() -> None:
    m = from_setup_py(CASES / "literal" / "setup.py")
    assert StaticMetadata.from_dict(m.to_dict()) == m


# ------------------------------------------------------------------------------------------- wheels, PyPI


def test_from_local_wheel(tmp_path: Path) -> None:
    w = make_wheel(
        tmp_path,
        "openrlhf",
        "0.8.11",
        requires=["transformers==4.56.1"],
        extras={"vllm_latest": ["vllm>0.10.2"]},
        requires_python=">=3.10",
    )
    m = from_wheel(w)
    assert (m.name, m.version, m.requires_python, m.source) == ("openrlhf", "0.8.11", ">=3.10", "wheel")
    assert m.requires_dist == ("transformers==4.56.1", 'vllm>0.10.2; extra == "vllm-latest"')
    assert m.provides_extras == ("vllm-latest",)
    (tmp_path / "bad.whl").write_bytes(b"nope")
    with pytest.raises(UsageError, match="not a readable wheel"):
        from_wheel(tmp_path / "bad.whl")


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    try:
        yield s
    finally:
        s.stop()


def test_from_wheel_url_and_from_pypi_offline(server: IndexServer, tmp_path: Path) -> None:
    w = make_wheel(
        tmp_path,
        "verl",
        "0.5.0",
        requires=["ray>=2.41"],
        extras={"sglang": ["torch==2.6.0"]},
        tag="py2.py3-none-any",
    )
    server.add("verl", w)
    with PyPIClient(server.url, timeout=5, retries=0) as client:
        m = from_pypi("verl", "0.5.0", client=client)
        assert m.requires_dist == ("ray>=2.41", 'torch==2.6.0; extra == "sglang"') and m.source == "pypi"
        url = server.url.removesuffix("/simple") + f"/files/verl/{w.name}"
        assert from_wheel(url, client=client).requires_dist == m.requires_dist
        with pytest.raises(UsageError, match=r"verl 9\.9 is not on"):
            from_pypi("verl", "9.9", client=client)
    assert any("bytes=-" in r for _, r in server.ranges)  # the URL was read with range requests


# ------------------------------------------------------------------------------------------- network


def _sdist_tree(client: PyPIClient, name: str, version: str, dest: Path) -> Path:
    from packaging.version import Version

    files = client.project(name).releases()[Version(version)]
    sdist = next(f for f in files if f.filename.endswith(".tar.gz"))
    data = client._http.get(sdist.url).content
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        tf.extractall(dest, filter="data")
    return dest / f"{name}-{version}"


@pytest.mark.network
def test_verl_0_5_0_real_setup_py_matches_its_own_egg_info(tmp_path: Path) -> None:
    """verl 0.5.0's sdist from PyPI: the static reading of its setup.py (+ pyproject.toml) equals what
    setuptools itself wrote into the sdist's egg-info when the sdist was built."""
    with PyPIClient(timeout=60) as client:
        tree = _sdist_tree(client, "verl", "0.5.0", tmp_path)
    m = from_tree(tree)
    assert (m.name, m.version, m.requires_python) == ("verl", "0.5.0", ">=3.10")
    want, extras = requires_txt_to_dist((tree / "verl.egg-info" / "requires.txt").read_text())
    assert norm(m.requires_dist) == norm(want)
    assert sorted(m.provides_extras) == sorted(extras)
    assert 'torch==2.6.0; extra == "sglang"' in m.requires_dist


@pytest.mark.network
def test_openrlhf_0_8_11_from_pypi() -> None:
    """OpenRLHF ships wheels only: its metadata comes from the wheel, read with range requests."""
    m = from_pypi("openrlhf", "0.8.11")
    assert "transformers==4.56.1" in m.requires_dist and m.version == "0.8.11"
    assert 'vllm==0.10.2; extra == "vllm"' in m.requires_dist
