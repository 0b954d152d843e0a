"""The MIMIC-CXR edema loader on a hand-made fixture in the real layout: the split table
(subject_id, study_id, dicom_id, edema_severity, fold), images named by dicom_id, reports
in the p<xx>/p<subject>/s<study>.txt tree, and a forget list of subject ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medlethe.errors import DatasetError
from medlethe.evaluator import load_task
from medlethe.registry import get_registry

TABLE = """subject_id,study_id,dicom_id,edema_severity,fold
10000032,50414267,02aa804e-bde0afdd,0.0,1
10000032,53189527,2a2277a9-b0ded155,1.0,1
10000764,57375967,096052b7-d256dc40,3.0,3
10000898,50771383,68b5c4b1-227d0485,2.0,5
10001176,53186264,0c4eb1e1-b801903c,2.0,TEST
10001217,58913004,4cd1a8e6-2b2e5d3a,0.0,TEST
"""
REPORTS = {
    (10000032, 50414267): "FINDINGS: No pulmonary edema. No pneumothorax.",
    (10000032, 53189527): "FINDINGS: Mild vascular congestion.",
    (10000764, 57375967): "FINDINGS: Severe pulmonary edema, bilateral airspace opacities.",
    (10000898, 50771383): "FINDINGS: Interstitial edema.",
    (10001176, 53186264): "FINDINGS: Moderate interstitial edema, small effusions.",
    (10001217, 58913004): "FINDINGS: Lungs are clear.",
}


def _fixture(root: Path) -> dict[str, str]:
    (root / "split.csv").write_text(TABLE)
    (root / "forget.csv").write_text("subject_id\n10000764\n")
    images = root / "images"
    images.mkdir()
    for line in TABLE.splitlines()[1:]:
        dicom = line.split(",")[2]
        Image.fromarray(np.full((16, 16), 128, np.uint8)).save(images / f"{dicom}.png")
    for (subject, study), text in REPORTS.items():
        folder = root / "reports" / f"p{str(subject)[:2]}" / f"p{subject}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"s{study}.txt").write_text(text + "\n")
    return {"split_table": str(root / "split.csv"), "images": str(images),
            "reports": str(root / "reports")}


def test_mimic_cxr_edema_table_loads_in_the_real_layout(tmp_path: Path) -> None:
    args = {**_fixture(tmp_path), "forget_list": str(tmp_path / "forget.csv")}
    task, _ = load_task(get_registry(), "mimic-cxr/edema", args)
    assert task.modalities == ("image", "text") and len(task.classes) == 4
    sizes = {s: len(task.docs(s)) for s in task.split_names()}
    assert sizes == {"forget": 1, "retain": 3, "holdout": 2}
    inst = task.instance("forget", 0, task.docs("forget")[0])
    assert inst.labels == (3,) and inst.prompt.startswith("FINDINGS: Severe")
    assert inst.image is not None and inst.image.endswith("096052b7-d256dc40.png")
    data = task.training_data("train")
    assert len(data.examples) == 4 and all(e.image for e in data.examples)


def test_mimic_cxr_errors_name_the_row_and_the_fix(tmp_path: Path) -> None:
    args = _fixture(tmp_path)
    (tmp_path / "images" / "68b5c4b1-227d0485.png").unlink()
    with pytest.raises(DatasetError, match=r"split.csv, row 5: no image 68b5c4b1"):
        load_task(get_registry(), "mimic-cxr/edema", args)
    (tmp_path / "bad.csv").write_text("subject_id,study_id,dicom_id\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"lacks column.*edema_severity, fold"):
        load_task(get_registry(), "mimic-cxr/edema", {**args, "split_table":
                                                     str(tmp_path / "bad.csv")})
