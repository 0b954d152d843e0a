"""``medlethe audit``: the per-patient tests, Benjamini-Hochberg, the verdicts of real
models (the target flagged, a model that never saw the patients not), the record's
tamper check, and no patient text in what it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medlethe.audit import AuditError, audit, verify, write
from medlethe.audit.stats import bh, detectable, empirical_p, leak_p, rank_p, ulira_p


def test_pvalues_where_members_have_lower_loss() -> None:
    rng = np.random.default_rng(0)
    null = rng.normal(0, 1, 199)  # holdout patients' mean membership scores
    assert empirical_p(5.0, null) == pytest.approx(1 / 200)  # beyond every null patient
    assert empirical_p(-5.0, null) == 1.0
    assert 0.3 < empirical_p(0.0, null) < 0.7
    # rank: 8 member records (scores shifted up by 2) against 200 null records
    null_records = rng.normal(0, 1, 200)
    assert rank_p(rng.normal(2, 1, 8), null_records) < 1e-3
    assert rank_p(rng.normal(0, 1, 8), null_records) > 0.01
    # U-LiRA: 4 references that never saw the records score them near 0; a member's
    # scores (negative loss) sit well above, a non-member's among them
    refs = rng.normal(0, 0.1, (4, 6))
    assert ulira_p(np.full(6, 1.0), refs) < 1e-6
    assert ulira_p(rng.normal(0, 0.1, 6), refs) > 0.01
    # with 4 references each record's own standard deviation is noisy and a non-member is
    # flagged far too often; one pooled over every record keeps the false alarms near 5 %
    refs, x = rng.normal(0, 1, (4, 1200)), rng.normal(0, 1, 1200)
    sd = float(np.sqrt(np.mean(refs.var(axis=0, ddof=1))))
    pooled = np.mean([ulira_p(x[i:i + 6], refs[:, i:i + 6], sd=sd) < 0.05
                      for i in range(0, 1200, 6)])
    own = np.mean([ulira_p(x[i:i + 6], refs[:, i:i + 6]) < 0.05 for i in range(0, 1200, 6)])
    assert pooled < 0.09 and own > 0.1, (pooled, own)
    # leakage: 3 leaking records of 4 against a 1 % holdout rate is surprising, none is not
    assert leak_p(3, 4, 0.01, 100) < 1e-4 and leak_p(0, 4, 0.01, 100) == 1.0
    assert leak_p(1, 4, 0.0, 10) == pytest.approx(1 - (1 - 0.05) ** 4)  # floored rate
    # z of 0.05 / 10 one-sided (2.5758) plus z of 80 % power (0.8416), in null sds
    assert detectable(null, 0.05, 10) == pytest.approx((2.575829 + 0.841621) * null.std(ddof=1),
                                                       rel=1e-4)
    assert detectable(null[:10], 0.05, 10) is None  # 1/11 can never reach 0.005


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> running minimum from the top
    assert bh([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])


@pytest.mark.slow
def test_audit_flags_the_target_and_not_a_model_that_never_saw_them(tmp_path: Path) -> None:
    from medlethe.cli import main
    from medlethe.training.pipeline import finetune, load_scenario
    from tests.test_attacks import SMALL, SMALL_TRAINING, TASK

    task = load_scenario(TASK, SMALL)
    target = finetune("tiny", task, "train", config=SMALL_TRAINING, progress=False)
    oracle = finetune("tiny", task, "retain", config=SMALL_TRAINING, progress=False)
    forget = task.instances("forget")
    pids = sorted({task.cluster_of(i) for i in forget})
    request = tmp_path / "request.txt"
    request.write_text("# one deletion request\n" + "\n".join(pids) + "\n")
    args = {"task_args": SMALL, "salt": b"the requester's salt", "progress": False}
    flagged = audit(str(target.path), TASK, request, target=str(target.path),
                    references=[str(oracle.path)], **args)
    assert flagged["verdict"] == "not shown forgotten"
    assert flagged["counts"]["not shown forgotten"] == len(pids)
    clean = audit(str(oracle.path), TASK, request, target=str(target.path),
                  references=[str(oracle.path)], **args)
    assert clean["counts"]["not shown forgotten"] == 0  # no false alarm on the oracle
    assert clean["verdict"] == "forgotten"
    # attacked too: each attack's tests join the family; an attack's own training rows
    # are left out of its tests (relearning on a patient is not evidence against them)
    hit = audit(str(target.path), TASK, request, target=str(target.path),
                references=[str(oracle.path)], attacks=["testplugin/identity"], **args)
    assert all(r["tests"]["membership under testplugin/identity"]["rejected"]
               for r in hit["patients"])
    both = audit(str(oracle.path), TASK, request, target=str(target.path),
                 references=[str(oracle.path)], attacks=["testplugin/identity",
                                                        "relearn-forget[steps=2]"], **args)
    assert [a["label"] for a in both["attacks"]] == [
        "testplugin/identity", "relearn-forget[steps=2]"]
    for r in both["patients"]:
        assert r["tests"]["membership under testplugin/identity"]["p"] == r["tests"][
            "membership"]["p"]
    untested = [r for r in both["patients"]
                if "membership under relearn-forget[steps=2]" not in r["tests"]]
    assert 0 < len(untested) < len(pids)
    assert sum(r["records"] for r in untested) == both["attacks"][1][
        "rows_trained_on"]
    assert "membership under relearn-forget[steps=2] p" in write(
        both, tmp_path / "attacked").with_suffix(".html").read_text()
    # the record: sealed, tamper-evident, no patient id, name or answer in it
    path = write(clean, tmp_path / "audit")
    assert verify(path)["verdict"] == "forgotten"
    text = path.read_text() + (tmp_path / "audit" / "audit.html").read_text()
    for inst in forget:
        assert task.cluster_of(inst) not in text and inst.target not in text
    for name in {inst.prompt.split(" of ")[-1].rstrip("?\nAnswer:") for inst in forget}:
        assert name not in text
    edited = json.loads(path.read_text())
    edited["counts"]["forgotten"] -= 1
    path.write_text(json.dumps(edited))
    with pytest.raises(AuditError, match="changed after medlethe wrote it"):
        verify(path)
    # the command: 0 when every patient is forgotten, 1 when any is not, 2 on an error
    base = ["audit", "--scenario", TASK, "--request", str(request), "--target",
            str(target.path), "--reference", str(oracle.path), "--quiet",
            "--task-args", ",".join(f"{k}={v}" for k, v in SMALL.items())]
    assert main([*base, "--model", str(oracle.path), "--output", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "SALT-keep-apart.txt").exists()
    assert main([*base, "--model", str(target.path), "--output", str(tmp_path / "b")]) == 1
    assert main(["audit", "verify", str(tmp_path / "a" / "audit.json")]) == 0
    assert main(["audit", "verify", str(path)]) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("P99999\n")
    assert main([*base, "--model", str(oracle.path), "--request", str(bad),
                 "--output", str(tmp_path / "c")]) == 2
