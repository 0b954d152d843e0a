"""An evaluation run: what every stage of medlethe passes to the next.

``evaluate()`` returns an :class:`EvaluationRun`; comparison metrics read runs and add
results to them; ``medlethe run`` keeps its runs by label and writes each one once. A run is
written as three files in one folder: ``results_<id>.json`` (the versioned record, numbers
only), ``values_<id>.json`` (per-sample metric values and labels, no text) and, only when
asked, ``samples_<id>.jsonl`` (prompts and answers, which may hold patient text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medlethe.errors import ResultsError
from medlethe.metrics.bootstrap import Clusters
from medlethe.results.io import atomic_write_text, read_results, write_results
from medlethe.results.schema import MetricResult, Results
from medlethe.task.base import fingerprint

#: task -> split -> metric -> one value per row (``None`` where the metric does not apply;
#: a list of floats for a vector metric such as a classifier's logits)
Values = dict[str, dict[str, dict[str, list[Any]]]]
#: task -> split -> label key -> one label per row (the keys the task declares)
Labels = dict[str, dict[str, dict[str, list[Any]]]]
#: the per-sample label that names each row's cluster (the task's sampling unit)
CLUSTER_LABEL = "cluster"
VALUES_VERSION = 1


@dataclass(frozen=True)
class EvaluationRun:
    """One model evaluated on some tasks: the results record, its per-sample values and
    labels, the opt-in per-sample log, and where it was written (``path``: the results
    file, ``None`` while the run lives only in memory)."""

    results: Results
    values: Values
    labels: Labels
    path: Path | None = None
    #: per-sample rows (prompt, answer, scores), kept only when ``log_samples`` was asked
    samples: list[dict[str, Any]] | None = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.results.run_id

    @property
    def label(self) -> str:
        """How messages name the run: its file, else its id."""
        return self.path.name if self.path is not None else self.run_id

    @property
    def samples_path(self) -> Path | None:
        return self._beside(self.results.samples_file)

    @property
    def values_path(self) -> Path | None:
        return self._beside(self.results.values_file)

    def _beside(self, name: str | None) -> Path | None:
        return self.path.parent / name if self.path is not None and name else None

    # -- reading ----------------------------------------------------------------------------
    def column(self, task: str, split: str, metric: str) -> list[Any] | None:
        return self.values.get(task, {}).get(split, {}).get(metric)

    def output_type(self, task: str) -> str:
        return self.results.tasks[task].output_type

    def row_labels(self, task: str, split: str, key: str) -> list[Any] | None:
        """One per-sample label of a split (a key the task declared, e.g. ``category``)."""
        return self.labels.get(task, {}).get(split, {}).get(key)

    def clusters(self, task: str, split: str) -> Clusters:
        """The sampling units of a split's rows (each row alone for runs written before
        tasks declared them)."""
        labels = self.row_labels(task, split, CLUSTER_LABEL)
        record = self.results.tasks.get(task)
        unit = record.sampling_unit if record is not None else None
        n = len(labels) if labels is not None else len(next(iter(
            self.values.get(task, {}).get(split, {}).values()), []))
        return Clusters.of(labels, n, unit)

    # -- changing ---------------------------------------------------------------------------
    def with_metrics(
        self, added: list[MetricResult], references: dict[str, str] | None = None
    ) -> EvaluationRun:
        """A copy with ``added`` results and ``references`` (role -> run id) recorded."""
        res = self.results.model_copy(
            update={
                "metrics": [*self.results.metrics, *added],
                "references": {**self.results.references, **(references or {})},
            }
        )
        return replace(self, results=res)

    # -- files ------------------------------------------------------------------------------
    def identity(self) -> str:
        """What makes two runs the same measurement: the model (role, weights, adapter,
        method and its arguments), the tasks (config, prompts, data) and the backend."""
        res = self.results
        return fingerprint([
            res.model.role, res.model.fingerprint, res.model.adapter_fingerprint,
            res.method.model_dump() if res.method else None,
            {t: [r.config_hash, r.prompt_template_hash, r.data_fingerprints, r.limit]
             for t, r in sorted(res.tasks.items())},
            res.backend.name, res.backend.args,
        ])

    def write(self, directory: str | Path) -> EvaluationRun:
        """Write the run into ``directory`` (samples, values, then the results file, so
        that a results file on disk always has its values); the written copy. An earlier
        run of the same measurement in ``directory`` (a resumed or repeated run) is
        replaced, never kept beside it, unless another run or a summary refers to it
        (:meth:`prune` removes it once nothing does)."""
        out = Path(directory)
        runs, identity = _readable_runs(out), self.identity()
        earlier = [r for r in runs if r.identity() == identity]
        referenced = {i for r in runs for i in r.results.references.values()}
        referenced |= _summary_ids(out)
        rid = self.run_id
        update: dict[str, Any] = {"values_file": f"values_{rid}.json"}
        if self.samples is not None:
            update["samples_file"] = f"samples_{rid}.jsonl"
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.samples)
            atomic_write_text(out / update["samples_file"], text)
        payload = {
            "values_version": VALUES_VERSION,
            "run_id": rid,
            "values": self.values,
            "labels": self.labels,
        }
        atomic_write_text(out / update["values_file"], json.dumps(payload))
        results = self.results.model_copy(update=update)
        path = out / f"results_{rid}.json"
        write_results(results, path)
        for old in earlier:
            if old.path != path and old.run_id not in referenced:
                old.delete()
        return replace(self, results=results, path=path)

    def delete(self) -> None:
        """Remove the run's files (results last, so a results file always has its values)."""
        for f in (self.values_path, self.samples_path, self.path):
            if f is not None:
                f.unlink(missing_ok=True)

    @staticmethod
    def prune(directory: str | Path) -> list[str]:
        """Remove the runs in ``directory`` that a later run of the same measurement
        replaced and that neither a kept run (as a reference) nor a summary refers to; the
        run ids removed."""
        runs = _readable_runs(Path(directory))
        latest = {run.identity(): run.run_id for run in runs}  # sorted: the last one wins
        kept = {r.run_id: r for r in runs if latest[r.identity()] == r.run_id}
        stale = {r.run_id: r for r in runs if r.run_id not in kept}
        wanted = _summary_ids(Path(directory))
        while True:  # a stale run that a kept one refers to is kept, with what it refers to
            wanted |= {i for r in kept.values() for i in r.results.references.values()}
            back = [i for i in stale if i in wanted]
            if not back:
                break
            kept.update({i: stale.pop(i) for i in back})
        for run in stale.values():
            run.delete()
        return sorted(stale)

    def rewrite(self) -> None:
        """Write the results record again where it was read from (after a comparison)."""
        if self.path is None:
            raise ResultsError(f"run {self.run_id} has not been written; call write() first")
        write_results(self.results, self.path)

    @classmethod
    def load(cls, path: str | Path) -> EvaluationRun:
        """A run from its results file and the values file beside it."""
        path = Path(path)
        results = read_results(path)
        if results.values_file is None:
            raise ResultsError(
                f"{path} has no per-sample values file, so runs cannot be compared; re-run "
                "the evaluation with medlethe >= 0.1."
            )
        values_path = path.parent / results.values_file
        try:
            raw = json.loads(values_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultsError(
                f"Cannot read {values_path} (the per-sample values of {path.name}): {exc}. "
                "Keep it beside its results file."
            ) from exc
        return cls(results, raw["values"], raw.get("labels", {}), path)

    @classmethod
    def find(cls, directory: str | Path, run_id: str) -> EvaluationRun:
        """The run ``run_id`` written in ``directory``."""
        path = Path(directory) / f"results_{run_id}.json"
        if not path.exists():
            raise ResultsError(
                f"No results file for run {run_id!r} in {directory} (looked for {path})."
            )
        return cls.load(path)


def _readable_runs(directory: Path) -> list[EvaluationRun]:
    """The readable results records in ``directory`` (no values), oldest first."""
    found = []
    for path in sorted(directory.glob("results_*.json")):
        try:
            found.append(EvaluationRun(read_results(path), {}, {}, path))
        except ResultsError:
            continue
    return found


def _summary_ids(directory: Path) -> set[str]:
    """Run ids listed by the summaries beside ``directory`` (a run folder's summary.json)."""
    ids: set[str] = set()
    for path in (directory / "summary.json", directory.parent / "summary.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        ids |= set(re.findall(r'"run_id": "([^"]+)"', json.dumps(doc)))
    return ids
