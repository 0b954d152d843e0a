"""The analysis contract: what a task pack computes across the scenarios of a sweep.

A sweep aggregates every number across its seeds into rows (one per scenario, model
label, task, split, subset and metric: ``mean``, ``ci_low``, ``ci_high``, ``sd``, ``min``,
``max``, ``n_seeds``, ``seeds``, ``per_seed``). An analysis reads those rows and returns a
JSON value (or ``None`` where the sweep has nothing for it: the scenarios it needs are not
there); the value goes into the sweep's ``aggregate.json`` and its summary under the
analysis's name, and :meth:`Analysis.sections` shows it on the sweep's page. Numbers and
names only: an analysis never sees a prompt, an answer or a patient. Registered like a
method::

    @medlethe.hookimpl
    def register_analyses(register):
        register("collateral_matrix", "my_pack.analyses:CollateralMatrix")
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from medlethe.hookspecs import Named

Rows = Sequence[Mapping[str, Any]]


class Analysis(Named):
    """Subclass this and register it with ``register_analyses``."""

    #: the page's heading for it
    title: ClassVar[str] = ""

    @abstractmethod
    def compute(self, rows: Rows) -> Any:
        """The analysis of a sweep's across-seed ``rows`` (JSON: numbers and names), or
        ``None`` where the sweep has nothing for it."""

    def sections(self, value: Any, folder: Path, base: Path) -> list[dict[str, Any]]:
        """What the sweep's page shows of ``value``: sections with a ``title`` and either a
        figure (``svg`` inline and ``png``, its path relative to ``base``; write the files
        into ``folder``, :func:`medlethe.report.inline_figure` does both) or a table
        (``header`` and ``rows`` of text). None by default."""
        return []


# -- what analyses share: reading the rows -------------------------------------------------

def row_index(rows: Rows) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    """Rows by (scenario, label, task, split, subset, metric)."""
    return {(r["scenario"], r["label"], r["task"], r["split"], r["subset"], r["metric"]): r
            for r in rows}


def seed_values(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A row's numbers (mean, spread, interval, seeds), or ``None``."""
    if row is None:
        return None
    return {k: row[k] for k in ("mean", "sd", "min", "max", "ci_low", "ci_high", "n_seeds",
                                "per_seed")}


def ordered_labels(labels: Iterable[str]) -> list[str]:
    """Model labels in first-seen order, target and oracle first."""
    seen = list(dict.fromkeys(labels))
    return [x for x in ("target", "oracle") if x in seen] + [
        x for x in seen if x not in ("target", "oracle")]


def model_labels(rows: Rows) -> list[str]:
    """The model labels of ``rows``, target and oracle first."""
    return ordered_labels(r["label"] for r in rows)


def seed_difference(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[
        str, Any] | None:
    """``a - b`` per seed (the seeds both have), mean and range: a drop from the target."""
    if a is None or b is None:
        return None
    pa = dict(zip(a["seeds"], a["per_seed"], strict=True))
    pb = dict(zip(b["seeds"], b["per_seed"], strict=True))
    both = sorted(set(pa) & set(pb))
    if not both:
        return None
    d = [pa[s] - pb[s] for s in both]
    return {"mean": sum(d) / len(d), "min": min(d), "max": max(d), "n_seeds": len(d),
            "seeds": both, "per_seed": d}
