"""Resolution: requirements that pin one package apart (two packages, two extras, a workspace member's extra)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from llmenv.explain import _toml as toml
from llmenv.explain._facts import (
    TORCH_FAMILY,
    builds,
    torch_release,
)
from llmenv.explain._model import Cause, Fix
from llmenv.explain._parse import Dep, Derivation, Log, Term, parse_term, uniq
from llmenv.explain.rules._common import (
    fix_cmd,
    fix_toml,
    pin_of,
    requirement_fix,
    requirer_text,
    uv_derivations,
    with_spec,
)

# ------------------------------------------------------------------------------------------------------------
# resolution: workspace extras, extra conflicts, pins


def _contested(d: Derivation) -> list[tuple[str, list[Dep]]]:
    """Packages that two different requirers constrain differently, in order of first mention."""
    by: dict[str, list[Dep]] = defaultdict(list)
    for dep in d.deps:
        by[dep.dst.name].append(dep)
    out = []
    for name, deps in by.items():
        srcs = {(dep.src.label if dep.src else dep.root) for dep in deps}
        specs = {dep.dst.spec for dep in deps}
        if len(srcs) >= 2 and len(specs) >= 2:
            out.append((name, deps))
    return out


def _states(d: Dep) -> str:
    if d.root == "installed":
        return f"the environment has {d.dst.display} {d.dst.pinned or d.dst.spec} installed"
    if d.root in ("you", "the user"):
        return f"you require {d.dst.text}"
    return f"{requirer_text(d)} requires {d.dst.text}"


def _pin_chain(deps: Sequence[Dep]) -> list[str]:
    seen: dict[str, None] = {}
    for d in sorted(deps, key=lambda d: d.src is None):
        seen.setdefault(_states(d), None)
    return list(seen)


def _extra_pairs(d: Derivation) -> list[tuple[Term, Term]]:
    """Pairs of extras (or groups) of one package that the derivation concludes are incompatible."""
    pairs = []
    for a, b in d.incompatible:
        ta, tb = parse_term(a), parse_term(b)
        if ta is None or tb is None or ta.name != tb.name:
            continue
        if (ta.extras or ta.group) and (tb.extras or tb.group) and (ta.extras, ta.group) != (tb.extras, tb.group):
            pairs.append((ta, tb))
    if not pairs:
        # "Because p[a] depends on x==1 and p[b] depends on x==2 ..." without an explicit conclusion
        for _, deps in _contested(d):
            srcs = [dep.src for dep in deps if dep.src is not None and (dep.src.extras or dep.src.group)]
            for i, s in enumerate(srcs):
                for t in srcs[i + 1 :]:
                    if s.name == t.name and (s.extras, s.group) != (t.extras, t.group):
                        pairs.append((s, t))
    return pairs


def _conflict_item(t: Term, project: bool) -> dict[str, str]:
    item: dict[str, str] = {} if project else {"package": t.name}
    if t.group:
        item["group"] = t.group
    else:
        item["extra"] = t.extras[0]
    return item


def _root_of(d: Derivation, t: Term) -> str | None:
    for root, r in d.requires:
        if r.name == t.name and (r.extras, r.group) == (t.extras, t.group):
            return root
    return None


def check_workspace_extras(log: Log) -> list[Cause]:
    """A workspace member's extra the user did not ask for brings pins that clash (uv locks every member's
    extras together)."""
    out = []
    for d in uv_derivations(log):
        members = [t for root, t in d.requires if root == "your workspace"]
        with_extras = [t for t in members if t.extras or t.group]
        if not with_extras:
            continue
        involved = {x for pair in d.incompatible for x in pair}
        for _, deps in _contested(d):
            involved |= {dep.src.label for dep in deps if dep.src}
        culprits = [t for t in with_extras if t.label in involved or t.text in involved]
        if not culprits:
            continue
        contested = _contested(d)
        chain = _pin_chain(contested[0][1]) if contested else list(d.statements)
        member = culprits[0]
        others = [t.label for t in members if t.name != member.name]
        extras = ", ".join(t.label for t in culprits)
        summary = (f"the workspace member {member.display} brings its extra {extras} into the lock, and its pins "
                   f"clash with " + (", ".join(others) if others else "the rest of the workspace"))
        if contested:
            pins = "; ".join(_pin_chain(contested[0][1]))
            summary += f" ({pins})"
        fixes = [
            fix_toml(
                f"Install {member.display} as an editable path source instead of a workspace member (then uv "
                f"resolves only the extras you request); also remove {member.display!r} from "
                "[tool.uv.workspace] members",
                toml.sources({member.display: {"path": f"./{member.display}", "editable": True}}),
            ),
        ]
        same_member = [t for t in culprits if t.name == member.name]
        if len(same_member) >= 2:
            fixes.append(fix_toml(
                f"Or declare {member.display}'s extras as conflicting, so uv locks them in separate forks",
                toml.conflicts([[_conflict_item(t, project=False) for t in same_member[:2]]]),
            ))
        ev = d.statements
        out.append(Cause(
            kind="workspace-extras", packages=uniq([member.name] + ([contested[0][0]] if contested else [])),
            summary=summary, chain=tuple(chain),
            reason=("In a uv workspace, `uv lock` resolves every member together with all of its optional "
                    "dependencies, whether or not you install them. A member's extra you never use (an inference "
                    "engine you don't run, say) still has to agree with your pins."),
            fixes=tuple(fixes), evidence=ev,
        ))
    return out


def check_extra_conflict(log: Log) -> list[Cause]:
    """Two extras (or dependency groups) of one project pin incompatible versions and are not declared as
    conflicting, so uv's universal lock tries to satisfy both at once."""
    out = []
    for d in uv_derivations(log):
        pairs = _extra_pairs(d)
        if not pairs:
            continue
        a, b = pairs[0]
        root = _root_of(d, a) or _root_of(d, b)
        project = root in ("your project", "your workspace")
        contested = _contested(d)
        chain = _pin_chain(contested[0][1]) if contested else list(d.statements)
        pkgs = uniq([a.name] + [name for name, _ in contested[:1]])
        summary = f"the extras {a.label} and {b.label} pin incompatible versions"
        if contested:
            summary += f" of {contested[0][0]}"
        fixes: list[Fix] = []
        if root == "you":
            reason = (f"You asked for both {a.label} and {b.label}; their requirements cannot be satisfied "
                      "together, so they cannot be installed into one environment.")
            fixes.append(fix_cmd(f"Install one of them per environment, e.g. only {a.label}",
                                  f"uv pip install -e \".[{a.extras[0] if a.extras else ''}]\""))
        else:
            reason = ("uv locks all extras and dependency groups of a project together (a universal lock), "
                      "unless they are declared as conflicting; then it locks them in separate forks and refuses "
                      "to install them together.")
            item_project = project
            fixes.append(fix_toml(
                f"Declare {a.label} and {b.label} as conflicting (then install one at a time, e.g. "
                f"`uv sync --extra {a.extras[0] if a.extras else a.group}`)",
                toml.conflicts([[_conflict_item(a, item_project), _conflict_item(b, item_project)]]),
            ))
        if contested:
            fixes.append(fix_cmd(
                "Or find versions that fit together (llmenv's planner)",
                "llmenv plan " + " ".join(uniq([*(d.src.name for d in contested[0][1] if d.src and d.src.name != a.name),
                                                contested[0][0]])),
            ))
        out.append(Cause(kind="extra-conflict", packages=pkgs, summary=summary, chain=tuple(chain), reason=reason,
                         fixes=tuple(fixes), evidence=d.statements))
    return out


def _pin_fixes(name: str, deps: Sequence[Dep], log: Log) -> list[Fix]:
    """Ranked fixes for a package two requirers pin differently."""
    b = builds()
    fixes: list[Fix] = []
    user = [d for d in deps if d.src is None]
    pkg_deps = [d for d in deps if d.src is not None]
    # 1. the user's own pin against a package's pin: follow the package
    if user and pkg_deps:
        theirs = pkg_deps[0]
        want = f"{name}{theirs.dst.spec}"
        if log.tool == "pip" or user[0].root in ("you", "the user"):
            fixes.append(fix_cmd(f"Require the {name} that {theirs.src.text if theirs.src else ''} needs",
                                  f"uv pip install \"{theirs.src.text if theirs.src else ''}\" \"{want}\""))
        else:
            title = f"Require the {name} that {theirs.src.text if theirs.src else ''} needs"
            edit = requirement_fix(log, name, lambda r: with_spec(r, theirs.dst.spec), title)
            fixes.append(edit or fix_cmd(title, f"uv add \"{want}\""))
    # 2. a framework's hard pin (pure-Python pins can be relaxed; binary ones cannot)
    exact = [d for d in pkg_deps if d.dst.pinned is not None]
    loose = [d for d in deps if d.dst.pinned is None and d.dst.spec]
    installed = any(d.root == "installed" for d in deps)
    binary = any(x.src is not None and x.src.name in b.torch_abi_pinned for x in deps) and name in TORCH_FAMILY
    for d in ([] if installed else exact):
        assert d.src is not None
        if d.src.name in b.torch_abi_pinned and name in TORCH_FAMILY:
            continue
        if binary:
            break  # the other side is compiled for its torch: relaxing this pin would not make them fit
        target = loose[0].dst.spec if loose else next((x.dst.spec for x in deps if x is not d and x.dst.spec), "")
        if target:
            src = f"{d.src.display}=={d.src.pinned}" if d.src.pinned else d.src.display
            fixes.append(fix_cmd(
                f"Override {d.src.display}'s pin {d.dst.text} (if {d.src.display} works with {name}{target}; "
                f"what it pulls in may pin {name} too)",
                f"llmenv override {src} --set \"{name}{target}\"",
            ))
            break
    # 3. a binary package built for another torch: pick its release built for yours
    for d in pkg_deps:
        assert d.src is not None
        if d.src.name in b.torch_abi_pinned and name in TORCH_FAMILY and d.dst.spec:
            other = next((x for x in deps if x.dst.spec and x.dst.spec != d.dst.spec and x.dst.pinned is not None), None)
            if other is not None:
                fixes.append(fix_cmd(
                    f"Find the {d.src.display} release built for {name}{other.dst.spec} ({d.src.display}'s wheels "
                    f"are compiled against one torch, so its pin cannot be overridden)",
                    f"printf '{d.src.name}\\n{name}{other.dst.spec}\\n' | uv pip compile --no-header -",
                ))
                break
    names = uniq([d.src.name for d in pkg_deps if d.src] + [name])
    fixes.append(fix_cmd("Let llmenv's planner pick versions that fit together on your machine",
                          "llmenv plan " + " ".join(names)))
    return fixes


def _disjoint(a: Term, b: Term) -> bool:
    """Can no version satisfy both requirements? Exact for pins; for two ranges, judged on the versions the
    ranges name (enough to tell ``>=1.10`` from ``==2.4.0`` apart)."""
    try:
        sa, sb = SpecifierSet(a.spec), SpecifierSet(b.spec)
    except InvalidSpecifier:
        return a.spec != b.spec
    if not a.spec or not b.spec:
        return False
    for pinned, other in ((a.pinned, sb), (b.pinned, sa)):
        if pinned is not None:
            return not other.contains(pinned, prereleases=True)
    return not any(sa.contains(v, prereleases=True) and sb.contains(v, prereleases=True)
                   for v in (*a.versions, *b.versions))


def _clash(deps: Sequence[Dep]) -> tuple[Dep, Dep] | None:
    """The two requirements that cannot hold together: a package's requirement first, then yours (or what is
    installed) when it is one of them. None when every pair overlaps (the resolver's reason lies elsewhere)."""
    pkgs = [x for x in deps if x.src is not None]
    roots = [x for x in deps if x.src is None]
    pkgs.sort(key=lambda x: x.dst.pinned is None)  # an exact pin (an engine's) before a range
    pairs = [(x, y) for y in roots for x in pkgs] + [(x, y) for i, x in enumerate(pkgs) for y in pkgs[i + 1 :]]
    for x, y in pairs:
        if (x.src.label if x.src else x.root) != (y.src.label if y.src else y.root) and _disjoint(x.dst, y.dst):
            return x, y
    return None


def _rank_contested(contested: list[tuple[str, list[Dep]]]) -> list[tuple[str, list[Dep]]]:
    """Packages whose requirements really clash first, and among them the torch family: its pins are the ones
    the rest of a GPU stack is built around (the others often follow once torch is settled)."""
    return sorted(contested, key=lambda c: (_clash(c[1]) is None, c[0] not in TORCH_FAMILY))


_ROOTS = ("your project", "your workspace", "you", "the requirements", "the environment")


def check_pin_conflict(log: Log) -> list[Cause]:
    """Two requirements pin one package to versions that do not overlap (an engine's exact torch pin, a
    framework's exact transformers pin, your own pin)."""
    out = []
    for d in log.derivations:
        contested = _rank_contested(_contested(d))
        if not contested:
            continue
        name, deps = contested[0]
        clash = _clash(deps)
        if clash is not None:
            first, second = clash
            deps = [first, second, *(x for x in deps if x is not first and x is not second)]
            sides = [first, second]
        else:
            by_spec: dict[str, Dep] = {}
            for x in sorted(deps, key=lambda x: x.src is None):
                by_spec.setdefault(x.dst.spec, x)
            sides = list(by_spec.values())
        chain = _pin_chain(deps) if clash is None else uniq([_states(sides[0]), _states(sides[-1]), *_pin_chain(deps)])
        summary = f"{_states(sides[0])}, but {_states(sides[-1])}"
        rel = torch_release(next((x.dst.pinned for x in deps if x.dst.pinned), None)) if name == "torch" else None
        reason = (f"No version of {name} satisfies all of these at once, so the resolver gives up.")
        if any(x.src is not None and x.src.name in builds().torch_abi_pinned for x in deps) and name in TORCH_FAMILY:
            reason += (" A package that ships compiled code for one torch release pins torch exactly; only its "
                       "release built for your torch can go together with it.")
        if rel is not None:
            reason += (f" (torch {rel.version} is built for " + ", ".join(sorted(rel.variants)) +
                       f"; Python {rel.python[0]}–{rel.python[-1]}.)")
        involved = sides if clash is not None else deps
        pins = tuple(dict.fromkeys(pin_of(x, d) for x in [*sides, *deps]))
        exact = next((p.exact for p in pins if p.exact and p.by not in _ROOTS), None)
        out.append(Cause(
            kind="pin-conflict", packages=uniq([name] + [x.src.name for x in involved if x.src]),
            summary=summary, chain=tuple(chain),
            reason=reason, fixes=tuple(_pin_fixes(name, deps, log)), evidence=d.statements,
            version=exact or next((p.exact for p in pins if p.exact), None), pins=pins,
        ))
    return out
