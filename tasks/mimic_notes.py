"""MIMIC-style note classification (STEU's setting on real data), for users with
credentialed access: ``mimic-notes/forget-class --task-args source=PATH forget_class=C``.

The table has one row per note (the layout MIMIC-IV-Note and its derived classification
sets use): ``subject_id`` (the patient), ``text`` (the note), ``labels`` (the note's class
names: a list, or one string separated by ``;`` or ``|``, as CSV exports store them), and
optionally ``note_id`` and ``split`` (``train`` or ``test``). Without a ``split`` column,
a dataset's own ``test`` split is held out, or else 20 % of the patients, drawn with the
seed. ``source`` is a local ``.csv``,
``.parquet`` or ``.jsonl`` file, a folder in the hub's layout, or a hub id (read with
``datasets.load_dataset``); nothing is downloaded without access. Classes are the label
names found in the table, sorted; several labels per note make the task multi-label.
"""

from __future__ import annotations

import random
import sys
from typing import Any

from medlethe.errors import TaskConfigError
from medlethe.task import fingerprint
from medlethe.tasks.records import Field, load_records
from medlethe.tasks.synthclinic.notes import NotesClassificationTask

PACK = "mimic-notes"
VERSION = "1"
FIELDS = (
    Field("subject_id", (int, str)),
    Field("text", (str,)),
    Field("labels", (list, str)),
    Field("note_id", (int, str), required=False),
    Field("split", (str,), values=("train", "test"), required=False),
)
HOLDOUT_SHARE = 0.2


def _labels(value: Any) -> list[str]:
    if isinstance(value, str):
        parts = value.replace("|", ";").split(";")
        return [p.strip() for p in parts if p.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


class MimicNotesTask(NotesClassificationTask):
    """Forget one class of a MIMIC-style note-classification table."""

    def __init__(
        self, *, source: str | None = None, forget_class: str | None = None,
        revision: str | None = None, seed: int = 0, duplicates: str = "error",
    ) -> None:
        if duplicates not in ("error", "drop"):
            raise TaskConfigError(
                f"{PACK}: duplicates={duplicates!r}; use 'error' (refuse a note id given "
                "twice, the default) or 'drop' (keep its first row, count the others)."
            )
        if not source or not forget_class:
            raise TaskConfigError(
                f"{PACK}: give --task-args source=PATH_OR_HUB_ID forget_class=NAME (a "
                "note table with subject_id, text and labels columns; docs/tasks.md)."
            )
        splits = load_records(source, pack=PACK, fields=FIELDS, revision=revision)
        rows = [dict(r, _origin=name) for name, part in splits.items() for r in part]
        names = sorted({c for r in rows for c in _labels(r["labels"])})
        if forget_class not in names:
            raise TaskConfigError(
                f"{PACK}: forget_class {forget_class!r} is not a label of {source}; its "
                f"labels are {', '.join(names[:20])}."
            )
        self.name = f"{PACK}/forget-class-{forget_class}"
        self.version = VERSION
        self.description = f"{PACK}: forget class {forget_class}"
        self.classes = tuple(names)
        self.multi_label = any(len(_labels(r["labels"])) > 1 for r in rows)
        self.forget_classes = (forget_class,)
        self.source = str(source)
        self.seed = seed
        # recorded in the config hash only when set, so default runs keep their hash
        self._options = {"duplicates": duplicates} if duplicates != "error" else {}
        patients = sorted({str(r["subject_id"]) for r in rows})
        held = set(random.Random(f"{seed}:holdout").sample(
            patients, round(len(patients) * HOLDOUT_SHARE)))

        has_test = "test" in splits  # a dataset with its own test split keeps it

        def is_test(r: dict[str, Any]) -> bool:
            if r.get("split") is not None:
                return bool(r["split"] == "test")
            return r["_origin"] == "test" if has_test else str(r["subject_id"]) in held

        table = [
            {"nid": str(r.get("note_id") if r.get("note_id") is not None else i),
             "pid": str(r["subject_id"]), "text": r["text"],
             "labels": [names.index(c) for c in _labels(r["labels"])], "test": is_test(r)}
            for i, r in enumerate(rows)
        ]
        if duplicates == "drop":
            table = self._drop_repeats(table)
        self._divide([r for r in table if not r["test"]], [r for r in table if r["test"]])
        if not self.splits["forget"]:
            held_out = len(table) - len(self._train)
            raise TaskConfigError(
                f"{PACK}: forget_class {forget_class!r} has no training rows in {source} "
                f"(it occurs only among the {held_out} held-out/test rows), so a target never "
                "learns it and there is nothing to unlearn. Choose a class with training rows, "
                "or move some of its notes out of the test split."
            )

    def _drop_repeats(self, table: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The first row of each note id; the others' row numbers (from 1) are recorded
        as skipped (``skipped_rows()["duplicates"]``) and counted on stderr."""
        seen: set[str] = set()
        kept, dropped = [], []
        for i, r in enumerate(table, 1):
            if r["nid"] in seen:
                dropped.append(i)
            else:
                kept.append(r)
                seen.add(r["nid"])
        if dropped:
            print(f"medlethe: {PACK}: dropped {len(dropped)} row(s) whose note id was given "
                  "before (duplicates=drop).", file=sys.stderr)
        self._dropped = dropped
        return kept

    def skipped_rows(self) -> dict[str, list[int]]:
        dropped = getattr(self, "_dropped", [])
        return {"duplicates": list(dropped)} if dropped else {}

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint({"source": self.source, "forget": self.forget_classes,
                                        "seed": self.seed, **self._options}),
            "prompt_template_hash": None,
            "chat_template": None,
        }
