"""Comparing runs: compute the registered run metrics (``medlethe.metrics.runmetric``) of a
run against reference runs (``target``, ``oracle``).

Every definition lives in :mod:`medlethe.metrics`; this module finds the run metrics in the
registry and adds what they return to the run, with ``against`` naming the reference role
and ``references`` the reference run ids. A metric already present for the same version is
not computed again. :func:`compare` works on runs in memory; :func:`compare_files` is
``medlethe compare``: it reads results files and writes the judged one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from medlethe.errors import MedletheError, MissingDependencyError, PluginError
from medlethe.metrics.preconditions import knowledge_checks
from medlethe.metrics.runmetric import RunMetric
from medlethe.registry import Registry, get_registry
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.schema import MetricResult


def run_metrics(registry: Registry) -> list[RunMetric]:
    """Every registered run metric that loads here, built (so named) by the registry.
    Only metrics registered with ``run_metric=True`` are imported."""
    out = []
    for comp in registry.components["metric"].values():
        if not comp.run_metric:
            continue
        try:
            obj = comp.build()
        except MissingDependencyError:
            continue  # not loadable here
        if not isinstance(obj, RunMetric):
            raise PluginError(
                f"metric {comp.name!r} of plugin {comp.plugin.name!r} is registered with "
                f"run_metric=True but builds a {type(obj).__name__}, not a "
                "medlethe.metrics.RunMetric; drop run_metric=True or fix the factory."
            )
        out.append(obj)
    return out


def compute_run_metrics(
    run: EvaluationRun,
    refs: Mapping[str, EvaluationRun],
    seed: int,
    *,
    registry: Registry,
    skip: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> list[MetricResult]:
    """Every run metric whose reference roles are all in ``refs`` (those needing none
    included), except the (name, version) pairs in ``skip``."""
    added: list[MetricResult] = []
    for metric in run_metrics(registry):
        if not metric.needs_runs <= refs.keys() or (metric.name, metric.version) in skip:
            continue
        added.extend(metric.compute(run, {r: refs[r] for r in metric.needs_runs}, seed))
    return added


def compare(
    run: EvaluationRun,
    references: Mapping[str, EvaluationRun],
    *,
    seed: int | None = None,
    registry: Registry | None = None,
) -> EvaluationRun:
    """``run`` with every run metric added whose reference roles (``target``,
    ``oracle``) are in ``references``; nothing is written. ``seed`` defaults to the run's
    bootstrap seed."""
    res = run.results
    ids = {role: r.run_id for role, r in references.items()}
    conflict = {r for r, i in ids.items() if res.references.get(r, i) != i}
    if conflict:
        raise MedletheError(
            f"{run.label} was already compared with other {', '.join(sorted(conflict))} "
            f"runs ({', '.join(res.references[r] for r in sorted(conflict))}); a results "
            "file holds one comparison per role."
        )
    done = {(m.metric, m.metric_version) for m in res.metrics}
    seed = res.seeds.get("bootstrap_seed", 0) if seed is None else seed
    added = compute_run_metrics(
        run, references, seed, registry=registry or get_registry(), skip=done
    )
    judged = run.with_metrics(added, ids)
    # what the target knew: checked on the target (against its oracle), carried by every
    # run judged against that target
    if res.model.role == "target" and "oracle" in references:
        checks = knowledge_checks(run, references["oracle"], seed)
    elif "target" in references:
        checks = list(references["target"].results.preconditions)
    else:
        return judged
    return replace(judged, results=judged.results.model_copy(update={"preconditions": checks}))


def compare_files(
    results_path: str | Path,
    references: Mapping[str, str | Path],
    *,
    seed: int | None = None,
    registry: Registry | None = None,
) -> EvaluationRun:
    """``medlethe compare``: judge the run in ``results_path`` against reference runs (a
    results file each, or a run id in the same folder) and write its results file back
    when anything was added."""
    run = EvaluationRun.load(results_path)
    assert run.path is not None
    refs = {
        role: EvaluationRun.load(ref) if str(ref).endswith(".json")
        else EvaluationRun.find(run.path.parent, str(ref))
        for role, ref in references.items()
    }
    judged = compare(run, refs, seed=seed, registry=registry)
    if judged.results != run.results:
        judged.rewrite()
    return judged
