"""Kinds of task are plugins: the built-in ones come through ``register_kinds`` like any
other component, the evaluator takes requests and samples from them, and a kind that asks
something no backend answers, or a task of an unregistered kind, is an error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medlethe.backends import LoglikelihoodRequest
from medlethe.cli import main
from medlethe.errors import UnknownComponentError
from medlethe.kind import Kind, kind_of
from medlethe.metrics import CHANCE_LABEL
from medlethe.metrics.constants import ACCURACY, PRIMARY
from medlethe.registry import get_registry
from medlethe.task import GenerationConfig, Instance


def test_the_builtin_kinds_are_registered_through_the_hook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reg = get_registry()
    builtin = [n for n, c in reg.components["kind"].items() if c.plugin.name == "core_kinds"]
    assert builtin == ["generate", "multiple_choice", "loglikelihood", "classify"]
    assert reg.components["kind"]["tabular"].plugin.distribution == "medlethe-tabular"
    assert main(["kinds"]) == 0
    shown = capsys.readouterr().out
    assert "multiple_choice" in shown and "core_kinds" in shown and "tabular" in shown
    # the per-kind scores come from the kinds (a plugin's too), plus lm-eval utility tasks'
    assert dict(PRIMARY) == {"generate": "rouge_l_recall", "multiple_choice": "accuracy",
                             "loglikelihood": "probability", "classify": "sample_f1",
                             "tabular": "tabular/accuracy", "lmeval": "utility_score"}
    assert dict(ACCURACY) == {"generate": "exact_match", "multiple_choice": "accuracy",
                              "classify": "class_accuracy", "tabular": "tabular/accuracy"}


def _mc(n: int) -> Instance:
    return Instance("t", "forget", 0, "multiple_choice", "Q:", "b",
                    choices=tuple("abcd"[:n]), gold=1)


def test_a_kind_asks_its_requests_and_assembles_its_sample() -> None:
    reg = get_registry()
    mc = kind_of("multiple_choice", reg)
    asks = mc.asks(_mc(3), frozenset({"perturbed"}))
    assert asks == {"loglikelihood": [LoglikelihoodRequest("Q:", " a"),
                                      LoglikelihoodRequest("Q:", " b"),
                                      LoglikelihoodRequest("Q:", " c")]}
    sample = mc.sample(_mc(3), {"loglikelihood": ["x", "y", "z"]}, frozenset())
    assert sample.choices == ("x", "y", "z") and sample.gold == "y"
    labels = mc.row_labels(None, [_mc(2), _mc(4)])  # type: ignore[arg-type]
    assert labels == {CHANCE_LABEL: [0.5, 0.25]}
    gen = kind_of("generate", reg)
    inst = Instance("t", "forget", 0, "generate", "Q:", "gold", perturbed=("p1", "p2"),
                    generation=GenerationConfig())
    asks = gen.asks(inst, frozenset({"gold"}))
    assert [r.continuation for r in asks["loglikelihood"]] == [" gold"]
    sample = gen.sample(inst, {"generate": ["g"], "loglikelihood": ["l"]}, frozenset({"gold"}))
    assert (sample.generation, sample.continuation, sample.perturbed) == ("g", "l", ())


def test_a_task_of_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(UnknownComponentError, match=r"Unknown kind 'multiple_choise'.*"
                       r"multiple_choice.*'medlethe kinds' lists"):
        kind_of("multiple_choise", get_registry())


class _Asks(Kind):
    request_types = ("transcribe",)

    def asks(self, instance: Instance, needs: frozenset[str]) -> Any:
        return {"transcribe": [instance.prompt]}

    def sample(self, instance: Instance, answers: Any, needs: frozenset[str]) -> Any:
        raise AssertionError("never reached")


def test_a_request_no_backend_answers_is_an_error_naming_it() -> None:
    from medlethe.errors import TaskConfigError
    from medlethe.evaluator import _samples

    with pytest.raises(TaskConfigError, match="asks 'transcribe' requests"):
        _samples(_Asks(), [_mc(2)], object(), "t:forget", frozenset())  # type: ignore[arg-type]


def test_a_plugin_kind_runs_end_to_end_to_a_leaderboard_page(tmp_path: Path) -> None:
    """tests/kind_pkg (medlethe-tabular, installed like any plugin) adds a kind medlethe
    does not ship: structured rows on a small MLP, with its own model family, backend,
    task, method and metrics. `medlethe run` fine-tunes, unlearns, evaluates and judges it,
    and the leaderboard shows the kind's own columns."""
    import json

    out, site = tmp_path / "run", tmp_path / "site"
    assert main(["run", "--model", "mlp", "--scenario", "tabular/lab-abnormality",
                 "--backend", "tabular", "--methods", "tabular/GradDiff", "--output",
                 str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    forget = next(c for c in summary["preconditions"] if c["split"] == "forget")
    # the target knows the forgotten patients' visits beyond the oracle that never saw them
    assert forget["reference"] == "oracle" and forget["held"], forget
    assert forget["metric"] == "tabular/accuracy"
    assert [m["label"] for m in summary["models"]] == ["target", "oracle", "tabular/GradDiff"]
    row = next(r for r in summary["rows"] if (r["metric"], r["split"], r["subset"]) == (
        "tabular/accuracy", "forget", None))
    cells = {label: c["value"] for label, c in row["cells"].items()}
    assert cells["tabular/GradDiff"] < cells["target"]  # the method forgot something
    assert main(["leaderboard", "build", str(out / "results"), "--out", str(site)]) == 0
    page = next(site.glob("scenario-tabular*.html")).read_text()
    assert "forget accuracy" in page and "holdout accuracy" in page
