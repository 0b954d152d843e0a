"""A sweep's jobs and the steps that run them.

Three kinds of job, each a step of ``medlethe run``:

- ``finetune``: a target (``on="train"``) or oracle (``on="retain"``) of one seed. Jobs are
  keyed by the fine-tune's fingerprint, so scenarios with the same training data (every
  synthclinic scenario's target) share one job per seed.
- ``reference``: a scenario's target and oracle evaluated and compared with each other.
- ``method``: one method variant unlearning a scenario's forget set from the seed's
  target, evaluated and judged against the reference runs.

The steps are plain functions of picklable arguments (:class:`Settings`, names, seeds), so
the local executor calls them and the Ray executor ships them to workers; they return runs
unwritten and the driver writes them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from medlethe.errors import MedletheError
from medlethe.results.evaluation import EvaluationRun
from medlethe.spec import RunSpec, run_spec
from medlethe.sweep.executors import SkippedError
from medlethe.task.base import Task, fingerprint
from medlethe.training.pipeline import AnyTrainConfig, FinetuneOutput


@dataclass(frozen=True)
class Settings:
    """What every job of a sweep shares: the plan's run spec (each job puts its scenario
    and seed in, :meth:`spec_for`), the command, and the plugins switched off."""

    spec: RunSpec
    command: tuple[str, ...] | None = None
    #: plugins switched off (``-p no:NAME``); workers build the same registry
    disabled: tuple[str, ...] = ()
    progress: bool = False
    #: the time (``time.time()``) after which method jobs are left for the next run
    deadline: float | None = None

    def spec_for(self, scenario: str, seed: int) -> RunSpec:
        """The run spec of one scenario and seed of the sweep."""
        return run_spec(self.spec, scenario, seed=seed)

    def identity(self) -> str:
        s = self.spec
        parts: list[Any] = [s.model, s.backend, s.backend_args, s.task_args, s.train_args,
                            list(s.splits) if s.splits else None]
        utility = s.utility()
        if utility is not None:  # absent before utility tasks: old job ids stay
            parts.append([list(utility.tasks), utility.num_fewshot, utility.limit,
                          utility.include_path])
        if s.limit is not None:  # likewise
            parts.append({"limit": s.limit})
        return fingerprint(parts)


@dataclass(frozen=True)
class Job:
    step: str  # "finetune" | "reference" | "method": the step of medlethe run it does
    scenario: str
    seed: int
    #: finetune jobs: "train" (target) or "retain" (oracle)
    on: str | None = None
    #: method jobs: the variant's label (``NPO`` or ``NPO[beta=0.2]``), method and arguments
    label: str | None = None
    method: str | None = None
    params: str = "{}"  # JSON, so a job is hashable
    #: finetune jobs: the fine-tune's fingerprint (the job's identity)
    finetune: str | None = None
    #: what the plan's settings measure (:meth:`Settings.identity`): a plan changed in
    #: its model, backend, task, training arguments or splits makes new jobs
    setting: str = ""

    @property
    def id(self) -> str:
        """Stable across runs of the same plan: it names the job's record on disk."""
        parts = [self.step, self.finetune] if self.step == "finetune" else [
            self.step, self.scenario, self.seed, self.label, self.params, self.setting,
        ]
        return fingerprint(parts)[:16]

    @property
    def name(self) -> str:
        what = {"finetune": f"fine-tune {'target' if self.on == 'train' else 'oracle'}",
                "reference": "target and oracle", "method": self.label or ""}[self.step]
        return f"seed {self.seed} · {self.scenario} · {what}"

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(json.loads(self.params))


def _registry(settings: Settings) -> Any:
    from medlethe.registry import get_registry

    return get_registry(settings.disabled)


def scenario_task(settings: Settings, scenario: str) -> Task:
    from medlethe.training.pipeline import load_scenario

    return load_scenario(scenario, settings.spec.task_args, registry=_registry(settings))


def seed_train_config(settings: Settings, task: Task, seed: int) -> AnyTrainConfig:
    """The plan's training arguments with the sweep's seed."""
    from medlethe.training.pipeline import train_config

    if "seed" in settings.spec.train_args:
        raise MedletheError(
            "a sweep sets the training seed from its seeds; remove 'seed' from train_args "
            "(or --train-args) and list the seeds in 'seeds' (or --seeds)."
        )
    return train_config(settings.spec.model, {**settings.spec.train_args, "seed": seed}, task)


def method_params(
    settings: Settings, method: str, params: dict[str, Any], seed: int
) -> dict[str, Any]:
    """A variant's hyperparameters with the sweep's seed where the method takes one and the
    plan did not fix it."""
    from medlethe.unlearn.pipeline import build_method

    _, built = build_method(method, params, registry=_registry(settings))
    fields = getattr(type(getattr(built, "params", None)), "model_fields", {})
    return {**params, "seed": seed} if "seed" in fields and "seed" not in params else params


def _bench(settings: Settings, scenario: str, seed: int) -> Any:
    from medlethe.run import RunSteps

    return RunSteps(
        settings.spec_for(scenario, seed), scenario_task(settings, scenario),
        _registry(settings), progress=settings.progress,
        command=list(settings.command) if settings.command else None,
    )


def _threads() -> None:
    """A Ray worker gets ``OMP_NUM_THREADS`` for its CPUs; torch should use as many."""
    import os

    import torch

    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit() and int(n) > 0:
        torch.set_num_threads(int(n))


# -- the steps (what a worker runs) ------------------------------------------------------------
def finetune_step(settings: Settings, scenario: str, seed: int, on: str) -> FinetuneOutput:
    from medlethe.training.pipeline import finetune

    _threads()
    task = scenario_task(settings, scenario)
    return finetune(
        settings.spec.model, task, on,  # type: ignore[arg-type]
        config=seed_train_config(settings, task, seed), progress=settings.progress,
    )


def reference_step(
    settings: Settings, scenario: str, seed: int, target: FinetuneOutput, oracle: FinetuneOutput
) -> dict[str, EvaluationRun]:
    _threads()
    runs: dict[str, EvaluationRun] = _bench(settings, scenario, seed).references(target, oracle)
    return runs


def method_step(
    settings: Settings,
    scenario: str,
    seed: int,
    label: str,
    method: str,
    params: dict[str, Any],
    target: FinetuneOutput,
    refs: dict[str, EvaluationRun],
) -> EvaluationRun:
    if settings.deadline is not None and time.time() > settings.deadline:
        raise SkippedError("not started: the sweep's time budget (budget_minutes) is spent; "
                           "run the same command again to go on")
    _threads()
    run: EvaluationRun = _bench(settings, scenario, seed).unlearned(
        method, target, refs, method_params(settings, method, params, seed), label=label,
    )
    return run
