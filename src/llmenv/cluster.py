"""``llmenv doctor --ray``: the doctor's probe on every alive node of a Ray cluster, and which nodes differ.

Two halves:

* :func:`probe_nodes` — the only code that touches Ray (imported lazily). It connects, lists the alive nodes,
  and runs one task per node pinned with ``NodeAffinitySchedulingStrategy(node_id, soft=False)`` (``num_gpus``:
  all the node's GPUs, so the probe sees every device; ``num_cpus=0``, so a busy node still takes it). Each task
  runs the standalone probe (``llmenv/doctor/probe.py``, sent as text: llmenv need not be installed on the nodes)
  in a subprocess of the worker's interpreter. A node that does not answer within the timeout is reported and its
  task cancelled, never waited on.
* :func:`analyze` — pure: node results + what the project planned (``[tool.llmenv.target]``, the build's
  architectures, the lock exported as pylock.toml) -> a :class:`ClusterReport` with one row per node, the
  problems of each node, and the values in which a node differs from the rest of the cluster.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.version import InvalidVersion

from llmenv.cuda_arch import ArchCode, covers
from llmenv.errors import UsageError
from llmenv.knowledge import Knowledge
from llmenv.lockfile import Pylock
from llmenv.target import Target

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClusterReport",
    "Issue",
    "NodeResult",
    "NodeRow",
    "PlanContext",
    "analyze",
    "build_archs",
    "check_reachable",
    "probe_nodes",
    "require_ray",
    "resolve_address",
]

DEFAULT_TIMEOUT = 120.0  # seconds per node: a cold `import torch` on a network filesystem, and the probe's children
STATUSES = ("ok", "warn", "fail")


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True, kw_only=True)
class NodeResult:
    """What one node answered (``probe``), or why it did not (``status`` timeout | error)."""

    node_id: str
    address: str
    hostname: str
    is_head: bool
    gpus: float
    status: str  # answered | timeout | error
    probe: Mapping[str, Any] | None = None
    error: str | None = None
    seconds: float | None = None

    @property
    def label(self) -> str:
        name = self.hostname if self.hostname and self.hostname != self.address else self.address
        return f"{name} {self.node_id[:8]}{' (head)' if self.is_head else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "hostname": self.hostname,
            "is_head": self.is_head,
            "gpus": self.gpus,
            "status": self.status,
            "error": self.error,
            "seconds": self.seconds,
        }


@dataclass(frozen=True, kw_only=True)
class Issue:
    status: str  # warn | fail
    check: str  # driver | arch | lock | differs | probe | doctor
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status, "check": self.check, "text": self.text}


@dataclass(frozen=True, kw_only=True)
class NodeRow:
    node: NodeResult
    gpus: str  # "2x NVIDIA H200 (9.0)" | "none"
    driver: str  # "550.54.14 (CUDA 12.4)" | "none"
    torch: str  # "2.6.0+cu124 (CUDA 12.4)" | "not installed"
    flash_attn: str
    python: str
    values: Mapping[str, str]  # what is compared across nodes
    issues: tuple[Issue, ...]
    report: Mapping[str, Any] | None  # the doctor's findings on this node (Report.to_dict())

    @property
    def status(self) -> str:
        return max((i.status for i in self.issues), key=STATUSES.index, default="ok")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.node.to_dict(),
            "status": self.status,
            "answer": self.node.status,
            "gpus_found": self.gpus,
            "driver": self.driver,
            "torch": self.torch,
            "flash_attn": self.flash_attn,
            "python": self.python,
            "values": dict(self.values),
            "issues": [i.to_dict() for i in self.issues],
            "findings": self.report,
        }


@dataclass(frozen=True, kw_only=True)
class ClusterReport:
    rows: tuple[NodeRow, ...]
    reference: Mapping[str, str]  # the cluster's usual value of each compared key
    plan: Mapping[str, Any]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def failed(self) -> bool:
        return self.count("fail") > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [r.to_dict() for r in self.rows],
            "reference": dict(self.reference),
            "plan": dict(self.plan),
            **{s: self.count(s) for s in STATUSES},
        }


@dataclass(frozen=True, kw_only=True)
class PlanContext:
    """What the project planned, for judging every node: all optional."""

    target: Target | None = None
    policy: str = "strict"
    archs: tuple[ArchCode, ...] = ()  # what the build was compiled for (flash-attn build variables)
    archs_from: str | None = None
    lock: Pylock | None = None  # every group and extra (uv export --all-groups --all-extras)
    lock_required: Pylock | None = None  # what the project's own dependencies need (--no-default-groups)

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        return {
            "cuda": str(t.cuda) if t and t.cuda else None,
            "gpus": [g.cc for g in t.gpus] if t else [],
            "policy": self.policy,
            "archs": [a.name for a in self.archs],
            "archs_from": self.archs_from,
            "lock": self.lock is not None,
        }


def build_archs(variables: Mapping[str, str]) -> tuple[tuple[ArchCode, ...], str | None]:
    """The architectures a source build is compiled for, from its build variables: ``FLASH_ATTN_CUDA_ARCHS``
    (``80;90``) or ``TORCH_CUDA_ARCH_LIST`` (``8.0;9.0+PTX``)."""
    fa = variables.get("FLASH_ATTN_CUDA_ARCHS")
    if fa:
        codes = {ArchCode.parse(f"sm_{x.strip()}") for x in fa.replace(",", ";").split(";") if x.strip()}
        return tuple(sorted(c for c in codes if c)), "FLASH_ATTN_CUDA_ARCHS"
    tl = variables.get("TORCH_CUDA_ARCH_LIST")
    if tl:
        out: set[ArchCode] = set()
        for item in tl.replace(",", ";").replace(" ", ";").split(";"):
            item = item.strip()
            ptx = item.endswith("+PTX")
            item = item.removesuffix("+PTX")
            suffix = item[-1] if item[-1:] in ("a", "f") else ""
            try:
                major, minor = (int(x) for x in item.rstrip("af").split("."))
            except ValueError:
                continue
            out.add(ArchCode(capability=(major, minor), suffix=suffix))
            if ptx:
                out.add(ArchCode(capability=(major, minor), ptx=True))
        return tuple(sorted(out)), "TORCH_CUDA_ARCH_LIST"
    return (), None


# ---------------------------------------------------------------------------------------------- analysis


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _row(
    result: NodeResult, plan: PlanContext, kb: Knowledge, diagnose: Callable[..., Any], facts: Callable[..., Any]
) -> NodeRow:
    if result.probe is None:
        why = result.error or result.status
        issue = Issue(status="fail", check="probe", text=why)
        return NodeRow(
            node=result,
            gpus="?",
            driver="?",
            torch="?",
            flash_attn="?",
            python="?",
            values={},
            issues=(issue,),
            report=None,
        )
    probe = result.probe
    f = facts(probe, kb)
    report = diagnose(probe, kb=kb, python=str(_dict(probe.get("python")).get("executable") or "python"))
    # It answered, but crashed or hung on the way: judged on what it read, and failed.
    issues: list[Issue] = [Issue(status="fail", check="probe", text=result.error)] if result.error else []
    if probe.get("error"):
        issues.append(Issue(status="fail", check="probe", text=f"the probe failed: {probe['error']}"))
    for finding in report.findings:
        if finding.status == "fail":
            issues.append(Issue(status="fail", check=f"doctor:{finding.check}", text=finding.summary))
    counts = Counter(g.capability for g in f.gpus)
    names = {g.capability: g.name for g in f.gpus}
    gpus = ", ".join(f"{n}x {names[cc]} ({cc[0]}.{cc[1]})" for cc, n in sorted(counts.items()))
    driver = f"{f.driver} (CUDA {f.driver_cuda})" if f.driver and f.driver_cuda else (f.driver or "none")
    torch = _dict(probe.get("torch"))
    torch_text = (
        f"{torch.get('version')} (CUDA {torch.get('cuda') or 'none'})"
        if torch.get("version")
        else ("broken" if torch.get("installed") else "not installed")
    )
    installed = {str(k): str(v) for k, v in _dict(probe.get("distributions")).items()}
    fa = installed.get("flash-attn") or _dict(_dict(probe.get("packages")).get("flash-attn")).get("version")
    values = {
        "python": str(f.python or "?"),
        "driver": f.driver or "none",
        "gpus": ",".join(f"{a}.{b}" for a, b in sorted(counts)) or "none",
        "torch": str(torch.get("version") or "none"),
        "flash-attn": str(fa or "none"),
    }
    for name, version in installed.items():
        values[f"pkg:{name}"] = version

    # The plan's CUDA needs a driver at least this new (strict: Table 3; minor: the major's floor).
    t = plan.target
    if t is not None and t.cuda is not None:
        if f.driver and f.driver_cuda:
            try:
                ok = kb.cuda.runs(t.cuda, driver_cuda=f.driver_cuda, driver=f.driver, policy=plan.policy)
            except InvalidVersion:
                ok = True
            if not ok:
                need = kb.cuda.min_driver(t.cuda) or "?"
                issues.append(
                    Issue(
                        status="fail",
                        check="driver",
                        text=f"driver {f.driver} supports CUDA {f.driver_cuda}, older than the plan's CUDA {t.cuda} "
                        f"needs (driver >= {need})",
                    )
                )
        elif f.gpus:
            issues.append(Issue(status="fail", check="driver", text="GPUs but no NVIDIA driver found"))
    # Every GPU must be one the build was compiled for (the build's archs, else the planned target's GPUs).
    codes = plan.archs or tuple(ArchCode(capability=g.capability) for g in (t.gpus if t else ()))
    where = plan.archs_from or "the plan's target GPUs"
    for cc in sorted(counts):
        if codes and not covers(codes, cc):
            issues.append(
                Issue(
                    status="fail",
                    check="arch",
                    text=f"GPU compute capability {cc[0]}.{cc[1]} is not in the build ({where}: "
                    f"{' '.join(c.name for c in codes)})",
                )
            )
    # The lock: every locked package for this node's platform, at the locked version (the doctor's own rule).
    if plan.lock is not None:
        from llmenv.doctor.findings.lock import LockedSets, drift_issues, lock_drift

        markers = {str(k): str(v) for k, v in _dict(probe.get("markers")).items()}
        if markers:
            drifts = lock_drift(LockedSets(known=plan.lock, required=plan.lock_required), installed, markers)
            issues += [Issue(status=status, check="lock", text=text) for status, text in drift_issues(drifts)]
    fa_text = str(fa) if fa else "not installed"
    return NodeRow(
        node=result,
        gpus=gpus or "none",
        driver=driver,
        torch=torch_text,
        flash_attn=fa_text,
        python=str(f.python or "?"),
        values=values,
        issues=tuple(issues),
        report=report.to_dict(),
    )


def _reference(rows: Sequence[NodeRow]) -> dict[str, str]:
    """Each key's usual value: the most common one among the nodes that answered; a tie goes to the head node's
    value (where the job's driver usually runs), else to the first node's."""
    answered = [r for r in rows if r.values]
    order = sorted(answered, key=lambda r: (not r.node.is_head,))
    keys = sorted({k for r in answered for k in r.values})
    out: dict[str, str] = {}
    for key in keys:
        counts = Counter(r.values.get(key, "(missing)") for r in answered)
        best = max(counts.values())
        tied = [v for v, n in counts.items() if n == best]
        if len(tied) == 1:
            out[key] = tied[0]
        else:
            out[key] = next(r.values.get(key, "(missing)") for r in order if r.values.get(key, "(missing)") in tied)
    return out


def analyze(
    results: Sequence[NodeResult],
    plan: PlanContext,
    kb: Knowledge,
) -> ClusterReport:
    """Judge every node against the plan and against the rest of the cluster."""
    from llmenv.doctor.findings import diagnose, machine_facts

    rows = [_row(r, plan, kb, diagnose, machine_facts) for r in results]
    reference = _reference(rows) if sum(1 for r in rows if r.values) >= 2 else {}
    out: list[NodeRow] = []
    for row in rows:
        if not row.values:
            out.append(row)
            continue
        differs: list[Issue] = []
        packages: list[str] = []
        for key, usual in reference.items():
            mine = row.values.get(key, "(missing)")
            if mine == usual:
                continue
            if key.startswith("pkg:"):
                if key[4:] not in ("torch", "flash-attn"):  # those two have their own keys
                    packages.append(f"{key[4:]} {mine} (usual: {usual})")
                continue
            differs.append(Issue(status="warn", check="differs", text=f"{key} {mine} (the other nodes: {usual})"))
        if packages:
            shown = "; ".join(packages[:5]) + (f"; and {len(packages) - 5} more" if len(packages) > 5 else "")
            differs.append(
                Issue(status="warn", check="differs", text=f"{len(packages)} package(s) differ: {shown}")
            )
        out.append(replace(row, issues=row.issues + tuple(differs)) if differs else row)
    return ClusterReport(rows=tuple(out), reference=reference, plan=plan.to_dict())


# ---------------------------------------------------------------------------------------------- Ray


def _make_task(ray: Any) -> Any:
    """The remote function, defined here so that cloudpickle sends it by value: the nodes need no llmenv."""

    def llmenv_probe(source: str, timeout: float) -> dict[str, Any]:
        import os
        import socket
        import subprocess
        import sys

        try:
            p = subprocess.run(
                [sys.executable, "-c", source],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "LLMENV_PROBE_TIMEOUT": str(timeout)},  # bounds the probe's own children
            )
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = None, "", f"the probe did not finish within {timeout:.0f} s"
        except OSError as e:
            rc, out, err = None, "", f"cannot run {sys.executable}: {e}"
        return {
            "returncode": rc,
            "stdout": out[-4_000_000:],
            "stderr": err[-4000:],
            "hostname": socket.gethostname(),
            "executable": sys.executable,
            "pid": os.getpid(),
        }

    return ray.remote(max_retries=0)(llmenv_probe)


def _parse_answer(answer: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The probe output a node's task returned and, when the probe did not end well (it crashed, even after printing
    its result; it hung; it printed nothing), why: the doctor's own reading (``doctor.runner.read_run``)."""
    from llmenv.doctor.runner import ProbeRun, read_run

    code = answer.get("returncode")
    stderr = str(answer.get("stderr") or "")
    run = ProbeRun(
        returncode=code if isinstance(code, int) else None,
        stdout=str(answer.get("stdout") or ""),
        stderr=stderr,
        timed_out=code is None and "did not finish" in stderr,
        started=not (code is None and stderr.startswith("cannot run")),
    )
    executable = str(answer.get("executable") or "python")
    probe, problem = read_run(run, executable)
    if problem is None:
        return probe, None
    seen = [e for e in problem.evidence if e.startswith(("last step:", "stderr:"))][-2:]
    why = f"{problem.summary} in {executable}" + (f" ({'; '.join(seen)})" if seen else "")
    return probe, why


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    last = next((line for line in reversed(text) if line.strip()), "")
    return f"{type(e).__name__}: {last}"[:500]


def resolve_address(address: str | None, environ: Mapping[str, str], temp_dir: str = "/tmp/ray") -> str:
    """What ``ray.init(address="auto")`` would connect to: ``$RAY_ADDRESS``, else the cluster ``ray start`` last
    started on this machine (``/tmp/ray/ray_current_cluster``). UsageError when there is none."""
    if address and address != "auto":
        return address
    if environ.get("RAY_ADDRESS"):
        return environ["RAY_ADDRESS"]
    try:
        with open(f"{temp_dir}/ray_current_cluster", encoding="utf-8") as f:
            found = f.read().strip()
    except OSError:
        found = ""
    if not found:
        raise UsageError(
            "no Ray cluster to connect to: pass its address (--ray HOST:PORT) or set RAY_ADDRESS",
            hint="start one with `ray start --head`",
        )
    return found


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """Ray retries an unreachable address for minutes: fail fast, in one line, when nothing listens there."""
    import socket
    from urllib.parse import urlparse

    if "://" in address:
        p = urlparse(address)
        host, port = p.hostname, p.port
    else:
        host, _, port_text = address.rpartition(":")
        port = int(port_text) if port_text.isdigit() else None
    if not host or port is None:
        raise UsageError(f"not a Ray address: {address!r} (expected HOST:PORT, or ray://HOST:PORT)")
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def require_ray() -> Any:
    """The ray module, imported only now; a missing Ray is one line (exit 2).

    Ray >= 2.47 rewrites the runtime environment of a driver started under `uv run` (its uv hook: the driver's
    `uv run` command becomes every worker's, and the current folder is uploaded). ``llmenv doctor --ray`` run as
    `uv run llmenv ...` would then probe that environment instead of the one asked for (the workers' default, or
    ``--runtime-env``): the hook is turned off for this process, before Ray reads its settings at import."""
    import os

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        import sys

        raise UsageError(
            f"doctor --ray needs Ray: install Ray next to llmenv (in {sys.prefix}), at the cluster's Ray version: "
            f"`{sys.executable} -m pip install 'ray[default]==VERSION'` (or `uv tool install llmenv --with "
            "'ray[default]==VERSION'`)"
        ) from None
    return ray


def probe_nodes(
    address: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    runtime_env: Mapping[str, Any] | None = None,
    probe_source: str,
    ray_module: Any = None,
) -> list[NodeResult]:
    """Run the probe once on every alive node of the cluster at ``address`` (see :func:`resolve_address`)."""
    import signal

    ray = ray_module if ray_module is not None else require_ray()
    # ray.init() installs its own SIGTERM handler (sys.exit) in this process: llmenv's are put back afterwards.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _probe_nodes(ray, address, timeout=timeout, runtime_env=runtime_env, probe_source=probe_source)
    finally:
        for sig, handler in handlers.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, handler)


def _probe_nodes(
    ray: Any, address: str | None, *, timeout: float, runtime_env: Mapping[str, Any] | None, probe_source: str
) -> list[NodeResult]:
    import logging

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        ray.init(
            address=address,
            runtime_env=dict(runtime_env) if runtime_env else None,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    except Exception as e:  # ConnectionError, ValueError (bad address), RuntimeError...
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {_one_line(e)}") from None
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        task = _make_task(ray)
        pending: dict[Any, tuple[NodeResult, float]] = {}
        results: list[NodeResult] = []
        for n in nodes:
            resources = n.get("Resources") or {}
            gpus = float(resources.get("GPU", 0) or 0)
            node = NodeResult(
                node_id=str(n["NodeID"]),
                address=str(n.get("NodeManagerAddress") or "?"),
                hostname=str(n.get("NodeManagerHostname") or ""),
                is_head=any(str(k).startswith("node:__internal_head__") for k in resources),
                gpus=gpus,
                status="pending",
            )
            ref = task.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node.node_id, soft=False),
                num_cpus=0,
                num_gpus=int(gpus) if gpus >= 1 else gpus,
            ).remote(probe_source, max(1.0, timeout - 5.0))
            pending[ref] = (node, time.monotonic())
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done, _ = ray.wait(list(pending), num_returns=1, timeout=left)
            for ref in done:
                node, started = pending.pop(ref)
                seconds = round(time.monotonic() - started, 3)
                try:
                    answer = ray.get(ref)
                except Exception as e:  # the task failed: runtime env setup, a dead worker, ...
                    results.append(replace(node, status="error", error=_one_line(e), seconds=seconds))
                    continue
                probe, why = _parse_answer(answer)
                if node.hostname in ("", node.address):
                    node = replace(node, hostname=str(answer.get("hostname") or node.hostname))
                status = "answered" if probe is not None else "error"
                results.append(replace(node, status=status, probe=probe, error=why, seconds=seconds))
        for ref, (node, _started) in pending.items():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            why = f"no answer within {timeout:.0f} s (busy GPUs, a stuck worker, or a slow environment setup)"
            results.append(replace(node, status="timeout", error=why, seconds=timeout))
        return sorted(results, key=lambda r: (not r.is_head, r.address, r.node_id))
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
