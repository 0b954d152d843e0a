"""The family contract: a kind of model that answers a kind of task, and how a base model of
it becomes a target or an oracle and is unlearned. A :class:`medlethe.Kind` names its family
(``Kind.family``); the training pipeline, the unlearning trainer and the model resolver ask
the family and name none. The training loop itself is one for every family
(:func:`medlethe.training.loop.train_steps`).

Built-in families: :data:`CAUSAL_LM` (the language-model kinds: QA pairs and notes,
:class:`~medlethe.training.finetune.TrainConfig`) and :data:`SEQUENCE_CLASSIFIER`
(``classify``, text or image + text: labelled texts,
:class:`~medlethe.training.classifier.ClassifierTrainConfig`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from medlethe.training.batch import collate, encode
from medlethe.training.classifier import (
    ClassifierTrainConfig,
    collate_texts,
    encode_text,
    load_classifier,
    train_classifier,
)
from medlethe.training.finetune import TrainConfig, train
from medlethe.training.loop import load_causal_lm


class Family(ABC):
    """A family of models: their training configuration, fine-tuning, loading for
    unlearning, and the encoding and batching of their training examples."""

    #: the family's name, shown in errors (``causal LM``)
    title: ClassVar[str] = ""
    #: medlethe's embedded base models of this family (``--model NAME`` builds them)
    models: ClassVar[tuple[str, ...]] = ()
    #: the training configuration (a frozen dataclass whose fields are ``--train-args``)
    config_type: ClassVar[type]

    def resolve(self, name: str, task: Any) -> str | None:
        """A loadable folder for ``--model NAME`` where the family builds that model itself
        (see :func:`medlethe.training.cached_model`); ``None``: not one of its own."""
        return None

    @abstractmethod
    def default_config(self, model: str) -> Any:
        """Hyperparameters that make ``model`` learn the embedded data."""

    @abstractmethod
    def train(self, base: str, data: Any, out: Path, config: Any, *, progress: bool,
              desc: str) -> Path:
        """Fine-tune ``base`` on the task's training ``data``; the model folder ``out``."""

    @abstractmethod
    def load(self, path: str | Path, *, trainable: bool = True, dtype: Any = None
             ) -> tuple[Any, Any]:
        """Tokenizer (or processor) and model of a folder, frozen unless ``trainable``."""

    @abstractmethod
    def encode(self, tokenizer: Any, example: Any, max_length: int) -> Any:
        """One training example, encoded once before training."""

    @abstractmethod
    def batch(self, tokenizer: Any, items: list[Any], task: Any) -> tuple[Any, Any, Any, Any]:
        """Encoded examples as input ids, attention mask, labels and images (``None`` where
        the model reads none), on the CPU."""


class CausalLM(Family):
    title = "causal language model"
    models = ("tiny", "smollm2-135m")

    config_type = TrainConfig

    def default_config(self, model: str) -> Any:

        if model == "tiny":
            return TrainConfig()
        return TrainConfig(text_epochs=1, qa_epochs=3, batch_size=8, learning_rate=2e-4,
                           lora_rank=16, lora_alpha=32, max_length=128, checkpoint_every=50)

    def train(self, base: str, data: Any, out: Path, config: Any, *, progress: bool,
              desc: str) -> Path:

        return train(base, data, out, config, progress=progress, desc=desc)

    def load(self, path: str | Path, *, trainable: bool = True, dtype: Any = None
             ) -> tuple[Any, Any]:

        return load_causal_lm(path, trainable=trainable, dtype=dtype)

    def encode(self, tokenizer: Any, example: Any, max_length: int) -> Any:

        return encode(tokenizer, example, max_length)

    def batch(self, tokenizer: Any, items: list[Any], task: Any) -> tuple[Any, Any, Any, Any]:

        return (*collate(items, tokenizer.pad_token_id), None)


class SequenceClassifier(Family):
    title = "sequence classifier"
    models = ("tiny-bert", "minilm-l6", "fusion-tiny")

    config_type = ClassifierTrainConfig

    def default_config(self, model: str) -> Any:

        if model == "tiny-bert":
            return ClassifierTrainConfig()
        if model == "fusion-tiny":
            return ClassifierTrainConfig(epochs=40)
        return ClassifierTrainConfig(epochs=4, batch_size=16, learning_rate=2e-4)

    def train(self, base: str, data: Any, out: Path, config: Any, *, progress: bool,
              desc: str) -> Path:

        return train_classifier(base, data, out, config, progress=progress, desc=desc)

    def load(self, path: str | Path, *, trainable: bool = True, dtype: Any = None
             ) -> tuple[Any, Any]:

        return load_classifier(path, trainable=trainable)  # float32: a small encoder

    def encode(self, tokenizer: Any, example: Any, max_length: int) -> Any:

        return encode_text(tokenizer, example, max_length)

    def batch(self, tokenizer: Any, items: list[Any], task: Any) -> tuple[Any, Any, Any, Any]:

        return collate_texts(items, tokenizer.pad_token_id, len(task.classes),
                             task.multi_label)


CAUSAL_LM = CausalLM()
SEQUENCE_CLASSIFIER = SequenceClassifier()
#: the built-in families, for finding one by an embedded model's name
FAMILIES: tuple[Family, ...] = (CAUSAL_LM, SEQUENCE_CLASSIFIER)


def family_of_model(model: str) -> Family | None:
    """The family of one of medlethe's embedded models (``None`` for a hub id or folder)."""
    return next((f for f in FAMILIES if model in f.models), None)
