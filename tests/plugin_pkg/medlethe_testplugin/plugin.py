"""One task, one method, metrics (one whose dependency is missing on purpose), an analysis
and an attack."""

from __future__ import annotations

from pathlib import Path

import medlethe
from medlethe.task import yaml_task_factory

HERE = Path(__file__).parent


@medlethe.hookimpl
def register_tasks(register):
    register(
        "testplugin/drug-doses",
        yaml_task_factory(HERE / "drug_doses.yaml"),
        description="fictional drugs and their doses (generate)",
    )


@medlethe.hookimpl
def register_methods(register):
    register(
        "testplugin/ShuffledAnswers",
        "medlethe_testplugin.method:ShuffledAnswers",
        description="train forget questions on other questions' answers",
    )


@medlethe.hookimpl
def register_metrics(register):
    register(
        "answer_words",
        "medlethe_testplugin.metrics:AnswerWords",
        description="number of words in the generated answer",
    )
    register(
        "forget_gap",
        "medlethe_testplugin.metrics:ForgetGap",
        description="target's forget exact match minus this model's (a run metric)",
        run_metric=True,
    )
    register(
        "needs_missing_lib",
        "medlethe_testplugin.missing:NeedsMissingLib",
        description="needs a package that is not installed (tests the error)",
    )


@medlethe.hookimpl
def register_analyses(register):
    register("testplugin/seeds-per-model", "medlethe_testplugin.analysis:SeedsPerModel")


@medlethe.hookimpl
def register_attacks(register):
    register("testplugin/identity", "medlethe_testplugin.attack:Identity")
