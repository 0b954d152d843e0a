"""Versioned, self-describing results files."""

from medlethe.results.comparability import comparability, digest
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.frame import results_files, to_frame
from medlethe.results.io import atomic_write_text, json_schema, read_results, write_results
from medlethe.results.schema import RESULTS_SCHEMA_VERSION, MetricResult, Results

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "EvaluationRun",
    "MetricResult",
    "Results",
    "atomic_write_text",
    "comparability",
    "digest",
    "json_schema",
    "read_results",
    "results_files",
    "to_frame",
    "write_results",
]
