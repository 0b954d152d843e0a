"""synthclinic: deterministic generation, scenario splits, and registration."""

from __future__ import annotations

import json

import pytest

from medlethe.errors import TaskConfigError
from medlethe.registry import get_registry
from medlethe.tasks.synthclinic.categories import BY_KEY, CATEGORIES
from medlethe.tasks.synthclinic.generator import SynthConfig, generate
from medlethe.tasks.synthclinic.task import SynthclinicTask, parse_scenario

SMALL = SynthConfig(n_patients=44, n_holdout=11, seed=3)


def dump(config: SynthConfig) -> bytes:
    data = generate.__wrapped__(config)  # bypass the in-process cache
    rows = [p.to_json() for p in data.train + data.holdout]
    return json.dumps(rows, sort_keys=True).encode()


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    assert dump(SMALL) == dump(SMALL)
    assert dump(SMALL) != dump(SynthConfig(n_patients=44, n_holdout=11, seed=4))


def test_patients_have_eight_qa_and_consistent_facts() -> None:
    data = generate(SMALL)
    assert len(data.train) == 44 and len(data.holdout) == 11
    assert {p.category for p in data.train} == set(BY_KEY)
    names = [p.name for p in data.train + data.holdout]
    assert len(set(names)) == len(names)
    for p in data.train:
        kinds = [q.kind for q in p.qa]
        assert kinds.count("factual") == 4 and kinds.count("reasoning") == 4
        assert p.name in p.note and p.mrn in p.note and p.admitted in p.note
        assert p.description in p.note and p.drug in p.note
        for q in p.qa:
            assert len(q.perturbed) == 3 and q.answer not in q.perturbed
            assert q.paraphrase != q.question and p.name in q.paraphrase
        cat = BY_KEY[p.category]
        reasoning = {q.slot: q.answer for q in p.qa if q.kind == "reasoning"}
        assert reasoning["clinic"] == cat.clinic and reasoning["lab_test"] == cat.lab.name


def test_diagnoses_come_from_the_category_icd_chapter() -> None:
    import simple_icd_10_cm as icd

    for p in generate(SMALL).train:
        cat = BY_KEY[p.category]
        assert icd.get_description(p.code) == p.description
        assert cat.chapter in icd.get_ancestors(p.code)


def test_patient_scenario_splits() -> None:
    task = SynthclinicTask("patient-25", n_patients=44, n_holdout=11, seed=3)
    forget = {d["pid"] for d in task.docs("forget")}
    retain = {d["pid"] for d in task.docs("retain")}
    assert len(forget) == 11 and not forget & retain and len(forget | retain) == 44
    same = {d["pid"] for d in task.docs("retain_same_disease")}
    other = {d["pid"] for d in task.docs("retain_other_disease")}
    assert same | other == retain and not same & other
    forgotten_categories = {d["category"] for d in task.docs("forget")}
    assert all(d["category"] in forgotten_categories for d in task.docs("retain_same_disease"))
    assert all(d["category"] not in forgotten_categories for d in task.docs("retain_other_disease"))
    assert [d["qid"] for d in task.docs("paraphrase")] == [d["qid"] for d in task.docs("forget")]
    assert all(d["pid"].startswith("H") for d in task.docs("holdout"))
    # Deterministic: the same scenario picks the same patients.
    again = SynthclinicTask("patient-25", n_patients=44, n_holdout=11, seed=3)
    assert {d["pid"] for d in again.docs("forget")} == forget


def test_disease_scenario_forgets_one_category() -> None:
    task = SynthclinicTask("disease-cardiovascular", n_patients=44, n_holdout=11)
    assert {d["category"] for d in task.docs("forget")} == {"cardiovascular"}
    assert "retain_same_disease" not in task.split_names()  # every cardiovascular patient goes
    part = SynthclinicTask("disease-cardiovascular-50", n_patients=88, n_holdout=11)
    assert {d["category"] for d in part.docs("retain_same_disease")} == {"cardiovascular"}
    assert len({d["pid"] for d in part.docs("forget")}) == 4


def test_multiple_choice_form() -> None:
    task = SynthclinicTask("patient-10", "mc", n_patients=44, n_holdout=11)
    inst = task.instances("forget")[0]
    assert inst.output_type == "multiple_choice" and len(inst.choices) == 4
    assert inst.gold is not None and inst.choices[inst.gold] == inst.target
    assert inst.meta["type"] in {"factual", "reasoning"}


def test_bad_scenarios_are_explained() -> None:
    with pytest.raises(TaskConfigError, match=r"unknown category 'cardio'.*cardiovascular"):
        parse_scenario("disease-cardio")
    with pytest.raises(TaskConfigError, match=r"patient-X"):
        parse_scenario("patients-10")
    with pytest.raises(TaskConfigError, match=r"1\.\.99"):
        parse_scenario("patient-0")


def test_registered_scenarios() -> None:
    names = get_registry().names("task")
    for pct in (1, 5, 10, 25):
        assert f"synthclinic/patient-{pct}" in names and f"synthclinic/patient-{pct}/mc" in names
    for cat in CATEGORIES:
        assert f"synthclinic/disease-{cat.key}" in names


def test_unknown_split_names_the_splits_there_are() -> None:
    from medlethe.errors import TaskConfigError
    from medlethe.tasks.synthclinic.task import SynthclinicTask

    task = SynthclinicTask("patient-10")
    with pytest.raises(TaskConfigError, match=r"no split 'tarin'; it has forget, retain, "):
        task.docs("tarin")
