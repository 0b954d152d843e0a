"""Results as a pandas DataFrame: one row per metric value, with what produced it.

``to_frame(paths)`` reads results files (or folders holding them: a ``medlethe run`` output,
a sweep's output, a leaderboard submission) and returns a long table that pandas users can
pivot, group by seed or plot. pandas is optional (``pip install pandas``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from medlethe._optional import optional_import
from medlethe.errors import ResultsError
from medlethe.results.io import read_results
from medlethe.results.schema import Results

#: the columns of ``to_frame``, in order
COLUMNS = (
    "run_id", "results_file", "model", "role", "method", "variant", "hyperparameters", "seed",
    "unlearn_seed", "scenario", "task", "split", "subset", "metric", "against", "value",
    "valid", "ci_low", "ci_high", "ci_method", "ci_unit", "n", "direction", "metric_version",
    "task_version", "backend", "medlethe_version",
)


def results_files(
    paths: Iterable[str | Path], patterns: Sequence[str] = ("results_*.json",)
) -> list[Path]:
    """The files named in ``paths``, and in each folder among them the files below it that
    match ``patterns`` (sorted, per pattern); an error names a path that does not exist and
    a folder that holds none."""
    out: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = [f for pattern in patterns for f in sorted(item.rglob(pattern))]
            if not found:
                raise ResultsError(f"{item}: no {' or '.join(patterns)} file in it or below it.")
            out += found
        elif item.is_file():
            out.append(item)
        else:
            raise ResultsError(f"{item}: no such results file or folder.")
    return out


def rows_of(res: Results, path: Path | None = None) -> list[dict[str, Any]]:
    """The long-table rows of one results record (plain dicts, no pandas needed)."""
    prov = res.model.provenance
    method_args = dict(res.method.args) if res.method is not None else {}
    base = {
        "run_id": res.run_id,
        "results_file": str(path) if path is not None else None,
        "model": prov.get("base_model") or res.model.name_or_path,
        "role": res.model.role,
        "method": res.method.name if res.method is not None else res.model.role,
        # the method's label in its run (NPO[beta=0.2] in a sweep): two settings of one
        # method are two variants, never averaged together by a groupby on "variant"
        "variant": prov.get("variant") or (
            res.method.name if res.method is not None else res.model.role),
        "hyperparameters": json.dumps(
            {k: v for k, v in method_args.items() if k != "seed"}, sort_keys=True
        ) if res.method is not None else None,
        "seed": (prov.get("train_config") or {}).get("seed"),
        "unlearn_seed": method_args.get("seed"),
        "scenario": prov.get("scenario") or next(iter(res.tasks), None),
        "backend": res.backend.name,
        "medlethe_version": res.medlethe_version,
    }
    from medlethe.metrics.preconditions import Verdicts

    verdicts = Verdicts(res.preconditions)
    out = []
    for m in res.metrics:
        task = res.tasks.get(m.task)
        out.append({
            **base,
            "task": m.task, "split": m.split, "subset": m.subset, "metric": m.metric,
            "against": m.against, "value": m.value,
            # False where the target did not know this split (its precondition failed):
            # the value is no evidence of forgetting (the † of the reports)
            "valid": verdicts.reason(m.task, m.split) is None,
            "ci_low": m.ci.low if m.ci else None, "ci_high": m.ci.high if m.ci else None,
            "ci_method": m.ci.method if m.ci else None, "ci_unit": m.ci.unit if m.ci else None,
            "n": m.n, "direction": m.direction, "metric_version": m.metric_version,
            "task_version": task.version if task is not None else None,
        })
    return out


def to_frame(paths: str | Path | Iterable[str | Path]) -> Any:
    """A ``pandas.DataFrame`` with one row per metric value of the results files at
    ``paths`` (files, or folders searched recursively), columns :data:`COLUMNS`."""
    pd = optional_import("pandas", component="medlethe.results.to_frame",
                         install="pip install pandas")
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    rows = [row for path in results_files(items) for row in rows_of(read_results(path), path)]
    return pd.DataFrame(rows, columns=list(COLUMNS))
