"""Each doctor finding, from probe outputs built as data (tests/doctor_probes.py)."""

from __future__ import annotations

from typing import Any

import pytest

from llmenv.doctor.findings import Finding, Report, diagnose
from llmenv.knowledge import load

from .doctor_probes import NVCC_13_0, flash_attn, h200

KB = load()


def findings(probe: dict[str, Any], **kw: Any) -> dict[str, Finding]:
    report = diagnose(probe, kb=KB, **kw)
    by_check = {f.check: f for f in report.findings}
    assert len(by_check) == len(report.findings), "one finding per check"
    return by_check


def one(probe: dict[str, Any], check: str, **kw: Any) -> Finding:
    return findings(probe, **kw)[check]


def text(f: Finding) -> str:
    return " | ".join([f.summary, *f.evidence, f.fix or ""])


# ------------------------------------------------------------------------------------------ the whole report


def test_h200_environment_is_all_ok() -> None:
    report = diagnose(h200(), kb=KB)
    assert [f.check for f in report.findings] == [
        "python",
        "torch",
        "torch.cuda",
        "torch.arch",
        "driver",
        "nvcc",
        "nccl",
        "glibc",
    ]
    assert {f.status for f in report.findings} == {"ok"}, [f for f in report.findings if f.status != "ok"]
    assert report.to_dict()["ok"] == 8 and not report.failed
    assert one(h200(), "torch.arch").summary == "torch has SASS for every GPU (sm_90)"


def test_report_round_trips_through_json_dict() -> None:
    report = diagnose(h200(), kb=KB)
    assert Report.from_dict(report.to_dict()) == report


def test_a_probe_that_failed_is_a_failing_finding() -> None:
    report = diagnose({"probe": 1, "error": "RuntimeError: boom"}, kb=KB, python="/x/python")
    assert [(f.check, f.status) for f in report.findings] == [("probe", "fail")]
    assert "RuntimeError: boom" in report.findings[0].evidence[0]


def test_finding_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        Finding(check="x", status="error", summary="s")


# ------------------------------------------------------------------------------------------ python


def test_python_binary_built_for_another_python_fails() -> None:
    p = h200()
    p["binaries"].append(
        {"name": "regex", "version": "2024.1", "tags": ["cp311-cp311-manylinux_2_17_x86_64"]}
    )
    p["binaries"].append(
        {"name": "tokenizers", "version": "0.23", "tags": ["cp39-abi3-manylinux_2_17_x86_64"]}
    )
    p["binaries"].append({"name": "ruff", "version": "0.6", "tags": ["py3-none-manylinux_2_17_x86_64"]})
    f = one(p, "python")
    assert f.status == "fail"
    assert "regex 2024.1 (built for cp311)" in f.evidence
    assert not any("tokenizers" in e or "ruff" in e for e in f.evidence)  # abi3 and py3-none are fine


def test_python_that_torch_publishes_no_wheels_for_warns() -> None:
    p = h200()
    p["python"]["version"] = "3.9.18"
    p["binaries"] = []
    f = one(p, "python")
    assert f.status == "warn" and "3.9" in f.summary and "torch 2.11.0" in f.summary


def test_python_version_unreadable_fails() -> None:
    p = h200()
    p["python"] = {"error": "RuntimeError: x"}
    assert one(p, "python").status == "fail"


# ------------------------------------------------------------------------------------------ torch


def test_torch_ok_reports_version_cuda_and_abi() -> None:
    f = one(h200(), "torch")
    assert f.summary == "torch 2.11.0+cu130 (CUDA 13.0, C++11 ABI TRUE)"
    assert "torch._C._GLIBCXX_USE_CXX11_ABI = True" in f.evidence


def test_torch_absent_is_a_warning_and_dependent_checks_are_skipped() -> None:
    p = h200()
    p["torch"] = {"installed": False}
    fs = findings(p)
    assert fs["torch"].status == "warn"
    assert not {"torch.cuda", "torch.arch", "nccl"} & set(fs)
    assert fs["driver"].status == "ok"  # a driver and no torch: nothing to compare


def test_torch_that_cannot_be_imported_fails_and_names_the_missing_library() -> None:
    p = h200()
    p["torch"] = {
        "installed": True,
        "dist_version": "2.11.0+cu130",
        "import_error": "ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory",
    }
    f = one(p, "torch")
    assert f.status == "fail"
    assert "libcudnn.so.9 is missing" in (f.fix or "")
    assert "installed distribution: torch 2.11.0+cu130" in f.evidence


# ------------------------------------------------------------------------------------------ torch.cuda


def test_cpu_torch_on_a_gpu_machine_fails() -> None:
    p = h200()
    p["torch"].update(
        cuda=None, arch_list=[], cuda_available=False, devices=[], nccl=None, version="2.11.0+cpu"
    )
    f = one(p, "torch.cuda")
    assert f.status == "fail" and "CPU-only build" in f.summary
    assert "torch.arch" not in findings(p)


def test_cpu_torch_without_gpu_is_ok() -> None:
    p = h200()
    p["driver"] = {
        "files": {},
        "nvml": {"error": "x"},
        "libcuda": {"error": "OSError: no libcuda", "gpus": []},
    }
    p["torch"].update(cuda=None, arch_list=[], cuda_available=False, devices=[], nccl=None)
    assert one(p, "torch.cuda").status == "ok"
    assert one(p, "driver").summary == "no NVIDIA driver (nothing to check)"


def test_cuda_unavailable_with_a_driver_fails_with_torchs_warning() -> None:
    p = h200()
    warning = "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040)."
    p["torch"].update(cuda_available=False, devices=[], cuda_warnings=[warning])
    f = one(p, "torch.cuda")
    assert f.status == "fail"
    assert f"warning: {warning}" in f.evidence


def test_cuda_torch_without_any_gpu_warns() -> None:
    p = h200()
    p["driver"] = {"files": {}, "nvml": {"error": "x"}, "libcuda": {"error": "x", "gpus": []}}
    p["torch"].update(cuda_available=False, devices=[])
    assert one(p, "torch.cuda").status == "warn"
    assert one(p, "driver").status == "warn"
    assert "no GPU here" in one(p, "torch.arch").summary


# ------------------------------------------------------------------------------------------ torch.arch


def _with_gpu(p: dict[str, Any], name: str, cc: tuple[int, int]) -> dict[str, Any]:
    p["driver"]["libcuda"]["gpus"] = [{"name": name, "capability": list(cc), "memory_mib": 1}]
    return p


def test_gpu_with_no_sass_and_no_ptx_fails() -> None:
    p = _with_gpu(h200(), "Tesla V100-SXM2-32GB", (7, 0))  # cu130 builds dropped Volta
    f = one(p, "torch.arch")
    assert f.status == "fail"
    assert "no SASS for sm_70" in text(f)
    assert "llmenv plan --gpu 7.0 torch" in (f.fix or "")


def test_sass_of_an_older_minor_of_the_same_major_covers() -> None:
    p = _with_gpu(h200(), "NVIDIA L40S", (8, 9))
    f = one(p, "torch.arch")
    assert f.status == "ok" and "SASS sm_80, sm_86" in text(f)


def test_gpu_covered_only_by_ptx_warns() -> None:
    p = _with_gpu(h200(), "NVIDIA B200", (10, 0))
    p["torch"]["arch_list"] = ["sm_80", "sm_90", "compute_90"]
    f = one(p, "torch.arch")
    assert f.status == "warn" and "PTX JIT" in f.summary


def test_arch_specific_sass_runs_only_on_its_own_gpu() -> None:
    p = h200()
    p["torch"]["arch_list"] = ["sm_90a"]
    assert one(p, "torch.arch").status == "ok"
    p = _with_gpu(p, "NVIDIA B200", (10, 0))
    assert one(p, "torch.arch").status == "fail"


def test_every_gpu_is_checked() -> None:
    p = h200()
    p["driver"]["libcuda"]["gpus"] = [
        {"name": "NVIDIA H200", "capability": [9, 0], "memory_mib": 1},
        {"name": "Tesla T4", "capability": [7, 5], "memory_mib": 1},
        {"name": "Tesla P100", "capability": [6, 0], "memory_mib": 1},
    ]
    f = one(p, "torch.arch")
    assert f.status == "fail" and "cc 6.0" in f.summary and "cc 7.5" not in f.summary


def test_gpus_fall_back_to_torch_then_nvidia_smi() -> None:
    p = h200()
    p["driver"]["libcuda"] = {"error": "cuInit returned 999", "gpus": []}
    assert "GPUs (torch.cuda): NVIDIA H200 (cc 9.0)" in one(p, "torch.cuda").evidence
    p["torch"]["devices"] = []
    p["driver"]["nvidia_smi_query"] = "NVIDIA H200, 580.159.04, 9.0, 143771 MiB\n"
    assert "GPUs (nvidia-smi): NVIDIA H200 (cc 9.0)" in one(p, "torch.cuda").evidence


# ------------------------------------------------------------------------------------------ driver


def test_driver_too_old_for_torchs_cuda_major_fails() -> None:
    p = h200()
    p["driver"]["nvml"] = {"version": "575.51.03"}
    p["driver"]["libcuda"]["cuda_driver_version"] = 12090
    f = one(p, "driver")
    assert f.status == "fail"
    assert f.summary.startswith("driver 575.51.03 supports CUDA 12.9, but torch was built with CUDA 13.0")
    assert ">= 580.65.06" in (f.fix or "")


def test_newer_minor_runs_through_minor_version_compatibility_with_a_warning() -> None:
    p = h200()
    p["driver"]["nvml"] = {"version": "550.54.14"}
    p["driver"]["libcuda"]["cuda_driver_version"] = 12040
    p["torch"].update(version="2.8.0+cu128", cuda="12.8")
    f = one(p, "driver")
    assert f.status == "warn" and "minor-version compatibility" in f.summary
    assert "needs driver >= 525.60.13" in text(f)
    assert "570.26" in (f.fix or "")


def test_driver_cuda_comes_from_the_table_without_libcuda() -> None:
    p = h200()
    p["driver"] = {
        "files": {
            "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  "
            "580.159.04  Thu Oct 30 2025\n"
        },
        "nvml": {"error": "x"},
        "libcuda": {"error": "x", "gpus": []},
    }
    f = one(p, "driver")
    assert f.status == "ok"
    assert "driver 580.159.04 (from /proc/driver/nvidia/version)" in f.evidence
    assert any("Table 3" in e for e in f.evidence)


# ------------------------------------------------------------------------------------------ nvcc


def _nvcc(p: dict[str, Any], release: str, patch: str) -> dict[str, Any]:
    p["toolkit"]["nvcc_version_text"] = NVCC_13_0.replace("13.0, V13.0.88", f"{release}, V{release}.{patch}")
    return p


def test_nvcc_of_another_major_warns_and_fails_when_the_project_builds_from_source() -> None:
    p = _nvcc(h200(), "12.4", "131")
    assert one(p, "nvcc").status == "warn"
    f = one(p, "nvcc", builds_from_source=True)
    assert f.status == "fail" and "torch refuses to build extensions" in f.summary


def test_nvcc_of_another_minor_is_ok() -> None:
    f = one(_nvcc(h200(), "13.2", "51"), "nvcc", builds_from_source=True)
    assert f.status == "ok" and "share a major version" in f.summary


def test_no_nvcc_is_ok_unless_packages_build_from_source() -> None:
    p = h200()
    p["environ"].pop("CUDA_HOME")
    p["toolkit"].update(nvcc=None, nvcc_version_text=None, cuda_home=None, cuda_home_exists=False)
    assert one(p, "nvcc").status == "ok"
    assert one(p, "nvcc", builds_from_source=True).status == "fail"


def test_cuda_home_pointing_nowhere_warns() -> None:
    p = h200()
    p["environ"]["CUDA_HOME"] = "/opt/cuda-12.4"
    p["toolkit"].update(cuda_home="/opt/cuda-12.4", cuda_home_exists=False, nvcc=None, nvcc_version_text=None)
    f = one(p, "nvcc")
    assert f.status == "warn" and "/opt/cuda-12.4" in f.summary


# ------------------------------------------------------------------------------------------ nccl, glibc


def test_nccl() -> None:
    assert one(h200(), "nccl").summary == "NCCL 2.28.9"
    p = h200()
    p["torch"].update(nccl=None, nccl_error="RuntimeError: NCCL not available")
    assert one(p, "nccl").status == "warn"
    p = h200()
    p["binaries"].append(
        {"name": "nvidia-nccl-cu12", "version": "2.21.5", "tags": ["py3-none-manylinux2014_x86_64"]}
    )
    assert one(p, "nccl").status == "warn"


def test_wheel_needing_a_newer_glibc_fails() -> None:
    p = h200()
    p["binaries"].append({"name": "newpkg", "version": "1.0", "tags": ["cp312-cp312-manylinux_2_41_x86_64"]})
    f = one(p, "glibc")
    assert f.status == "fail"
    assert "newpkg 1.0 needs glibc >= 2.41 (manylinux_2_41 wheel)" in f.evidence


def test_glibc_requirement_is_the_oldest_tag_of_a_wheel() -> None:
    p = h200()
    p["platform"]["glibc"] = "2.28"
    p["binaries"] = [
        {
            "name": "a",
            "version": "1",
            "tags": ["cp312-cp312-manylinux2014_x86_64", "cp312-cp312-manylinux_2_34_x86_64"],
        }
    ]
    f = one(p, "glibc")
    assert f.status == "ok" and "a 1 needs glibc >= 2.17" in text(f)


def test_linux_tagged_wheel_is_judged_by_its_glibc_symbols() -> None:
    p = h200()
    fa = flash_attn()
    fa["libraries"][0]["glibc"] = "2.40"
    p["packages"]["flash-attn"] = fa
    p["binaries"].append({"name": "flash-attn", "version": "2.8.3", "tags": ["cp312-cp312-linux_x86_64"]})
    f = one(p, "glibc")
    assert f.status == "fail" and "GLIBC_2.40 symbols" in text(f)


def test_no_glibc_is_nothing_to_check() -> None:
    p = h200()
    p["platform"] = {"system": "Darwin", "machine": "arm64", "glibc": None}
    assert one(p, "glibc").status == "ok"


# ------------------------------------------------------------------------------------------ flash-attn

OLD_ABI_SYMBOL = "_ZN3c105ErrorC2ENS_14SourceLocationESs"
NEW_ABI_SYMBOL = "_ZN3c105ErrorC2ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"


def _load_error(message: str) -> dict[str, Any]:
    return {"module": "flash_attn_2_cuda", "file": "/site/x.so", "ok": False, "error": message}


def test_flash_attn_that_loads_and_covers_the_gpu_is_ok() -> None:
    p = h200()
    p["packages"]["flash-attn"] = flash_attn()
    fs = findings(p)
    assert fs["flash-attn"].status == "ok"
    assert fs["flash-attn.arch"].status == "ok" and "sm_90" in fs["flash-attn.arch"].summary


def test_flash_attn_built_with_the_old_abi_fails_with_the_explanation() -> None:
    p = h200()
    url = (
        "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
        "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl"
    )
    p["packages"]["flash-attn"] = flash_attn(
        version="2.7.4.post1",
        url=url,
        load=_load_error(f"ImportError: /site/x.so: undefined symbol: {OLD_ABI_SYMBOL}"),
    )
    f = one(p, "flash-attn")
    assert f.status == "fail"
    assert (
        "C++ ABI mismatch: it was compiled with _GLIBCXX_USE_CXX11_ABI=0, torch 2.11.0+cu130 with 1"
        in f.summary
    )
    assert any(
        e.startswith("built for torch 2.6, CUDA 12, cxx11abiFALSE (from the wheel it was installed from")
        for e in f.evidence
    )
    assert "torch 2.11, cu13, cxx11abiTRUE" in (f.fix or "")


def test_flash_attn_built_with_the_new_abi_for_an_old_abi_torch() -> None:
    p = h200()
    p["torch"].update(version="2.6.0+cu124", cuda="12.4", cxx11_abi=False)
    p["packages"]["flash-attn"] = flash_attn(
        version="2.7.4.post1+cu12torch2.6cxx11abiTRUE",
        load=_load_error(f"ImportError: undefined symbol: {NEW_ABI_SYMBOL}"),
    )
    f = one(p, "flash-attn")
    assert "compiled with _GLIBCXX_USE_CXX11_ABI=1, torch 2.6.0+cu124 with 0" in f.summary
    assert any("(from its version, 2.7.4.post1+cu12torch2.6cxx11abitrue)" in e for e in f.evidence)


def test_flash_attn_built_for_another_torch_release() -> None:
    p = h200()
    p["packages"]["flash-attn"] = flash_attn(
        version="2.8.3+cu13torch2.10cxx11abiTRUE",
        load=_load_error(
            "ImportError: undefined symbol: _ZN2at4_ops5zeros4callEN3c108ArrayRefINS2_6SymIntEEE"
        ),
    )
    f = one(p, "flash-attn")
    assert "built for torch 2.10, but torch 2.11 is installed" in f.summary


def test_flash_attn_for_cuda_12_on_a_cuda_13_torch() -> None:
    p = h200()
    p["packages"]["flash-attn"] = flash_attn(
        needed=("libc10.so", "libcudart.so.12"),
        load=_load_error(
            "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory"
        ),
    )
    f = one(p, "flash-attn")
    assert f.status == "fail"
    assert "built for CUDA 12, but torch uses CUDA 13.0" in f.summary
    assert "link the CUDA 12 runtime, torch uses CUDA 13.0" in f.summary


def test_flash_attn_arch_coverage() -> None:
    p = h200()
    p["packages"]["flash-attn"] = flash_attn(sass=("sm_80",))
    f = one(p, "flash-attn.arch")
    assert f.status == "fail" and "FLASH_ATTN_CUDA_ARCHS=90" in (f.fix or "")
    p["packages"]["flash-attn"] = flash_attn(sass=(), ptx=())
    assert one(p, "flash-attn.arch").summary == "flash-attn's extension contains no GPU code"
    p["packages"]["flash-attn"] = flash_attn(cuobjdump=False)
    f = one(p, "flash-attn.arch")
    assert f.status == "ok" and "unknown" in f.summary
    p = _with_gpu(p, "Tesla T4", (7, 5))
    assert one(p, "flash-attn.arch").status == "fail"


# ------------------------------------------------------------------------------------------ vllm and friends


def _vllm(requires: list[str], needed: tuple[str, ...] = ("libcudart.so.13",)) -> dict[str, Any]:
    return {
        "version": "0.12.0",
        "requires": requires,
        "tags": ["cp38-abi3-manylinux_2_31_x86_64"],
        "direct_url": None,
        "libraries": [{"file": "vllm/_C.abi3.so", "needed": list(needed), "glibc": "2.31"}],
        "load": {"module": "vllm._C", "file": "/site/vllm/_C.abi3.so", "ok": True},
    }


def test_vllm_whose_torch_pin_is_not_the_installed_torch_fails() -> None:
    p = h200()
    p["packages"]["vllm"] = _vllm(["torch==2.9.0", "xformers==0.0.32; platform_machine == 'aarch64'"])
    f = one(p, "vllm")
    assert f.status == "fail"
    assert "vllm 0.12.0 requires torch==2.9.0, but torch 2.11.0+cu130 is installed" in f.summary


def test_torch_pins_behind_markers_that_do_not_apply_are_ignored() -> None:
    p = h200()
    p["packages"]["vllm"] = _vllm(
        ["torch==2.9.0; platform_machine == 'aarch64'", "torch==2.11.0; extra == 'x'"]
    )
    assert one(p, "vllm").status == "ok"
    p["packages"]["vllm"] = _vllm(["torch==2.11.0"])
    f = one(p, "vllm")
    assert f.status == "ok" and "requires torch==2.11.0" in f.evidence  # 2.11.0+cu130 satisfies ==2.11.0


def test_package_linking_another_cuda_runtime_than_torch_fails() -> None:
    p = h200()
    p["packages"]["sgl-kernel"] = {
        "version": "0.3.0",
        "requires": [],
        "tags": ["cp310-abi3-manylinux2014_x86_64"],
        "libraries": [{"file": "sgl_kernel/common_ops.abi3.so", "needed": ["libcudart.so.12", "libc.so.6"]}],
    }
    f = one(p, "sgl-kernel")
    assert f.status == "fail" and "CUDA 12 runtime, torch uses CUDA 13.0" in f.summary


def test_absent_packages_make_no_findings() -> None:
    assert not {"flash-attn", "vllm", "sglang", "xformers", "flashinfer-python"} & set(findings(h200()))


# ------------------------------------------------------------------------------------------ the cases of issue 17


def seed_login_node() -> dict[str, Any]:
    """The seed's environment (vllm 0.8.5.post1, xformers 0.0.29.post2, torch 2.6.0+cu124) on a login node: no
    GPU, no driver."""
    p = h200()
    p["driver"] = {
        "files": {},
        "nvml": {"error": "OSError: libnvidia-ml.so.1: cannot open shared object file: No such file or directory"},
        "libcuda": {"error": "OSError: libcuda.so.1: cannot open shared object file: No such file or directory", "gpus": []},
    }
    p["torch"].update(
        version="2.6.0+cu124", cuda="12.4", cxx11_abi=False, cuda_available=False, devices=[],
        arch_list=["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], nccl="2.21.5",
        cuda_warnings=["CUDA initialization: Found no NVIDIA driver on your system."],
    )
    p["binaries"] = []
    p["packages"] = {
        "vllm": {
            "version": "0.8.5.post1",
            "requires": ["torch==2.6.0", "xformers==0.0.29.post2; platform_system == 'Linux' and platform_machine == 'x86_64'"],
            "tags": ["cp38-abi3-manylinux1_x86_64"],
            "libraries": [{"file": "vllm/_C.abi3.so", "needed": ["libcuda.so.1", "libcudart.so.12", "libc10.so"]}],
            "load": {"module": "vllm._C", "loader": "module", "ok": False,
                     "error": "ImportError: libcuda.so.1: cannot open shared object file: No such file or directory"},
        },
        "xformers": {
            "version": "0.0.29.post2",
            "requires": ["numpy", "torch==2.6.0"],
            "tags": ["cp312-cp312-manylinux_2_28_x86_64"],
            "libraries": [{"file": "xformers/_C.so", "needed": ["libc10.so", "libtorch.so", "libcudart.so.12"],
                           "pyinit": []}],
            "load": {"module": "xformers._C", "loader": "torch.ops.load_library", "ok": True},
            "build_info": {"file": "xformers/cpp_lib.json", "torch": "2.6.0+cu124", "cuda": 1204, "python": "3.12.8"},
        },
    }
    return p


def test_the_seed_environment_on_a_login_node_has_no_failure() -> None:
    fs = findings(seed_login_node())
    assert fs["xformers"].status == "ok", fs["xformers"]
    assert "torch.ops.load_library(xformers._C: a torch operator library" in " ".join(fs["xformers"].evidence)
    v = fs["vllm"]
    assert v.status == "warn", v
    assert "needs libcuda.so.1, the NVIDIA driver's library, and this machine has no driver" in v.summary
    assert v.fix == "nothing to do on a login or build node: it loads on a GPU node with the driver"
    assert fs["torch.cuda"].status == "warn"  # the same reading: a login node
    assert not [f for f in fs.values() if f.status == "fail"]


def test_the_drivers_library_missing_where_there_is_a_driver_fails() -> None:
    p = seed_login_node()
    p["driver"] = h200()["driver"]  # NVML and libcuda read in the probe's own process ...
    f = one(p, "vllm")  # ... but the extension's loader does not find it: a container without the driver's files
    assert f.status == "fail" and "the NVIDIA driver's libcuda.so.1 cannot be found" in f.summary


def test_flash_attn_without_its_extension_fails_even_in_an_old_probe() -> None:
    p = h200()
    p["packages"]["flash-attn"] = {
        "version": "2.7.4.post1",
        "requires": ["torch", "einops"],
        "tags": ["py3-none-any"],
        "libraries": [],
        "load": {"module": "flash_attn_2_cuda", "ok": None, "error": "no such extension file in the RECORD"},
    }  # a schema-1 probe: no "import" reading
    f = one(p, "flash-attn")
    assert f.status == "fail" and "`import flash_attn` fails without it" in f.summary


def test_a_package_that_imports_without_its_extension_warns() -> None:
    p = h200()
    p["packages"]["xformers"] = {
        "version": "0.0.35.dev1146",
        "requires": ["torch>=2.10"],
        "tags": ["py3-none-any"],
        "libraries": [],
        "load": {"module": "xformers._C", "ok": None, "error": "no such extension file in the RECORD"},
        "import": {"module": "xformers", "ok": True},
    }
    f = one(p, "xformers")
    assert f.status == "warn" and "it imports, but its compiled kernels are missing" in f.summary


def test_a_load_that_crashed_or_hung() -> None:
    p = h200()
    p["packages"]["vllm"] = _vllm(["torch"])
    p["packages"]["vllm"]["load"] = {"module": "vllm._C", "ok": False, "signal": 11,
                                     "error": "the loading process died with signal 11: Fatal Python error"}
    assert "loading it crashed the process (SIGSEGV, signal 11)" in one(p, "vllm").summary
    p["packages"]["vllm"]["load"] = {"module": "vllm._C", "ok": False, "error": "timed out after 60 s"}
    assert "loading it hung (timed out after 60 s)" in one(p, "vllm").summary


def test_a_partial_probe_is_judged_only_on_what_it_read() -> None:
    p = {k: v for k, v in h200().items() if k in ("probe", "python", "platform", "markers", "environ", "binaries",
                                                    "distributions")}
    p["partial"] = True
    assert [f.check for f in diagnose(p, kb=KB).findings] == ["python", "glibc"]
