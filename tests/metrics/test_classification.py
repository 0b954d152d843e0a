"""Classification metrics against scikit-learn on a fixed fixture of logits and labels
(every expected number here comes from scikit-learn, none is typed in by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from medlethe.backends.base import ClassifyResult
from medlethe.metrics.base import Sample
from medlethe.metrics.classification import (
    AUROC,
    F1,
    ClassAccuracy,
    ClassLoss,
    ForgetClassF1,
    RetainAverageF1,
    SampleF1,
    auroc_per_class,
    f1_per_class,
    one_hot,
    predictions,
    probabilities,
)
from medlethe.metrics.privacy import LossAttack
from medlethe.results.evaluation import CLUSTER_LABEL, EvaluationRun
from medlethe.results.schema import ClassesRecord, ModelRecord, Results, TaskRecord
from medlethe.task.base import Instance

CLASSES = ("a", "b", "c", "d")
RNG = np.random.default_rng(7)
N = 60
GOLD = [tuple(sorted(set(RNG.choice(3, size=RNG.integers(1, 3)).tolist()))) for _ in range(N)]
# class d never occurs in the gold labels; logits carry some signal and noise
LOGITS = one_hot(GOLD, 4) * 2.0 - 1.0 + RNG.normal(0, 1.2, size=(N, 4))


def _sample(z: np.ndarray, labels: tuple[int, ...], multi: bool) -> Sample:
    inst = Instance("t", "holdout", 0, "classify", "text", "", choices=CLASSES,
                    labels=labels, multi_label=multi)
    return Sample(inst, classification=ClassifyResult(tuple(float(v) for v in z)))


def _run(gold: list[tuple[int, ...]], logits: np.ndarray, multi: bool,
         forget: tuple[str, ...] = ("a",)) -> EvaluationRun:
    task = TaskRecord(
        name="t", version="1", output_type="classify", plugin="p", distribution="d",
        plugin_version="0", config_hash=None, prompt_template_hash=None, chat_template=None,
        splits={"holdout": len(gold)}, data_fingerprints={"holdout": "x"}, sampling_unit="patient",
        classes=ClassesRecord(names=list(CLASSES), multi_label=multi, forget=list(forget)),
    )
    results = Results.model_construct(
        run_id="run", tasks={"t": task}, model=ModelRecord(name_or_path="m", fingerprint="f")
    )
    values = {"t": {"holdout": {"class_logits": [list(map(float, z)) for z in logits]}}}
    # two rows per patient: the bootstrap resamples patients
    labels = {"t": {"holdout": {"gold_labels": [list(g) for g in gold],
                                CLUSTER_LABEL: [f"p{i // 2}" for i in range(len(gold))]}}}
    return EvaluationRun(results, values, labels)


def _by_subset(rows: list, split: str = "holdout") -> dict[str | None, float]:
    return {r.subset: r.value for r in rows if r.split == split}


def test_multi_label_f1_matches_sklearn() -> None:
    gold, pred = one_hot(GOLD, 4), predictions(LOGITS, True)
    expected = f1_score(gold, pred, average=None, zero_division=0)
    assert np.allclose(f1_per_class(gold, pred), expected)
    rows = _by_subset(F1().compute(_run(GOLD, LOGITS, True), {}, 0))
    # macro: scikit-learn's default, every class of the label matrix (d has no gold row)
    assert rows[None] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    for c, name in enumerate(CLASSES):
        assert rows[f"class={name}"] == pytest.approx(expected[c])


def test_macro_f1_is_sklearns_where_a_class_is_predicted_but_never_gold() -> None:
    """The audit's kind of case: 4 grades, single-label; grade 3 has no gold row but is
    predicted for 3 rows. scikit-learn averages over the union of gold and predicted labels
    (grade 3's F1 of 0 included: 3/4 of the gold-only mean); version 2 averaged over the gold
    classes only (the audit's rows: 0.746 against scikit-learn's 0.5595 = 3/4 of it)."""
    y = np.asarray([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2])
    yp = np.asarray([0, 0, 3, 1, 1, 3, 2, 2, 3, 1, 1, 2])
    logits = np.eye(4)[yp] * 3.0
    rows = _by_subset(F1().compute(_run([(int(v),) for v in y], logits, False), {}, 0))
    expected = f1_score(y, yp, average="macro")
    assert rows[None] == pytest.approx(expected)
    old = f1_score(y, yp, labels=[0, 1, 2], average="macro")
    assert rows[None] == pytest.approx(old * 3 / 4) and old - rows[None] > 0.1
    assert F1.version == "3"
    for seed in range(20):  # and on random tables, both forms
        rng = np.random.default_rng(seed)
        g = rng.integers(0, 3, size=30)
        z = rng.normal(size=(30, 4)) + np.eye(4)[g] * rng.uniform(0, 2)
        got = _by_subset(F1().compute(_run([(int(v),) for v in g], z, False), {}, 0))
        assert got[None] == pytest.approx(f1_score(g, z.argmax(1), average="macro"))
        multi = [tuple(np.flatnonzero(r)) for r in rng.random((30, 4)) < 0.3]
        got = _by_subset(F1().compute(_run(multi, z, True), {}, 0))
        assert got[None] == pytest.approx(f1_score(
            one_hot(multi, 4), predictions(z, True), average="macro", zero_division=0))


def test_forget_class_f1_is_withheld_where_the_class_has_no_row() -> None:
    gold = [g for g in GOLD if 1 not in g]  # no row of b
    logits = LOGITS[[i for i, g in enumerate(GOLD) if 1 not in g]]
    (row,) = ForgetClassF1().compute(_run(gold, logits, True, forget=("b",)), {}, 0)
    assert row.value is None and row.ci is None
    assert row.withheld == "no row of the forgotten class in this split"
    (kept,) = ForgetClassF1().compute(_run(GOLD, LOGITS, True, forget=("b",)), {}, 0)
    assert kept.value is not None and kept.withheld is None


def test_rows_without_gold_labels_are_counted_and_warned(
    capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(GOLD, LOGITS, True)
    run.labels["t"]["holdout"]["gold_labels"][:3] = [None, None, None]
    rows = F1().compute(run, {}, 0)
    assert {r.excluded for r in rows} == {3} and rows[0].n == N - 3
    assert "t:holdout: 3 of 60 row(s) have no gold label" in capsys.readouterr().err
    assert all(r.excluded == 0 for r in F1().compute(_run(GOLD, LOGITS, True), {}, 0))


def test_single_label_f1_accuracy_and_loss_match_sklearn_and_torch() -> None:
    gold = [(g[0],) for g in GOLD]
    y = np.asarray([g[0] for g in gold])
    pred = LOGITS.argmax(axis=1)
    rows = _by_subset(F1().compute(_run(gold, LOGITS, False), {}, 0))
    assert rows[None] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    acc = [ClassAccuracy().score(_sample(z, g, False)) for z, g in zip(LOGITS, gold, strict=True)]
    assert np.mean(acc) == pytest.approx(accuracy_score(y, pred))
    losses = [ClassLoss().score(_sample(z, g, False)) for z, g in zip(LOGITS, gold, strict=True)]
    expected = torch.nn.functional.cross_entropy(torch.tensor(LOGITS), torch.tensor(y))
    assert np.mean(losses) == pytest.approx(float(expected))


def test_multi_label_sample_metrics_match_sklearn_and_torch() -> None:
    gold, pred = one_hot(GOLD, 4), predictions(LOGITS, True)
    samples = [_sample(z, g, True) for z, g in zip(LOGITS, GOLD, strict=True)]
    assert np.mean([SampleF1().score(s) for s in samples]) == pytest.approx(
        f1_score(gold, pred, average="samples", zero_division=1))
    assert np.mean([ClassAccuracy().score(s) for s in samples]) == pytest.approx(
        accuracy_score(gold, pred))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(LOGITS), torch.tensor(gold))
    assert np.mean([ClassLoss().score(s) for s in samples]) == pytest.approx(float(bce))
    # the LOSS attack scores a classifier's row by minus that loss
    assert LossAttack().score(samples[0]) == pytest.approx(-ClassLoss().score(samples[0]))


def test_auroc_matches_sklearn_per_class_and_macro() -> None:
    gold, scores = one_hot(GOLD, 4), probabilities(LOGITS, True)
    per = auroc_per_class(gold, scores)
    for c in range(3):
        assert per[c] == pytest.approx(roc_auc_score(gold[:, c], scores[:, c]))
    assert np.isnan(per[3])  # no positive of class d: undefined, left out of the macro
    rows = _by_subset(AUROC().compute(_run(GOLD, LOGITS, True), {}, 0))
    assert rows[None] == pytest.approx(np.mean(per[:3]))
    soft = probabilities(LOGITS, False)
    y = np.asarray([g[0] for g in GOLD])
    assert auroc_per_class(one_hot([(v,) for v in y], 4), soft)[1] == pytest.approx(
        roc_auc_score(y == 1, soft[:, 1]))


def test_forget_and_retain_f1_and_intervals() -> None:
    gold, pred = one_hot(GOLD, 4), predictions(LOGITS, True)
    run = _run(GOLD, LOGITS, True, forget=("b",))
    per = f1_score(gold, pred, average=None, zero_division=0)
    (forget,) = ForgetClassF1().compute(run, {}, 0)
    (retain,) = RetainAverageF1().compute(run, {}, 0)
    assert forget.value == pytest.approx(per[1])
    assert retain.value == pytest.approx((per[0] + per[2]) / 2)
    for row in (forget, retain):
        assert row.ci is not None and row.ci.unit == "patient"
        assert row.ci.low <= row.value <= row.ci.high and row.ci.low < row.ci.high
