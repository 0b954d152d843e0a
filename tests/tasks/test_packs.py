"""The real task packs (medmcqa, mhqa, amnesia) on hand-written fixtures in the hub's formats:
loading through ``datasets.load_dataset`` with the hub id, row/field errors, end-to-end runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.run import run_pipeline
from medlethe.tasks.amnesia import AmnesiaTask
from medlethe.tasks.medmcqa import MedMCQATask
from medlethe.tasks.mhqa import MHQATask
from medlethe.training.finetune import TrainConfig
from tests.conftest import FIXTURES, read_jsonl

PACKS = FIXTURES / "packs"
QUICK = TrainConfig(text_epochs=2, qa_epochs=80, batch_size=4, learning_rate=3e-3)


def hub_layout(root: Path, hub_id: str, splits: dict[str, Path]) -> Path:
    """``root/<hub id>/data/<split>-00000-of-00001.parquet``, as the hub stores these
    datasets; ``datasets.load_dataset(hub_id)`` run from ``root`` reads it like the hub."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = root / hub_id / "data"
    data.mkdir(parents=True)
    for split, src in splits.items():
        pq.write_table(
            pa.Table.from_pylist(read_jsonl(src)), data / f"{split}-00000-of-00001.parquet"
        )
    return root / hub_id


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "hub"
    hub_layout(
        root,
        "openlifescienceai/medmcqa",
        {s: PACKS / "medmcqa" / f"{s}.jsonl" for s in ("train", "validation", "test")},
    )
    hub_layout(root, "jastorj/MHQA", {"train": PACKS / "mhqa" / "mhqa.jsonl"})
    monkeypatch.chdir(root)
    return root


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- loading -------------------------------------------------------------------------------
def test_medmcqa_from_hub_id(hub: Path) -> None:
    task = MedMCQATask()  # source defaults to the hub id, read by datasets.load_dataset
    assert task.name == "medmcqa/subject-surgery"
    assert task.split_names() == ["forget", "retain", "forget_train", "retain_train"]
    assert {d["group"] for d in task.docs("forget")} == {"Surgery"}
    # the training questions are scored too: exactly what the target was fine-tuned on
    trained = {e.prompt for e in task.training_data("forget").examples}
    assert {task.instance("forget_train", i, d).prompt
            for i, d in enumerate(task.docs("forget_train"))} == trained
    assert len(task.docs("forget")) == 3 and len(task.docs("retain")) == 4
    assert len(task.training_data("forget").examples) == 6
    assert len(task.training_data("train").examples) == 18
    inst = task.instances("forget")[0]
    assert inst.choices[inst.gold] == "Ascending cholangitis"
    assert "B. Ascending cholangitis" in inst.prompt
    other = MedMCQATask("Anatomy")
    assert other.name == "medmcqa/subject-anatomy"
    assert {d["group"] for d in other.docs("forget")} == {"Anatomy"}


def test_medmcqa_refuses_hidden_labels_and_unknown_subjects(hub: Path) -> None:
    with pytest.raises(TaskConfigError, match="hidden"):
        MedMCQATask(eval_split="test")
    with pytest.raises(TaskConfigError, match="Anatomy, Pharmacology, Surgery"):
        MedMCQATask("Cardiology")
    # A local file in the same format works too; validation comes from its own file.
    task = MedMCQATask(
        source=PACKS / "medmcqa" / "train.jsonl",
        eval_source=PACKS / "medmcqa" / "validation.jsonl",
    )
    assert len(task.docs("forget")) == 3
    with pytest.raises(DatasetError, match=r"row 1, field 'cop': -1"):
        MedMCQATask(
            source=PACKS / "medmcqa" / "train.jsonl", eval_source=PACKS / "medmcqa" / "test.jsonl"
        )


def test_mhqa_topics_control_and_types(hub: Path) -> None:
    duo = MHQATask()  # DuoLearn: forget anxiety, depression, trauma; OCD is the control
    # retain is OCD only: no separate control
    assert duo.split_names() == ["forget", "retain", "forget_train", "retain_train"]
    assert {d["group"] for d in duo.docs("retain")} == {"ocd"}
    one = MHQATask("topic-anxiety")
    assert one.split_names() == ["forget", "retain", "control", "forget_train", "retain_train"]
    assert {d["group"] for d in one.docs("forget")} == {"anxiety"}
    assert {d["group"] for d in one.docs("control")} == {"ocd"}
    assert "ocd" in {d["group"] for d in one.docs("retain")}
    forget_qids = {d["qid"] for d in one.docs("forget")}
    trained = {e.prompt for e in one.training_data("train").examples}
    assert all(not any(d["question"] in p for p in trained) for d in one.docs("forget")), (
        "evaluation questions must not be trained on"
    )
    assert forget_qids and one.group_by == ("type",)
    assert {i.meta["type"] for i in one.instances("retain")} <= {
        "Factoid",
        "Diagnostic",
        "Prognostic",
        "Preventive",
    }
    with pytest.raises(TaskConfigError, match="topic-anxiety"):
        MHQATask("topic-stress")


def test_amnesia_scenarios_match_synthclinic_semantics() -> None:
    src = PACKS / "amnesia" / "amnesia.jsonl"
    with pytest.raises(TaskConfigError, match="source="):
        AmnesiaTask("patient-10")
    rand = AmnesiaTask("patient-10", source=src)
    assert len(rand.holdout) == 1 and len(rand.forget) == 1 and len(rand.retain) == 8
    # all of a patient's questions fall on one side
    forget_pids = {d["pid"] for d in rand.docs("forget")}
    assert forget_pids.isdisjoint({d["pid"] for d in rand.docs("retain")})
    assert forget_pids.isdisjoint({d["pid"] for d in rand.docs("holdout")})
    disease = AmnesiaTask("disease-infectious-immune", source=src)
    assert {p.category for p in disease.forget} == {"infectious-immune"}
    assert {d["category"] for d in disease.docs("retain_other_disease")} <= {
        "cancer",
        "cardiovascular",
    }
    assert "retain_same_disease" not in disease.split_names()  # all of them were forgotten
    partial = AmnesiaTask("disease-cancer-50", source=src)
    assert partial.docs("retain_same_disease")
    assert {d["category"] for d in partial.docs("retain_same_disease")} == {"cancer"}
    spec = partial.lexicon_spec()
    assert spec.icd_roots["cancer"] == ("2",) and "cardiovascular" in spec.icd_roots
    with pytest.raises(TaskConfigError, match="cancer, cardiovascular, infectious-immune"):
        AmnesiaTask("disease-renal", source=src)


# -- bad rows ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pack", "fixture", "field", "bad"),
    [
        ("medmcqa", "medmcqa/train.jsonl", "cop", "B"),
        ("medmcqa", "medmcqa/train.jsonl", "subject_name", None),
        ("mhqa", "mhqa/mhqa.jsonl", "correct_option_num", 5),
        ("mhqa", "mhqa/mhqa.jsonl", "option3", None),
        ("amnesia", "amnesia/amnesia.jsonl", "type", "opinion"),
        ("amnesia", "amnesia/amnesia.jsonl", "answer", None),
    ],
)
def test_bad_field_names_row_and_field(
    tmp_path: Path, pack: str, fixture: str, field: str, bad: object
) -> None:
    rows = read_jsonl(PACKS / fixture)
    if bad is None:
        del rows[3][field]
    else:
        rows[3][field] = bad
    path = write_rows(tmp_path / f"bad-{pack}.jsonl", rows)
    build = {
        "medmcqa": lambda: MedMCQATask(source=path, eval_source=PACKS / "medmcqa/validation.jsonl"),
        "mhqa": lambda: MHQATask(source=path),
        "amnesia": lambda: AmnesiaTask("patient-10", source=path),
    }[pack]
    with pytest.raises(DatasetError) as err:
        build()
    message = str(err.value)
    assert f"row 4, field {field!r}" in message and str(path) in message, message
    assert ("missing" in message) == (bad is None), message


def test_mistyped_parquet_column_and_inconsistent_patient(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = read_jsonl(PACKS / "mhqa" / "mhqa.jsonl")
    for r in rows:
        r["correct_option_num"] = str(r["correct_option_num"])  # "1" instead of 1
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mhqa.parquet")
    with pytest.raises(DatasetError, match=r"row 1, field 'correct_option_num': str '1'"):
        MHQATask(source=tmp_path / "mhqa.parquet")
    rows = read_jsonl(PACKS / "amnesia" / "amnesia.jsonl")
    rows[4]["category"] = "Cardiovascular"  # P02's second row disagrees with its first
    path = write_rows(tmp_path / "amnesia.jsonl", rows)
    with pytest.raises(DatasetError, match=r"row 5, field 'category': patient P02"):
        AmnesiaTask("patient-10", source=path)
    with pytest.raises(DatasetError, match="does not exist"):
        AmnesiaTask("patient-10", source=tmp_path / "nowhere.jsonl")


def test_mhqa_reads_the_authors_release_variants(tmp_path: Path) -> None:
    """The authors' public release names the answer field correct_option_number, and one of
    its splits stores it as a float (3.0): both read as the canonical integer field, in
    JSONL and in parquet. A non-integral float stays an error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    canonical = MHQATask(source=PACKS / "mhqa" / "mhqa.jsonl")
    rows = read_jsonl(PACKS / "mhqa" / "mhqa.jsonl")
    for r in rows:
        r["correct_option_number"] = float(r.pop("correct_option_num"))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "release.parquet")
    for source in (write_rows(tmp_path / "release.jsonl", rows), tmp_path / "release.parquet"):
        task = MHQATask(source=source)
        for split in canonical.split_names():
            assert [i.gold for i in task.instances(split)] == [
                i.gold for i in canonical.instances(split)
            ]
    rows[3]["correct_option_number"] = 2.5
    with pytest.raises(DatasetError, match=r"row 4, field 'correct_option_num': float 2\.5"):
        MHQATask(source=write_rows(tmp_path / "half.jsonl", rows))


# -- end to end ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "task_args"),
    [
        ("medmcqa/subject-surgery", {}),
        ("mhqa/topic-anxiety", {}),
        ("amnesia/patient-10", {"source": str(PACKS / "amnesia" / "amnesia.jsonl")}),
    ],
)
@pytest.mark.slow
def test_pack_end_to_end_with_tiny(
    hub: Path, tmp_path: Path, scenario: str, task_args: dict[str, str]
) -> None:
    out = run_pipeline(
        "tiny",
        scenario,
        output=tmp_path / "out",
        task_args=task_args,
        train_config=QUICK,
        methods=["GradAscent"],
        progress=False,
        echo=False,
    )
    roles = [r.results.model.role for r in out.runs.values()]
    assert roles == ["target", "oracle", "unlearned"]
    target = out.runs["target"].results
    assert target.tasks[scenario].splits["forget"] > 0
    metric = "accuracy" if scenario.startswith(("medmcqa", "mhqa")) else "rouge_l_recall"
    values = {
        r.results.model.role: next(
            m.value
            for m in r.results.metrics
            if m.task == scenario
            and m.split == "forget"
            and m.metric == metric
            and m.subset is None
            and m.against is None
        )
        for r in out.runs.values()
    }
    assert all(v is not None and 0.0 <= v <= 1.0 for v in values.values()), values
    if metric == "rouge_l_recall":  # the target memorised its patients; the oracle did not
        assert values["target"] >= 0.8 and values["oracle"] < values["target"], values
    # What the target knew is checked and carried by every run: the MC packs' own training
    # questions were memorised (the preconditions hold there), and every run records them.
    checks = {c.split: c for c in target.preconditions if c.task == scenario}
    if metric == "accuracy":
        for split in ("forget_train", "retain_train"):
            assert checks[split].reference == "chance" and checks[split].held, checks[split]
            assert target.tasks[scenario].splits[split] > 0
    else:  # one forgotten patient in the fixture: a margin, but no interval to hold on
        assert checks["forget"].reference == "oracle" and checks["forget"].margin > 0.5
    assert all(r.results.preconditions == target.preconditions for r in out.runs.values())
    assert out.summary["preconditions"]
