"""Best-first search over whole stacks: framework -> engine -> torch x variant -> Python -> extension options.

Each level walks its part in ranking order (``ranking.py``) and tests it with the constraints
(``constraints.py``), narrowing the Pythons the candidate can still have; the first complete candidate found is
therefore the best one. Rank key 1 (no source build when any candidate avoids one) spans the levels: the search
first runs with prebuilt options only, noting each part that only a build would make work (with how to take it),
and only when no candidate is found runs again with builds allowed.

A part that fails is reported once, at the level where it was tried, with its first failing fact; a part all of
whose children failed is reported with its best child's reason ("vllm 0.9.0.1: pins torch==2.7.0 ...").
Feedback from uv (``problem.Feedback``) excludes candidates, lowers their Python cap or relaxes framework pins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from llmenv.backend import Backend
from llmenv.knowledge import TorchRelease
from llmenv.plan import constraints as c
from llmenv.plan.candidates import (
    KNOWN_PYTHONS,
    RANGE_PYTHONS,
    Candidate,
    EnginePick,
    FrameworkPick,
    ReleaseLike,
    Requirements,
    TorchPick,
    constraint_extras,
    extras_of,
    framework_releases,
    installable_pythons,
    python_markers_split,
    release_of,
    release_requirements,
    spec_of,
    within,
)
from llmenv.plan.extensions import EXTENSIONS, TUNED_BUILDS, ExtensionOption, TorchBuild
from llmenv.plan.model import TORCH_FAMILY, Rejection
from llmenv.plan.overrides import relaxations
from llmenv.plan.platform import abi_of, pypi_gpu_problem, pythons_of, torch_variants
from llmenv.plan.problem import EngineAsk, Feedback, Problem
from llmenv.plan.pyrange import Part, walk
from llmenv.plan.ranking import order_options, order_torch, rank_key
from llmenv.plan.reasons import (
    TorchFail,
    held,
    option_pins,
    option_rejections,
    requires_of,
    torch_rejections,
)

__all__ = ["Outcome", "search"]

_ANY = SpecifierSet()  # no requirement (never modified: ``&`` makes a new set)
# A binary requirement to check for wheels: package, versions, where the project writes it ("" for a chosen
# release's requirement), and the Pythons where its marker does not hold.
_Bin = tuple[str, SpecifierSet, str, frozenset[str]]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The winner (None: no candidate) and every part not chosen, with why."""

    winner: Candidate | None
    rejected: tuple[Rejection, ...]
    builds_allowed: bool = False


def search(problem: Problem, feedback: Feedback | None = None) -> Outcome:
    """The best candidate under the constraints and the ranking (prebuilt-only first, then with builds)."""
    fb = feedback or Feedback()
    for allow_builds in (False, True):
        s = _Search(problem, fb, allow_builds=allow_builds)
        winner = s.run()
        if winner is not None or allow_builds:
            rejected = list(s.rejected)
            if winner is not None:
                rejected += option_rejections(problem, winner, s.option_list)
            return Outcome(winner=winner, rejected=tuple(rejected), builds_allowed=allow_builds)
    raise AssertionError("unreachable")


@dataclass
class _Fail:
    """Why a subtree found nothing: its best child's rejection; ``ranking``: only a build was missing."""

    rejection: Rejection
    ranking: bool = False


@dataclass
class _Ctx:
    """The parts chosen on the way down, and the Pythons still possible (in preference order)."""

    pythons: tuple[str, ...]
    framework: FrameworkPick | None = None
    engine: EnginePick | None = None
    fw_reqs: Requirements = field(default_factory=dict)
    engine_reqs: Requirements = field(default_factory=dict)
    torch_pin: SpecifierSet = field(default_factory=SpecifierSet)


def _best(fails: Sequence[_Fail]) -> _Fail | None:
    """A child that only lacked a build is the most useful reason; else the first (best-ranked) one."""
    return next((f for f in fails if f.ranking), fails[0] if fails else None)


class _Search:
    def __init__(self, problem: Problem, feedback: Feedback, *, allow_builds: bool) -> None:
        self.p = problem
        self.fb = feedback
        self.allow_builds = allow_builds
        self.relaxing = (
            False  # --allow-overrides: a framework release's pins are relaxed only when they block
        )
        self.rejected: list[Rejection] = []
        self._envs: dict[str, dict[str, str]] = {}
        self._narrowed: dict[tuple[int, tuple[str, ...]], tuple[str, ...] | Rejection] = {}
        self._dep: dict[tuple[str, str], tuple[set[str], Iterator[ReleaseLike]] | None] = {}
        self._options: dict[tuple[str, TorchBuild], list[ExtensionOption]] = {}
        self._held_bins: list[_Bin] | None = None
        self._watched: frozenset[str] | None = None  # packages you pinned or the project bounds
        self._groups: dict[
            tuple[int, tuple[str, ...], tuple[str, ...]],
            tuple[ReleaseLike, list[tuple[tuple[str, ...], Requirements]]],
        ] = {}

    # ------------------------------------------------------------------------------------------ helpers

    def env(self, python: str) -> dict[str, str]:
        got = self._envs.get(python)
        if got is None:
            got = self._envs[python] = self.p.target.with_(python=python).marker_environment()
        return got

    def narrow(
        self, name: str, release: ReleaseLike, pythons: tuple[str, ...]
    ) -> tuple[str, ...] | Rejection:
        """The Pythons among ``pythons`` the release installs on (its requires-python and wheel tags)."""
        key = (id(release), pythons)
        got = self._narrowed.get(key)
        if got is None:
            got = self._narrowed[key] = self._narrow(name, release, pythons)
        return got

    def _narrow(
        self, name: str, release: ReleaseLike, pythons: tuple[str, ...]
    ) -> tuple[str, ...] | Rejection:
        v = str(release.version)
        rp = release.requires_python
        kept = tuple(py for py in pythons if rp is None or rp.contains(f"{py}.0", prereleases=True))
        if not kept:
            why = c.python_range(name, v, rp, pythons[0])
            assert why is not None
            return why
        have = installable_pythons(release, self.p.target, kept)
        out = tuple(py for py in kept if py in have)
        if out:
            return out
        every = installable_pythons(release, self.p.target, KNOWN_PYTHONS)
        why = c.wheel_python(name, v, every, kept[0], self.p.target)
        assert why is not None
        return why

    def dep_pythons(self, bins: Sequence[_Bin], pythons: tuple[str, ...]) -> tuple[str, ...] | Rejection:
        """Narrow ``pythons`` to those where every binary requirement (ray, tensordict, xformers, ...) has a
        release with wheels; the requirement that leaves none is the rejection (a project's line is cited)."""
        for name, spec, location, exempt in bins:
            got = self._requirement_pythons(name, spec, pythons)
            if got is None:
                continue
            kept = tuple(py for py in pythons if py in got or py in exempt)
            if not kept:
                have = sorted(self._requirement_pythons(name, spec, KNOWN_PYTHONS) or (), key=Version)
                span = f"Python {have[0]}–{have[-1]}" if have else "no Python"
                where = f" ({location})" if location else ""
                return Rejection(
                    package=name,
                    version=str(c.exact_pin(spec) or spec or "any"),
                    reason=f"{name}{spec}{where} ships wheels for {span} only on {self.p.target.os} "
                    f"{self.p.target.arch} (no sdist); the target has {pythons[0]}",
                    kind="pin" if where else "fact",
                )
            pythons = kept
        return pythons

    def _binary_requirements(self, reqs: Requirements) -> list[_Bin]:
        skip = {*TORCH_FAMILY, *EXTENSIONS}
        skip |= {a.name for a in (self.p.framework, self.p.engine) if a is not None}
        return [(name, spec_of(reqs, name), "", frozenset()) for name in reqs if name not in skip]

    def held_binaries(self) -> list[_Bin]:
        """The project's own requirement lines on binary packages the plan does not choose, one per line (an
        extra's line is not merged with another's): each must have wheels for the Pythons the plan covers where
        its marker holds. A line whose range holds no release llmenv knows is left to uv."""
        if self._held_bins is None:
            skip = {*TORCH_FAMILY, *EXTENSIONS}
            skip |= {a.name for a in (self.p.framework, self.p.engine) if a is not None}
            out: list[_Bin] = []
            seen: set[tuple[str, str, frozenset[str]]] = set()
            for line in self.p.held.lines:
                name, spec = line.package, line.spec
                if name in skip or self._requirement_pythons(name, spec, ()) is None:
                    continue
                exempt = frozenset(q for q in RANGE_PYTHONS if not line.applies(self.env(q)))
                key = (name, str(spec), exempt)
                known = c.exact_pin(spec) is not None or next(within(self.p.pins(name), spec), None) is not None
                if key in seen or not known:
                    continue
                seen.add(key)
                out.append((name, spec, line.location, exempt))
            self._held_bins = out
        return self._held_bins

    def _requirement_pythons(self, name: str, spec: SpecifierSet, needed: Sequence[str]) -> set[str] | None:
        """The Pythons some release of ``name`` within ``spec`` installs on — read newest first, only as far as
        ``needed`` asks (the set found so far is kept for the next question); None when the files are unknown."""
        key = (name, str(spec))
        if key not in self._dep:
            pinned = c.exact_pin(spec)
            releases: Iterable[ReleaseLike]
            if pinned is not None:  # one exact pin: that release alone, without the package's history
                one = release_of(self.p.pins, name, pinned)
                releases = [one] if one is not None else []
            else:
                releases = self.p.pins(name)
            first = next(iter(releases), None)
            if first is None or not getattr(first, "files_known", False):
                self._dep[key] = None
            else:
                wanted = (r for r in within(releases, spec) if not r.yanked)
                self._dep[key] = (set(), iter(wanted))
        state = self._dep[key]
        if state is None:
            return None
        covered, rest = state
        while not set(needed) <= covered:
            rel = next(rest, None)
            if rel is None:
                break
            covered.update(installable_pythons(rel, self.p.target, KNOWN_PYTHONS))
        return covered

    def groups(
        self, release: ReleaseLike, extras: Sequence[str], pythons: tuple[str, ...]
    ) -> list[tuple[tuple[str, ...], Requirements]]:
        """The release's requirements on the target, per group of Pythons its markers treat alike (worked out
        once per search: an engine release is reached from every framework release that pins it)."""
        key = (id(release), tuple(extras), pythons)
        got = self._groups.get(key)
        if got is not None and got[0] is release:
            return got[1]
        out = self._groups_of(release, extras, pythons)
        self._groups[key] = (release, out)
        return out

    def _groups_of(
        self, release: ReleaseLike, extras: Sequence[str], pythons: tuple[str, ...]
    ) -> list[tuple[tuple[str, ...], Requirements]]:
        if not python_markers_split(release):
            return [(pythons, release_requirements(release, extras, self.env(pythons[0])))]
        out: list[tuple[tuple[str, ...], Requirements]] = []
        for py in pythons:
            reqs = release_requirements(release, extras, self.env(py))
            for i, (group, seen) in enumerate(out):
                if seen == reqs:
                    out[i] = ((*group, py), seen)
                    break
            else:
                out.append(((py,), reqs))
        return out

    def banned(self, name: str, version: object) -> Rejection | None:
        """A release uv failed on (the closed loop's feedback): no candidate takes it again."""
        why = self.fb.banned.get((name, str(version)))
        if why is None:
            return None
        return Rejection(package=name, version=str(version), reason=f"uv lock failed: {why}", kind="uv")

    def held(self, name: str, version: object) -> Rejection | None:
        """A release the project's own requirements exclude (``excluded by project.dependencies[0]: ...``)."""
        why = self.p.held.check(name, str(version))
        if why is None:
            return None
        return Rejection(package=name, version=str(version), reason=why, kind="pin")

    def clash(self, name: str, version: str, reqs: Requirements, *, itself: bool = False) -> Rejection | None:
        """A release's requirement on a package you pinned (or the project bounds) otherwise. Only the packages
        pinned or bounded are looked at: a release's other requirements cannot clash."""
        if self._watched is None:
            self._watched = frozenset(self.p.user) | frozenset(self.p.held.bounds)
        theirs = {n: spec_of(reqs, n) for n in reqs if (itself or n != name) and n in self._watched}
        if not theirs:
            return None
        return c.pin_clash(name, version, theirs, self.p.user) or self.held_clash(name, version, theirs)

    def held_clash(self, name: str, version: str, theirs: Mapping[NormalizedName, SpecifierSet]) -> Rejection | None:
        """A release that requires a version of a package the project bounds otherwise."""
        for n, spec in theirs.items():
            b = self.p.held.clash(n, spec)
            if b is not None:
                why = f"requires {n}{spec} ({b.reason})"
                return Rejection(package=name, version=version, reason=why, kind="pin")
        return None

    def pin(self, reqs: Requirements, name: str) -> SpecifierSet:
        """A framework's requirement on ``name``; empty while its pins are being relaxed (--allow-overrides,
        when no candidate honours them) or when uv named that pin in a conflict."""
        if self.relaxing or name in self.fb.relax or name not in reqs:
            return _ANY
        return spec_of(reqs, name)

    # ----------------------------------------------------------------------------------------- the levels

    def run(self) -> Candidate | None:
        refusal = c.gpu_driver(self.p.kb, self.p.target)
        if refusal is not None:
            self.rejected.append(refusal)
            return None
        ctx = _Ctx(pythons=self.p.pythons)
        if self.p.framework is not None:
            return self.frameworks(ctx)
        if self.p.engine is not None:
            got = self.engines(ctx, top=True)
        elif self.p.wants_torch:
            got = self.torch_level(ctx, top=True)
        else:
            got = self.python_level(ctx, None)
        if isinstance(got, _Fail) and not self.rejected:
            self.rejected.append(got.rejection)
        return got if isinstance(got, Candidate) else None

    def frameworks(self, ctx: _Ctx) -> Candidate | None:
        ask = self.p.framework
        assert ask is not None
        for rel in framework_releases(ask.releases, ask.spec):
            lacking = [
                e for e in ask.extras if extras_of(rel) and e not in set(map(str.lower, extras_of(rel)))
            ]
            if lacking:
                self.rejected.append(
                    Rejection(
                        package=ask.name,
                        version=str(rel.version),
                        reason=f"has no extra {', '.join(lacking)}",
                    )
                )
                continue
            pythons = (
                self.held(ask.name, rel.version)
                or self.banned(ask.name, rel.version)
                or self.narrow(ask.name, rel, ctx.pythons)
            )
            if isinstance(pythons, Rejection):
                self.rejected.append(pythons)
                continue
            pick = FrameworkPick(name=ask.name, release=rel, extras=ask.extras, local=ask.local is not None)
            got = self.framework_release(ctx, pick, pythons)
            if isinstance(got, Candidate):
                return got
            self.rejected.append(got.rejection)
        return None

    def framework_release(
        self, ctx: _Ctx, pick: FrameworkPick, pythons: tuple[str, ...]
    ) -> Candidate | _Fail:
        """One framework release: the best candidate over its groups of Pythons (rank_key), or why none."""
        engine = self.p.engine
        extras = constraint_extras(
            pick.release, pick.extras, engine.name if engine else None, bool(engine and engine.given)
        )
        winners: list[Candidate] = []
        fails: list[_Fail] = []
        saved = len(self.rejected)
        for relaxing in (False, True) if self.p.allow_overrides else (False,):
            self.relaxing = relaxing
            for group, reqs in self.groups(pick.release, extras, pythons):
                got = self.framework_group(replace(ctx, pythons=group, framework=pick, fw_reqs=reqs))
                if isinstance(got, Candidate):
                    winners.append(got)
                else:
                    fails.append(got)
            if winners:
                break
            if not relaxing:
                del self.rejected[saved:]
        self.relaxing = False
        if winners:
            return min(winners, key=lambda w: rank_key(w, self.p.preferred_python))
        del self.rejected[saved:]  # the children's lines fold into this release's one line
        fail = _best(fails)
        assert fail is not None
        return self._fold(pick.name, str(pick.version), fail)

    def _fold(self, name: NormalizedName, version: str, fail: _Fail) -> _Fail:
        r = fail.rejection
        if r.package == name and r.version == version:
            return fail
        if r.package in ("python", "candidate"):
            reason = r.reason
        elif r.package == "torch":  # reads on after the release: "vllm 0.22.1 with torch 2.11.0 (cu130 needs ...)"
            reason = f"with torch {r.version} ({r.reason})"
        else:
            reason = f"{r.package} {r.version}: {r.reason}"
        take = None
        if fail.ranking:
            builds = " ".join(f"--build {n}" for n in TUNED_BUILDS if f"a {n} source build" in r.reason)
            take = f"ask for {name}=={version}" + (f", or {builds}" if builds else "")
        rejection = Rejection(package=name, version=version, reason=reason, kind=r.kind, take=take)
        return _Fail(rejection=rejection, ranking=fail.ranking)

    def framework_group(self, ctx: _Ctx) -> Candidate | _Fail:
        assert ctx.framework is not None
        name, v = ctx.framework.name, str(ctx.framework.version)
        if not self.relaxing:
            clash = self.clash(name, v, ctx.fw_reqs)
            if clash is not None:
                return _Fail(rejection=clash)
        engine = self.p.engine
        if engine is not None and engine.name not in ctx.fw_reqs and not engine.given and not self.relaxing:
            why = f"has no {engine.name} dependency for extras {list(ctx.framework.extras)}"
            return _Fail(rejection=Rejection(package=name, version=v, reason=why))
        if self.p.target.base is not None:
            from llmenv.plan.base import pin_problem

            base_pin = pin_problem(self.p.target.base, ctx.fw_reqs)
            if base_pin is not None:
                return _Fail(rejection=Rejection(package=name, version=v, reason=base_pin, kind="pin"))
        if engine is not None:
            return self.engines(ctx, top=False)
        return self.torch_level(ctx, top=False)

    def engines(self, ctx: _Ctx, *, top: bool) -> Candidate | _Fail:
        ask = self.p.engine
        assert ask is not None
        fw_spec = self.pin(ctx.fw_reqs, ask.name)
        fails: list[_Fail] = []
        for rel in within(self.p.pins(ask.name), fw_spec & ask.spec, prereleases=None):
            if rel.yanked or not (ask.spec.contains(rel.version) and fw_spec.contains(rel.version)):
                continue
            got = self.engine_release(ctx, ask, rel)
            if isinstance(got, Candidate):
                return got
            fails.append(got)
            if top:
                self.rejected.append(got.rejection)
        fail = _best(fails)
        if fail is not None:
            if ctx.framework is not None and str(fw_spec):
                r = fail.rejection
                folded = replace(
                    r,
                    reason=f"needs {ask.name}{fw_spec} → {r.package} {r.version} {r.reason}",
                    package=ctx.framework.name,
                    version=str(ctx.framework.version),
                )
                return _Fail(rejection=folded, ranking=fail.ranking)
            return fail
        want = " and ".join(str(s) for s in (ask.spec, fw_spec) if str(s))
        what = f"{ask.name}{want}" if want else ask.name
        why = Rejection(
            package=ask.name,
            version=want or "any",
            reason=f"needs {what}, and no such release is known",
            kind="pin",
        )
        if top:
            self.rejected.append(why)
        return _Fail(rejection=why)

    def engine_release(self, ctx: _Ctx, ask: EngineAsk, rel: ReleaseLike) -> Candidate | _Fail:
        v = str(rel.version)
        pythons = self.held(ask.name, rel.version) or self.banned(ask.name, v) or self.narrow(ask.name, rel, ctx.pythons)
        if isinstance(pythons, Rejection):
            return _Fail(rejection=pythons)
        extras = ask.extras or tuple(sorted({e for r in ctx.fw_reqs.get(ask.name, ()) for e in r.extras}))
        winners: list[Candidate] = []
        fails: list[_Fail] = []
        for group, reqs in self.groups(rel, extras, pythons):
            got = self.engine_group(replace(ctx, pythons=group), ask, rel, extras, reqs)
            if isinstance(got, Candidate):
                winners.append(got)
            else:
                fails.append(got)
        if winners:
            return min(winners, key=lambda w: rank_key(w, self.p.preferred_python))
        fail = _best(fails)
        assert fail is not None
        return self._fold(ask.name, v, fail)

    def engine_group(
        self, ctx: _Ctx, ask: EngineAsk, rel: ReleaseLike, extras: tuple[str, ...], reqs: Requirements
    ) -> Candidate | _Fail:
        name, v = ask.name, str(rel.version)
        got = self.engine_torch(name, v, reqs, ctx)
        if isinstance(got, _Fail):
            return got
        torch, torch_pin = got
        problem = c.engine_build_cuda(self.p.kb, self.p.target, name, v, torch, self.p.policy, self.p.listings)
        if problem is not None:
            return _Fail(rejection=problem)
        if ctx.framework is not None and not self.relaxing:
            for n in sorted(set(ctx.fw_reqs) & set(reqs) - {"torch"}):
                a, b = spec_of(ctx.fw_reqs, n), spec_of(reqs, n)
                if not c.compatible(a, b):
                    fw = f"{ctx.framework.name} {ctx.framework.version}"
                    why = f"requires {n}{b}, but {fw} requires {n}{a}"
                    return _Fail(rejection=Rejection(package=name, version=v, reason=why, kind="pin"))
        clash = self.clash(name, v, reqs, itself=True)
        if clash is not None:
            return _Fail(rejection=clash)
        pythons = ctx.pythons
        if self.p.target.is_rocm and name == "vllm":
            got_py = self.rocm_pythons(name, v, pythons)
            if isinstance(got_py, Rejection):
                return _Fail(rejection=got_py)
            pythons = got_py
        pick = EnginePick(name=name, release=rel, extras=extras, torch=torch)
        inner = replace(ctx, pythons=pythons, engine=pick, engine_reqs=reqs, torch_pin=torch_pin)
        return self.torch_level(inner, top=False)

    def engine_torch(
        self, name: NormalizedName, v: str, reqs: Requirements, ctx: _Ctx
    ) -> tuple[TorchRelease, SpecifierSet] | _Fail:
        """The PyPI torch release the engine pins (its kernels are built with that torch's CUDA) and the pin
        the torch level then holds; on a base, the base's torch (and its other torch-linked packages) must
        meet the engine's pins instead."""
        tspec = spec_of(reqs, "torch")
        base = self.p.target.base
        if base is not None and base.torch is not None:
            from llmenv.plan.base import engine_torch, pin_problem

            release, why = engine_torch(self.p.kb, base, name, tspec)
            why = why or pin_problem(base, reqs)
            if release is None or why is not None:
                return _Fail(rejection=Rejection(package=name, version=v, reason=why or "", kind="pin"))
            return release, tspec
        known = [t for t in self.p.kb.torch if tspec.contains(t.version, prereleases=True)]
        want = self.p.torch_spec & self.pin(ctx.fw_reqs, "torch")
        ok = [t for t in known if want.contains(t.version, prereleases=True)]
        if not known:
            why = f"pins torch{tspec}, which llmenv's knowledge does not list"
            return _Fail(rejection=Rejection(package=name, version=v, reason=why))
        if not ok:
            why = f"pins torch{tspec}, but torch{want} is required"
            return _Fail(rejection=Rejection(package=name, version=v, reason=why, kind="pin"))
        return ok[0], SpecifierSet(f"=={ok[0].version}")
    def rocm_pythons(self, name: str, version: str, pythons: tuple[str, ...]) -> tuple[str, ...] | Rejection:
        """vLLM's ROCm wheels are for one Python (3.12): any other falls back to the CUDA wheel (facts H5)."""
        from llmenv.rocm import vllm_wheel

        wheel = vllm_wheel(Version(version))
        keep = tuple(py for py in pythons if wheel is None or py in wheel.python)
        if keep:
            return keep
        have = ", ".join(wheel.python) if wheel else "-"
        return Rejection(
            package=name,
            version=version,
            reason=f"its ROCm wheel is for Python {have} only (with another Python the CUDA wheel from PyPI is "
            "installed instead)",
            kind="python",
        )

    def torch_options(self, ctx: _Ctx) -> list[TorchPick]:
        spec = self.p.torch_spec & self.pin(ctx.fw_reqs, "torch") & ctx.torch_pin
        t = self.p.target
        if t.base is not None and t.base.torch is not None:
            from llmenv.plan.base import base_pick

            return [base_pick(t.base, self.p.kb)]  # the base's torch is the only one; torch_reject tests it
        kind = "pypi" if self.p.source.is_pypi else "index"
        out: list[TorchPick] = []
        for r in self.p.kb.torch:
            if not spec.contains(r.version, prereleases=True):
                continue
            variants = torch_variants(r, t, self.p.source)
            if not variants and self.p.source.is_pypi and not t.is_cpu:
                variants = [Backend("cpu")]  # PyPI's CPU-only wheel: rejected with the reason (torch_reject)
            out += [TorchPick(release=r, variant=var, source=kind, abi=abi_of(r, t, var)) for var in variants]
        ordered = order_torch(out)
        if ctx.engine is not None:  # the engine's own CUDA line first (another needs its variant index)
            major = ctx.engine.line_cuda.major
            ordered.sort(key=lambda o: o.variant.is_cuda and o.variant.major != major)
        return ordered

    def engine_line(self, ctx: _Ctx, var: Backend) -> str | None:
        e = ctx.engine
        if e is None:
            return None
        return c.engine_line(e.name, e.version, e.build_cuda, var, self.p.target.platform, self.p.listings)

    def torch_reject(self, ctx: _Ctx, opt: TorchPick) -> TorchFail | tuple[str, ...]:
        """The first constraint ``opt`` fails, or the Pythons it leaves."""
        if opt.source == "base":
            return self.base_torch_reject(ctx, opt)
        r, var = opt.release, opt.variant
        ban = self.banned("torch", r.version)
        if ban is not None:
            return TorchFail(variant=var, code="uv", reason=ban.reason)
        held = self.p.held.check("torch", r.version)
        if held is not None:
            return TorchFail(variant=var, code="pin", reason=held)
        for name in TORCH_FAMILY[1:]:
            spec = self.p.companions.get(name, SpecifierSet()) & spec_of(ctx.engine_reqs, name)
            spec &= self.pin(ctx.fw_reqs, name)
            if name in self.p.companions or str(spec) or name in self.p.held.bounds:
                why = self.companion_reject(r, name, spec)
                if why is not None:
                    return TorchFail(variant=var, code="pin", reason=why)
        routed = self.routing(var)
        if routed is not None:
            return TorchFail(variant=var, code="pin", reason=routed)
        on_platform = pythons_of(r, self.p.target)
        pythons = tuple(py for py in ctx.pythons if py in on_platform)
        if not pythons:
            return TorchFail(
                variant=var, code="python", reason=c.torch_python(r, ctx.pythons[0], on_platform) or ""
            )
        checks = (
            ("platform", c.torch_platform(r, self.p.target)),
            ("platform", pypi_gpu_problem(r, self.p.target) if var.is_cpu else None),
            ("driver", c.torch_driver(self.p.kb, self.p.target, var, self.p.policy)),
            ("archs", c.torch_archs(self.p.target, r, var)),
            ("engine", self.engine_line(ctx, var)),
            (
                "engine",
                c.engine_rocm_variant(
                    ctx.engine.name if ctx.engine else None, ctx.engine.version if ctx.engine else None, var
                ),
            ),
        )
        for code, why in checks:
            if why is not None:
                return TorchFail(variant=var, code=code, reason=why)
        return pythons

    def companion_reject(self, release: TorchRelease, name: str, spec: SpecifierSet) -> str | None:
        """torchvision / torchaudio for this torch within ``spec`` and the project's bounds on it."""
        bounds = self.p.held.bounds.get(canonicalize_name(name), ())
        both = spec
        for b in bounds:
            both &= b.spec
        why = c.torch_companion(release, name, both)
        if why is None or not bounds:
            return why
        cv = release.companion(name, spec)
        if cv is None:
            return c.torch_companion(release, name, spec)
        return f"{name} {cv}: {self.p.held.check(name, str(cv)) or why}"

    def routing(self, variant: Backend) -> str | None:
        """The project routes torch itself ([tool.uv.sources]): a variant it does not offer is not taken when
        the driver runs one it offers (else the routing is left to refuse, naming the entry)."""
        routed = self.p.held.routed
        if not routed or self.p.source.is_pypi or self.p.target.cuda is None:
            return None
        runs = [
            (v, where)
            for v, where in routed
            if v.is_cuda and c.torch_driver(self.p.kb, self.p.target, v, self.p.policy) is None
        ]
        if not runs or any(v == variant for v, _ in routed):
            return None
        offered = " / ".join(str(v) for v, _ in runs)
        return f"the project's torch routing ({runs[0][1]}) serves {offered}"

    def base_torch_reject(self, ctx: _Ctx, opt: TorchPick) -> TorchFail | tuple[str, ...]:
        """The base's torch: the pins on it and its companions (NVIDIA's pre-release meets ``==2.6.0``), the
        base's Python, the GPUs it was built for (when known) and the engine's CUDA major. Not the driver: the
        base is what it is (a warning says it)."""
        from llmenv.plan.base import companion_problem, held_problem, torch_problem

        base = self.p.target.base
        assert base is not None
        var = opt.variant
        why = torch_problem(base, self.p.torch_spec & self.pin(ctx.fw_reqs, "torch") & ctx.torch_pin)
        if why is not None:
            return TorchFail(variant=var, code="pin", reason=why)
        why = held_problem(base, self.p.held)
        if why is not None:
            return TorchFail(variant=var, code="pin", reason=why)
        for name in TORCH_FAMILY[1:]:
            spec = self.p.companions.get(name, SpecifierSet()) & spec_of(ctx.engine_reqs, name)
            why = companion_problem(base, name, spec & self.pin(ctx.fw_reqs, name))
            if why is not None:
                return TorchFail(variant=var, code="pin", reason=why)
        pythons = tuple(py for py in ctx.pythons if py in opt.release.python)
        if not pythons:
            why = f"the base interpreter is Python {base.minor}; the stack needs {', '.join(ctx.pythons)}"
            return TorchFail(variant=var, code="python", reason=why)
        for code, why in (
            ("archs", c.torch_archs(self.p.target, opt.release, var)),
            ("engine", c.engine_cuda_major(ctx.engine.build_cuda if ctx.engine else None, var)),
        ):
            if why is not None:
                return TorchFail(variant=var, code=code, reason=why)
        return pythons

    def torch_level(self, ctx: _Ctx, *, top: bool) -> Candidate | _Fail:
        options = self.torch_options(ctx)
        fails: list[_Fail] = []
        tried: dict[int, TorchFail] = {}
        winner: Candidate | None = None
        for i, opt in enumerate(options):
            got = self.torch_reject(ctx, opt)
            if isinstance(got, TorchFail):
                tried[i] = got
                continue
            below = self.python_level(replace(ctx, pythons=got), opt)
            if isinstance(below, Candidate):
                winner = below
                break
            fails.append(below)
            kind = "ranking" if below.ranking else below.rejection.kind
            r = below.rejection
            text = (
                r.text
                if r.package in ("torch", "python", "candidate")
                else f"{r.package} {r.version}: {r.text}"
            )
            tried[i] = TorchFail(
                variant=opt.variant, code=kind, reason=text, ranking=below.ranking, build_of=r.package
            )
        if top or winner is not None:
            self.rejected += torch_rejections(
                self.p, options, tried, winner, lambda o: self.torch_reject(ctx, o)
            )
        if winner is not None:
            return winner
        fail = _best(fails)
        if fail is not None:
            return fail
        lines = torch_rejections(self.p, options, tried, None, lambda o: self.torch_reject(ctx, o))
        if lines:
            return _Fail(rejection=lines[0])
        asked = f"torch{self.p.torch_spec & ctx.torch_pin}"
        return _Fail(
            rejection=Rejection(
                package="torch",
                version=str(self.p.torch_spec & ctx.torch_pin) or "any",
                reason=f"no torch release llmenv knows matches {asked}",
                kind="pin",
            )
        )

    def python_level(self, ctx: _Ctx, torch: TorchPick | None) -> Candidate | _Fail:
        fails: list[_Fail] = []
        for py in ctx.pythons:
            # checked last: only the parts that fit otherwise pay
            deps = self.dep_pythons(self._binary_requirements(ctx.fw_reqs), (py,))
            if not isinstance(deps, Rejection):
                deps = self.dep_pythons(self._binary_requirements(ctx.engine_reqs), (py,))
            if not isinstance(deps, Rejection) and self.p.held.lines:
                deps = self.dep_pythons(self.held_binaries(), (py,))
            if isinstance(deps, Rejection):
                fails.append(_Fail(rejection=deps))
                continue
            options = self.extension_options(ctx, torch, py)
            if isinstance(options, _Fail):
                fails.append(options)
                continue
            cand = Candidate(
                framework=ctx.framework,
                engine=ctx.engine,
                torch=torch,
                python=py,
                options=options,
                framework_requirements=ctx.fw_reqs,
                engine_requirements=ctx.engine_reqs,
            )
            rng = self.python_range(ctx, cand)
            if isinstance(rng, Rejection):
                fails.append(_Fail(rejection=rng))
                continue
            cand = replace(
                cand,
                pythons=rng[0],
                python_limit=rng[1],
                python_floor_limit=rng[2],
                relaxed=relaxations(self.p, cand, self.fb),
            )
            why = self.fb.excluded.get(cand.key)
            if why is not None:
                r = Rejection(
                    package="candidate", version=cand.describe(), reason=f"uv lock failed: {why}", kind="uv"
                )
                self.rejected.append(r)
                fails.append(_Fail(rejection=r))
                continue
            return cand
        fail = _best(fails)
        if fail is not None:
            return fail
        return _Fail(rejection=Rejection(package="python", version="", reason="no Python fits"))

    def extension_options(
        self, ctx: _Ctx, torch: TorchPick | None, py: str
    ) -> dict[str, ExtensionOption] | _Fail:
        out: dict[str, ExtensionOption] = {}
        for pkg in EXTENSIONS:
            if not (pkg in self.p.extensions or pkg in ctx.fw_reqs or pkg in ctx.engine_reqs):
                continue
            got = self.extension(ctx, pkg, torch, py)
            if isinstance(got, _Fail):
                return got
            out[pkg] = got
        return out

    def option_list(self, pkg: str, build: TorchBuild) -> list[ExtensionOption]:
        key = (pkg, build)
        if key not in self._options:
            found: list[ExtensionOption] = []
            for provider in self.p.providers.get(pkg, ()):
                found += provider(pkg, build, self.p.target)
            self._options[key] = order_options(found)
        return self._options[key]

    def extension(self, ctx: _Ctx, pkg: str, torch: TorchPick | None, py: str) -> ExtensionOption | _Fail:
        refusal = c.extension_target(pkg, self.p.target, torch.build if torch else None)
        if refusal is not None or torch is None:
            why = refusal[0] if refusal else f"{pkg} needs torch"
            return _Fail(rejection=Rejection(package=pkg, version="any", reason=why))
        first: Rejection | None = None  # the best option's reason; the first build's, when a build was tried
        build_fact = False
        build: ExtensionOption | None = None
        tb = torch.build
        options = self.option_list(pkg, tb)
        requires = dict.fromkeys(n for o in options for n in requires_of(o))
        fw_reqs = {} if self.relaxing or not ctx.framework else held(ctx.fw_reqs, self.fb.relax)
        pins = option_pins(self.p, pkg, fw_reqs, ctx.engine_reqs, ctx.engine, requires)
        forced = pkg in self.p.builds
        for opt in options:
            ban = self.banned(pkg, opt.version) if self.fb.banned else None
            problem = (
                ban.reason
                if ban is not None
                else c.option_checks(
                    opt,
                    tb,
                    py,
                    target=self.p.target,
                    kb=self.p.kb,
                    policy=self.p.policy,
                    pins=pins,
                    forced_build=forced,
                    held=self.p.held.bounds.get(canonicalize_name(pkg), ()),
                )
            )
            if problem is not None:
                kind = "pin" if problem.startswith(("excluded by", "--build")) else "fact"
                a_build = not opt.prebuilt and kind == "fact"
                if first is None or (a_build and not build_fact):
                    first = Rejection(package=pkg, version=str(opt.version), reason=problem, kind=kind)
                    build_fact = build_fact or a_build
            elif not opt.prebuilt and not self.allow_builds:
                build = build or opt
            else:
                return opt
        if build is not None:
            why = f"needs a {pkg} source build here (no prebuilt {pkg} wheel fits {torch.label}, Python {py})"
            return _Fail(
                rejection=Rejection(package=pkg, version=str(build.version), reason=why, kind="ranking"),
                ranking=True,
            )
        return _Fail(
            rejection=first or Rejection(package=pkg, version="any", reason=f"no {pkg} option is known")
        )

    def python_range(self, ctx: _Ctx, cand: Candidate) -> tuple[tuple[str, ...], str, str] | Rejection:
        """The Pythons every chosen part installs on around the planned one (``plan/pyrange.py``), what caps the
        range, and what raised its floor above the project's own (empty: nothing did, or a new project)."""
        held = self.p.held
        py = Version(cand.python)
        below = [q for q in RANGE_PYTHONS if Version(q) < py] if held.requires_python is not None else []
        above = [q for q in KNOWN_PYTHONS if Version(q) > py]
        parts = self.range_parts(ctx, cand, (*below, cand.python, *above))
        missing = next((p for p in parts if cand.python not in p.have), None)
        if missing is not None:
            uv = missing.kind == "uv"
            why = (
                f"uv could not lock Python {cand.python} for this stack"
                if uv
                else f"no Python range around {cand.python} fits: {missing.lacks(cand.python)}"
            )
            return Rejection(package="python", version=cand.python, reason=why, kind="uv" if uv else "fact")
        up, stop, at = walk(above, parts, held.allows_python)
        if stop is not None and at is not None:
            cap = stop.lacks(at)
        elif at is not None:
            cap = f"{held.python_line} leaves it out"
        else:
            cap = f"llmenv knows no Python after {KNOWN_PYTHONS[-1]}"
        down, stop, at = walk(below[::-1], parts, held.allows_python)
        floor = ""
        if stop is not None and at is not None:
            floor = stop.lacks(at)
        elif at is None and below and _below(held, below[0]):
            floor = f"llmenv knows no Python below {below[0]}"
        return (*down[::-1], cand.python, *up), cap, floor

    def range_parts(self, ctx: _Ctx, cand: Candidate, pythons: tuple[str, ...]) -> list[Part]:
        """Each chosen part with the Pythons among ``pythons`` it installs on."""
        parts: list[Part] = []
        t = self.p.target
        for pick in (ctx.framework, ctx.engine):
            if pick is not None:
                got = self.narrow(pick.name, pick.release, pythons)
                rel = pick.release
                parts.append(
                    Part(
                        label=f"{pick.name} {pick.version}",
                        have=frozenset(got) if not isinstance(got, Rejection) else frozenset(),
                        requires=rel.requires_python,
                        every=lambda rel=rel: installable_pythons(rel, t, RANGE_PYTHONS),  # type: ignore[misc]
                    )
                )
        for reqs in (ctx.fw_reqs, ctx.engine_reqs):
            parts += self.dep_limits(self._binary_requirements(reqs), pythons)
        if self.p.held.lines:
            parts += self.dep_limits(self.held_binaries(), pythons)
        if cand.torch is not None:
            r = cand.torch.release
            if cand.torch.source == "base":
                label = f"the base's torch {r.version} (the base interpreter is Python {r.python[0]})"
                parts.append(Part(label=label, have=frozenset(r.python), kind="base"))
            else:
                parts.append(Part(label=f"torch {r.version}", have=frozenset(pythons_of(r, t))))
        parts += [
            Part(label=f"{o.package} {o.version}", have=frozenset(o.pythons), kind="prebuilt")
            for o in cand.options.values()
            if o.prebuilt
        ]
        key = cand.key[:3]
        cap = self.fb.python_caps.get(key)
        if cap is not None:
            have = frozenset(q for q in pythons if Version(q) <= Version(cap))
            parts.append(Part(label=self.fb.python_reasons.get(("cap", key), "uv"), have=have, kind="uv"))
        floor = self.fb.python_floors.get(key)
        if floor is not None:
            have = frozenset(q for q in pythons if Version(q) >= Version(floor))
            parts.append(Part(label=self.fb.python_reasons.get(("floor", key), "uv"), have=have, kind="uv"))
        return parts

    def dep_limits(self, bins: Sequence[_Bin], pythons: tuple[str, ...]) -> list[Part]:
        """Each binary requirement with the Pythons among ``pythons`` some release of it has wheels for
        (``lines``: where the project writes it, for the label)."""
        out = []
        for name, spec, location, exempt in bins:
            got = self._requirement_pythons(name, spec, pythons)
            if got is not None:
                where = f" ({location})" if location else ""
                out.append(
                    Part(
                        label=f"{name}{spec}{where}",
                        have=frozenset(got) | exempt,
                        every=lambda n=name, sp=spec: self._requirement_pythons(n, sp, RANGE_PYTHONS) or (),  # type: ignore[misc]
                    )
                )
        return out


def _below(held: object, lowest: str) -> bool:
    """Does the project's requires-python allow a Python below ``lowest`` (the oldest llmenv knows)?"""
    spec = getattr(held, "requires_python", None)
    if spec is None:
        return False
    major, minor = (int(x) for x in lowest.split("."))
    return any(spec.contains(f"{major}.{m}.{micro}", prereleases=True) for m in range(minor) for micro in (0, 99))
