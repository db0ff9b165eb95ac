"""The "why" lines of a plan: for each chosen part, the facts and the ranking key that chose it."""

from __future__ import annotations

from packaging.utils import canonicalize_name

from llmenv.plan import constraints as c
from llmenv.plan.candidates import Candidate, spec_of
from llmenv.plan.extensions import ExtensionOption
from llmenv.plan.platform import abi_of, pythons_of, variant_of
from llmenv.plan.problem import Problem
from llmenv.target import Target

__all__ = ["reasons"]

POLICY_TEXT = {
    "strict": "strict: no CUDA build newer than the driver's CUDA",
    "minor": "minor: newer CUDA minors of the driver's CUDA major are allowed (minor-version compatibility)",
}


def _span(pythons: tuple[str, ...]) -> str:
    return pythons[0] if len(pythons) == 1 else f"{pythons[0]}–{pythons[-1]}"


def _driver_line(problem: Problem, t: Target) -> str:
    if t.cuda is None:
        return "no NVIDIA driver on the target: the CPU build of torch" + (
            " from the default index" if problem.source.is_pypi else f" from the {problem.source.label} (cpu)"
        )
    floor = problem.kb.cuda.min_driver(t.cuda)
    who = f"driver {t.driver}" if t.driver else "the target driver (--cuda)"
    return (
        f"{who} supports CUDA <= {t.cuda}"
        + (f" (CUDA {t.cuda} needs >= {floor}, NVIDIA release notes Table 3)" if floor else "")
        + f"; policy {POLICY_TEXT[problem.policy]}"
    )


def _rocm_line(t: Target) -> str:
    gpus = ", ".join(
        dict.fromkeys(
            f"{g.name} ({g.gfx})" if g.name.startswith("AMD Instinct") else g.gfx for g in t.amd_gpus
        )
    )
    host = (
        f"the host's ROCm {t.rocm}: a torch ROCm build carries its own ROCm user space, which AMD supports within "
        "+/- 2 releases of the host's driver stack"
        if t.rocm
        else "the host's ROCm is not known (no ROCm user space found): judged by the GPUs only"
    )
    return f"an AMD target ({gpus or 'GPUs not named'}); {host}"


def _torch_lines(problem: Problem, cand: Candidate, t: Target) -> list[str]:
    assert cand.torch is not None
    r, var = cand.torch.release, cand.torch.variant
    out = [_driver_line(problem, t)]
    if t.is_cpu and problem.source.is_pypi and t.os == "linux" and t.arch == "x86_64":
        out[0] = (
            f"no NVIDIA driver on the target; torch from the default index: PyPI's Linux x86_64 torch {r.version} "
            f"bundles the CUDA {r.pypi_cuda} libraries (several GB) and also runs on the CPU — the PyTorch cpu "
            "index (drop --torch-index pypi) gives the small CPU-only build"
        )
    pinned = ""
    if cand.engine is not None:
        pinned = f" (pinned by {cand.engine.name} {cand.engine.version})"
    elif str(problem.torch_spec):
        pinned = f" within torch{problem.torch_spec}"
    held = problem.held.bounds.get(canonicalize_name("torch"), ())
    if held and not cand.engine:
        pinned += f" the project allows ({'; '.join(b.who for b in held)})"
    routed = _routed(problem, cand)
    if var.is_rocm:
        out[0] = _rocm_line(t)
        covers = f"; it has code for {', '.join(t.gfx)}" if t.gfx else ""
        out.append(
            f"torch {r.version}+{var}: the newest ROCm build{covers} (PyTorch index {var}, Linux x86_64 only)"
            f"; torch {r.version} the newest release{pinned} with such a build"
        )
    elif var.is_cuda:
        archs = ""
        if t.gpus:
            v = variant_of(r, t, var)
            archs = f"; it covers {', '.join(sorted({g.sm for g in t.gpus}))}" + (
                f" (build archs: {v.arch_names})" if v else ""
            )
        where = "PyPI's torch" if problem.source.is_pypi else f"the {problem.source.label}"
        major = (
            f"CUDA {var.major} is where the project routes torch"
            if routed
            else f"CUDA {var.major} is the newest CUDA major the driver runs"
        )
        out.append(
            f"torch {r.version}+{var}: {major}{archs}; torch "
            f"{r.version} the newest release{pinned} with a CUDA {var.major} build here, {var} its newest "
            f"CUDA {var.major} variant the driver runs (from {where})"
        )
    else:
        out.append(f"torch {r.version} is the newest release{pinned} for {t.os} {t.arch}")
    py = pythons_of(r, t)
    out.append(
        f"torch {r.version} on {t.platform}: Python {py[0]}–{py[-1]}, "
        f"C++ ABI {'cxx11' if abi_of(r, t, var) else 'pre-cxx11'}"
    )
    from llmenv.plan.assemble import companion_spec

    for name in ("torchvision", "torchaudio"):
        cv = r.companion(name, companion_spec(problem, cand, name))
        if cv and cv != getattr(r, name):
            out.append(f"{name} {cv} as pinned: its metadata admits torch {r.version}")
        elif cv and (
            name in problem.companions
            or name in cand.engine_requirements
            or name in cand.framework_requirements
        ):
            out.append(f"{name} {cv} is the release built for torch {r.version}")
    return out


def _framework_line(problem: Problem, cand: Candidate) -> list[str]:
    fw = cand.framework
    if fw is None:
        return []
    ask = problem.framework
    spec = f" within {fw.name}{ask.spec}" if ask is not None and str(ask.spec) else ""
    if fw.local:
        head = f"{fw.name} {fw.version} from the local tree: its pins fit this target"
    elif problem.allow_overrides and cand.relaxed:
        head = f"{fw.name} {fw.version} is the newest release{spec} (its conflicting pins relaxed: --allow-overrides)"
    else:
        head = f"{fw.name} {fw.version} is the newest release{spec} whose pins fit this target"
    return [head + (f"; extras {', '.join(fw.extras)}" if fw.extras else "")]


def _engine_line(problem: Problem, cand: Candidate, t: Target) -> list[str]:
    e = cand.engine
    if e is None:
        return []
    via = ""
    if cand.framework is not None:
        fspec = spec_of(cand.framework_requirements, e.name)
        if str(fspec):
            via = f" ({cand.framework.name} {cand.framework.version} asks for {e.name}{fspec})"
    if t.is_rocm:
        from llmenv.rocm import vllm_wheel

        w = vllm_wheel(e.version)
        if w is not None:
            return [
                f"{e.name} {e.version}{via} is the newest with a ROCm release wheel ({e.name}=={e.version}+{w.variant} "
                f"from {w.index_for(str(e.version))}: ROCm {w.rocm}, Python {', '.join(w.python)}, glibc >= {w.glibc}); "
                f"it pins torch=={e.torch.version}. Its wheel's own metadata is not read here (wheels.vllm.ai): "
                "plan --verify locks it"
            ]
    drv = f"driver {t.driver}" if t.driver else "the target driver"
    from llmenv.plan.assemble import vllm_route

    route = vllm_route(problem, cand)
    if route is None or cand.torch is None:
        return [
            f"{e.name} {e.version}{via} is the newest that runs here: it pins torch=={e.torch.version}, built with "
            f"CUDA {e.build_cuda} ({drv} supports CUDA <= {t.cuda})"
        ]
    compat = (
        f"; a CUDA {route.cuda} build runs on this CUDA {t.cuda} driver under minor-version compatibility"
        if t.cuda is not None and route.cuda > t.cuda
        else ""
    )
    return [
        f"{e.name} {e.version}{via} is the newest that runs here: it pins torch=={e.torch.version}; PyPI's wheel is "
        f"built with CUDA {e.line_cuda} (libcudart.so.{e.line_cuda.major}) and torch {cand.torch.variant} is CUDA "
        f"{cand.torch.variant.major}, so {e.name} {route.pinned} comes from its variant index {route.url} (the "
        f"kernels must link torch's CUDA major, vllm#44335){compat}"
    ]


def _option_line(
    opt: ExtensionOption, cand: Candidate, forced: frozenset[str], target: Target, env_note: str = ""
) -> str:
    assert cand.torch is not None
    tb = cand.torch.build
    if opt.prebuilt and opt.source.startswith("--wheels"):
        url = opt.url_for(cand.python)
        name = url.rsplit("/", 1)[-1].replace("%2B", "+") if url else (opt.local or "no local label")
        return (
            f"{opt.package} {opt.shown} from {opt.source} ({name}) fits torch "
            f"{tb.version} (CUDA {tb.cuda}, cxx11abi{'TRUE' if tb.cxx11_abi else 'FALSE'}): the sources you "
            "name come first"
        )
    if opt.prebuilt:
        return _prebuilt_line(opt, cand, target)
    if opt.package in forced:
        return (
            f"--build {opt.package}: the tuned source build was asked for; no prebuilt wheel is considered — "
            f"build {opt.version} from its PyPI sdist against the installed torch (match-runtime)"
        )
    what = f"build {opt.version} from its PyPI sdist" if opt.pinned else "uv builds its PyPI sdist"
    return (
        f"no prebuilt {opt.package} wheel fits torch {tb.version}+{tb.variant} (cxx11abi"
        f"{'TRUE' if tb.cxx11_abi else 'FALSE'}, Python {_span(cand.pythons)}): {what} against the installed "
        f"torch (match-runtime){env_note}"
    )


_WHERE = {
    "astral": "Astral's GPU index",
    "pytorch": "the PyTorch index",
    "dao-ailab": "Dao-AILab's release assets",
    "mjun0812": "mjun0812's community release assets",
    "wheelhouse": "the wheelhouse",
    "pypi": "the default index",
}


def _prebuilt_line(opt: ExtensionOption, cand: Candidate, target: Target) -> str:
    assert cand.torch is not None
    tb = cand.torch.build
    where = _WHERE.get(opt.source, opt.source)
    if opt.index_name:
        where += f" ({opt.index_name}, an explicit index: hash-locked)"
    codes = c.option_codes(opt)
    if opt.default_index and not opt.urls and opt.source == "pypi" and opt.cuda is None:
        head = f"{opt.package}" + (f"[{','.join(opt.extras)}]" if opt.extras else "") + f" {opt.version}"
        said = "; ".join(opt.notes)
        return f"{head} from the default index (the newest release that fits)" + (f"; {said}" if said else "")
    parts = [f"{opt.package} {opt.version} is the newest release with a prebuilt wheel for torch {tb.mm}"]
    if opt.local:
        parts[0] += f" ({opt.local})"
    if opt.cuda is not None:
        parts.append(f"built with CUDA {opt.cuda}")
    if codes:
        parts.append(f"carrying {', '.join(x.name for x in codes)} code")
    elif opt.cuda is not None:
        parts.append("its GPU architectures not listed")
    text = ", ".join(parts) + f", from {where}"
    more = [n for n in (c.option_compat_note(opt, target), *opt.notes) if n]
    return text + (f"; {'; '.join(more)}" if more else "")


def _successors(t: Target) -> list[str]:
    if any(g.capability[0] == 9 for g in t.gpus):
        return [
            "Hopper GPU: FlashAttention-3 (`flash-attn-3`: prebuilt wheels on the PyTorch index for torch >= 2.9, "
            "on Astral's index and mjun0812's releases) and flash-attn-4 (`flash-attn-4`, pure Python CuTeDSL) "
            "are faster options; this plan uses FlashAttention-2"
        ]
    if any(g.capability[0] >= 10 for g in t.gpus):
        return [
            "Blackwell GPU: flash-attn-4 (`flash-attn-4`, CuTeDSL) also targets it; this plan uses FlashAttention-2"
        ]
    return []


def _python_line(problem: Problem, cand: Candidate) -> str:
    py = cand.python
    if problem.target.base is not None:
        origin = f"the base interpreter's, {problem.target.base.python}"
    elif problem.preferred_python is not None and len(problem.pythons) == 1:
        origin = "the target's Python"
    elif py == problem.preferred_python:
        origin = "this machine's Python"
    elif problem.preferred_python is not None:
        origin = (
            f"this machine has {problem.preferred_python}, which the stack cannot use; the highest that works"
        )
    else:
        origin = "the highest Python every chosen package has wheels for (--python fixes it)"
    lo, cap = cand.pythons[0], _next(cand.pythons[-1])
    said: list[str] = []
    if cand.python_floor_limit:
        said.append(f"floor raised to {lo}: {cand.python_floor_limit}")
    elif problem.held.requires_python is not None:
        said.append(f"the project's floor {lo} kept")
    said.append(f"capped below {cap}: {cand.python_limit or 'the knowledge ends there'}")
    return f"Python {py} ({origin}); requires-python >={lo},<{cap} — " + "; ".join(said)


def _next(python: str) -> str:
    major, minor = python.split(".")
    return f"{major}.{int(minor) + 1}"


def _routed(problem: Problem, cand: Candidate) -> str | None:
    """``torch stays on cu128: the project routes it there (tool.uv.sources.torch[0]), and driver X runs it``
    when the project's own torch routing held the variant (``plan/held.py``)."""
    t = problem.target
    if cand.torch is None or cand.torch.source != "index" or t.cuda is None:
        return None
    var = cand.torch.variant
    where = next((w for v, w in problem.held.routed if v == var), None)
    if where is None:
        return None
    drv = f"driver {t.driver}" if t.driver else f"a driver of CUDA {t.cuda}"
    return f"torch stays on {var}: the project routes it there ({where}), and {drv} runs it"


def reasons(problem: Problem, cand: Candidate, target: Target) -> list[str]:
    routed = _routed(problem, cand)
    out = [routed] if routed else []
    out += _framework_line(problem, cand) + _engine_line(problem, cand, target)
    base = target.base if cand.torch is not None and cand.torch.source == "base" else None
    if base is not None:
        from llmenv.plan.base import base_reasons

        out += base_reasons(cand, base)
    elif cand.torch is not None:
        out += _torch_lines(problem, cand, target)
    for opt in cand.options.values():
        if opt.package == "flash-attn":
            out += _successors(target)
        if opt.source != "base":
            out.append(_option_line(opt, cand, problem.builds, target))
    out.append(_python_line(problem, cand))
    for loc in problem.request.locals:
        local = cand.framework is not None and cand.framework.local and cand.framework.name == loc.name
        out.append(
            f"{loc.name} from {loc.path} as an editable path source (not a workspace member, so uv resolves only "
            "the extras you asked for)" + (" — its pins read statically from the tree" if local else "")
        )
    return out
