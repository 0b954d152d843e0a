"""Evaluate one model (plus optional adapter) on tasks: an :class:`EvaluationRun`.

The stages: resolve each task's metrics (:func:`resolve_metrics`), score each split
(:func:`score_split`: backend requests through the response cache, per-sample values,
aggregates with cluster-bootstrap intervals), record each task (:func:`task_record`), add
the run metrics that need no reference run, and, when an output folder is given, write the
run once (:meth:`EvaluationRun.write`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medlethe import __version__
from medlethe.backends.base import (
    Backend,
)
from medlethe.base_models import check_model
from medlethe.cache import CachedBackend, ResponseCache
from medlethe.chat import ChatFormat
from medlethe.errors import MedletheError, MissingDependencyError, PluginError, TaskConfigError
from medlethe.fingerprint import model_fingerprint
from medlethe.judge import compute_run_metrics
from medlethe.kind import Kind, applies, kind_of
from medlethe.metrics.base import Metric, Sample
from medlethe.metrics.bootstrap import Clusters, bootstrap_ci
from medlethe.metrics.runmetric import present_rows, to_ci
from medlethe.paths import cache_root, ensure_dir, portable, portable_tree
from medlethe.registry import Component, Registry, get_registry
from medlethe.results.environment import environment
from medlethe.results.evaluation import CLUSTER_LABEL, EvaluationRun
from medlethe.results.schema import (
    RESULTS_SCHEMA_VERSION,
    ComponentRecord,
    MetricResult,
    ModelRecord,
    RequestStats,
    Results,
    TaskRecord,
)
from medlethe.task.base import Instance, Task
from medlethe.task.yaml_task import load_task_file


def default_cache_path() -> Path:
    return cache_root() / "responses.sqlite"


def component_record(c: Component, args: dict[str, Any]) -> ComponentRecord:
    return ComponentRecord(
        name=c.name,
        args=args,
        plugin=c.plugin.name,
        distribution=c.plugin.distribution,
        version=c.plugin.version,
    )


def load_task(
    registry: Registry, name: str, task_args: dict[str, Any] | None = None
) -> tuple[Task, Component | None]:
    """A registered task by name, or a YAML file by path (then with no component)."""
    if name.endswith((".yaml", ".yml")):
        if task_args:
            raise TaskConfigError(
                f"{name}: a YAML task takes no task arguments (got {', '.join(task_args)}); "
                "remove --task-args, or set the values in the YAML file."
            )
        return load_task_file(name), None
    comp = registry.get("task", name)
    try:
        task = comp.build_as(Task, "medlethe.task.Task", TaskConfigError, **(task_args or {}))
    except (TypeError, ValueError) as exc:
        raise TaskConfigError(
            f"Task {name!r} does not accept the task arguments {task_args}: {exc}. "
            "'medlethe tasks' describes each task; docs/tasks.md lists their arguments."
        ) from exc
    return task, comp


def _samples(
    kind: Kind, instances: Sequence[Instance], runner: CachedBackend, desc: str,
    needs: frozenset[str],
) -> tuple[list[Sample], dict[str, int]]:
    """Ask the backend what the kind asks for each instance (given the metrics' ``needs``),
    one call per request type, and let the kind assemble each instance's samples; return
    them and the number of requests of each type."""
    asks = [kind.asks(inst, needs) for inst in instances]
    pooled: dict[str, list[Any]] = {t: [] for t in kind.request_types}
    for ask in asks:
        for rtype, reqs in ask.items():
            pooled.setdefault(rtype, []).extend(reqs)
    answers = {t: iter(_ask(runner, t, reqs, f"{desc} {t}")) for t, reqs in pooled.items()
               if reqs}
    samples = [
        kind.sample(inst, {t: [next(answers[t]) for _ in reqs] for t, reqs in ask.items()},
                    needs)
        for inst, ask in zip(instances, asks, strict=True)
    ]
    return samples, {t: len(reqs) for t, reqs in pooled.items()}


def _ask(runner: CachedBackend, request_type: str, reqs: list[Any], desc: str) -> list[Any]:
    """The backend's answers to one type of request (a Backend method's name)."""
    answer = getattr(runner, request_type, None)
    if answer is None:
        raise TaskConfigError(
            f"{desc}: the task's kind asks {request_type!r} requests, which medlethe's "
            "backends do not answer; check the kind's request_types.")
    found: list[Any] = answer(reqs, desc=desc)
    return found


def _subsets(task: Task, instances: Sequence[Instance]) -> list[tuple[str | None, list[int]]]:
    """Row indices of the whole split, then of one subset per value of each
    ``task.group_by`` key."""
    out: list[tuple[str | None, list[int]]] = [(None, list(range(len(instances))))]
    for key in task.group_by:
        groups: dict[str, list[int]] = {}
        for i, inst in enumerate(instances):
            if key in inst.meta:
                groups.setdefault(f"{key}={inst.meta[key]}", []).append(i)
        out.extend(sorted(groups.items()))
    return out


def _aggregate(
    task: str,
    split: str,
    subset: str | None,
    comp: Component,
    metric: Metric,
    values: Sequence[float | None],
    clusters: Clusters,
    seed: int,
) -> MetricResult:
    """The mean of a metric's values on some rows, with a cluster-bootstrap interval
    (``clusters``: those of the same rows)."""
    present = present_rows(values)
    kept = metric.summarise([v for v in values if v is not None], split)
    interval = bootstrap_ci(kept, clusters.subset(present), seed=seed)
    return MetricResult(
        task=task,
        split=split,
        subset=subset,
        metric=comp.name,
        metric_version=metric.version,
        plugin=comp.plugin.name,
        value=metric.aggregate(kept) if kept else None,
        ci=to_ci(interval),
        direction=metric.direction,
        n=len(kept),
    )


def _run_id(model_fp: str, tasks: Sequence[str]) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    digest = hashlib.sha256(json.dumps([model_fp, list(tasks), time.time_ns()]).encode())
    return f"{stamp}-{digest.hexdigest()[:8]}"


def resolve_metrics(
    registry: Registry,
    task: Task,
    built: dict[tuple[str, str], Metric],
    skipped: dict[str, str],
    *,
    progress: bool = True,
) -> list[tuple[Component, Metric]]:
    """The answer metrics ``task`` lists, built once per (name, arguments) across tasks
    (``built``); an optional metric whose library is missing is left out and noted in
    ``skipped``. A run metric, or one that does not apply to the task's output type, is an
    error naming the task."""
    out: list[tuple[Component, Metric]] = []
    for spec in task.metric_specs():
        comp = registry.get("metric", spec.name)
        key = (spec.name, json.dumps(spec.args, sort_keys=True))
        if key not in built:
            try:
                built[key] = comp.build(**spec.args)
            except MissingDependencyError as exc:
                if not spec.optional:
                    raise
                skipped[spec.name] = str(exc)
                if progress:
                    print(f"medlethe: skipping metric {spec.name!r}: {exc}", file=sys.stderr)
                continue
        metric = built[key]
        if not isinstance(metric, Metric):
            raise TaskConfigError(
                f"Task {task.name!r} lists {spec.name!r}, which is not a per-answer metric "
                "(it compares whole runs; medlethe run and medlethe compare compute it). "
                "Remove it from metrics:."
            )
        if not applies(metric, task):
            raise TaskConfigError(
                f"Task {task.name!r} asks for metric {spec.name!r}, which does not apply "
                f"to output_type {task.output_type} (it takes "
                f"{', '.join(sorted(metric.output_types))}). Remove it from metrics:."
            )
        out.append((comp, metric))
    return out


@dataclass
class ScoredSplit:
    """One split of one task, scored: per-sample values and labels, aggregate results,
    the opt-in per-sample rows, and how many requests it took."""

    size: int
    fingerprint: str
    values: dict[str, list[Any]]
    labels: dict[str, list[Any]]
    metrics: list[MetricResult]
    samples: list[dict[str, Any]]
    #: requests asked of the backend, by kind (generate, loglikelihood, classify)
    requests: dict[str, int]


#: instances scored at a time (answers and log-probs of one part are held at once)
SCORE_PART = 4096


def score_split(
    task: Task,
    split: str,
    metrics: Sequence[tuple[Component, Metric]],
    runner: CachedBackend,
    *,
    kind: Kind,
    limit: int | None,
    seed: int,
    log_samples: bool,
    prompts: Callable[[list[Instance]], list[Instance]] | None = None,
    asked_with: Mapping[str, str] | None = None,
) -> ScoredSplit:
    """Ask the backend what ``split`` needs (as the task's ``kind`` says), score every
    metric on every sample, and aggregate the whole split and each subset the task breaks
    results down by.
    ``asked_with`` asks some prompts in other words (an attack's: by the prompt's text);
    ``prompts`` then rewrites the instances (a chat template)."""
    instances = task.instances(split, limit)
    if asked_with:
        instances = [dataclasses.replace(i, prompt=asked_with[i.prompt])
                     if i.prompt in asked_with else i for i in instances]
    if prompts is not None and kind.chat_prompts:
        instances = prompts(list(instances))
    needs = frozenset().union(*(m.needs for _, m in metrics))
    clusters = [task.cluster_of(inst) for inst in instances]
    units = Clusters.of(clusters, len(clusters), task.sampling_unit)
    values: dict[str, list[Any]] = {comp.name: [] for comp, _ in metrics}
    for _, metric in metrics:
        metric.prepare(task, split, instances)
    # a part at a time: only the per-row values outlive a part, so memory does not grow
    # with the split's answers and log-probs
    asked: dict[str, int] = {}
    logged: list[dict[str, Any]] = []
    for start in range(0, len(instances), SCORE_PART):
        part = instances[start : start + SCORE_PART]
        desc = f"{task.name}:{split}"
        if len(instances) > SCORE_PART:
            desc += f" {start // SCORE_PART + 1}/{-(-len(instances) // SCORE_PART)}"
        samples, counts = _samples(kind, part, runner, desc, needs)
        for rtype, n in counts.items():
            asked[rtype] = asked.get(rtype, 0) + n
        for comp, metric in metrics:
            values[comp.name].extend(
                _score_part(comp, metric, samples, f"{task.name}:{split}", start, runner)
            )
        if log_samples:
            logged += [_sample_row(s, values, start + i) for i, s in enumerate(samples)]
        del samples
    results: list[MetricResult] = []
    for comp, metric in metrics:
        column = values[comp.name]
        if metric.vector:
            continue
        for subset, rows in _subsets(task, instances):
            results.append(
                _aggregate(
                    task.name, split, subset, comp, metric,
                    [column[i] for i in rows], units.subset(rows), seed,
                )
            )
    labels = {
        key: [inst.meta.get(key) for inst in instances]
        for key in task.label_keys()
        if any(key in inst.meta for inst in instances)
    }
    labels[CLUSTER_LABEL] = list(clusters)
    labels.update(kind.row_labels(task, instances))
    return ScoredSplit(
        len(instances), task.data_fingerprint(split), values, labels, results, logged, asked
    )


def _score_part(
    comp: Component, metric: Metric, samples: Sequence[Sample], where: str, start: int,
    runner: CachedBackend,
) -> list[Any]:
    """``metric``'s values on one part of a split, checked: a metric that raises, or gives
    anything but a finite number (a list of them for a vector metric) or ``None``, is an
    error naming the metric, its plugin, the task, split and row."""
    cache = runner.cache
    kept = (f"the model's answers so far are kept in the response cache {cache.path}, so a "
            "rerun after the fix asks the model nothing again" if cache is not None else
            "the run had no response cache, so a rerun asks the model again")
    who = f"metric {comp.name!r} (plugin {comp.plugin.name}, {comp.plugin.distribution} " \
          f"{comp.plugin.version})"
    try:
        scored = list(metric.score_all(samples))
    except MedletheError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{who} failed on {where} ({type(exc).__name__}: {exc}); fix or disable the "
            f"plugin (-p no:{comp.plugin.name}); {kept}."
        ) from exc
    if len(scored) != len(samples):
        raise PluginError(f"{who} gave {len(scored)} values for {len(samples)} rows of "
                          f"{where}; score_all must give one per row. {kept}.")
    for i, value in enumerate(scored):
        if not _valid_value(value, metric.vector):
            shape = "a list of finite numbers" if metric.vector else "a finite number"
            raise PluginError(
                f"{who} gave {type(value).__name__} {value!r:.40} on {where}, row "
                f"{start + i + 1}; a metric gives {shape} or None (to skip the row). Fix "
                f"or disable the plugin (-p no:{comp.plugin.name}); {kept}."
            )
    return scored


def _valid_value(value: Any, vector: bool) -> bool:
    def number(x: Any) -> bool:
        return isinstance(x, int | float | np.floating | np.integer) and not isinstance(
            x, bool) and math.isfinite(float(x))

    if value is None:
        return True
    if vector:
        return isinstance(value, list | tuple | np.ndarray) and all(number(x) for x in value)
    return number(value)


def task_record(
    task: Task,
    comp: Component | None,
    scored: dict[str, ScoredSplit],
    *,
    kind: Kind,
    limit: int | None,
    task_args: dict[str, Any] | None,
) -> TaskRecord:
    """What the results file says about one task: its version, plugin, provenance hashes,
    split sizes and data fingerprints, sampling unit and skipped rows."""
    info = comp.plugin if comp else None
    return TaskRecord(
        name=task.name,
        version=task.version,
        output_type=task.output_type,
        plugin=info.name if info else "(file)",
        distribution=info.distribution if info else "(file)",
        plugin_version=info.version if info else "(file)",
        **task.provenance(),
        args=portable_tree(dict(task_args or {})) if comp else {},
        splits={s: x.size for s, x in scored.items()},
        data_fingerprints={s: x.fingerprint for s, x in scored.items()},
        limit=limit,
        sampling_unit=task.sampling_unit,
        skipped_rows=task.skipped_rows(),
        **kind.record(task),
    )


def _backend(
    registry: Registry,
    backend: str | Backend,
    model: str,
    adapter: str | None,
    seed: int,
    backend_args: dict[str, Any],
) -> tuple[Backend, ComponentRecord]:
    if isinstance(backend, Backend):
        record = ComponentRecord(
            name=backend.name,
            args=backend.describe(),
            plugin="(instance)",
            distribution="(instance)",
            version=__version__,
        )
        return backend, record
    check_model(model)
    if adapter is not None:
        check_model(adapter)
    comp = registry.get("backend", backend)
    comp.check_arguments([k for k in backend_args if k not in ("model", "adapter", "seed")],
                         "--backend-args")
    engine = comp.build(model=model, adapter=adapter, seed=seed, **backend_args)
    return engine, component_record(comp, engine.describe())


def evaluate(
    model: str,
    tasks: Sequence[str],
    *,
    adapter: str | None = None,
    backend: str | Backend = "hf",
    backend_args: dict[str, Any] | None = None,
    output: str | Path | None = None,
    limit: int | None = None,
    splits: Sequence[str] | None = None,
    task_args: dict[str, Any] | None = None,
    log_samples: bool = False,
    cache: str | Path | bool = True,
    seed: int = 1234,
    registry: Registry | None = None,
    progress: bool = True,
    command: Sequence[str] | None = None,
    model_role: str | None = None,
    model_provenance: dict[str, Any] | None = None,
    method: ComponentRecord | None = None,
    chat: ChatFormat | None = None,
    asked_with: Mapping[str, str] | None = None,
) -> EvaluationRun:
    """Evaluate ``model`` (a hub id or a local folder) on ``tasks`` (registered names or
    YAML paths); when ``output`` is given, write the run there (``results_<run_id>.json``
    and its values file).

    ``cache``: ``True`` for the default SQLite cache, a path for another, ``False`` for none.
    ``splits`` restricts every task to those splits; ``limit`` takes the first N rows;
    ``task_args`` go to every registered task's factory (e.g. ``{"n_patients": 440}``).
    ``registry``: the plugins to use (default: every installed one, minus those disabled by
    ``MEDLETHE_DISABLE_PLUGINS``). ``chat``: wrap the prompts of language-model tasks in the
    model's chat template (medlethe.chat). ``asked_with``: an attack's prompts (what to ask
    instead of each prompt, by its text), used before the chat template."""
    started, registry = time.perf_counter(), registry or get_registry()
    if output is not None:
        ensure_dir(output, "the output folder")
    backend_args = dict(backend_args or {})
    engine, backend_record = _backend(registry, backend, model, adapter, seed, backend_args)
    store = _store(cache)
    runner = CachedBackend(engine, store, progress=progress)
    got = _Gathered(registry, runner, *_chat_prompts(chat or ChatFormat(), model, backend_args),
                    asked_with or {})
    for task_name in tasks:
        got.task(task_name, splits=splits, limit=limit, seed=seed, task_args=task_args,
                 log_samples=log_samples, progress=progress)
    model_fp = model_fingerprint(model, backend_args.get("revision"))
    results = Results(
        schema_version=RESULTS_SCHEMA_VERSION,
        run_id=_run_id(model_fp, tasks),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        medlethe_version=__version__,
        command=portable_tree(list(command) if command is not None else list(sys.argv)),
        model=ModelRecord(
            name_or_path=portable(model),
            fingerprint=model_fp,
            adapter=portable(adapter) if adapter else None,
            adapter_fingerprint=model_fingerprint(adapter) if adapter else None,
            role=model_role,
            provenance=portable_tree(dict(model_provenance or {})),
        ),
        backend=backend_record,
        method=method,
        plugins=[
            {"name": p.name, "distribution": p.distribution, "version": p.version}
            for p in registry.plugins
        ],
        seeds={"seed": seed, "bootstrap_seed": seed},
        timings={"total_s": round(time.perf_counter() - started, 3)},
        environment=environment(),
        **got.fields(engine.model_calls),
    )
    if store is not None:
        store.close()
    run = EvaluationRun(results, got.values, got.labels,
                        samples=got.samples if log_samples else None)
    # metrics of this run alone (membership AUCs, TOFU model utility, hierarchy score,
    # parameters modified) from the values just scored
    run = run.with_metrics(compute_run_metrics(run, {}, seed, registry=registry))
    return run.write(output) if output is not None else run


def _store(cache: str | Path | bool) -> ResponseCache | None:
    """The response cache ``cache`` names (``True``: the default one; ``False``: none)."""
    if cache is False:
        return None
    return ResponseCache(default_cache_path() if cache is True else Path(cache))


def _chat_prompts(chat: ChatFormat, model: str, backend_args: dict[str, Any]) -> tuple[
        Callable[[list[Instance]], list[Instance]] | None, str | None]:
    """How prompts are wrapped in the model's chat template (``None`` where they are not)
    and the template's digest for the task records."""
    if not chat.apply:
        return None, None
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model, revision=backend_args.get("revision"))

    def prompts(items: list[Instance]) -> list[Instance]:
        return chat.examples(tok, items)

    return prompts, chat.digest(tok)


class _Gathered:
    """What evaluating a run's tasks gathers: task records, metric results and their
    components, per-row values and labels, opt-in samples and request counts."""

    def __init__(self, registry: Registry, runner: CachedBackend,
                 prompts: Callable[[list[Instance]], list[Instance]] | None,
                 chat_digest: str | None,
                 asked_with: Mapping[str, str]) -> None:
        self.registry, self.runner = registry, runner
        self.prompts, self.chat_digest, self.asked_with = prompts, chat_digest, asked_with
        self.records: dict[str, TaskRecord] = {}
        self.metrics: list[MetricResult] = []
        self.metric_records: dict[str, ComponentRecord] = {}
        self.built: dict[tuple[str, str], Metric] = {}
        self.skipped: dict[str, str] = {}
        self.values: dict[str, dict[str, dict[str, list[Any]]]] = {}
        self.labels: dict[str, dict[str, dict[str, list[Any]]]] = {}
        self.samples: list[dict[str, Any]] = []
        self.asked = {t: 0 for name in registry.components["kind"]  # in registration order
                      for t in kind_of(name, registry).request_types}

    def task(self, task_name: str, *, splits: Sequence[str] | None, limit: int | None,
             seed: int, task_args: dict[str, Any] | None, log_samples: bool,
             progress: bool) -> None:
        """Score every wanted split of one task and keep what it gave."""
        task, task_comp = load_task(self.registry, task_name, task_args)
        wanted = list(splits) if splits else task.split_names()
        unknown = [s for s in wanted if s not in task.split_names()]
        if unknown:
            raise TaskConfigError(
                f"Task {task.name!r} has no split(s) {', '.join(unknown)}; it has "
                f"{', '.join(task.split_names())}."
            )
        kind = kind_of(task, self.registry)
        metrics = resolve_metrics(self.registry, task, self.built, self.skipped,
                                  progress=progress)
        specs = {s.name: s for s in task.metric_specs()}
        for comp, _ in metrics:
            self.metric_records[comp.name] = component_record(comp, dict(specs[comp.name].args))
        scored = {
            split: score_split(
                task, split, metrics, self.runner, kind=kind, limit=limit, seed=seed,
                log_samples=log_samples, prompts=self.prompts,
                asked_with=self.asked_with,
            )
            for split in wanted
        }
        for split, x in scored.items():
            self.values.setdefault(task.name, {})[split] = x.values
            self.labels.setdefault(task.name, {})[split] = x.labels
            self.metrics.extend(x.metrics)
            self.samples.extend(x.samples)
            for rtype, n in x.requests.items():
                self.asked[rtype] = self.asked.get(rtype, 0) + n
        record = task_record(task, task_comp, scored, kind=kind, limit=limit,
                             task_args=task_args)
        if self.chat_digest is not None and kind.chat_prompts:
            record = record.model_copy(update={"chat_template": self.chat_digest})
        self.records[task.name] = record

    def fields(self, model_calls: int) -> dict[str, Any]:
        """The results fields it fills."""
        return {
            "tasks": self.records,
            "metrics": self.metrics,
            "metric_components": self.metric_records,
            "skipped_metrics": self.skipped,
            "requests": RequestStats(
                generate=self.asked["generate"],
                loglikelihood=self.asked["loglikelihood"],
                classify=self.asked["classify"],
                cache_hits=self.runner.cache_hits,
                model_calls=model_calls,
            ),
        }


def _sample_row(
    sample: Sample, per_metric: dict[str, list[Any]], i: int
) -> dict[str, Any]:
    inst = sample.instance
    row: dict[str, Any] = {
        "task": inst.task,
        "split": inst.split,
        "index": inst.index,
        "prompt": inst.prompt,
        "target": inst.target,
        "scores": {name: values[i] for name, values in per_metric.items()},
    }
    if sample.generation is not None:
        row["generation"] = sample.generation.text
    if sample.choices:
        row["choice_logprobs"] = [c.total for c in sample.choices]
    if sample.continuation is not None:
        row["logprobs"] = list(sample.continuation.logprobs)
    if sample.classification is not None:
        row["logits"] = list(sample.classification.logits)
    return row


__all__ = ["EvaluationRun", "default_cache_path", "evaluate", "resolve_metrics", "score_split"]
