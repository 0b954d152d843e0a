"""General utility on lm-eval tasks, inside a medlethe run.

``--utility-tasks lmeval:TASK[,TASK...]`` evaluates every model of a run (target, oracle,
each unlearned model) on lm-evaluation-harness tasks through lm-eval's own Python API
(``lm_eval.simple_evaluate``), with the run's backend settings: ``hf`` (transformers, with a
LoRA adapter as lm-eval's ``peft``) or ``vllm`` (with ``lora_local_path``). lm-eval's numbers
are stored in the model's results file as they are: each metric of each task, with lm-eval's
standard error beside it (``<metric>_stderr``), the task's version, n-shot and config hash,
and per-document values in the values file (numbers only). The interval of each metric is
medlethe's bootstrap over lm-eval's per-document values (documents resampled); MU
(``score_after / score_before``) then reads the task's first metric like any utility split.
Install ``pip install 'medlethe[lm-eval]'``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from medlethe._optional import optional_import
from medlethe.errors import MedletheError
from medlethe.metrics.bootstrap import Clusters, bootstrap_ci
from medlethe.metrics.constants import CHANCE_LABEL, UTILITY_SCORE
from medlethe.results.evaluation import CLUSTER_LABEL, EvaluationRun
from medlethe.results.schema import CI, MetricResult, TaskRecord
from medlethe.task.base import fingerprint

PREFIX = "lmeval:"
#: the output type medlethe records for an lm-eval task (its primary score: UTILITY_SCORE)
OUTPUT_TYPE = "lmeval"


@dataclass(frozen=True)
class UtilitySpec:
    """Which lm-eval tasks, and how: ``include_path`` adds local task configs (lm-eval's
    ``--include_path``), ``num_fewshot`` and ``limit`` as in lm-eval."""

    tasks: tuple[str, ...]
    include_path: str | None = None
    num_fewshot: int | None = None
    limit: int | None = None
    batch_size: int = 8


def utility_spec(tasks: Sequence[str] | None, args: Mapping[str, Any] | None) -> UtilitySpec | None:
    """The spec of ``--utility-tasks`` and ``--utility-args`` (``None`` without tasks)."""
    if not tasks:
        if args:
            raise MedletheError("--utility-args without --utility-tasks: name the lm-eval "
                                "tasks, e.g. --utility-tasks lmeval:pubmedqa")
        return None
    known = {"include_path", "num_fewshot", "limit", "batch_size"}
    unknown = sorted(set(args or {}) - known)
    if unknown:
        raise MedletheError(f"unknown --utility-args {unknown}; known: {', '.join(sorted(known))}")
    return UtilitySpec(parse_utility_tasks(tasks), **dict(args or {}))


def parse_utility_tasks(items: Sequence[str]) -> tuple[str, ...]:
    """``["lmeval:a,b", "lmeval:c"]`` -> ``("a", "b", "c")``; anything else is an error."""
    out: list[str] = []
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            if part.startswith(PREFIX):
                part = part[len(PREFIX):]
            elif not out:
                raise MedletheError(
                    f"--utility-tasks {item!r}: give lm-eval tasks as lmeval:TASK[,TASK...] "
                    "(e.g. lmeval:pubmedqa,mmlu_clinical_knowledge)."
                )
            out.append(part)
    if not out:
        raise MedletheError("--utility-tasks names no task; e.g. lmeval:pubmedqa")
    return tuple(dict.fromkeys(out))


def _model_args(
    backend: str, path: str, adapter: str | None, backend_args: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """lm-eval's model name and arguments for medlethe's backend settings."""
    if backend == "hf":
        import torch

        args: dict[str, Any] = {
            "pretrained": path, "dtype": backend_args.get("dtype", "float32"),
            "device": backend_args.get("device") or ("cuda" if torch.cuda.is_available()
                                                     else "cpu"),
        }
        if adapter:
            args["peft"] = adapter
        return "hf", args
    if backend == "vllm":
        args = {"pretrained": path, "dtype": backend_args.get("dtype", "float32")}
        for key in ("gpu_memory_utilization", "max_model_len", "tensor_parallel_size",
                    "data_parallel_size"):
            if backend_args.get(key) is not None:
                args[key] = backend_args[key]
        if adapter:
            args.update(lora_local_path=adapter, enable_lora=True)
        return "vllm", args
    raise MedletheError(
        f"--utility-tasks runs lm-eval with the hf or vllm backend; this run uses {backend!r}. "
        "Use --backend hf (or vllm) for lm-eval utility tasks."
    )


def _metric_keys(task_results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(metric, filter) of every metric lm-eval reported for a task, in its order."""
    out = []
    for key, value in task_results.items():
        name, sep, filt = key.partition(",")
        if sep and not name.endswith("_stderr") and isinstance(value, int | float):
            out.append((name, filt))
    return out


def _ci(values: np.ndarray, doc_ids: Sequence[Any], seed: int) -> CI | None:
    interval = bootstrap_ci(values, Clusters.of(list(doc_ids), len(values), "document"),
                            seed=seed)
    if interval is None:
        return None
    return CI(low=interval.low, high=interval.high, level=interval.level,
              method=interval.method, n_resamples=interval.n_resamples, unit=interval.unit)


def lmeval_results(
    raw: Mapping[str, Any], seed: int
) -> tuple[dict[str, TaskRecord], list[MetricResult], dict[str, Any], dict[str, Any]]:
    """medlethe records from ``lm_eval.simple_evaluate``'s output (with ``log_samples``):
    task records, metric results, per-document values and labels."""
    import lm_eval

    tasks: dict[str, TaskRecord] = {}
    metrics: list[MetricResult] = []
    values: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    higher = raw.get("higher_is_better", {})
    version = f"lm-eval {lm_eval.__version__}"
    for name, res in raw["results"].items():
        samples = raw.get("samples", {}).get(name, [])
        config = raw.get("configs", {}).get(name, {})
        split = str(config.get("test_split") or config.get("validation_split") or "test")
        key = PREFIX + name
        doc_ids = [s.get("doc_id", i) for i, s in enumerate(samples)]
        cols: dict[str, list[Any]] = {}
        keys = _metric_keys(res)
        for i, (metric, filt) in enumerate(keys):
            shown = metric if filt == "none" else f"{metric}[{filt}]"
            rows = [s.get(metric) for s in samples if s.get("filter", filt) == filt]
            numeric = (len(rows) == len(samples) and rows
                       and all(isinstance(r, int | float) for r in rows))
            value = float(res[f"{metric},{filt}"])
            arr = np.asarray(rows, dtype=float) if numeric else None
            exact = arr is not None and abs(float(arr.mean()) - value) < 1e-9
            if exact:
                cols[shown] = arr.tolist()  # type: ignore[union-attr]
                if i == 0:
                    cols[UTILITY_SCORE] = arr.tolist()  # type: ignore[union-attr]
            direction = "higher" if higher.get(name, {}).get(metric, True) else "lower"
            metrics.append(MetricResult(
                task=key, split=split, metric=shown, metric_version=version,
                plugin="lm-eval", value=value,
                ci=_ci(arr, doc_ids, seed) if exact else None,  # type: ignore[arg-type]
                direction=direction, n=len(samples),
            ))
            stderr = res.get(f"{metric}_stderr,{filt}")
            if isinstance(stderr, int | float) and np.isfinite(stderr):
                metrics.append(MetricResult(
                    task=key, split=split, metric=f"{shown}_stderr",
                    metric_version=version, plugin="lm-eval",
                    value=float(stderr), ci=None, direction="none", n=len(samples),
                ))
        values[key] = {split: cols}
        labels[key] = {split: {CLUSTER_LABEL: [str(d) for d in doc_ids]}}
        if config.get("output_type") == "multiple_choice" and samples and all(
            s.get("arguments") for s in samples
        ):  # 1 / options per document: the knowledge check compares with chance
            labels[key][split][CHANCE_LABEL] = [1 / len(s["arguments"]) for s in samples]
        n_shot = raw.get("n-shot", {}).get(name)
        tasks[key] = TaskRecord(
            name=key, version=str(raw.get("versions", {}).get(name, "unknown")),
            output_type=OUTPUT_TYPE, plugin="lm-eval", distribution="lm_eval",
            plugin_version=lm_eval.__version__,
            config_hash=fingerprint(json.loads(json.dumps(config, default=str))),
            prompt_template_hash=fingerprint([config.get("doc_to_text"),
                                              config.get("doc_to_choice"),
                                              config.get("doc_to_target")]),
            chat_template=None, args={"num_fewshot": n_shot, "lmeval_task": name},
            splits={split: len(samples)},
            data_fingerprints={split: fingerprint([config.get("dataset_path"),
                                                   config.get("dataset_name"),
                                                   config.get("dataset_kwargs"), split])},
            sampling_unit="document",
        )
    return tasks, metrics, values, labels


@contextlib.contextmanager
def _quiet_git() -> Iterator[None]:
    """lm-eval records the git commit of the working folder by running ``git describe``
    with its stderr on the terminal: outside a repository that prints ``fatal: not a git
    repository`` once per model. The same question, with git's stderr discarded."""
    import subprocess

    import lm_eval.evaluator as ev

    def commit() -> str | None:
        try:
            out = subprocess.run(["git", "describe", "--always"], capture_output=True,
                                 text=True, check=False)
        except OSError:  # no git on this machine
            return None
        return (out.stdout.strip() or None) if out.returncode == 0 else None

    saved = ev.get_git_commit_hash
    ev.get_git_commit_hash = commit
    try:
        yield
    finally:
        ev.get_git_commit_hash = saved


def add_utility(
    run: EvaluationRun,
    spec: UtilitySpec,
    *,
    path: str,
    adapter: str | None,
    backend: str,
    backend_args: Mapping[str, Any] | None,
    seed: int,
) -> EvaluationRun:
    """``run`` with the lm-eval utility tasks of ``spec`` evaluated on the same model."""
    lm_eval = optional_import("lm_eval", component="--utility-tasks",
                              install="pip install 'medlethe[lm-eval]'")
    from lm_eval.tasks import TaskManager

    model, model_args = _model_args(backend, path, adapter, backend_args or {})
    try:
        with _quiet_git():
            raw = lm_eval.simple_evaluate(
                model=model, model_args=model_args, tasks=list(spec.tasks),
                task_manager=TaskManager(include_path=spec.include_path),
                num_fewshot=spec.num_fewshot, limit=spec.limit, log_samples=True,
                batch_size=spec.batch_size, random_seed=seed, numpy_random_seed=seed,
                torch_random_seed=seed, fewshot_random_seed=seed,
            )
    except Exception as exc:
        raise MedletheError(
            f"lm-eval could not evaluate {', '.join(spec.tasks)} on {path}: "
            f"{type(exc).__name__}: {exc}. Check the task names ('lm-eval --tasks list') and, "
            "for local configs, --utility-args include_path=FOLDER."
        ) from exc
    tasks, metrics, values, labels = lmeval_results(raw, seed)
    results = run.results.model_copy(update={
        "tasks": {**run.results.tasks, **tasks},
        "metrics": [*run.results.metrics, *metrics],
    })
    return replace(run, results=results, values={**run.values, **values},
                   labels={**run.labels, **labels})
