"""The main pipeline: fine-tune target and oracle, evaluate them on every split, summarise.

(Unlearning methods join this pipeline with the methods issue.)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.evaluator import evaluate
from medlethe.registry import get_registry
from medlethe.report.summary import build_summary, format_table, write_summary
from medlethe.results.schema import Results
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import FinetuneOutput, finetune, load_scenario


@dataclass
class PipelineOutput:
    summary: dict[str, Any]
    summary_path: Path
    html_path: Path
    runs: list[tuple[str, Results, Path]]


def scenario_tasks(scenario: str) -> list[str]:
    """The scenario's task plus its multiple-choice form where one is registered."""
    names = get_registry().names("task")
    return [scenario] + ([f"{scenario}/mc"] if f"{scenario}/mc" in names else [])


def _provenance(model: str, scenario: str, ft: FinetuneOutput, task_args: dict[str, Any]):  # type: ignore[no-untyped-def]
    return {
        "base_model": model,
        "base_path": ft.base,
        "scenario": scenario,
        "task_args": task_args,
        "trained_on": ft.on,
        "finetune_fingerprint": ft.fingerprint,
        "train_config": dataclasses.asdict(ft.config),
    }


def run_pipeline(
    model: str,
    scenario: str,
    *,
    output: str | Path,
    backend: str = "hf",
    backend_args: dict[str, Any] | None = None,
    task_args: dict[str, Any] | None = None,
    splits: Sequence[str] | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 1234,
    progress: bool = True,
    cache: str | Path | bool = True,
    command: Sequence[str] | None = None,
    echo: bool = True,
) -> PipelineOutput:
    out = Path(output)
    task_args = dict(task_args or {})
    timings: dict[str, float] = {}
    started = time.perf_counter()
    task = load_scenario(scenario, task_args)
    target = finetune(model, task, "train", config=train_config, progress=progress)
    timings["finetune_target_s"] = target.seconds
    oracle = finetune(model, task, "retain", config=train_config, progress=progress)
    timings["finetune_oracle_s"] = oracle.seconds
    tasks = scenario_tasks(scenario)
    runs: list[tuple[str, Results, Path]] = []
    for label, ft in (("target", target), ("oracle", oracle)):
        t0 = time.perf_counter()
        res = evaluate(
            str(ft.path),
            tasks,
            backend=backend,
            backend_args=backend_args,
            task_args=task_args,
            splits=splits,
            output=out / "results",
            seed=seed,
            progress=progress,
            cache=cache,
            command=command,
            model_role=label,
            model_provenance=_provenance(model, scenario, ft, task_args),
        )
        assert res.results_path is not None
        runs.append((label, res.results, res.results_path))
        timings[f"evaluate_{label}_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    summary = build_summary(
        runs, scenario=scenario, extra={"model": model, "timings": timings}
    )
    json_path, html_path = write_summary(summary, out)
    if echo:
        print(format_table(summary))
        print(f"\nsummary: {json_path}\nreport:  {html_path}")
    return PipelineOutput(summary, json_path, html_path, runs)
