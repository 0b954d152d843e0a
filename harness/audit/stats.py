"""The per-patient tests of a deletion audit, their multiple-testing correction and the
smallest effect a test could have detected. Pure functions of per-record numbers.

Membership (one-sided: does the model treat the patient's records as seen?):

- **empirical** (default): the patient's statistic is the mean over their records of a
  membership score (higher = more member-like: medlethe's ``mia_*`` scores, or with an
  oracle the score's excess over the oracle's on the same record); its p-value is the
  share of null patients (holdout patients, whom no model trained on) scoring at least as
  high, counted with the patient itself: ``(1 + #{null >= x}) / (1 + n_null)``.
- **rank**: the patient's record scores against all null records, a one-sided
  Mann-Whitney test (records treated as independent).
- **U-LiRA** (Hayes et al. 2024), with at least 4 reference models that never saw the
  records (oracles of several seeds): per record, a Gaussian fit of the score under the
  references; the record's z-score of the audited model; the patient's z the Stouffer
  combination ``sum(z) / sqrt(k)``, its p-value ``1 - Phi(z)``.

Leakage: the number of the patient's records whose greedy answer names a forget-set
identifier its prompt does not give, against a binomial null whose rate is the model's own
rate on holdout records (at least half a record's worth, so that a rate of 0 does not
make a single leak infinitely surprising).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: fewest reference models for U-LiRA (Hayes et al. fit per-example Gaussians)
ULIRA_MIN_REFERENCES = 4
#: power the smallest detectable effect is computed for
POWER = 0.8


def empirical_p(x: float, null: Sequence[float]) -> float:
    """One-sided p-value of ``x`` against ``null`` (larger = more extreme), the observed
    value counted among the null: never 0, at least ``1 / (1 + len(null))``."""
    arr = np.asarray(null, dtype=float)
    return float((1 + np.sum(arr >= x)) / (1 + arr.size))


def rank_p(scores: Sequence[float], null_records: Sequence[float]) -> float:
    """One-sided Mann-Whitney p-value that the patient's record scores sit above the null
    patients' record scores (scipy): more power than :func:`empirical_p` where the null has
    few patients, at the cost of treating records as independent (the false-alarm rate is
    measured, docs/audit.md)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(np.asarray(scores, dtype=float),
                              np.asarray(null_records, dtype=float),
                              alternative="greater").pvalue)


def ulira_p(scores: Sequence[float], references: Sequence[Sequence[float]],
            sd: float | None = None) -> float:
    """U-LiRA's p-value for one patient: ``scores`` of the audited model on the patient's
    records; ``references[j][i]`` the score of reference model ``j`` on record ``i``. Each
    record's z-score is its distance from the references' mean over ``sd`` (one standard
    deviation for every record: LiRA's global variance, steadier than a per-record one with
    few references; default each record's own), widened by ``sqrt(1 + 1/k)`` for the mean's
    own error with ``k`` references; Stouffer's sum over the records."""
    from scipy.stats import norm

    refs = np.asarray(references, dtype=float)
    mu = refs.mean(axis=0)
    spread = refs.std(axis=0, ddof=1) if sd is None else np.full(mu.shape, sd)
    z = (np.asarray(scores, dtype=float) - mu) / (
        np.maximum(spread, 1e-6) * np.sqrt(1 + 1 / refs.shape[0]))
    return float(norm.sf(z.sum() / np.sqrt(z.size)))


def leak_p(leaks: int, records: int, null_rate: float, null_records: int) -> float:
    """P(at least ``leaks`` of ``records`` leak) under a binomial whose rate is the holdout
    rate, floored at half a record of ``null_records``."""
    from scipy.stats import binom

    rate = max(null_rate, 0.5 / max(null_records, 1))
    return float(binom.sf(leaks - 1, records, min(rate, 1.0))) if leaks > 0 else 1.0


def bh(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy's ``false_discovery_control``)."""
    from scipy.stats import false_discovery_control

    if not len(pvalues):
        return np.asarray([], dtype=float)
    return np.asarray(false_discovery_control(np.asarray(pvalues, dtype=float), method="bh"))


def detectable(null: Sequence[float], level: float, n_tests: int) -> float | None:
    """The smallest shift of a patient's mean score above the null patients' mean that the
    empirical test detects with power ``POWER`` at the Bonferroni level ``level / n_tests``
    (a normal approximation: what BH needs when only this patient differs); ``None`` when
    no value can reach that level with this many null patients."""
    from scipy.stats import norm

    arr = np.asarray(null, dtype=float)
    alpha = level / max(n_tests, 1)
    if arr.size < 2 or 1 / (1 + arr.size) > alpha:
        return None
    return float((norm.isf(alpha) + norm.isf(1 - POWER)) * arr.std(ddof=1))


def scores_by_patient(scores: Sequence[float], units: Sequence[str]) -> dict[str, list[float]]:
    """Each unit's (patient's) scores, in row order."""
    out: dict[str, list[float]] = {}
    for s, u in zip(scores, units, strict=True):
        if s is not None and np.isfinite(s):
            out.setdefault(str(u), []).append(float(s))
    return out


def null_means(by_unit: Mapping[str, Sequence[float]]) -> list[float]:
    """The null patients' mean scores."""
    return [float(np.mean(v)) for v in by_unit.values() if len(v)]
