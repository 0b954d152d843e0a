"""MHQA (``jastorj/MHQA``): forget mental-health topics, with OCD as a control.

Fields: question, option1..option4, correct_option_num (1-based), topic (Anxiety, Depression,
Trauma, Obsessive-Compulsive Disorders), type (Factoid, Diagnostic, Prognostic, Preventive).
The hub dataset is gated: accept its conditions and log in, or pass a local copy. When the
source has a ``train`` split and a ``validation`` or ``test`` split, the target trains on the
first and metrics use the second; a source with one split is divided 80/20 by a seeded hash
of each question within each topic. Results are broken down per question type.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.tasks.mcq import MCQ, MCQTask, cap
from medlethe.tasks.records import Field, load_records

HUB_ID = "jastorj/MHQA"
VERSION = "1"
TOPICS = ("anxiety", "depression", "trauma", "ocd")
TYPES = ("Factoid", "Diagnostic", "Prognostic", "Preventive")
#: DuoLearn's scenario: forget anxiety, depression and trauma; OCD is the control.
SCENARIOS = {f"topic-{t}": (t,) for t in TOPICS} | {
    "topics-anxiety-depression-trauma": ("anxiety", "depression", "trauma")
}
FIELDS = (
    Field("question", (str,)),
    Field("option1", (str,)),
    Field("option2", (str,)),
    Field("option3", (str,)),
    Field("option4", (str,)),
    # the authors' public release names it correct_option_number
    Field("correct_option_num", (int,), values=(1, 2, 3, 4), aliases=("correct_option_number",)),
    Field("topic", (str,)),
    Field("type", (str,), values=TYPES),
)


def topic_key(topic: str) -> str | None:
    """``"Obsessive/Compulsive Disorders"`` and ``"Obsessive-Compulsive Disorders"`` -> ocd."""
    t = topic.lower()
    for key, stem in (("anxiety", "anxiet"), ("depression", "depress"), ("trauma", "trauma")):
        if stem in t:
            return key
    return "ocd" if "obsess" in t or "compulsive" in t else None


def _mcq(row: dict[str, Any], index: int, origin: str) -> MCQ:
    key = topic_key(row["topic"])
    if key is None:
        raise DatasetError(
            f"mhqa: {origin}, row {index}, field 'topic': {row['topic']!r} is not one of Anxiety, "
            "Depression, Trauma, Obsessive-Compulsive Disorders."
        )
    qid = row.get("id") or hashlib.sha256(row["question"].encode()).hexdigest()[:16]
    return MCQ(
        qid=str(qid),
        question=row["question"],
        options=tuple(row[f"option{i}"] for i in range(1, 5)),
        gold=row["correct_option_num"] - 1,
        group=key,
        type=row["type"],
    )


def held_out(questions: list[MCQ], seed: object) -> set[str]:
    """A seeded fifth of each topic's questions (at least one where a topic has two or more)
    for evaluation, when the source has a single split."""
    held: set[str] = set()
    for topic in TOPICS:
        qs = sorted(
            (q for q in questions if q.group == topic),
            key=lambda q: hashlib.sha256(f"{seed}:{q.qid}".encode()).hexdigest(),
        )
        n = max(1, round(len(qs) / 5)) if len(qs) >= 2 else 0
        held.update(q.qid for q in qs[:n])
    return held


class MHQATask(MCQTask):
    """``scenario``: ``topic-anxiety``, ``topic-depression``, ``topic-trauma``, ``topic-ocd``
    or ``topics-anxiety-depression-trauma``. Splits: forget, retain and control (OCD, when it
    is not forgotten and differs from retain)."""

    def __init__(
        self,
        scenario: str = "topics-anxiety-depression-trauma",
        *,
        source: str | Path = HUB_ID,
        revision: str | None = None,
        max_train: int | None = None,
        max_eval: int | None = None,
        seed: int = 1234,
    ) -> None:
        if scenario not in SCENARIOS:
            raise TaskConfigError(
                f"mhqa: unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)}."
            )
        forget_topics = SCENARIOS[scenario]
        records = load_records(source, pack="mhqa", fields=FIELDS, revision=revision)
        rows = {
            split: [_mcq(r, i, f"{source} [split {split}]") for i, r in enumerate(rs, 1)]
            for split, rs in records.items()
        }
        named = next((s for s in ("validation", "test") if s in rows), None)
        if "train" in rows and named is not None:
            train, ev = rows["train"], rows[named]
        elif len(rows) == 1:
            everything = next(iter(rows.values()))
            held = held_out(everything, seed)
            train = [q for q in everything if q.qid not in held]
            ev = [q for q in everything if q.qid in held]
        else:
            raise DatasetError(
                f"mhqa: {source} has splits {', '.join(rows)}; expected one split, or 'train' "
                "with 'validation' or 'test'."
            )
        split_ev = {
            "forget": [q for q in ev if q.group in forget_topics],
            "retain": [q for q in ev if q.group not in forget_topics],
            "control": [q for q in ev if q.group == "ocd" and "ocd" not in forget_topics],
        }
        if [q.qid for q in split_ev["control"]] == [q.qid for q in split_ev["retain"]]:
            del split_ev["control"]
        super().__init__(
            f"mhqa/{scenario}",
            VERSION,
            f"MHQA: forget {', '.join(forget_topics)}; per-type accuracy",
            train={
                "forget": cap([q for q in train if q.group in forget_topics], max_train, seed),
                "retain": cap([q for q in train if q.group not in forget_topics], max_train, seed),
            },
            evaluate={k: cap(v, max_eval, seed) for k, v in split_ev.items()},
            config={
                "scenario": scenario,
                "source": str(source),
                "revision": revision,
                "max_train": max_train,
                "max_eval": max_eval,
                "seed": seed,
            },
        )
