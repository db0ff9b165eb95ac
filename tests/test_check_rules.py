"""Each rule of `llmenv check`, alone: one fixture that triggers it (at the exact locations its `# expect:` lines
name) and one that does not; then the finer behaviour of each rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmenv.check import RULES, Finding, Project, check_text, parse, rule_for
from llmenv.knowledge.pins import load_pins

from .check_index import catalog

FIXTURES = Path(__file__).parent / "fixtures" / "check"


def run_rule(code: str, text: str) -> list[Finding]:
    """One rule on ``text``, knowing the releases of the captured PyPI pages and the bundled pins snapshot."""
    project = Project.from_dict(
        parse(text, file="pyproject.toml"), catalog=catalog(pins=load_pins(Path("/nonexistent")))
    )
    return rule_for(code).run(project)


def expected(path: Path) -> set[str]:
    return {
        line.split(":", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# expect:")
    }


CODES = [r.code for r in RULES]


def test_every_rule_has_both_fixtures() -> None:
    for code in CODES:
        assert (FIXTURES / f"{code}.bad.toml").is_file(), code
        assert (FIXTURES / f"{code}.good.toml").is_file(), code
        assert expected(FIXTURES / f"{code}.bad.toml"), f"{code}.bad.toml names no expected location"


@pytest.mark.parametrize("code", CODES)
def test_rule_triggers_at_exact_locations(code: str) -> None:
    path = FIXTURES / f"{code}.bad.toml"
    found = run_rule(code, path.read_text(encoding="utf-8"))
    assert {f.location for f in found} == expected(path)
    for f in found:
        assert f.code == code
        assert f.message and f.why and f.fix


@pytest.mark.parametrize("code", CODES)
def test_rule_quiet_on_good_fixture(code: str) -> None:
    assert run_rule(code, (FIXTURES / f"{code}.good.toml").read_text(encoding="utf-8")) == []


def test_codes_are_unique_and_kebab_case() -> None:
    assert len(set(CODES)) == len(CODES)
    for code in CODES:
        assert code == code.lower() and " " not in code and "_" not in code


# ---- finer behaviour ----------------------------------------------------------------------------------------

BASE = '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'


def test_not_explicit_fix_is_the_index_with_explicit_and_a_source_when_unrouted() -> None:
    (f,) = run_rule(
        "torch-index-not-explicit",
        BASE
        + '[[tool.uv.index]]\nname = "pytorch"\nurl = "https://download.pytorch.org/whl/cu126"\ndefault = true\n',
    )
    assert "default index" in f.message
    assert "explicit = true" in f.fix and "default" not in f.fix.split("[tool.uv.sources]")[0]
    assert 'torch = { index = "pytorch" }' in f.fix
    # the fix is valid TOML that the rule then accepts
    fixed = BASE + f.fix
    assert run_rule("torch-index-not-explicit", fixed) == []


def test_cuda_source_scoped_to_an_extra_is_only_info() -> None:
    text = (FIXTURES.parent / "pyprojects" / "karpathy__nanochat__pyproject.toml").read_text(encoding="utf-8")
    found = run_rule("torch-cuda-source-without-marker", text)
    assert [(f.severity, f.location) for f in found] == [("info", "tool.uv.sources.torch[1].index")]
    assert "extra 'gpu'" in found[0].message


def test_cuda_source_respects_environments() -> None:
    text = (
        BASE
        + "[tool.uv]\nenvironments = [\"sys_platform == 'linux' and platform_machine == 'x86_64'\"]\n"
        + '[[tool.uv.index]]\nname = "cu121"\nurl = "https://download.pytorch.org/whl/cu121"\nexplicit = true\n'
        + '[tool.uv.sources]\ntorch = { index = "cu121" }\n'
    )
    assert run_rule("torch-cuda-source-without-marker", text) == []


def test_old_cuda_index_on_linux_aarch64_is_info() -> None:
    text = (
        BASE
        + '[[tool.uv.index]]\nname = "cu121"\nurl = "https://download.pytorch.org/whl/cu121"\nexplicit = true\n'
        + '[tool.uv.sources]\ntorch = { index = "cu121", marker = "sys_platform == \'linux\'" }\n'
    )
    (f,) = run_rule("torch-cuda-source-without-marker", text)
    assert f.severity == "info" and "aarch64" in f.message
    assert "platform_machine == 'x86_64'" in f.fix


def test_cuda_source_fix_keeps_the_entry_and_adds_the_marker() -> None:
    text = (FIXTURES / "torch-cuda-source-without-marker.bad.toml").read_text(encoding="utf-8")
    by_loc = {f.location: f for f in run_rule("torch-cuda-source-without-marker", text)}
    fix = by_loc["tool.uv.sources.torchvision.index"].fix
    assert "marker = \"(sys_platform != 'win32') and sys_platform == 'linux'\"" in fix
    assert 'index = "pytorch-cu128"' in fix


@pytest.mark.parametrize(
    ("url", "flat"),
    [
        ("https://mirrors.aliyun.com/pytorch-wheels/cu124/", True),
        ("https://data.pyg.org/whl/torch-2.5.0+cu124.html", True),
        ("https://github.com/Dao-AILab/flash-attention/releases/expanded_assets/v2.7.4.post1", True),
        ("https://flashinfer.ai/whl/cu124/torch2.5/flashinfer-python/", True),
        ("https://flashinfer.ai/whl/cu130", False),
        ("https://download.pytorch.org/whl/cu128", False),
        ("https://wheels.astral.sh/simple/cu130/", False),
    ],
)
def test_flat_page_detection(url: str, flat: bool) -> None:
    text = BASE + f'[[tool.uv.index]]\nname = "x"\nurl = "{url}"\nexplicit = true\n'
    found = run_rule("flat-index-declared-as-simple", text)
    assert bool(found) is flat
    if flat:
        assert 'format = "flat"' in found[0].fix and "explicit = true" in found[0].fix


def test_flat_page_in_extra_index_url_suggests_find_links() -> None:
    text = BASE + '[tool.uv]\nextra-index-url = ["https://data.pyg.org/whl/torch-2.5.0+cu124.html"]\n'
    (f,) = run_rule("flat-index-declared-as-simple", text)
    assert f.location == "tool.uv.extra-index-url[0]"
    assert 'find-links = ["https://data.pyg.org/whl/torch-2.5.0+cu124.html"]' in f.fix


@pytest.mark.parametrize(
    ("extra_toml", "dep", "fires"),
    [
        ("", '"flash-attn"', True),
        (
            '[tool.uv.sources]\nflash-attn = { url = "https://example.com/flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl" }\n',
            '"flash-attn"',
            False,
        ),
        ("", '"flash-attn @ https://example.com/flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl"', False),
        ("", '"flash-attn @ git+https://github.com/Dao-AILab/flash-attention"', True),
        ('[tool.uv]\nno-build-isolation-package = ["flash_attn"]\n', '"flash-attn"', False),
        ("[tool.uv]\nno-build-isolation = true\n", '"flash-attn"', False),
        ('[tool.uv.extra-build-dependencies]\nflash-attn = ["numpy"]\n', '"flash-attn"', True),
        ('[tool.uv]\nfind-links = ["./wheels"]\n', '"flash-attn"', False),
        ("", '"transformer-engine>=2.4"', False),
    ],
)
def test_build_needs_torch_cases(extra_toml: str, dep: str, fires: bool) -> None:
    text = BASE.replace(
        'requires-python = ">=3.10"\n', f'requires-python = ">=3.10"\ndependencies = [{dep}]\n'
    )
    assert bool(run_rule("build-needs-torch-unconfigured", text + extra_toml)) is fires


def test_deepspeed_without_torch_at_build_is_info() -> None:
    text = BASE.replace(
        'requires-python = ">=3.10"\n', 'requires-python = ">=3.10"\ndependencies = ["deepspeed"]\n'
    )
    (f,) = run_rule("build-needs-torch-unconfigured", text)
    assert f.severity == "info" and "DS_BUILD_OPS" in f.why


def test_cuda_project_reason_names_the_torch_route() -> None:
    text = (
        BASE
        + '[[tool.uv.index]]\nname = "cu128"\nurl = "https://download.pytorch.org/whl/cu128"\nexplicit = true\n'
        + '[tool.uv.sources]\ntorch = { index = "cu128", marker = "sys_platform == \'linux\'" }\n'
    )
    (f,) = run_rule("cuda-project-without-environments", text)
    assert "torch comes from 'cu128'" in f.message
    assert (
        run_rule("cuda-project-without-environments", BASE + 'dependencies = ["numpy", "nvidia-ml-py"]\n')
        == []
    )
    deps = BASE + 'dependencies = ["nvidia-cudnn-cu12"]\n'
    assert run_rule("cuda-project-without-environments", deps)


def test_heavy_member_fix_uses_the_member_path() -> None:
    text = (FIXTURES / "heavy-framework-workspace-member.bad.toml").read_text(encoding="utf-8")
    by_loc = {f.location: f for f in run_rule("heavy-framework-workspace-member", text)}
    members_fix = by_loc["tool.uv.workspace.members[1]"].fix
    assert 'remove "third_party/OpenRLHF/" from tool.uv.workspace.members' in members_fix
    assert 'openrlhf = { path = "./third_party/OpenRLHF/", editable = true }' in members_fix
    assert 'verl = { path = "./verl", editable = true }' in by_loc["tool.uv.sources.verl.workspace"].fix


def test_pins_clash_names_both_sides() -> None:
    text = (FIXTURES / "pins-cannot-coexist.bad.toml").read_text(encoding="utf-8")
    found = run_rule("pins-cannot-coexist", text)
    deepspeed = [f for f in found if "deepspeed" in f.message]
    assert len(deepspeed) == 1
    msg = deepspeed[0].message
    assert '"deepspeed~=0.15.4" (required by Tapeagents[finetune]==0.1.16' in msg
    assert '"deepspeed~=0.18.0" (project.dependencies[0])' in msg
    assert "extra 'tapeagents'" in msg
    assert 'override-dependencies = ["deepspeed~=0.18.0"]' in deepspeed[0].fix


def test_pins_in_mutually_exclusive_markers_do_not_clash() -> None:
    text = (
        BASE
        + "dependencies = [\"numpy==2.1.0 ; sys_platform == 'linux'\", \"numpy<2 ; sys_platform == 'darwin'\"]\n"
    )
    assert run_rule("pins-cannot-coexist", text) == []
    text = (
        BASE
        + "dependencies = [\"numpy==2.1.0 ; sys_platform == 'linux'\", \"numpy<2 ; python_version < '3.12'\"]\n"
    )
    (f,) = run_rule("pins-cannot-coexist", text)
    assert f.location == "project.dependencies[0]"


def test_engine_mismatch_suggests_a_release_for_your_torch() -> None:
    text = BASE + 'dependencies = ["vllm==0.8.5", "torch==2.7.0"]\n'
    (f,) = run_rule("engine-torch-mismatch", text)
    assert "vllm==0.8.5 pins torch==2.6.0" in f.message
    assert 'project.dependencies[1] = "torch==2.6.0"' in f.fix
    assert 'project.dependencies[0] = "vllm==0.9.2"' in f.fix  # the newest vllm pinning torch 2.7.0
    # an override of torch leaves uv free: no mismatch to report
    assert (
        run_rule("engine-torch-mismatch", text + '[tool.uv]\noverride-dependencies = ["torch==2.7.0"]\n')
        == []
    )


def test_engine_pins_between_extras_are_undeclared_conflicts() -> None:
    text = (FIXTURES / "extras-conflict-undeclared.bad.toml").read_text(encoding="utf-8")
    (f,) = run_rule("extras-conflict-undeclared", text)
    assert "extra 'vllm' and extra 'sglang'" in f.message
    assert '"torch==2.6.0" (required by vllm==0.8.5' in f.message
    assert '"torch==2.7.1" (required by sglang[srt]==0.4.7' in f.message
    assert '[{ extra = "vllm" }, { extra = "sglang" }]' in f.fix
    # the fix, applied, silences the rule
    assert run_rule("extras-conflict-undeclared", text + "\n" + f.fix + "\n") == []


def test_conflicts_of_another_package_do_not_count() -> None:
    text = (FIXTURES / "extras-conflict-undeclared.bad.toml").read_text(encoding="utf-8")
    text += '[tool.uv]\nconflicts = [[{ package = "other", extra = "vllm" }, { package = "other", extra = "sglang" }]]\n'
    (f,) = run_rule("extras-conflict-undeclared", text)
    assert f.fix.startswith("add to tool.uv.conflicts:")


def test_insecure_fix_is_https() -> None:
    text = (FIXTURES / "insecure-index-url.bad.toml").read_text(encoding="utf-8")
    by_loc = {f.location: f.fix for f in run_rule("insecure-index-url", text)}
    assert by_loc["tool.uv.index[0].url"] == 'url = "https://pypi.corp.example.com/simple"'
    assert (
        by_loc["tool.uv.find-links[0]"] == 'tool.uv.find-links[0] = "https://wheels.example.com/links.html"'
    )


def test_required_version_is_advice_so_always_info() -> None:
    (f,) = run_rule("no-required-version", BASE)
    assert f.severity == "info"
    (f,) = run_rule("no-required-version", BASE + "[tool.uv]\npackage = false\n")
    assert f.severity == "info"


def test_unknown_keys_suggest_the_right_one() -> None:
    text = (FIXTURES / "unknown-uv-key.bad.toml").read_text(encoding="utf-8")
    by_loc = {f.location: f for f in run_rule("unknown-uv-key", text)}
    assert "did you mean `environments`?" in by_loc["tool.uv.enviroments"].message
    assert by_loc["tool.uv.enviroments"].fix == "environments = [\"sys_platform == 'linux'\"]"
    assert by_loc["tool.uv.index[0].explict"].fix == "explicit = true"
    assert "`marker`" in by_loc["tool.uv.sources.torch.markr"].message
    assert "`members`" in by_loc["tool.uv.workspace.member"].message
    assert all(f.severity == "error" for f in by_loc.values())


def test_unknown_key_without_a_close_match_is_a_warning() -> None:
    (f,) = run_rule("unknown-uv-key", BASE + "[tool.uv]\nfrobnicate = 1\n")
    assert f.severity == "warning" and f.location == "tool.uv.frobnicate"


def test_locations_quote_keys_that_are_not_bare() -> None:
    text = BASE + '[tool.uv.sources]\n"ruamel.yaml" = { git = "https://x/y.git", brnach = "main" }\n'
    (f,) = run_rule("unknown-uv-key", text)
    assert f.location == 'tool.uv.sources."ruamel.yaml".brnach'


def test_whole_check_orders_errors_first() -> None:
    text = (FIXTURES / "unknown-uv-key.bad.toml").read_text(encoding="utf-8")
    report = check_text(text)
    ranks = [("error", "warning", "info").index(f.severity) for f in report.findings]
    assert ranks == sorted(ranks)
