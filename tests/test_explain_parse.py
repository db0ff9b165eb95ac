"""The log parser: unwrapping, terms, the resolver's derivation, pip's report, builds, symbols."""

from __future__ import annotations

from llmenv.explain._parse import clean_lines, parse, parse_term


def test_clean_removes_colour_tree_glyphs_and_timestamps() -> None:
    raw = "#12 3.456   \x1b[31m×\x1b[0m No solution found\n#12 3.457   ╰─▶ Because a depends on b\n"
    assert clean_lines(raw)[:2] == ["  No solution found", "  Because a depends on b"]
    assert clean_lines("54.11 ERROR: x\n54.12     y\n") == ["ERROR: x", "    y", ""]
    assert clean_lines("2025-01-02T03:04:05.1234567Z error: boom") == ["error: boom"]


def test_clean_keeps_lines_that_only_look_like_prefixes() -> None:
    # one numeric line among many is not a timestamp column
    assert clean_lines("2.6.0 is the version\nerror: x\nhint: y")[0] == "2.6.0 is the version"


def test_terms() -> None:
    t = parse_term("torch{sys_platform == 'linux'}==2.9.*")
    assert t and t.name == "torch" and t.marker == "sys_platform == 'linux'" and t.spec == "==2.9.*"
    t = parse_term("verl[sglang]==0.5.0.dev0.")
    assert t and t.extras == ("sglang",) and str(t.pinned) == "0.5.0.dev0"
    t = parse_term("myproj:dev")
    assert t and t.group == "dev"
    t = parse_term("Flash_Attn>=2.1,<2.5")
    assert t and t.name == "flash-attn" and t.specifier is not None and "2.4" in t.specifier
    assert parse_term("we can conclude") is None


def test_wrapped_old_layout_derivation_with_split() -> None:
    log = parse("""\
  × No solution found when resolving dependencies for split (markers: platform_machine == 'x86_64' and
  │ sys_platform == 'linux'):
  ╰─▶ Because vllm==0.8.5.post1 depends on ray[cgraph]>=2.43.0 and openrlhf==0.7.0 depends on
      ray[default]==2.42.0, we can conclude that openrlhf==0.7.0 and vllm==0.8.5.post1 are incompatible.
      And because your project depends on openrlhf==0.7.0 and vllm==0.8.5.post1, we can conclude that your
      project's requirements are unsatisfiable.
""")
    (d,) = log.derivations
    assert d.split == "platform_machine == 'x86_64' and sys_platform == 'linux'"
    deps = {(x.src.text if x.src else x.root, x.dst.text) for x in d.deps}
    assert ("vllm==0.8.5.post1", "ray[cgraph]>=2.43.0") in deps
    assert ("openrlhf==0.7.0", "ray[default]==2.42.0") in deps
    assert ("your project", "openrlhf==0.7.0") in deps
    assert d.incompatible == (("openrlhf==0.7.0", "vllm==0.8.5.post1"),)


def test_new_layout_derivation_and_hints() -> None:
    log = parse("""\
error: No solution found when resolving dependencies
  cause: Because there is no version of foo==1.0rc1 and your project depends on foo==1.0rc1, we can conclude that your project's requirements are unsatisfiable.

hint: Pre-releases are available for `foo` in the requested range (e.g., 1.0rc1), but pre-releases weren't enabled (try: `--prerelease=allow`)
""")
    (d,) = log.derivations
    assert [t.text for t in d.no_version] == ["foo==1.0rc1"]
    assert log.hints[0].startswith("Pre-releases are available for `foo`")
    assert log.tool == "uv"


def test_pip_report() -> None:
    log = parse("""\
ERROR: Cannot install a==1 and b==2 because these package versions have conflicting dependencies.

The conflict is caused by:
    a 1 depends on numpy<2
    b[extra] 2 depends on numpy>=2; python_version >= "3.10"
    The user requested numpy==1.26.4
""")
    (d,) = log.derivations
    assert d.tool == "pip"
    assert [(x.src.text if x.src else x.root, x.dst.text) for x in d.deps] == [
        ("a==1", "numpy<2"),
        ("b[extra]==2", "numpy>=2"),
        ("the user", "numpy==1.26.4"),
    ]


def test_builds_uv_and_pip() -> None:
    assert [(b.name, b.version) for b in parse("error: Failed to build `flash-attn==2.8.3`").builds] == [
        ("flash-attn", "2.8.3")
    ]
    assert [(b.name, b.version) for b in parse("  × Failed to build `mypkg @ file:///src/mypkg`").builds] == [
        ("mypkg", None)
    ]
    pip = parse(
        "Collecting deepspeed\n  Using cached deepspeed-0.16.4.tar.gz (1.4 MB)\n  Preparing metadata (setup.py) ... error\n"
    )
    assert [(b.name, b.version) for b in pip.builds] == [("deepspeed", "0.16.4")]


def test_symbols() -> None:
    log = parse("ImportError: /x/site-packages/vllm/_C.abi3.so: undefined symbol: _ZN3c104cuda9SetDeviceEi")
    (s,) = log.symbols
    assert s.library.endswith("vllm/_C.abi3.so") and s.symbol == "_ZN3c104cuda9SetDeviceEi"
