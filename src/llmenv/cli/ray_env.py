"""``llmenv ray-env``: print a Ray runtime environment that runs every worker in the project's locked environment."""

from __future__ import annotations

import argparse
import json

from llmenv.cli._context import Context

HELP = (
    "Print a Ray runtime environment (JSON, or YAML) under which every Ray worker runs inside the project's "
    "locked uv environment: the project as working_dir, `uv run --frozen ... python` as py_executable (Ray >= "
    "2.43), and the environment variables the plan needs. Pass it to `ray job submit --runtime-env-json`, "
    "`--runtime-env FILE.yaml`, or `ray.init(runtime_env=...)` (docs/ray.md). Options after `--` go to `uv run`."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", metavar="DIR", default=".", help="the project folder (default: the current one)")
    p.add_argument("--format", choices=("json", "yaml"), default="json", help="output format (default: json)")
    p.add_argument(
        "--uv",
        metavar="PATH",
        default="uv",
        help="the uv the workers run (default: `uv` on the workers' PATH)",
    )
    p.add_argument(
        "--python",
        metavar="VERSION",
        help="the Python the cluster runs, for `uv run --python` (default: the project's .venv, "
        ".python-version, or the planned target's)",
    )
    p.add_argument(
        "--uv-cache-dir",
        metavar="DIR",
        help="UV_CACHE_DIR for the workers: a local disk on each node (default: $UV_CACHE_DIR when set)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="`uv run --offline`: the nodes install from their uv cache or a wheelhouse (llmenv wheelhouse)",
    )
    p.add_argument(
        "--shared",
        action="store_true",
        help="the project folder is on a filesystem every node mounts at the same path: run its synced .venv "
        "directly (no upload, no uv on the workers)",
    )
    p.add_argument("uv_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from llmenv.errors import UsageError
    from llmenv.rayenv import RayEnvOptions, ray_env, to_yaml

    extra = list(args.uv_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if extra and args.shared:
        raise UsageError("`uv run` options make no sense with --shared (the workers do not run uv)")
    opts = RayEnvOptions(
        uv=args.uv,
        python=args.python,
        uv_cache_dir=args.uv_cache_dir,
        shared=args.shared,
        offline=args.offline,
        uv_args=tuple(extra),
    )
    env = ray_env(ctx.cwd / args.project, opts, environ=ctx.environ)
    if args.format == "yaml":
        ctx.ui.out.write(to_yaml(env.runtime_env))
    else:
        ctx.ui.out.write(json.dumps(env.runtime_env, indent=2) + "\n")
    ctx.ui.eprint(f"llmenv: ray {env.ray_version} (from {env.ray_from}) supports py_executable", style="dim")
    for note in env.notes:
        ctx.ui.eprint(f"llmenv: note: {note}", style="dim")
    return 0
