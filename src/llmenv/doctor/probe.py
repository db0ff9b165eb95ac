"""The doctor's probe: run by the interpreter of the environment being inspected, it prints ONE JSON object.

Standalone on purpose: standard library only, no import of llmenv, and it runs on the Python of the environment
(3.8 or newer), so nothing here may need a newer Python. It never crashes: every import and every reading is
guarded, and what fails is recorded as an ``error`` string in the output. Extension modules are loaded in
child processes, so an ``undefined symbol`` (or a crash) in one of them is caught and reported, not fatal.

It only *reads*: versions, metadata, ELF headers of shared libraries, the NVIDIA driver through its C APIs, AMD's
KFD topology in sysfs. The reading of what it collects (ok / warn / fail) happens in ``llmenv.doctor.findings``.

Output, on stdout: while it works, ``#llmenv-probe {...}`` lines (``{"step": ...}`` says what it is doing,
``{"data": {section: value}}`` hands over each section as soon as it is read), then the whole result as one JSON
object on the last line. A probe that crashes or hangs half-way has still handed over what it read; faulthandler
writes the Python stack of a crash (and, just before the deadline ``LLMENV_PROBE_TIMEOUT``, of a hang) to stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import time
import warnings
from typing import Any

SCHEMA = (
    2  # 2: extensions loaded the way their package loads them ("loader"); AMD readings; sections on the way
)

# Packages whose compiled parts are checked (DT_NEEDED, torch pin): the extension each one loads, when it has one,
# and the package a user imports (imported only to see what a missing extension does to it).
PACKAGES = {
    "flash-attn": ("flash_attn_2_cuda", "flash_attn"),
    "vllm": ("vllm._C", "vllm"),
    "sglang": (None, None),
    "sgl-kernel": (None, None),
    "xformers": ("xformers._C", "xformers"),
    "flashinfer-python": (None, None),
    "flashinfer-jit-cache": (None, None),
}
# Files in which a package records what it was built for (xformers' setup.py writes torch, CUDA and Python).
BUILD_INFO = {"xformers": "xformers/cpp_lib.json"}
MARK = "#llmenv-probe "
MAX_LIBRARIES = 200  # shared libraries read per package
MAX_STRTAB = 64 * 1024 * 1024
CHILD_TIMEOUT = 120.0
TOOL_TIMEOUT = 60.0
LOADERS = ("module", "torch.ops.load_library", "import")

# Loads one extension after importing torch (which loads libc10, libtorch...), the way its package does, without
# running the package's __init__: a Python extension module (it exports PyInit_<name>) from its file; a torch
# operator library (no PyInit_: xformers' _C, loaded by xformers/_cpp_lib.py) with torch.ops.load_library; or
# ("import") the package itself. Prints one JSON line. An error is given with its causes: torch.ops.load_library
# wraps dlopen's message ("undefined symbol: ...") in "OSError: Could not load this library".
_LOAD_EXTENSION = r"""
import faulthandler, importlib, importlib.util, json, sys
faulthandler.enable()
how, name, path = sys.argv[1], sys.argv[2], sys.argv[3]
out = {"ok": False}
def chain(e):
    seen = []
    while e is not None and len(seen) < 4:
        seen.append("%s: %s" % (type(e).__name__, e))
        e = e.__cause__ or e.__context__
    return " (caused by ".join(seen) + ")" * (len(seen) - 1)
torch = None
try:
    import torch
except BaseException as e:
    out["torch_error"] = chain(e)
try:
    if how == "import":
        importlib.import_module(name)
    elif how == "torch.ops.load_library":
        if torch is None:
            raise ImportError("torch cannot be imported: " + out["torch_error"])
        torch.ops.load_library(path)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    out["ok"] = True
except BaseException as e:
    out["error"] = chain(e)
sys.stdout.write(json.dumps(out) + "\n")
"""

_DEADLINE: list[float] = []  # monotonic time by which the probe must be done (LLMENV_PROBE_TIMEOUT), if any
_STDOUT: list[Any] = []  # the real stdout, while imported code's prints go to stderr


def _emit(obj: dict[str, Any]) -> None:
    """One ``#llmenv-probe`` line on the real stdout (after a newline: a library may have left a line open)."""
    if _STDOUT:
        try:
            _STDOUT[0].write("\n" + MARK + json.dumps(obj, sort_keys=True) + "\n")
            _STDOUT[0].flush()
        except (OSError, ValueError, TypeError):
            pass


def step(text: str) -> None:
    _emit({"step": text})


def _budget(limit: float) -> float:
    """A child's time limit: ``limit``, less when the probe's own deadline is nearer (a few seconds kept back)."""
    if not _DEADLINE:
        return limit
    return max(1.0, min(limit, _DEADLINE[0] - time.monotonic() - 5.0))


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> dict[str, Any]:
    timeout = _budget(timeout)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"returncode": None, "stdout": "", "stderr": "", "error": f"timed out after {timeout:.0f} s"}
    except (OSError, ValueError) as e:
        return {"returncode": None, "stdout": "", "stderr": "", "error": _err(e)}
    return {"returncode": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-4000:], "error": None}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


# ------------------------------------------------------------------------------------------ interpreter


def python_info() -> dict[str, Any]:
    v = sys.version_info
    gil = None
    try:
        import sysconfig

        gil = sysconfig.get_config_var("Py_GIL_DISABLED")
    except Exception:
        pass
    return {
        "version": f"{v.major}.{v.minor}.{v.micro}",
        "executable": sys.executable,
        "prefix": sys.prefix,
        "implementation": sys.implementation.name,
        "free_threaded": bool(gil),
    }


def marker_environment() -> dict[str, str]:
    """PEP 508's marker environment of this interpreter (what ``packaging.markers.default_environment`` gives)."""

    def full(info: Any) -> str:
        s = f"{info.major}.{info.minor}.{info.micro}"
        if info.releaselevel != "final":
            s += info.releaselevel[0] + str(info.serial)
        return s

    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": full(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def platform_info() -> dict[str, Any]:
    glibc = None
    try:
        v = os.confstr("CS_GNU_LIBC_VERSION")
        if v and v.startswith("glibc "):
            glibc = v.split()[1]
    except (AttributeError, ValueError, OSError):
        pass
    return {"system": platform.system(), "machine": platform.machine(), "glibc": glibc}


# ------------------------------------------------------------------------------------------ NVIDIA driver


def _nvml_driver() -> dict[str, Any]:
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError as e:
        return {"error": _err(e)}
    try:
        rc = lib.nvmlInit_v2()
        if rc != 0:
            return {"error": f"nvmlInit_v2 returned {rc}"}
        buf = ctypes.create_string_buffer(96)
        rc = lib.nvmlSystemGetDriverVersion(buf, ctypes.c_uint(96))
        lib.nvmlShutdown()
        if rc != 0:
            return {"error": f"nvmlSystemGetDriverVersion returned {rc}"}
        return {"version": buf.value.decode("ascii", "replace")}
    except Exception as e:
        return {"error": _err(e)}


def _libcuda() -> dict[str, Any]:
    """cuDriverGetVersion and every device's name, compute capability and memory, through libcuda itself."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return {"error": _err(e), "gpus": []}
    out: dict[str, Any] = {"gpus": []}
    try:
        v = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(v)) == 0:
            out["cuda_driver_version"] = v.value
        rc = lib.cuInit(0)
        if rc != 0:
            out["error"] = f"cuInit returned {rc}"
            return out
        n = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(n)) != 0:
            out["error"] = "cuDeviceGetCount failed"
            return out
        for i in range(n.value):
            dev = ctypes.c_int(0)
            if lib.cuDeviceGet(ctypes.byref(dev), i) != 0:
                continue
            name = ctypes.create_string_buffer(256)
            lib.cuDeviceGetName(name, 256, dev)
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            lib.cuDeviceGetAttribute(
                ctypes.byref(major), 75, dev
            )  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
            lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # ..._MINOR
            mem = ctypes.c_size_t(0)
            total = getattr(lib, "cuDeviceTotalMem_v2", None)
            if total is not None and total(ctypes.byref(mem), dev) != 0:
                mem = ctypes.c_size_t(0)
            out["gpus"].append(
                {
                    "name": name.value.decode("utf-8", "replace"),
                    "capability": [major.value, minor.value],
                    "memory_mib": mem.value // (1024 * 1024) or None,
                }
            )
    except Exception as e:
        out["error"] = _err(e)
    return out


# ------------------------------------------------------------------------------------------ AMD (ROCm)


def _properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


def amd_info(root: str = "/") -> dict[str, Any] | None:
    """AMD GPUs as the kernel's KFD topology lists them (``gfx_target_version`` of every GPU node: no ROCm needed),
    the amdgpu kernel driver's version and the ROCm user space in /opt/rocm. None on a machine with neither."""
    kfd = os.path.join(root, "sys/class/kfd/kfd/topology/nodes")
    rocm = _read(os.path.join(root, "opt/rocm/.info/version"))
    if not os.path.isdir(kfd) and rocm is None:
        return None
    nodes = []
    try:
        names = sorted(os.listdir(kfd), key=lambda n: int(n) if n.isdigit() else 0)
    except OSError:
        names = []
    for n in names:
        props = _properties(_read(os.path.join(kfd, n, "properties")) or "")
        try:
            target = int(props.get("gfx_target_version", "0"))
        except ValueError:
            continue
        if target:  # CPU nodes have 0
            name = (_read(os.path.join(kfd, n, "name")) or "").strip()
            nodes.append({"node": n, "gfx_target_version": target, "name": name or None})
    amdgpu = _read(os.path.join(root, "sys/module/amdgpu/version"))
    return {
        "kfd": nodes,
        "amdgpu_version": amdgpu.strip() if amdgpu else None,
        "rocm_version": rocm.strip() if rocm else None,
        "hsa_override_gfx_version": os.environ.get("HSA_OVERRIDE_GFX_VERSION"),
    }


# Overrides of what the driver reports, as ``llmenv detect`` reads them (``LLMENV_DRIVER=550.54.14``,
# ``LLMENV_GPU=9.0,8.6``, ``LLMENV_CUDA=12.4|cpu``): recorded raw, judged in ``findings``.
OVERRIDES = {"LLMENV_DRIVER": "driver", "LLMENV_GPU": "gpu", "LLMENV_CUDA": "cuda"}


def driver_info() -> dict[str, Any]:
    override = {
        key: os.environ[var].strip() for var, key in OVERRIDES.items() if os.environ.get(var, "").strip()
    }
    files = {}
    for path in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
        text = _read(path)
        if text:
            files[path] = text[:2000]
    out: dict[str, Any] = {"files": files, "nvml": _nvml_driver(), "libcuda": _libcuda()}
    amd = amd_info()
    if amd is not None:
        out["amd"] = amd
    if override:
        out["override"] = override
    if not out["libcuda"]["gpus"] and shutil.which("nvidia-smi"):
        r = _run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,compute_cap,memory.total",
                "--format=csv,noheader",
            ],
            timeout=30,
        )
        out["nvidia_smi_query"] = r["stdout"] if r["returncode"] == 0 else None
    return out


# ------------------------------------------------------------------------------------------ torch


def _version_string(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, tuple):
        return ".".join(str(x) for x in v)
    if isinstance(v, int):  # NCCL before 2.9 reported e.g. 2708 for 2.7.8
        return f"{v // 1000}.{v % 1000 // 100}.{v % 100}"
    return str(v)


def torch_info() -> dict[str, Any]:
    out: dict[str, Any] = {"installed": False}
    try:
        from importlib import metadata

        out["dist_version"] = metadata.version("torch")
        out["installed"] = True
    except Exception:
        pass
    try:
        import importlib

        torch = importlib.import_module("torch")
    except ModuleNotFoundError as e:
        if getattr(e, "name", None) == "torch" and not out["installed"]:
            return out
        out["installed"] = True
        out["import_error"] = _err(e)
        return out
    except BaseException as e:
        out["installed"] = True
        out["import_error"] = _err(e)
        return out
    out["installed"] = True
    out["location"] = os.path.dirname(getattr(torch, "__file__", "") or "")
    for key, get in (
        ("version", lambda: str(torch.__version__)),
        ("cuda", lambda: torch.version.cuda),
        ("hip", lambda: getattr(torch.version, "hip", None)),
        ("cxx11_abi", lambda: bool(torch._C._GLIBCXX_USE_CXX11_ABI)),
    ):
        try:
            out[key] = get()
        except Exception as e:
            out[key] = None
            out[f"{key}_error"] = _err(e)
    try:  # the compiled list, readable even when no GPU is usable (get_arch_list() is [] then)
        flags = torch._C._cuda_getArchFlags() if hasattr(torch._C, "_cuda_getArchFlags") else None
        out["arch_list"] = flags.split() if flags else list(torch.cuda.get_arch_list())
    except Exception as e:
        out["arch_list"] = []
        out["arch_list_error"] = _err(e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["cuda_available"] = bool(torch.cuda.is_available())
        except Exception as e:
            out["cuda_available"] = False
            out["cuda_error"] = _err(e)
    out["cuda_warnings"] = [str(w.message)[:1000] for w in caught]
    devices = []
    if out["cuda_available"]:
        try:
            for i in range(torch.cuda.device_count()):
                major, minor = torch.cuda.get_device_capability(i)
                device = {"name": torch.cuda.get_device_name(i), "capability": [major, minor]}
                if out.get("hip"):  # ROCm: the LLVM target, e.g. "gfx942:sramecc+:xnack-"
                    props = torch.cuda.get_device_properties(i)
                    device["gcn_arch"] = getattr(props, "gcnArchName", None)
                devices.append(device)
        except Exception as e:
            out["devices_error"] = _err(e)
    out["devices"] = devices
    try:
        out["nccl"] = (
            _version_string(torch.cuda.nccl.version()) if out.get("cuda") or out.get("hip") else None
        )
    except Exception as e:
        out["nccl"] = None
        out["nccl_error"] = _err(e)
    return out


# ------------------------------------------------------------------------------------------ CUDA toolkit


def _cuda_home() -> tuple[str | None, str | None]:
    """Where torch.utils.cpp_extension would look: CUDA_HOME, CUDA_PATH, the nvcc on PATH, /usr/local/cuda."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var], var
    nvcc = shutil.which("nvcc")
    if nvcc:
        return os.path.dirname(os.path.dirname(nvcc)), "nvcc on PATH"
    if os.path.exists("/usr/local/cuda"):
        return "/usr/local/cuda", "/usr/local/cuda"
    return None, None


def _tool(name: str, home: str | None) -> str | None:
    if home:
        p = os.path.join(home, "bin", name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def toolkit_info() -> dict[str, Any]:
    home, source = _cuda_home()
    nvcc = _tool("nvcc", home)
    out: dict[str, Any] = {
        "cuda_home": home,
        "cuda_home_source": source,
        "cuda_home_exists": bool(home and os.path.isdir(home)),
        "nvcc": nvcc,
        "nvcc_version_text": None,
        "cuobjdump": _tool("cuobjdump", home),
    }
    if nvcc:
        r = _run([nvcc, "--version"], timeout=30)
        out["nvcc_version_text"] = r["stdout"][-1000:] if r["returncode"] == 0 else None
        if r["error"] or r["returncode"]:
            out["nvcc_error"] = r["error"] or r["stderr"][-500:]
    return out


# ------------------------------------------------------------------------------------------ ELF


def elf_dynamic(path: str) -> dict[str, Any]:
    """DT_NEEDED, DT_SONAME, DT_RUNPATH and the newest GLIBC_x.y symbol version of one ELF shared object."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            return {"error": "not an ELF file"}
        is64 = ident[4] == 2
        e = "<" if ident[5] == 1 else ">"
        if is64:
            fields = struct.unpack(e + "HHIQQQIHHHHHH", f.read(48))
        else:
            fields = struct.unpack(e + "HHIIIIIHHHHHH", f.read(36))
        phoff, phentsize, phnum = fields[4], fields[8], fields[9]
        loads: list[tuple[int, int, int]] = []
        dynamic: tuple[int, int] | None = None
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if is64:
                p_type, _flags, offset, vaddr, _paddr, filesz = struct.unpack(e + "IIQQQQ", f.read(40))
            else:
                p_type, offset, vaddr, _paddr, filesz = struct.unpack(e + "IIIII", f.read(20))
            if p_type == 1:  # PT_LOAD
                loads.append((vaddr, offset, filesz))
            elif p_type == 2:  # PT_DYNAMIC
                dynamic = (offset, filesz)
        if dynamic is None:
            return {"needed": [], "soname": None, "runpath": None, "glibc": None, "pyinit": []}
        f.seek(dynamic[0])
        raw = f.read(dynamic[1])
        entry = struct.Struct(e + ("qQ" if is64 else "iI"))
        tags: list[tuple[int, int]] = []
        for off in range(0, len(raw) - entry.size + 1, entry.size):
            tag, val = entry.unpack_from(raw, off)
            if tag == 0:  # DT_NULL
                break
            tags.append((tag, val))
        strtab = next((v for t, v in tags if t == 5), None)  # DT_STRTAB (an address)
        strsz = next((v for t, v in tags if t == 10), 0)  # DT_STRSZ
        start = None
        for vaddr, offset, filesz in loads:
            if strtab is not None and vaddr <= strtab < vaddr + filesz:
                start = offset + strtab - vaddr
        if start is None:
            return {"error": "no dynamic string table"}
        f.seek(start)
        table = f.read(min(strsz, MAX_STRTAB))

    def s(off: int) -> str:
        end = table.find(b"\0", off)
        return table[off : end if end >= 0 else len(table)].decode("utf-8", "replace")

    glibc = sorted({(int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", table)})
    # A Python extension module exports PyInit_<name> (nobody imports one, so its name in the dynamic string
    # table means it is defined here); a torch operator library has none.
    pyinit = sorted({m.decode("ascii", "replace") for m in re.findall(rb"PyInit_(\w+)", table)})
    return {
        "needed": [s(v) for t, v in tags if t == 1],  # DT_NEEDED
        "soname": next((s(v) for t, v in tags if t == 14), None),  # DT_SONAME
        "runpath": next((s(v) for t, v in tags if t in (29, 15)), None),  # DT_RUNPATH, DT_RPATH
        "glibc": f"{glibc[-1][0]}.{glibc[-1][1]}" if glibc else None,
        "pyinit": pyinit,
    }


def _is_shared_library(path: str) -> bool:
    base = os.path.basename(path)
    return base.endswith(".so") or ".so." in base


# ------------------------------------------------------------------------------------------ packages


def _wheel_tags(dist: Any) -> list[str]:
    try:
        text = dist.read_text("WHEEL") or ""
    except Exception:
        return []
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def _direct_url(dist: Any) -> str | None:
    try:
        text = dist.read_text("direct_url.json")
        return str(json.loads(text)["url"]) if text else None
    except Exception:
        return None


def _cuobjdump(tool: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"sass": [], "ptx": []}
    for flag, key in (("--list-elf", "sass"), ("--list-ptx", "ptx")):
        r = _run([tool, flag, path])
        if r["error"]:
            out["error"] = r["error"]
            break
        if r["returncode"] != 0:
            # cuobjdump fails on a library that carries no device code of that kind
            if "does not contain" not in (r["stderr"] + r["stdout"]):
                out["error"] = (r["stderr"] or r["stdout"]).strip()[-500:]
            continue
        found = set(re.findall(r"\.(sm_\d+[af]?)\.(?:cubin|ptx)\b", r["stdout"]))
        out[key] = sorted(found)
    return out


def _load_in_child(how: str, module: str, path: str) -> dict[str, Any]:
    step(f"loading {module}" if how != "import" else f"import {module}")
    r = _run([sys.executable, "-c", _LOAD_EXTENSION, how, module, path], timeout=CHILD_TIMEOUT)
    result: dict[str, Any] = {"module": module, "file": path, "loader": how}
    if r["error"]:
        result.update(ok=False, error=r["error"])
        return result
    line = r["stdout"].strip().splitlines()[-1:] if r["stdout"].strip() else []
    try:
        result.update(json.loads(line[0]))
    except (IndexError, ValueError):
        code = r["returncode"]
        how_died = f"died with signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        result.update(ok=False, error=f"the loading process {how_died}: {r['stderr'].strip()[-1000:]}")
        if code is not None and code < 0:
            result["signal"] = -code
    return result


def _build_info(path: str, rel: str) -> dict[str, Any]:
    """xformers' cpp_lib.json: {"version": {"torch": "2.6.0+cu124", "cuda": 1204, "python": "3.12.8", ...}}."""
    try:
        data = json.loads(_read(path) or "")
        version = data.get("version") or {}
        return {
            "file": rel,
            "torch": version.get("torch"),
            "cuda": version.get("cuda"),
            "hip": version.get("hip"),
            "python": version.get("python"),
        }
    except Exception as e:
        return {"file": rel, "error": _err(e)}


def loader_for(lib: dict[str, Any], name: str) -> str:
    """How the package loads this file: as a Python module when it exports PyInit_<name>, else (a torch operator
    library) with torch.ops.load_library. Unreadable: as a module, the usual case."""
    pyinit = lib.get("pyinit")
    if not isinstance(pyinit, list) or lib.get("error"):
        return "module"
    return "module" if name in pyinit else "torch.ops.load_library"


def package_info(dist: Any, module: str | None, package: str | None, cuobjdump: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": dist.version,
        "requires": list(dist.requires or []),
        "tags": _wheel_tags(dist),
        "direct_url": _direct_url(dist),
        "libraries": [],
    }
    files = []
    info_file = BUILD_INFO.get(_normalize(str(dist.metadata["Name"] or "")))
    try:
        for f in dist.files or ():
            if _is_shared_library(str(f)):
                files.append((str(f), str(dist.locate_file(f))))
            elif info_file and str(f).replace(os.sep, "/") == info_file:
                out["build_info"] = _build_info(str(dist.locate_file(f)), info_file)
    except Exception as e:
        out["files_error"] = _err(e)
    files.sort()
    for rel, full in files[:MAX_LIBRARIES]:
        lib: dict[str, Any] = {"file": rel}
        try:
            lib.update(elf_dynamic(full))
        except Exception as e:
            lib["error"] = _err(e)
        out["libraries"].append(lib)
    if len(files) > MAX_LIBRARIES:
        out["libraries_truncated"] = len(files)
    if module:
        *parent, last = module.split(".")
        folder = "/".join(parent)
        target = next(
            (
                (rel, full)
                for rel, full in files
                if os.path.dirname(rel) == folder and os.path.basename(rel).split(".")[0] == last
            ),
            None,
        )
        if target is None:
            out["load"] = {"module": module, "ok": None, "error": "no such extension file in the RECORD"}
            if package:  # what the missing extension does to the package a user imports
                out["import"] = _load_in_child("import", package, "")
        else:
            lib = next((x for x in out["libraries"] if x.get("file") == target[0]), {})
            out["load"] = _load_in_child(loader_for(lib, last), module, target[1])
            if cuobjdump:
                out["cuobjdump"] = _cuobjdump(cuobjdump, target[1])
    return out


def _distributions() -> list[tuple[str, Any]]:
    """(normalized name, distribution) of every installed distribution: the first on sys.path, the one imported."""
    from importlib import metadata

    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        try:
            name = _normalize(dist.metadata["Name"] or "")
        except Exception:
            continue
        if name and name not in seen:
            seen.add(name)
            out.append((name, dist))
    return out


def distributions_info() -> dict[str, Any]:
    """Every distribution's version, and the tags of the binary ones (cheap: metadata only, nothing imported)."""
    binaries: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    for name, dist in _distributions():
        versions[name] = str(dist.version or "")
        tags = _wheel_tags(dist)
        if any(not t.endswith("-any") for t in tags):
            binaries.append({"name": name, "version": dist.version, "tags": tags})
    binaries.sort(key=lambda b: b["name"])
    return {"binaries": binaries, "distributions": dict(sorted(versions.items()))}


def packages_info(cuobjdump: str | None) -> dict[str, Any]:
    """The packages of ``PACKAGES`` that are installed: their libraries, and their extension loaded in a child."""
    packages: dict[str, Any] = {}
    for name, dist in _distributions():
        if name in PACKAGES:
            step(f"reading {name}")
            module, package = PACKAGES[name]
            try:
                packages[name] = package_info(dist, module, package, cuobjdump)
            except Exception as e:
                packages[name] = {"version": dist.version, "error": _err(e)}
    return packages


# ------------------------------------------------------------------------------------------ main


def _section(out: dict[str, Any], key: str, what: str, fn: Any, *args: Any) -> Any:
    """Read one section into ``out[key]`` and hand it over at once; a failing section is an ``error`` there."""
    step(what)
    try:
        value = fn(*args)
    except BaseException as e:  # a probe must print its JSON whatever happens
        value = {"error": _err(e)}
    out[key] = value
    _emit({"data": {key: value}})
    return value


def collect() -> dict[str, Any]:
    out: dict[str, Any] = {"probe": SCHEMA}
    _emit({"data": {"probe": SCHEMA}})
    _section(out, "python", "reading the interpreter", python_info)
    _section(out, "platform", "reading the platform", platform_info)
    _section(out, "markers", "reading the marker environment", marker_environment)
    env_keys = (
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDA_VISIBLE_DEVICES",
        "TORCH_CUDA_ARCH_LIST",
        "LD_LIBRARY_PATH",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "HSA_OVERRIDE_GFX_VERSION",
        "FLASH_ATTENTION_TRITON_AMD_ENABLE",
    )
    _section(
        out,
        "environ",
        "reading the environment",
        lambda: {k: os.environ[k] for k in env_keys if k in os.environ},
    )
    found = _section(out, "distributions", "listing the installed distributions", distributions_info)
    if isinstance(found, dict) and "error" not in found:
        out["binaries"] = found.get("binaries", [])
        out["distributions"] = found.get("distributions", {})  # every installed distribution: name -> version
        _emit({"data": {"binaries": out["binaries"], "distributions": out["distributions"]}})
    else:
        out["packages_error"] = found.get("error") if isinstance(found, dict) else None
        out["binaries"], out["distributions"] = [], {}
    _section(out, "driver", "reading the GPU driver", driver_info)
    _section(out, "torch", "import torch", torch_info)
    toolkit = _section(out, "toolkit", "looking for the CUDA toolkit", toolkit_info)
    tool = toolkit.get("cuobjdump") if isinstance(toolkit, dict) else None
    packages = _section(out, "packages", "reading the compiled packages", packages_info, tool)
    if isinstance(packages, dict) and "error" in packages and len(packages) == 1:
        out["packages_error"] = packages["error"]
        out["packages"] = {}
    return out


def _setup() -> None:
    """Before anything is imported: no import of this folder's modules as top-level ones (the script's folder is
    sys.path[0]), crash stacks to stderr, and the deadline the doctor gave."""
    here = os.path.dirname(os.path.abspath(globals().get("__file__") or ""))
    if globals().get("__file__") and sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    with contextlib.suppress(AttributeError, ValueError, OSError):
        faulthandler.enable()
    try:
        timeout = float(os.environ.get("LLMENV_PROBE_TIMEOUT", ""))
    except ValueError:
        timeout = 0.0
    if timeout > 0 and timeout == timeout:  # not NaN
        _DEADLINE.append(time.monotonic() + timeout)
        with contextlib.suppress(AttributeError, ValueError, OSError):  # the stack of a hang, before the kill
            faulthandler.dump_traceback_later(max(1.0, timeout - 3.0), exit=False)


def main() -> int:
    _setup()
    _STDOUT.append(sys.stdout)
    try:
        # What imported code prints must not mix with the JSON: it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = collect()
    except BaseException as e:
        result = {"probe": SCHEMA, "error": _err(e)}
    with contextlib.suppress(AttributeError):
        faulthandler.cancel_dump_traceback_later()
    sys.stdout.write("\n" + json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
