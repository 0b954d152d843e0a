"""Comparing runs: load results with their per-sample values and compute the registered
run metrics (``medlethe.metrics.runmetric``) whose reference runs are given.

Every definition lives in :mod:`medlethe.metrics`; this module only loads runs, finds the
run metrics and writes what they return into the results file, with ``against`` naming
the reference role and ``references`` the reference run ids. A metric already present for
the same version is not computed again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from medlethe.errors import MedletheError, MissingDependencyError, PluginError, ResultsError
from medlethe.metrics.runmetric import RunData, RunMetric
from medlethe.results import io as results_io
from medlethe.results.schema import MetricResult, Results


def load_run(path: str | Path) -> RunData:
    path = Path(path)
    results = results_io.read_results(path)
    if results.values_file is None:
        raise ResultsError(
            f"{path} has no per-sample values file, so runs cannot be compared; re-run the "
            "evaluation with medlethe >= 0.1."
        )
    values_path = path.parent / results.values_file
    try:
        raw = json.loads(values_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(
            f"Cannot read {values_path} (the per-sample values of {path.name}): {exc}. "
            "Keep it beside its results file."
        ) from exc
    return RunData(results, path, raw["values"], raw.get("labels", {}))


def find_run(directory: str | Path, run_id: str) -> RunData:
    path = Path(directory) / f"results_{run_id}.json"
    if not path.exists():
        raise ResultsError(
            f"No results file for run {run_id!r} in {directory} (looked for {path})."
        )
    return load_run(path)


def run_metrics(disabled_plugins: Sequence[str] = ()) -> list[tuple[str, RunMetric, str]]:
    """(name, instance, plugin name) of every registered run metric. Only metrics
    registered with ``run_metric=True`` are imported."""
    from medlethe.registry import get_registry

    reg = get_registry(disabled_plugins)
    out = []
    for comp in reg.components["metric"].values():
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
        out.append((comp.name, obj, comp.plugin.name))
    return out


def compute_run_metrics(
    run: RunData,
    refs: Mapping[str, RunData],
    seed: int,
    *,
    disabled_plugins: Sequence[str] = (),
    skip: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> list[MetricResult]:
    """Every run metric whose reference roles are all in ``refs`` (those needing none
    included), except the (name, version) pairs in ``skip``."""
    added: list[MetricResult] = []
    for name, metric, plugin in run_metrics(disabled_plugins):
        if not metric.needs_runs <= refs.keys() or (name, metric.version) in skip:
            continue
        found = metric.compute(run, {r: refs[r] for r in metric.needs_runs}, seed)
        added.extend(m.model_copy(update={"plugin": plugin}) for m in found)
    return added


def compare(
    results_path: str | Path,
    references: Mapping[str, str | Path | RunData],
    *,
    seed: int | None = None,
    disabled_plugins: Sequence[str] = (),
) -> Results:
    """Compute every run metric whose references are given and add the results to the
    results file at ``results_path``. ``references`` maps a role (``target``, ``oracle``)
    to a results file, a run id in the same folder, or loaded run data."""
    run = load_run(results_path)
    assert run.path is not None
    refs: dict[str, RunData] = {}
    for role, ref in references.items():
        if isinstance(ref, RunData):
            refs[role] = ref
        elif str(ref).endswith(".json"):
            refs[role] = load_run(ref)
        else:
            refs[role] = find_run(run.path.parent, str(ref))
    res = run.results
    ids = {role: r.run_id for role, r in refs.items()}
    conflict = {r for r, i in ids.items() if res.references.get(r, i) != i}
    if conflict:
        raise MedletheError(
            f"{run.path.name} was already compared with other {', '.join(sorted(conflict))} "
            f"runs ({', '.join(res.references[r] for r in sorted(conflict))}); a results "
            "file holds one comparison per role."
        )
    done = {(m.metric, m.metric_version) for m in res.metrics}
    seed = res.seeds.get("bootstrap_seed", 0) if seed is None else seed
    added = compute_run_metrics(run, refs, seed, disabled_plugins=disabled_plugins, skip=done)
    if added or ids.keys() - res.references.keys():
        res = res.model_copy(
            update={"metrics": [*res.metrics, *added], "references": {**res.references, **ids}}
        )
        results_io.write_results(res, run.path)
    return res
