"""synthclinic-cxr's generator (the embedded image + report set of Forget-MI): seeded,
the edema grade visible in an image statistic, reports that correlate with the grade
without giving it away."""

from __future__ import annotations

import itertools

import numpy as np

from medlethe.tasks.synthclinic.cxr import _FINDINGS, CxrConfig, generate_cxr

SMALL = CxrConfig(n_patients=120, n_holdout=20)


def _lung_opacity(image: np.ndarray) -> float:
    """Mean intensity of two fixed windows over the lower lung fields."""
    im = image.astype(float) / 255
    return float((im[34:44, 8:22].mean() + im[34:44, 42:56].mean()) / 2)


def test_same_config_same_bytes_and_disjoint_holdout() -> None:
    train, hold = generate_cxr(SMALL)
    generate_cxr.cache_clear()
    again, _ = generate_cxr(SMALL)
    assert [s.image.tobytes() for s in train] == [s.image.tobytes() for s in again]
    assert [s.report for s in train] == [s.report for s in again]
    assert train[0].image.shape == (64, 64) and train[0].image.dtype == np.uint8
    assert not {s.pid for s in train} & {s.pid for s in hold}
    assert {s.grade for s in train} == {0, 1, 2, 3}


def test_edema_grade_raises_lung_opacity() -> None:
    train, _ = generate_cxr(SMALL)
    means = [np.mean([_lung_opacity(s.image) for s in train if s.grade == g]) for g in range(4)]
    assert means[0] < means[2] < means[3]
    assert means[3] - means[0] > 0.05


def test_reports_correlate_with_the_grade_but_do_not_give_it_away() -> None:
    train, _ = generate_cxr(SMALL)

    def named(report: str) -> int | None:
        return next((g for g, found in enumerate(_FINDINGS) if any(f in report for f in found)),
                    None)

    said = [(s.grade, named(s.report)) for s in train]
    agree = sum(g == n for g, n in said) / len(said)
    assert 0.45 < agree < 0.8  # informative, not a label
    assert any(n is None for _, n in said)  # some reports name no edema finding


def test_a_patient_is_recognisable_across_studies() -> None:
    # the same history sentences in every report of a patient, the same bright devices in
    # every image (what lets a model memorise the patients it was trained on)
    from medlethe.tasks.synthclinic.cxr import _HISTORY

    train, _ = generate_cxr(SMALL)
    by_pid: dict[str, list] = {}
    for s in train:
        by_pid.setdefault(s.pid, []).append(s)
    several = [v for v in by_pid.values() if len(v) > 1]
    assert len(several) > len(by_pid) / 2

    def history(report: str) -> frozenset[str]:
        return frozenset(h for h in _HISTORY if h in report)

    for studies in several:
        seen = {history(s.report) for s in studies}
        assert len(seen) == 1 and next(iter(seen))
    # device pixels (near white) sit in the same places in a patient's studies
    def bright(image: np.ndarray) -> np.ndarray:
        return image > 240

    same = [np.mean(bright(a.image) == bright(b.image)) for a, b in
            (v[:2] for v in several)]
    other = [np.mean(bright(a[0].image) == bright(b[0].image)) for a, b in
             itertools.pairwise(several)]
    assert np.mean(same) > np.mean(other) + 0.01
