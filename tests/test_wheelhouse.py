"""``llmenv wheelhouse`` and ``init --wheelhouse``: the real uv locks against local indexes (a PEP 691 server on
127.0.0.1 standing in for PyPI, flat folders standing in for the PyTorch index), the wheelhouse holds exactly the
wheels the target needs, and a fresh uv cache with every index gone installs from it offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
from packaging.utils import canonicalize_name

from llmenv.lockfile import LockedFile, Pylock, parse_pylock
from llmenv.wheelhouse import WheelTarget, fill, select, target_from_project

from .pypi_server import IndexServer
from .wheelfactory import make_wheel

PY = "3.11"
X86 = "cp311-cp311-manylinux_2_28_x86_64"
ARM = "cp311-cp311-manylinux_2_28_aarch64"


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


@pytest.fixture
def server() -> Iterator[IndexServer]:
    s = IndexServer().start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def indexes(tmp_path: Path, server: IndexServer) -> dict[str, Path]:
    """torch 2.6.0+cpu for x86_64 and aarch64 (a flat folder), and on the "PyPI" server: filelock 3.0 and 3.1,
    typing-extensions, and arm-helper (needed on aarch64 only)."""
    torch = tmp_path / "whl" / "cpu"
    reqs = ["filelock", "typing-extensions>=4", "arm-helper; platform_machine == 'aarch64'"]
    make_wheel(torch, "torch", "2.6.0+cpu", tag=X86, requires=reqs)
    make_wheel(torch, "torch", "2.6.0+cpu", tag=ARM, requires=reqs)
    files = tmp_path / "pypi-files"
    for name, version in (("filelock", "3.0"), ("filelock", "3.1"), ("typing-extensions", "4.12.2")):
        server.add(name, make_wheel(files, name, version))
    server.add("arm-helper", make_wheel(files, "arm-helper", "1.0"))
    return {"torch-root": tmp_path / "whl", "files": files}


def _init(run_cli, cwd: Path, *extra: str, server: IndexServer, torch_root: Path):  # type: ignore[no-untyped-def]
    return run_cli(
        "init",
        "./proj",
        "torch==2.6.0",
        "--cuda",
        "cpu",
        "--python",
        PY,
        "--torch-index",
        f"{torch_root}/{{variant}}",
        "--mirror",
        server.url,
        *extra,
        cwd=cwd,
    )


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.whl")}


def _installed(venv: Path) -> dict[str, str]:
    out = {}
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        meta = (info / "METADATA").read_text()
        name = next(line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Name: "))
        version = next(line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Version: "))
        out[canonicalize_name(name)] = version
    return out


def test_wheelhouse_holds_exactly_the_targets_wheels_and_offline_nodes_install_from_it(
    run_cli, tmp_path: Path, server: IndexServer, indexes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # The project's own environments admit every Linux, so the lock is wider than the planned target.
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\n\n[tool.uv]\nenvironments = ["sys_platform == \'linux\'"]\n'
    )
    r = _init(run_cli, tmp_path, server=server, torch_root=indexes["torch-root"])
    assert r.code == 0, r.err
    r = run_cli("lock", "--project", "proj", cwd=tmp_path)
    assert r.code == 0, r.err
    lock_text = (proj / "uv.lock").read_text()
    assert "arm-helper" in lock_text and "aarch64" in lock_text  # the lock is universal (linux)

    wh = tmp_path / "wheelhouse"
    r = run_cli("wheelhouse", "--project", "proj", str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    # Exactly what linux x86_64 / Python 3.11 installs: no aarch64 torch, no arm-helper, no older filelock.
    assert _names(wh) == {
        f"torch-2.6.0+cpu-{X86}.whl",
        "filelock-3.1-py3-none-any.whl",
        "typing_extensions-4.12.2-py3-none-any.whl",
    }
    # Every file is the one the lock hashed.
    export = subprocess.run(
        [_uv(), "export", "--frozen", "--format", "pylock.toml", "--quiet"],
        cwd=proj,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    hashes = {
        f.filename: f.sha256 for p in parse_pylock(export, base=proj).packages for f in p.wheels if f.sha256
    }
    for w in wh.glob("*.whl"):
        assert hashlib.sha256(w.read_bytes()).hexdigest() == hashes[w.name]
    # A second run downloads nothing.
    r = run_cli("wheelhouse", "--project", "proj", str(wh), "--json", cwd=tmp_path)
    assert r.code == 0, r.err
    assert '"downloaded": []' in r.out and '"copied": []' in r.out

    # Point the project at it; the planned torch source moves to the wheelhouse; the lock covers the target only.
    r = run_cli("init", "./proj", "--wheelhouse", str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()
    uv_conf = doc["tool"]["uv"]
    assert uv_conf["index"][0] == {"name": "wheelhouse", "url": f"{wh}/simple"}  # the hashed index
    assert uv_conf["sources"]["torch"] == {"index": "wheelhouse"}
    assert uv_conf["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    assert doc["tool"]["llmenv"]["wheelhouse"] == str(wh)
    # Re-running init changes nothing (the recorded wheelhouse is kept).
    before = (proj / "pyproject.toml").read_bytes()
    r = run_cli("init", "./proj", cwd=tmp_path)
    assert r.code == 0, r.err
    assert (proj / "pyproject.toml").read_bytes() == before
    # --no-wheelhouse puts the project back as it was planned; --wheelhouse again gives the same bytes.
    r = run_cli("init", "./proj", "--no-wheelhouse", cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((proj / "pyproject.toml").read_text()).unwrap()
    assert "wheelhouse" not in doc["tool"]["llmenv"]
    assert [i["name"] for i in doc["tool"]["uv"]["index"]] == ["pypi-mirror", "pytorch-cpu"]
    assert doc["tool"]["uv"]["sources"]["torch"] == {"index": "pytorch-cpu"}
    assert doc["tool"]["uv"]["environments"] == ["sys_platform == 'linux'"]
    r = run_cli("init", "./proj", "--wheelhouse", str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    assert (proj / "pyproject.toml").read_bytes() == before

    # The compute node: no index reachable, an empty uv cache.
    server.stop()
    shutil.rmtree(indexes["torch-root"])
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "node-cache"))
    r = run_cli("lock", "--project", "proj", "--", "--offline", cwd=tmp_path)
    assert r.code == 0, r.err
    assert str(indexes["files"]) not in (proj / "uv.lock").read_text()
    p = subprocess.run(
        [_uv(), "sync", "--frozen", "--offline", "--python", PY, "--no-build"],
        cwd=proj,
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert _installed(proj / ".venv") == {"torch": "2.6.0+cpu", "filelock": "3.1", "typing-extensions": "4.12.2"}



def test_a_plain_project_syncs_offline_with_no_index_and_the_wheelhouse_as_find_links(
    run_cli, tmp_path: Path, server: IndexServer, indexes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """No [tool.uv.sources]: `uv sync --offline --no-index --find-links WHEELHOUSE` works as is."""
    proj = tmp_path / "plain"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "plain"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["filelock", "typing-extensions"]\n\n'
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
        "required-environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n\n"
        f'[[tool.uv.index]]\nname = "mirror"\nurl = "{server.url}"\ndefault = true\n'
    )
    subprocess.run([_uv(), "lock", "--python", PY, "--quiet"], cwd=proj, check=True)
    wh = tmp_path / "wh"
    r = run_cli("wheelhouse", "--project", "plain", "--python", PY, str(wh), cwd=tmp_path)
    assert r.code == 0, r.err
    assert _names(wh) == {"filelock-3.1-py3-none-any.whl", "typing_extensions-4.12.2-py3-none-any.whl"}
    server.stop()
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "node-cache"))
    p = subprocess.run(
        [_uv(), "sync", "--offline", "--no-index", "--find-links", str(wh), "--python", PY],
        cwd=proj,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "node-cache")},
    )
    assert p.returncode == 0, p.stderr
    assert _installed(proj / ".venv") == {"filelock": "3.1", "typing-extensions": "4.12.2"}


def test_url_wheel_sdist_build_from_uv_cache_and_add(
    run_cli, tmp_path: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A prebuilt flash-attn from a URL (its release asset name), and a package locked only as an sdist: missing
    (exit 1) without a built wheel, taken from uv's cache once uv has built it, or given with --add."""
    files = tmp_path / "files"
    fa = make_wheel(
        files,
        "flash-attn",
        "2.7.4.post1",
        tag="cp311-cp311-linux_x86_64",
        filename="flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl",
    )
    server.add("flash-attn", fa)
    server.add("compiled", _sdist_with_inline_backend(files, "compiled", "0.5"))
    url = f"{server.url.removesuffix('/simple')}/files/flash-attn/{fa.name.replace('+', '%2B')}"
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["flash-attn", "compiled"]\n\n'
        "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\"]\n"
        "required-environments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n\n"
        f'[tool.uv.sources]\nflash-attn = {{ url = "{url}" }}\n\n'
        f'[[tool.uv.index]]\nname = "mirror"\nurl = "{server.url}"\ndefault = true\n'
    )
    cache = tmp_path / "cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    subprocess.run([_uv(), "lock", "--python", PY, "--quiet"], cwd=proj, check=True)
    wh = tmp_path / "wh"
    r = run_cli("wheelhouse", "--project", "p", "--python", PY, str(wh), "--no-uv-cache", cwd=tmp_path)
    assert r.code == 1
    assert "MISSING compiled 0.5: locked as a source distribution" in r.out
    assert _names(wh) == {fa.name}  # the rest is filled anyway
    assert hashlib.sha256((wh / fa.name).read_bytes()).digest() == hashlib.sha256(fa.read_bytes()).digest()

    # uv built it once, into its cache (to read its metadata while locking; `uv sync` would too): taken from there.
    r = run_cli("wheelhouse", "--project", "p", "--python", PY, str(wh), cwd=tmp_path)
    assert r.code == 0, r.out + r.err
    assert "compiled 0.5: compiled-0.5-py3-none-any.whl (from uv-cache" in r.out
    assert _names(wh) == {fa.name, "compiled-0.5-py3-none-any.whl"}

    # Or a wheel given with --add (here: one built elsewhere), which --no-uv-cache makes the only source.
    built = make_wheel(tmp_path / "built", "compiled", "0.5", tag="cp311-cp311-linux_x86_64")
    wh2 = tmp_path / "wh2"
    r = run_cli(
        "wheelhouse", "--project", "p", "--python", PY, str(wh2), "--add", str(built), "--no-uv-cache", cwd=tmp_path
    )
    assert r.code == 0, r.out + r.err
    assert _names(wh2) == {fa.name, built.name}
    # --add of something the lock does not need, or at another version, is bad input.
    other = make_wheel(tmp_path / "built", "compiled", "0.6")
    r = run_cli("wheelhouse", "--project", "p", "--python", PY, str(wh2), "--add", str(other), cwd=tmp_path)
    assert r.code == 2 and "the lock has compiled 0.5, not 0.6" in r.err
    r = run_cli("wheelhouse", "--project", "p", "--python", PY, str(wh2), "--add", str(fa.parent / "nope.whl"), cwd=tmp_path)
    assert r.code == 2 and "no such file" in r.err


_BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "{name}", "{version}"


def _line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{path}},sha256={{digest}},{{len(data)}}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    di = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}.py": b"BUILT = True\\n",
        f"{{di}}/METADATA": f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode(),
        f"{{di}}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }}
    record = [_line(p, d) for p, d in files.items()] + [f"{{di}}/RECORD,,"]
    files[f"{{di}}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
    return filename
"""


def _sdist_with_inline_backend(folder: Path, name: str, version: str) -> Path:
    """An sdist whose PEP 517 backend is in the tree (no setuptools needed): builds offline, like a CUDA
    extension compiled once, into uv's cache."""
    import io
    import tarfile

    base = f"{name}-{version}"
    members = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        f"{base}/backend.py": _BACKEND.format(name=name, version=version),
    }
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{base}.tar.gz"
    with tarfile.open(out, "w:gz") as t:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return out


# ---------------------------------------------------------------------------------------------- pure parts


def _lock(*packages: dict) -> Pylock:  # type: ignore[type-arg]
    import json

    lines = ['lock-version = "1.0"', 'created-by = "test"']
    for p in packages:
        lines.append("[[packages]]")
        for k, v in p.items():
            raw = isinstance(v, str) and v.startswith(("[", "{"))  # TOML written out
            lines.append(f"{k} = {v if raw else json.dumps(v)}")
    return parse_pylock("\n".join(lines) + "\n", base=Path("/"))


def test_select_ranks_tags_like_an_installer_and_honours_glibc() -> None:
    wheels = (
        "[{ url = 'https://x/n-1.0-cp311-cp311-manylinux_2_34_x86_64.whl', hashes = { sha256 = 'a' } },"
        " { url = 'https://x/n-1.0-cp311-abi3-manylinux_2_17_x86_64.whl', hashes = { sha256 = 'b' } },"
        " { url = 'https://x/n-1.0-py3-none-any.whl', hashes = { sha256 = 'c' } }]"
    )
    lock = _lock({"name": "n", "version": "1.0", "wheels": wheels})
    any_glibc = WheelTarget(os="linux", arch="x86_64", python="3.11")
    assert [p.filename for p in select(lock, any_glibc).picks] == ["n-1.0-cp311-cp311-manylinux_2_34_x86_64.whl"]
    old = WheelTarget(os="linux", arch="x86_64", python="3.11", glibc="2.28")
    assert [p.filename for p in select(lock, old).picks] == ["n-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"]
    mac = WheelTarget(os="darwin", arch="arm64", python="3.11")
    assert [p.filename for p in select(lock, mac).picks] == ["n-1.0-py3-none-any.whl"]


def test_select_follows_markers_and_reports_local_trees() -> None:
    lock = _lock(
        {"name": "a", "version": "1", "marker": "platform_machine == 'aarch64'",
         "wheels": "[{ url = 'https://x/a-1-py3-none-any.whl' }]"},
        {"name": "b", "version": "1", "marker": "python_version >= '3.12'",
         "wheels": "[{ url = 'https://x/b-1-py3-none-any.whl' }]"},
        {"name": "verl", "directory": "{ path = 'verl', editable = true }"},
    )
    s = select(lock, WheelTarget(os="linux", arch="x86_64", python="3.11"))
    assert s.picks == () and s.missing == () and s.local == (("verl", "verl"),)


def test_fill_rejects_a_file_whose_hash_differs(tmp_path: Path) -> None:
    from llmenv.errors import NoAnswer
    from llmenv.wheelhouse import Pick, Selection

    w = make_wheel(tmp_path / "src", "n", "1.0")
    bad = Pick(name="n", version="1.0", filename=w.name, source="lock", file=LockedFile(url=w.as_uri(), sha256="0" * 64))
    with pytest.raises(NoAnswer, match="does not match the lock"):
        fill(Selection(picks=(bad,), missing=(), local=()), tmp_path / "wh")
    assert not list((tmp_path / "wh").iterdir())  # no partial file left


def test_target_from_required_environments_or_the_llmenv_record(tmp_path: Path) -> None:
    from llmenv.errors import UsageError

    doc = {"tool": {"uv": {"required-environments": ["sys_platform == 'linux' and platform_machine == 'aarch64'"]}},
           "project": {"requires-python": ">=3.10"}}
    t, where = target_from_project(doc, tmp_path)
    assert (t.os, t.arch, t.python, where) == ("linux", "aarch64", "3.10", "[tool.uv] required-environments")
    doc2 = {"tool": {"llmenv": {"target": {"os": "linux", "arch": "x86_64", "python": "3.12"}}}}
    assert target_from_project(doc2, tmp_path)[0].python == "3.12"
    with pytest.raises(UsageError, match="cannot tell the target platform"):
        target_from_project({"tool": {"uv": {"required-environments": ["sys_platform == 'linux'"]}}}, tmp_path)


def test_init_wheelhouse_points_the_planned_flash_attn_and_torch_sources_at_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The planned prebuilt flash-attn (one GitHub URL per Python) and torch (the PyTorch index) both come from the
    wheelhouse once it holds them; what it does not hold keeps its planned source."""
    wh = tmp_path / "wh"
    make_wheel(wh, "torch", "2.6.0+cu124", tag="cp312-cp312-manylinux_2_28_x86_64")
    make_wheel(
        wh, "flash-attn", "2.7.4.post1", tag="cp312-cp312-linux_x86_64",
        filename="flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl",
    )
    args = ("init", ".", "torch", "torchvision", "flash-attn", "--driver", "550.54.14", "--gpu", "8.0", "--python", "3.12")
    r = run_cli(*args, cwd=tmp_path)
    assert r.code == 0, r.err
    planned = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()["tool"]["uv"]["sources"]
    assert all("url" in e for e in planned["flash-attn"])
    r = run_cli(*args, "--wheelhouse", "wh", cwd=tmp_path)
    assert r.code == 2 and "no hashed index" in r.err  # wheels put there by hand: no hashes to lock yet
    r = run_cli("wheelhouse", "--index-only", "wh", cwd=tmp_path)
    assert r.code == 0, r.err
    r = run_cli(*args, "--wheelhouse", "wh", cwd=tmp_path)
    assert r.code == 0, r.err
    doc = tomlkit.parse((tmp_path / "pyproject.toml").read_text()).unwrap()
    sources = doc["tool"]["uv"]["sources"]
    assert sources["flash-attn"] == {"index": "wheelhouse"} and sources["torch"] == {"index": "wheelhouse"}
    assert sources["torchvision"] == planned["torchvision"]  # not in the wheelhouse: as planned
    # Inside the project folder, the wheelhouse is written relative to it.
    assert doc["tool"]["uv"]["index"][0] == {"name": "wheelhouse", "url": "./wh/simple"}
    assert doc["tool"]["llmenv"]["wheelhouse"] == "./wh"
    # An empty or missing folder is bad input, and nothing is written.
    before = (tmp_path / "pyproject.toml").read_bytes()
    (tmp_path / "empty").mkdir()
    r = run_cli(*args, "--wheelhouse", "empty", cwd=tmp_path)
    assert r.code == 2 and "no hashed index" in r.err
    assert run_cli("wheelhouse", "--index-only", "empty", cwd=tmp_path).code == 0
    r = run_cli(*args, "--wheelhouse", "empty", cwd=tmp_path)
    assert r.code == 2 and "no wheels there" in r.err
    r = run_cli(*args, "--wheelhouse", "nowhere", cwd=tmp_path)
    assert r.code == 2 and "no such folder" in r.err
    assert (tmp_path / "pyproject.toml").read_bytes() == before
