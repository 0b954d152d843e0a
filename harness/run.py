"""The main pipeline: fine-tune target and oracle, unlearn with each method, evaluate every
model on every split, summarise. A method that fails is reported; the others go on."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.compare import compare
from medlethe.evaluator import component_record, evaluate
from medlethe.registry import get_registry
from medlethe.report.summary import build_summary, write_summary
from medlethe.report.text import print_report
from medlethe.results.schema import Results
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import FinetuneOutput, finetune, load_scenario
from medlethe.unlearn.pipeline import unlearn


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


def builtin_methods() -> list[str]:
    """The methods medlethe itself ships, in registration order."""
    reg = get_registry()
    return [
        c.name for c in reg.components["method"].values() if c.plugin.distribution == "medlethe"
    ]


def _provenance(
    model: str, scenario: str, ft: FinetuneOutput, task_args: dict[str, Any]
) -> dict[str, Any]:
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
    methods: Sequence[str] | None = None,
    method_args: dict[str, dict[str, Any]] | None = None,
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

    def run_eval(label: str, path: Path, **kwargs: Any) -> Path:
        t0 = time.perf_counter()
        res = evaluate(
            str(path),
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
            **kwargs,
        )
        assert res.results_path is not None
        runs.append((label, res.results, res.results_path))
        timings[f"evaluate_{label}_s"] = time.perf_counter() - t0
        return res.results_path

    def run_compare(path: Path, refs: dict[str, Path]) -> None:
        t0 = time.perf_counter()
        updated = compare(path, refs, seed=seed)
        label = next(lab for lab, _, p in runs if p == path)
        runs[:] = [(lab, updated if p == path else r, p) for lab, r, p in runs]
        timings[f"compare_{label}_s"] = time.perf_counter() - t0

    paths = {
        label: run_eval(
            label, ft.path, model_role=label,
            model_provenance=_provenance(model, scenario, ft, task_args),
        )
        for label, ft in (("target", target), ("oracle", oracle))
    }
    # The target against the oracle (how far it is from never having seen the forget set)
    # and the oracle against the target (what perfect unlearning would achieve).
    run_compare(paths["target"], {"oracle": paths["oracle"]})
    run_compare(paths["oracle"], {"target": paths["target"]})
    failures: list[dict[str, str]] = []
    for name in builtin_methods() if methods is None else methods:
        try:
            result = unlearn(
                name, task, target, model,
                params=(method_args or {}).get(name), progress=progress,
            )
            timings[f"unlearn_{name}_s"] = result.seconds
            path = run_eval(
                name,
                result.output.path,
                adapter=str(result.output.adapter) if result.output.adapter else None,
                model_role="unlearned",
                model_provenance={
                    **_provenance(model, scenario, target, task_args),
                    "unlearn_fingerprint": result.fingerprint,
                    "unlearn": result.meta,
                },
                method=component_record(result.component, result.params),
            )
            run_compare(path, paths)
        except Exception as exc:  # one failing method must not stop the others
            failures.append({"method": name, "error": f"{type(exc).__name__}: {exc}"})
            print(f"medlethe: method {name!r} failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
    timings["total_s"] = time.perf_counter() - started
    summary = build_summary(
        runs,
        scenario=scenario,
        extra={"model": model, "timings": timings, "failures": failures},
    )
    json_path, html_path = write_summary(summary, out)
    if echo:
        print_report(out)
        print(f"\nsummary: {json_path}\nreport:  {html_path}")
    return PipelineOutput(summary, json_path, html_path, runs)
