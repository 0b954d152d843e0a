"""synthclinic-cxr: procedurally generated chest radiographs and reports graded for
pulmonary edema (0 none, 1 vascular congestion, 2 interstitial, 3 alveolar), the setting of
Forget-MI (MIMIC-CXR edema grading), made without any download.

Each patient has fixed anatomy (lung size and position, heart size, rib spacing), an
exposure level, a noise level, a faint patient-specific texture and a history (one to
three bright devices at fixed places in every image, one or two devices or old findings
named in every report), so that a model can memorise individuals; each of the patient's
studies has its own grade, the patient's usual grade two times in three. Edema adds opacity
to the lung fields, growing with the grade: a perihilar haze, then interstitial lines, then
patchy airspace opacities. Reports correlate with the grade without giving it away: one
finding sentence in three comes from a neighbouring grade, and some reports describe
other findings only. Images are 8-bit grayscale ``size`` x ``size`` arrays. Same config,
same bytes (numpy's PCG64 seeded per patient and study).
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medlethe.errors import TaskConfigError
from medlethe.task import cache_root, ensure_dir, fingerprint
from medlethe.tasks.synthclinic.notes import NotesClassificationTask

CXR_VERSION = "2"
GRADES = ("none", "vascular congestion", "interstitial edema", "alveolar edema")

_FINDINGS = (
    ("No pulmonary edema.", "Lungs are clear.", "No vascular congestion."),
    ("Mild pulmonary vascular congestion.", "Cephalization of the pulmonary vessels.",
     "Upper lobe venous diversion."),
    ("Interstitial edema with Kerley B lines.", "Peribronchial cuffing and septal lines.",
     "Moderate interstitial pulmonary edema."),
    ("Bilateral alveolar opacities consistent with edema.", "Severe pulmonary edema.",
     "Perihilar airspace consolidation in a batwing pattern."),
)
#: patient-level history: devices and old findings that recur in every study of a patient
#: (as in real radiographs), so that a model can recognise a patient it was trained on
_HISTORY = (
    "Sternotomy wires are intact.", "Left-sided pacemaker with leads in place.",
    "Right internal jugular catheter terminates in the SVC.", "Surgical clips in the left axilla.",
    "Healed right rib fractures.", "Calcified granuloma in the right upper lobe.",
    "Postsurgical changes of right upper lobectomy.", "Thoracic spine fixation hardware.",
    "Calcification of the aortic knob.", "Elevated right hemidiaphragm.",
    "Left PICC line tip in the low SVC.", "Nasogastric tube courses below the diaphragm.",
    "Prosthetic aortic valve.", "Old left clavicle fracture.", "Dual-chamber ICD in place.",
    "Chronic blunting of the left costophrenic angle.", "Mild scoliosis of the thoracic spine.",
    "Right shoulder arthroplasty.",
)
_OTHER = (
    "Heart size is within normal limits.", "The cardiomediastinal silhouette is stable.",
    "No pneumothorax.", "Small left pleural effusion.", "Support devices unchanged.",
    "Degenerative changes of the thoracic spine.", "Low lung volumes.",
)


@dataclass(frozen=True)
class CxrConfig:
    """Size and seed of the embedded image-report set."""

    n_patients: int = 400
    n_holdout: int = 80
    max_studies: int = 5
    size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class Study:
    sid: str
    pid: str
    grade: int
    report: str
    image: np.ndarray  # uint8, size x size


@dataclass(frozen=True)
class Anatomy:
    lung_w: float
    lung_h: float
    lung_y: float
    gap: float
    heart: float
    rib_period: float
    exposure: float
    noise: float
    texture: np.ndarray
    devices: tuple[tuple[float, float, float, float], ...]  # centre y, x, half height, width


def _anatomy(rng: np.random.Generator, size: int) -> Anatomy:
    return Anatomy(
        lung_w=rng.uniform(0.15, 0.21), lung_h=rng.uniform(0.27, 0.35),
        lung_y=rng.uniform(0.42, 0.50), gap=rng.uniform(0.20, 0.26),
        heart=rng.uniform(0.11, 0.16), rib_period=rng.uniform(0.07, 0.10),
        exposure=rng.uniform(0.85, 1.15), noise=rng.uniform(0.02, 0.06),
        texture=rng.normal(0.0, 0.04, size=(size, size)),
        devices=tuple((float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)),
                       float(rng.uniform(0.01, 0.06)), float(rng.uniform(0.01, 0.06)))
                      for _ in range(int(rng.integers(1, 4)))),
    )


def render(anatomy: Anatomy, grade: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """One radiograph: bright body, dark lungs with ribs, the heart, and edema opacity."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    body = np.clip(1 - ((x - 0.5) / 0.48) ** 2, 0, 1) * 0.55 + 0.25
    lungs = np.zeros((size, size))
    hilum = np.zeros((size, size))
    for side in (-1, 1):
        cx = 0.5 + side * anatomy.gap
        d = ((x - cx) / anatomy.lung_w) ** 2 + ((y - anatomy.lung_y) / anatomy.lung_h) ** 2
        lungs = np.maximum(lungs, np.clip(1 - d, 0, 1) ** 0.5)
        hilum = np.maximum(hilum, np.exp(-(((x - (0.5 + side * 0.1)) / 0.08) ** 2
                                           + ((y - anatomy.lung_y) / 0.1) ** 2)))
    ribs = 0.08 * (np.sin(2 * np.pi * y / anatomy.rib_period) > 0.6)
    heart = np.exp(-(((x - 0.46) / anatomy.heart) ** 2 + ((y - 0.62) / 0.12) ** 2))
    img = body - 0.5 * lungs + ribs * lungs + 0.35 * heart
    # edema: opacity inside the lungs, perihilar first, then lines, then patches
    opacity = np.zeros((size, size))
    if grade >= 1:
        opacity += 0.10 * hilum
    if grade >= 2:
        opacity += 0.10 * (np.sin(2 * np.pi * (x * 9 + rng.uniform())) > 0.7) * (y > 0.5)
        opacity += 0.06
    if grade >= 3:
        patches = rng.normal(0, 1, size=(size // 8, size // 8)) > 0.2
        opacity += 0.22 * np.kron(patches, np.ones((8, 8)))[:size, :size]
    img += opacity * lungs
    for dy, dx, h, w in anatomy.devices:  # wires, leads, clips: bright, patient-fixed
        img += 0.5 * ((abs(y - dy) < h) & (abs(x - dx) < w))
    img = img * anatomy.exposure + anatomy.texture + rng.normal(0, anatomy.noise, (size, size))
    out: np.ndarray = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out


def report(grade: int, rng: random.Random, history: Sequence[str] = ()) -> str:
    """A short report: a finding of the grade (one in three from a neighbouring grade, one
    in ten none at all), one or two other findings and the patient's history, in random
    order."""
    roll = rng.random()
    sentences = [*rng.sample(_OTHER, rng.randint(1, 2)), *history]
    if roll >= 0.1:
        g = grade
        if roll < 0.43:
            g = min(3, max(0, grade + rng.choice((-1, 1))))
        sentences.append(rng.choice(_FINDINGS[g]))
    rng.shuffle(sentences)
    return " ".join(["FINDINGS:", *sentences])


def _patient(prefix: str, i: int, config: CxrConfig) -> list[Study]:
    pid = f"{prefix}{i:05d}"
    rng = np.random.default_rng([config.seed, 1 if prefix == "H" else 0, i])
    anatomy = _anatomy(rng, config.size)
    text_rng = random.Random(f"{config.seed}:{pid}")
    base = int(rng.integers(0, 4))  # a patient's studies cluster around one grade
    history = text_rng.sample(_HISTORY, text_rng.randint(1, 2))
    studies = []
    for j in range(int(rng.integers(1, config.max_studies + 1))):
        grade = int(np.clip(base + rng.choice((-1, 0, 0, 0, 0, 1)), 0, 3))
        image = render(anatomy, grade, rng, config.size)
        studies.append(Study(f"{pid}-{j}", pid, grade, report(grade, text_rng, history), image))
    return studies


@functools.lru_cache(maxsize=4)
def generate_cxr(config: CxrConfig = CxrConfig()) -> tuple[tuple[Study, ...], tuple[Study, ...]]:
    """Training studies and holdout studies (patients never trained on)."""
    train = [s for i in range(config.n_patients) for s in _patient("P", i, config)]
    hold = [s for i in range(config.n_holdout) for s in _patient("H", i, config)]
    return tuple(train), tuple(hold)


# --- the task ---------------------------------------------------------------------------------


def _same_pixels(path: Path, image: np.ndarray) -> bool:
    """Whether ``path`` is a readable image with exactly ``image``'s pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return bool(np.array_equal(np.asarray(im), image))
    except (OSError, ValueError, SyntaxError):  # missing, damaged or not an image
        return False


def write_images(studies: Sequence[Study], folder: Path) -> dict[str, str]:
    """Each study's image as ``folder/<sid>.png``; sid -> path. An image already there is
    kept only where it decodes to the study's pixels: a damaged, cut-short, resized or
    replaced file is written again."""
    from PIL import Image

    ensure_dir(folder, "the synthclinic-cxr image cache (MEDLETHE_CACHE_DIR)")
    out = {}
    for s in studies:
        path = folder / f"{s.sid}.png"
        if not _same_pixels(path, s.image):
            tmp = path.with_suffix(f".{os.getpid()}.tmp.png")  # processes may race here
            Image.fromarray(s.image).save(tmp)
            tmp.replace(path)
        out[s.sid] = str(path)
    return out


class EdemaTask(NotesClassificationTask):
    """Image + report edema grading (4 grades, single-label) with patient-level forgetting:
    the base of synthclinic-cxr and of the MIMIC-CXR loader."""

    group_by = ()
    modalities = ("image", "text")
    classes = GRADES
    multi_label = False


class SynthclinicCxrTask(EdemaTask):
    """synthclinic-cxr ``patients-<x>pct``: forget every study of x % of the training
    patients from an image + report edema classifier."""

    def __init__(
        self, scenario: str, *, n_patients: int = CxrConfig.n_patients,
        n_holdout: int = CxrConfig.n_holdout, seed: int = CxrConfig.seed,
    ) -> None:
        for key, value in (("n_patients", n_patients), ("n_holdout", n_holdout)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TaskConfigError(
                    f"synthclinic-cxr: task argument {key} must be a whole number >= 1, got "
                    f"{value!r}.")
        match = re.fullmatch(r"patients-(\d+)pct", scenario)
        if match is None or not 0 < int(match.group(1)) < 100:
            raise TaskConfigError(
                f"synthclinic-cxr: unknown scenario {scenario!r}; use patients-<x>pct with "
                "0 < x < 100 (registered: 3, 6, 10).")
        self.scenario = scenario
        self.config = CxrConfig(n_patients=n_patients, n_holdout=n_holdout, seed=seed)
        self.name = f"synthclinic-cxr/{scenario}"
        self.version = f"1+cxr{CXR_VERSION}"
        self.description = f"synthclinic-cxr {scenario}: image + report edema grading"
        train, hold = generate_cxr(self.config)
        key = fingerprint([CXR_VERSION, vars(self.config)])[:16]
        paths = write_images([*train, *hold], cache_root() / "cxr" / key)
        pids = sorted({s.pid for s in train})
        count = max(1, round(len(pids) * int(match.group(1)) / 100))
        self.forget_pids = frozenset(random.Random(f"{seed}:{scenario}").sample(pids, count))

        def rows(studies: Sequence[Study]) -> list[dict[str, Any]]:
            return [{"nid": s.sid, "pid": s.pid, "text": s.report, "labels": [s.grade],
                     "image": paths[s.sid]} for s in studies]

        self._divide(rows(train), rows(hold))

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint({"scenario": self.scenario, **vars(self.config)}),
            "prompt_template_hash": fingerprint([_FINDINGS, _OTHER]),
            "chat_template": None,
        }
