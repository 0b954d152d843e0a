"""MedMCQA (``openlifescienceai/medmcqa``): forget one subject, e.g. Surgery.

Hub format: splits train, validation and test (parquet under ``data/``); fields id, question,
opa, opb, opc, opd, cop (0-3, the right option; -1 in test, whose labels are hidden),
choice_type, exp, subject_name, topic_name. The target trains on the train split; metrics use
the labelled validation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.tasks.mcq import MCQ, MCQTask, cap
from medlethe.tasks.records import Field, load_records
from medlethe.tasks.scenarios import slug

HUB_ID = "openlifescienceai/medmcqa"
VERSION = "1"
FIELDS = (
    Field("id", (str,)),
    Field("question", (str,)),
    Field("opa", (str,)),
    Field("opb", (str,)),
    Field("opc", (str,)),
    Field("opd", (str,)),
    Field("cop", (int,), values=(-1, 0, 1, 2, 3)),
    Field("subject_name", (str,)),
    Field("choice_type", (str,), required=False),
    Field("topic_name", (str,), required=False),
    Field("exp", (str,), required=False),
)


def _mcq(row: dict[str, Any]) -> MCQ:
    return MCQ(
        qid=row["id"],
        question=row["question"],
        options=(row["opa"], row["opb"], row["opc"], row["opd"]),
        gold=row["cop"],
        group=row["subject_name"],
        type=row.get("choice_type") or "",
    )


class MedMCQATask(MCQTask):
    """``subject``: the forgotten subject (a ``subject_name`` value). ``source``: the hub id or
    a local copy (hub-layout folder, or a .jsonl/.parquet file read as the train split, with
    ``eval_source`` for the validation file). ``max_train``/``max_eval``: seeded caps per
    split for quick runs."""

    def __init__(
        self,
        subject: str = "Surgery",
        *,
        source: str | Path = HUB_ID,
        eval_source: str | Path | None = None,
        revision: str | None = None,
        eval_split: str = "validation",
        max_train: int | None = None,
        max_eval: int | None = None,
        seed: int = 1234,
    ) -> None:
        if eval_split == "test":
            raise TaskConfigError(
                "medmcqa: the test split's answers are hidden (cop is -1), so no accuracy can be "
                "computed on it. Metrics use the labelled validation split: leave eval_split "
                "at 'validation'."
            )
        records = load_records(source, pack="medmcqa", fields=FIELDS, revision=revision)
        if eval_source is not None:
            more = load_records(eval_source, pack="medmcqa", fields=FIELDS, file_split=eval_split)
            records[eval_split] = next(iter(more.values()))
        for need in ("train", eval_split):
            if need not in records:
                raise DatasetError(
                    f"medmcqa: {source} has no {need!r} split (it has {', '.join(records)}); "
                    "pass a hub-layout folder or eval_source=FILE for the validation rows."
                )
        hidden = [i for i, r in enumerate(records[eval_split], 1) if r["cop"] == -1]
        if hidden:
            raise DatasetError(
                f"medmcqa: {source} [split {eval_split}], row {hidden[0]}, field 'cop': -1 (a "
                "hidden label); evaluation needs labelled rows (the validation split)."
            )
        train = [_mcq(r) for r in records["train"] if r["cop"] != -1]
        subjects = sorted({q.group for q in train})
        if subject not in subjects:
            raise TaskConfigError(
                f"medmcqa: no training questions of subject {subject!r}; subjects are "
                f"{', '.join(subjects)}."
            )
        ev = [_mcq(r) for r in records[eval_split]]
        super().__init__(
            f"medmcqa/subject-{slug(subject)}",
            VERSION,
            f"MedMCQA: forget subject {subject}; accuracy on the {eval_split} split",
            train={
                "forget": cap([q for q in train if q.group == subject], max_train, seed),
                "retain": cap([q for q in train if q.group != subject], max_train, seed),
            },
            evaluate={
                "forget": cap([q for q in ev if q.group == subject], max_eval, seed),
                "retain": cap([q for q in ev if q.group != subject], max_eval, seed),
            },
            config={
                "subject": subject,
                "source": str(source),
                "revision": revision,
                "eval_split": eval_split,
                "max_train": max_train,
                "max_eval": max_eval,
                "seed": seed,
            },
        )
