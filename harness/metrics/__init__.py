"""Metrics: every definition medlethe reports lives in this package.

* :mod:`~medlethe.metrics.base`: the answer-metric contract (one value per answer);
* :mod:`~medlethe.metrics.runmetric`: the run-metric contract (over whole runs);
* :mod:`~medlethe.metrics.bootstrap`: the one cluster bootstrap every interval comes from;
* :mod:`~medlethe.metrics.constants`: split roles and shared settings;
* answer metrics in :mod:`~medlethe.metrics.answer` and :mod:`~medlethe.metrics.semantic`,
  privacy in :mod:`~medlethe.metrics.privacy`, leakage in :mod:`~medlethe.metrics.leakage`,
  comparisons in :mod:`~medlethe.metrics.comparison`, disease-informed analysis in
  :mod:`~medlethe.metrics.hierarchy`.

Definitions and their sources: ``docs/metrics.md``.
"""

from medlethe.metrics.base import Direction, Metric, Sample
from medlethe.metrics.bootstrap import (
    Clusters,
    Interval,
    bootstrap,
    bootstrap_ci,
    bootstrap_of_means,
)
from medlethe.metrics.constants import CHANCE_LABEL, GOLD_LABEL
from medlethe.metrics.lexicon import LexiconSpec, icd10cm, normalise
from medlethe.metrics.preconditions import Verdicts
from medlethe.metrics.runmetric import (
    Column,
    Paired,
    RunMetric,
    own_values,
    paired_values,
)

__all__ = [
    "CHANCE_LABEL",
    "GOLD_LABEL",
    "Clusters",
    "Column",
    "Direction",
    "Interval",
    "LexiconSpec",
    "Metric",
    "Paired",
    "RunMetric",
    "Sample",
    "Verdicts",
    "bootstrap",
    "bootstrap_ci",
    "bootstrap_of_means",
    "icd10cm",
    "normalise",
    "own_values",
    "paired_values",
]
