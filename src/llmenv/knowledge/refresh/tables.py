"""``llmenv kb refresh``: every refreshable table from its own source, each all or nothing.

Order: the pins (PyPI) first — the engine pins are derived from them, and the torch table takes its torchvision /
torchaudio pairing from them — then torch (the PyTorch index + PyPI), then flash-attn (the GitHub releases API).
A table whose source fails (unreachable, an HTTP error after the retries, a page that is not what it should be)
is not refreshed: the reason is reported, and the table in use stays. Nothing is written here: the caller writes
the tables that were refreshed (atomically) once every read is over, so an interrupted refresh writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from llmenv.files import write_text_atomic
from llmenv.knowledge import Knowledge
from llmenv.knowledge._json import dumps
from llmenv.knowledge._store import TABLES
from llmenv.knowledge.pins import Pins
from llmenv.knowledge.refresh._pool import Pool
from llmenv.pypi import BadDistribution, PyPIClient, PyPIError

__all__ = ["ORDER", "Outcome", "Sources", "refresh_tables", "write_table"]

ORDER = ("pins", "engines", "torch", "flash-attn")
_FAILURES = (PyPIError, httpx.HTTPError, BadDistribution, ValueError, KeyError, TypeError, OSError)


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Clients for each source (built by the CLI: timeouts, retries, cache, mirrors)."""

    pypi: PyPIClient
    torch_index: PyPIClient | None  # None: --torch-index pypi (PyPI only; the index's variants kept)
    torch_source: Any  # llmenv.knowledge.refresh.torch.TorchSource | None
    github: PyPIClient
    github_proxy: str | None = None
    github_token: str | None = None
    jobs: int = 8
    reread: bool = False


@dataclass(frozen=True, kw_only=True)
class Outcome:
    name: str
    data: dict[str, Any] | None  # the new table; None: not refreshed
    why: str | None = None  # why not
    summary: str = ""
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    partial: bool = False  # --check only: the torch table's PyPI part (the index was not reachable)

    @property
    def ok(self) -> bool:
        return self.data is not None


@dataclass
class _Run:
    sources: Sources
    kb: Knowledge
    now: datetime
    progress: Any
    check: bool
    new_pins: Pins | None = None
    done: dict[str, Outcome] = field(default_factory=dict)


def _why(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _pins(run: _Run) -> Outcome:
    from llmenv.kb import refresh

    result = refresh(run.sources.pypi, jobs=run.sources.jobs, progress=run.progress, now=lambda: run.now)
    if result.snapshot is None:
        failed = "; ".join(f"{n}: {w}" for n, w in sorted(result.failures.items()))
        return Outcome(name="pins", data=None, why=failed, warnings=result.warnings)
    run.new_pins = Pins.from_dict(result.snapshot, origin="file")
    st = result.stats
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(st["sources"].items())) or "none fetched"
    summary = (
        f"{len(result.snapshot['packages'])} packages, {result.releases} releases from {run.sources.pypi.index_url} "
        f"({st['requests']} requests; metadata: {kinds}; {st['metadata_cached']} from cache)"
    )
    return Outcome(name="pins", data=result.snapshot, summary=summary, warnings=result.warnings)


def _engines(run: _Run) -> Outcome:
    from llmenv.knowledge.refresh.engines import build

    if run.new_pins is None:
        return Outcome(name="engines", data=None, why="derived from the pins, which were not refreshed")
    table = build(run.new_pins, now=run.now)
    e = table["engines"]
    return Outcome(
        name="engines",
        data=table,
        summary=f"{len(e['vllm'])} vllm and {len(e['sglang'])} sglang releases, from the pins just read",
    )


def _companions(run: _Run) -> Pins:
    return run.new_pins if run.new_pins is not None else run.kb.pins


def _torch(run: _Run, *, index: bool = True) -> Outcome:
    from llmenv.knowledge.refresh.torch import Inputs, build_torch_table

    pins = _companions(run)
    s = run.sources
    inputs = Inputs(
        pypi=s.pypi,
        index=s.torch_index if index else None,
        source=s.torch_source if index else None,
        old=run.kb.raw("torch"),
        torchvision=pins.releases("torchvision"),
        torchaudio=pins.releases("torchaudio"),
        cuda_versions=[str(c) for c, _ in run.kb.cuda.toolkits]
        + [str(u.cuda) for u in run.kb.cuda.unknown_floors],
        reread=s.reread,
        now=run.now,
    )
    with Pool(s.jobs, name="llmenv-kb-torch") as pool:
        table, notes = build_torch_table(inputs, pool)
    rels = table["releases"]
    builds = sum(
        len(p.get("variants", {})) + len(p.get("rocm", {})) for r in rels for p in r["platforms"].values()
    )
    where = f"the PyTorch index {s.torch_source.template} and PyPI" if inputs.index else "PyPI only"
    summary = f"{len(rels)} releases, {builds} index builds (all platforms) from {where}"
    return Outcome(name="torch", data=table, summary=summary, notes=tuple(notes), partial=not inputs.index)


def _flash_attn(run: _Run) -> Outcome:
    from llmenv.knowledge.refresh.flash_attn import build_flash_attn_table, read_releases, releases_url

    s = run.sources
    api = read_releases(s.github, proxy=s.github_proxy, token=s.github_token)
    read_from = releases_url(s.github_proxy, 1).split("?")[0]
    table, notes = build_flash_attn_table(
        run.kb.raw("flash-attn"),
        api,
        pypi=_companions(run).releases("flash-attn"),
        guess=_nvcc_guess(run),
        read_from=read_from,
        now=run.now,
    )
    from llmenv.knowledge.flash_attn import FlashAttnTable

    FlashAttnTable.from_dict(table)  # what the loader would read
    wheels = sum(1 for r in table["releases"] if r["builds"])
    summary = f"{len(table['releases'])} releases ({wheels} with prebuilt wheels) from {read_from}"
    return Outcome(name="flash-attn", data=table, summary=summary, notes=tuple(notes))


def _nvcc_guess(run: _Run) -> Callable[[int, Sequence[str]], str]:
    """For a flash-attn build line whose nvcc nobody recorded: the newest CUDA of that major among the Linux
    x86_64 torch builds (PyPI's and the index's) of those torch minors; else the newest the CUDA table knows."""
    from llmenv.knowledge import TorchTable

    done = run.done.get("torch")
    torch = TorchTable.from_dict(done.data) if done is not None and done.data else run.kb.torch_table
    by_minor: dict[tuple[str, int], Any] = {}
    for r in torch.releases:
        mm = f"{r.version.major}.{r.version.minor}"
        x86 = r.on("linux", "x86_64")
        cudas = [r.pypi_cuda] + [v.backend.cuda_version for v in (x86.variants.values() if x86 else ())]
        for c in cudas:
            if c is not None and ((mm, c.major) not in by_minor or c > by_minor[(mm, c.major)]):
                by_minor[(mm, c.major)] = c
    table = [c for c, _ in run.kb.cuda.toolkits] + [u.cuda for u in run.kb.cuda.unknown_floors]

    def guess(major: int, mms: Sequence[str]) -> str:
        found = [by_minor[(mm, major)] for mm in mms if (mm, major) in by_minor]
        pool = found or [c for c in table if c.major == major]
        return str(max(pool)) if pool else f"{major}.0"

    return guess


_STEPS: dict[str, Callable[[_Run], Outcome]] = {
    "pins": _pins,
    "engines": _engines,
    "torch": _torch,
    "flash-attn": _flash_attn,
}


def refresh_tables(
    sources: Sources,
    kb: Knowledge,
    *,
    tables: Sequence[str] = ORDER,
    progress: Any = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    check: bool = False,
) -> list[Outcome]:
    """Refresh ``tables`` (in ORDER) from their sources; a failing source fails its table only.

    ``check``: the torch table is built from PyPI alone when the PyTorch index cannot be read (a partial check).
    KeyboardInterrupt passes through (nothing has been written)."""
    run = _Run(sources=sources, kb=kb, now=now(), progress=progress, check=check)
    out = []
    for name in ORDER:
        if name not in tables:
            continue
        try:
            outcome = _STEPS[name](run)
        except _FAILURES as e:
            outcome = Outcome(name=name, data=None, why=_why(e))
            if name == "torch" and check and sources.torch_index is not None:
                outcome = _torch_pypi_only(run, outcome)
        run.done[name] = outcome
        out.append(outcome)
    return out


def _torch_pypi_only(run: _Run, failed: Outcome) -> Outcome:
    try:
        got = _torch(run, index=False)
    except _FAILURES as e:
        return Outcome(name="torch", data=None, why=f"{failed.why}; PyPI: {_why(e)}")
    note = f"the PyTorch index could not be read ({failed.why}): only the PyPI part is checked"
    return Outcome(name="torch", data=got.data, summary=got.summary, notes=(note, *got.notes), partial=True)


def write_table(folder: Path, name: str, data: dict[str, Any]) -> Path:
    """Write one table atomically into ``folder``."""
    path = folder / TABLES[name].file
    if name == "pins":
        from llmenv.kb import write_snapshot

        write_snapshot(path, data)
    else:
        write_text_atomic(path, dumps(data))
    return path
