"""Subject-level forgetting on 4-option multiple-choice packs (DuoLearn's setting).

The target is fine-tuned on training questions of every subject (prompt plus the correct
option); the forget set is one subject's (or several topics') training questions. Metrics are
per-option log-likelihood accuracy on held-out labelled questions: ``forget`` (the forgotten
subject), ``retain`` (the others) and, where the pack has one, ``control``; and on the
training questions themselves: ``forget_train`` and ``retain_train`` (what the target was
fine-tuned on, so what it can be shown to know and to forget).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from medlethe.errors import TaskConfigError
from medlethe.task import (
    Instance,
    SplitsTask,
    TrainingData,
    TrainingExample,
    fingerprint,
    training_side,
)

PROMPT = "Question: {question}\n{options}\nAnswer:"
LETTERS = "ABCDEFGH"
METRICS = ("accuracy", "acc_norm", "probability", "truth_ratio")


@dataclass(frozen=True)
class MCQ:
    """One question, normalised: ``gold`` is the 0-based index of the right option."""

    qid: str
    question: str
    options: tuple[str, ...]
    gold: int
    group: str
    type: str = ""


def prompt(q: MCQ) -> str:
    opts = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(q.options))
    return PROMPT.format(question=q.question, options=opts)


def cap(rows: Sequence[MCQ], limit: int | None, seed: object) -> list[MCQ]:
    """At most ``limit`` rows, a seeded random sample keeping the original order."""
    if limit is None or len(rows) <= limit:
        return list(rows)
    keep = set(random.Random(f"{seed}:cap").sample(range(len(rows)), limit))
    return [r for i, r in enumerate(rows) if i in keep]


class MCQTask(SplitsTask):
    """A forget/retain split of multiple-choice questions; subclasses load and split them."""

    output_type = "multiple_choice"
    metrics = METRICS
    group_by = ("type",)

    def __init__(
        self,
        name: str,
        version: str,
        description: str,
        *,
        train: Mapping[str, Sequence[MCQ]],
        evaluate: Mapping[str, Sequence[MCQ]],
        config: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.version = version
        self.description = description
        self._train = {k: list(v) for k, v in train.items()}
        # held-out questions (generalisation), then the training questions themselves (what
        # the target memorised and unlearning must remove, as TOFU and AMNESIA score them)
        scored = {**evaluate, **{f"{k}_train": train.get(k, []) for k in ("forget", "retain")}}
        self.splits = {k: [asdict(q) for q in v] for k, v in scored.items() if v}
        self._questions = {k: list(v) for k, v in evaluate.items()}
        self.config = dict(config)
        for on in ("forget", "retain"):
            if not self._train.get(on):
                raise TaskConfigError(
                    f"{name}: no {on} training questions; check the subject or topic chosen "
                    "and the data source."
                )
        if "forget" not in self.splits:
            raise TaskConfigError(f"{name}: no labelled evaluation questions for the forget set.")

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        q = MCQ(**{**doc, "options": tuple(doc["options"])})
        return Instance(
            self.name,
            split,
            index,
            "multiple_choice",
            prompt(q),
            q.options[q.gold],
            q.options,
            q.gold,
            meta={"type": q.type, "group": q.group},
        )

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint({"name": self.name, **self.config}),
            "prompt_template_hash": fingerprint([PROMPT, LETTERS]),
            "chat_template": None,
        }

    def training_data(self, on: str) -> TrainingData:
        """Question (with its options) plus the correct option, for ``train``, ``retain`` or
        ``forget``."""
        rows = training_side(
            self.name,
            on,
            {"train": self._train["forget"] + self._train["retain"], **self._train},
        )
        return TrainingData(
            texts=[], examples=[TrainingExample(prompt(q), q.options[q.gold]) for q in rows]
        )

    def tokenizer_corpus(self) -> list[str]:
        data = self.training_data("train")
        questions = [q for qs in self._questions.values() for q in qs]
        return [e.prompt + " " + e.answer for e in data.examples] + [
            prompt(q) + " " + " ".join(q.options) for q in questions
        ]
