"""The plugin contract: public names only, one name per component, descriptions, and the
registry of the command line reaching every stage."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import medlethe
from medlethe.registry import get_registry
from tests.conftest import ROOT, run_cli

#: the modules a plugin author may import from; every other medlethe module is internal
PUBLIC = {"medlethe", "medlethe.task", "medlethe.metrics", "medlethe.unlearn", "medlethe.backends",
          "medlethe.training", "medlethe.errors", "medlethe.results", "medlethe.report",
          "medlethe.sweep"}
PLUGINS = [ROOT / "tests" / "plugin_pkg" / "medlethe_testplugin", ROOT / "examples" / "taskpack",
           ROOT / "tests" / "kind_pkg" / "medlethe_tabular"]


def medlethe_imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) of every medlethe import in a file."""
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "medlethe"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "medlethe":
            assert node.module is not None
            found += [(node.module, a.name, node.lineno) for a in node.names]
    return found


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: p.name)
def test_example_plugins_import_only_public_names(folder: Path) -> None:
    files = sorted(folder.rglob("*.py"))
    assert files
    seen = 0
    for path in files:
        for module, name, line in medlethe_imports(path):
            seen += 1
            where = f"{path.relative_to(ROOT)}:{line}"
            assert module in PUBLIC, f"{where} imports the internal module {module}"
            if name is not None:
                public = importlib.import_module(module).__all__
                assert name in public, f"{where} imports {name}, not in {module}.__all__"
    assert seen > 0


#: the built-in packages, each allowed its own modules
BUILTINS = {"kinds": "medlethe.kinds", "tasks": "medlethe.tasks", "methods": "medlethe.methods",
            "plugins": "medlethe.plugins", "leaderboard": "medlethe.leaderboard"}


def test_builtins_import_only_public_names() -> None:
    """Every built-in (kinds, tasks, methods, plugins, the leaderboard) uses the API a
    third party sees: names in a public module's ``__all__``, or its own package's."""
    found = []
    for folder, own in BUILTINS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module, name, line in medlethe_imports(path):
                full = f"{module}.{name}" if name else module
                if module == own or module.startswith(own + ".") or full.startswith(own + "."):
                    continue
                if module in PUBLIC and (name is None or
                                         name in importlib.import_module(module).__all__):
                    continue
                found.append(f"{path.relative_to(ROOT)}:{line} imports {full}")
    assert not found, ("built-ins import names that are not public (import each from a "
                       "public module, or export it there): " + "; ".join(found))


def test_public_names_resolve() -> None:
    for module in PUBLIC:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            assert getattr(mod, name) is not None, f"{module}.{name}"
    # the contract nouns a plugin author needs are in the top-level package
    for noun in ("Task", "Instance", "Metric", "RunMetric", "Method", "LossMethod",
                 "MethodParams", "Batch", "encode", "collate", "nll", "Backend", "evaluate",
                 "run_pipeline", "compare", "optional_import", "EvaluationRun"):
        assert noun in medlethe.__all__, noun


def test_the_registry_names_what_it_builds() -> None:
    reg = get_registry()
    method = reg.get("method", "KL-Min").build()
    assert (method.name, method.plugin) == ("KL-Min", "core_methods")
    metric = reg.get("metric", "mia_auc_zlib").build()
    assert (metric.name, metric.plugin, metric.also_reports) == (
        "mia_auc_zlib", "core_metrics", ("mia_resistance_zlib",))
    third = reg.get("method", "testplugin/ShuffledAnswers").build()
    assert (third.name, third.plugin) == ("testplugin/ShuffledAnswers", "testplugin")
    # no class repeats its registered name
    for kind in ("method", "metric", "backend"):
        for comp in reg.components[kind].values():
            if comp.name == "needs_missing_lib":
                continue
            assert "name" not in vars(comp.load()), comp.name
    # a factory's error names the component it was building
    with pytest.raises(medlethe.MedletheError, match=r"method 'NPO' \(core_methods\).*beta"):
        reg.get("method", "NPO").build(beta=-1)


def test_descriptions_come_from_the_docstring() -> None:
    reg = get_registry()
    ga = reg.get("method", "GradAscent")
    assert ga.description == ""
    assert ga.summary() == "Gradient ascent on the forget set: loss = -CE(D_f)."
    proc = run_cli("methods")
    assert proc.returncode == 0, proc.stderr
    assert "Gradient ascent on the forget set" in proc.stdout
    params = run_cli("methods", "--params", "NPO")
    assert params.returncode == 0, params.stderr
    assert "beta" in params.stdout and "inverse temperature" in params.stdout


def test_disabled_plugin_is_off_in_finetune_and_unlearn() -> None:
    """``-p no:NAME`` reaches the stage that needs the component (each fails before any
    training because the component is gone)."""
    ft = run_cli("-p", "no:core_tasks", "finetune", "--model", "tiny",
                 "--scenario", "synthclinic/patient-10", "--on", "train")
    assert ft.returncode == 2 and "Unknown task 'synthclinic/patient-10'" in ft.stderr
    ul = run_cli("-p", "no:core_methods", "unlearn", "--method", "GradAscent",
                 "--scenario", "synthclinic/patient-10")
    assert ul.returncode == 2 and "Unknown method 'GradAscent'" in ul.stderr
    rn = run_cli("-p", "no:core_tasks", "run", "--scenario", "synthclinic/patient-10",
                 "--methods", "")
    assert rn.returncode == 2 and "Unknown task" in rn.stderr
