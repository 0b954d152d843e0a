"""synthclinic-notes (the embedded note-classification pack) and the MIMIC-style loader,
read from a hand-written table in the layout credentialed users export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.evaluator import load_task
from medlethe.registry import get_registry
from medlethe.tasks.synthclinic.notes import CLASSES

FIXTURE = Path(__file__).parent.parent / "fixtures" / "mimic_notes" / "notes.csv"
SMALL = {"n_patients": 66, "n_holdout": 22}


def _task(name: str, args: dict[str, object]):  # type: ignore[no-untyped-def]
    return load_task(get_registry(), name, args)[0]


def test_synthclinic_notes_splits_labels_and_determinism() -> None:
    task = _task("synthclinic-notes/forget-class-renal", SMALL)
    again = _task("synthclinic-notes/forget-class-renal", SMALL)
    assert task.data_fingerprint("retain") == again.data_fingerprint("retain")
    assert task.output_type == "classify" and task.classes == CLASSES
    renal = CLASSES.index("renal")
    forget, retain = task.docs("forget"), task.docs("retain")
    assert forget and all(renal in r["labels"] for r in forget)
    assert all(renal not in r["labels"] for r in retain)
    assert len(forget) + len(retain) == 66 * 4
    # a comorbidity makes the multi-label case real
    assert any(len(r["labels"]) == 2 for r in retain)
    # the paraphrase split: the forget notes in other words, same labels and patients
    para = task.docs("paraphrase")
    assert [(r["nid"], r["labels"]) for r in para] == [(r["nid"], r["labels"]) for r in forget]
    # (a nursing note that names no evidence has nothing to reword)
    reworded = [p["text"] != f["text"] for p, f in zip(para, forget, strict=True)]
    assert sum(reworded) > 0.7 * len(reworded)
    held = {r["pid"] for r in task.docs("holdout")}
    assert held and not held & {r["pid"] for r in forget + retain}
    inst = task.instance("forget", 0, forget[0])
    assert inst.labels == tuple(forget[0]["labels"]) and inst.multi_label
    assert inst.choices == CLASSES and inst.meta["pid"] == forget[0]["pid"]
    data = task.training_data("retain")
    assert len(data.examples) == len(retain) and data.multi_label
    single = _task("synthclinic-notes/forget-class-renal", {**SMALL, "multi_label": False})
    assert all(len(r["labels"]) == 1 for r in single.docs("retain"))


def test_synthclinic_notes_bad_arguments_name_the_fix() -> None:
    with pytest.raises(TaskConfigError, match="n_patients must be a whole number >= 1"):
        _task("synthclinic-notes/forget-class-renal", {"n_patients": 0})


def test_mimic_style_table_loads_with_its_layout() -> None:
    task = _task("mimic-notes/forget-class", {"source": str(FIXTURE), "forget_class": "sepsis"})
    assert task.name == "mimic-notes/forget-class-sepsis"
    assert task.classes == ("heart_failure", "pneumonia", "sepsis")
    assert task.multi_label  # "pneumonia;sepsis" and "heart_failure|pneumonia"
    sizes = {s: len(task.docs(s)) for s in task.split_names()}
    assert sizes == {"forget": 4, "retain": 3, "holdout": 3}
    assert {r["pid"] for r in task.docs("holdout")} == {"10005", "10006"}
    inst = task.instance("forget", 2, task.docs("forget")[2])
    assert inst.labels == (1, 2) and inst.target == "pneumonia; sepsis"
    assert [e.labels for e in task.training_data("forget").examples][:2] == [(2,), (2,)]


def test_mimic_style_table_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TaskConfigError, match="labels are heart_failure, pneumonia, sepsis"):
        _task("mimic-notes/forget-class", {"source": str(FIXTURE), "forget_class": "stroke"})
    with pytest.raises(TaskConfigError, match="source=PATH_OR_HUB_ID forget_class=NAME"):
        _task("mimic-notes/forget-class", {})
    bad = tmp_path / "notes.jsonl"
    bad.write_text(json.dumps({"subject_id": 1, "labels": ["a"]}) + "\n")
    with pytest.raises(DatasetError, match=r"notes.jsonl.*row 1, field 'text': missing"):
        _task("mimic-notes/forget-class", {"source": str(bad), "forget_class": "a"})
    # a label list (JSON lines) and no split column: a fifth of the patients held out
    rows = [{"subject_id": p, "text": f"note {p}", "labels": ["x"] if p % 2 else ["y"]}
            for p in range(10)]
    good = tmp_path / "list.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = _task("mimic-notes/forget-class", {"source": str(good), "forget_class": "x"})
    assert not task.multi_label and len(task.docs("holdout")) == 2


def test_mimic_style_table_in_the_hubs_folder_layout(tmp_path: Path) -> None:
    """A local copy of a hub dataset (``data/<split>-00000-of-00001.parquet``) is read with
    ``datasets.load_dataset`` exactly as the hub id would be; its splits become the
    train/test division."""
    import pandas as pd

    table = pd.read_csv(FIXTURE, dtype={"subject_id": str})
    data = tmp_path / "mimic" / "data"
    data.mkdir(parents=True)
    for split in ("train", "test"):
        part = table[table["split"] == split].drop(columns="split")
        part.to_parquet(data / f"{split}-00000-of-00001.parquet", index=False)
    task = _task("mimic-notes/forget-class",
                 {"source": str(tmp_path / "mimic"), "forget_class": "heart_failure"})
    assert {r["pid"] for r in task.docs("holdout")} == {"10005", "10006"}
    assert len(task.docs("forget")) == 3 and len(task.docs("retain")) == 4
