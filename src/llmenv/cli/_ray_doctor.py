"""``llmenv doctor --ray [ADDRESS]``: wiring and rendering (the logic is in ``llmenv.cluster``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmenv.cli._context import Context
from llmenv.errors import NoAnswer, UsageError

__all__ = ["add_ray_arguments", "plan_context", "render_lines", "run_ray"]

_MARK = {"ok": "ok", "warn": "warn", "fail": "FAIL"}


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (Ray)")
    g.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the probe on every alive node of a running Ray cluster (default address: auto) and show the "
        "nodes that differ; --project (or a project in the current folder) gives the plan and the lock to check",
    )
    g.add_argument(
        "--runtime-env",
        metavar="JSON|FILE",
        help='with --ray: run the probes under this Ray runtime environment, e.g. "$(llmenv ray-env)", to '
        "inspect the project's environment as each node builds it",
    )


def _runtime_env(value: str | None, cwd: Path) -> dict[str, Any] | None:
    if not value:
        return None
    text = value
    if not value.lstrip().startswith("{"):
        path = cwd / value
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(
                f"--runtime-env {value}: not JSON, and cannot read it as a file: {e.strerror}"
            ) from None
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise UsageError("--runtime-env: reading YAML needs PyYAML (Ray depends on it)") from None
            data = yaml.safe_load(text)
            if not isinstance(data, dict):
                raise UsageError(f"--runtime-env {value}: not a mapping")
            return data
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"--runtime-env: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageError("--runtime-env: expected a JSON object")
    return data


def plan_context(project: Path | None, environ: Mapping[str, str]) -> Any:
    """What the project planned: [tool.llmenv] target and policy, the build's architectures, and the lock."""
    from llmenv.cluster import PlanContext, build_archs
    from llmenv.lockfile import read_toml
    from llmenv.rayenv import build_variables
    from llmenv.target import Target

    if project is None:
        return PlanContext()
    doc = read_toml(project / "pyproject.toml")
    llm = doc.get("tool", {}).get("llmenv", {})
    target = None
    if isinstance(llm, dict) and isinstance(llm.get("target"), dict):
        try:
            target = Target.from_dict(llm["target"])
        except (KeyError, ValueError, TypeError, UsageError) as e:
            raise UsageError(f"[tool.llmenv] target is malformed: {e}") from None
    policy = str(llm.get("policy", "strict")) if isinstance(llm, dict) else "strict"
    archs, archs_from = build_archs(build_variables(doc))
    from llmenv.doctor import project_lock

    sets, error = project_lock(project, environ)
    if error:
        raise NoAnswer(
            f"cannot compare the nodes with the lock: {error}", hint="is uv.lock up to date? (`llmenv lock`)"
        )
    return PlanContext(
        target=target,
        policy=policy,
        archs=archs,
        archs_from=archs_from,
        lock=sets.known if sets else None,
        lock_required=sets.required if sets else None,
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def render_lines(report: Any) -> list[tuple[str, str | None]]:
    """The table and each node's problems, as (text, style) lines."""
    rows = [(r.node.label, r.gpus, r.driver, r.torch, r.flash_attn, _MARK[r.status]) for r in report.rows]
    out: list[tuple[str, str | None]] = []
    lines = _table(("NODE", "GPUS", "DRIVER", "TORCH", "FLASH-ATTN", "STATUS"), rows)
    out.append((lines[0], "head"))
    for line, r in zip(lines[1:], report.rows, strict=True):
        out.append((line, r.status))
    for r in report.rows:
        if not r.issues:
            continue
        out.append(("", None))
        out.append((f"{r.node.label} ({r.node.address}):", "head"))
        for i in r.issues:
            out.append((f"  {_MARK[i.status]:<4}  {i.check}: {i.text}", i.status))
    n = len(report.rows)
    out.append(("", None))
    out.append(
        (
            f"{n} node{'s' if n != 1 else ''}: {report.count('ok')} ok, {report.count('warn')} warn, "
            f"{report.count('fail')} fail",
            None,
        )
    )
    return out


def _project(args: argparse.Namespace, ctx: Context) -> Path | None:
    if args.project:
        root: Path = (ctx.cwd / str(args.project)).resolve()
        if not (root / "pyproject.toml").is_file():
            raise UsageError(f"--project {args.project}: no pyproject.toml there")
        return root
    return ctx.cwd if (ctx.cwd / "pyproject.toml").is_file() else None


def run_ray(
    args: argparse.Namespace,
    ctx: Context,
    *,
    probe_nodes: Callable[..., Any] | None = None,
) -> int:
    from llmenv.cluster import DEFAULT_TIMEOUT, analyze
    from llmenv.doctor import PROBE
    from llmenv.knowledge import load

    if args.from_probe or args.save_probe:
        raise UsageError("--ray cannot be combined with --from-probe or --save-probe")
    from llmenv.cli.doctor import parse_timeout

    timeout = parse_timeout(args.timeout, DEFAULT_TIMEOUT)
    runtime_env = _runtime_env(args.runtime_env, ctx.cwd)
    project = _project(args, ctx)
    from llmenv.cluster import resolve_address

    if probe_nodes is None:
        from llmenv.cluster import require_ray

        require_ray()  # before the address: without Ray next to llmenv, no cluster can be asked anything
    address = resolve_address(args.ray, ctx.environ)
    if probe_nodes is None:
        from llmenv.cluster import check_reachable
        from llmenv.cluster import probe_nodes as real_probe_nodes

        check_reachable(address)
        probe_nodes = real_probe_nodes
    plan = plan_context(project, ctx.environ)
    results = probe_nodes(
        address,
        timeout=timeout,
        runtime_env=runtime_env,
        probe_source=PROBE.read_text(encoding="utf-8"),
    )
    if not results:
        raise UsageError(f"the Ray cluster at {address} has no alive node")
    report = analyze(results, plan, load())
    if args.json:
        ctx.ui.json({"address": address, "project": str(project) if project else None, **report.to_dict()})
    else:
        where = f"; plan and lock of {project}" if project else ""
        ctx.ui.print(f"probed {len(results)} Ray node(s) at {address}{where}", style="head")
        for text, style in render_lines(report):
            ctx.ui.print(text, style=style)
    return 1 if report.failed else 0
