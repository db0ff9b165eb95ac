"""The doctor's probe: run by the interpreter of the environment being inspected, it prints ONE JSON object.

Standalone on purpose: standard library only, no import of llmenv, and it runs on the Python of the environment
(3.8 or newer), so nothing here may need a newer Python. It never crashes: every import and every reading is
guarded, and what fails is recorded as an ``error`` string in the output. Extension modules are loaded in
child processes, so an ``undefined symbol`` (or a crash) in one of them is caught and reported, not fatal.

It only *reads*: versions, metadata, ELF headers of shared libraries, the NVIDIA driver through its C APIs.
The reading of what it collects (ok / warn / fail) happens in ``llmenv.doctor.findings``.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import warnings
from typing import Any

SCHEMA = 1

# Packages whose compiled parts are checked (DT_NEEDED, torch pin); the module each one loads, when it has one.
PACKAGES = {
    "flash-attn": "flash_attn_2_cuda",
    "vllm": "vllm._C",
    "sglang": None,
    "sgl-kernel": None,
    "xformers": "xformers._C",
    "flashinfer-python": None,
    "flashinfer-jit-cache": None,
}
MAX_LIBRARIES = 200  # shared libraries read per package
MAX_STRTAB = 64 * 1024 * 1024
CHILD_TIMEOUT = 120.0
TOOL_TIMEOUT = 60.0

# Loads one extension module from its file after importing torch (which loads libc10, libtorch...), without
# running the package's __init__. Prints one JSON line.
_LOAD_EXTENSION = r"""
import importlib.util, json, sys
out = {"ok": False}
try:
    import torch  # noqa: F401
except BaseException as e:
    out["torch_error"] = "%s: %s" % (type(e).__name__, e)
try:
    spec = importlib.util.spec_from_file_location(sys.argv[1], sys.argv[2])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out["ok"] = True
except BaseException as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
sys.stdout.write(json.dumps(out) + "\n")
"""


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> dict[str, Any]:
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


# Overrides of what the driver reports, as ``llmenv detect`` reads them (``LLMENV_DRIVER=550.54.14``,
# ``LLMENV_GPU=9.0,8.6``, ``LLMENV_CUDA=12.4|cpu``): recorded raw, judged in ``findings``.
OVERRIDES = {"LLMENV_DRIVER": "driver", "LLMENV_GPU": "gpu", "LLMENV_CUDA": "cuda"}


def driver_info() -> dict[str, Any]:
    override = {key: os.environ[var].strip() for var, key in OVERRIDES.items() if os.environ.get(var, "").strip()}
    files = {}
    for path in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
        text = _read(path)
        if text:
            files[path] = text[:2000]
    out: dict[str, Any] = {"files": files, "nvml": _nvml_driver(), "libcuda": _libcuda()}
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
                devices.append({"name": torch.cuda.get_device_name(i), "capability": [major, minor]})
        except Exception as e:
            out["devices_error"] = _err(e)
    out["devices"] = devices
    try:
        out["nccl"] = _version_string(torch.cuda.nccl.version()) if out.get("cuda") else None
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
            return {"needed": [], "soname": None, "runpath": None, "glibc": None}
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
    return {
        "needed": [s(v) for t, v in tags if t == 1],  # DT_NEEDED
        "soname": next((s(v) for t, v in tags if t == 14), None),  # DT_SONAME
        "runpath": next((s(v) for t, v in tags if t in (29, 15)), None),  # DT_RUNPATH, DT_RPATH
        "glibc": f"{glibc[-1][0]}.{glibc[-1][1]}" if glibc else None,
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


def _load_in_child(module: str, path: str) -> dict[str, Any]:
    r = _run([sys.executable, "-c", _LOAD_EXTENSION, module, path], timeout=CHILD_TIMEOUT)
    result: dict[str, Any] = {"module": module, "file": path}
    if r["error"]:
        result.update(ok=False, error=r["error"])
        return result
    line = r["stdout"].strip().splitlines()[-1:] if r["stdout"].strip() else []
    try:
        result.update(json.loads(line[0]))
    except (IndexError, ValueError):
        code = r["returncode"]
        how = f"died with signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        result.update(ok=False, error=f"the loading process {how}: {r['stderr'].strip()[-1000:]}")
    return result


def package_info(dist: Any, module: str | None, cuobjdump: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": dist.version,
        "requires": list(dist.requires or []),
        "tags": _wheel_tags(dist),
        "direct_url": _direct_url(dist),
        "libraries": [],
    }
    files = []
    try:
        for f in dist.files or ():
            if _is_shared_library(str(f)):
                files.append((str(f), str(dist.locate_file(f))))
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
        *package, last = module.split(".")
        folder = "/".join(package)
        target = next(
            (
                full
                for rel, full in files
                if os.path.dirname(rel) == folder and os.path.basename(rel).split(".")[0] == last
            ),
            None,
        )
        if target is None:
            out["load"] = {"module": module, "ok": None, "error": "no such extension file in the RECORD"}
        else:
            out["load"] = _load_in_child(module, target)
            if cuobjdump:
                out["cuobjdump"] = _cuobjdump(cuobjdump, target)
    return out


def packages_info(cuobjdump: str | None) -> dict[str, Any]:
    from importlib import metadata

    binaries: list[dict[str, Any]] = []
    packages: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = _normalize(dist.metadata["Name"] or "")
        except Exception:
            continue
        if not name or name in versions:  # the first on sys.path is the one imported
            continue
        versions[name] = str(dist.version or "")
        tags = _wheel_tags(dist)
        if any(not t.endswith("-any") for t in tags):
            binaries.append({"name": name, "version": dist.version, "tags": tags})
        if name in PACKAGES:
            try:
                packages[name] = package_info(dist, PACKAGES[name], cuobjdump)
            except Exception as e:
                packages[name] = {"version": dist.version, "error": _err(e)}
    binaries.sort(key=lambda b: b["name"])
    return {"binaries": binaries, "packages": packages, "distributions": dict(sorted(versions.items()))}


# ------------------------------------------------------------------------------------------ main


def _section(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except BaseException as e:  # a probe must print its JSON whatever happens
        return {"error": _err(e)}


def collect() -> dict[str, Any]:
    toolkit = _section(toolkit_info)
    out = {
        "probe": SCHEMA,
        "python": _section(python_info),
        "platform": _section(platform_info),
        "markers": _section(marker_environment),
        "environ": {
            k: os.environ[k]
            for k in (
                "CUDA_HOME",
                "CUDA_PATH",
                "CUDA_VISIBLE_DEVICES",
                "TORCH_CUDA_ARCH_LIST",
                "LD_LIBRARY_PATH",
            )
            if k in os.environ
        },
        "driver": _section(driver_info),
        "torch": _section(torch_info),
        "toolkit": toolkit,
    }
    found = _section(packages_info, toolkit.get("cuobjdump") if isinstance(toolkit, dict) else None)
    if "error" in found:
        out["packages_error"] = found["error"]
    out["binaries"] = found.get("binaries", [])
    out["packages"] = found.get("packages", {})
    out["distributions"] = found.get("distributions", {})  # every installed distribution: name -> version
    return out


def main() -> int:
    import contextlib

    try:
        # What imported code prints must not mix with the JSON: it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = collect()
    except BaseException as e:
        result = {"probe": SCHEMA, "error": _err(e)}
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
