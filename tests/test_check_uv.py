"""The new check rules against the real uv: for each, the bad fixture (a real project or a copy derived from one)
makes `uv lock` (or `uv sync`) fail the way the rule says, and the fixed copy — the rule silent — locks.

Offline: uv resolves against loopback stub indexes (tests/check_index.py: stub files named and tagged as the
captured PyPI pages, URL wheels served under their own file names). One network test locks against PyPI.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
from packaging.markers import Marker

from llmenv.check import Catalog, check_text
from llmenv.knowledge.pins import load_pins

from .check_index import catalog, lock, said, serve_wheel, stub_index
from .pypi_server import IndexServer
from .wheelfactory import make_wheel

FIXTURES = Path(__file__).parent / "fixtures" / "check"
NO_USER_PINS = Path("/nonexistent")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def codes(text: str, cat: Catalog | None = None) -> dict[str, str]:
    """code -> severity of every finding (the worst one per code)."""
    report = check_text(text, catalog=cat or catalog(pins=load_pins(NO_USER_PINS)))
    out: dict[str, str] = {}
    for f in reversed(report.findings):
        out[f.code] = f.severity
    return out


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    yield s
    s.stop()


def serve_urls(text: str, server: IndexServer, tmp: Path, **kw: object) -> str:
    """Every ``@ https://...whl`` of ``text`` served from loopback as a stub wheel of the same file name."""

    def swap(m: re.Match[str]) -> str:
        from packaging.utils import parse_wheel_filename

        url = m.group(1)
        name, version, _, _ = parse_wheel_filename(url.rsplit("/", 1)[-1].replace("%2B", "+"))
        return "@ " + serve_wheel(server, tmp, str(name), str(version), url, **kw)  # type: ignore[arg-type]

    return re.sub(r"@ (https://\S+?\.whl)", swap, text)


# ---- conflicting-urls / url-version-mismatch (unslothai/unsloth) ------------------------------------------------


def test_conflicting_urls_fail_the_lock_and_declared_alternatives_lock(
    tmp_path: Path, server: IndexServer
) -> None:
    bad, good = fixture("conflicting-urls.bad.toml"), fixture("conflicting-urls.good.toml")
    assert codes(bad)["conflicting-urls"] == "error"
    assert "conflicting-urls" not in codes(good)
    out = lock(write(tmp_path / "bad", serve_urls(bad, server, tmp_path)), None)
    assert out.returncode != 0
    assert "Requirements contain conflicting URLs for package `xformers`" in said(out)
    out = lock(write(tmp_path / "good", serve_urls(good, server, tmp_path)), None)
    assert out.returncode == 0, out.stderr


def test_url_wheel_next_to_an_excluding_pin_fails_the_lock(tmp_path: Path, server: IndexServer) -> None:
    bad, good = fixture("url-version-mismatch.bad.toml"), fixture("url-version-mismatch.good.toml")
    assert codes(bad)["url-version-mismatch"] == "error"
    assert "url-version-mismatch" not in codes(good)
    server.add(
        "bitsandbytes",
        make_wheel(tmp_path / "idx", "bitsandbytes", "0.45.5", tag="py3-none-manylinux_2_24_x86_64"),
    )
    out = lock(write(tmp_path / "bad", serve_urls(bad, server, tmp_path)), server.url)
    assert out.returncode != 0
    assert "only bitsandbytes{" in said(out) and "==1.33.7rc0 is available" in said(out)
    assert "depends on bitsandbytes==0.45.5" in said(out)
    out = lock(write(tmp_path / "good", serve_urls(good, server, tmp_path)), server.url)
    assert out.returncode == 0, out.stderr


def test_a_url_source_silently_replaces_the_pinned_version(tmp_path: Path, server: IndexServer) -> None:
    """uv locks the URL's version and drops the pin without a word: check calls it an error."""
    url = "https://download.pytorch.org/whl/cu121/xformers-0.0.28-cp312-cp312-manylinux_2_28_x86_64.whl"
    text = (
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.12,<3.13"\n'
        'dependencies = ["xformers==0.0.29"]\n\n[tool.uv.sources]\n'
        f'xformers = {{ url = "{url}" }}\n'
    )
    assert codes(text)["url-version-mismatch"] == "error"
    served = serve_wheel(server, tmp_path, "xformers", "0.0.28", url)
    folder = write(tmp_path / "p", text.replace(url, served))
    assert lock(folder, None).returncode == 0
    assert 'name = "xformers"\nversion = "0.0.28"' in (folder / "uv.lock").read_text(encoding="utf-8")


# ---- requires-python-below-package / python-without-wheels (hkust-nlp/simpleRL-reason) -------------------------


@pytest.fixture
def pypi_stubs(tmp_path: Path) -> Iterator[IndexServer]:
    s = stub_index(tmp_path, {"ray", "math-verify"})
    yield s
    s.stop()


def test_requires_python_below_a_package_fails_the_lock(tmp_path: Path, pypi_stubs: IndexServer) -> None:
    bad, good = (
        fixture("requires-python-below-package.bad.toml"),
        fixture("requires-python-below-package.good.toml"),
    )
    found = codes(bad)
    assert found["requires-python-below-package"] == "error" and found["python-without-wheels"] == "warning"
    out = lock(write(tmp_path / "bad", bad), pypi_stubs.url, python="3.10")
    assert out.returncode != 0
    assert "the requested Python version (>=3.8) does not satisfy Python>=3.10" in said(out)
    assert "math-verify" in said(out)
    found = codes(good)
    assert "requires-python-below-package" not in found and "python-without-wheels" not in found
    out = lock(write(tmp_path / "good", good), pypi_stubs.url, python="3.10")
    assert out.returncode == 0, out.stderr


def test_python_without_wheels_locks_but_cannot_install(tmp_path: Path, pypi_stubs: IndexServer) -> None:
    """The floor fixed, no cap: uv locks, and `uv sync` on Python 3.12 stops at ray 2.10.0."""
    text = fixture("python-without-wheels.bad.toml").replace('">=3.8"', '">=3.10"')
    found = codes(text)
    assert found["python-without-wheels"] == "warning" and "requires-python-below-package" not in found
    folder = write(tmp_path / "p", text)
    assert lock(folder, pypi_stubs.url, python="3.10").returncode == 0
    sync = _uv(folder, "sync", "--dry-run", "--default-index", pypi_stubs.url, python="3.12")
    assert sync.returncode != 0
    assert "`ray==2.10.0" in said(sync) and "doesn't have a source distribution or wheel" in said(sync)


def test_with_environments_a_python_split_without_wheels_fails_the_lock(
    tmp_path: Path, pypi_stubs: IndexServer
) -> None:
    """The mechanism behind the environments fix: with `environments`, uv wants ray's wheel in the Python
    split a direct marker makes (numpy 2.5.5 needs 3.12, as on PyPI); the rule then says error, and its cap
    locks."""
    make = make_wheel(tmp_path / "np", "numpy", "2.5.5", requires_python=">=3.12")
    pypi_stubs.add("numpy", make, requires_python=">=3.12", pep658=True)
    text = (
        '[project]\nname = "verl"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["ray[default]==2.10.0", "numpy>=2.5 ; python_version >= \'3.12\'"]\n\n'
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
    )
    report = check_text(text, catalog=catalog(pins=load_pins(NO_USER_PINS)))
    (hit,) = [f for f in report.findings if f.code == "python-without-wheels"]
    assert hit.severity == "error" and "splits at Python 3.12" in hit.why
    out = lock(write(tmp_path / "bad", text), pypi_stubs.url, python="3.10")
    assert out.returncode != 0 and "python_full_version >= '3.12'" in said(out)
    fixed = text.replace('">=3.10"', '"' + _requires_python(hit.fix) + '"')
    assert "python-without-wheels" not in codes(fixed)
    assert lock(write(tmp_path / "good", fixed), pypi_stubs.url, python="3.10").returncode == 0


def _requires_python(fix: str) -> str:
    m = re.search(r'requires-python = "([^"]+)"', fix)
    assert m, fix
    return m.group(1)


def _uv(folder: Path, *args: str, python: str) -> subprocess.CompletedProcess[str]:
    import uv

    from .check_index import _python

    cmd = [uv.find_uv_bin(), *args, "--python", _python(python), "--no-python-downloads"]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def test_offline_the_snapshot_answers_or_check_says_not_checked() -> None:
    """No network and no captured page: math-verify is not in the pins snapshot, so nothing is guessed."""
    bundled = Catalog(pins=load_pins(NO_USER_PINS))
    report = check_text(fixture("requires-python-below-package.bad.toml"), catalog=bundled)
    assert "requires-python-below-package" not in report.codes()
    (info,) = [f for f in report.findings if f.code == "python-not-checked"]
    assert info.severity == "info" and "math-verify" in info.message and "--online" in info.fix


# ---- cuda-project-without-environments: the fix keeps the lock working (network) ---------------------------------


@pytest.mark.network
def test_environments_fix_with_cap_locks_where_the_bare_list_fails(tmp_path: Path) -> None:
    """simpleRL-reason's Python-deciding pins with its floor fixed: locks with no environments, fails with the
    bare environments list, locks with the fix check prints (which adds requires-python's cap)."""
    from llmenv.pypi import PyPIClient

    text = (
        '[project]\nname = "verl"\nversion = "0.1"\nrequires-python = ">=3.10"\ndependencies = [\n'
        '    "ray[default]==2.10.0",\n    "vllm==0.6.3",\n    "math-verify[antlr4_11_0]==0.6.0",\n]\n'
    )
    with PyPIClient() as client:
        report = check_text(text, catalog=Catalog(pins=load_pins(NO_USER_PINS), client=client))
    (hit,) = [f for f in report.findings if f.code == "cuda-project-without-environments"]
    bare = text + (
        "\n[tool.uv]\nenvironments = [\n    \"sys_platform == 'linux' and platform_machine == 'x86_64'\",\n"
        "    \"sys_platform == 'linux' and platform_machine == 'aarch64'\",\n]\n"
    )
    out = lock(write(tmp_path / "bare", bare), "https://pypi.org/simple", python="3.10")
    assert out.returncode != 0 and "ray[default]==2.10.0 has no" in said(out)
    fixed = _apply(text, hit.fix)
    assert 'requires-python = ">=3.10,<3.12"' in fixed
    out = lock(write(tmp_path / "fixed", fixed), "https://pypi.org/simple", python="3.10")
    assert out.returncode == 0, out.stderr


def _apply(text: str, fix: str) -> str:
    """Merge a fix that is a TOML snippet into the document."""
    doc = tomlkit.parse(text)
    for table, values in tomlkit.parse(fix).unwrap().items():
        for key, sub in values.items():
            if isinstance(sub, dict):
                for k, v in sub.items():
                    doc.setdefault(table, tomlkit.table()).setdefault(key, tomlkit.table())[k] = v
            else:
                doc.setdefault(table, tomlkit.table())[key] = sub
    return tomlkit.dumps(doc)


# ---- wrong-type / dynamic-field-also-static / deprecated-dev-dependencies ------------------------------------------


def test_a_string_for_dependencies_is_refused_by_uv(tmp_path: Path, server: IndexServer) -> None:
    bad, good = fixture("wrong-type.bad.toml"), fixture("wrong-type.good.toml")
    assert codes(bad)["wrong-type"] == "error" and "wrong-type" not in codes(good)
    out = lock(
        write(
            tmp_path / "bad",
            bad.replace("requires-python = 3.10\n", 'requires-python = ">=3.10"\n').replace(
                "environments = { linux = \"sys_platform == 'linux'\" }", ""
            ),
        ),
        server.url,
    )
    assert out.returncode != 0 and 'invalid type: string "torch", expected a sequence' in said(out)
    server.add("torch", make_wheel(tmp_path / "idx", "torch", "2.6.0"))
    assert lock(write(tmp_path / "good", good), server.url).returncode == 0


@pytest.mark.network
def test_a_field_both_static_and_dynamic_fails_the_build(tmp_path: Path) -> None:
    """setuptools (from PyPI) refuses the bad copy while uv builds the project for its metadata."""
    bad, good = fixture("dynamic-field-also-static.bad.toml"), fixture("dynamic-field-also-static.good.toml")
    assert codes(bad)["dynamic-field-also-static"] == "error" and "dynamic-field-also-static" not in codes(
        good
    )
    for name, text in (("bad", bad), ("good", good)):
        folder = write(tmp_path / name, text)
        (folder / "demo").mkdir()
        (folder / "demo" / "__init__.py").write_text("", encoding="utf-8")
        (folder / "requirements.txt").write_text("packaging\n", encoding="utf-8")
    out = lock(tmp_path / "bad", "https://pypi.org/simple", python="3.11")
    assert out.returncode != 0
    assert (
        "You cannot provide a value for `project.dependencies` and list it under `project.dynamic`"
        in said(out)
    )
    out = lock(tmp_path / "good", "https://pypi.org/simple", python="3.11")
    assert out.returncode == 0, out.stderr


def test_dev_dependencies_warn_and_the_group_locks_the_same(tmp_path: Path, server: IndexServer) -> None:
    bad, good = (
        fixture("deprecated-dev-dependencies.bad.toml"),
        fixture("deprecated-dev-dependencies.good.toml"),
    )
    assert codes(bad)["deprecated-dev-dependencies"] == "warning"
    assert "deprecated-dev-dependencies" not in codes(good)
    for name in ("numpy", "loguru", "ruff", "pre-commit", "pytest", "faker", "ipykernel", "ipywidgets"):
        server.add(name, make_wheel(tmp_path / "idx", name, "99.0"))
    out = lock(write(tmp_path / "bad", bad), server.url)
    assert (
        out.returncode == 0 and "`tool.uv.dev-dependencies` field" in said(out) and "deprecated" in said(out)
    )
    out = lock(write(tmp_path / "good", good), server.url)
    assert out.returncode == 0 and "deprecated" not in said(out)
    groups = [
        tomlkit.parse((tmp_path / n / "uv.lock").read_text(encoding="utf-8"))["package"][-1].get(
            "dev-dependencies"
        )
        for n in ("bad", "good")
    ]
    assert groups[0] == groups[1] and groups[0] is not None


# ---- torch-family-variants-differ / gpu-platform-routed-to-cpu ----------------------------------------------------


def _flat(text: str, root: Path) -> str:
    """The fixture's download.pytorch.org indexes as local flat folders of the same variant name."""
    return re.sub(
        r'url = "https://download.pytorch.org/whl/(\w+)"',
        lambda m: f'url = "{(root / m.group(1)).as_posix()}"\nformat = "flat"',
        text,
    )


def test_torch_and_torchvision_from_two_variants_lock_silently_mixed(
    tmp_path: Path, server: IndexServer
) -> None:
    root = tmp_path / "whl"
    for v in ("cu124", "cu118"):
        make_wheel(root / v, "torch", f"2.5.1+{v}")
        make_wheel(root / v, "torchvision", f"0.20.1+{v}", requires=["torch==2.5.1"])
    bad, good = (
        fixture("torch-family-variants-differ.bad.toml"),
        fixture("torch-family-variants-differ.good.toml"),
    )
    assert codes(bad)["torch-family-variants-differ"] == "error"  # CUDA 12 torch, CUDA 11 torchvision
    assert "torch-family-variants-differ" not in codes(good)
    for name, text in (("bad", bad), ("good", good)):
        folder = write(tmp_path / name, _flat(text, root))
        out = lock(folder, server.url)  # an empty default index: the flat ones serve torch
        assert out.returncode == 0, out.stderr
    locked = (tmp_path / "bad" / "uv.lock").read_text(encoding="utf-8")
    assert 'version = "2.5.1+cu124"' in locked and 'version = "0.20.1+cu118"' in locked
    assert "+cu118" not in (tmp_path / "good" / "uv.lock").read_text(encoding="utf-8")


def test_llmenv_init_output_gives_linux_aarch64_cpu_torch(
    tmp_path: Path, torch_indexes: Path, server: IndexServer
) -> None:
    bad, good = (
        fixture("gpu-platform-routed-to-cpu.bad.toml"),
        fixture("gpu-platform-routed-to-cpu.good.toml"),
    )
    assert codes(bad)["gpu-platform-routed-to-cpu"] == "warning"
    assert "gpu-platform-routed-to-cpu" not in codes(good)
    for name, text in (("bad", bad), ("good", good)):
        out = lock(write(tmp_path / name, _flat(text, torch_indexes)), server.url)
        assert out.returncode == 0, out.stderr
    locked = tomlkit.parse((tmp_path / "bad" / "uv.lock").read_text(encoding="utf-8")).unwrap()
    cpu = [p for p in locked["package"] if p["name"] == "torch" and p["version"] == "2.6.0+cpu"]
    gh200 = {"sys_platform": "linux", "platform_machine": "aarch64"}
    assert cpu and any(Marker(m).evaluate(gh200) for m in cpu[0]["resolution-markers"])
    assert "2.6.0+cpu" not in (tmp_path / "good" / "uv.lock").read_text(encoding="utf-8")
