"""One test (or a few) per rule, each on a small log of the message's general shape, with packages and versions
other than the fixtures', plus the table and docs contracts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomlkit

from llmenv.explain import KINDS, explain, rules
from llmenv.explain._parse import parse

DOCS = Path(__file__).resolve().parents[1] / "docs" / "explain.md"


def causes(rule: rules.Rule | str, text: str) -> list[rules.Cause]:
    fn = rule if isinstance(rule, rules.Rule) else next(r for r in rules.RULES if r.kind == rule)
    return fn.check(parse(text))


def one(kind: str, text: str) -> rules.Cause:
    found = causes(kind, text)
    assert len(found) == 1, found
    assert found[0].kind == kind
    return found[0]


UNRELATED = "Resolved 12 packages in 3ms\nInstalled 12 packages in 20ms\n + numpy==2.1.0\n"


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.kind)
def test_every_rule_is_silent_on_a_successful_log(rule: rules.Rule) -> None:
    assert rule.check(parse(UNRELATED)) == []


def test_kinds_are_unique_and_documented() -> None:
    assert len(set(KINDS)) == len(KINDS)
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert documented == set(KINDS)


def test_each_rule_is_a_small_function() -> None:
    import inspect

    for r in rules.RULES:
        assert r.check.__doc__, r.kind
        assert len(inspect.getsource(r.check).splitlines()) < 130, r.kind


# --- resolution -----------------------------------------------------------------------------------------


def test_pin_conflict_engine_pin_old_tree_layout() -> None:
    c = one(
        "pin-conflict",
        """\
  × No solution found when resolving dependencies:
  ╰─▶ Because sglang==0.4.6.post5 depends on torch==2.6.0 and you require torch==2.7.1, we can conclude that
      sglang==0.4.6.post5 cannot be used.
      And because you require sglang==0.4.6.post5, we can conclude that your requirements are unsatisfiable.
""",
    )
    assert c.packages[0] == "torch" and "sglang" in c.packages
    assert "torch==2.6.0" in c.summary and "torch==2.7.1" in c.summary
    assert any(f.edit.startswith("uv pip install") and "torch==2.6.0" in f.edit for f in c.fixes)


def test_pin_conflict_framework_pin_gets_an_override() -> None:
    c = one(
        "pin-conflict",
        """\
ERROR: Cannot install openrlhf==0.8.5 and ray==2.43.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested ray==2.43.0
    openrlhf 0.8.5 depends on ray==2.48.0

To fix this you could try to:
""",
    )
    assert c.packages[0] == "ray"
    assert any(f.edit == 'llmenv override openrlhf==0.8.5 --set "ray==2.43.0"' for f in c.fixes)


def test_pin_conflict_binary_pin_is_never_overridden() -> None:
    c = one(
        "pin-conflict",
        """\
error: No solution found when resolving dependencies
  cause: Because vllm==0.9.2 depends on torch==2.7.0 and your project depends on torch==2.8.0, we can conclude that your project and vllm==0.9.2 are incompatible.
""",
    )
    assert not any("override" in f.edit for f in c.fixes)
    assert c.fixes[0].edit == 'uv add "torch==2.7.0"'


def test_extra_conflict_names_the_extras_and_declares_them() -> None:
    c = one(
        "extra-conflict",
        """\
  × No solution found when resolving dependencies:
  ╰─▶ Because myapp[cu118] depends on torch==2.6.0+cu118 and myapp[cu126] depends on torch==2.7.0+cu126, we
      can conclude that myapp[cu118] and myapp[cu126] are incompatible.
      And because your project requires myapp[cu118] and myapp[cu126], we can conclude that your project's
      requirements are unsatisfiable.
""",
    )
    doc = tomlkit.parse(c.fixes[0].edit)
    assert doc["tool"]["uv"]["conflicts"] == [[{"extra": "cu118"}, {"extra": "cu126"}]]  # type: ignore[index]


def test_extra_conflict_between_groups() -> None:
    c = one(
        "extra-conflict",
        """\
error: No solution found when resolving dependencies
  cause: Because app:lint depends on numpy<2 and app:test depends on numpy>=2, we can conclude that app:lint and app:test are incompatible.
         And because your project requires app:lint and app:test, we can conclude that your project's requirements are unsatisfiable.
""",
    )
    doc = tomlkit.parse(c.fixes[0].edit)
    assert doc["tool"]["uv"]["conflicts"] == [[{"group": "lint"}, {"group": "test"}]]  # type: ignore[index]


def test_workspace_extras_suggests_a_path_source() -> None:
    c = one(
        "workspace-extras",
        """\
  × No solution found when resolving dependencies for split (markers: sys_platform == 'linux'):
  ╰─▶ Because openrlhf[vllm] depends on vllm==0.8.5.post1 and vllm==0.8.5.post1 depends on torch==2.6.0, we can
      conclude that openrlhf[vllm] depends on torch==2.6.0.
      And because trainer depends on torch==2.7.1, we can conclude that openrlhf[vllm] and trainer are incompatible.
      And because your workspace requires openrlhf[vllm] and trainer, we can conclude that your workspace's
      requirements are unsatisfiable.
""",
    )
    assert c.packages[0] == "openrlhf"
    src = tomlkit.parse(c.fixes[0].edit)["tool"]["uv"]["sources"]["openrlhf"]  # type: ignore[index]
    assert src == {"path": "./openrlhf", "editable": True}


def test_workspace_extras_not_claimed_for_plain_projects() -> None:
    assert (
        causes(
            "workspace-extras",
            "  cause: Because a[x] depends on b==1 and your project depends on b==2, we can conclude that a[x] and your project are incompatible.",
        )
        == []
    )


def test_prerelease_from_hint() -> None:
    c = one(
        "prerelease",
        """\
  × No solution found when resolving dependencies:
  ╰─▶ Because only transformers<=4.57.1 is available and you require transformers>=5.0.0rc1, we can conclude that your requirements are unsatisfiable.

      hint: `transformers` was requested with a pre-release marker (e.g., transformers>=5.0.0rc1), but pre-releases weren't enabled (try: `--prerelease=allow`)
""",
    )
    assert c.packages == ("transformers",)
    assert tomlkit.parse(c.fixes[0].edit)["tool"]["uv"]["prerelease"] == "allow"  # type: ignore[index]


def test_local_version_routes_to_the_variant_index() -> None:
    c = one(
        "local-version",
        "  cause: Because there is no version of torchvision==0.21.0+cu124 and your project depends on torchvision==0.21.0+cu124, we can conclude that your project's requirements are unsatisfiable.",
    )
    doc = tomlkit.parse(c.fixes[0].edit)
    assert doc["tool"]["uv"]["index"][0]["url"] == "https://download.pytorch.org/whl/cu124"  # type: ignore[index]
    assert doc["tool"]["uv"]["sources"]["torchvision"] == [{"index": "pytorch-cu124"}]  # type: ignore[index]


def test_local_version_unknown_variant_uses_knowledge() -> None:
    c = one("local-version", "ERROR: No matching distribution found for torch==2.6.0+cu121")
    assert any("cu118, cu124, cu126" in f.title for f in c.fixes)


def test_python_version_requires_python_hint() -> None:
    c = one(
        "python-version",
        """\
  × No solution found when resolving dependencies for split (python_full_version < '3.10'):
  ╰─▶ Because the requested Python version (>=3.9) does not satisfy Python>=3.10 and vllm==0.11.0 depends on Python>=3.10, we can conclude that vllm==0.11.0 cannot be used.
      And because your project depends on vllm==0.11.0, we can conclude that your project's requirements are unsatisfiable.

      hint: The `requires-python` value (>=3.9) includes Python versions that are not supported by your dependencies (e.g., vllm==0.11.0 only supports >=3.10). Consider using a more restrictive `requires-python` value (like >=3.10).
""",
    )
    assert tomlkit.parse(c.fixes[0].edit)["project"]["requires-python"] == ">=3.10"  # type: ignore[index]


def test_python_version_current_interpreter_pip() -> None:
    c = one(
        "python-version", "ERROR: Package 'vllm' requires a different Python: 3.8.10 not in '>=3.9,<3.13'"
    )
    assert any(f.edit == "uv python pin 3.12" for f in c.fixes)


def test_no_wheel_for_platform_uv_hint_marker() -> None:
    c = one(
        "no-wheel-for-platform",
        """\
error: Distribution `flash-attn==2.8.3 @ registry+https://pypi.org/simple` can't be installed because it doesn't have a source distribution or wheel for the current platform

hint: You're on macOS (`macosx_14_0_arm64`), but `flash-attn` (v2.8.3) only has wheels for the following platform: `linux_x86_64`; consider adding "sys_platform == 'darwin' and platform_machine == 'arm64'" to `tool.uv.required-environments` to ensure uv resolves to a version with compatible wheels
""",
    )
    assert "macosx_14_0_arm64" in c.summary
    doc = tomlkit.parse(c.fixes[0].edit)
    assert doc["tool"]["uv"]["required-environments"] == [
        "sys_platform == 'darwin' and platform_machine == 'arm64'"
    ]  # type: ignore[index]


def test_no_wheel_for_platform_pip_wheel_tag() -> None:
    one(
        "no-wheel-for-platform",
        "ERROR: flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl is not a supported wheel on this platform.",
    )


def test_index_first_index_strategy() -> None:
    c = one(
        "index",
        """\
  × No solution found when resolving dependencies:
  ╰─▶ Because only requests<=2.28.1 is available and you require requests>=2.32, we can conclude that your requirements are unsatisfiable.

      hint: `requests` was found on https://download.pytorch.org/whl/cu128, but not at the requested version (requests>=2.32). A compatible version may be available on a subsequent index (e.g., https://pypi.org/simple). By default, uv will only consider versions that are published on the first index that contains a given package, to avoid dependency confusion attacks. If all indexes are equally trusted, use `--index-strategy unsafe-best-match` to consider all versions from all indexes, regardless of the order in which they were defined.
""",
    )
    doc = tomlkit.parse(c.fixes[0].edit)
    assert doc["tool"]["uv"]["index"][0]["explicit"] is True  # type: ignore[index]


def test_index_not_found_in_registry() -> None:
    c = one(
        "index",
        "  cause: Because sgl-kernel-nightly was not found in the package registry and your project depends on sgl-kernel-nightly, we can conclude that your project's requirements are unsatisfiable.",
    )
    assert c.packages == ("sgl-kernel-nightly",)


def test_lockfile_locked() -> None:
    c = one(
        "lockfile",
        "error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided. To update the lockfile, run `uv lock`.",
    )
    assert c.fixes[0].edit == "uv lock"


def test_uv_version_required_version() -> None:
    c = one("uv-version", "error: Required uv version `>=0.9.0` does not match the running version `0.7.2`")
    assert "0.7.2" in c.summary and c.fixes[0].edit == "uv self update"


def test_config_typo_suggests_the_key() -> None:
    c = one(
        "config",
        """\
warning: Failed to parse `pyproject.toml` during settings discovery:
  TOML parse error at line 12, column 1
  unknown field `enviroments`, expected one of `required-version`, `index`, `environments`, `required-environments`, `conflicts`
""",
    )
    assert "`environments`" in c.fixes[0].title
    assert causes("uv-version", c.chain[0]) == []


def test_no_static_metadata() -> None:
    c = one(
        "no-static-metadata",
        """\
  × Failed to download and build `deepspeed==0.17.5`
  ╰─▶ Extra build requirement `torch` was declared with `match-runtime = true`, but `deepspeed` does not declare static metadata, making runtime-matching impossible
""",
    )
    meta = tomlkit.parse(c.fixes[0].edit)["tool"]["uv"]["dependency-metadata"][0]  # type: ignore[index]
    assert meta["name"] == "deepspeed" and meta["version"] == "0.17.5"


# --- builds -------------------------------------------------------------------------------------------


def test_build_needs_torch_pip() -> None:
    c = one(
        "build-needs-torch",
        """\
Collecting causal-conv1d
  Using cached causal_conv1d-1.5.0.post8.tar.gz (9.6 kB)
  Installing build dependencies ... done
  Getting requirements to build wheel ... error
  error: subprocess-exited-with-error

  × Getting requirements to build wheel did not run successfully.
  │ exit code: 1
  ╰─> [17 lines of output]
      Traceback (most recent call last):
        File "<string>", line 22, in <module>
      ModuleNotFoundError: No module named 'torch'
      [end of output]
""",
    )
    assert c.packages == ("causal-conv1d", "torch")
    assert tomlkit.parse(c.fixes[0].edit)["tool"]["uv"]["extra-build-dependencies"]["causal-conv1d"] == [
        "torch"
    ]  # type: ignore[index]


def test_build_missing_dependency_maps_module_to_distribution() -> None:
    c = one(
        "build-missing-dependency",
        """\
error: Failed to build `pycocotools==2.0.7`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)
         ModuleNotFoundError: No module named 'yaml'
""",
    )
    assert "pyyaml" in c.packages


def test_build_missing_cuda_suggests_a_floor_for_an_ancient_sdist() -> None:
    c = one(
        "build-missing-cuda",
        """\
error: Failed to build `vllm==0.2.1`
  cause: The build backend returned an error
         OSError: CUDA_HOME environment variable is not set. Please set it to your CUDA install root.
""",
    )
    assert '"vllm>=0.6.0"' in c.fixes[0].edit


def test_build_cuda_mismatch_picks_torch_of_the_same_major() -> None:
    c = one(
        "build-cuda-mismatch",
        """\
      RuntimeError:
      The detected CUDA version (11.8) mismatches the version that was used to compile
      PyTorch (12.4). Please make sure to use the same CUDA versions.
""",
    )
    assert "cu118" in c.fixes[0].title


def test_build_toolchain_unsupported_arch() -> None:
    c = one(
        "build-toolchain",
        """\
error: Failed to build `flash-attn==2.8.3`
  nvcc fatal   : Unsupported gpu architecture 'compute_120'
""",
    )
    assert "compute_120" in c.summary
    assert "FLASH_ATTN_CUDA_ARCHS" in c.fixes[0].edit


def test_build_oom_sets_max_jobs() -> None:
    c = one(
        "build-oom",
        """\
  × Failed to build `flash-attn==2.8.3`
      [12/73] /usr/local/cuda/bin/nvcc -c flash_bwd_hdim128_bf16_sm80.cu
      c++: fatal error: Killed signal terminated program cc1plus
      compilation terminated.
      ninja: build stopped: subcommand failed.
""",
    )
    assert (
        tomlkit.parse(c.fixes[0].edit)["tool"]["uv"]["extra-build-variables"]["flash-attn"]["MAX_JOBS"] == "2"
    )  # type: ignore[index]


def test_build_oom_ignores_cuda_out_of_memory() -> None:
    assert causes("build-oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB") == []


# --- run time -------------------------------------------------------------------------------------------


def test_abi_mismatch_old_string_abi() -> None:
    c = one(
        "abi-mismatch",
        "ImportError: /venv/lib/python3.11/site-packages/flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs",
    )
    assert c.packages[0] == "flash-attn"
    assert "cxx11abiTRUE" in c.fixes[0].title


def test_abi_mismatch_vllm_extension() -> None:
    c = one(
        "abi-mismatch",
        "ImportError: /opt/venv/lib/python3.12/site-packages/vllm/_C.abi3.so: undefined symbol: _ZN2at4_ops5zeros4callEN3c108ArrayRefINS2_6SymIntEEE",
    )
    assert c.packages[0] == "vllm"


def test_driver_too_old_uses_knowledge() -> None:
    c = one(
        "driver-too-old", "RuntimeError: The NVIDIA driver on your system is too old (found version 12020)."
    )
    assert "CUDA up to 12.2" in c.summary
    assert "torch 2.7.1 (cu118)" in c.fixes[0].title  # the newest torch with a CUDA <= 12.2 build
    assert c.fixes[1].edit == "llmenv plan torch --cuda 12.2"


def test_gpu_arch_uses_knowledge() -> None:
    c = one(
        "gpu-arch",
        "NVIDIA H100 80GB HBM3 with CUDA capability sm_90 is not compatible with the current PyTorch installation.",
    )
    assert "torch 2.0.0 (cu118)" in c.fixes[0].title


def test_network() -> None:
    c = one(
        "network",
        "error: Failed to fetch: `https://download.pytorch.org/whl/cu124/torch/`\n  Caused by: error sending request for url (https://download.pytorch.org/whl/cu124/torch/)\n  Caused by: operation timed out",
    )
    assert "download.pytorch.org" in c.summary


# --- explain() as a whole -----------------------------------------------------------------------------


def test_a_more_specific_cause_claims_the_derivation() -> None:
    d = explain("""\
  cause: Because a[x] depends on torch==2.6.0 and a[y] depends on torch==2.7.0, we can conclude that a[x] and a[y] are incompatible.
         And because your project requires a[x] and a[y], we can conclude that your project's requirements are unsatisfiable.
""")
    assert d.kinds == ("extra-conflict",)


def test_two_independent_causes_are_both_reported() -> None:
    d = explain("""\
warning: Failed to parse `pyproject.toml` during settings discovery:
  unknown field `extra-build-dependencies`, expected one of `required-version`, `index`
error: Failed to build `flash-attn==2.8.3`
  cause: The build backend returned an error
         ModuleNotFoundError: No module named 'torch'
""")
    assert d.kinds == ("uv-version", "build-needs-torch")


def test_unknown_shows_the_lines_that_matter() -> None:
    d = explain(
        "step 1\nstep 2\nerror: something nobody has seen before happened\n  Caused by: the flux capacitor\n"
    )
    assert d.unknown and not d.causes
    assert d.lines == ("error: something nobody has seen before happened", "Caused by: the flux capacitor")


def test_no_failure() -> None:
    d = explain(UNRELATED)
    assert d.unknown and not d.failed


# --- shapes found by the held-out evaluation (docs/explain-eval.md), on logs of other packages --------------


def test_pip_conflict_names_the_pins_that_clash_not_the_first_listed() -> None:
    c = one("pin-conflict", """\
ERROR: Cannot install foo==1.0 and torch==2.5.1 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested torch==2.5.1
    peft 0.13.0 depends on torch>=1.13.0
    bar 0.3 depends on torch
    foo 1.0 depends on torch==2.7.0
""")
    assert c.summary == "foo==1.0 requires torch==2.7.0, but you require torch==2.5.1"
    assert c.packages == ("torch", "foo")


def test_installed_conflicts_put_the_torch_pin_first() -> None:
    c = one("pin-conflict", """\
ERROR: pip's dependency resolver does not currently take into account all the packages that are installed.
sglang 0.5.0 requires pillow>=11.0, but you have pillow 10.4.0 which is incompatible.
sglang 0.5.0 requires torch==2.8.0, but you have torch 2.7.1 which is incompatible.
""")
    assert c.packages == ("torch", "sglang")


def test_an_upper_bound_uv_derived_is_not_a_prerelease_request() -> None:
    log = """\
  × No solution found when resolving dependencies:
  ╰─▶ Because only the following versions of scipy are available:
          scipy<1.13.1
          scipy>1.14.dev0
      and you require scipy>=1.13.1,<1.14.dev0, we can conclude that your requirements are unsatisfiable.

      hint: `scipy` was requested with a pre-release marker (e.g., scipy>=1.13.1,<1.14.dev0), but
      pre-releases weren't enabled (try: `--prerelease=allow`)

      hint: `scipy` was found on https://download.pytorch.org/whl/cu126, but not at the requested version (scipy>=1.13.1,<1.14.dev0). A compatible version may be available on a subsequent index (e.g., https://pypi.org/simple). By default, uv will only consider versions that are published on the first index that contains a given package, to avoid dependency confusion attacks.
"""
    assert causes("prerelease", log) == []
    assert explain(log).kinds[0] == "index"


def test_deepspeed_style_cuda_home_assertion_is_a_missing_toolkit() -> None:
    c = one("build-missing-cuda", """\
Collecting fused-ops==0.4.2
  Using cached fused_ops-0.4.2.tar.gz (88 kB)
  Preparing metadata (setup.py) ... error
  error: subprocess-exited-with-error
      op_builder.builder.MissingCUDAException: CUDA_HOME does not exist, unable to compile CUDA op(s)
""")
    assert c.packages == ("fused-ops",)
    assert "fused-ops==0.4.2" in c.summary


def test_a_missing_cudnn_header_is_named() -> None:
    c = one("build-missing-cuda", """\
      /tmp/pip-install-ab12cd/fast-kernels_0123456789abcdef0123456789abcdef/csrc/conv.cu:3:10: fatal error: cudnn.h: No such file or directory
      compilation terminated.
""")
    assert c.packages == ("fast-kernels",)
    assert c.summary == "building fast-kernels cannot find the CUDA header cudnn.h"


def test_a_setup_py_cuda_version_check_is_a_mismatch() -> None:
    c = one("build-cuda-mismatch", """\
    Running setup.py install for fusedlayer ... error
    RuntimeError: Cuda extensions are being compiled with a version of Cuda that does not match the version used to compile Pytorch binaries.  Pytorch binaries were compiled with Cuda 12.1.
""")
    assert c.packages == ("fusedlayer", "torch")
    assert "(12.1)" in c.summary


def test_an_unnamed_build_gets_no_made_up_package() -> None:
    c = one("build-oom", "      c++ -O3 -c kernels/foo.cpp -o build/foo.o\nKilled\n")
    assert c.packages == ()
    assert "the package" not in c.summary


def test_a_known_extension_module_names_the_build() -> None:
    c = one("build-oom", "nvcc -O3 -DTORCH_EXTENSION_NAME=selective_scan_cuda -c scan.cu\nKilled\n")
    assert c.packages == ("mamba-ssm",)


def test_an_unreachable_index_comes_before_the_version_it_hid() -> None:
    d = explain("""\
Looking in indexes: https://pypi.org/simple, https://download.pytorch.org/whl/cu121
WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<HTTPSConnection object>: Failed to establish a new connection: [Errno -2] Name or service not known')': /whl/cu121/torchvision/
ERROR: Could not find a version that satisfies the requirement torchvision==0.19.1+cu121 (from versions: 0.19.0, 0.19.1)
ERROR: No matching distribution found for torchvision==0.19.1+cu121
""")
    assert d.kinds == ("network", "local-version")


def test_a_transient_retry_does_not_hide_the_real_cause() -> None:
    d = explain("""\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ReadTimeoutError("HTTPSConnectionPool(host='pypi.org', port=443): Read timed out. (read timeout=15)")': /simple/torch/
ERROR: Could not find a version that satisfies the requirement torch==2.4.1+cu118 (from versions: 2.4.0, 2.4.1)
ERROR: No matching distribution found for torch==2.4.1+cu118
""")
    assert d.kinds[0] == "local-version"


def test_pip_version_list_reveals_the_python() -> None:
    c = one("python-version", """\
ERROR: Could not find a version that satisfies the requirement torch==2.4.1 (from versions: 2.5.0, 2.5.1, 2.6.0)
ERROR: No matching distribution found for torch==2.4.1
""")
    assert c.packages == ("torch",)
    assert "Python 3.13" in c.reason  # 2.5.0 is the first torch with CPython 3.13 wheels


def test_pip_names_an_end_of_life_python() -> None:
    c = one("python-version", """\
DEPRECATION: Python 2.7 reached the end of its life on January 1st, 2020. Please upgrade your Python as Python 2.7 is no longer maintained.
ERROR: Could not find a version that satisfies the requirement torch==1.4.0 (from versions: 0.1.2, 0.1.2.post1, 0.1.2.post2)
ERROR: No matching distribution found for torch==1.4.0
""")
    assert "(2.7)" in c.summary


def test_a_cpu_build_is_not_claimed_missing() -> None:
    c = one("local-version", """\
  × No solution found when resolving dependencies:
  ╰─▶ Because there is no version of torch==2.7.1+cpu and your project depends on torch==2.7.1+cpu, we can conclude that your project's requirements are unsatisfiable.
""")
    assert not any("has no cpu build" in f.title for f in c.fixes)
    assert "pytorch-cpu" in c.fixes[0].edit


def test_required_version_older_than_the_running_uv() -> None:
    c = one("uv-version", "error: Required uv version `==0.8.2` does not match the running version `0.9.1`. "
                          "Update `uv` by running `uv self update 0.8.2`.\n")
    assert "required-version = \">=0.8.2\"" in c.fixes[0].edit
    assert c.fixes[1].edit == "uv self update 0.8.2"


def test_an_extension_reporting_the_torch_it_was_built_for() -> None:
    c = one("abi-mismatch", """\
WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:
    PyTorch 2.7.0+cu126 with CUDA 1206 (you have 2.8.0+cu128)
    Python  3.12.9 (you have 3.12.9)
""")
    assert c.packages == ("xformers", "torch")
    assert c.summary == "xformers was built for torch 2.7.0+cu126, but torch 2.8.0+cu128 is installed"


def test_a_url_wheel_for_another_platform() -> None:
    c = one("no-wheel-for-platform", """\
error: Failed to determine installation plan
  Caused by: A URL dependency is incompatible with the current platform: https://example.org/wheels/causal_conv1d-1.5.2%2Bcu12torch2.7-cp311-cp311-linux_x86_64.whl

hint: The wheel is compatible with Linux (`linux_x86_64`), but you're on macOS (`macosx_14_0_arm64`)
""")
    assert c.packages == ("causal-conv1d",)
    assert c.summary == "the causal-conv1d wheel is built for linux_x86_64, and this machine is macosx_14_0_arm64"


def test_pip_names_the_package_of_an_unsupported_wheel() -> None:
    c = one("no-wheel-for-platform",
            "ERROR: xformers-0.0.28-cp39-cp39-win_amd64.whl is not a supported wheel on this platform.\n")
    assert c.packages == ("xformers",)


def test_a_bare_driver_error_does_not_name_torch() -> None:
    c = one("driver-too-old", "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version\n")
    assert c.packages == ()
    assert "torch" not in c.summary
