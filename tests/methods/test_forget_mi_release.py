"""ForgetMI/release (Forget-MI as its authors' code runs it), the release's report noise,
fusion-tiny's three trained heads and the hf backend's ``head=`` argument."""

from __future__ import annotations

from pathlib import Path
from random import Random
from typing import Any

import pytest

from medlethe.errors import BackendError, DatasetError
from medlethe.methods.text_noise import (
    EMBEDDED_SYNONYMS,
    Synonyms,
    char_noise,
    mask_keywords,
    release_noise,
    word_noise,
)
from medlethe.training.classifier import ClassifierTrainConfig
from medlethe.training.pipeline import finetune, load_scenario
from tests.conftest import scenario_context

SCENARIO = "synthclinic-cxr/patients-10pct"
SMALL = {"n_patients": 120, "n_holdout": 30}
REPORT = "FINDINGS: No pneumothorax. Severe pulmonary edema. Low lung volumes."


def test_keywords_are_masked_two_at_most() -> None:
    masked = mask_keywords(REPORT, Random(0))
    # three keywords are present (pneumothorax, edema, lung): two of them are masked
    assert masked.count("[NOISE]") == 2
    assert mask_keywords(REPORT, Random(0), most=3).count("[NOISE]") == 3
    assert mask_keywords("FINDINGS: Lungs are clear.", Random(0)) == "FINDINGS: Lungs are clear."


def test_word_and_character_noise() -> None:
    table = Synonyms.read(EMBEDDED_SYNONYMS)
    assert table.best["pulmonary"] == "lung"  # the most similar of its two rows
    # level 0: only the synonym swap (one listed word, every occurrence)
    assert word_noise(REPORT, Random(0), 0.0, table) == REPORT.replace("pulmonary", "lung")
    noisy = char_noise(REPORT, Random(0), 1.0)
    assert all(a != b for a, b in zip(noisy.split(), REPORT.split(), strict=False)
               if len(a) == len(b)) and noisy != REPORT
    assert char_noise(REPORT, Random(0), 0.0) == REPORT
    one, two = (release_noise(REPORT, Random(7), 0.5, table) for _ in range(2))
    assert one == two != REPORT  # seeded


def test_a_bad_synonym_table_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "syn.csv"
    bad.write_text("word,other\nlung,pulmonary\n")
    with pytest.raises(DatasetError, match=r"syn\.csv.*first_word, second_word"):
        Synonyms.read(bad)


def test_release_weights_are_rounded_as_released() -> None:
    from medlethe.methods.forget_mi_release import release_weights

    assert release_weights((1, 1, 2, 2)) == (0.17, 0.17, 0.33, 0.33)


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path / "cache"))
    task = load_scenario(SCENARIO, SMALL)
    config = ClassifierTrainConfig(epochs=20, learning_rate=3e-3)  # the image head learns too
    return task, finetune("fusion-tiny", task, "train", config=config, progress=False)


def _head_accuracy(task: Any, folder: Path, head: str) -> float:
    from medlethe.backends.base import ClassifyRequest
    from medlethe.backends.hf import HFBackend

    ex = task.training_data("train").examples
    out = HFBackend(str(folder), head=head).classify(
        [ClassifyRequest(e.text, image=e.image) for e in ex])
    right = [max(range(len(r.logits)), key=r.logits.__getitem__) == e.labels[0]
             for r, e in zip(out, ex, strict=True)]
    return sum(right) / len(right)


@pytest.mark.slow
def test_fusion_tiny_trains_every_head_and_the_backend_reads_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medlethe.backends.base import ClassifyRequest
    from medlethe.backends.hf import HFBackend

    task, target = _setup(tmp_path, monkeypatch)
    grades = [e.labels[0] for e in task.training_data("train").examples]
    majority = max(grades.count(g) for g in set(grades)) / len(grades)
    for head in ("image", "text", "joint"):  # each head learnt more than the majority grade
        assert _head_accuracy(task, target.path, head) > majority + 0.05, head
    ex = task.training_data("forget").examples[0]
    req = [ClassifyRequest(ex.text, image=ex.image)]
    plain = HFBackend(str(target.path))
    image = HFBackend(str(target.path), head="image")
    assert plain.classify(req)[0].logits != image.classify(req)[0].logits
    assert plain.fingerprint() != image.fingerprint()
    with pytest.raises(BackendError, match=r"no 'bone' head.*image"):
        HFBackend(str(target.path), head="bone").classify(req)


@pytest.mark.slow
@pytest.mark.parametrize("use_noise", [False, True])
def test_release_pushes_forget_embeddings_away_and_use_noise_pulls_them(
    use_noise: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As shipped (use_noise false) the forget studies' embeddings move away from the
    original model's embeddings of their noised copies; with use_noise they move toward
    them. One AdamW step per pass: 6 passes, 5 steps."""
    import torch

    from medlethe.methods.forget_mi import embeddings
    from medlethe.methods.forget_mi_losses import distance
    from medlethe.registry import get_registry
    from medlethe.training.classifier import load_classifier, load_images
    from medlethe.unlearn.pipeline import build_method

    task, target = _setup(tmp_path, monkeypatch)
    _, method = build_method("ForgetMI/release", {
        "epochs": 6, "learning_rate": 2e-3, "use_noise": use_noise, "image_noise_std": 0.0},
        registry=get_registry())
    out = method.unlearn(scenario_context(task, target, "fusion-tiny", tmp_path / "out"))
    assert out.meta["steps"] == 5 and out.meta["method_info"]["weights"] == [
        0.17, 0.17, 0.33, 0.33]
    ex = task.training_data("forget").examples
    # the noised copies as the method made them (same seed), clean images (std 0)
    from medlethe.methods.text_noise import EMBEDDED_SYNONYMS, Synonyms, release_noise

    rng, table = Random("0:forget-mi-release:text"), Synonyms.read(EMBEDDED_SYNONYMS)
    noised = [release_noise(e.text, rng, 0.5, table) for e in ex]
    pixels = load_images([str(e.image) for e in ex])

    def gap(folder: Path) -> float:
        tok, model = load_classifier(folder)
        ref = load_classifier(target.path)[1]
        enc = tok([e.text for e in ex], truncation=True, max_length=128, padding=True,
                  return_tensors="pt")
        nenc = tok(noised, truncation=True, max_length=128, padding=True, return_tensors="pt")
        with torch.no_grad():
            mine = embeddings(model(**enc, pixel_values=pixels)).unimodal
            theirs = embeddings(ref(**nenc, pixel_values=pixels)).unimodal
        return float(distance(mine, theirs))

    before, after = gap(target.path), gap(out.path)
    if use_noise:
        assert after < 0.9 * before, (before, after)
    else:
        assert after > 1.1 * before, (before, after)
