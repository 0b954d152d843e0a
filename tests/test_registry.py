"""Plugin discovery through real entry points: built-ins, the test plugin, clashes, typos."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medlethe.errors import PluginError, UnknownComponentError
from medlethe.registry import build_registry, clear_registry_cache, get_registry
from tests.conftest import run_cli


def make_distribution(root: Path, dist: str, module: str, source: str) -> Path:
    """Write a real installed distribution (dist-info with an entry point) under ``root``."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.9\n")
    (info / "entry_points.txt").write_text(f"[medlethe]\n{module} = {module}\n")
    return root


def test_builtins_and_third_party_share_one_entry_point_group() -> None:
    reg = get_registry()
    by_name = {p.name: p for p in reg.plugins}
    assert by_name["core_metrics"].distribution == "medlethe"
    assert by_name["testplugin"].distribution == "medlethe-testplugin"
    assert by_name["testplugin"].version == "0.3.1"
    assert reg.get("metric", "answer_words").plugin.name == "testplugin"
    assert reg.get("backend", "hf").plugin.name == "core_backends"
    assert "testplugin/drug-doses" in reg.names("task")


def test_registry_is_built_once_per_process() -> None:
    assert get_registry() is get_registry()


def test_disable_plugin_by_name_and_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = get_registry(["testplugin"])
    assert "testplugin/drug-doses" not in reg.names("task")
    assert "exact_match" in reg.names("metric")
    monkeypatch.setenv("MEDLETHE_DISABLE_PLUGINS", "core_metrics")
    clear_registry_cache()
    assert "exact_match" not in get_registry().names("metric")


def test_autoload_off_keeps_only_medlethe_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDLETHE_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = build_registry()
    assert {p.distribution for p in reg.plugins} == {"medlethe"}


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownComponentError, match=r"Did you mean 'rouge_l_recall'"):
        get_registry().get("metric", "rouge_l_recal")


def test_name_clash_names_both_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(
        tmp_path,
        "clash-plugin",
        "clash_plugin",
        """
        import medlethe

        @medlethe.hookimpl
        def register_metrics(register):
            register("answer_words", "clash_plugin:Nothing")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        build_registry()
    message = str(info.value)
    assert "'answer_words'" in message
    assert "clash_plugin" in message and "testplugin" in message
    assert "clash-plugin" in message and "medlethe-testplugin" in message


def test_misspelt_hook_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(
        tmp_path,
        "typo-plugin",
        "typo_plugin",
        """
        import medlethe

        @medlethe.hookimpl
        def register_metric(register):
            pass
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"typo_plugin.*register_metric|register_metric"):
        build_registry()


def test_plugin_that_fails_to_import_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_distribution(tmp_path, "broken-plugin", "broken_plugin", "raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"broken_plugin.*broken-plugin.*boom.*-p no:"):
        build_registry()


def test_missing_optional_dependency_names_component_and_install() -> None:
    from medlethe.errors import MissingDependencyError

    comp = get_registry().get("metric", "needs_missing_lib")
    with pytest.raises(MissingDependencyError, match=r"needs_missing_lib.*pip install"):
        comp.load()


def test_startup_imports_no_heavy_library() -> None:
    code = (
        "import sys, medlethe.cli as c\n"
        "from medlethe.registry import get_registry\n"
        "get_registry()\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'vllm') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_plugins_lists_distribution_and_components() -> None:
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("testplugin"))
    line = lines[at]
    assert "medlethe-testplugin" in line and "0.3.1" in line
    # the components column wraps onto indented lines of its own (at most 100 characters)
    more = []
    for ln in lines[at + 1:]:
        if not ln.startswith(" "):
            break
        more.append(ln.strip())
    block = " ".join([line, *more])
    assert "task:testplugin/drug-doses" in block and "metric:answer_words" in block
    assert max(len(ln) for ln in lines) <= 100


def test_cli_disable_flag() -> None:
    proc = run_cli("-p", "no:testplugin", "tasks")
    assert proc.returncode == 0, proc.stderr
    assert "testplugin/drug-doses" not in proc.stdout
    bad = run_cli("-p", "testplugin", "tasks")
    assert bad.returncode == 2 and "no:NAME" in bad.stderr
