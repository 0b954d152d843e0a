"""Fine-tuning a sequence classifier on labelled texts (``classify`` tasks), on medlethe's
one training loop (:func:`medlethe.training.loop.train_steps`: checkpoints, resume,
progress). The loss is the model's own: binary cross-entropy per class for a multi-label
task, cross-entropy for a single-label one. The data order of each epoch depends only on
(seed, epoch).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, MedletheError
from medlethe.task.base import LabelledData, LabelledText
from medlethe.training.batch import right_pad
from medlethe.training.device import DeviceSettings, Runtime
from medlethe.training.loop import fit

#: token ids, gold class indices and image path (or ``None``) of one labelled text
EncodedText = tuple[list[int], tuple[int, ...], str | None]


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Hyperparameters of a classifier fine-tune (recorded with every fine-tuned model)."""

    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 0
    checkpoint_every: int = 200
    #: device settings (medlethe.training.device)
    precision: str = "fp32"
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        DeviceSettings.of(self)  # checks the device settings
        for name in ("epochs", "batch_size", "max_length", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MedletheError(
                    f"training argument {name} must be a whole number at least 1, got "
                    f"{value!r} (--train-args)."
                )
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise MedletheError(
                    f"training argument {name} must be a number greater than 0, got "
                    f"{value!r} (--train-args)."
                )
        if not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0 or self.seed < 0:
            raise MedletheError(
                "training arguments: warmup_ratio must lie in [0, 1), weight_decay and seed "
                "must be at least 0 (--train-args)."
            )


def load_classifier(
    path: str | Path, *, trainable: bool = True, data: LabelledData | None = None
) -> tuple[Any, Any]:
    """Tokenizer and float32 sequence classifier. With ``data``, a folder whose head does
    not match the label space (a pretrained encoder from the hub) gets a new head."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import medlethe.base_models.fusion  # noqa: F401  (registers fusion-tiny with the Auto classes)
    from medlethe.base_models.encoders import label_config

    tok = AutoTokenizer.from_pretrained(path)
    extra: dict[str, Any] = {}
    if data is not None:
        extra = {**label_config(data.classes, data.multi_label), "ignore_mismatched_sizes": True}
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32,
                                                               **extra)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
        model.config.pad_token_id = tok.pad_token_id
    if not trainable:
        model.eval().requires_grad_(False)
    return tok, model


def encode_text(tok: Any, ex: LabelledText, max_length: int) -> EncodedText:
    """Token ids of one text (truncated as the backend truncates), its gold classes and
    its image's path."""
    return tok(ex.text, truncation=True, max_length=max_length).input_ids, ex.labels, ex.image


def count_truncated(tok: Any, texts: Sequence[str], limit: int, what: str) -> int:
    """How many ``texts`` are longer than ``limit`` tokens (and so are cut to it); a
    warning on stderr says so when any is."""
    import sys

    cut = sum(len(ids) > limit for ids in tok(list(texts), verbose=False).input_ids)
    if cut:
        print(f"medlethe: {what}: {cut} of {len(texts)} text(s) are longer than {limit} "
              "tokens and are cut to their first tokens (raise max_length to keep more).",
              file=sys.stderr)
    return int(cut)


def load_images(paths: Sequence[str]) -> Any:
    """Grayscale images as a (batch, 1, H, W) float tensor in [0, 1]."""
    import numpy as np
    import torch
    from PIL import Image

    arrays = []
    for p in paths:
        try:
            with Image.open(p) as im:
                arrays.append(np.asarray(im.convert("L"), dtype=np.float32) / 255.0)
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for bad files
            raise DatasetError(
                f"image {p} cannot be read ({type(exc).__name__}: {exc}); it is missing, "
                "damaged or cut short. Restore it (for synthclinic-cxr, delete it: the task "
                "writes it again) and rerun."
            ) from exc
        if arrays[-1].shape != arrays[0].shape:
            raise DatasetError(
                f"image {p} is {arrays[-1].shape[1]}x{arrays[-1].shape[0]} pixels where the "
                f"others are {arrays[0].shape[1]}x{arrays[0].shape[0]}; every image of a task "
                "must have one size. Resize or restore it."
            )
    return torch.from_numpy(np.stack(arrays)[:, None])


def collate_texts(
    items: Sequence[EncodedText], pad: int, n_classes: int, multi_label: bool
) -> tuple[Any, Any, Any, Any]:
    """Right-padded ids, attention mask, labels (a 0/1 float matrix for multi-label, class
    indices for single-label, as transformers' classification losses expect) and the images
    (``None`` for texts without)."""
    import torch

    ids, mask = right_pad([i for i, _, _ in items], pad)
    if multi_label:
        labels = torch.zeros(len(items), n_classes)
        for row, (_, gold, _) in enumerate(items):
            labels[row, list(gold)] = 1.0
    else:
        labels = torch.tensor([gold[0] for _, gold, _ in items])
    images = [img for _, _, img in items]
    pixels = load_images([i for i in images if i]) if all(images) else None
    return ids, mask, labels, pixels


def _plan(n: int, config: ClassifierTrainConfig) -> list[list[int]]:
    steps = []
    for epoch in range(config.epochs):
        order = list(range(n))
        random.Random(f"{config.seed}:texts:{epoch}").shuffle(order)
        steps += [order[s : s + config.batch_size] for s in range(0, n, config.batch_size)]
    return steps


def train_classifier(
    model_dir: str | Path,
    data: LabelledData,
    out_dir: str | Path,
    config: ClassifierTrainConfig,
    *,
    progress: bool = True,
    desc: str = "fine-tune",
) -> Path:
    """Fine-tune every parameter of the classifier in ``model_dir`` on ``data``; save the
    full model to ``out_dir`` (work in progress in ``out_dir`` + ``.partial``)."""
    import torch

    torch.manual_seed(config.seed)
    tok, model = load_classifier(model_dir, data=data)
    encoded = [encode_text(tok, ex, config.max_length) for ex in data.examples]
    cut = count_truncated(tok, [ex.text for ex in data.examples], config.max_length, desc)
    plan = _plan(len(encoded), config)
    k = len(data.classes)

    def loss_of(part: list[int], runtime: Runtime) -> Any:
        ids, mask, labels, pixels = runtime.batch(collate_texts(
            [encoded[i] for i in part], tok.pad_token_id, k, data.multi_label))
        extra = {"pixel_values": pixels} if pixels is not None else {}
        return model(input_ids=ids, attention_mask=mask, labels=labels, **extra).loss

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)

    meta = {"train_config": asdict(config), "steps": len(plan),
            "n_examples": len(data.examples), "classes": list(data.classes),
            "multi_label": data.multi_label, "truncated_texts": cut}
    return fit(model, plan, loss_of, config, out_dir, save, desc=desc, progress=progress,
               meta=meta)
