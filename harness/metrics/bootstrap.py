"""The one bootstrap every interval comes from.

Resampling draws whole *clusters*: the task's sampling unit (the patient for patient-based
packs, whose questions are correlated; the question itself for multiple-choice packs). A
split's clusters are a :class:`Clusters`; paired statistics resample the same clusters in
both runs (they answered the same questions), and membership statistics resample member and
non-member clusters separately. Every interval records its unit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from medlethe.metrics.constants import DEFAULT_UNIT, LEVEL, N_RESAMPLES


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float
    method: str
    n_resamples: int
    #: what was resampled: "patient", "question", ...
    unit: str = DEFAULT_UNIT


def _dense(keys: np.ndarray) -> np.ndarray:
    """Cluster keys renumbered 0..k-1 in sorted order."""
    _, ids = np.unique(keys, return_inverse=True)
    return ids.reshape(-1)


@dataclass(frozen=True)
class Clusters:
    """Which cluster each row of a split belongs to (``ids``: 0..k-1), and what a cluster
    is."""

    ids: np.ndarray
    unit: str = DEFAULT_UNIT

    @classmethod
    def of(
        cls, labels: Sequence[Hashable] | None, n: int, unit: str | None = None
    ) -> Clusters:
        """Clusters from per-row labels; ``None`` (or no labels) makes every row its own
        cluster, the unit then being the question."""
        if labels is None or len(labels) != n or any(x is None for x in labels):
            return cls(np.arange(n), DEFAULT_UNIT)
        return cls(_dense(np.asarray([str(x) for x in labels])), unit or DEFAULT_UNIT)

    def __len__(self) -> int:
        return int(self.ids.size)

    @property
    def n_clusters(self) -> int:
        return int(self.ids.max()) + 1 if self.ids.size else 0

    def subset(self, mask: np.ndarray | Sequence[int]) -> Clusters:
        """The clusters of the rows where ``mask`` holds (a boolean array or indices)."""
        rows = mask if isinstance(mask, np.ndarray) else np.asarray(mask, dtype=int)
        return Clusters(_dense(self.ids[rows]), self.unit)

    def groups(self) -> list[np.ndarray]:
        """Row indices of each cluster."""
        order = np.argsort(self.ids, kind="stable")
        starts = np.searchsorted(self.ids[order], np.arange(1, self.n_clusters))
        return np.split(order, starts)

    def draw_counts(self, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
        """How often each cluster is drawn in each resample, shape (resamples, clusters)."""
        k = self.n_clusters
        draws = rng.integers(0, k, size=(n_resamples, k))
        counts = np.zeros((n_resamples, k))
        np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1)
        return counts


def percentile_interval(
    stats: Sequence[float] | np.ndarray, method: str, unit: str, level: float = LEVEL
) -> Interval | None:
    """A percentile interval from bootstrap statistics; ``None`` when more than one in ten
    of them is undefined (a ratio over a zero mean, an AUC of one class)."""
    arr = np.asarray(stats, dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0 or finite.size < arr.size * 0.9:
        return None
    lo, hi = np.percentile(finite, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return Interval(float(lo), float(hi), level, method, int(arr.size), unit)


def resampled_means(
    arrays: Sequence[np.ndarray], clusters: Clusters, seed: int, n_resamples: int = N_RESAMPLES
) -> list[np.ndarray]:
    """For each array (rows aligned with ``clusters``), its mean in every cluster resample,
    all arrays resampled together. Exact: the mean of the drawn clusters' rows."""
    rng = np.random.default_rng(seed)
    counts = clusters.draw_counts(rng, n_resamples)
    k = clusters.n_clusters
    sizes = counts @ np.bincount(clusters.ids, minlength=k)
    out = []
    for a in arrays:
        sums = np.bincount(clusters.ids, weights=np.asarray(a, dtype=float), minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((counts @ sums) / sizes)
    return out


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    clusters: Clusters | None = None,
    *,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """A percentile cluster-bootstrap interval of the mean; ``None`` for fewer than two
    clusters."""
    data = np.asarray(values, dtype=float)
    cl = clusters if clusters is not None else Clusters.of(None, data.size)
    if data.size < 2 or cl.n_clusters < 2:
        return None
    if np.all(data == data[0]):
        return Interval(float(data[0]), float(data[0]), level, "percentile", n_resamples, cl.unit)
    (means,) = resampled_means([data], cl, seed, n_resamples)
    return percentile_interval(means, "percentile", cl.unit, level)


def bootstrap_of_means(
    fn: Callable[..., float | np.ndarray],
    arrays: Sequence[np.ndarray],
    clusters: Clusters,
    seed: int,
    *,
    method: str = "percentile (paired)",
) -> tuple[float, Interval | None]:
    """``fn`` of the arrays' means, and its interval: ``fn`` must accept means as scalars
    and as arrays of resampled means (numpy arithmetic does both)."""
    value = float(fn(*(float(np.mean(a)) for a in arrays)))
    if clusters.n_clusters < 2:
        return value, None
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = np.asarray(fn(*resampled_means(arrays, clusters, seed)), dtype=float)
    return value, percentile_interval(stats, method, clusters.unit)


def _draw_rows(groups: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The rows of one resample: as many clusters as there are, drawn with replacement."""
    return np.concatenate([groups[c] for c in rng.integers(0, len(groups), len(groups))])


def bootstrap(
    fn: Callable[..., float],
    arrays: Sequence[np.ndarray],
    clusters: Clusters,
    seed: int,
    *,
    method: str = "percentile (paired)",
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, Interval | None]:
    """Any statistic ``fn(*arrays)`` and its interval from resampling whole clusters,
    the same draw applied to every array."""
    value = fn(*arrays)
    if clusters.n_clusters < 2:
        return value, None
    rng = np.random.default_rng(seed)
    groups = clusters.groups()
    stats = []
    for _ in range(n_resamples):
        rows = _draw_rows(groups, rng)
        stats.append(fn(*(a[rows] for a in arrays)))
    return value, percentile_interval(stats, method, clusters.unit)


def bootstrap_vector(
    fn: Callable[..., np.ndarray],
    arrays: Sequence[np.ndarray],
    clusters: Clusters,
    seed: int,
    *,
    method: str = "percentile",
    n_resamples: int = N_RESAMPLES,
) -> tuple[np.ndarray, list[Interval | None]]:
    """A vector of statistics ``fn(*arrays)`` (per class F1, AUC...) and an interval for
    each, all from the same cluster resamples (rows of every array drawn together)."""
    value = np.asarray(fn(*arrays), dtype=float)
    if clusters.n_clusters < 2:
        return value, [None] * value.size
    rng = np.random.default_rng(seed)
    groups = clusters.groups()
    stats = np.empty((n_resamples, value.size))
    for r in range(n_resamples):
        rows = _draw_rows(groups, rng)
        stats[r] = fn(*(a[rows] for a in arrays))
    return value, [percentile_interval(stats[:, j], method, clusters.unit)
                   for j in range(value.size)]


def bootstrap_two_samples(
    fn: Callable[[np.ndarray, np.ndarray], float],
    first: Clusters,
    second: Clusters,
    seed: int,
    *,
    method: str = "percentile (stratified)",
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, Interval | None]:
    """A statistic of two independent samples (members and non-members), given as a
    function of their row indices: each resample draws clusters of each sample apart."""
    value = fn(np.arange(len(first)), np.arange(len(second)))
    if first.n_clusters < 2 or second.n_clusters < 2:
        return value, None
    rng = np.random.default_rng(seed)
    g1, g2 = first.groups(), second.groups()
    stats = []
    for _ in range(n_resamples):
        stats.append(fn(_draw_rows(g1, rng), _draw_rows(g2, rng)))
    return value, percentile_interval(stats, method, first.unit)
