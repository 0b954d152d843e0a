"""Training: the one loop (``loop``) that fine-tunes targets and oracles (``finetune``,
``pipeline``) and runs every loss-based unlearning method (``medlethe.unlearn.trainer``).

Public: the model families a :class:`medlethe.Kind` names (:class:`Family`, and the built-in
:data:`CAUSAL_LM` and :data:`SEQUENCE_CLASSIFIER`), and what a family of a plugin trains
and caches its models with (:func:`fit`, :func:`cached_model`); loaded when first used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medlethe._optional import lazy_attributes

if TYPE_CHECKING:
    from medlethe.base_models import cached_model
    from medlethe.training.batch import right_pad
    from medlethe.training.classifier import (
        collate_texts,
        encode_text,
        load_classifier,
        load_images,
    )
    from medlethe.training.device import DeviceSettings, Runtime
    from medlethe.training.family import CAUSAL_LM, SEQUENCE_CLASSIFIER, Family
    from medlethe.training.loop import (
        LoopConfig,
        finish,
        fit,
        param_groups,
        train_steps,
        work_dir,
    )
    from medlethe.training.pipeline import finetune_model

_HOME = {
    "CAUSAL_LM": "medlethe.training.family",
    "SEQUENCE_CLASSIFIER": "medlethe.training.family",
    "Family": "medlethe.training.family",
    "cached_model": "medlethe.base_models",
    "fit": "medlethe.training.loop",
    # a target or oracle of a task, fine-tuned and cached (Retrain reuses the oracle)
    "finetune_model": "medlethe.training.pipeline",
    # the one loop, for a method that takes its own steps (ForgetMI/release)
    "LoopConfig": "medlethe.training.loop",
    "train_steps": "medlethe.training.loop",
    "param_groups": "medlethe.training.loop",
    "work_dir": "medlethe.training.loop",
    "finish": "medlethe.training.loop",
    "Runtime": "medlethe.training.device",
    "DeviceSettings": "medlethe.training.device",
    # sequence classifiers' loading and batches
    "load_classifier": "medlethe.training.classifier",
    "encode_text": "medlethe.training.classifier",
    "collate_texts": "medlethe.training.classifier",
    "load_images": "medlethe.training.classifier",
    "right_pad": "medlethe.training.batch",
}
__all__ = [
    "CAUSAL_LM",
    "SEQUENCE_CLASSIFIER",
    "DeviceSettings",
    "Family",
    "LoopConfig",
    "Runtime",
    "cached_model",
    "collate_texts",
    "encode_text",
    "finetune_model",
    "finish",
    "fit",
    "load_classifier",
    "load_images",
    "param_groups",
    "right_pad",
    "train_steps",
    "work_dir",
]


__getattr__ = lazy_attributes("medlethe.training", _HOME, globals())
