"""MIMIC-CXR pulmonary edema grading (Forget-MI's data), for users with credentialed
access: ``mimic-cxr/edema --task-args split_table=CSV,images=DIR,reports=DIR``.

The split table is the edema table Forget-MI and its predecessors use: one row per image,
columns ``subject_id, study_id, dicom_id, edema_severity, fold`` (severity 0-3, possibly
written as a float such as ``2.0``; ``fold`` is ``TEST`` for the test set, anything else for
training). Images are read from ``images/<dicom_id>.png`` (or ``.jpg``), reports from the
MIMIC-CXR report tree (``reports/.../s<study_id>.txt``, searched at any depth). The forget
set is ``forget_list`` (a CSV with a ``subject_id`` column, as the authors' forget-set files)
or a seeded ``forget_percent`` of the training patients.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.task import fingerprint
from medlethe.tasks.synthclinic.cxr import EdemaTask

PACK = "mimic-cxr"
COLUMNS = ("subject_id", "study_id", "dicom_id", "edema_severity", "fold")


def _read_csv(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{PACK}: {path} does not exist; pass the edema split table.")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(
                f"{PACK}: {path} lacks column(s) {', '.join(missing)}; it needs "
                f"{', '.join(needed)}.")
        return list(reader)


class MimicCxrTask(EdemaTask):
    """Forget patients from a MIMIC-CXR edema image + report classifier."""

    def __init__(
        self, *, split_table: str | None = None, images: str | None = None,
        reports: str | None = None, forget_list: str | None = None,
        forget_percent: float = 10.0, seed: int = 0,
    ) -> None:
        if not (split_table and images and reports):
            raise TaskConfigError(
                f"{PACK}: give --task-args split_table=CSV,images=DIR,reports=DIR (and "
                "forget_list=CSV or forget_percent=N); docs/tasks.md describes the layout.")
        table = Path(split_table).expanduser()
        rows = _read_csv(table, COLUMNS)
        report_files = {p.stem: p for p in Path(reports).expanduser().rglob("s*.txt")}
        image_dir = Path(images).expanduser()
        self.name = f"{PACK}/edema"
        self.version = "1"
        self.description = "MIMIC-CXR edema grading (image + report)"
        self.seed = seed
        self.source = str(table)
        out: list[dict[str, Any]] = []
        for n, r in enumerate(rows, 2):  # row 1 is the header
            where = f"{PACK}: {table}, row {n}"
            try:
                grade = int(float(r["edema_severity"]))
            except ValueError:
                raise DatasetError(f"{where}: edema_severity {r['edema_severity']!r} is not a "
                                   "number 0-3.") from None
            if not 0 <= grade <= 3:
                raise DatasetError(f"{where}: edema_severity {grade} is outside 0-3.")
            image = next((image_dir / f"{r['dicom_id']}{ext}" for ext in (".png", ".jpg")
                          if (image_dir / f"{r['dicom_id']}{ext}").exists()), None)
            if image is None:
                raise DatasetError(f"{where}: no image {r['dicom_id']}.png or .jpg in "
                                   f"{image_dir}.")
            report = report_files.get(f"s{r['study_id']}")
            if report is None:
                raise DatasetError(f"{where}: no report s{r['study_id']}.txt under {reports}.")
            out.append({"nid": r["dicom_id"], "pid": str(r["subject_id"]),
                        "text": report.read_text(encoding="utf-8").strip(),
                        "labels": [grade], "image": str(image),
                        "test": r["fold"].strip().upper() == "TEST"})
        train = [r for r in out if not r["test"]]
        pids = sorted({r["pid"] for r in train})
        if forget_list:
            listed = {row["subject_id"] for row in _read_csv(Path(forget_list).expanduser(),
                                                             ("subject_id",))}
            chosen = listed & set(pids)
        else:
            count = max(1, round(len(pids) * float(forget_percent) / 100))
            chosen = set(random.Random(f"{seed}:mimic-cxr").sample(pids, min(count,
                                                                             len(pids))))
        if not chosen:
            raise TaskConfigError(f"{PACK}: the forget set has no training patient.")
        self.forget_pids = frozenset(chosen)
        self._divide(train, [r for r in out if r["test"]])
        self._args = {"forget_list": forget_list, "forget_percent": forget_percent}

    def provenance(self) -> dict[str, Any]:
        return {"config_hash": fingerprint({"source": self.source, **self._args,
                                            "seed": self.seed}),
                "prompt_template_hash": None, "chat_template": None}
